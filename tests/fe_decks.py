"""FE decks for the tests, as tables, and a way to run one in-process."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from hpcms.config.deck import deck_from_table
from hpcms.fe.driver import execute_fe

REPO = Path(__file__).resolve().parents[1]


def box(dim=3, cells=(2, 2, 2), upper=(1.0, 1.0, 1.0), simplex=False, distort=0.0):
    return {"type": "box", "dim": dim, "cells": list(cells[:dim]), "upper": list(upper[:dim]),
            "simplex": simplex, "distort": distort}


NEO_HOOKE = {"style": "neo-hookean", "E": 100.0, "nu": 0.3}


def affine_patch(dim, H, mesh, material=NEO_HOOKE):
    """u = H X prescribed on the whole boundary of a box."""
    regions = ["xmin", "xmax", "ymin", "ymax", "zmin", "zmax"][:2 * dim]
    return {"run": {"kind": "fe"}, "mesh": mesh, "material": dict(material),
            "boundary": [{"region": r, "type": "affine", "H": [list(map(float, h)) for h in H]}
                         for r in regions],
            "load": {"steps": 2}, "solver": {"pc_type": "lu", "ksp_type": "preonly"}}


def uniaxial_bar(stretch, cells=(4, 2, 2), material=NEO_HOOKE, steps=4):
    """A 2x1x1 bar on symmetry planes, pulled to `stretch` along x."""
    return {"run": {"kind": "fe"}, "mesh": box(3, cells, (2.0, 1.0, 1.0)),
            "material": dict(material),
            "boundary": [{"region": "xmin", "type": "displacement", "ux": 0.0},
                         {"region": "ymin", "type": "displacement", "uy": 0.0},
                         {"region": "zmin", "type": "displacement", "uz": 0.0},
                         {"region": "xmax", "name": "grip", "type": "displacement",
                          "ux": 2.0 * (stretch - 1.0)}],
            "load": {"steps": steps}}


def run_table(comm, table, out, path="deck.toml", **kwargs):
    """Validate a deck table and run it with outputs under `out`.  Collective."""
    table = copy.deepcopy(table)
    table.setdefault("run", {})["output"] = str(out)
    deck = deck_from_table(table, str(path))
    return execute_fe(comm, deck, echo=False, **kwargs)


def vertex_displacements(run):
    """(ids, displacement) of this rank's owned vertices."""
    m = run.mesh
    return m.vertex_ids[m.vertex_owned], run.displacement()[m.vertex_owned]


def read_csv(path):
    lines = Path(path).read_text().splitlines()
    head = lines[0].split(",")
    rows = np.array([[float(x) for x in ln.split(",")] for ln in lines[1:]])
    return {h: rows[:, k] for k, h in enumerate(head)}
