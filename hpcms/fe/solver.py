"""Newton (PETSc SNES) and load stepping with cut-back.

SNES, its KSP and PC take their options under the prefix ``fe_``: the deck's
[solver] keys and `petsc_options` table are pushed there (unless the command
line already sets them: `hpcms run deck.toml -fe_snes_monitor -fe_pc_type
hypre`) and removed again once SNES has read them.

The load factor λ runs from 0 to 1.  A converged increment is committed and
the next one grows when Newton was fast; a failed one (divergence, an
inverted cell, too many iterations) is rolled back and halved, up to
`load.cutbacks` times in a row.
"""

from __future__ import annotations

import math

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from ..config.errors import RunError
from . import _element_kernels as element_kernels

PREFIX = "fe_"
PHASES = ("kinematics", "material", "assembly", "solve", "output", "checkpoint", "other")


def make_snes(problem, section):
    """SNES on the problem's communicator, configured from the [solver] section.  Collective."""
    opts = PETSc.Options()
    wanted = {"snes_type": "newtonls", "snes_linesearch_type": "bt",
              "ksp_type": section.ksp_type, "pc_type": section.pc_type,
              "ksp_rtol": section.ksp_rtol}
    wanted.update({str(k).lstrip("-"): v for k, v in section.petsc_options.items()})
    pushed = []
    for name, value in wanted.items():
        full = PREFIX + name
        if not opts.hasName(full):  # the command line wins
            opts[full] = _option_text(value)
            pushed.append(full)
    snes = PETSc.SNES().create(comm=problem.comm)
    snes.setOptionsPrefix(PREFIX)
    snes.setFunction(problem.residual, problem.space.global_vec())
    snes.setJacobian(problem.jacobian, problem.J)
    snes.setTolerances(rtol=section.rtol, atol=section.atol, stol=1e-14, max_it=section.max_it)
    snes.setFromOptions()
    for full in pushed:
        opts.delValue(full)
    return snes


def _option_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


REASONS = {v: k for k, v in vars(PETSc.SNES.ConvergedReason).items()
           if isinstance(v, int) and not k.startswith("_")}


class LoadStepper:
    """Drives λ from its current value to 1.  Collective on problem.comm.

    `u` is the global displacement vector (the last converged state between
    increments); `step` counts converged increments.
    """

    def __init__(self, problem, snes, load, log, timers):
        self.problem, self.snes, self.section, self.log = problem, snes, load, log
        self.timers = timers
        self.u = problem.space.global_vec()
        self.load = 0.0
        self.increment = min(1.0 / load.steps, load.max_increment)
        self.step = 0
        self.iterations = 0   # Newton iterations in all converged increments
        self.norms = []       # residual norms of the current increment's iterations
        self.atol = snes.getTolerances()[1]
        snes.setMonitor(self._monitor)

    def _monitor(self, snes, its, fnorm):
        self.norms.append(float(fnorm))
        noise = self._noise()
        if noise is None:
            self.log(f"  newton {its:2d}  |R| = {fnorm:.6e}")
            return
        # Stresses with error bars (FE² dynamics): converged within them.
        snes.setTolerances(atol=max(self.atol, noise))
        self.log(f"  newton {its:2d}  |R| = {fnorm:.6e}  (stress noise {noise:.3e})")

    def _noise(self):
        """|R| that the material's stress errors alone could make, or None.  Collective.

        The errors are assembled like stresses (their absolute values, element
        by element) and added in quadrature over elements.
        """
        errors = getattr(self.problem.material, "stress_errors", None)
        E = errors() if errors is not None else None
        if E is None:
            return None
        p = self.problem
        ne, _, nn, dim = p.G.shape
        Re = np.empty((ne, nn * dim))
        element_kernels.residual(np.ascontiguousarray(np.abs(E)), p.G, p.dV, Re)
        return math.sqrt(p.comm.allreduce(float((Re * Re).sum()), op=MPI.SUM))

    def state(self):
        return {"load": self.load, "increment": self.increment, "step": self.step,
                "iterations": self.iterations}

    def restore(self, state):
        self.load = float(state["load"])
        self.increment = float(state["increment"])
        self.step = int(state["step"])
        self.iterations = int(state["iterations"])

    def run(self, on_converged, stop=lambda: False):
        """Increments until λ = 1 (True) or `stop()` says so between increments (False).

        `on_converged(stepper)` runs after each converged increment.  A failure
        that survives every cut-back raises RunError (the last converged state
        stays in `u`).
        """
        p, sec = self.problem, self.section
        material = p.material
        saved = self.u.duplicate()
        cutbacks = 0
        while self.load < 1.0:
            if stop():
                return False
            trial = min(self.load + self.increment, 1.0)
            if 1.0 - trial < 1e-12:
                trial = 1.0
            self.u.copy(saved)
            p.impose(self.u, trial)
            self.norms = []
            self.log(f"increment {self.step + 1}: load {self.load:.6g} -> {trial:.6g}")
            with self.timers("solve"):
                self.snes.solve(None, self.u)
            reason = self.snes.getConvergedReason()
            its = self.snes.getIterationNumber()
            if reason > 0:
                material.commit()
                self.load = trial
                self.step += 1
                self.iterations += its
                cutbacks = 0
                self.log(f"  converged in {its} iteration(s) ({REASONS.get(reason, reason)})")
                if its <= sec.grow_below:  # before the outputs: a checkpoint holds the next one
                    self.increment = min(self.increment * sec.grow, sec.max_increment)
                on_converged(self)
                continue
            saved.copy(self.u)
            material.rollback()
            why = REASONS.get(reason, str(reason))
            if p.failure is not None:
                why += f"; {p.failure}"
            cutbacks += 1
            half = 0.5 * (trial - self.load)
            if cutbacks > sec.cutbacks or half < sec.min_increment:
                raise RunError(self.step + 1, f"Newton failed at load {trial:.6g} after "
                               f"{cutbacks - 1} cut-back(s): {why}; the last converged load "
                               f"{self.load:.6g} is kept")
            self.log(f"  not converged ({why}): cutting the increment back to {half:.6g}")
            self.increment = half
        return True
