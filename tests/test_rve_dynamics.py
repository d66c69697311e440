"""The atomistic RVE in dynamics: NVT MD (Langevin) under F, time-averaged
stress with block-average error bars, and the fixed reference tangent.

Physics: the kinetic temperature is the bath's, the stress tends to the
statics stress as kT -> 0 (linearly: the thermal stress), a crystal held at
its zero-temperature lattice constant is under positive pressure when hot,
error bars shrink with sampling and bracket run-to-run differences, and the
sampled stress is the virial + kinetic stress of the returned trajectory.
Determinism: an evaluation is a pure function of (spec, F, start state,
key), with the same bytes on any number of ranks:

    mpirun -n 2 python -m pytest --with-mpi -m mpi tests/test_rve_dynamics.py

Runs are small (32 atoms, a few thousand steps) and their random numbers are
fixed by the keys, so each statistical assertion is a fixed outcome; the
bounds are chosen as for fresh random draws (a few standard errors).
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from hpcms.fe2.rve import RVE, RVESpec, RVEState

from test_rve import GENERAL, SHEAR, brute_force

SELF = MPI.COMM_SELF
WORLD = MPI.COMM_WORLD

# 2x2x2 fcc cells: 32 atoms.
SMALL = dict(cells=(2, 2, 2), mode="dynamics")
HOT = dict(SMALL, temperature=0.3, equilibration_steps=500, sampling_steps=4000)
QUICK = dict(HOT, equilibration_steps=200, sampling_steps=400)
BRIEF = dict(HOT, equilibration_steps=100, sampling_steps=300)  # for the MPI tests


def dynamics(comm=SELF, **spec):
    return RVE(comm, RVESpec(**spec))


@pytest.fixture(scope="module")
def hot():
    """F = I at kT = 0.3: three keys, 4000 sampled steps each."""
    r = dynamics(**HOT)
    runs = [r.evaluate(np.eye(3), tangent=False, key=k) for k in range(3)]
    r.free()
    return runs


# --- physics --------------------------------------------------------------------------------

def test_kinetic_temperature_is_the_baths(hot):
    runs = hot
    kT = HOT["temperature"]
    for res in runs:
        assert res.converged and res.iterations == 4500
        assert 0 < res.temperature_error < 0.03 * kT
        assert abs(res.temperature - kT) <= 4 * res.temperature_error
    # Pooled over independent runs: within 3 standard errors (about 3 %).
    mean = np.mean([res.temperature for res in runs])
    error = np.sqrt(sum(res.temperature_error ** 2 for res in runs)) / len(runs)
    assert error < 0.012 * kT
    assert abs(mean - kT) <= 3 * error


def test_hot_crystal_at_the_zero_temperature_constant_wants_to_expand(hot):
    for res in hot:
        pressure = -np.trace(res.P) / 3  # F = I: P is the Cauchy stress
        # sd(trace / 3) <= mean of the diagonal sds, whatever their correlation
        bound = np.trace(res.P_error) / 3
        assert (res.P_error > 0).all()
        assert pressure > 10 * bound > 0
        assert np.abs(res.P - res.P.T).max() <= 1e-12 * pressure  # sigma is symmetric


def test_error_bars_shrink_with_sampling():
    """4x the samples: the error bars shrink by 1/2 (independent blocks; a
    short damping time keeps blocks of 100 steps uncorrelated)."""
    spec = dict(HOT, damping=0.05, equilibration_steps=300)
    short = dynamics(**dict(spec, sampling_steps=1000)).evaluate(np.eye(3), tangent=False)
    long = dynamics(**spec).evaluate(np.eye(3), tangent=False)
    assert (short.P_error > 0).all() and (long.P_error > 0).all()
    assert 0.3 < long.P_error.mean() / short.P_error.mean() < 0.7
    assert 0.3 < long.temperature_error / short.temperature_error < 0.7


def test_error_bars_bracket_the_spread_between_keys(hot):
    runs = hot
    z = []
    for a, b in [(runs[0], runs[1]), (runs[1], runs[2]), (runs[0], runs[2])]:
        ratio = np.abs(a.P - b.P) / np.sqrt(a.P_error ** 2 + b.P_error ** 2)
        z.extend(ratio[np.triu_indices(3)])  # the six independent components of sigma
    z = np.array(z)
    assert (z <= 3).sum() >= 15  # the error bars are not too small (expected: 18) ...
    assert (z >= 0.5).sum() >= 7  # ... nor too large (expected: 11)


def test_low_temperature_tends_to_statics():
    r = RVE(SELF, RVESpec(cells=(2, 2, 2)))
    statics, volume0 = r.evaluate(GENERAL, tangent=False), r.volume0
    r.free()
    scale = np.abs(statics.P).max()
    diff = {}
    for kT in (1e-4, 1e-3):
        res = dynamics(**SMALL, temperature=kT, equilibration_steps=500,
                       sampling_steps=2000).evaluate(GENERAL, tangent=False)
        assert res.converged and abs(res.temperature / kT - 1) < 0.1
        diff[kT] = res.P - statics.P
        # The thermal stress (about 9 kT here: Grüneisen) is small next to the
        # stress of F ...
        assert np.abs(diff[kT]).max() <= 15 * kT
        # ... and known far better than its size: the error bars are small.
        assert res.P_error.max() <= kT
        assert np.abs(diff[kT]).max() > 20 * res.P_error.max()
        # The potential energy: the static energy plus (3 N - 3) kT / 2 (equipartition
        # over the vibrations).
        extra = (res.W - statics.W) * volume0
        assert abs(extra / (1.5 * 31 * kT) - 1) < 0.1
    assert np.abs(diff[1e-4]).max() <= 3e-3 * scale
    # The thermal stress is linear in kT near kT = 0: the stress tends to statics.
    assert np.abs(diff[1e-3] - 10 * diff[1e-4]).max() <= 0.05 * np.abs(diff[1e-3]).max()


def test_samples_are_the_virial_and_kinetic_stress_of_the_trajectory():
    """Two sampled steps in two blocks: P +- P_error are the two samples, and
    the second is the stress of the returned state by an independent lattice
    sum, P = -((virial + sum m v (x) v) / V0) F^-T."""
    warm = dynamics(**QUICK, mass=2.0).evaluate(GENERAL, tangent=False)
    r = dynamics(**SMALL, temperature=0.3, mass=2.0, equilibration_steps=0, sampling_steps=2,
                 blocks=2)
    res = r.evaluate(GENERAL, warm.state, tangent=False)
    _, _, virial = brute_force(r, GENERAL, res.state)
    v = res.state.velocities
    kinetic = 2.0 * v.T @ v
    last = -((virial + kinetic) / r.volume0) @ np.linalg.inv(GENERAL).T
    gap = np.minimum(np.abs(last - (res.P + res.P_error)), np.abs(last - (res.P - res.P_error)))
    assert gap.max() <= 1e-12 * np.abs(res.P).max()
    assert np.abs(kinetic / r.volume0).max() > 1e-3 * np.abs(res.P).max()  # it does count
    t_last = 2.0 * (v ** 2).sum() / (3 * r.n_atoms)
    assert min(abs(t_last - res.temperature - s * res.temperature_error) for s in (1, -1)) \
        <= 1e-14
    r.free()


# --- the tangent ------------------------------------------------------------------------------

def test_tangent_is_the_fixed_reference_tangent():
    spec = dict(SMALL, temperature=0.01, equilibration_steps=10, sampling_steps=20,
                vacancies=0.05, seed=3)
    r = dynamics(**spec)
    reference = RVE(SELF, RVESpec(**dict(spec, mode="statics"))).evaluate(np.eye(3))
    assert reference.converged and reference.iterations > 0
    first = r.evaluate(SHEAR)
    assert first.relaxations == 19 and first.A.tobytes() == reference.A.tobytes()
    again = r.evaluate(GENERAL, first.state)
    assert again.relaxations == 0 and again.A.tobytes() == reference.A.tobytes()
    assert again.A is not first.A
    none = r.evaluate(GENERAL, first.state, tangent=False)
    assert none.A is None and none.relaxations == 0
    # The relaxations of the tangent leave the dynamics alone.
    fresh = dynamics(**spec).evaluate(SHEAR, tangent=False)
    assert fresh.P.tobytes() == first.P.tobytes()
    assert fresh.state.velocities.tobytes() == first.state.velocities.tobytes()
    r.free()


# --- determinism and warm starts ----------------------------------------------------------------

def result_bytes(res):
    return b"".join([np.float64(res.W).tobytes(), res.P.tobytes(), res.P_error.tobytes(),
                     np.float64(res.temperature).tobytes(),
                     np.float64(res.temperature_error).tobytes(), res.state.ids.tobytes(),
                     res.state.fractional.tobytes(), res.state.velocities.tobytes(),
                     bytes([res.converged]), np.int64(res.iterations).tobytes()])


def test_an_evaluation_is_a_pure_function_of_its_inputs():
    r = dynamics(**QUICK)
    first = r.evaluate(GENERAL, tangent=False, key=5)
    assert first.state.velocities.shape == (r.n_atoms, 3)
    assert result_bytes(r.evaluate(GENERAL, tangent=False, key=5)) == result_bytes(first)
    # Another RVE object, after other work: the same bytes.
    other = dynamics(**QUICK)
    other.evaluate(SHEAR, tangent=False, key=9)
    assert result_bytes(other.evaluate(GENERAL, None, tangent=False, key=5)) == \
        result_bytes(first)
    # Another key: other noise, other results.
    keyed = r.evaluate(GENERAL, tangent=False, key=6)
    assert keyed.W != first.W and not np.array_equal(keyed.P, first.P)
    assert not np.array_equal(keyed.state.velocities, first.state.velocities)
    big = r.evaluate(GENERAL, tangent=False, key=2 ** 64 - 1)
    assert big.converged and big.W != first.W
    # A warm start maps positions by fractional coordinates and keeps velocities.
    warm = r.evaluate(SHEAR, first.state, tangent=False, key=5)
    copy = RVEState(first.state.ids.copy(), first.state.fractional.copy(),
                    first.state.velocities.copy())
    assert result_bytes(r.evaluate(SHEAR, copy, tangent=False, key=5)) == result_bytes(warm)
    copy.velocities[0, 0] += 1e-3
    assert r.evaluate(SHEAR, copy, tangent=False, key=5).P.tobytes() != warm.P.tobytes()
    # Without velocities the start is cold in velocities (Maxwell-Boltzmann at kT).
    still = RVEState(first.state.ids, first.state.fractional)
    assert r.evaluate(SHEAR, still, tangent=False, key=5).P.tobytes() != warm.P.tobytes()
    r.free()
    other.free()


def test_common_random_numbers_make_differences_precise():
    """The same key and start state at F and F + dF: the noise cancels in
    P(F + dF) - P(F), which follows the (zero-temperature, so somewhat stiffer)
    reference tangent far inside the error bar; with another key it does not."""
    r = dynamics(**QUICK)
    start = r.evaluate(np.eye(3), tangent=False).state
    dF = 1e-3 * (GENERAL - np.eye(3)) / np.abs(GENERAL - np.eye(3)).max()
    at = r.evaluate(np.eye(3), start, tangent=False, key=3)
    same = r.evaluate(np.eye(3) + dF, start, tangent=False, key=3)
    other = r.evaluate(np.eye(3) + dF, start, tangent=False, key=4)
    A = r.reference_tangent()
    linear = np.einsum("ijkl,kl->ij", A, dF)
    size = np.abs(linear).max()
    assert np.abs(same.P - at.P - linear).max() < min(0.25 * size, 0.2 * at.P_error.max())
    assert np.abs(other.P - at.P - linear).max() > max(size, 0.5 * at.P_error.max())
    r.free()


def test_statics_states_carry_no_velocities():
    r = RVE(SELF, RVESpec(cells=(2, 2, 2)))
    res = r.evaluate(GENERAL, tangent=False, key=3)
    assert res.state.velocities is None and res.P_error is None and res.temperature is None
    # A dynamics state warm-starts statics (its velocities are ignored).
    hot = dynamics(**QUICK).evaluate(GENERAL, tangent=False)
    warm = r.evaluate(GENERAL, hot.state, tangent=False)
    assert warm.converged and abs(warm.W - res.W) <= 1e-12 * abs(res.W)
    r.free()


# --- failures and validation ----------------------------------------------------------------------

def check_failures(comm):
    """Blow-ups are flagged on every rank of `comm`, bad inputs raise everywhere."""
    r = dynamics(comm, **dict(BRIEF, equilibration_steps=20, sampling_steps=40))
    state = r.reference_state()
    state.fractional[1] = state.fractional[0] + 0.003  # two atoms almost on top of each other
    res = r.evaluate(np.eye(3), state, tangent=False)
    assert not res.converged and np.isnan(res.W) and np.isnan(res.P).all()
    assert np.isnan(res.P_error).all() and res.iterations < 10
    np.testing.assert_array_equal(res.state.fractional, state.fractional)
    assert res.state.velocities is None
    good = r.evaluate(np.eye(3), tangent=False)
    bad_v = RVEState(good.state.ids, good.state.fractional, good.state.velocities.copy())
    bad_v.velocities[3, 1] = np.nan
    with pytest.raises(ValueError, match="velocities"):
        r.evaluate(np.eye(3), bad_v)
    for key in (-1, 2 ** 64, 1.5, "1"):
        with pytest.raises(ValueError, match="key"):
            r.evaluate(np.eye(3), key=key)
    with pytest.raises(ValueError, match="determinant"):
        r.evaluate(np.diag([1.0, -1.0, 1.0]))
    assert r.evaluate(np.eye(3), tangent=False).W == good.W
    r.free()


def test_failures_are_reported_not_raised():
    check_failures(SELF)


@pytest.mark.parametrize("field, value, extra", [
    ("temperature", 0.0, {}),
    ("temperature", -0.1, {}),
    ("temperature", float("inf"), {}),
    ("blocks", 1, {}),
    ("blocks", 2.0, {}),
    ("sampling_steps", 4001, {}),
    ("sampling_steps", 10, dict(blocks=4)),
    ("sampling_steps", 0, {}),
    ("equilibration_steps", -1, {}),
    ("dt", 0.0, {}),
    ("damping", -1.0, {}),
    ("mass", 0.0, {}),
    ("sampling_steps", 2 ** 32, dict(blocks=2)),
])
def test_spec_is_validated(field, value, extra):
    spec = dict(mode="dynamics", temperature=0.1, **extra)
    spec[field] = value
    with pytest.raises(ValueError, match=f"RVESpec.{field}"):
        RVESpec(**spec)


def test_blocks_must_fit_the_exact_sums():
    with pytest.raises(ValueError, match="RVESpec.blocks"):
        dynamics(cells=(1, 1, 1), mode="dynamics", temperature=0.1, sampling_steps=2 ** 31,
                 blocks=2)


def test_spec_defaults():
    spec = RVESpec(mode="dynamics", temperature=0.2)
    assert (spec.dt, spec.equilibration_steps, spec.sampling_steps, spec.blocks, spec.mass) \
        == (0.005, 1000, 4000, 10, 1.0)
    assert dynamics(cells=(1, 1, 1), mode="dynamics", temperature=0.2).damping == 100 * 0.005
    assert dynamics(cells=(1, 1, 1), mode="dynamics", temperature=0.2, damping=0.1).damping \
        == 0.1
    # Statics ignores the dynamics fields but a positive temperature is allowed.
    assert RVESpec(temperature=0.5).mode == "statics"


# --- MPI: the same bits on any number of ranks --------------------------------------------------

def evaluations(comm, spec):
    """A cold evaluation and a warm one under another F and key (bytes)."""
    r = RVE(comm, spec)
    builds = r.system.neighbors.builds
    first = r.evaluate(GENERAL, tangent=False, key=11)
    second = r.evaluate(GENERAL @ SHEAR, first.state if comm.rank == 0 else None,
                        tangent=False, key=12 if comm.rank == 0 else 0)
    assert first.converged and second.converged
    out = [result_bytes(first), result_bytes(second)], r.system.neighbors.builds - builds
    r.free()
    return out


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("spec", [
    RVESpec(**BRIEF),
    RVESpec(**dict(BRIEF, cells=(3, 2, 2), vacancies=0.05, seed=4, temperature=0.6,
                   damping=0.2)),
], ids=["perfect", "vacancies-hot"])
def test_same_bits_on_any_rank_count(spec):
    mine, builds = evaluations(WORLD, spec)
    assert builds > 20  # atoms crossed between ranks and lists were rebuilt
    ref = None
    if WORLD.rank == 0:
        ref, ref_builds = evaluations(SELF, spec)
        assert builds == ref_builds
    ref = WORLD.bcast(ref, root=0)
    for a, b in zip(mine, ref):
        assert a == b
    assert all(g == mine for g in WORLD.allgather(mine))


@pytest.mark.mpi(min_size=1)
def test_failures_are_collective():
    check_failures(WORLD)
