"""The atomistic RVE of FE²: Cauchy-Born for perfect crystals, relaxation
with vacancies checked against an independent lattice sum, Hill-Mandel
consistency (P = dW/dF), warm starts, failures, and bitwise identical results
on any number of ranks.

Serial tests run on COMM_SELF.  The MPI tests compare an RVE on COMM_WORLD
with the same RVE on COMM_SELF on rank 0, byte for byte:

    mpirun -n 2|4 python -m pytest --with-mpi -m mpi tests/test_rve.py
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from hpcms.fe.materials import CauchyBornLJ, lj_fcc_zero_stress_constant
from hpcms.fe2.rve import RVE, RVESpec, RVEState

SELF = MPI.COMM_SELF
WORLD = MPI.COMM_WORLD
ZERO_ID = np.zeros(1, dtype=np.int64)

# A general deformation near I (det > 0, no symmetry left).
GENERAL = np.eye(3) + 0.01 * np.array([[0.3, -0.5, 0.2], [0.1, 0.4, -0.7], [0.6, 0.2, -0.3]])
STRETCH = np.diag([1.012, 1.0, 1.0])
SHEAR = np.array([[1.0, 0.03, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
COMPRESS = np.diag([0.985, 0.99, 1.004])


def rve(comm, **spec):
    return RVE(comm, RVESpec(**spec))


def brute_force(r, F, state):
    """Energy, forces (ids order) and virial of the RVE's atoms at `state` in
    the cell F @ cell0, by a plain numpy lattice sum over periodic images."""
    sp = r.spec
    cell = F @ r.cell0
    x = state.fractional @ cell.T
    cut2 = sp.cutoff ** 2
    offset = 0.0
    if sp.shift:
        q = (sp.sigma / sp.cutoff) ** 6
        offset = 4 * sp.epsilon * (q * q - q)
    widths = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=1)
    reach = np.ceil(sp.cutoff / widths).astype(int) + 1
    energy, virial = 0.0, np.zeros((3, 3))
    forces = np.zeros_like(x)
    for i in range(-reach[0], reach[0] + 1):
        for j in range(-reach[1], reach[1] + 1):
            for k in range(-reach[2], reach[2] + 1):
                d = x[:, None, :] - (x[None, :, :] + cell @ np.array([i, j, k]))
                r2 = np.einsum("abc,abc->ab", d, d)
                inside = r2 < cut2
                if i == j == k == 0:
                    np.fill_diagonal(inside, False)
                if not inside.any():
                    continue
                r2 = np.where(inside, r2, 1.0)
                s6 = (sp.sigma ** 2 / r2) ** 3
                e = np.where(inside, 4 * sp.epsilon * (s6 * s6 - s6) - offset, 0.0)
                fpair = np.where(inside, 24 * sp.epsilon * (2 * s6 * s6 - s6) / r2, 0.0)
                energy += 0.5 * e.sum()
                forces += np.einsum("ab,abc->ac", fpair, d)
                virial += 0.5 * np.einsum("ab,abc,abd->cd", fpair, d, d)
    return energy, forces, virial


# --- perfect crystals: the Cauchy-Born law ---------------------------------------------

@pytest.mark.parametrize("F", [STRETCH, SHEAR, COMPRESS, GENERAL],
                         ids=["stretch", "shear", "compress", "general"])
@pytest.mark.parametrize("material", [
    dict(),
    dict(cutoff=2.2, shift=True),
    dict(cells=(2, 2, 3), orient=((1, 1, 0), (-1, 1, 0), (0, 0, 1))),
    dict(cells=(1, 1, 1)),  # 4 atoms in a box narrower than the cutoff: every image counts
], ids=["lj2.5", "lj2.2-shift", "oriented", "one-cell"])
def test_perfect_crystal_is_cauchy_born(material, F):
    r = rve(SELF, **material)
    law = CauchyBornLJ(SELF, r.spec.epsilon, r.spec.sigma, r.spec.cutoff, r.spec.shift,
                       r.constant, orient=[list(v) for v in r.spec.orient] or None)
    W, P, A = (a[0] for a in law.evaluate(F[None], ZERO_ID))
    res = r.evaluate(F)
    assert res.converged and res.iterations == 0 and res.relaxations == 19
    assert abs(res.W - W) <= 1e-12 * abs(W)
    assert np.abs(res.P - P).max() <= 1e-10 * np.abs(P).max()
    assert np.abs(res.A - A).max() <= 1e-6 * np.abs(A).max()
    assert res.state.fractional.shape == (r.n_atoms, 3)
    r.free()


@pytest.mark.parametrize("F", [STRETCH, SHEAR, GENERAL], ids=["stretch", "shear", "general"])
@pytest.mark.parametrize("material", [
    dict(),
    dict(cutoff=2.2, shift=True),
    dict(cells=(2, 2, 3), orient=((1, 1, 0), (-1, 1, 0), (0, 0, 1))),
    dict(cells=(1, 1, 1)),
], ids=["lj2.5", "lj2.2-shift", "oriented", "one-cell"])
def test_analytic_tangent_of_a_perfect_crystal_is_cauchy_borns(material, F):
    """No relaxation correction in a perfect crystal: the Born term is the
    Cauchy-Born tangent, to round-off, from one relaxation."""
    r = rve(SELF, tangent="analytic", **material)
    law = CauchyBornLJ(SELF, r.spec.epsilon, r.spec.sigma, r.spec.cutoff, r.spec.shift,
                       r.constant, orient=[list(v) for v in r.spec.orient] or None)
    A = law.evaluate(F[None], ZERO_ID)[2][0]
    res = r.evaluate(F)
    assert res.converged and res.iterations == 0 and res.relaxations == 1
    assert np.abs(res.A - A).max() <= 1e-12 * np.abs(A).max()
    r.free()


def test_analytic_tangent_equals_the_differences_of_relaxed_rves():
    """With vacancies the atoms relax under dF: Born minus the Hessian-solve
    correction against central differences of relaxed RVEs (error O(h^2))."""
    spec = dict(vacancies=0.03, seed=7)
    F = STRETCH @ SHEAR
    differences = rve(SELF, **spec).evaluate(F)
    analytic = rve(SELF, tangent="analytic", **spec).evaluate(F)
    assert analytic.converged and analytic.relaxations == 1
    assert analytic.P.tobytes() == differences.P.tobytes()
    assert analytic.iterations < differences.iterations / 5
    A, ref = analytic.A.reshape(9, 9), differences.A.reshape(9, 9)
    assert np.abs(A - ref).max() <= 1e-7 * np.abs(ref).max()
    assert np.abs(A - A.T).max() <= 1e-12 * np.abs(A).max()
    cb = CauchyBornLJ(SELF, constant=rve(SELF).constant).evaluate(F[None], ZERO_ID)[2][0]
    assert analytic.A[0, 0, 0, 0] < cb[0, 0, 0, 0]  # relaxation softens


def test_zero_stress_at_identity():
    r = rve(SELF)
    assert r.constant == lj_fcc_zero_stress_constant(1.0, 1.0, 2.5, False)
    res = r.evaluate(np.eye(3), tangent=False)
    C11 = CauchyBornLJ(SELF).elasticity()[0, 0, 0, 0]
    assert res.converged and res.A is None
    assert np.abs(res.P).max() <= 1e-12 * C11
    # Off the zero-stress constant the crystal is stressed, and the RVE says so.
    other = rve(SELF, constant=1.01 * r.constant).evaluate(np.eye(3), tangent=False)
    assert np.abs(other.P).max() > 1e-3 * C11
    r.free()


# --- vacancies: relaxation -----------------------------------------------------------------

def test_vacancies_relax_to_zero_force_and_match_a_lattice_sum():
    spec = dict(vacancies=0.03, seed=7)
    r = rve(SELF, **spec)
    assert r.n_vacancies == round(0.03 * 256) and r.n_atoms == 256 - r.n_vacancies
    assert np.all(np.diff(r.ids) > 0)
    unrelaxed = rve(SELF, max_iterations=0, **spec).evaluate(GENERAL, tangent=False)
    assert not unrelaxed.converged and unrelaxed.iterations == 0
    res = r.evaluate(GENERAL, tangent=False)
    assert res.converged and res.iterations > 20 and res.max_force <= r.spec.ftol
    assert res.W < unrelaxed.W - 1e-6
    np.testing.assert_array_equal(res.state.ids, r.ids)
    # The returned state, checked by an independent lattice sum.
    E, forces, virial = brute_force(r, GENERAL, res.state)
    assert np.abs(forces).max() <= 1e-9
    assert np.abs(forces.sum(axis=0)).max() <= 1e-11
    assert abs(res.W - E / r.volume0) <= 1e-12 * abs(res.W)
    P = -(virial / r.volume0) @ np.linalg.inv(GENERAL).T
    assert np.abs(res.P - P).max() <= 1e-10 * np.abs(P).max()
    # The atoms did move off the affine positions.
    moved = (res.state.fractional - r.reference_state().fractional) @ (GENERAL @ r.cell0).T
    assert np.abs(moved).max() > 1e-3
    r.free()


def test_vacant_sites_follow_the_seed():
    a, b, c = (rve(SELF, vacancies=0.05, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.ids, b.ids)
    assert not np.array_equal(a.ids, c.ids)
    assert a.n_atoms == c.n_atoms == 256 - 13
    for r in (a, b, c):
        r.free()


def test_stress_is_the_derivative_of_the_relaxed_energy():
    """Hill-Mandel: P : dF = dW for relaxed RVEs; A is a second derivative."""
    r = rve(SELF, vacancies=0.03, seed=7)
    F = STRETCH @ SHEAR
    res = r.evaluate(F)
    assert res.converged and res.relaxations == 19
    h = 1e-5
    for k, L in [(0, 0), (0, 1), (1, 0), (2, 2)]:
        dF = np.zeros((3, 3))
        dF[k, L] = h
        Wp = r.evaluate(F + dF, res.state, tangent=False)
        Wm = r.evaluate(F - dF, res.state, tangent=False)
        assert Wp.converged and Wm.converged
        assert abs((Wp.W - Wm.W) / (2 * h) - res.P[k, L]) <= 1e-7 * np.abs(res.P).max()
    A = res.A.reshape(9, 9)
    assert np.abs(A - A.T).max() <= 1e-6 * np.abs(A).max()
    # Relaxation softens the crystal: the relaxed tangent is below Cauchy-Born's.
    cb = CauchyBornLJ(SELF, constant=r.constant).evaluate(F[None], ZERO_ID)[2][0]
    assert res.A[0, 0, 0, 0] < cb[0, 0, 0, 0]
    r.free()


def test_warm_start_takes_fewer_iterations():
    r = rve(SELF, vacancies=0.03, seed=7)
    first = r.evaluate(GENERAL, tangent=False)
    step = np.array([[1.0, 0.5, 0.0], [0.0, -1.0, 0.0], [0.2, 0.0, 0.5]])
    # FIRE gains a roughly fixed number of steps per decade of force: the
    # nearer the start, the fewer the steps.
    for size, fraction in [(1e-4, 0.95), (1e-6, 0.75)]:
        F2 = GENERAL + size * step
        cold = r.evaluate(F2, tangent=False)
        warm = r.evaluate(F2, first.state, tangent=False)
        assert cold.converged and warm.converged
        assert warm.iterations < fraction * cold.iterations
        assert abs(warm.W - cold.W) <= 1e-12 * abs(cold.W)
    # An evaluation depends only on (F, start state), not on what ran before.
    again = r.evaluate(F2, tangent=False)
    assert again.W == cold.W and again.P.tobytes() == cold.P.tobytes()
    assert again.state.fractional.tobytes() == cold.state.fractional.tobytes()
    # The reference state is the cold start.
    ref = r.evaluate(F2, r.reference_state(), tangent=False)
    assert ref.P.tobytes() == cold.P.tobytes()
    r.free()


def test_list_rebuilds_do_not_change_the_physics():
    """A thin skin rebuilds the lists during relaxations and between the
    tangent's relaxations (which then restart from the scattered state)."""
    spec = dict(cells=(3, 3, 3), vacancies=0.04, seed=3, fd_step=1e-3)
    thick = rve(SELF, **spec)
    thin = rve(SELF, skin=0.002, **spec)
    builds = thin.system.neighbors.builds
    a, b = thick.evaluate(GENERAL), thin.evaluate(GENERAL)
    assert thin.system.neighbors.builds - builds > 20
    assert a.converged and b.converged
    assert abs(a.W - b.W) <= 1e-14 * abs(a.W)
    assert np.abs(a.P - b.P).max() <= 1e-12 * np.abs(a.P).max()
    assert np.abs(a.A - b.A).max() <= 1e-8 * np.abs(a.A).max()
    thick.free()
    thin.free()


# --- failures --------------------------------------------------------------------------------

def check_failures(comm):
    """What every rank of `comm` must see: flags, NaNs and ValueErrors, never a hang."""
    slow = rve(comm, vacancies=0.03, seed=7, max_iterations=5)
    res = slow.evaluate(GENERAL, tangent=True)
    assert not res.converged and res.iterations == 5 and res.max_force > slow.spec.ftol
    assert np.isfinite(res.W) and np.isnan(res.A).all()
    # Two atoms almost on top of each other: the forces run away.
    r = rve(comm, vacancies=0.03, seed=7)
    state = r.reference_state()
    state.fractional[1] = state.fractional[0] + 0.003
    res = r.evaluate(np.eye(3), state, tangent=True)
    assert not res.converged and np.isnan(res.W) and np.isnan(res.P).all()
    assert np.isnan(res.A).all()
    np.testing.assert_array_equal(res.state.fractional, state.fractional)
    for F in (np.diag([1.0, 1.0, -1.0]), np.zeros((3, 3)), np.full((3, 3), np.nan),
              np.diag([1.0, np.inf, 1.0]), np.eye(2)):
        with pytest.raises(ValueError, match="F must"):
            r.evaluate(F)
    bad = r.reference_state()
    with pytest.raises(ValueError, match="state"):
        r.evaluate(np.eye(3), RVEState(bad.ids[1:], bad.fractional[1:]))
    # It still works after all that.
    assert r.evaluate(np.eye(3), tangent=False).converged
    slow.free()
    r.free()


def test_failures_are_reported_not_raised():
    check_failures(SELF)


def test_spec_is_validated():
    for field, value in [("cells", (4, 4)), ("cells", (4, 0, 4)), ("cutoff", -1.0),
                         ("vacancies", 1.0), ("ftol", 0.0), ("mode", "dynamics"),
                         ("lattice", "hcp"), ("max_iterations", -1), ("constant", float("nan")),
                         ("orient", ((1, 1, 0), (-1, 1, 0))), ("orient", ((1.5, 0, 0),) * 3),
                         ("seed", -1), ("shift", "yes"), ("tangent", "born")]:
        with pytest.raises(ValueError, match=f"RVESpec.{field}"):
            RVESpec(**{field: value})
    with pytest.raises(ValueError, match="RVESpec.constant"):
        RVESpec(lattice="bcc")
    with pytest.raises(ValueError, match="vacancies"):
        RVE(SELF, RVESpec(cells=(1, 1, 1), vacancies=0.9))
    with pytest.raises(ValueError, match="RVESpec.orient"):  # not orthogonal
        RVE(SELF, RVESpec(orient=((1, 1, 0), (1, 0, 1), (0, 1, 1))))
    assert RVESpec(cells=[2, 3, np.int64(4)], epsilon=np.float64(2.0)).cells == (2, 3, 4)


# --- MPI: the same bits on any number of ranks --------------------------------------------------

def result_bytes(res):
    parts = [np.float64(res.W).tobytes(), res.P.tobytes(), res.state.ids.tobytes(),
             res.state.fractional.tobytes(), np.float64(res.max_force).tobytes(),
             bytes([res.converged]), np.int64(res.iterations).tobytes()]
    if res.A is not None:
        parts.append(res.A.tobytes())
    return b"".join(parts)


def evaluations(comm, spec):
    """A cold evaluation with the tangent and a warm one without; their bytes
    and the number of list builds they took."""
    r = RVE(comm, spec)
    builds = r.system.neighbors.builds
    first = r.evaluate(GENERAL)
    second = r.evaluate(GENERAL @ SHEAR, first.state if comm.rank == 0 else None,
                        tangent=False)
    assert first.converged and second.converged and first.iterations > 100
    out = [result_bytes(first), result_bytes(second)], r.system.neighbors.builds - builds
    r.free()
    return out


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("spec", [
    RVESpec(cells=(3, 3, 3), vacancies=0.04, seed=3),
    # A thin skin: lists are rebuilt during relaxations and inside the tangent.
    RVESpec(cells=(3, 3, 3), vacancies=0.04, seed=3, skin=0.002, fd_step=1e-3),
    RVESpec(cells=(2, 2, 2), vacancies=0.05, seed=5, orient=((1, 1, 0), (-1, 1, 0), (0, 0, 1))),
    RVESpec(cells=(3, 3, 3), vacancies=0.04, seed=3, tangent="analytic"),
    RVESpec(cells=(3, 3, 3), vacancies=0.04, seed=3, skin=0.002, tangent="analytic"),
], ids=["skin0.3", "thin-skin", "oriented", "analytic", "analytic-thin-skin"])
def test_same_bits_on_any_rank_count(spec):
    mine, builds = evaluations(WORLD, spec)
    ref = None
    if WORLD.rank == 0:
        ref, ref_builds = evaluations(SELF, spec)
        assert builds == ref_builds
        if spec.skin < 0.1:  # rebuilds inside relaxations (and the differences' tangent)
            assert builds > 10
    ref = WORLD.bcast(ref, root=0)
    for a, b in zip(mine, ref):
        assert a == b
    gathered = WORLD.allgather(mine)
    assert all(g == mine for g in gathered)


@pytest.mark.mpi(min_size=1)
def test_failures_are_collective():
    check_failures(WORLD)


@pytest.mark.mpi(min_size=2)
def test_F_and_state_are_read_on_rank_0():
    r = RVE(WORLD, RVESpec(cells=(2, 2, 2), vacancies=0.1))
    F = GENERAL if WORLD.rank == 0 else np.full((3, 3), np.nan)
    res = r.evaluate(F, tangent=False)
    ref = r.evaluate(GENERAL, tangent=False)
    assert result_bytes(res) == result_bytes(ref)
    bad = np.diag([1.0, 1.0, -1.0]) if WORLD.rank == 0 else GENERAL
    with pytest.raises(ValueError, match="determinant"):
        r.evaluate(bad)
    r.free()
