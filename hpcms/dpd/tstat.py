"""The DPD thermostat on top of another pair force (LAMMPS ``pair_style
hybrid/overlay lj/cut ... dpd/tstat``).

Only the dissipative and random pair forces of DPD, with the same
pair-keyed random numbers (`hpcms.md.rng.pair_gaussian`, keyed by
(run.seed, step, min id, max id))::

    F_ij = [-gamma w^2 (r-hat . v_ij) + sigma w theta_ij dt^-1/2] r-hat,
    w = 1 - r / r_c,   sigma^2 = 2 gamma kT

added to the forces of the pair style of ``[potential]``.  Both forces are
pairwise and antisymmetric, so the total momentum is conserved (a Langevin
thermostat does not conserve it), and the trajectory stays bitwise the same
on any number of ranks and across restarts.  A deck::

    [potential]
    style = "lj/cut"
    cutoff = 2.5
    [[potential.pair]]
    types = [1, 1]
    epsilon = 1.0
    sigma = 1.0
    [potential.dpd_tstat]
    temperature = 1.0     # kT (required, > 0)
    gamma = 4.5           # friction (required, > 0)
    cutoff = 2.5          # r_c of the weight w (default: the pair style's largest cutoff)

with ``[integrator] style = "nve"`` (the forces see the half-kicked
velocity, as in LAMMPS) or ``"groot-warren"``.  gamma and the cutoff are the
same for every type pair.  Energy, virial and pressure are those of the
underlying pair style (the thermostat forces have no potential and, like
DPD's, are left out of the virial).
"""

import numpy as np

from hpcms.config.errors import DeckError
from hpcms.md.pair import _check_table, _positive

from .pair import NO_EXCLUSIONS, PairForces, check_velocity_args

TSTAT_KEYS = ("temperature", "gamma", "cutoff")
KEYS_DOC = ("[potential.dpd_tstat]: the DPD thermostat added to the pair style "
            "(LAMMPS hybrid/overlay ... dpd/tstat): temperature (kT, required), gamma "
            "(required), cutoff (default: the pair style's largest cutoff)")


class DPDThermostat:
    """Dissipative + random DPD pair forces alone (LAMMPS ``pair_style dpd/tstat``)."""

    def __init__(self, gamma, cutoff, temperature, n_types=1):
        """gamma > 0, cutoff > 0, temperature (kT) > 0, the same for all n_types types."""
        shape = (n_types, n_types)
        self.kT = float(temperature)
        self.gamma = np.full(shape, float(gamma))
        self.sigma = np.sqrt(2.0 * self.gamma * self.kT)
        self.cutoff = np.full(shape, float(cutoff))
        self.cutsq = self.cutoff * self.cutoff
        self.rcinv = 1.0 / self.cutoff
        self.cutoff_max = float(cutoff)
        self._zero = np.zeros(shape)
        self._forces = PairForces()
        self._f = np.empty((0, 3))

    @classmethod
    def from_table(cls, table, n_types, default_cutoff):
        """Validate ``[potential.dpd_tstat]``.  DeckError names the key."""
        prefix = "potential.dpd_tstat"
        _check_table(table, prefix, TSTAT_KEYS)
        for name in ("temperature", "gamma"):
            if name not in table:
                raise DeckError(f"{prefix}.{name}", None, "required: a positive finite number")
        kT = _positive(table, "temperature", prefix)
        gamma = _positive(table, "gamma", prefix)
        cutoff = _positive(table, "cutoff", prefix) if "cutoff" in table else default_cutoff
        return cls(gamma, cutoff, kT, n_types)

    def add_forces(self, x, v, ids, types, n_local, nbr_start, nbr_index, step, dt, seed, f):
        """f[:n_local] += the thermostat's pair forces (a full list: each row its own)."""
        if self._f.shape[0] != n_local:
            self._f = np.empty((n_local, 3))
        self._forces(x, v, ids, types, n_local, nbr_start, nbr_index, False, self._zero,
                     self.gamma, self.sigma, self.cutsq, self.rcinv, seed, step, dt,
                     NO_EXCLUSIONS, NO_EXCLUSIONS, self._f)
        f[:n_local] += self._f


class WithDPDThermostat:
    """A pair style plus the DPD thermostat: a velocity-dependent `PairForce`."""

    velocity_dependent = True

    def __init__(self, base, tstat):
        self.base = base
        self.tstat = tstat
        self.style = f"{base.style} + dpd/tstat"
        self.cutoff_max = max(base.cutoff_max, tstat.cutoff_max)
        self.has_tail = getattr(base, "has_tail", False)
        self.chi_keys = []

    def compute(self, x, types, n_local, nbr_start, nbr_index, f, energy=None, virial=None, *,
                v=None, ids=None, step=0, dt=None, seed=0, half=False, reverse=None):
        """The base style's forces (energy, virial) plus the thermostat's forces.

        See `hpcms.md.pair.PairForce.compute`; also needs (keywords) ``v`` and
        ``ids`` of owned + ghost particles, ``step``, ``dt`` and ``seed``.
        """
        check_velocity_args("dpd/tstat", v, ids, dt, step)
        self.base.compute(x, types, n_local, nbr_start, nbr_index, f, energy, virial)
        self.tstat.add_forces(x, v, ids, types, n_local, nbr_start, nbr_index, step, dt, seed, f)

    def tail_energy(self, counts, volume):
        return self.base.tail_energy(counts, volume)

    def tail_pressure(self, counts, volume):
        return self.base.tail_pressure(counts, volume)


def with_dpd_tstat(base, table, n_types):
    """``base`` with the thermostat of a ``[potential.dpd_tstat]`` table added."""
    if getattr(base, "velocity_dependent", False):
        raise DeckError("potential.dpd_tstat", table,
                        f"not with style {base.style!r}, whose own dissipative and random "
                        "forces thermostat it (set its gamma instead)")
    return WithDPDThermostat(base, DPDThermostat.from_table(table, n_types, base.cutoff_max))
