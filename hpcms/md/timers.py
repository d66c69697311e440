"""Wall time by phase of the time step, summarised over ranks."""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

PHASES = ("pair", "neighbor", "comm", "integrate", "output", "other")


class Timers:
    """Accumulates wall seconds per phase on this rank; `other` is the unaccounted rest."""

    def __init__(self, phases=PHASES):
        self.phases = tuple(phases)
        self.seconds = dict.fromkeys(self.phases, 0.0)

    @contextmanager
    def __call__(self, phase):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - t0

    def summary(self, comm, loop_seconds):
        """min/avg/max seconds per phase over ranks; `other` is the unaccounted rest.

        Collective on `comm`.
        """
        accounted = sum(v for k, v in self.seconds.items() if k != "other")
        local = dict(self.seconds, other=self.seconds["other"] + max(0.0, loop_seconds - accounted))
        values = np.array([local[p] for p in self.phases])
        lo, hi, tot = (np.empty_like(values) for _ in range(3))
        from mpi4py import MPI
        comm.Allreduce(values, lo, op=MPI.MIN)
        comm.Allreduce(values, hi, op=MPI.MAX)
        comm.Allreduce(values, tot, op=MPI.SUM)
        return {p: {"min": lo[k], "avg": tot[k] / comm.size, "max": hi[k]}
                for k, p in enumerate(self.phases)}
