"""Thermodynamic observables, summed exactly so every rank count agrees.

Energies are reported per particle; pressure follows LAMMPS:
P = (2 KE + W_xx + W_yy + W_zz) / (3 V), and the pressure tensor
P_ab = (sum m v_a v_b + W_ab) / V, with W the pair virial sum r_ij f_ij / 2.
Temperature is 2 KE / dof with dof = 3N - 3 (momentum is conserved).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..parallel.reduce import exact_sum
from ._thermo_kernels import kinetic_tensor

COLUMNS = ("step", "time", "temperature", "potential_energy", "kinetic_energy",
           "total_energy", "pressure", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz")


@dataclass(frozen=True)
class Thermo:
    """One row of thermo.csv."""
    step: int
    time: float
    temperature: float
    potential_energy: float
    kinetic_energy: float
    total_energy: float
    pressure: float
    pxx: float
    pyy: float
    pzz: float
    pxy: float
    pxz: float
    pyz: float

    def row(self):
        return [getattr(self, c) for c in COLUMNS]


def measure(comm, step, time, v, mass, energy, virial, *, n_global, dof, volume,
            tail_energy=0.0, tail_pressure=0.0):
    """Observables from owned velocities, per-particle pair energies and virials.

    Collective on `comm`; the result is bitwise identical on every rank and
    for every decomposition.
    """
    per_particle = np.empty((len(mass), 13))
    per_particle[:, 0] = energy
    per_particle[:, 1:7] = virial
    kinetic_tensor(v, mass, per_particle[:, 7:13])
    sums = exact_sum(comm, per_particle)
    pe = sums[0] + tail_energy
    w = sums[1:7]
    k = sums[7:13]           # sum m v_a v_b, order xx yy zz xy xz yz
    ke = 0.5 * (k[0] + k[1] + k[2])
    p_tensor = (k + w) / volume
    p_tensor[:3] += tail_pressure
    pressure = (2.0 * ke + w[0] + w[1] + w[2]) / (3.0 * volume) + tail_pressure
    return Thermo(step, time, 2.0 * ke / dof, pe / n_global, ke / n_global,
                  (pe + ke) / n_global, pressure, *p_tensor)
