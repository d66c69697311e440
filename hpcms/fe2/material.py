"""FE²: the material point whose answer comes from atomistic RVEs.

``[material] style = "rve"`` makes every quadrature point of the FE mesh ask
a periodic atomistic crystal (`hpcms.fe2.rve.RVE`) deformed by its F for W, P
and A.  One `evaluate` call, collective on the FE communicator, does:

1. reuse: a point whose F changed by at most `reuse_tol` (every component)
   since its last evaluation keeps its result;
2. schedule: the other points become jobs, assigned to RVE groups by
   longest-processing-time first with each job's measured wall time of its
   previous evaluation as its cost (ties by point id), so groups stay
   balanced as costs change;
3. downscale: each job (point id, F, the point's relaxed atoms for a warm
   start, its last good F and atoms for retries) goes to its group's first
   rank; the group relaxes the RVE (and its tangent) on its sub-communicator;
4. retry: an RVE that fails (not converged, NaN, lost atoms) is sub-stepped
   from its last good state in 2, then 4, ... increments; if that fails too
   the point answers NaN and the FE solver cuts its load step back;
5. Hill–Mandel: a probing δF along P checks that the RVE's energy change per
   reference volume equals the stress power P:δF (fourth-order differences);
6. upscale: results go back to the owning ranks.

Per-point state (F, relaxed atoms, cost) lives on the rank owning the point,
as a trial copy and a committed copy (`commit` / `rollback`), and is what a
checkpoint saves, keyed by point id: a restart may use another number of
ranks and another `ranks_per_rve`.  Results do not depend on either: an RVE
evaluation is bitwise the same on any group size.

The log's summary after each increment gives, besides the RVE counts, every
rank's seconds in the farm's phases (`FARM_PHASES`: the scheduling
allgather, jobs out, RVE work, results back, which waits for the slowest
group, and storing them) and its CPU/wall there: a CPU/wall below 1 means the
rank lost its core to something else (Open MPI polls while it waits).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from mpi4py import MPI

from ..config.errors import DeckError, RunError
from ..fe.materials import Key, register
from ..parallel.rows import send_rows
from .groups import RVEGroups
from .rve import RVE, RVESpec, RVEState

SPEC_KEYS = {
    "cells": Key([4, 4, 4], "", "fcc conventional cells of the RVE along x, y, z"),
    "orient": Key([], "", "crystal directions along x, y, z (default: cube axes)"),
    "epsilon": Key(1.0, "ε", "LJ well depth"),
    "sigma": Key(1.0, "σ", "LJ length"),
    "cutoff": Key(2.5, "σ", "pair cutoff, as lj/cut's"),
    "shift": Key(False, "", "shift the pair energy to zero at the cutoff"),
    "constant": Key(0.0, "σ", "lattice constant (0: the zero-stress constant for the cutoff)"),
    "vacancies": Key(0.0, "", "fraction of lattice sites left empty (the same sites at "
                              "every point, picked by `seed`)"),
    "seed": Key(1, "", "picks the vacant sites"),
    "mode": Key("statics", "", "statics: atoms relaxed (FIRE) at the deformed cell; dynamics: "
                               "NVT MD there, time-averaged virial stress with error bars and "
                               "a fixed reference tangent (Newton converges to the error bar)"),
    "ftol": Key(1e-10, "ε/σ", "relaxed when no force component exceeds this"),
    "max_iterations": Key(10000, "", "FIRE steps per relaxation"),
    "fd_step": Key(1e-5, "", "central-difference step on F of the tangent"),
    "tangent": Key("differences", "", "differences: A by central differences of 18 relaxed "
                                      "RVEs; analytic: the Born term minus the relaxation "
                                      "correction (a dense Hessian solve, up to 2000 atoms)"),
    "temperature": Key(0.0, "ε/k_B", "dynamics: kT of the Langevin bath (> 0)"),
    "damping": Key(0.0, "τ", "dynamics: Langevin damping time (0: 100 dt)"),
    "dt": Key(0.005, "τ", "dynamics: time step"),
    "equilibration_steps": Key(1000, "", "dynamics: steps before sampling"),
    "sampling_steps": Key(4000, "", "dynamics: steps averaged; `blocks` divides it"),
    "blocks": Key(10, "", "dynamics: blocks of the block-average error estimate (>= 2)"),
    "mass": Key(1.0, "m", "dynamics: atom mass"),
}
KEYS = dict(SPEC_KEYS, **{
    "ranks_per_rve": Key(1, "", "ranks of each RVE group; must divide the number of ranks "
                                "(a restart may change it)"),
    "reuse_tol": Key(1e-12, "", "keep a point's last result when no component of its F "
                                "changed by more than this"),
    "hill_mandel_step": Key(1e-4, "", "size |δF| of the Hill–Mandel probe (0: no check)"),
    "retries": Key(2, "", "sub-step a failed RVE from its last good state in 2, 4, ... "
                          "increments, this many times"),
    "warm_start": Key(True, "", "start each relaxation from the point's last relaxed atoms "
                                "(false: from the perfect lattice, for comparison)"),
    "trajectory_point": Key(-1, "", "write this quadrature point's relaxed atoms after every "
                                    "increment to rve_trajectory.h5 (H5MD; -1: none)"),
})


@register("rve")
class RVEMaterial:
    """Atomistic RVEs farmed to groups of `ranks_per_rve` ranks.  Collective on `comm`."""

    keys = KEYS

    def __init__(self, comm, spec: RVESpec, ranks_per_rve=1, reuse_tol=1e-12,
                 hill_mandel_step=1e-4, retries=2, warm_start=True, trajectory_point=-1):
        self.comm = comm
        self.spec = spec
        self.groups = RVEGroups(comm, ranks_per_rve)
        self.rve = RVE(self.groups.group, spec)
        self.rve.warm_up()  # kernels loaded here, not inside the first Newton iteration
        self.reuse_tol = float(reuse_tol)
        self.hm_step = float(hill_mandel_step)
        self.retries = int(retries)
        self.warm_start = bool(warm_start)
        self.trajectory_point = int(trajectory_point)
        self._trajectory = None
        self.n_atoms = self.rve.n_atoms
        self.dynamics = spec.mode == "dynamics"
        self.ids = None
        self.trial = self.committed = None
        self._reset_stats()

    @classmethod
    def from_deck(cls, comm, settings):
        values = {k: settings[k] for k in SPEC_KEYS}
        values["cells"] = tuple(values["cells"]) if isinstance(values["cells"], list) else ()
        values["orient"] = tuple(tuple(r) if isinstance(r, list) else r
                                 for r in values["orient"])
        try:
            spec = RVESpec(**values)
        except (ValueError, TypeError) as e:
            text = str(e)
            name = text.split("RVESpec.", 1)[-1].split(" ", 1)[0] if "RVESpec." in text else ""
            raise DeckError(f"material.{name or 'rve'}", settings.get(name), text) from None
        for name, low in (("reuse_tol", 0.0), ("hill_mandel_step", 0.0), ("retries", 0)):
            v = settings[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= low:
                raise DeckError(f"material.{name}", v, f"must be a number >= {low}")
        if not isinstance(settings["warm_start"], bool):
            raise DeckError("material.warm_start", settings["warm_start"], "must be true or false")
        point = settings["trajectory_point"]
        if isinstance(point, bool) or not isinstance(point, int) or point < -1:
            raise DeckError("material.trajectory_point", point,
                            "must be a quadrature point id (cell id * points per cell + k) or -1")
        return cls(comm, spec, settings["ranks_per_rve"], settings["reuse_tol"],
                   settings["hill_mandel_step"], int(settings["retries"]),
                   settings["warm_start"], point)

    # --- the MaterialPoint protocol --------------------------------------------------

    def evaluate(self, F, ids, tangent=True):
        """(W, P, A) of every point from its RVE (or its reused result).  Collective."""
        F = np.ascontiguousarray(F, dtype=np.float64).reshape(-1, 3, 3)
        self._bind(ids)
        t = self.trial
        bad = ~np.isfinite(F).all(axis=(1, 2)) | (np.linalg.det(F) <= 0)
        changed = np.abs(F - t["F"]).max(axis=(1, 2), initial=0.0) > self.reuse_tol
        todo = np.flatnonzero((changed | ~t["done"]) & ~bad)
        self.stats["reused"] += len(ids) - len(todo) - int(bad.sum())
        for name in ("W", "P", "A"):
            t[name][bad] = np.nan
        t["F"][todo] = F[todo]
        self._farm(todo)
        self.stats["calls"] += 1
        t["done"][todo] = True
        return t["W"].copy(), t["P"].copy(), (t["A"].copy() if tangent else None)

    def commit(self):
        if self.trial is not None:
            self.committed = {k: v.copy() for k, v in self.trial.items()}

    def rollback(self):
        if self.committed is not None:
            self.trial = {k: v.copy() for k, v in self.committed.items()}

    def elasticity(self):
        """A at F = I of the reference RVE (statics).  Collective."""
        return self.rve.reference_tangent()

    def stress_errors(self):
        """(n, 3, 3) standard errors of the last stresses (dynamics), or None (statics)."""
        return self.trial["P_error"] if self.dynamics else None

    def free(self):
        if self._trajectory is not None:
            self._trajectory.close()
            self._trajectory = None
        self.rve.free()
        self.groups.free()

    def after_increment(self, directory, increment, load):
        """Append the chosen point's relaxed atoms to rve_trajectory.h5.  Collective."""
        if self.trajectory_point < 0:
            return
        from ..io.h5md import H5MDWriter
        from ..parallel.box import Box

        rve = self.rve
        mine = np.flatnonzero(self.ids == self.trajectory_point)
        found = self.comm.allreduce(len(mine), op=MPI.SUM)
        if not found:
            raise DeckError("material.trajectory_point", self.trajectory_point,
                            "is not a quadrature point of this mesh")
        F = self.comm.allreduce(self.committed["F"][mine[0]] if len(mine) else 0.0, op=MPI.SUM)
        box = Box(F @ rve.cell0, rve.origin)
        if self._trajectory is None:
            path = Path(directory) / "rve_trajectory.h5"
            exists = self.comm.bcast(path.exists() if self.comm.rank == 0 else None, root=0)
            self._trajectory = (
                H5MDWriter.open_append(self.comm, path, truncate_after_step=increment - 1)
                if exists else H5MDWriter(self.comm, path, n_global=rve.n_atoms, box=box))
        frac = self.committed["fractional"][mine[0]] if len(mine) else np.zeros((0, 3))
        n = len(frac)
        atoms = SimpleNamespace(
            n_global=rve.n_atoms, n_local=n, box=box,
            ids=rve.ids[:n], x=box.origin + frac @ box.cell.T, v=np.zeros((n, 3)),
            image=np.zeros((n, 3), np.int64), types=np.zeros(n, np.int32))
        self._trajectory.write_frame(atoms, increment, load)

    # --- checkpoints and reports -------------------------------------------------------

    def state_rows(self):
        """Committed per-point state as rows keyed by point id (this rank's points)."""
        c, n = self.committed, len(self.ids)
        rows = {"id": self.ids, "F": c["F"].reshape(-1, 9),
                "fractional": c["fractional"].reshape(n, 3 * self.n_atoms),
                "seconds": c["seconds"], "done": c["done"].astype(np.int8)}
        if self.dynamics:
            rows["velocities"] = c["velocities"].reshape(n, 3 * self.n_atoms)
            rows["moving"] = c["moving"].astype(np.int8)
        return rows

    def load_state_rows(self, ids, rows):
        """Committed state of points `ids` from checkpoint rows (in the order of ids)."""
        self._bind(ids)
        c = self.trial
        c["F"][:] = rows["F"].reshape(-1, 3, 3)
        c["fractional"][:] = rows["fractional"].reshape(len(ids), self.n_atoms, 3)
        c["seconds"][:] = rows["seconds"]
        if self.dynamics and "velocities" in rows:
            c["velocities"][:] = rows["velocities"].reshape(len(ids), self.n_atoms, 3)
            c["moving"][:] = rows["moving"].astype(bool)
        # The results are recomputed at the first evaluation (warm started).
        c["done"][:] = False
        self.commit()

    def point_fields(self):
        """Per-point RVE summaries of the last evaluation, for the field output."""
        t = self.trial
        out = {"rve_energy_density": t["W"], "rve_hill_mandel": t["hill_mandel"],
               "rve_seconds": t["seconds"], "rve_retries": t["retries"].astype(float)}
        if self.dynamics:
            out["rve_stress_error"] = np.linalg.norm(t["P_error"], axis=(1, 2))
        return out

    def summary(self):
        """One line on the RVE work since the last summary, then start counting anew.
        Collective."""
        s = {k: self.comm.allreduce(v, op=MPI.SUM) for k, v in self.stats.items()
             if k not in ("hm_worst", "busy", "calls")}
        worst = self.comm.allreduce(self.stats["hm_worst"], op=MPI.MAX)
        busy = np.array(self.comm.allgather(self.stats["busy"]))[::self.groups.size]
        total = s["evaluated"] + s["reused"]
        reuse = 100.0 * s["reused"] / total if total else 0.0
        imbalance = busy.max() / busy.mean() if busy.mean() > 0 else 1.0
        clock = np.array(self.comm.allgather(self.clock))  # (ranks, phases)
        phases = ", ".join(f"{name} {lo:.3f}..{hi:.3f}" for name, lo, hi in
                           zip(FARM_PHASES, clock.min(axis=0), clock.max(axis=0)))
        wall = clock[:, :_CPU].sum(axis=1)
        cpu = clock[:, _CPU] / np.where(wall > 0, wall, 1.0)
        calls = self.stats["calls"]
        self._reset_stats()
        return (f"  RVEs: {s['evaluated']} evaluated, {s['reused']} reused ({reuse:.0f} %), "
                f"{s['retried']} retried, {s['failed']} failed, {s['iterations']} "
                f"{'MD' if self.dynamics else 'FIRE'} steps; "
                f"worst Hill-Mandel residual {worst:.2e}; group busy max/mean {imbalance:.2f}\n"
                f"  farming over {calls} evaluation(s), s per rank (min..max): {phases}; "
                f"CPU/wall {cpu.min():.2f}..{cpu.max():.2f}")

    def _reset_stats(self):
        self.stats = dict(evaluated=0, reused=0, retried=0, failed=0, iterations=0,
                          hm_worst=0.0, busy=0.0, calls=0)
        self.clock = np.zeros(len(FARM_PHASES) + 1)  # seconds of this rank in each phase, CPU

    # --- internals --------------------------------------------------------------------

    def _bind(self, ids):
        """Per-point arrays for these point ids (allocated at the first call)."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.ids is not None and np.array_equal(ids, self.ids):
            return
        if self.ids is not None:
            raise RunError(0, "the RVE material was asked for other quadrature points "
                              "than at its first evaluation")
        n = len(ids)
        self.ids = ids.copy()
        s0 = self.rve.reference_state().fractional
        self.trial = {
            "F": np.tile(np.eye(3), (n, 1, 1)), "W": np.zeros(n), "P": np.zeros((n, 3, 3)),
            "A": np.zeros((n, 3, 3, 3, 3)), "hill_mandel": np.zeros(n), "seconds": np.ones(n),
            "iterations": np.zeros(n, np.int64), "retries": np.zeros(n, np.int64),
            "ok": np.ones(n, bool), "done": np.zeros(n, bool),
            "fractional": np.tile(s0, (n, 1, 1)),
            "good_F": np.tile(np.eye(3), (n, 1, 1)), "good_fractional": np.tile(s0, (n, 1, 1)),
            # dynamics: velocities of the last MD step (`moving`: there are some yet)
            "P_error": np.zeros((n, 3, 3)), "velocities": np.zeros((n, self.n_atoms, 3)),
            "moving": np.zeros(n, bool), "good_velocities": np.zeros((n, self.n_atoms, 3)),
        }
        self.committed = {k: v.copy() for k, v in self.trial.items()}

    def _schedule(self, todo):
        """Group of each of this rank's jobs: LPT over all ranks' jobs.  Collective."""
        t = self.trial
        jobs = self.comm.allgather((self.ids[todo], t["seconds"][todo]))
        gids = np.concatenate([j[0] for j in jobs]) if jobs else np.zeros(0, np.int64)
        cost = np.concatenate([j[1] for j in jobs]) if jobs else np.zeros(0)
        order = np.lexsort((gids, -cost))
        group = np.empty(len(gids), dtype=np.int64)
        load = np.zeros(self.groups.count)
        for k in order:  # one entry per RVE job (each a relaxation of ~1e2-1e4 atoms)
            g = int(np.argmin(load))
            group[k] = g
            load[g] += cost[k]
        start = sum(len(j[0]) for j in jobs[:self.comm.rank])
        return group[start:start + len(todo)]

    def _farm(self, todo):
        """Evaluate points `todo` (local rows) on the RVE groups.  Collective."""
        t, groups = self.trial, self.groups
        clock = self.clock
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        dest = groups.ranks_of(self._schedule(todo))[:, 0]  # collective: even with no jobs
        t1 = time.perf_counter()
        rows = todo.astype(np.int64)
        owner = np.full(len(todo), self.comm.rank, dtype=np.int64)
        start = t["fractional"] if self.warm_start else np.broadcast_to(
            self.rve.reference_state().fractional, t["fractional"].shape)
        payload = send_rows(self.comm, dest, [
            self.ids[todo], rows, owner, t["F"][todo], np.ascontiguousarray(start[todo]),
            t["good_F"][todo], t["good_fractional"][todo], t["velocities"][todo],
            t["good_velocities"][todo], (t["moving"][todo] & self.warm_start).astype(np.int8)])
        n_jobs = groups.group.bcast(len(payload[0]) if groups.leader else None, root=0)
        order = np.argsort(payload[0], kind="stable") if groups.leader else None
        t2 = time.perf_counter()
        results = []
        for j in range(n_jobs):
            k = order[j] if groups.leader else 0
            job = [a[k] for a in payload] if groups.leader else None
            results.append(self._job(job))
        t3 = time.perf_counter()
        back = self._pack(results, payload, order) if groups.leader else self._pack([], None, None)
        got = send_rows(self.comm, back[0], back[1:])
        t4 = time.perf_counter()
        rows_back = got[0]
        for name, values in zip(RESULT_FIELDS, got[1:]):
            t[name][rows_back] = values
        good = rows_back[got[1 + RESULT_FIELDS.index("ok")].astype(bool)]
        t["moving"][good] = self.dynamics
        t["good_F"][good] = t["F"][good]
        t["good_fractional"][good] = t["fractional"][good]
        t["good_velocities"][good] = t["velocities"][good]
        self.stats["evaluated"] += len(todo)
        t5 = time.perf_counter()
        clock += (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, time.process_time() - cpu0)

    def _pack(self, results, payload, order):
        """[owner ranks, local rows, then one array per RESULT_FIELDS] of this leader's jobs."""
        n, atoms = len(results), (self.n_atoms, 3)
        shapes = {"W": (), "P": (3, 3), "A": (3, 3, 3, 3), "hill_mandel": (), "seconds": (),
                  "iterations": (), "retries": (), "ok": (), "fractional": atoms,
                  "velocities": atoms, "P_error": (3, 3)}
        kinds = {"iterations": np.int64, "retries": np.int64, "ok": np.int8}
        out = [np.zeros(n, np.int64), np.zeros(n, np.int64)] + [
            np.zeros((n,) + shapes[f], kinds.get(f, np.float64)) for f in RESULT_FIELDS]
        for j, r in enumerate(results):
            k = order[j]
            out[0][j], out[1][j] = payload[2][k], payload[1][k]   # owner rank, local row
            for slot, value in enumerate(r, start=2):
                out[slot][j] = value
        return out

    def _job(self, job):
        """One point's RVE work on this group (job read on the group's rank 0).  Collective
        on the group.  Returns (W, P, A, hm, seconds, iterations, retries, ok, fractional)."""
        rve, group = self.rve, self.groups.group
        t0 = time.perf_counter()
        key = int(job[0]) if job else 0   # the point id keys its MD noise (dynamics)
        F, start, good_F, good_start = (job[3], job[4], job[5], job[6]) if job else (None,) * 4
        moving = bool(job[9]) if job else False
        state = good = None
        if job:
            velocities = job[7] if moving else None
            state = RVEState(rve.ids, start, velocities if self.dynamics else None)
            good = RVEState(rve.ids, good_start, job[8] if self.dynamics and moving else None)
        result = rve.evaluate(F, state, tangent=True, key=key)
        iterations, retries = result.iterations, 0
        while not _usable(result) and retries < self.retries:
            retries += 1
            self.stats["retried"] += 1 if group.rank == 0 else 0
            result, steps = self._substep(good_F, good, F, 2 ** retries, key)
            iterations += steps
        ok = _usable(result)
        # Hill-Mandel in statics only: a time-averaged stress is not dW/dF.
        hm = (self._hill_mandel(F, result) if ok and self.hm_step > 0 and not self.dynamics
              else 0.0)
        if group.rank == 0:
            self.stats["failed"] += 0 if ok else 1
            self.stats["iterations"] += iterations
            self.stats["hm_worst"] = max(self.stats["hm_worst"], hm)
        seconds = group.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        self.stats["busy"] += seconds
        W, P, A = (result.W, result.P, result.A) if ok else (math.nan, np.full((3, 3), np.nan),
                                                             np.full((3, 3, 3, 3), np.nan))
        v = result.state.velocities
        error = result.P_error if result.P_error is not None else np.zeros((3, 3))
        return (W, P, A, hm, seconds, iterations, retries, int(ok), result.state.fractional,
                v if v is not None else 0.0, error)

    def _substep(self, good_F, good, F, n, key):
        """Walk from the last good state to F in n increments (warm starts).  Collective
        on the group; F and the states are read on its first rank."""
        rve = self.rve
        state = good
        steps = 0
        result = None
        for k in range(1, n + 1):
            Fk = good_F + (k / n) * (F - good_F) if good_F is not None else None
            result = rve.evaluate(Fk, state, tangent=(k == n), key=key)
            steps += result.iterations
            if not _usable(result):
                break
            state = result.state
        return result, steps

    def _hill_mandel(self, F, result):
        """Residual of the Hill-Mandel condition for a probe δF = h d along P:

        |dW/dh - P:d| / (|P| + h |A|), with dW/dh from W(F ± h d), W(F ± 2h d)
        (fourth-order central differences of relaxed RVEs, warm started): the
        stress power against the RVE's energy change per reference volume,
        relative to the stress (or, near zero stress, to its change over the
        probe).  Collective on the group.
        """
        rve, h = self.rve, self.hm_step
        direction, scale = None, 1.0
        if self.groups.group.rank == 0:
            norm = np.linalg.norm(result.P)
            scale = norm + h * np.linalg.norm(result.A)
            direction = result.P / norm if norm > 0 else np.eye(3) / math.sqrt(3.0)
        W = {}
        for k in (1, -1, 2, -2):
            probe = F + k * h * direction if direction is not None else None
            W[k] = rve.evaluate(probe, result.state, tangent=False).W
        if self.groups.group.rank != 0:
            return 0.0
        slope = (8.0 * (W[1] - W[-1]) - (W[2] - W[-2])) / (12.0 * h)
        return abs(slope - float(np.sum(result.P * direction))) / scale


# Where a rank's time in `_farm` goes: the scheduling allgather, sending the
# jobs out, the RVE work of its group, sending the results back (which waits
# for the slowest group) and storing them.
FARM_PHASES = ("schedule", "downscale", "RVEs", "upscale", "store")
_CPU = len(FARM_PHASES)  # the clock's last entry: CPU seconds of the rank in `_farm`

# What a group sends back for each job, in this order (after owner rank and local row).
RESULT_FIELDS = ("W", "P", "A", "hill_mandel", "seconds", "iterations", "retries", "ok",
                 "fractional", "velocities", "P_error")


def _usable(result):
    return (result is not None and result.converged and math.isfinite(result.W)
            and np.isfinite(result.P).all()
            and (result.A is None or np.isfinite(result.A).all()))
