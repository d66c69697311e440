"""Small decks for tests, as TOML tables."""

import copy

from hpcms.config.deck import deck_from_table

LJ = {
    "run": {"kind": "md", "steps": 100, "seed": 2024, "output": "unused"},
    "system": {"lattice": "fcc", "density": 0.8442, "cells": [5, 5, 5], "temperature": 1.44},
    "potential": {"style": "lj/cut", "cutoff": 2.5,
                  "pair": [{"types": [1, 1], "epsilon": 1.0, "sigma": 1.0}]},
    "integrator": {"style": "nve", "dt": 0.005},
    "neighbor": {"skin": 0.3, "every": 1, "check": True},
    "output": {"thermo_every": 0},
}

THERMOSTATS = {
    "nve": {"style": "nve", "dt": 0.005},
    "langevin": {"style": "langevin", "dt": 0.005, "temperature": 1.0, "damping": 0.5},
    "nose-hoover": {"style": "nose-hoover", "dt": 0.005, "temperature": 1.0, "damping": 0.5,
                    "chain": 3},
}


def table(base=LJ, **sections):
    """A copy of `base` with the given sections updated key by key."""
    t = copy.deepcopy(base)
    for name, values in sections.items():
        t.setdefault(name, {}).update(values)
    return t


def deck(base=LJ, **sections):
    return deck_from_table(table(base, **sections), "test.toml")
