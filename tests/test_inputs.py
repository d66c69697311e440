"""Every example deck in inputs/ runs, serially and under `mpirun -n 2`, and
gives the same thermo.csv on both (hpcms is bitwise deterministic across rank
counts); FE decks give the same reactions to solver tolerance.  Decks are found by glob, so a new deck is covered by adding it.

Also: a run that starts from a structure file written from a lattice gives
the same thermo.csv, byte for byte, as the lattice deck itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcms.config.deck import load_deck
from hpcms.md.thermo import COLUMNS
from hpcms.particles.lattice import build_lattice
from hpcms.particles.readers import write_extxyz, write_lammps_data
from test_cli import REPO, hpcms, needs_mpirun, write_deck
from test_cli import pytestmark  # noqa: F401  (same skip: not under an mpirun of pytest)

INPUTS = REPO / "inputs"
DECKS = sorted(INPUTS.glob("*.toml"))
FE_DECKS = [d for d in DECKS if load_deck(d).run.kind == "fe"]
PARTICLE_DECKS = [d for d in DECKS if d not in FE_DECKS]
STEPS = 20


def test_inputs_has_the_examples():
    names = {deck.name for deck in DECKS}
    assert {"lj_melt.toml", "lj_langevin.toml", "lj_nose_hoover.toml", "morse_fcc.toml",
            "lj_triclinic_shear.toml", "binary_lj_data.toml", "lj_from_xyz.toml"} <= names


@pytest.mark.parametrize("deck", DECKS, ids=[d.stem for d in DECKS])
def test_deck_is_documented(deck):
    text = deck.read_text()
    assert text.startswith("#"), f"{deck.name}: start with comments saying what it shows"
    load_deck(deck)  # valid as committed, not only with the test's overrides


def expected_steps(deck):
    """The thermo rows of a STEPS-step run: 0, every thermo_every, and the last step."""
    every = load_deck(deck).output.thermo_every
    steps = {0, STEPS}
    if every:
        steps |= set(range(0, STEPS + 1, every))
    return sorted(steps)


def run_deck(deck, where, ranks=None):
    """Run `deck` for STEPS steps in a fresh directory under `where`; thermo.csv lines."""
    out = Path(where) / f"{deck.stem}-{ranks or 1}"
    result = hpcms("run", deck, "--quiet", "--set", f"run.steps={STEPS}",
                   "--set", f"run.output={json.dumps(str(out))}", cwd=where, ranks=ranks)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = (out / "thermo.csv").read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert [int(line.split(",")[0]) for line in lines[1:]] == expected_steps(deck)
    timing = json.loads((out / "timing.json").read_text())
    assert timing["ranks"] == (ranks or 1) and timing["steps"] == STEPS
    return lines


def run_fe_deck(deck, where, ranks=None):
    """Run an FE deck to the end under `where`; the rows of its reaction.csv."""
    out = Path(where) / f"{deck.stem}-{ranks or 1}"
    result = hpcms("run", deck, "--quiet", "--set", f"run.output={json.dumps(str(out))}",
                   cwd=where, ranks=ranks)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "fields.xdmf").exists() and (out / "fields.h5").exists()
    lines = (out / "reaction.csv").read_text().splitlines()
    rows = [[float(x) for x in line.split(",")] for line in lines[1:]]
    assert rows and rows[-1][1] == 1.0  # reached the full load
    return rows


@needs_mpirun
@pytest.mark.parametrize("deck", FE_DECKS, ids=[d.stem for d in FE_DECKS])
def test_fe_deck_serial_and_on_2_ranks(deck, tmp_path):
    """Same increments and, to solver tolerance, the same reactions on 1 and 2 ranks."""
    serial = run_fe_deck(deck, tmp_path)
    parallel = run_fe_deck(deck, tmp_path, ranks=2)
    assert len(parallel) == len(serial)
    for a, b in zip(serial, parallel):
        assert b[:2] == a[:2]
        assert b[2:-1] == pytest.approx(a[2:-1], rel=1e-7, abs=1e-9)


@pytest.fixture(scope="module")
def serial_thermo(tmp_path_factory):
    """thermo.csv lines of each deck's serial run, run once for both tests."""
    where = tmp_path_factory.mktemp("serial")
    cache = {}

    def get(deck):
        if deck not in cache:
            cache[deck] = run_deck(deck, where)
        return cache[deck]
    return get


@pytest.mark.parametrize("deck", PARTICLE_DECKS, ids=[d.stem for d in PARTICLE_DECKS])
def test_deck_runs_serially(deck, serial_thermo):
    serial_thermo(deck)


@needs_mpirun
@pytest.mark.parametrize("deck", PARTICLE_DECKS, ids=[d.stem for d in PARTICLE_DECKS])
def test_deck_on_2_ranks_matches_serial(deck, serial_thermo, tmp_path):
    serial = serial_thermo(deck)
    parallel = run_deck(deck, tmp_path, ranks=2)
    assert parallel[-1] == serial[-1]  # the final row, as text: bit for bit
    assert parallel == serial


LATTICE = {"lattice": "fcc", "density": 0.8442, "cells": [4, 4, 4], "temperature": 1.44}


@pytest.mark.parametrize("fmt, writer", [("lammps-data", write_lammps_data),
                                         ("extxyz", write_extxyz)])
def test_structure_file_of_a_lattice_runs_like_the_lattice(fmt, writer, tmp_path):
    """The same atoms from a file (same ids, same seed) give identical thermo.csv."""
    path = tmp_path / ("lattice.data" if fmt == "lammps-data" else "lattice.xyz")
    writer(path, build_lattice("fcc", (4, 4, 4), density=0.8442))
    common = {"run": {"steps": 20, "seed": 77}, "output": {"thermo_every": 5}}
    from_lattice = write_deck(tmp_path / "lattice.toml", system=LATTICE, **common)
    from_file = write_deck(tmp_path / "file.toml", system={
        "lattice": None, "density": None, "cells": None, "temperature": 1.44,
        "file": path.name, "format": fmt}, **common)
    for deck in (from_lattice, from_file):
        result = hpcms("run", deck, "--quiet", "--set", f'run.output="{deck.stem}"', cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    lattice = (tmp_path / "lattice" / "thermo.csv").read_text()
    assert len(lattice.splitlines()) == 1 + 5  # header + steps 0, 5, 10, 15, 20
    assert (tmp_path / "file" / "thermo.csv").read_text() == lattice
