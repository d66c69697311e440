"""The finite-strain FE solver on one rank: patch tests, Newton's convergence
rate, closed-form uniaxial tension, beam theory, Cauchy-Born elastic constants,
load stepping and its faults.  Rank-count checks are in test_fe_mpi.py.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from mpi4py import MPI

from hpcms.config.errors import DeckError, RunError
from hpcms.fe.materials import cauchy_born_constants

from fe_decks import (NEO_HOOKE, affine_patch, box, read_csv, run_table, uniaxial_bar,
                      vertex_displacements)

SELF = MPI.COMM_SELF
H3 = [[0.10, 0.04, -0.02], [0.03, -0.05, 0.06], [-0.04, 0.02, 0.08]]


@pytest.mark.parametrize("dim,simplex", [(3, False), (3, True), (2, False), (2, True)])
def test_patch_test_on_distorted_mesh(tmp_path, dim, simplex):
    """u = H X on the boundary of a distorted mesh: F = I + H everywhere, u = H X inside."""
    H = [row[:dim] for row in H3[:dim]]
    mesh = box(dim, (3, 3, 3), (1.0, 1.2, 0.8), simplex=simplex, distort=0.3)
    run, status = run_table(SELF, affine_patch(dim, H, mesh), tmp_path / "out")
    assert status == 0
    ids, u = vertex_displacements(run)
    X = run.mesh.X[run.mesh.vertex_owned]
    assert np.abs(u - X @ np.asarray(H).T).max() < 1e-10
    F = run.problem.F
    expected = np.eye(3)
    expected[:dim, :dim] += np.asarray(H)
    assert np.abs(F - expected).max() < 1e-10
    interior = np.all((X > 1e-9) & (X < np.array([1.0, 1.2, 0.8])[:dim] - 1e-9), axis=1)
    assert interior.any()  # the distortion moved them: the patch test is not trivial
    grid = X[interior] / (np.array([1.0, 1.2, 0.8])[:dim] / 3)
    assert np.abs(grid - np.round(grid)).max() > 0.05


def newton_norms(log_text):
    """Residual norms of every increment, from log.txt."""
    increments, current = [], None
    for line in log_text.splitlines():
        if line.startswith("increment "):
            current = []
            increments.append(current)
        m = re.match(r"\s+newton\s+\d+\s+\|R\| = (\S+)", line)
        if m and current is not None:
            current.append(float(m.group(1)))
    return increments


def assert_quadratic(norms):
    """Above round-off, each residual is at most about the square of the previous (relative)."""
    r = np.asarray(norms) / norms[0]
    checked = 0
    for a, b in zip(r[1:], r[2:]):
        if a < 1e-2 and b > 1e-13:
            assert math.log(b) <= 1.7 * math.log(a), (norms, a, b)
            checked += 1
    assert checked >= 1, norms


@pytest.mark.parametrize("material", [
    NEO_HOOKE, {"style": "cauchy-born-lj", "epsilon": 1.0, "sigma": 1.0, "cutoff": 2.5}])
def test_newton_converges_quadratically(tmp_path, material):
    table = uniaxial_bar(1.06, material=material, steps=2)
    table["solver"] = {"rtol": 1e-14, "atol": 1e-14, "pc_type": "lu", "ksp_type": "preonly",
                       "petsc_options": {"snes_linesearch_type": "basic"}}
    table["load"]["grow_below"] = 0
    run, status = run_table(SELF, table, tmp_path / "out")
    assert status == 0
    increments = newton_norms((tmp_path / "out" / "log.txt").read_text())
    assert len(increments) == 2
    for norms in increments:
        assert len(norms) >= 3
        assert_quadratic(norms)


def neo_hooke_uniaxial(stretch, E=100.0, nu=0.3):
    """P_xx of a compressible Neo-Hookean bar in uniaxial stress (lateral P = 0)."""
    mu, lam = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
    t = 1.0
    for _ in range(50):  # Newton on the lateral stretch: P_yy(t) = 0
        g = mu * (t - 1 / t) + lam * math.log(stretch * t * t) / t
        dg = mu * (1 + 1 / t**2) + lam * (2 - math.log(stretch * t * t)) / t**2
        t -= g / dg
    return mu * (stretch - 1 / stretch) + lam * math.log(stretch * t * t) / stretch


def test_uniaxial_neo_hookean_matches_closed_form(tmp_path):
    run, status = run_table(SELF, uniaxial_bar(1.3, steps=3), tmp_path / "out")
    assert status == 0
    rows = read_csv(tmp_path / "out" / "reaction.csv")
    assert rows["load"][-1] == 1.0
    for load, force in zip(rows["load"], rows["grip_fx"]):
        stretch = 1.0 + 0.3 * load
        assert force == pytest.approx(neo_hooke_uniaxial(stretch), rel=1e-8)


def test_cantilever_tip_deflection_converges_to_beam_theory(tmp_path):
    E, L, h, q = 1000.0, 10.0, 1.0, 0.01
    beam = q * h * h * L**3 / (3 * E * h**4 / 12)
    errors = []
    for n in (1, 2, 4):
        table = {"run": {"kind": "fe"}, "mesh": box(3, (10 * n, n, n), (L, h, h)),
                 "material": {"style": "saint-venant-kirchhoff", "E": E, "nu": 0.3},
                 "boundary": [{"region": "xmin", "type": "fixed"},
                              {"region": "xmax", "type": "traction", "t": [0.0, 0.0, -q]}],
                 "load": {"steps": 1}}
        run, _ = run_table(SELF, table, tmp_path / f"n{n}")
        X = run.mesh.X[run.mesh.vertex_owned]
        _, u = vertex_displacements(run)
        tip = -u[np.abs(X[:, 0] - L) < 1e-9, 2].mean()
        errors.append(abs(tip - beam) / beam)
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05, errors


def test_cauchy_born_small_strain_stiffness(tmp_path):
    """Homogeneous small strains of an FE cube with the Cauchy-Born law give C11, C12, C44."""
    material = {"style": "cauchy-born-lj", "epsilon": 1.0, "sigma": 1.0, "cutoff": 2.5}
    C11, C12, C44 = cauchy_born_constants(1.0, 1.0, 2.5, False)
    eps = 1e-5

    def reactions(H, name):
        table = affine_patch(3, H, box(3, (1, 1, 1)), material)
        table["load"] = {"steps": 1}
        run, _ = run_table(SELF, table, tmp_path / name)
        return {n: f for n, f in run.problem.reactions()}

    plus = reactions([[eps, 0, 0], [0, 0, 0], [0, 0, 0]], "a")
    minus = reactions([[-eps, 0, 0], [0, 0, 0], [0, 0, 0]], "b")
    assert (plus["xmax"][0] - minus["xmax"][0]) / (2 * eps) == pytest.approx(C11, rel=1e-6)
    assert (plus["ymax"][1] - minus["ymax"][1]) / (2 * eps) == pytest.approx(C12, rel=1e-6)
    shear = reactions([[0, eps, 0], [eps, 0, 0], [0, 0, 0]], "c")
    back = reactions([[0, -eps, 0], [-eps, 0, 0], [0, 0, 0]], "d")
    assert (shear["ymax"][0] - back["ymax"][0]) / (4 * eps) == pytest.approx(C44, rel=1e-6)


def test_outputs_and_timing(tmp_path):
    import json
    import xml.etree.ElementTree as ET

    import h5py

    out = tmp_path / "out"
    run, status = run_table(SELF, uniaxial_bar(1.1, steps=2), out)
    assert status == 0
    timing = json.loads((out / "timing.json").read_text())
    assert timing["newton_iterations"] >= 2
    assert {"material", "assembly", "linear solve"} <= set(timing["phases"])
    grids = ET.parse(out / "fields.xdmf").getroot().iter("Grid")
    assert len([g for g in grids if g.get("GridType") == "Uniform"]) == 2
    with h5py.File(out / "fields.h5", "r") as h5:
        assert h5["mesh/geometry"].shape[0] == run.mesh.n_vertices_global


def test_inverted_cell_stops_with_increment_and_cell_and_keeps_checkpoint(tmp_path):
    table = uniaxial_bar(1.0, steps=1)
    table["boundary"][3]["ux"] = -3.0  # squash the 2-long bar to below zero length
    table["load"].update(cutbacks=1)
    table["output"] = {"checkpoint_every": 1}
    with pytest.raises(RunError) as err:
        run_table(SELF, table, tmp_path / "out")
    text = str(err.value)
    assert "increment" in text or "step 1" in text
    assert "inverted" in text and "cell" in text
    assert list((tmp_path / "out").glob("checkpoint-*.h5"))  # the last converged state


@pytest.mark.parametrize("change,key", [
    (lambda t: t["mesh"].update(type="file", file="missing.msh"), "mesh.file"),
    (lambda t: t["boundary"][0].update(region="nowhere"), "boundary[0].region"),
    (lambda t: t["boundary"][0].update(region=99), "boundary[0].region"),
    (lambda t: t["boundary"][0].update(type="glue"), "boundary[0].type"),
    (lambda t: t["boundary"].pop(1), "boundary"),
    (lambda t: t["material"].update(nu=0.5), "material.nu"),
    (lambda t: t["mesh"].update(cells=[2, 2]), "mesh.cells"),
    (lambda t: t["load"].update(steps=0), "load.steps"),
    (lambda t: t["solver"].update(rtol="tight"), "solver.rtol"),
])
def test_bad_decks_name_the_key(tmp_path, change, key):
    table = uniaxial_bar(1.1)
    table["solver"] = {}
    change(table)
    with pytest.raises(DeckError) as err:
        run_table(SELF, table, tmp_path / "out")
    assert err.value.key.startswith(key), err.value
    assert not (tmp_path / "out").exists()


def test_conflicting_boundary_conditions(tmp_path):
    table = uniaxial_bar(1.1)
    table["boundary"].append({"region": "ymin", "type": "displacement", "ux": 0.5})
    with pytest.raises(DeckError, match="must agree"):
        run_table(SELF, table, tmp_path / "out")
