"""FE² on one rank: atomistic RVEs at every quadrature point against the
Cauchy-Born law (homogeneous deformation, elastic constants, a plate with a
hole), the Hill-Mandel residual, result reuse, warm starts, deck errors.
Rank counts and group sizes are in test_fe2_mpi.py.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from hpcms.config.errors import DeckError
from hpcms.fe.materials import CauchyBornLJ, cauchy_born_constants
from hpcms.fe2 import material as _rve  # noqa: F401  (registers "rve")

from fe_decks import affine_patch, box, run_table, vertex_displacements

SELF = MPI.COMM_SELF
RVE = {"style": "rve", "cells": [3, 3, 3]}
CB = {"style": "cauchy-born-lj"}
H = [[0.01, 0.002, 0.0], [0.0, -0.003, 0.0], [0.0, 0.0, 0.001]]


def last_cell_fields(out):
    with h5py.File(out / "fields.h5", "r") as h5:
        last = max(h5["steps"], key=int)
        return {k: v[...] for k, v in h5[f"steps/{last}/cell"].items()}


def test_homogeneous_deformation_gives_the_cauchy_born_stress_everywhere(tmp_path):
    table = affine_patch(3, H, box(3, (2, 1, 1)), RVE)
    table["load"] = {"steps": 1}
    run, status = run_table(SELF, table, tmp_path / "out")
    assert status == 0
    P = run.problem.P
    F = np.eye(3) + np.asarray(H)
    W_cb, P_cb, _ = CauchyBornLJ(SELF).evaluate(F[None], np.zeros(1, np.int64))
    assert len(P) == 16
    assert np.abs(P - P_cb[0]).max() <= 1e-10 * np.abs(P_cb).max()
    assert np.abs(run.problem.W - W_cb[0]).max() <= 1e-10 * abs(W_cb[0])
    fields = last_cell_fields(tmp_path / "out")
    assert fields["rve_hill_mandel"].max() < 1e-8


@pytest.mark.parametrize("tangent", ["differences", "analytic"])
def test_fe2_small_strain_stiffness_is_the_crystals(tmp_path, tangent):
    C11, C12, C44 = cauchy_born_constants(1.0, 1.0, 2.5, False)
    eps = 1e-5

    def reactions(Hm, name):
        table = affine_patch(3, Hm, box(3, (1, 1, 1)), dict(RVE, tangent=tangent))
        table["load"] = {"steps": 1}
        run, _ = run_table(SELF, table, tmp_path / name)
        return dict(run.problem.reactions())

    plus = reactions([[eps, 0, 0], [0, 0, 0], [0, 0, 0]], "a")
    minus = reactions([[-eps, 0, 0], [0, 0, 0], [0, 0, 0]], "b")
    assert (plus["xmax"][0] - minus["xmax"][0]) / (2 * eps) == pytest.approx(C11, rel=1e-6)
    assert (plus["ymax"][1] - minus["ymax"][1]) / (2 * eps) == pytest.approx(C12, rel=1e-6)
    shear = reactions([[0, eps, 0], [eps, 0, 0], [0, 0, 0]], "c")
    back = reactions([[0, -eps, 0], [-eps, 0, 0], [0, 0, 0]], "d")
    assert (shear["ymax"][0] - back["ymax"][0]) / (4 * eps) == pytest.approx(C44, rel=1e-6)


def coarse_plate(tmp_path, material, traction=0.3):
    """A coarse quarter plate with a hole (12 quads) pulled to the right."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inputs"))
    from make_meshes import plate_with_hole, write_gmsh22
    mesh = tmp_path / "plate.msh"
    if not mesh.exists():
        write_gmsh22(mesh, *plate_with_hole(W=4.0, R=1.0, n_arc=2, n_radial=3))
    return {"run": {"kind": "fe"}, "mesh": {"type": "file", "file": str(mesh)},
            "material": dict(material),
            "boundary": [{"region": 1, "type": "displacement", "ux": 0.0},
                         {"region": 2, "type": "displacement", "uy": 0.0},
                         {"region": 3, "type": "traction", "t": [traction, 0.0]}],
            "load": {"steps": 1}, "solver": {"rtol": 1e-11, "atol": 1e-12}}


@pytest.mark.parametrize("tangent", ["differences", "analytic"])
def test_plate_with_hole_fe2_equals_cauchy_born_fe(tmp_path, tangent):
    cb, _ = run_table(SELF, coarse_plate(tmp_path, CB), tmp_path / "cb")
    fe2, _ = run_table(SELF, coarse_plate(tmp_path, dict(RVE, tangent=tangent)),
                       tmp_path / "fe2")
    _, u_cb = vertex_displacements(cb)
    _, u_fe2 = vertex_displacements(fe2)
    assert np.abs(u_cb).max() > 1e-3  # a real, non-homogeneous deformation
    assert np.abs(u_fe2 - u_cb).max() <= 1e-8 * np.abs(u_cb).max()
    log = (tmp_path / "fe2" / "log.txt").read_text()
    assert "RVEs:" in log and "Hill-Mandel" in log


def test_unchanged_points_reuse_their_results_and_warm_starts_help():
    from hpcms.fe.materials import make_material
    m = make_material(dict(RVE, vacancies=0.02), SELF)
    try:
        F = np.tile(np.eye(3) + np.asarray(H), (3, 1, 1))
        ids = np.array([5, 9, 11])
        W1, P1, A1 = m.evaluate(F, ids)
        cold = m.stats["iterations"]
        assert cold > 0 and m.stats["evaluated"] == 3  # vacancies: real relaxations
        W2, P2, A2 = m.evaluate(F, ids)  # the same F: reused, bit for bit
        assert m.stats["reused"] == 3 and m.stats["evaluated"] == 3
        assert W2.tobytes() == W1.tobytes() and A2.tobytes() == A1.tobytes()
        m.commit()
        before = m.stats["iterations"]
        m.evaluate(F * (1 + 1e-4), ids)  # nearby: warm started from the relaxed atoms
        assert m.stats["iterations"] - before < cold
        m.rollback()
        W3, _, _ = m.evaluate(F, ids)  # back at the committed state: reused
        assert W3.tobytes() == W1.tobytes()
    finally:
        m.free()


@pytest.mark.parametrize("key,value", [
    ("ranks_per_rve", 0), ("cells", [3, 3]), ("vacancies", 1.5), ("mode", "dynamics-ish"),
    ("cutoff", -1.0), ("reuse_tol", -1.0), ("tangent", "born"), ("bogus", 1)])
def test_bad_rve_keys(tmp_path, key, value):
    material = dict(RVE, **{key: value})
    with pytest.raises(DeckError) as err:
        run_table(SELF, affine_patch(3, H, box(3, (1, 1, 1)), material), tmp_path / "out")
    assert err.value.key == f"material.{key}", err.value


def test_dynamics_rves_converge_within_the_stress_error_bar(tmp_path):
    """NVT RVEs at low temperature: Newton (fixed reference tangent) stops at the
    stress noise, and the stress is the statics one within a few error bars."""
    from fe_decks import uniaxial_bar
    dynamics = dict(RVE, cells=[2, 2, 2], mode="dynamics", temperature=1e-3,
                    equilibration_steps=100, sampling_steps=200, blocks=4)
    table = uniaxial_bar(1.01, cells=(1, 1, 1), steps=1, material=dynamics)
    run, status = run_table(SELF, table, tmp_path / "dyn")
    assert status == 0
    log = (tmp_path / "dyn" / "log.txt").read_text()
    assert "stress noise" in log and "MD steps" in log
    P = run.problem.P
    errors = run.material.stress_errors()
    assert np.all(errors[:, 0, 0] > 0)
    statics, _ = run_table(SELF, uniaxial_bar(1.01, cells=(1, 1, 1), steps=1,
                                              material=dict(RVE, cells=[2, 2, 2])),
                           tmp_path / "statics")
    Ps = statics.problem.P
    # Thermal stress at kT = 1e-3 is about -9 kT: compare with that allowance.
    assert np.abs(P[:, 0, 0] - Ps[:, 0, 0]).max() < 0.05 * abs(Ps[0, 0, 0]) + 10 * errors.max()
