"""The command line as a user meets it: `hpcms run|check|info|keys`, exit
statuses, one-line deck errors, refused output directories, run faults.

Every test launches hpcms as a subprocess (`sys.executable -m hpcms`), some
under `mpirun -n 4`, with a timeout so that a hang fails instead of blocking.
The module is not an MPI test: run it with plain pytest.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpcms.config.deck import SECTIONS, STYLED_SECTIONS
from hpcms.md.thermo import COLUMNS
from hpcms.md.timers import PHASES
from hpcms.particles.lattice import build_lattice
from hpcms.particles.readers import write_lammps_data

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds for one hpcms process or mpirun job (numba may compile cold)
MPIRUN = shutil.which("mpirun") or shutil.which("mpiexec")

pytestmark = pytest.mark.skipif(
    "OMPI_COMM_WORLD_SIZE" in os.environ or "PMI_SIZE" in os.environ,
    reason="launches its own hpcms processes and mpirun jobs; run without mpirun")
needs_mpirun = pytest.mark.skipif(MPIRUN is None, reason="no mpirun on PATH")

# --- running hpcms ---------------------------------------------------------------


def hpcms_env():
    """This environment, with the repository first on PYTHONPATH and Open MPI
    allowed to run as root and oversubscribe (as launch/env.sh sets them)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    return env


def _mpirun_prefix(n):
    version = subprocess.run([MPIRUN, "--version"], capture_output=True, text=True,
                             timeout=60, env=hpcms_env())
    open_mpi = "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout
    return [MPIRUN] + (["--oversubscribe"] if open_mpi else []) + ["-n", str(n)]


def hpcms(*args, cwd, ranks=None, timeout=TIMEOUT, env=None):
    """Run `hpcms ARGS` (under `mpirun -n ranks` when ranks is given) in `cwd`;
    `env` adds to the environment."""
    command = [sys.executable, "-m", "hpcms", *map(str, args)]
    if ranks is not None:
        command = _mpirun_prefix(ranks) + command
    return subprocess.run(command, cwd=cwd, env=dict(hpcms_env(), **(env or {})),
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def error_lines(result, prefix="hpcms: error:"):
    """The lines of stdout and stderr that start with `prefix`."""
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line.startswith(prefix)]


def assert_clean_deck_error(result, key):
    """Exit 2 with one `hpcms: error: deck key 'KEY' ...` line and no traceback."""
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "Traceback" not in out and "internal error" not in out, out
    lines = error_lines(result)
    assert len(lines) == 1, out
    assert lines[0].startswith(f"hpcms: error: deck key '{key}'"), lines[0]


def tree(path):
    """Every file and folder under `path`, with file contents, for before/after checks."""
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(Path(path).rglob("*"))}


# --- decks -----------------------------------------------------------------------

# 256 LJ atoms in a box 6.72 sigma wide: a run takes about a second.
BASE = {
    "run": {"kind": "md", "steps": 25, "seed": 2024},
    "system": {"lattice": "fcc", "density": 0.8442, "cells": [4, 4, 4], "temperature": 1.44},
    "potential": {"style": "lj/cut", "cutoff": 2.5,
                  "pair": [{"types": [1, 1], "epsilon": 1.0, "sigma": 1.0}]},
    "integrator": {"style": "nve", "dt": 0.005},
    "neighbor": {"skin": 0.3},
    "output": {"thermo_every": 10, "progress": "lines"},
}


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def to_toml(table):
    """A deck table as TOML text (sections, scalars, lists, arrays of tables)."""
    lines = []
    for name, section in table.items():
        if not isinstance(section, dict):
            lines.append(f"{name} = {_toml_value(section)}")
            continue
        lines.append(f"[{name}]")
        arrays = {}
        for k, v in section.items():
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                arrays[k] = v
            else:
                lines.append(f"{k} = {_toml_value(v)}")
        for k, entries in arrays.items():
            for entry in entries:
                lines.append(f"[[{name}.{k}]]")
                lines += [f"{ek} = {_toml_value(ev)}" for ek, ev in entry.items()]
        lines.append("")
    return "\n".join(lines) + "\n"


def deck_table(**sections):
    """BASE with sections updated key by key; a value None removes the key."""
    t = copy.deepcopy(BASE)
    for name, values in sections.items():
        section = t.setdefault(name, {})
        for k, v in values.items():
            if v is None:
                section.pop(k, None)
            else:
                section[k] = v
    return t


def write_deck(path, table=None, **sections):
    path = Path(path)
    path.write_text(to_toml(table if table is not None else deck_table(**sections)))
    return path


def write_two_type_data(path):
    """256 fcc atoms with types 1 and 2 alternating, as a LAMMPS data file."""
    st = build_lattice("fcc", (4, 4, 4), density=0.8442)
    st.types[1::2] = 1
    st.n_types = 2
    write_lammps_data(path, st)


def write_overlap_data(path):
    """256 fcc atoms where atom 1 sits 0.25 sigma from atom 2: the first step blows up."""
    st = build_lattice("fcc", (4, 4, 4), density=0.8442)
    st.positions[0] = st.positions[1] + np.array([0.25, 0.0, 0.0])
    write_lammps_data(path, st)


# --- help, keys, check -----------------------------------------------------------


def _launchers():
    yield pytest.param([sys.executable, "-m", "hpcms"], id="python-m-hpcms")
    script = shutil.which("hpcms")
    yield pytest.param([script] if script else None, id="hpcms-script",
                       marks=pytest.mark.skipif(script is None, reason="no hpcms script on PATH"))


@pytest.mark.parametrize("launcher", list(_launchers()))
def test_help_lists_the_commands(launcher, tmp_path):
    result = subprocess.run(launcher + ["--help"], cwd=tmp_path, env=hpcms_env(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    for command in ("run", "check", "info", "keys"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), result.stdout
    assert result.stderr == ""


def test_run_help_lists_its_options(tmp_path):
    result = hpcms("run", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--set" in result.stdout and "--quiet" in result.stdout


def test_no_command_is_a_usage_error(tmp_path):
    result = hpcms(cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: hpcms" in result.stderr and "Traceback" not in result.stderr


def test_keys_prints_every_section_and_key(tmp_path):
    result = hpcms("keys", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name, cls in SECTIONS.items():
        assert f"[{name}]" in result.stdout
        for f in dataclasses.fields(cls):
            assert re.search(rf"^\s+{f.name} = ", result.stdout, re.M), (name, f.name)


def test_keys_prints_the_styled_sections(tmp_path):
    result = hpcms("keys", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in STYLED_SECTIONS:
        assert f"[{name}]" in result.stdout


def test_check_good_deck(tmp_path):
    deck = write_deck(tmp_path / "good.toml")
    result = hpcms("check", deck, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok (256 particles, 1 type(s), rank grid [1, 1, 1])" in result.stdout
    assert result.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.toml"]  # nothing written


def test_check_applies_set_overrides(tmp_path):
    deck = write_deck(tmp_path / "good.toml")
    result = hpcms("check", deck, "--set", "system.cells=[6,6,6]", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok (864 particles," in result.stdout
    result = hpcms("check", deck, "--set", 'system.lattice="bcc"', "--set", "system.cells=[5,5,5]",
                   cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok (250 particles," in result.stdout


@pytest.mark.parametrize("value, where", [('"quoted"', "quoted"), ("runs/bare", "runs/bare")])
def test_run_output_override(value, where, tmp_path):
    deck = write_deck(tmp_path / "good.toml", run={"steps": 2})
    result = hpcms("run", deck, "--quiet", "--set", f"run.output={value}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / where / "thermo.csv").is_file()
    assert not (tmp_path / "runs" / "good").exists()  # the default went unused


@pytest.mark.parametrize("key, value", [
    ("run.steps", -5),
    ("run.steps", "ten"),
    ("neighbor.check", 1),
    ("system.cells", [2, 2]),
    ("integrator.dt", 0),
])
def test_bad_set_is_validated_like_the_deck(key, value, tmp_path):
    section, name = key.split(".")
    good = write_deck(tmp_path / "deck.toml")
    override = hpcms("check", good, "--set", f"{key}={_toml_value(value)}", cwd=tmp_path)
    bad = write_deck(tmp_path / "deck.toml", **{section: {name: value}})
    in_deck = hpcms("check", bad, cwd=tmp_path)
    assert_clean_deck_error(override, key)
    assert_clean_deck_error(in_deck, key)
    assert override.stderr == in_deck.stderr


def test_malformed_set_is_a_deck_error(tmp_path):
    deck = write_deck(tmp_path / "deck.toml")
    assert_clean_deck_error(hpcms("check", deck, "--set", "steps", cwd=tmp_path), "--set")
    assert_clean_deck_error(hpcms("check", deck, "--set", "steps=3", cwd=tmp_path), "--set")


# --- bad decks -------------------------------------------------------------------


BAD_DECKS = [
    # id, key named in the message, deck changes (or raw text), file set-up, also on 4 ranks
    ("unknown-section", "runn", {"runn": {"steps": 3}}, None, None, False),
    ("unknown-key", "run.stpes", {"run": {"stpes": 10}}, None, None, True),
    ("steps-not-integer", "run.steps", {"run": {"steps": "ten"}}, None, None, False),
    ("check-not-bool", "neighbor.check", {"neighbor": {"check": 1}}, None, None, False),
    ("negative-density", "system.density", {"system": {"density": -0.8}}, None, None, False),
    ("zero-cells", "system.cells", {"system": {"cells": [0, 1, 1]}}, None, None, False),
    ("unknown-lattice", "system.lattice", {"system": {"lattice": "hcp"}}, None, None, False),
    ("lattice-and-file", "system.lattice", {"system": {"file": "x.data"}}, None, None, False),
    ("cutoff-over-half-box", "potential.cutoff", {"system": {"cells": [1, 1, 1]}}, None, None,
     True),
    ("grid-does-not-fit", "parallel.grid", {"parallel": {"grid": [3, 1, 1]}}, None, None, True),
    ("missing-pair-coefficients", "potential.pair",
     {"system": {"lattice": None, "density": None, "cells": None, "file": "two_types.data"}},
     None, write_two_type_data, True),
    ("unknown-pair-style", "potential.style", {"potential": {"style": "lj/cutt"}}, None, None,
     False),
    ("negative-epsilon", "potential.pair[0].epsilon",
     {"potential": {"pair": [{"types": [1, 1], "epsilon": -1.0, "sigma": 1.0}]}}, None, None,
     False),
    ("unknown-integrator-style", "integrator.style", {"integrator": {"style": "verlet"}}, None,
     None, False),
    ("langevin-without-temperature", "integrator.temperature",
     {"integrator": {"style": "langevin", "damping": 0.5}}, None, None, False),
    ("zero-dt", "integrator.dt", {"integrator": {"dt": 0.0}}, None, None, False),
    ("singular-deform", "system.deform",
     {"system": {"deform": [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]}}, None, None,
     False),
    ("negative-trajectory-interval", "output.trajectory_every",
     {"output": {"trajectory_every": -10}}, None, None, False),
    ("malformed-toml", "deck", None, "[run\nsteps = 10\n", None, False),
    ("missing-deck-file", "deck", None, None, None, False),
    ("missing-structure-file", "system.file",
     {"system": {"lattice": None, "density": None, "cells": None, "file": "missing.data"}},
     None, None, True),
]


def _bad_deck(tmp_path, sections, text, setup):
    """The deck file of a case (and its structure file); returns its path."""
    deck = tmp_path / "bad.toml"
    if setup is not None:
        setup(tmp_path / "two_types.data")
    if text is not None:
        deck.write_text(text)
    elif sections is not None:
        write_deck(deck, **sections)
    return deck  # missing-deck-file: never written


@pytest.mark.parametrize("key, sections, text, setup",
                         [pytest.param(*case[1:5], id=case[0]) for case in BAD_DECKS])
def test_bad_deck_is_one_line_exit_2_nothing_written(key, sections, text, setup, tmp_path):
    deck = _bad_deck(tmp_path, sections, text, setup)
    before = tree(tmp_path)
    result = hpcms("run", deck, cwd=tmp_path)
    assert_clean_deck_error(result, key)
    assert result.stdout == ""
    assert tree(tmp_path) == before  # no runs/bad, no output directory, nothing else


@needs_mpirun
@pytest.mark.parametrize("key, sections, text, setup",
                         [pytest.param(*case[1:5], id=case[0]) for case in BAD_DECKS if case[5]])
def test_bad_deck_on_4_ranks(key, sections, text, setup, tmp_path):
    deck = _bad_deck(tmp_path, sections, text, setup)
    before = tree(tmp_path)
    result = hpcms("run", deck, "--set", 'run.output="out"', cwd=tmp_path, ranks=4)
    assert_clean_deck_error(result, key)  # exactly one line, from rank 0
    assert tree(tmp_path) == before


# --- a finished run, and output directories --------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 25-step serial run with thermo rows every 10 steps; returns its directory."""
    where = tmp_path_factory.mktemp("finished")
    deck = write_deck(where / "good.toml")
    result = hpcms("run", deck, "--set", 'run.output="out"', cwd=where)
    assert result.returncode == 0, result.stdout + result.stderr
    return where / "out"


def test_run_writes_its_outputs(finished_run):
    assert sorted(p.name for p in finished_run.iterdir()) == [
        "deck.json", "log.txt", "thermo.csv", "timing.json"]
    deck = json.loads((finished_run / "deck.json").read_text())
    assert deck["run"]["steps"] == 25 and deck["run"]["output"] == "out"
    log = (finished_run / "log.txt").read_text()
    assert "256 particles" in log and "step       25" in log


def test_thermo_csv_columns_and_rows(finished_run):
    lines = (finished_run / "thermo.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:7] == ["step", "time", "temperature", "potential_energy", "kinetic_energy",
                          "total_energy", "pressure"]
    assert header == list(COLUMNS)
    assert {"pxx", "pyy", "pzz", "pxy", "pxz", "pyz"} <= set(header)
    rows = [[float(v) for v in line.split(",")] for line in lines[1:]]
    assert [int(r[0]) for r in rows] == [0, 10, 20, 25]  # first, every 10, last
    for r in rows:
        assert len(r) == len(header) and all(math.isfinite(v) for v in r)
        row = dict(zip(header, r))
        assert row["time"] == pytest.approx(0.005 * row["step"])
        assert row["total_energy"] == pytest.approx(
            row["potential_energy"] + row["kinetic_energy"], abs=1e-12)
        assert row["pressure"] == pytest.approx((row["pxx"] + row["pyy"] + row["pzz"]) / 3)
    assert rows[0][header.index("temperature")] == pytest.approx(1.44)


def test_timing_json(finished_run):
    timing = json.loads((finished_run / "timing.json").read_text())
    assert timing["ranks"] == 1 and timing["particles"] == 256 and timing["steps"] == 25
    assert timing["particle_steps_per_second"] > 0
    assert timing["load_imbalance"] == 1.0
    assert set(timing["phases"]) == {"pair", "neighbor", "comm", "integrate", "output", "other"}
    assert set(timing["phases"]) == set(PHASES)
    for phase, t in timing["phases"].items():
        assert 0.0 <= t["min"] <= t["avg"] <= t["max"], phase


def test_existing_output_directory_is_refused(finished_run, tmp_path):
    before = tree(finished_run)
    deck = write_deck(tmp_path / "again.toml")
    result = hpcms("run", deck, "--set", f"run.output={json.dumps(str(finished_run))}",
                   cwd=tmp_path)
    assert_clean_deck_error(result, "run.output")
    assert "not empty" in result.stderr
    assert tree(finished_run) == before  # untouched, byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.toml"]


def test_existing_file_in_output_directory_is_kept(tmp_path):
    deck = write_deck(tmp_path / "deck.toml")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    result = hpcms("run", deck, "--set", 'run.output="out"', cwd=tmp_path)
    assert_clean_deck_error(result, "run.output")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_empty_output_directory_is_used(tmp_path):
    deck = write_deck(tmp_path / "deck.toml", run={"steps": 2})
    (tmp_path / "out").mkdir()
    result = hpcms("run", deck, "--quiet", "--set", 'run.output="out"', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "thermo.csv").is_file()


def test_quiet_prints_nothing(tmp_path):
    deck = write_deck(tmp_path / "deck.toml", run={"steps": 5})
    result = hpcms("run", deck, "--quiet", "--set", 'run.output="out"', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert "step        5" in (tmp_path / "out" / "log.txt").read_text()
    loud = hpcms("run", deck, "--set", 'run.output="loud"', cwd=tmp_path)
    assert loud.returncode == 0 and "step        5" in loud.stdout


@needs_mpirun
def test_quiet_prints_nothing_under_mpirun(tmp_path):
    """Open MPI gives ranks a pseudo-terminal, so with a TERM the progress bar is
    on: --quiet must silence that too."""
    deck = write_deck(tmp_path / "deck.toml", run={"steps": 5},
                      output={"progress": None})  # "auto"
    result = hpcms("run", deck, "--quiet", "--set", 'run.output="out"', cwd=tmp_path, ranks=2,
                   env={"TERM": "xterm"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "step" not in result.stdout, result.stdout
    assert "step        5" in (tmp_path / "out" / "log.txt").read_text()


# --- hpcms info ------------------------------------------------------------------


def test_info_on_run_directory(finished_run):
    result = hpcms("info", finished_run, cwd=finished_run.parent)
    assert result.returncode == 0, result.stderr
    for name in ("deck.json", "log.txt", "thermo.csv", "timing.json"):
        assert name in result.stdout
    assert "256 particles, 25 steps on 1 rank(s)" in result.stdout
    assert "4 rows" in result.stdout


def test_info_on_thermo_csv(finished_run):
    result = hpcms("info", finished_run / "thermo.csv", cwd=finished_run.parent)
    assert result.returncode == 0, result.stderr
    assert "4 rows" in result.stdout
    for name in COLUMNS:
        assert re.search(rf"^\s+{name}\s+first ", result.stdout, re.M), name


def test_info_on_timing_json(finished_run):
    result = hpcms("info", finished_run / "timing.json", cwd=finished_run.parent)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads((finished_run / "timing.json").read_text())


@pytest.mark.parametrize("name", ["no_such_run", "no_such.h5", "deck.toml"])
def test_info_on_missing_or_unknown_path(name, tmp_path):
    if name == "deck.toml":
        write_deck(tmp_path / name)  # exists, but is no output hpcms describes
    result = hpcms("info", tmp_path / name, cwd=tmp_path)
    assert_clean_deck_error(result, "info")
    assert result.stdout == ""


# --- faults during a run ---------------------------------------------------------

FAULT = re.compile(r"^hpcms: run stopped: step (\d+): particle (\d+) ", re.M)


def _fault_deck(tmp_path, kind):
    if kind == "overlap":
        write_overlap_data(tmp_path / "overlap.data")
        return write_deck(tmp_path / "fault.toml", system={
            "lattice": None, "density": None, "cells": None, "temperature": None,
            "file": "overlap.data"})
    return write_deck(tmp_path / "fault.toml", integrator={"dt": 0.5})


def _check_fault(result, steps=25):
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "Traceback" not in out and "internal error" not in out, out
    lines = error_lines(result, "hpcms: run stopped:")
    assert len(lines) == 1, out
    match = FAULT.match(lines[0])
    assert match, lines[0]
    step, particle = int(match[1]), int(match[2])
    assert 1 <= step <= steps and 1 <= particle <= 256
    return lines[0], step, particle


@pytest.mark.parametrize("kind", ["overlap", "dt"])
def test_fault_stops_with_step_and_particle(kind, tmp_path):
    deck = _fault_deck(tmp_path, kind)
    result = hpcms("run", deck, "--quiet", "--set", 'run.output="out"', cwd=tmp_path)
    _, step, particle = _check_fault(result)
    if kind == "overlap":
        assert step == 1 and particle in (1, 2)  # the two atoms on top of each other
    thermo = (tmp_path / "out" / "thermo.csv").read_text().splitlines()
    assert thermo[1].startswith("0,")  # the rows before the fault are kept
    assert not (tmp_path / "out" / "timing.json").exists()


@needs_mpirun
@pytest.mark.parametrize("kind", ["overlap", "dt"])
def test_fault_on_4_ranks_matches_serial(kind, tmp_path):
    deck = _fault_deck(tmp_path, kind)
    serial = hpcms("run", deck, "--quiet", "--set", 'run.output="serial"', cwd=tmp_path)
    parallel = hpcms("run", deck, "--quiet", "--set", 'run.output="parallel"', cwd=tmp_path,
                     ranks=4)
    message, _, _ = _check_fault(serial)
    assert _check_fault(parallel)[0] == message  # same step, same particle, same words


# --- sparse systems --------------------------------------------------------------


@needs_mpirun
def test_ranks_without_particles(tmp_path):
    """Two atoms in a box 10 sigma wide on 4 ranks: most ranks own nothing, and
    the run still matches the serial one row for row."""
    (tmp_path / "two.data").write_text(
        "two atoms\n\n2 atoms\n1 atom types\n\n"
        "0.0 10.0 xlo xhi\n0.0 10.0 ylo yhi\n0.0 10.0 zlo zhi\n\n"
        "Atoms # atomic\n\n1 1 1.0 1.0 1.0\n2 1 2.2 1.0 1.0\n")
    deck = write_deck(tmp_path / "two.toml", run={"steps": 10}, output={"thermo_every": 5},
                      system={"lattice": None, "density": None, "cells": None,
                              "temperature": None, "file": "two.data"})
    serial = hpcms("run", deck, "--quiet", "--set", 'run.output="serial"', cwd=tmp_path)
    parallel = hpcms("run", deck, "--quiet", "--set", 'run.output="parallel"', cwd=tmp_path,
                     ranks=4)
    for result in (serial, parallel):
        assert result.returncode == 0, result.stdout + result.stderr
    thermo = (tmp_path / "serial" / "thermo.csv").read_text()
    assert len(thermo.splitlines()) == 1 + 3
    assert (tmp_path / "parallel" / "thermo.csv").read_text() == thermo
