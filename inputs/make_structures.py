"""Regenerate the structure files that example decks in this folder start from.

    PYTHONPATH=. python3 inputs/make_structures.py

This was run once and its outputs are committed; the decks do not run it.
Both structures are short hpcms runs from a lattice, so they hold disordered
liquids with velocities rather than perfect crystals:

- `binary_lj.data` (LAMMPS data, atom_style atomic, with Masses and
  Velocities): the Kob–Andersen 80:20 binary Lennard-Jones mixture
  (W. Kob and H. C. Andersen, Phys. Rev. E 51, 4626 (1995)), 400 A + 100 B
  atoms at number density 1.2, melted with Langevin dynamics at T = 2.0.
- `lj_liquid.xyz` (extended XYZ with species, pos, id, velo, masses):
  256 Lennard-Jones "Ar" atoms at density 0.8442, equilibrated with
  Langevin dynamics at T = 0.85.

Units are reduced LJ units (sigma = epsilon = m = 1).  A fixed seed makes the
files reproducible on the same machine type and build.
"""

import tempfile
from pathlib import Path

import numpy as np
from mpi4py import MPI

from hpcms.config.deck import deck_from_table
from hpcms.particles.readers import write_extxyz, write_lammps_data
from hpcms.particles.structure import Structure
from hpcms.run import execute

HERE = Path(__file__).resolve().parent

# Kob–Andersen coefficients: A-A, A-B, B-B; cutoffs 2.5 sigma_ij.
KOB_ANDERSEN = [
    {"types": [1, 1], "epsilon": 1.0, "sigma": 1.0, "cutoff": 2.5},
    {"types": [1, 2], "epsilon": 1.5, "sigma": 0.8, "cutoff": 2.0},
    {"types": [2, 2], "epsilon": 0.5, "sigma": 0.88, "cutoff": 2.2},
]


def equilibrate(comm, structure, pairs, temperature, steps, seed):
    """Run `steps` Langevin steps from `structure`; the final state as a Structure."""
    with tempfile.TemporaryDirectory() as tmp:
        start = Path(tmp) / "start.data"
        if comm.rank == 0:
            write_lammps_data(start, structure)
        comm.Barrier()
        deck = deck_from_table({
            "run": {"steps": steps, "seed": seed, "output": str(Path(tmp) / "run")},
            "system": {"file": str(start), "temperature": temperature},
            "potential": {"style": "lj/cut", "pair": pairs},
            "integrator": {"style": "langevin", "dt": 0.005, "temperature": temperature,
                           "damping": 0.5},
            "output": {"thermo_every": 0, "progress": "off"},
        }, "equilibrate.toml")
        sim = execute(comm, deck, echo=False)
        s = sim.system
        gathered = s.gather(s.x, s.v, s.types)
    if comm.rank != 0:
        return None
    ids, x, v, types = gathered
    out = Structure(cell=structure.cell, origin=structure.origin, positions=x, types=types,
                    ids=ids, n_types=structure.n_types, masses=structure.masses, velocities=v,
                    type_names=structure.type_names)
    out.positions = out.wrapped()
    return out


def main(comm):
    from hpcms.particles.lattice import build_lattice

    rng = np.random.default_rng(20240501)

    # Kob–Andersen: fcc 5x5x5 = 500 sites at density 1.2, 100 of them made B.
    ka = build_lattice("fcc", (5, 5, 5), density=1.2)
    ka.types[rng.choice(ka.n_atoms, size=ka.n_atoms // 5, replace=False)] = 1
    ka.n_types = 2
    ka.masses = np.array([1.0, 1.0])
    ka = equilibrate(comm, ka, KOB_ANDERSEN, temperature=2.0, steps=2000, seed=7)
    if comm.rank == 0:
        write_lammps_data(HERE / "binary_lj.data", ka)

    # LJ liquid: fcc 4x4x4 = 256 sites at density 0.8442, melted at T = 0.85.
    lj = build_lattice("fcc", (4, 4, 4), density=0.8442)
    lj.masses = np.array([1.0])
    lj.type_names = ["Ar"]
    lj = equilibrate(comm, lj, [{"types": [1, 1], "epsilon": 1.0, "sigma": 1.0, "cutoff": 2.5}],
                     temperature=0.85, steps=2000, seed=11)
    if comm.rank == 0:
        write_extxyz(HERE / "lj_liquid.xyz", lj)


if __name__ == "__main__":
    main(MPI.COMM_WORLD)
