"""Checkpoints under real faults: killed writers, stop signals, wall-clock
limits, corrupted files, decks that change between a run and its resume, and
the launch scripts that keep a run going across stops.

Every test launches hpcms as a subprocess (serial, or under a real
`mpirun -n 2`), sends real signals to real processes, and has a timeout on
every process so that a hang fails instead of blocking.  Nothing is mocked.
The module is not an MPI test: run it with plain pytest.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from hpcms.io.checkpoint import FORMAT, PATTERN, checkpoint_name
from hpcms.outputs import EXIT_RESUMABLE
from test_cli import (MPIRUN, REPO, TIMEOUT, _mpirun_prefix, deck_table, error_lines, hpcms,
                      hpcms_env, needs_mpirun, tree, write_deck)

pytestmark = pytest.mark.skipif(
    "OMPI_COMM_WORLD_SIZE" in os.environ or "PMI_SIZE" in os.environ,
    reason="launches its own hpcms processes and mpirun jobs; run without mpirun")

LAUNCH = REPO / "launch"
STOP_LINE = re.compile(r"^stopped at step (\d+) on (.+): checkpoint written; "
                       rf"continue with --resume \(exit status {EXIT_RESUMABLE}\)$")

# --- decks -----------------------------------------------------------------------


def write_run_deck(path, out, *, cells=5, steps=10, checkpoint_every=5, thermo_every=5,
                   **sections):
    """An LJ fcc deck (4 * cells**3 atoms) that writes into `out`."""
    extra = {k: dict(v) for k, v in sections.items()}
    run = dict(dict(steps=steps, output=str(out)), **extra.pop("run", {}))
    output = dict(dict(checkpoint_every=checkpoint_every, thermo_every=thermo_every,
                       progress="lines"), **extra.pop("output", {}))
    system = dict(dict(cells=[cells] * 3), **extra.pop("system", {}))
    return write_deck(path, deck_table(run=run, output=output, system=system, **extra))


# --- processes -------------------------------------------------------------------


def hpcms_command(*args, ranks=None):
    """`python -m hpcms ARGS`, under `mpirun -n ranks` when ranks is given."""
    command = [sys.executable, "-m", "hpcms", *map(str, args)]
    return command if ranks is None else _mpirun_prefix(ranks) + command


def start(command, cwd, name, env=None):
    """Start `command` in `cwd` in a new session (it leads its own process group).

    stdout and stderr go to files in `cwd` (<name>.out, <name>.err), never to
    pipes that could fill up.
    """
    with open(Path(cwd) / f"{name}.out", "w") as out, open(Path(cwd) / f"{name}.err", "w") as err:
        return subprocess.Popen(list(map(str, command)), cwd=cwd, env=env or hpcms_env(),
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stat(pid):
    """(state, ppid) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def descendants(pid):
    """Live descendants of `pid` (children first), from the parent links in /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(entry.name)
            if st is not None and st[0] != "Z":
                parents.setdefault(st[1], []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(0), [])
        found += kids
        todo += kids
    return found


def rank_processes(mpirun_pid):
    """The hpcms processes that mpirun started."""
    found = []
    for pid in descendants(mpirun_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"hpcms" in cmdline:
            found.append(pid)
    return found


def alive(pid):
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def wait_gone(pids, timeout=60):
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, f"processes {pids} outlived SIGKILL"
        time.sleep(0.05)


def kill_all(proc, extra=()):
    """SIGKILL `proc`'s process group, its descendants and `extra`; reap it.

    Under Open MPI the ranks sit in process groups of their own, so the group
    of mpirun alone would leave them running: they are killed by pid too.
    """
    pids = list(extra) + descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)
    wait_gone(pids)


class Started:
    """A started process that is killed (with what it started) if a test fails.

    `Started("run", DECK, ..., ranks=2)` runs hpcms; `command=[...]` anything else.
    """

    def __init__(self, *args, cwd, ranks=None, name="run", command=None, env=None):
        self.cwd, self.name = Path(cwd), name
        self.proc = start(command or hpcms_command(*args, ranks=ranks), cwd, name, env)

    def __enter__(self):
        return self

    @contextlib.contextmanager
    def on_failure(self):
        """Kill the process if the block raises (a failed assertion included)."""
        try:
            yield self
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            kill_all(self.proc)

    def wait(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_all(self.proc)
            pytest.fail(f"hpcms did not finish in {timeout} s\n{self.output()}")

    def output(self):
        return "".join((self.cwd / f"{self.name}.{s}").read_text() for s in ("out", "err"))


def wait_for(condition, proc, what, timeout=TIMEOUT, interval=0.01):
    """Poll `condition()` until true; fail if `proc` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc.proc.poll() is not None:
            pytest.fail(f"hpcms exited with {proc.proc.returncode} before {what}\n"
                        f"{proc.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s\n{proc.output()}")
        time.sleep(interval)


# --- checks ----------------------------------------------------------------------


def checkpoints(out):
    """Finished checkpoint files in `out` (no .tmp), oldest first."""
    out = Path(out)
    return sorted(p for p in out.iterdir() if PATTERN.match(p.name)) if out.is_dir() else []


def read_checkpoint(path):
    """Read and verify a checkpoint in this process, on COMM_SELF."""
    from mpi4py import MPI

    from hpcms.io import checkpoint

    return checkpoint.read(MPI.COMM_SELF, path)


def thermo_steps(out):
    lines = (Path(out) / "thermo.csv").read_text().splitlines()
    return [int(float(line.split(",", 1)[0])) for line in lines[1:]]


def assert_finished(out, steps, first=0):
    """thermo.csv runs from `first` to `steps` without duplicates or gaps in
    order, and the newest checkpoint is at `steps` and verifies."""
    rows = thermo_steps(out)
    assert rows[0] == first, rows
    assert rows[-1] == steps, rows
    assert all(a < b for a, b in zip(rows, rows[1:])), rows
    newest = checkpoints(out)[-1]
    assert newest.name == checkpoint_name(steps)
    assert read_checkpoint(newest).step == steps


def last_log_line(out):
    return (Path(out) / "log.txt").read_text().splitlines()[-1]


def assert_stopped_with_checkpoint(out, status, output, reason=None):
    """Exit 75; the log's last line names the step; that checkpoint verifies."""
    assert status == EXIT_RESUMABLE, output
    line = last_log_line(out)
    m = STOP_LINE.match(line)
    assert m, line
    if reason is not None:
        assert m.group(2) == reason, line
    step = int(m.group(1))
    path = Path(out) / checkpoint_name(step)
    assert path.is_file(), sorted(p.name for p in Path(out).iterdir())
    assert read_checkpoint(path).step == step
    assert thermo_steps(out)[-1] == step
    return step


def resume_and_finish(deck, out, steps, cwd, ranks=None):
    result = hpcms("run", deck, "--resume", "--quiet", cwd=cwd, ranks=ranks)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_finished(out, steps)
    return result


# --- a finished run shared by the tests that only read or copy it -----------------

BASE_STEPS = 10  # checkpoints at 5 and 10 (500 atoms)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    where = tmp_path_factory.mktemp("finished")
    out = where / "out"
    deck = write_run_deck(where / "base.toml", out, steps=BASE_STEPS)
    result = hpcms("run", deck, "--quiet", cwd=where)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in checkpoints(out)] == [checkpoint_name(5), checkpoint_name(10)]
    return out


def copy_run(finished_run, tmp_path, **sections):
    """A copy of the finished run in tmp_path/out and a deck for it there."""
    out = tmp_path / "out"
    shutil.copytree(finished_run, out)
    return write_run_deck(tmp_path / "deck.toml", out, steps=BASE_STEPS, **sections), out


# --- 1. SIGKILL while a checkpoint is being written ---------------------------------

KILL_STEPS = 30
KILL_TRIES = 6


def kill_during_write(tmp_path, ranks, attempt):
    """Run with a checkpoint every 2 steps and SIGKILL everything as soon as a
    .tmp file exists next to at least one finished checkpoint.  Returns
    (deck, output directory, whether it was killed, whether the .tmp file was
    still there after the kill: the kill landed inside a write)."""
    where = tmp_path / f"try{attempt}"
    where.mkdir()
    out = where / "out"
    deck = write_run_deck(where / "deck.toml", out, cells=8, steps=KILL_STEPS,
                          checkpoint_every=2, thermo_every=10)
    with Started("run", deck, "--quiet", cwd=where, ranks=ranks) as run:
        ranks_seen = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            if run.proc.poll() is not None:
                # Finished (or failed) before a kill could land: try again.
                assert run.proc.returncode == 0, run.output()
                return deck, out, False, False
            assert time.monotonic() < deadline, run.output()
            if ranks and len(ranks_seen) < ranks:
                ranks_seen = rank_processes(run.proc.pid)
            names = os.listdir(out) if out.is_dir() else []
            if (any(n.endswith(".h5.tmp") for n in names)
                    and any(PATTERN.match(n) for n in names)
                    and (not ranks or len(ranks_seen) == ranks)):
                kill_all(run.proc, ranks_seen)
                break
            time.sleep(0.0005)
    landed = any(n.endswith(".h5.tmp") for n in os.listdir(out))
    return deck, out, True, landed


@pytest.mark.parametrize("ranks", [pytest.param(None, id="serial"),
                                   pytest.param(2, id="mpirun-2", marks=needs_mpirun)])
def test_sigkill_during_checkpoint_write_leaves_resumable_run(ranks, tmp_path):
    landed_any = False
    for attempt in range(KILL_TRIES):
        deck, out, killed, landed = kill_during_write(tmp_path, ranks, attempt)
        if killed:
            # Every finished checkpoint verifies; the half-written one is a .tmp.
            finished = checkpoints(out)
            assert finished
            for path in finished:
                assert read_checkpoint(path).step == int(PATTERN.match(path.name).group(1))
            newest = int(PATTERN.match(finished[-1].name).group(1))
            resume_and_finish(deck, out, KILL_STEPS, cwd=deck.parent, ranks=ranks)
            # The resumed run wrote that step's checkpoint again, over the .tmp.
            assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
            assert last_continuing(out).startswith(f"continuing from {finished[-1]} "
                                                   f"(step {newest},")
        if landed:
            landed_any = True
            break
    assert landed_any, f"no SIGKILL landed while a .tmp existed in {KILL_TRIES} runs"


# --- 2. stop signals: a checkpoint, exit 75, then --resume ----------------------------

SIGNAL_STEPS = 400  # 500 atoms: long enough that a signal arrives well before the end
RARELY = 10_000  # checkpoint_every: only at the end of the run and on a stop request


def start_signal_run(tmp_path, ranks):
    out = tmp_path / "out"
    deck = write_run_deck(tmp_path / "deck.toml", out, steps=SIGNAL_STEPS, checkpoint_every=RARELY,
                          thermo_every=50)
    run = Started("run", deck, "--quiet", cwd=tmp_path, ranks=ranks)
    with run.on_failure():
        wait_for_first_row(out, run)
    return deck, out, run


def wait_for_first_row(out, run):
    """The step-0 thermo row is written after every rank installed its signal handlers."""
    wait_for(lambda: (out / "thermo.csv").is_file() and thermo_steps(out), run,
             "thermo.csv row")


def test_sigterm_serial_checkpoints_and_exits_75(tmp_path):
    deck, out, run = start_signal_run(tmp_path, None)
    with run:
        os.kill(run.proc.pid, signal.SIGTERM)
        status = run.wait()
    step = assert_stopped_with_checkpoint(out, status, run.output(), "SIGTERM")
    assert 0 < step < SIGNAL_STEPS
    resume_and_finish(deck, out, SIGNAL_STEPS, cwd=tmp_path)


@needs_mpirun
def test_sigterm_to_the_ranks_under_mpirun(tmp_path):
    deck, out, run = start_signal_run(tmp_path, 2)
    with run:
        ranks = wait_for(lambda: (r := rank_processes(run.proc.pid)) and len(r) == 2 and r,
                         run, "two rank processes")
        for pid in ranks:  # as SLURM's scancel --signal=TERM does
            os.kill(pid, signal.SIGTERM)
        status = run.wait()
    step = assert_stopped_with_checkpoint(out, status, run.output(), "SIGTERM")
    assert 0 < step < SIGNAL_STEPS
    resume_and_finish(deck, out, SIGNAL_STEPS, cwd=tmp_path, ranks=2)


@needs_mpirun
def test_sigusr1_to_mpirun_is_forwarded(tmp_path):
    deck, out, run = start_signal_run(tmp_path, 2)
    with run:
        wait_for(lambda: len(rank_processes(run.proc.pid)) == 2, run, "two rank processes")
        os.kill(run.proc.pid, signal.SIGUSR1)
        status = run.wait()
    step = assert_stopped_with_checkpoint(out, status, run.output(), "SIGUSR1")
    assert 0 < step < SIGNAL_STEPS
    # Continued on one rank: the checkpoint does not tie the run to two.
    resume_and_finish(deck, out, SIGNAL_STEPS, cwd=tmp_path)


# --- 3. wall-clock limit --------------------------------------------------------------


def test_max_hours_stops_with_a_checkpoint_then_resume_finishes(tmp_path):
    out = tmp_path / "out"
    deck = write_run_deck(tmp_path / "deck.toml", out, steps=20, checkpoint_every=RARELY)
    # 0.0003 h is about 1 s, less than the 5 s kept for writing a checkpoint:
    # the limit is hit at the first step.
    result = hpcms("run", deck, "--quiet", "--max-hours", "0.0003", cwd=tmp_path)
    step = assert_stopped_with_checkpoint(out, result.returncode, result.stdout + result.stderr,
                                          "wall-clock limit")
    assert step == 1
    assert "Traceback" not in result.stderr
    resume_and_finish(deck, out, 20, cwd=tmp_path)


# --- 4. corrupted checkpoints ----------------------------------------------------------


def flip_position_byte(path):
    """Flip one byte inside the raw data of particles/position."""
    with h5py.File(path, "r") as f:
        dset = f["particles/position"]
        offset = dset.id.get_offset()
        size = dset.id.get_storage_size()
    assert offset is not None and size > 0
    with open(path, "r+b") as f:
        f.seek(offset + size // 2 + 3)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))


def truncate_half(path):
    os.truncate(path, path.stat().st_size // 2)


CORRUPTIONS = {"flipped-byte": flip_position_byte, "truncated": truncate_half}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_restart_from_corrupt_checkpoint_is_refused(how, finished_run, tmp_path):
    deck, out = copy_run(finished_run, tmp_path, run={"steps": 15})
    bad = out / checkpoint_name(10)
    CORRUPTIONS[how](bad)
    before = tree(out)
    result = hpcms("run", deck, "--restart", bad, "--quiet", cwd=tmp_path)
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "Traceback" not in text, text
    lines = error_lines(result)
    assert len(lines) == 1, text
    assert str(bad) in lines[0], lines[0]
    if how == "flipped-byte":
        assert "particles/position" in lines[0] and "checksum" in lines[0], lines[0]
    assert tree(out) == before  # nothing written


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_resume_skips_a_corrupt_newest_checkpoint(how, finished_run, tmp_path):
    deck, out = copy_run(finished_run, tmp_path)
    bad = out / checkpoint_name(10)
    CORRUPTIONS[how](bad)
    result = hpcms("run", deck, "--resume", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [ln for ln in result.stderr.splitlines() if "skipping checkpoint" in ln]
    assert len(skipped) == 1 and str(bad) in skipped[0], result.stderr
    assert f"continuing from {out / checkpoint_name(5)} (step 5," in last_continuing(out)
    assert_finished(out, BASE_STEPS)  # checkpoint-10 written anew, and it verifies


def test_resume_with_no_valid_checkpoint_is_refused(finished_run, tmp_path):
    deck, out = copy_run(finished_run, tmp_path, run={"steps": 15})
    for step in (5, 10):
        flip_position_byte(out / checkpoint_name(step))
    before = tree(out)
    result = hpcms("run", deck, "--resume", "--quiet", cwd=tmp_path)
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "Traceback" not in text, text
    assert len([ln for ln in result.stderr.splitlines() if "skipping checkpoint" in ln]) == 2, text
    lines = error_lines(result)
    assert len(lines) == 1 and "no valid checkpoint" in lines[0], text
    assert tree(out) == before


def last_continuing(out):
    return [ln for ln in (out / "log.txt").read_text().splitlines()
            if ln.startswith("continuing from")][-1]


# --- 5. decks that change between a run and its resume -----------------------------

REFUSED = {
    "integrator.dt": {"integrator": {"dt": 0.004}},
    "run.seed": {"run": {"seed": 7}},
    "potential.cutoff": {"potential": {"cutoff": 2.0}},
}


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_resume_refuses_a_changed_trajectory_key(key, finished_run, tmp_path):
    sections = {name: dict(v) for name, v in REFUSED[key].items()}
    sections.setdefault("run", {})["steps"] = 15
    deck, out = copy_run(finished_run, tmp_path, **sections)
    before = tree(out)
    result = hpcms("run", deck, "--resume", "--quiet", cwd=tmp_path)
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "Traceback" not in text, text
    lines = error_lines(result)
    assert len(lines) == 1 and key in lines[0] and "--force" in lines[0], text
    assert tree(out) == before  # nothing changed


def test_resume_with_force_accepts_a_changed_timestep(finished_run, tmp_path):
    deck, out = copy_run(finished_run, tmp_path, run={"steps": 15},
                         integrator={"dt": 0.004})
    result = hpcms("run", deck, "--resume", "--force", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_continuing(out).endswith("with --force")
    assert_finished(out, 15)


@needs_mpirun
def test_resume_accepts_more_steps_thermo_every_and_ranks(finished_run, tmp_path):
    deck, out = copy_run(finished_run, tmp_path, run={"steps": 15}, output={"thermo_every": 1})
    result = hpcms("run", deck, "--resume", "--quiet", cwd=tmp_path, ranks=2)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "written by 1 rank(s))" in last_continuing(out)
    headers = [ln for ln in (out / "log.txt").read_text().splitlines() if ln.startswith("hpcms ")]
    assert headers[-1].endswith("on 2 rank(s)"), headers
    rows = thermo_steps(out)
    assert rows == [0, 5, 10, 11, 12, 13, 14, 15], rows
    assert_finished(out, 15)


# --- 6. hpcms info on a checkpoint --------------------------------------------------


def test_info_describes_a_checkpoint(finished_run, tmp_path):
    path = finished_run / checkpoint_name(10)
    result = hpcms("info", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # The raw attribute listing shows the format name; the summary starts
    # with "checkpoint PATH (layout version ...)".
    assert FORMAT in result.stdout or result.stdout.startswith(f"checkpoint {path} ")
    assert re.search(r"\bstep\b\D{0,20}\b10\b", result.stdout), result.stdout


# --- launch scripts ---------------------------------------------------------------------


@pytest.mark.parametrize("script", ["run-until-done.sh", "slurm-campaign.sh"])
def test_launch_script_parses(script):
    path = LAUNCH / script
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert os.access(path, os.X_OK)


def test_slurm_campaign_asks_for_the_signal_and_resubmits():
    text = (LAUNCH / "slurm-campaign.sh").read_text()
    assert "#SBATCH --signal=B:USR1@120" in text
    assert re.search(r"^trap \S+ USR1$", text, re.M)
    assert 'sbatch --export=ALL "${sbatch_args[@]}" "$0" "$deck" "$@"' in text


def script_env():
    """Environment for launch/run-until-done.sh: this Python, mpirun, oversubscription."""
    return dict(hpcms_env(), HPCMS_RANKS="2", HPCMS_MAX_ATTEMPTS="20", HPCMS_MPIRUN=MPIRUN,
                OMPI_MCA_rmaps_base_oversubscribe="1", PYTHON=sys.executable)


def attempts(stderr):
    """The hpcms arguments of each attempt run-until-done.sh reports."""
    return re.findall(r"^run-until-done: attempt \d+: .*? run (.*)$", stderr, re.M)


@needs_mpirun
def test_run_until_done_loops_over_stops(tmp_path):
    steps = 4
    out = tmp_path / "out"
    deck = write_run_deck(tmp_path / "deck.toml", out, steps=steps, checkpoint_every=RARELY)
    # Every attempt hits the 0.0003 h limit at its first step, then resumes.
    result = subprocess.run([LAUNCH / "run-until-done.sh", deck, "--quiet", "--max-hours",
                             "0.0003"], cwd=tmp_path, env=script_env(), capture_output=True,
                            text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = attempts(result.stderr)
    assert len(runs) >= steps, result.stderr
    assert "--resume" not in runs[0] and all(r.endswith(" --resume") for r in runs[1:]), runs
    log = (out / "log.txt").read_text()
    assert log.count("on wall-clock limit: checkpoint written") >= steps - 1, log
    assert_finished(out, steps)


@needs_mpirun
def test_run_until_done_forwards_sigterm_then_continues(tmp_path):
    out = tmp_path / "out"
    deck = write_run_deck(tmp_path / "deck.toml", out, steps=SIGNAL_STEPS,
                          checkpoint_every=RARELY, thermo_every=50)
    command = [LAUNCH / "run-until-done.sh", deck, "--quiet"]
    with Started(command=command, cwd=tmp_path, name="script", env=script_env()) as script:
        wait_for_first_row(out, script)
        os.kill(script.proc.pid, signal.SIGTERM)  # as a batch system stopping the job
        status = script.wait()
    # Forwarded to mpirun as SIGUSR1: a checkpoint, status 75, and no further attempt.
    step = assert_stopped_with_checkpoint(out, status, script.output(), "SIGUSR1")
    assert 0 < step < SIGNAL_STEPS
    assert len(attempts(script.output())) == 1, script.output()
    # The same command again continues the run with --resume.
    result = subprocess.run(command, cwd=tmp_path, env=script_env(), capture_output=True,
                            text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = attempts(result.stderr)
    assert len(runs) == 1 and runs[0].endswith(" --resume"), result.stderr
    assert_finished(out, SIGNAL_STEPS)


# --- edge cases of stopping and resuming -------------------------------------------


def test_stop_at_the_last_step_is_a_finished_run(tmp_path):
    # Exit 0, not 75: a wrapper must not start (or a SLURM chain resubmit) a
    # job that has nothing left to do.
    out = tmp_path / "out"
    deck = write_run_deck(tmp_path / "deck.toml", out, steps=1, checkpoint_every=RARELY)
    result = hpcms("run", deck, "--quiet", "--max-hours", "0.0003", cwd=tmp_path)
    assert_finished(out, 1)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("torn", ["1", "12,0.06,1.3"])
def test_resume_drops_a_torn_thermo_row(torn, finished_run, tmp_path):
    # What a crash of the machine (not of the process) can leave: the start
    # of a row without its newline ("1" reads as an earlier step than 10).
    deck, out = copy_run(finished_run, tmp_path, run={"steps": 15})
    with open(out / "thermo.csv", "a") as f:
        f.write(torn)
    result = hpcms("run", deck, "--resume", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_finished(out, 15)
