"""What a run writes while it goes: the log, thermo.csv, checkpoints.

Each observer has `due(step, end)` (write now?), `needs_rebuild(step)` (must
the lists be rebuilt at that step?) and `__call__(sim)`, which is collective.
`StopWatch` turns SIGTERM/SIGUSR1 and a wall-clock limit into a stop request.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from .io import checkpoint
from .md.thermo import COLUMNS

EXIT_RESUMABLE = 75  # checkpoint written on request; continue with --resume


def truncate_csv(path, after_step, n_columns):
    """Drop the rows of a step-keyed CSV later than `after_step` (a restart
    continues from there), and a row cut short by a crash (no newline, or
    missing columns).  Rank 0 only."""
    p = Path(path)
    if not p.exists():
        return
    lines = p.read_text().splitlines(keepends=True)
    whole = [ln for ln in lines[1:] if ln.endswith("\n") and ln.count(",") == n_columns - 1]
    p.write_text("".join(lines[:1] + [ln for ln in whole
                                      if int(float(ln.split(",", 1)[0])) <= after_step]))


class Log:
    """The run's log on rank 0: log.txt and stdout.  Other ranks stay silent."""

    def __init__(self, comm, path=None, echo=True):
        self.active = comm.rank == 0
        self.echo = echo
        self.file = open(path, "a") if (self.active and path) else None

    def __call__(self, message=""):
        if not self.active:
            return
        if self.echo:
            print(message, flush=True)
        if self.file:
            self.file.write(message + "\n")
            self.file.flush()

    def close(self):
        if self.file:
            self.file.close()


class ThermoObserver:
    """Writes thermo.csv rows and a progress line every `every` steps (and at the end)."""

    def __init__(self, sim, path, every, log, progress, total_steps):
        self.every = every
        self.log = log
        self.total = total_steps
        self.start_step = sim.step
        self.t0 = time.perf_counter()
        self.mode = progress
        if progress == "auto":
            # mpirun hands ranks a pseudo-terminal even in batch jobs: ask TERM too.
            interactive = sys.stdout.isatty() and os.environ.get("TERM", "dumb") != "dumb"
            self.mode = "bar" if interactive else "lines"
        self.file = None
        if sim.comm.rank == 0:
            self.file = open(path, "a")
            if self.file.tell() == 0:
                self.file.write(",".join(COLUMNS) + "\n")

    def needs_rebuild(self, step):
        return False

    def due(self, step, end):
        return step == end or (self.every > 0 and step % self.every == 0)

    def __call__(self, sim):
        th = sim.thermo()
        if self.file is None:
            return
        self.file.write(",".join(repr(v) for v in th.row()) + "\n")
        self.file.flush()
        done = sim.step - self.start_step
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / done * (self.total - done) if done else 0.0
        line = (f"step {th.step:>8d}  T {th.temperature:.5f}  E {th.total_energy:.7f}  "
                f"Epot {th.potential_energy:.7f}  P {th.pressure:.5f}")
        if self.mode == "bar":
            frac = done / self.total if self.total else 1.0
            bar = "#" * int(30 * frac)
            sys.stdout.write(f"\r[{bar:<30s}] {100 * frac:5.1f}%  {line}  ETA {eta:6.0f}s")
            sys.stdout.flush()
            if self.log.file:
                self.log.file.write(line + "\n")
            if done == self.total:
                sys.stdout.write("\n")
        elif self.mode == "lines":
            self.log(f"{line}  ({100 * done / max(self.total, 1):.0f}%, ETA {eta:.0f} s)")
        elif self.log.file:
            self.log.file.write(line + "\n")

    def close(self):
        if self.file:
            self.file.close()




class CheckpointObserver:
    """Writes checkpoint-<step>.h5 every `every` steps and at the end; keeps `keep`."""

    def __init__(self, sim, directory, every, keep, end, deck_raw, seed, kind, mass_by_type, log):
        self.directory = Path(directory)
        self.mass_by_type = mass_by_type
        self.every = every
        self.keep = keep
        self.end = end
        self.deck_raw = deck_raw
        self.seed = seed
        self.kind = kind
        self.log = log
        self.last_seconds = 0.0

    def needs_rebuild(self, step):
        # A checkpoint is written at a rebuild step: the restart, which
        # rebuilds there too, then sees the same lists and wrapped positions.
        return self.every > 0 and (step % self.every == 0 or step == self.end)

    def due(self, step, end):
        return self.needs_rebuild(step)

    def __call__(self, sim):
        t0 = time.perf_counter()
        s = sim.system
        n = s.n_local
        path = checkpoint.write(
            s.comm, self.directory, step=sim.step, time=sim.time, kind=self.kind, seed=self.seed,
            deck=self.deck_raw, cell=s.box.cell, origin=s.box.origin, ids=s.ids[:n],
            types=s.types[:n], x=s.x[:n], v=s.v, f=s.f, image=s.image,
            state={"integrator": sim.integrator.state_dict(),
                   "system": {"mass_by_type": self.mass_by_type},
                   # Bonds and angles: a restart needs no deck to rebuild them.
                   **{"topology": term.topology.state_dict() for term in sim.bonded}})
        if s.comm.rank == 0:
            checkpoint.prune(self.directory, self.keep)
        self.last_seconds = time.perf_counter() - t0
        self.log(f"checkpoint {path.name} written in {self.last_seconds:.3f} s")


class StopWatch:
    """A stop request from SIGTERM / SIGUSR1 (as SLURM sends) or a wall-clock limit.

    `flag()` is polled every step and reduced over ranks with MAX by the time
    step; it returns 1.0 once a signal arrived or the time left is less than
    what the next checkpoint needs.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self, max_hours=0.0, checkpoint_seconds=lambda: 0.0):
        self.deadline = time.monotonic() + 3600.0 * max_hours if max_hours > 0 else None
        self.checkpoint_seconds = checkpoint_seconds
        self.received = None
        self._previous = {}
        self._last = time.monotonic()
        self._step_seconds = 0.0

    def install(self):
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name

    def flag(self):
        now = time.monotonic()
        self._step_seconds = max(self._step_seconds, now - self._last)
        self._last = now
        if self.received:
            return 1.0
        if self.deadline is not None:
            # Margin: two steps, and the last checkpoint's time twice over (at least 5 s).
            reserve = 2 * self._step_seconds + max(2 * self.checkpoint_seconds(), 5.0)
            if now + reserve >= self.deadline:
                self.received = "wall-clock limit"
                return 1.0
        return 0.0
