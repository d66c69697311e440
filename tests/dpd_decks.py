"""Small DPD decks for tests, as TOML tables (see decks.py for the LJ ones)."""

from decks import table  # noqa: F401  (re-exported for the DPD tests)

# Groot & Warren's water-like fluid: rho = 3, a = 25, gamma = 4.5, kT = 1.
WATER = {
    "run": {"kind": "md", "steps": 100, "seed": 4423, "output": "unused"},
    "system": {"lattice": "random", "density": 3.0, "box": [6.0, 6.0, 6.0], "temperature": 1.0},
    "potential": {"style": "dpd", "temperature": 1.0, "cutoff": 1.0,
                  "pair": [{"types": [1, 1], "a": 25.0, "gamma": 4.5}]},
    "integrator": {"style": "groot-warren", "dt": 0.04, "lambda": 0.65},
    "neighbor": {"skin": 0.3},
    "output": {"thermo_every": 0},
}

# Symmetric blend of 8-bead A and B chains in an 8^3 box (1536 beads).
BLEND = {
    "run": {"kind": "md", "steps": 100, "seed": 1998, "output": "unused"},
    "system": {"lattice": "random", "density": 3.0, "box": [8.0, 8.0, 8.0], "temperature": 1.0,
               "type_names": ["A", "B"],
               "molecules": [{"sequence": ["A"] * 8, "count": 96, "bond_k": 4.0},
                             {"sequence": ["B"] * 8, "count": 96, "bond_k": 4.0}]},
    "potential": {"style": "dpd", "temperature": 1.0, "cutoff": 1.0,
                  "pair": [{"types": [1, 1], "a": 25.0, "gamma": 4.5},
                           {"types": [2, 2], "a": 25.0, "gamma": 4.5},
                           {"types": [1, 2], "chi": 1.0, "gamma": 4.5}]},
    "integrator": {"style": "groot-warren", "dt": 0.04, "lambda": 0.65},
    "neighbor": {"skin": 0.3},
    "output": {"thermo_every": 0},
}

# Surfactant-like chains H T T T with angles, in solvent W: molecules across
# rank boundaries, angles and three types.  Springs of k = 8 (twice Groot &
# Warren's) keep bonds well inside the 3.0 bond reach that fits this box: with
# k = 4 the strong T-W repulsion stretches some to 3.0-3.4 within 40 steps.
SURFACTANT = {
    "run": {"kind": "md", "steps": 100, "seed": 2000, "output": "unused"},
    "system": {"lattice": "random", "density": 3.0, "box": [7.0, 7.0, 7.0], "temperature": 1.0,
               "type_names": ["W", "H", "T"], "solvent": "W", "bond_reach": 3.0,
               "molecules": [{"sequence": ["H", "T", "T", "T"], "count": 40, "bond_k": 8.0,
                              "angle_k": 3.0, "angle_theta0": 180.0}]},
    "potential": {"style": "dpd", "temperature": 1.0, "cutoff": 1.0,
                  "pair": [{"types": [1, 1], "a": 25.0, "gamma": 4.5},
                           {"types": [2, 2], "a": 25.0, "gamma": 4.5},
                           {"types": [3, 3], "a": 25.0, "gamma": 4.5},
                           {"types": [1, 2], "a": 25.0, "gamma": 4.5},
                           {"types": [1, 3], "a": 80.0, "gamma": 4.5},
                           {"types": [2, 3], "a": 50.0, "gamma": 4.5}]},
    "integrator": {"style": "groot-warren", "dt": 0.02, "lambda": 0.65},
    "neighbor": {"skin": 0.3},
    "output": {"thermo_every": 0},
}

# An LJ liquid (500 atoms, rho = 0.8442) thermostatted by the DPD thermostat
# alone (LAMMPS hybrid/overlay lj/cut dpd/tstat), started hot at T = 1.44.
LJ_TSTAT = {
    "run": {"kind": "md", "steps": 100, "seed": 7171, "output": "unused"},
    "system": {"lattice": "fcc", "density": 0.8442, "cells": [5, 5, 5], "temperature": 1.44},
    "potential": {"style": "lj/cut", "cutoff": 2.5,
                  "pair": [{"types": [1, 1], "epsilon": 1.0, "sigma": 1.0}],
                  "dpd_tstat": {"temperature": 1.0, "gamma": 4.5, "cutoff": 2.5}},
    "integrator": {"style": "nve", "dt": 0.005},
    "neighbor": {"skin": 0.3},
    "output": {"thermo_every": 0},
}

# The surfactant solution with the conservative force left out between bond partners.
SURFACTANT_EXCLUDED = {
    **SURFACTANT, "potential": {**SURFACTANT["potential"], "exclude_bonded": True}}
