"""FE² on several ranks and RVE group sizes: the same RVE answers bit for bit,
the same displacement field, restarts on another rank count and group size.

mpirun -n 2|4 python -m pytest --with-mpi -m mpi tests/test_fe2_mpi.py
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from mpi4py import MPI

from hpcms.config.errors import DeckError
from hpcms.fe2 import material as _rve  # noqa: F401  (registers "rve")

from fe_decks import affine_patch, box, run_table, uniaxial_bar
from test_fe2 import CB, H, RVE, coarse_plate
from test_fe_mpi import gathered

WORLD = MPI.COMM_WORLD
SELF = MPI.COMM_SELF


def group_sizes():
    return [m for m in (1, 2, 4) if WORLD.size % m == 0]


def stresses_by_point(run):
    """P of every quadrature point in point-id order, on every rank.  Collective."""
    ids = np.concatenate(WORLD.allgather(run.problem.point_ids))
    P = np.concatenate(WORLD.allgather(run.problem.P))
    out = np.empty_like(P)
    out[ids] = P
    return out


@pytest.mark.mpi(min_size=1)
def test_homogeneous_rve_stresses_bitwise_for_every_group_size(mpi_tmp_path):
    reference = None
    if WORLD.rank == 0:
        table = affine_patch(3, H, box(3, (2, 2, 1)), RVE)
        run, _ = run_table(SELF, table, mpi_tmp_path / "self")
        reference = run.problem.P[np.argsort(run.problem.point_ids)]
    reference = WORLD.bcast(reference, root=0)
    for m in group_sizes():
        material = dict(RVE, ranks_per_rve=m)
        run, status = run_table(WORLD, affine_patch(3, H, box(3, (2, 2, 1)), material),
                                mpi_tmp_path / f"g{m}")
        assert status == 0
        assert stresses_by_point(run).tobytes() == reference.tobytes()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("tangent", ["differences", "analytic"])
def test_relaxing_rves_bitwise_for_every_group_size(mpi_tmp_path, tangent):
    """RVEs with a vacancy (FIRE steps; one-rank groups take the fused kernel
    path, larger groups the general one): P and A of every point, bit for bit."""
    material = dict(RVE, cells=[2, 2, 2], vacancies=0.04, tangent=tangent,
                    hill_mandel_step=0.0)

    def by_point(run):
        ids = np.concatenate(WORLD.allgather(run.problem.point_ids))
        out = []
        for name in ("P", "A"):
            values = np.concatenate(WORLD.allgather(getattr(run.problem, name)))
            ordered = np.empty_like(values)
            ordered[ids] = values
            out.append(ordered.tobytes())
        return out

    reference = None
    if WORLD.rank == 0:
        run, _ = run_table(SELF, affine_patch(3, H, box(3, (2, 1, 1)), material),
                           mpi_tmp_path / "self")
        reference = [run.problem.P[np.argsort(run.problem.point_ids)].tobytes(),
                     run.problem.A[np.argsort(run.problem.point_ids)].tobytes()]
    reference = WORLD.bcast(reference, root=0)
    for m in group_sizes():
        run, status = run_table(WORLD, affine_patch(3, H, box(3, (2, 1, 1)),
                                                    dict(material, ranks_per_rve=m)),
                                mpi_tmp_path / f"g{m}")
        assert status == 0
        assert by_point(run) == reference


@pytest.mark.mpi(min_size=2)
def test_group_size_must_divide_the_ranks(mpi_tmp_path):
    material = dict(RVE, ranks_per_rve=WORLD.size + 1)
    with pytest.raises(DeckError) as err:
        run_table(WORLD, affine_patch(3, H, box(3, (1, 1, 1)), material), mpi_tmp_path / "x")
    assert err.value.key == "material.ranks_per_rve"


@pytest.mark.mpi(min_size=1)
def test_plate_with_hole_fe2_on_groups_equals_cauchy_born(mpi_tmp_path):
    tmp = mpi_tmp_path
    u_cb = None
    if WORLD.rank == 0:
        cb, _ = run_table(SELF, coarse_plate(tmp, CB), tmp / "cb")
        u_cb = gathered(cb)
    WORLD.Barrier()
    u_cb = WORLD.bcast(u_cb, root=0)
    m = group_sizes()[-1]
    run, status = run_table(WORLD, coarse_plate(tmp, dict(RVE, ranks_per_rve=m)), tmp / "fe2")
    assert status == 0
    assert np.abs(gathered(run) - u_cb).max() <= 1e-8 * np.abs(u_cb).max()


def relaxing_bar(ranks_per_rve=1):
    """A one-cell bar whose RVEs (32 sites, one vacancy) really relax at every point."""
    table = uniaxial_bar(1.01, cells=(1, 1, 1), steps=2,
                         material=dict(RVE, cells=[2, 2, 2], vacancies=0.04, ftol=1e-8,
                                       hill_mandel_step=0.0, ranks_per_rve=ranks_per_rve))
    table["load"]["grow_below"] = 0
    table["output"] = {"checkpoint_every": 1, "checkpoint_keep": 5}
    # Newton can go no lower than the RVEs' relaxation tolerance allows.
    table["solver"] = {"rtol": 1e-6, "atol": 1e-8}
    return table


@pytest.mark.mpi(min_size=1)
def test_fe2_restart_on_another_rank_count_and_group_size(mpi_tmp_path):
    tmp = mpi_tmp_path
    full, status = run_table(WORLD, relaxing_bar(), tmp / "full")
    assert status == 0
    assert "FIRE steps" in (tmp / "full" / "log.txt").read_text()
    u_full = gathered(full)
    scale = np.abs(u_full).max()
    u = None
    if WORLD.rank == 0:  # one rank, one group of one: another count and group size
        shutil.copytree(tmp / "full", tmp / "again")
        again, _ = run_table(SELF, relaxing_bar(), tmp / "again",
                             restart=str(tmp / "again" / "checkpoint-0000000001.h5"))
        assert again.stepper.load == 1.0
        u = gathered(again)
    u = WORLD.bcast(u, root=0)
    assert np.abs(u - u_full).max() <= 1e-9 * scale
    if WORLD.size > 1:  # every rank in one RVE group
        if WORLD.rank == 0:
            shutil.copytree(tmp / "full", tmp / "grouped")
        WORLD.Barrier()
        grouped, _ = run_table(WORLD, relaxing_bar(group_sizes()[-1]), tmp / "grouped",
                               restart=str(tmp / "grouped" / "checkpoint-0000000001.h5"))
        assert np.abs(gathered(grouped) - u_full).max() <= 1e-9 * scale


