"""Pair force fields: the ``[potential]`` deck table, per-type-pair tables and
the `PairForce` protocol the MD engine calls.

Units are reduced (LJ) units.  Deck types are 1-based; arrays are indexed by
0-based types.  A deck looks like::

    [potential]
    style = "lj/cut"      # a key of PAIR_STYLES
    cutoff = 2.5          # for pairs that give none
    shift = false         # shift pair energies to zero at the cutoff
    tail = false          # long-range tail corrections (lj/cut only)
    mixing = "none"       # "none" | "geometric" | "arithmetic" (lj/cut only)
    [[potential.pair]]
    types = [1, 1]
    epsilon = 1.0
    sigma = 1.0
    cutoff = 2.5          # optional
    [potential.dpd_tstat] # optional: the DPD thermostat on top (hpcms.dpd.tstat)
"""

import math
from typing import Protocol

import numpy as np

from hpcms.config.errors import DeckError
from hpcms.md import _pair_kernels as kernels

PAIR_STYLES = {}
MIXING_RULES = ("none", "geometric", "arithmetic")
POTENTIAL_KEYS = ("style", "cutoff", "shift", "tail", "mixing", "pair", "dpd_tstat")


def register(name):
    """Class decorator: make a pair style available to decks as ``name``."""
    def add(cls):
        cls.style = name
        PAIR_STYLES[name] = cls
        return cls
    return add


class PairForce(Protocol):
    """What the MD engine needs from a pair force field."""

    style: str
    cutoff_max: float  # largest pair cutoff; the engine adds the skin

    def compute(self, x, types, n_local, nbr_start, nbr_index, f, energy=None, virial=None) -> None:
        """Pair forces, and per-particle energy and virial, of owned particles.

        ``x`` (n_total, 3) float64 holds owned particles then ghosts (real
        periodic copies, no minimum image); ``types`` (n_total,) int32 is
        0-based.  The full neighbour list is in CSR form: the neighbours of
        owned particle ``i < n_local`` are
        ``nbr_index[nbr_start[i]:nbr_start[i + 1]]``, each pair in both rows,
        out to cutoff + skin; the per-pair cutoff is applied here.

        Overwrites ``f`` (n_local, 3) with the force on each particle and, when
        ``energy`` and ``virial`` are given (both or neither),
        ``energy`` (n_local,) with ``1/2 sum_j e_ij`` and ``virial`` (n_local, 6)
        with ``1/2 sum_j (x_i - x_j) (x) F_ij`` (xx, yy, zz, xy, xz, yz), where
        ``F_ij`` is the force on ``i`` from ``j``.  With this sign the virial
        is positive for repulsion, equals ``-dE/d(strain)``, and
        ``P = (N k T + sum_i trace(virial_i) / 3) / V``.

        Row ``i`` is summed in its own order with nothing added to ``j``, so
        each particle's results are the same bits whichever rank or position
        its row comes from, and forces are the same bits with or without
        energy and virial.
        """

    def tail_energy(self, counts, volume) -> float:
        """Total energy correction for ``counts`` (global particles per type)
        in ``volume``."""

    def tail_pressure(self, counts, volume) -> float:
        """Pressure correction for ``counts`` in ``volume``."""


class _TabulatedPair:
    """Kernel dispatch shared by the styles.

    A style sets ``_kernels`` (forces one-type, forces, energy/virial
    one-type, energy/virial), calls ``_set_cutoff`` and then
    ``_set_kernel_args`` with the (n_types, n_types) coefficient tables its
    kernels take, in argument order.  With one type the kernels get scalars.
    """

    def _set_cutoff(self, cutoff):
        self.cutoff = cutoff
        self.cutsq = cutoff * cutoff
        self.cutoff_max = float(cutoff.max())
        self._one_type = cutoff.shape == (1, 1)

    def _set_kernel_args(self, force_tables, energy_virial_tables):
        def args(tables):
            return tuple(float(t[0, 0]) for t in tables) if self._one_type else tuple(tables)
        self._force_args = args(force_tables)
        self._energy_virial_args = args(energy_virial_tables)

    def compute(self, x, types, n_local, nbr_start, nbr_index, f, energy=None, virial=None):
        """See `PairForce.compute`."""
        if (energy is None) != (virial is None):
            raise ValueError("pass energy and virial together, or neither")
        forces_one_type, forces, energy_virial_one_type, energy_virial = self._kernels
        rows = (n_local, nbr_start, nbr_index)
        if self._one_type:
            forces_one_type(x, *rows, *self._force_args, f)
        else:
            forces(x, types, *rows, *self._force_args, f)
        if energy is None:
            return
        if self._one_type:
            energy_virial_one_type(x, *rows, *self._energy_virial_args, energy, virial)
        else:
            energy_virial(x, types, *rows, *self._energy_virial_args, energy, virial)


@register("lj/cut")
class LJCut(_TabulatedPair):
    """Lennard-Jones ``E = 4 eps [(sigma/r)^12 - (sigma/r)^6] - offset`` for
    ``r < cutoff``; ``offset`` is E(cutoff) with ``shift``, else 0.

    Tail corrections (``tail``) integrate the unshifted potential beyond each
    pair's cutoff for a uniform fluid, over ordered type pairs (LAMMPS
    ``pair_modify tail yes``), with ``x = sigma/cutoff``::

        E_tail = sum_ij (8 pi / 3) N_i N_j eps sigma^3 (x^9 / 3 - x^3) / V
        P_tail = sum_ij (16 pi / 3) N_i N_j eps sigma^3 (2 x^9 / 3 - x^3) / V^2
    """

    coefficients = ("epsilon", "sigma")
    has_tail = True
    _kernels = (kernels.lj_cut_forces_one_type, kernels.lj_cut_forces,
                kernels.lj_cut_energy_virial_one_type, kernels.lj_cut_energy_virial)

    def __init__(self, epsilon, sigma, cutoff, shift=False, tail=False):
        """Coefficients are (n_types, n_types) symmetric float64 arrays; the
        kernel tables (LAMMPS ``init_one``) are ``lj1 = 48 eps sigma^12``,
        ``lj2 = 24 eps sigma^6``, ``lj3 = 4 eps sigma^12``,
        ``lj4 = 4 eps sigma^6``, ``offset`` and ``cutsq``."""
        self.epsilon, self.sigma, self.tail = epsilon, sigma, tail
        self._set_cutoff(cutoff)
        sigma6 = sigma**6
        self.lj1, self.lj2 = 48.0 * epsilon * sigma6 * sigma6, 24.0 * epsilon * sigma6
        self.lj3, self.lj4 = 4.0 * epsilon * sigma6 * sigma6, 4.0 * epsilon * sigma6
        ratio6 = (sigma / cutoff) ** 6
        self.offset = 4.0 * epsilon * (ratio6 * ratio6 - ratio6) if shift else np.zeros_like(cutoff)
        self._set_kernel_args((self.lj1, self.lj2, self.cutsq),
                              (self.lj1, self.lj2, self.lj3, self.lj4, self.offset, self.cutsq))

    @staticmethod
    def mix(like_i, like_j, rule):
        """Cross coefficients from like pairs (LAMMPS ``pair_modify mix``):
        ``eps = sqrt(eps_i eps_j)``; sigma and cutoff are the geometric mean
        (``"geometric"``) or the arithmetic mean (``"arithmetic"``)."""
        def distance(a, b):
            return math.sqrt(a * b) if rule == "geometric" else 0.5 * (a + b)

        return {
            "epsilon": math.sqrt(like_i["epsilon"] * like_j["epsilon"]),
            "sigma": distance(like_i["sigma"], like_j["sigma"]),
            "cutoff": distance(like_i["cutoff"], like_j["cutoff"]),
        }

    def _tail_terms(self, counts):
        if not self.tail:
            return 0.0, 0.0
        counts = np.asarray(counts, dtype=np.float64)
        weight = np.outer(counts, counts) * self.epsilon * self.sigma**3
        x3 = (self.sigma / self.cutoff) ** 3
        x9 = x3**3
        energy = (8.0 * math.pi / 3.0) * np.sum(weight * (x9 / 3.0 - x3))
        pressure = (16.0 * math.pi / 3.0) * np.sum(weight * (2.0 * x9 / 3.0 - x3))
        return float(energy), float(pressure)

    def tail_energy(self, counts, volume):
        """Total energy correction; ``counts`` are global particles per type.
        0.0 unless the deck set ``tail = true``."""
        return self._tail_terms(counts)[0] / volume

    def tail_pressure(self, counts, volume):
        """Pressure correction; 0.0 unless the deck set ``tail = true``."""
        return self._tail_terms(counts)[1] / volume**2


@register("morse")
class Morse(_TabulatedPair):
    """Morse ``E = d0 [exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0))] - offset``
    for ``r < cutoff`` (LAMMPS ``morse``); ``offset`` is E(cutoff) with
    ``shift``, else 0.  No tail correction (its tail decays exponentially):
    ``tail_energy`` and ``tail_pressure`` are 0.0 and ``tail = true`` is a
    deck error."""

    coefficients = ("d0", "alpha", "r0")
    has_tail = False
    mix = None
    _kernels = (kernels.morse_forces_one_type, kernels.morse_forces,
                kernels.morse_energy_virial_one_type, kernels.morse_energy_virial)

    def __init__(self, d0, alpha, r0, cutoff, shift=False):
        """Coefficients are (n_types, n_types) symmetric float64 arrays; the
        kernel tables add ``morse1 = 2 d0 alpha``, ``offset`` and ``cutsq``."""
        self.d0, self.alpha, self.r0 = d0, alpha, r0
        self._set_cutoff(cutoff)
        self.morse1 = 2.0 * d0 * alpha
        dexp = np.exp(-alpha * (cutoff - r0))
        self.offset = d0 * (dexp * dexp - 2.0 * dexp) if shift else np.zeros_like(cutoff)
        self._set_kernel_args((self.morse1, alpha, r0, self.cutsq),
                              (d0, self.morse1, alpha, r0, self.offset, self.cutsq))

    def tail_energy(self, counts, volume):
        return 0.0

    def tail_pressure(self, counts, volume):
        return 0.0


def make_pair_force(table, n_types):
    """Validate the ``[potential]`` deck table and build its `PairForce`.

    ``n_types`` is the number of particle types; every type pair must get
    coefficients, from a ``[[potential.pair]]`` entry or by mixing.  Bad input
    raises `DeckError` naming the dotted key.
    """
    if not isinstance(n_types, int) or n_types < 1:
        raise ValueError(f"n_types must be a positive integer, got {n_types!r}")
    if isinstance(table, dict) and "dpd_tstat" in table:  # the DPD thermostat on top
        from hpcms.dpd.tstat import with_dpd_tstat
        base = {k: v for k, v in table.items() if k != "dpd_tstat"}
        return with_dpd_tstat(make_pair_force(base, n_types), table["dpd_tstat"], n_types)
    own = PAIR_STYLES.get(table.get("style")) if isinstance(table, dict) and isinstance(
        table.get("style"), str) else None
    if own is not None and hasattr(own, "from_table"):  # a style with its own keys (dpd)
        return own.from_table(table, n_types)
    _check_table(table, "potential", POTENTIAL_KEYS)
    if "style" not in table:
        raise DeckError("potential.style", None, f"required: one of {sorted(PAIR_STYLES)}")
    style = table["style"]
    if not isinstance(style, str) or style not in PAIR_STYLES:
        raise DeckError("potential.style", style, f"one of {sorted(PAIR_STYLES)}")
    cls = PAIR_STYLES[style]
    cutoff = _positive(table, "cutoff", "potential") if "cutoff" in table else None
    shift = _boolean(table, "shift", "potential")
    tail = _boolean(table, "tail", "potential")
    mixing = table.get("mixing", "none")
    if mixing not in MIXING_RULES:
        raise DeckError("potential.mixing", mixing, f"one of {list(MIXING_RULES)}")
    if tail and not cls.has_tail:
        raise DeckError("potential.tail", tail, f"false: style {style!r} has no tail correction")
    if mixing != "none" and cls.mix is None:
        raise DeckError("potential.mixing", mixing, f"'none': style {style!r} has no mixing rule")
    given = _read_pairs(table.get("pair", []), cls, cutoff, n_types)
    tables = _fill_tables(given, cls, mixing, n_types)
    options = {"shift": shift, "tail": tail} if cls.has_tail else {"shift": shift}
    return cls(**tables, **options)


def pair_entries(entries, allowed, n_types):
    """Yield (prefix, (a, b), entry) for each [[potential.pair]], checking its keys,
    its types (0-based, a <= b) and that no type pair comes twice."""
    if not isinstance(entries, list):
        raise DeckError("potential.pair", entries, "an array of tables [[potential.pair]]")
    where = {}
    for k, entry in enumerate(entries):
        prefix = f"potential.pair[{k}]"
        _check_table(entry, prefix, allowed)
        pair = _type_pair(entry, prefix, n_types)
        if pair in where:
            raise DeckError(f"{prefix}.types", entry["types"],
                            f"each type pair once; already given in potential.pair[{where[pair]}]")
        where[pair] = k
        yield prefix, pair, entry


def _read_pairs(entries, cls, default_cutoff, n_types):
    """``{(a, b): {name: value}}`` (0-based, a <= b) from the deck entries."""
    given = {}
    for prefix, pair, entry in pair_entries(entries, ("types",) + cls.coefficients + ("cutoff",),
                                            n_types):
        coeffs = {name: _positive(entry, name, prefix, required=True) for name in cls.coefficients}
        if "cutoff" in entry:
            coeffs["cutoff"] = _positive(entry, "cutoff", prefix)
        elif default_cutoff is not None:
            coeffs["cutoff"] = default_cutoff
        else:
            raise DeckError(f"{prefix}.cutoff", None,
                            "required when potential.cutoff is not set: a positive number")
        given[pair] = coeffs
    return given


def _fill_tables(given, cls, mixing, n_types):
    """(n_types, n_types) arrays per coefficient, mixing missing cross pairs."""
    names = cls.coefficients + ("cutoff",)
    tables = {name: np.empty((n_types, n_types)) for name in names}
    for a in range(n_types):
        for b in range(a, n_types):
            coeffs = given.get((a, b)) or _mixed(given, cls, mixing, a, b)
            for name in names:
                tables[name][a, b] = tables[name][b, a] = coeffs[name]
    return tables


def _mixed(given, cls, mixing, a, b):
    like = (a, a) in given and (b, b) in given
    if a != b and mixing != "none" and like:
        return cls.mix(given[(a, a)], given[(b, b)], mixing)
    pair = f"types {a + 1}-{b + 1}"
    advice = f"add a [[potential.pair]] with types = [{a + 1}, {b + 1}]"
    if a != b and cls.mix is not None:
        advice += (f" or give types {a + 1}-{a + 1} and {b + 1}-{b + 1} to mix from"
                   if mixing != "none" else " or set potential.mixing")
    listed = sorted([p + 1, q + 1] for p, q in given)
    raise DeckError("potential.pair", listed, f"no coefficients for {pair}; {advice}")


def _check_table(table, key, allowed):
    if not isinstance(table, dict):
        raise DeckError(key, table, f"a table with keys {list(allowed)}")
    for name in table:
        if name not in allowed:
            raise DeckError(f"{key}.{name}", table[name],
                            f"unknown key; allowed keys are {list(allowed)}")


def _type_pair(entry, prefix, n_types):
    types = entry.get("types")

    def valid(t):
        return isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= n_types

    if not (isinstance(types, list) and len(types) == 2 and all(map(valid, types))):
        raise DeckError(f"{prefix}.types", types, f"two type numbers in 1..{n_types}, e.g. [1, 2]")
    return tuple(sorted(t - 1 for t in types))


def _positive(table, name, prefix, required=False):
    value = table.get(name)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value > 0):
        allowed = "a positive finite number" + (" (required)" if required else "")
        raise DeckError(f"{prefix}.{name}", value, allowed)
    return float(value)


def _boolean(table, name, prefix):
    value = table.get(name, False)
    if not isinstance(value, bool):
        raise DeckError(f"{prefix}.{name}", value, "true or false")
    return value


# Styles defined in other packages register themselves on import.
from hpcms.dpd import pair as _dpd_pair  # noqa: E402,F401  (registers "dpd")
