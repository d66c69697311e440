"""The Groot–Warren DPD pair style, ``style = "dpd"`` (LAMMPS ``pair_style dpd``).

Per type pair (reduced DPD units, r_c = 1 by default, k_B = 1)::

    F^C = a w r-hat,   F^D = -gamma w^2 (r-hat . v_ij) r-hat,
    F^R = sigma w theta_ij dt^-1/2 r-hat,   w = 1 - r / r_c,   sigma^2 = 2 gamma kT

with theta_ij a standard normal keyed by (run.seed, step, min id, max id)
(`hpcms.md.rng.pair_gaussian`), so the pair force is antisymmetric and does not
depend on the decomposition.  A deck::

    [potential]
    style = "dpd"
    temperature = 1.0     # kT of the fluctuation–dissipation relation (required)
    cutoff = 1.0          # for pairs that give none
    exclude_bonded = false  # true: no conservative force between bond partners
    [[potential.pair]]
    types = [1, 1]
    a = 25.0              # conservative repulsion, >= 0
    gamma = 4.5           # friction, > 0
    [[potential.pair]]
    types = [1, 2]
    chi = 1.0             # instead of a: Flory–Huggins chi -> a (see `a_from_chi`)
    gamma = 4.5

Every type pair needs an entry.  ``exclude_bonded = true`` leaves the
conservative force out between bond partners (1-2 neighbours of the
topology; default false: in Groot & Warren's and Groot & Madden's polymer
models bonded beads repel like any others): they still feel the dissipative
and random forces (the thermostat acts on every pair) and their bond.  The
engine passes the velocities of owned and ghost particles, global ids, the
step and dt (`velocity_dependent`).
"""

import math

import numpy as np

from hpcms.config.errors import DeckError, RunError
from hpcms.md.pair import _boolean, _check_table, _positive, pair_entries, register

from . import _kernels as kernels

DPD_KEYS = ("style", "temperature", "cutoff", "exclude_bonded", "pair")
PAIR_KEYS = ("types", "a", "chi", "gamma", "cutoff")

# Groot & Warren, J. Chem. Phys. 107, 4423 (1997), eq. (29)-(30) and Fig. 7:
# chi = (0.286 +- 0.002) * delta_a at rho = 3 and (0.689 +- 0.002) * delta_a
# at rho = 5, delta_a = a_AB - a_AA with a_AA = a_BB (kT = 1).
CHI_SLOPE = {3.0: 0.286, 5.0: 0.689}
CHI_DENSITY = 3.0


def a_from_chi(chi, a_like, density=3.0):
    """a_AB = a_like + chi / slope(density), the Groot–Warren (1997) linear mapping.

    Published for rho = 3 (slope 0.286) and rho = 5 (0.689) only; other
    densities raise ValueError.  (Groot & Madden 1998 give a slightly larger
    slope at rho = 3; hpcms uses Groot & Warren's.)
    """
    slope = CHI_SLOPE.get(float(density))
    if slope is None:
        raise ValueError(f"a_from_chi: no published slope at density {density}; "
                         f"known: {sorted(CHI_SLOPE)}")
    return a_like + chi / slope


def _nonnegative(table, name, prefix):
    value = table.get(name)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value >= 0):
        raise DeckError(f"{prefix}.{name}", value, "a finite number >= 0")
    return float(value)


class PairForces:
    """The DPD pair forces of a list (`_kernels.dpd_forces`), with the
    fixed-point accumulator kept between calls."""

    def __init__(self):
        self.acc = np.empty((0, 3), np.int64)
        self.bad = np.full(2, -1, np.int64)

    def __call__(self, x, v, ids, types, n_local, nbr_start, nbr_index, half, a, gamma, sigma,
                 cutsq, rcinv, seed, step, dt, excl_start, excl_partner, f, reverse=None):
        """f[:n_local] = the DPD pair forces (a = 0: the thermostat alone) of a
        half list (`half`; `reverse` adds the ghosts' sums into their owners',
        `Halo.reverse`) or a full one.

        Raises RunError naming the pair when a term is not finite or too large.
        """
        n_rows = len(x) if half else n_local
        if len(self.acc) < n_rows:
            self.acc = np.empty((int(1.25 * n_rows), 3), np.int64)
        acc = self.acc[:n_rows]
        acc.fill(0)
        seed = int(seed)
        ok = kernels.dpd_forces(x, v, ids, types, n_local, nbr_start, nbr_index, half, a, gamma,
                                sigma, cutsq, rcinv, 1.0 / math.sqrt(dt), excl_start,
                                excl_partner, np.uint32(step & 0xFFFFFFFF),
                                np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32), acc,
                                self.bad)
        if not ok:
            i, j = self.bad
            raise RunError(step, f"the DPD force between particles {int(ids[i])} and "
                                 f"{int(ids[j])} is not finite or above "
                                 f"{kernels.FIXED_LIMIT / kernels.FIXED_SCALE:.3g} "
                                 "(overlapping beads or a blown-up run: reduce dt)")
        if half:
            reverse(acc)
        kernels.from_fixed(acc[:n_local], f[:n_local])


NO_EXCLUSIONS = np.empty(0, np.int64)


def check_velocity_args(style, v, ids, dt, step, half=False, reverse=None):
    if v is None or ids is None or dt is None:
        raise ValueError(f"{style}: compute needs v, ids and dt (a velocity-dependent style)")
    if half and reverse is None:
        raise ValueError(f"{style}: a half list needs reverse (the halo's, which returns "
                         "the ghosts' force sums to their owners)")
    if not 0 <= step < 2 ** 32:
        raise ValueError(f"{style}: step {step} outside [0, 2**32)")


@register("dpd")
class DPD:
    """Groot–Warren DPD: conservative + dissipative + random pair forces."""

    coefficients = ("a", "gamma")
    keys_doc = ("temperature (kT, required), cutoff (default 1), exclude_bonded (default "
                "false; true: no conservative force between bond partners); per pair a or "
                "chi (unlike pairs, rho = 3), gamma")
    has_tail = False
    mix = None
    velocity_dependent = True
    half_list = True  # exact fixed-point sums: any row order will do
    CHI_DENSITY = CHI_DENSITY

    def __init__(self, a, gamma, cutoff, temperature, exclude_bonded=False):
        """a, gamma, cutoff: (n_types, n_types) symmetric float64 tables; temperature kT > 0.

        exclude_bonded: leave the conservative force out between the bond
        partners given to `set_exclusions`.
        """
        self.a = np.ascontiguousarray(a, dtype=np.float64)
        self.gamma = np.ascontiguousarray(gamma, dtype=np.float64)
        self.cutoff = np.ascontiguousarray(cutoff, dtype=np.float64)
        self.kT = float(temperature)
        self.sigma = np.sqrt(2.0 * self.gamma * self.kT)
        self.cutsq = self.cutoff * self.cutoff
        self.rcinv = 1.0 / self.cutoff
        self.cutoff_max = float(self.cutoff.max())
        self.exclude_bonded = bool(exclude_bonded)
        self.chi_keys = []
        self._excl_start = NO_EXCLUSIONS
        self._excl_partner = NO_EXCLUSIONS
        self._forces = PairForces()

    def set_exclusions(self, start, partner):
        """Bond partners by global id: those of id g are partner[start[g]:start[g + 1]].

        Used only with ``exclude_bonded``; the table must be symmetric (g in
        the partners of h exactly when h is in those of g).
        """
        if self.exclude_bonded:
            self._excl_start = np.ascontiguousarray(start, dtype=np.int64)
            self._excl_partner = np.ascontiguousarray(partner, dtype=np.int64)

    @classmethod
    def from_table(cls, table, n_types):
        """Validate a ``[potential]`` table of style "dpd".  DeckError names the key.

        A pair given by ``chi`` maps with the rho = 3 slope (`CHI_DENSITY`); the
        run checks that the system has that density (`chi_keys` lists them).
        """
        _check_table(table, "potential", DPD_KEYS)
        if "temperature" not in table:
            raise DeckError("potential.temperature", None, "required by style 'dpd': kT > 0")
        kT = _positive(table, "temperature", "potential")
        default_cutoff = _positive(table, "cutoff", "potential") if "cutoff" in table else 1.0
        exclude_bonded = _boolean(table, "exclude_bonded", "potential")
        given = {}
        for prefix, pair, entry in pair_entries(table.get("pair", []), PAIR_KEYS, n_types):
            if ("a" in entry) == ("chi" in entry):
                raise DeckError(f"{prefix}.a", entry.get("a"), "give exactly one of a and chi")
            if "chi" in entry and pair[0] == pair[1]:
                raise DeckError(f"{prefix}.chi", entry["chi"], "only for unlike pairs, e.g. types = [1, 2]")
            coeffs = {"gamma": _positive(entry, "gamma", prefix, required=True),
                      "cutoff": _positive(entry, "cutoff", prefix) if "cutoff" in entry
                      else default_cutoff}
            if "a" in entry:
                coeffs["a"] = _nonnegative(entry, "a", prefix)
            else:
                coeffs["chi"] = _nonnegative(entry, "chi", prefix)
                coeffs["where"] = prefix
            given[pair] = coeffs
        tables = {name: np.empty((n_types, n_types)) for name in ("a", "gamma", "cutoff")}
        for p in range(n_types):
            for q in range(p, n_types):
                if (p, q) not in given:
                    listed = sorted([i + 1, j + 1] for i, j in given)
                    raise DeckError("potential.pair", listed,
                                    f"no coefficients for types {p + 1}-{q + 1}; add a "
                                    f"[[potential.pair]] with types = [{p + 1}, {q + 1}]")
                c = given[(p, q)]
                if "chi" in c:
                    like = [given.get((t, t), {}).get("a") for t in (p, q)]
                    if None in like or like[0] != like[1]:
                        raise DeckError(f"{c['where']}.chi", c["chi"],
                                        f"needs a given (not chi) and equal for types {p + 1}-{p + 1} "
                                        f"and {q + 1}-{q + 1}")
                    try:
                        c["a"] = a_from_chi(c["chi"], like[0], CHI_DENSITY)
                    except ValueError as e:
                        raise DeckError(f"{c['where']}.chi", c["chi"], str(e)) from None
                for name in tables:
                    tables[name][p, q] = tables[name][q, p] = c[name]
        pair = cls(tables["a"], tables["gamma"], tables["cutoff"], kT, exclude_bonded)
        pair.chi_keys = [c["where"] + ".chi" for c in given.values() if "chi" in c]
        return pair

    def compute(self, x, types, n_local, nbr_start, nbr_index, f, energy=None, virial=None, *,
                v=None, ids=None, step=0, dt=None, seed=0, half=False, reverse=None):
        """See `hpcms.md.pair.PairForce.compute`; also needs (keywords) ``v`` and
        ``ids`` of owned + ghost particles, ``step``, ``dt`` and ``seed``;
        ``half``: the list is a half list (`half_list`), and then ``reverse``
        (`Halo.reverse`, collective) returns the ghosts' sums to their owners.

        ``energy`` and ``virial`` are the conservative part only.
        """
        if (energy is None) != (virial is None):
            raise ValueError("pass energy and virial together, or neither")
        check_velocity_args("dpd", v, ids, dt, step, half, reverse)
        self._forces(x, v, ids, types, n_local, nbr_start, nbr_index, half, self.a,
                     self.gamma, self.sigma, self.cutsq, self.rcinv, seed, step, dt,
                     self._excl_start, self._excl_partner, f, reverse)
        if energy is not None:
            acc = np.zeros((len(x) if half else n_local, 7), np.int64)
            kernels.dpd_energy_virial(x, ids, types, n_local, nbr_start, nbr_index, half, self.a,
                                      self.cutsq, self.cutoff, self.rcinv, self._excl_start,
                                      self._excl_partner, acc)
            if half:
                reverse(acc)
            kernels.from_fixed(acc[:n_local, :1], energy[:n_local, None])
            kernels.from_fixed(acc[:n_local, 1:], virial[:n_local])

    def tail_energy(self, counts, volume):
        return 0.0

    def tail_pressure(self, counts, volume):
        return 0.0
