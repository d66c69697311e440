"""Pair force fields: forces, energies, virials, tail corrections, mixing,
deck validation and bitwise determinism of `hpcms.md.pair`.

Neighbour lists are built here by brute force over explicit periodic ghost
copies, in the CSR form the engine hands to `PairForce.compute`.
"""

import math

import numpy as np
import pytest

from hpcms.config.errors import DeckError
from hpcms.md.pair import PAIR_STYLES, make_pair_force

SKIN = 0.3


# --- systems and neighbour lists -------------------------------------------

def fcc_system(n_cells=4, density=0.8, jitter=0.1, n_types=1, seed=7):
    """Jittered fcc crystal in a periodic cube: (x, types, box length)."""
    a = (4.0 / density) ** (1.0 / 3.0)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.stack(np.meshgrid(*[np.arange(n_cells)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    rng = np.random.default_rng(seed)
    x = ((cells + basis) * a).reshape(-1, 3)
    x += jitter * (2.0 * rng.random(x.shape) - 1.0)
    types = rng.integers(0, n_types, len(x)).astype(np.int32)
    return x, types, n_cells * a


def images(x, box, reach):
    """Owned particles then ghost copies within ``reach`` of the box: the
    source particle and the shift of every entry."""
    assert box > 2 * reach
    source, shift = [np.arange(len(x))], [np.zeros((len(x), 3))]
    for s in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).T.reshape(-1, 3):
        if s.any():
            y = x + s * box
            near = np.all((y > -reach) & (y < box + reach), axis=1)
            source.append(np.nonzero(near)[0])
            shift.append(np.tile(s * box, (near.sum(), 1)))
    return np.concatenate(source), np.concatenate(shift)


def full_list(x_all, n_local, reach):
    """CSR full neighbour list of the first ``n_local`` rows of ``x_all``."""
    d = np.linalg.norm(x_all[:n_local, None, :] - x_all[None, :, :], axis=-1)
    near = d < reach
    near[np.arange(n_local), np.arange(n_local)] = False
    rows, cols = np.nonzero(near)
    start = np.zeros(n_local + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_local), out=start[1:])
    return start, cols.astype(np.int32)


class Periodic:
    """A periodic system with a fixed ghost map and neighbour list, so that
    positions can be perturbed or strained without rebuilding them."""

    def __init__(self, pair, x, types, box):
        self.pair, self.x = pair, x
        reach = pair.cutoff_max + SKIN
        self.source, self.shift = images(x, box, reach)
        self.types = types[self.source]
        self.start, self.index = full_list(self.all_positions(x), len(x), reach)

    def all_positions(self, x):
        return np.ascontiguousarray(x[self.source] + self.shift)

    def evaluate(self, x_all=None):
        """(f, energy, virial) of the owned particles."""
        x_all = self.all_positions(self.x) if x_all is None else x_all
        n = len(self.x)
        f, energy, virial = np.empty((n, 3)), np.empty(n), np.empty((n, 6))
        self.pair.compute(x_all, self.types, n, self.start, self.index, f, energy, virial)
        return f, energy, virial

    def energy(self, x_all):
        return self.evaluate(x_all)[1].sum()


def pair_of_particles(pair, r, types=(0, 0)):
    """(f, energy, virial) of two particles at distance r, no periodicity."""
    x = np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0]])
    start, index = np.array([0, 1, 2]), np.array([1, 0], np.int32)
    f, energy, virial = np.empty((2, 3)), np.empty(2), np.empty((2, 6))
    pair.compute(x, np.array(types, np.int32), 2, start, index, f, energy, virial)
    return f, energy, virial


# --- decks ------------------------------------------------------------------

def lj_deck(**options):
    return {"style": "lj/cut", "cutoff": 2.5,
            "pair": [{"types": [1, 1], "epsilon": 1.0, "sigma": 1.0}], **options}


def lj_two_type_deck(**options):
    return {"style": "lj/cut", "cutoff": 2.5, **options, "pair": [
        {"types": [1, 1], "epsilon": 1.0, "sigma": 1.0},
        {"types": [2, 1], "epsilon": 0.7, "sigma": 0.9, "cutoff": 2.2},
        {"types": [2, 2], "epsilon": 0.5, "sigma": 1.1, "cutoff": 2.8}]}


def morse_deck(**options):
    return {"style": "morse", "cutoff": 2.5, **options,
            "pair": [{"types": [1, 1], "d0": 1.0, "alpha": 3.0, "r0": 1.1}]}


def morse_two_type_deck(**options):
    return {"style": "morse", "cutoff": 2.5, **options, "pair": [
        {"types": [1, 1], "d0": 1.0, "alpha": 3.0, "r0": 1.1},
        {"types": [1, 2], "d0": 0.6, "alpha": 2.5, "r0": 1.2, "cutoff": 2.3},
        {"types": [2, 2], "d0": 0.8, "alpha": 3.5, "r0": 1.0}]}


CASES = {
    "lj": (lj_deck(), 1),
    "lj shifted": (lj_deck(shift=True), 1),
    "lj 2 types": (lj_two_type_deck(), 2),
    "lj 2 types shifted": (lj_two_type_deck(shift=True), 2),
    "morse": (morse_deck(), 1),
    "morse 2 types shifted": (morse_two_type_deck(shift=True), 2),
}


def periodic_case(name):
    deck, n_types = CASES[name]
    pair = make_pair_force(deck, n_types)
    return Periodic(pair, *fcc_system(n_types=n_types))


# --- forces, energies, virials ---------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
def test_force_is_minus_energy_gradient(name):
    system = periodic_case(name)
    f = system.evaluate()[0]
    h = 1e-5
    for p in range(0, len(system.x), 37):
        for axis in range(3):
            energies = []
            for step in (h, -h):
                x = system.x.copy()
                x[p, axis] += step
                energies.append(system.energy(system.all_positions(x)))
            numeric = -(energies[0] - energies[1]) / (2 * h)
            assert numeric == pytest.approx(f[p, axis], rel=1e-6, abs=1e-6 * np.abs(f[p]).max())


@pytest.mark.parametrize("name", sorted(CASES))
def test_virial_is_minus_strain_derivative(name):
    """Sum of virials = -dE/d(strain) under a homogeneous deformation of all
    positions and periodic images: dilation for the trace, x += g y for xy."""
    system = periodic_case(name)
    virial = system.evaluate()[2].sum(axis=0)
    x_all = system.all_positions(system.x)
    h = 1e-5

    def strained(g, deform):
        return np.ascontiguousarray(x_all @ (np.eye(3) + g * deform).T)

    dilation, shear_xy = np.eye(3), np.zeros((3, 3))
    shear_xy[0, 1] = 1.0
    for deform, expected in ((dilation, virial[:3].sum()), (shear_xy, virial[3])):
        de = (system.energy(strained(h, deform)) - system.energy(strained(-h, deform))) / (2 * h)
        assert -de == pytest.approx(expected, rel=1e-6, abs=1e-9 * abs(virial[:3].sum()))


def test_repulsive_lj_virial_is_positive():
    system = Periodic(make_pair_force(lj_deck(), 1), *fcc_system(density=1.2))
    assert system.evaluate()[2][:, :3].sum() > 0


def lj_energy(r, epsilon, sigma):
    return 4 * epsilon * ((sigma / r) ** 12 - (sigma / r) ** 6)


def morse_energy(r, d0, alpha, r0):
    return d0 * (math.exp(-2 * alpha * (r - r0)) - 2 * math.exp(-alpha * (r - r0)))


def test_single_pair_matches_formulas():
    r = 1.3
    lj = make_pair_force(lj_two_type_deck(), 2)
    f, energy, virial = pair_of_particles(lj, r, types=(0, 1))
    assert energy.sum() == pytest.approx(lj_energy(r, 0.7, 0.9), rel=1e-13)
    assert energy[0] == energy[1]
    fpair = 24 * 0.7 * (2 * (0.9 / r) ** 12 - (0.9 / r) ** 6) / r  # -dE/dr
    assert f[1, 0] == pytest.approx(fpair, rel=1e-13)
    assert np.array_equal(f[0], -f[1])
    assert virial[:, 0].sum() == pytest.approx(r * fpair, rel=1e-13)
    morse = make_pair_force(morse_deck(), 1)
    energy = pair_of_particles(morse, r)[1]
    assert energy.sum() == pytest.approx(morse_energy(r, 1.0, 3.0, 1.1), rel=1e-13)


@pytest.mark.parametrize("deck, cutoff_12",
                         [(lj_two_type_deck(), 2.2), (morse_two_type_deck(), 2.3)])
def test_each_pair_has_its_own_cutoff(deck, cutoff_12):
    pair = make_pair_force(deck, 2)
    assert pair_of_particles(pair, cutoff_12 - 1e-9, (0, 1))[0].any()
    for r in (cutoff_12 + 1e-9, cutoff_12 + SKIN / 2):
        f, energy, virial = pair_of_particles(pair, r, (0, 1))
        assert not f.any() and not energy.any() and not virial.any()
    assert pair_of_particles(pair, cutoff_12 + 1e-9, (0, 0))[0].any()


@pytest.mark.parametrize("deck, formula", [
    (lj_deck, lambda r: lj_energy(r, 1.0, 1.0)),
    (morse_deck, lambda r: morse_energy(r, 1.0, 3.0, 1.1)),
])
def test_shift_makes_energy_vanish_at_cutoff(deck, formula):
    r = 2.5 - 1e-9
    unshifted = pair_of_particles(make_pair_force(deck(), 1), r)[1].sum()
    shifted = pair_of_particles(make_pair_force(deck(shift=True), 1), r)[1].sum()
    assert unshifted == pytest.approx(formula(r), rel=1e-12)
    assert abs(unshifted) > 1e-3
    assert abs(shifted) < 1e-8


def test_one_type_and_table_kernels_agree():
    x, _, box = fcc_system()
    one = Periodic(make_pair_force(lj_deck(), 1), x, np.zeros(len(x), np.int32), box)
    same_coefficients = {"style": "lj/cut", "cutoff": 2.5, "mixing": "geometric",
                         "pair": [{"types": [t, t], "epsilon": 1.0, "sigma": 1.0} for t in (1, 2)]}
    table = Periodic(make_pair_force(same_coefficients, 2), *fcc_system(n_types=2))
    for a, b in zip(one.evaluate(), table.evaluate()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_energy_and_virial_go_together():
    system = periodic_case("lj")
    n = len(system.x)
    with pytest.raises(ValueError):
        system.pair.compute(system.all_positions(system.x), system.types, n, system.start,
                            system.index, np.empty((n, 3)), np.empty(n), None)


# --- tail corrections -------------------------------------------------------

def test_lj_tail_matches_textbook_for_one_type():
    """Allen & Tildesley: E/N = (8/3) pi rho eps s^3 [(s/rc)^9 / 3 - (s/rc)^3],
    P = (16/3) pi rho^2 eps s^3 [(2/3)(s/rc)^9 - (s/rc)^3]."""
    eps, sigma, rc, n, volume = 1.3, 1.1, 2.7, 1000, 1250.0
    deck = {"style": "lj/cut", "cutoff": rc, "tail": True,
            "pair": [{"types": [1, 1], "epsilon": eps, "sigma": sigma}]}
    pair = make_pair_force(deck, 1)
    rho, s = n / volume, sigma / rc
    energy = n * 8 / 3 * math.pi * rho * eps * sigma**3 * (s**9 / 3 - s**3)
    pressure = 16 / 3 * math.pi * rho**2 * eps * sigma**3 * (2 / 3 * s**9 - s**3)
    assert pair.tail_energy(np.array([n]), volume) == pytest.approx(energy, rel=1e-13)
    assert pair.tail_pressure(np.array([n]), volume) == pytest.approx(pressure, rel=1e-13)


def test_lj_tail_matches_lammps_for_two_types():
    """LAMMPS PairLJCut::init_one, summed over i <= j with i != j twice;
    corrections are etail / V and ptail / V^2."""
    pair = make_pair_force(lj_two_type_deck(tail=True, shift=True), 2)
    counts, volume = np.array([700, 300]), 29791.0
    etail = ptail = 0.0
    for i in range(2):
        for j in range(i, 2):
            sig6, rc = pair.sigma[i, j] ** 6, pair.cutoff[i, j]
            n_ij = counts[i] * counts[j]
            prefactor = 8 * math.pi * n_ij * pair.epsilon[i, j] * sig6 / (9 * rc**9)
            weight = 1 if i == j else 2
            etail += weight * prefactor * (sig6 - 3 * rc**6)
            ptail += weight * 2 * prefactor * (2 * sig6 - 3 * rc**6)
    assert pair.tail_energy(counts, volume) == pytest.approx(etail / volume, rel=1e-13)
    assert pair.tail_pressure(counts, volume) == pytest.approx(ptail / volume**2, rel=1e-13)


@pytest.mark.parametrize("deck", [lj_deck(), morse_deck()])
def test_no_tail_unless_asked(deck):
    pair = make_pair_force(deck, 1)
    assert pair.tail_energy(np.array([100]), 10.0) == 0.0
    assert pair.tail_pressure(np.array([100]), 10.0) == 0.0


# --- mixing and tables ------------------------------------------------------

def mixed_deck(rule):
    return {"style": "lj/cut", "cutoff": 2.5, "mixing": rule, "pair": [
        {"types": [1, 1], "epsilon": 1.0, "sigma": 1.0},
        {"types": [2, 2], "epsilon": 0.25, "sigma": 1.4, "cutoff": 3.5},
        {"types": [3, 3], "epsilon": 0.5, "sigma": 0.8},
        {"types": [3, 1], "epsilon": 0.3, "sigma": 0.7, "cutoff": 2.0}]}


@pytest.mark.parametrize("rule, sigma_12, cutoff_12, sigma_23, cutoff_23", [
    ("geometric", math.sqrt(1.4), math.sqrt(2.5 * 3.5), math.sqrt(1.4 * 0.8), math.sqrt(3.5 * 2.5)),
    ("arithmetic", 1.2, 3.0, 1.1, 3.0),
])
def test_mixing_fills_missing_cross_pairs(rule, sigma_12, cutoff_12, sigma_23, cutoff_23):
    pair = make_pair_force(mixed_deck(rule), 3)
    assert pair.epsilon[0, 1] == pair.epsilon[1, 0] == pytest.approx(0.5)
    assert pair.epsilon[1, 2] == pytest.approx(math.sqrt(0.125))
    assert pair.sigma[0, 1] == pair.sigma[1, 0] == pytest.approx(sigma_12)
    assert pair.sigma[1, 2] == pytest.approx(sigma_23)
    assert pair.cutoff[0, 1] == pytest.approx(cutoff_12)
    assert pair.cutoff[1, 2] == pytest.approx(cutoff_23)
    # an explicit cross pair wins over mixing
    assert (pair.epsilon[0, 2], pair.sigma[2, 0], pair.cutoff[0, 2]) == (0.3, 0.7, 2.0)
    assert pair.cutoff_max == 3.5


def test_styles_are_registered_by_deck_name():
    assert {"lj/cut", "morse"} <= set(PAIR_STYLES)
    for name, cls in PAIR_STYLES.items():
        assert cls.style == name
    assert make_pair_force(morse_deck(), 1).style == "morse"


def test_lj_tables_follow_lammps_init_one():
    pair = make_pair_force(lj_two_type_deck(shift=True), 2)
    eps, sigma = 0.7, 0.9
    assert pair.lj1[0, 1] == pytest.approx(48 * eps * sigma**12)
    assert pair.lj2[1, 0] == pytest.approx(24 * eps * sigma**6)
    assert pair.lj3[0, 1] == pytest.approx(4 * eps * sigma**12)
    assert pair.lj4[0, 1] == pytest.approx(4 * eps * sigma**6)
    assert pair.cutsq[0, 1] == pytest.approx(2.2**2)
    assert pair.offset[0, 1] == pytest.approx(lj_energy(2.2, eps, sigma))
    for table in (pair.lj1, pair.lj2, pair.lj3, pair.lj4, pair.offset, pair.cutsq):
        assert table.shape == (2, 2) and table.dtype == np.float64


# --- deck errors ------------------------------------------------------------

def with_pair(deck, k, **changes):
    deck["pair"][k] = {**deck["pair"][k], **changes}
    return deck


def without(deck, k, name):
    del deck["pair"][k][name]
    return deck


BAD_DECKS = [
    ({**lj_deck(), "cutof": 2.5}, 1, "potential.cutof"),
    ({**lj_deck(), "style": "lj/cut/coul"}, 1, "potential.style"),
    ({k: v for k, v in lj_deck().items() if k != "style"}, 1, "potential.style"),
    ({**lj_deck(), "style": ["lj/cut"]}, 1, "potential.style"),
    ({**lj_deck(), "cutoff": 0.0}, 1, "potential.cutoff"),
    ({**lj_deck(), "cutoff": -2.5}, 1, "potential.cutoff"),
    ({**lj_deck(), "cutoff": "2.5"}, 1, "potential.cutoff"),
    ({**lj_deck(), "cutoff": True}, 1, "potential.cutoff"),
    ({**lj_deck(), "shift": 1}, 1, "potential.shift"),
    ({**lj_deck(), "tail": "yes"}, 1, "potential.tail"),
    ({**lj_deck(), "mixing": "lorentz-berthelot"}, 1, "potential.mixing"),
    (morse_deck(tail=True), 1, "potential.tail"),
    (morse_deck(mixing="geometric"), 1, "potential.mixing"),
    ({**lj_deck(), "pair": {"types": [1, 1]}}, 1, "potential.pair"),
    ({**lj_deck(), "pair": [[1, 1, 1.0, 1.0]]}, 1, "potential.pair[0]"),
    (with_pair(lj_deck(), 0, types=[1, 3]), 2, "potential.pair[0].types"),
    (with_pair(lj_deck(), 0, types=[0, 1]), 2, "potential.pair[0].types"),
    (with_pair(lj_deck(), 0, types=[1]), 2, "potential.pair[0].types"),
    (with_pair(lj_deck(), 0, types=[True, 1]), 2, "potential.pair[0].types"),
    (with_pair(lj_deck(), 0, types=[1.0, 1.0]), 2, "potential.pair[0].types"),
    (without(lj_deck(), 0, "types"), 1, "potential.pair[0].types"),
    (with_pair(lj_two_type_deck(), 2, types=[1, 2]), 2, "potential.pair[2].types"),
    (with_pair(lj_deck(), 0, epsilon=0.0), 1, "potential.pair[0].epsilon"),
    (with_pair(lj_deck(), 0, epsilon=True), 1, "potential.pair[0].epsilon"),
    (with_pair(lj_deck(), 0, epsilon=float("nan")), 1, "potential.pair[0].epsilon"),
    (with_pair(lj_deck(), 0, epsilon=float("inf")), 1, "potential.pair[0].epsilon"),
    (with_pair(lj_deck(), 0, sigma=-1.0), 1, "potential.pair[0].sigma"),
    (with_pair(lj_deck(), 0, sigma="1"), 1, "potential.pair[0].sigma"),
    (without(lj_deck(), 0, "sigma"), 1, "potential.pair[0].sigma"),
    (with_pair(lj_deck(), 0, cutoff=0), 1, "potential.pair[0].cutoff"),
    (with_pair(lj_deck(), 0, d0=1.0), 1, "potential.pair[0].d0"),
    ({k: v for k, v in lj_deck().items() if k != "cutoff"}, 1, "potential.pair[0].cutoff"),
    (with_pair(morse_deck(), 0, d0=0.0), 1, "potential.pair[0].d0"),
    (with_pair(morse_deck(), 0, alpha=-3.0), 1, "potential.pair[0].alpha"),
    (with_pair(morse_deck(), 0, r0=False), 1, "potential.pair[0].r0"),
    (with_pair(morse_deck(), 0, epsilon=1.0), 1, "potential.pair[0].epsilon"),
    (lj_deck(), 2, "potential.pair"),
    ({**lj_deck(), "pair": []}, 1, "potential.pair"),
    (mixed_deck("none"), 3, "potential.pair"),
]


@pytest.mark.parametrize("deck, n_types, key", BAD_DECKS)
def test_bad_deck_names_the_key(deck, n_types, key):
    with pytest.raises(DeckError) as error:
        make_pair_force(deck, n_types)
    assert error.value.key == key
    assert f"'{key}'" in str(error.value)


def test_missing_pair_error_says_how_to_fix_it():
    advice = (r"no coefficients for types 1-2; add a \[\[potential.pair\]\] "
              r"with types = \[1, 2\] or set potential.mixing")
    with pytest.raises(DeckError, match=advice):
        make_pair_force(lj_deck(), 2)
    with pytest.raises(DeckError, match="types 1-1 and 2-2 to mix from"):
        make_pair_force(lj_deck(mixing="geometric"), 2)
    with pytest.raises(DeckError, match="no coefficients for types 1-2") as error:
        make_pair_force(morse_deck(), 2)
    assert "mixing" not in str(error.value)


def test_unknown_key_error_lists_allowed_keys():
    with pytest.raises(DeckError, match="epsilon") as error:
        make_pair_force(with_pair(lj_deck(), 0, eps=1.0), 1)
    assert error.value.key == "potential.pair[0].eps"
    with pytest.raises(DeckError, match="lj/cut") as error:
        make_pair_force({**lj_deck(), "style": "lj"}, 1)
    assert "morse" in str(error.value)


# --- determinism --------------------------------------------------------------

def permuted_rows(system, perm):
    """The same rows at other positions: owned particle i moves to position
    perm_inv[i], and indices are remapped so each row lists the same
    neighbour positions in the same order."""
    n = len(system.x)
    new_position = np.arange(len(system.source))
    new_position[perm] = np.arange(n)
    x_all = system.all_positions(system.x)
    order = np.concatenate([perm, np.arange(n, len(x_all))])
    lengths = np.diff(system.start)[perm]
    start = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=start[1:])
    index = np.concatenate([system.index[system.start[i]:system.start[i + 1]] for i in perm])
    return x_all[order], system.types[order], start, new_position[index].astype(np.int32)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rows_give_the_same_bytes_wherever_they_sit(name):
    system = periodic_case(name)
    f, energy, virial = system.evaluate()
    n = len(system.x)
    perm = np.random.default_rng(3).permutation(n)
    x_all, types, start, index = permuted_rows(system, perm)
    f2, energy2, virial2 = np.empty((n, 3)), np.empty(n), np.empty((n, 6))
    system.pair.compute(x_all, types, n, start, index, f2, energy2, virial2)
    assert f2.tobytes() == f[perm].tobytes()
    assert energy2.tobytes() == energy[perm].tobytes()
    assert virial2.tobytes() == virial[perm].tobytes()
    forces_only = np.empty((n, 3))
    system.pair.compute(x_all, types, n, start, index, forces_only)
    assert forces_only.tobytes() == f2.tobytes()
