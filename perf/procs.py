"""Process plumbing shared by the perf/ scripts: find the programs, run one
MPI job with a time limit, read what hpcms and LAMMPS report.

The scripts only drive processes; nothing here touches particles.  A job is
started in its own process group so that a timeout ends mpirun *and* the ranks
it launched, and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO_ROOT / "perf" / "results"


class ToolMissing(RuntimeError):
    """A program the benchmark needs is not installed or not on PATH."""


# --------------------------------------------------------------------------
# finding programs


def find_hpcms():
    """Command prefix that runs hpcms: `hpcms` on PATH, else the one beside
    this Python (a venv used without activating it), else `python -m hpcms`."""
    exe = shutil.which("hpcms")
    if exe:
        return [exe]
    beside = Path(sys.executable).parent / "hpcms"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    try:
        import importlib.util
        if importlib.util.find_spec("hpcms") is not None:
            return [sys.executable, "-m", "hpcms"]
    except (ImportError, ValueError):
        pass
    raise ToolMissing(
        "hpcms is not installed here: run `source launch/env.sh` from the repository "
        "root (it creates .venv with hpcms), then run this script again")


def find_mpirun(spec):
    """Split the --mpirun string and check that its program exists."""
    cmd = shlex.split(spec)
    if not cmd or shutil.which(cmd[0]) is None:
        raise ToolMissing(
            f"MPI launcher {spec!r} not found: install Open MPI (`source launch/env.sh` "
            "does it on Debian) or pass --mpirun 'srun' / a full path")
    return cmd


def find_lmp(name):
    """Path of the LAMMPS binary, or None when it is not installed."""
    if not name:
        return None
    return shutil.which(name)


def job_env():
    """Environment for the jobs: what `launch/env.sh` sets, where it is not
    set already, so the scripts also work from an un-activated venv."""
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    env.setdefault("NUMBA_CACHE_DIR", str(REPO_ROOT / ".numba_cache"))
    # one thread per rank: LAMMPS' OPENMP styles read this (hpcms kernels are
    # serial unless a deck asks otherwise)
    env.setdefault("OMP_NUM_THREADS", "1")
    bindir = str(Path(sys.executable).parent)
    if bindir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


# --------------------------------------------------------------------------
# running one job


@dataclass
class JobResult:
    cmd: list
    returncode: int | None   # None: killed at the timeout
    seconds: float
    stdout: str
    stderr: str

    @property
    def ok(self):
        return self.returncode == 0

    def why(self, tail=15):
        """A few lines saying how the job failed."""
        if self.returncode is None:
            head = f"timed out after {self.seconds:.0f} s"
        else:
            head = f"exit status {self.returncode}"
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()[-tail:]
        return "\n".join([f"{shlex.join(self.cmd)}: {head}"] + ["    " + t for t in text])


def run_job(cmd, cwd, timeout, log_path=None, env=None):
    """Run `cmd` in `cwd`; kill its whole process group after `timeout` s.

    `env` adds to (and overrides) `job_env()`.  stdout and stderr are kept
    and, when `log_path` is given, written there.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**job_env(), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        rc = None
    except BaseException:          # Ctrl-C: leave no ranks behind
        _kill_group(proc)
        proc.communicate()
        raise
    seconds = time.perf_counter() - t0
    if log_path is not None:
        Path(log_path).write_text(
            f"$ {shlex.join(cmd)}\n# cwd {cwd}\n# exit {rc} after {seconds:.2f} s\n"
            f"--- stdout\n{out}\n--- stderr\n{err}\n")
    return JobResult(list(cmd), rc, seconds, out, err)


def _kill_group(proc):
    """SIGTERM the job's own process group, SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------
# what the codes report


def read_timing(run_dir):
    """timing.json of an hpcms run directory, as a dict."""
    path = Path(run_dir) / "timing.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} was not written")
    return json.loads(path.read_text())


_LOOP_RE = re.compile(
    r"Loop time of\s+([0-9.eE+-]+)\s+on\s+(\d+)\s+procs\s+for\s+(\d+)\s+steps\s+with\s+(\d+)\s+atoms")
_SECTION_RE = re.compile(
    r"^(Pair|Bond|Kspace|Neigh|Comm|Output|Modify|Other)\s*\|"
    r"\s*([0-9.eE+-]*)\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]*)\s*\|")


def parse_lammps_log(text):
    """The last "Loop time of ..." line of a LAMMPS log and its MPI task
    timing breakdown.

    Returns dict(loop_seconds, procs, steps, atoms, atom_steps_per_second,
    neighbor_builds, phases={section: {"min", "avg", "max"}}) or raises
    ValueError.
    """
    matches = list(_LOOP_RE.finditer(text))
    if not matches:
        raise ValueError("no 'Loop time of T on P procs for S steps with N atoms' line")
    m = matches[-1]
    loop, procs, steps, atoms = float(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4))
    phases = {}
    for line in text[m.end():].splitlines():
        s = _SECTION_RE.match(line.strip())
        if s:
            name = s.group(1).lower()
            avg = float(s.group(3))
            lo = float(s.group(2)) if s.group(2) else avg
            hi = float(s.group(4)) if s.group(4) else avg
            phases[name] = {"min": lo, "avg": avg, "max": hi}
        elif line.startswith("Nlocal"):
            break
    builds = re.findall(r"^Neighbor list builds\s*=\s*(\d+)", text[m.end():], re.M)
    return {
        "loop_seconds": loop, "procs": procs, "steps": steps, "atoms": atoms,
        "atom_steps_per_second": atoms * steps / loop if loop > 0 else float("nan"),
        "neighbor_builds": int(builds[-1]) if builds else None,
        "phases": phases,
    }


# --------------------------------------------------------------------------
# printing


def fmt_rate(x):
    return "-" if x is None else f"{x:.3e}"


def fmt_ratio(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def print_table(header, rows, out=sys.stdout):
    """Left-aligned first column, right-aligned others."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print(line(r), file=out)


def timestamp():
    return time.strftime("%Y%m%d-%H%M%S")


def machine_note():
    """One line about where the numbers were taken."""
    import platform
    return (f"{platform.node()}: {os.cpu_count()} logical CPUs, {platform.machine()}, "
            f"Python {platform.python_version()}")
