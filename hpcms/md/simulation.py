"""The MD time step and run loop.

A simulation is a particle system, a pair force and an integrator.  One step
reads as the sequence it is (LAMMPS `Verlet::run`):

    half kick + drift -> rebuild check -> halo forward, or migrate + ghosts +
    list -> forces -> thermostat forces -> half kick -> observers that fire

and each phase is timed.  Faults (a non-finite position, a particle that
moved farther than the halo) stop every rank with the step and the particle
id.  Migration loses none: every wrapped position has an owner
(`Domain.sort_out`), so the count is not checked again each step.
"""

from __future__ import annotations

import time as _time

import numpy as np
from mpi4py import MPI

from ..config.errors import RunError
from .thermo import measure
from .timers import Timers


class Simulation:
    """Particles + pair force + integrator.  Collective on `system.comm`."""

    def __init__(self, system, pair, integrator, *, dof, tail=False, seed=0, bonded=()):
        self.system = system
        self.comm = system.comm
        self.pair = pair
        self.integrator = integrator
        # Velocity-dependent pair styles (dpd) also get ghost velocities, ids,
        # the step, dt and the seed; bonded terms add their forces after the pair's.
        self.seed = seed
        self.bonded = list(bonded)
        self._velocity_dependent = getattr(pair, "velocity_dependent", False)
        if getattr(integrator, "needs_old_forces", False):
            system.keep_forces = True
        if self._velocity_dependent:
            # The step's ghost velocities travel with the ghost positions.
            system.ghost_velocity = getattr(integrator, "force_velocity", _own_velocity)
        self.dof = dof
        self.tail = tail
        self.step = 0
        self.timers = Timers()
        self.dangerous_builds = 0
        self._stale = 0
        self.stop_requested = False
        self.energy = np.empty(0)
        self.virial = np.empty((0, 6))
        self._scratch_f = np.empty((0, 3))
        self._forces_current = False

    @property
    def dt(self):
        return self.integrator.dt

    @property
    def time(self):
        return self.step * self.dt

    def compute_forces(self, with_energy=False, step=None, ghosts_sent=False):
        """Pair (+ bonded) forces on owned particles into system.f, or instead
        (with_energy) per-particle energy and virial, leaving system.f alone.

        `step` keys the random pair forces of velocity-dependent styles
        (default: the current step).  Collective for those styles (ghost
        velocities are forwarded), unless `ghosts_sent`: the system's
        `v_all` already holds them (sent with this step's ghost positions).
        """
        s = self.system
        nl = s.neighbors
        extra = {}
        if self._velocity_dependent:
            if ghosts_sent and not with_energy:
                v_all = s.v_all
            else:
                v = s.v if with_energy else s.ghost_velocity(s.v, s.f, s.mass)
                with self.timers("comm"):
                    v_all = s.with_ghosts(v)
            extra = dict(v=v_all, ids=s.ids, step=self.step if step is None else step,
                         dt=self.dt, seed=self.seed, half=nl.half, reverse=s.halo.reverse)
        if with_energy:
            if len(self.energy) != s.n_local:
                self.energy = np.empty(s.n_local)
                self.virial = np.empty((s.n_local, 6))
                self._scratch_f = np.empty((s.n_local, 3))
            # s.f carries the integrator's post_force terms (Langevin) into the
            # next step: measuring must not touch it.
            self.pair.compute(s.x, s.types, s.n_local, nl.start, nl.index, self._scratch_f,
                              self.energy, self.virial, **extra)
            for term in self.bonded:
                term.compute(s, self._scratch_f, self.energy, self.virial)
        else:
            self.pair.compute(s.x, s.types, s.n_local, nl.start, nl.index, s.f, **extra)
            for term in self.bonded:
                term.compute(s, s.f)

    def setup(self):
        """Forces at the current state, before the first step.  Collective."""
        self.compute_forces()

    def thermo(self):
        """Observables at the current step (recomputes energies).  Collective."""
        s = self.system
        self.compute_forces(with_energy=True)
        counts = None
        tail_e = tail_p = 0.0
        if self.tail:
            local = np.bincount(s.types[: s.n_local], minlength=len(s.mass_by_type))
            counts = np.empty_like(local)
            self.comm.Allreduce(local, counts, op=MPI.SUM)
            tail_e = self.pair.tail_energy(counts, s.box.volume)
            tail_p = self.pair.tail_pressure(counts, s.box.volume)
        return measure(self.comm, self.step, self.time, s.v, s.mass, self.energy, self.virial,
                       n_global=s.n_global, dof=self.dof, volume=s.box.volume,
                       tail_energy=tail_e, tail_pressure=tail_p)

    def advance(self, rebuild=False, stop_flag=0.0):
        """Take one time step.  Collective.

        `rebuild` forces a list rebuild at this step (checkpoints are written
        at rebuild steps, so that a restart wraps positions where the original
        run did).  `stop_flag` > 0 on any rank sets `stop_requested` on all
        ranks and forces the rebuild too.
        """
        s, integ, t = self.system, self.integrator, self.timers
        step = self.step + 1
        n = s.n_local
        with t("integrate"):
            integ.initial_integrate(step, s.x[:n], s.v, s.f, s.mass)
        with t("neighbor"):
            rebuild = self._check(step, stop_flag) or rebuild or self.stop_requested
        if rebuild:
            with t("neighbor"):
                s.reneighbor(step)
        else:
            with t("comm"):
                s.update_ghosts()
        with t("pair"):
            self.compute_forces(step=step, ghosts_sent=True)
        with t("integrate"):
            n = s.n_local
            integ.post_force(step, s.v, s.f, s.mass, s.ids[:n])
            integ.final_integrate(step, s.v, s.f, s.mass)
        self.step = step

    def _check(self, step, stop_flag):
        """Whether to rebuild the lists now; stop on non-finite or runaway particles."""
        s = self.system
        nl = s.neighbors
        moved, culprit, flag = s.displacement(stop_flag)
        self.stop_requested = self.stop_requested or flag > 0.0
        if culprit >= 0:
            raise RunError(step, f"particle {culprit} has a non-finite position "
                                 "(a force or velocity blew up; reduce dt or check the structure)")
        if moved > s.halo.cutoff:
            who = self._fastest()
            raise RunError(step, f"particle {who} moved {moved:.4g} since the last list build, "
                                 f"farther than the halo width {s.halo.cutoff:.4g} "
                                 "(reduce dt or rebuild more often)")
        beyond = moved > 0.5 * nl.skin
        if (step - s.last_build) % nl.every == 0 and (beyond or not nl.check):
            # A build is dangerous (LAMMPS's word) when on an earlier step a
            # particle was already past half the skin: pairs may have been missed.
            self.dangerous_builds += self._stale
            self._stale = 0
            return True
        self._stale = int(beyond)
        return False

    def _fastest(self):
        """Id of the particle that moved farthest since the last build.  Collective."""
        s = self.system
        n = s.n_local
        d2 = ((s.x[:n] - s.x_ref) ** 2).sum(axis=1) if n else np.zeros(0)
        k = int(np.argmax(d2)) if n else -1
        local = (float(d2[k]) if n else -1.0, int(s.ids[k]) if n else -1)
        return self.comm.allreduce(local, op=MPI.MAXLOC)[1]

    def run(self, n_steps, observers=(), stop_flag=lambda: 0.0):
        """Advance n_steps, calling each observer(sim) whose `due(step, end)` is true.

        Observers with `needs_rebuild(step)` true force a list rebuild at that
        step.  `stop_flag()` is polled every step; when any rank returns > 0
        the loop ends after this step with `stop_requested` set (observers
        see it and may checkpoint).  Returns the wall seconds of the loop.
        Collective.
        """
        end = self.step + n_steps
        t0 = _time.perf_counter()
        while self.step < end and not self.stop_requested:
            upcoming = self.step + 1
            rebuild = any(obs.needs_rebuild(upcoming) for obs in observers)
            self.advance(rebuild, stop_flag())
            for obs in observers:
                if obs.due(self.step, end) or self.stop_requested:
                    with self.timers("output"):
                        obs(self)
        return _time.perf_counter() - t0


def _own_velocity(v, f, mass):
    """The velocities pair forces see under an integrator that does not predict them."""
    return v
