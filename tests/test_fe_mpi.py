"""The FE solver on several ranks: the same displacement field as on one rank,
patch tests on a distributed distorted mesh, restarts on another rank count.

Run under mpirun: mpirun -n 2|4 python -m pytest --with-mpi -m mpi tests/test_fe_mpi.py
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from hpcms.io.hdf5 import open_file

from fe_decks import REPO, affine_patch, box, run_table, uniaxial_bar, vertex_displacements

WORLD = MPI.COMM_WORLD
SELF = MPI.COMM_SELF


def gathered(run):
    """Displacements of all vertices in global id order, on every rank.  Collective."""
    ids, u = vertex_displacements(run)
    ids = np.concatenate(run.comm.allgather(ids))
    u = np.concatenate(run.comm.allgather(u))
    out = np.empty_like(u)
    out[ids] = u
    assert len(ids) == run.mesh.n_vertices_global
    return out


def on_rank0_alone(table, out):
    """The same deck on COMM_SELF on rank 0; the displacements on every rank."""
    u = None
    if WORLD.rank == 0:
        run, status = run_table(SELF, table, out)
        assert status == 0
        u = gathered(run)
    return WORLD.bcast(u, root=0)


def plate_hole():
    from hpcms.config.deck import read_toml
    table = read_toml(REPO / "inputs" / "fe_plate_hole.toml")
    table["mesh"]["file"] = str(REPO / "inputs" / table["mesh"]["file"])
    return table


@pytest.mark.mpi(min_size=1)
def test_plate_with_hole_same_field_on_any_rank_count(mpi_tmp_path):
    table = plate_hole()
    table["solver"] = {"rtol": 1e-12, "atol": 1e-13}
    run, status = run_table(WORLD, table, mpi_tmp_path / "world")
    assert status == 0
    u = gathered(run)
    # Every rank sums its cells' internal forces over the region's vertices, also over
    # vertices whose labelled edge lives on another rank: the resultant is the load.
    right = dict(run.problem.reactions())["right"]
    assert right[0] == pytest.approx(5.0 * 10.0, rel=1e-9)
    serial = on_rank0_alone(table, mpi_tmp_path / "self")
    scale = np.abs(serial).max()
    assert scale > 1e-3
    assert np.abs(u - serial).max() <= 1e-9 * scale
    # The field files hold the same rows in the same (global id) order.
    with open_file(mpi_tmp_path / "world" / "fields.h5", "r", WORLD) as h5:
        steps = sorted(h5["steps"], key=int)
        last = h5[f"steps/{steps[-1]}/vertex/displacement"][...]
    assert np.abs(last[:, :2] - serial).max() <= 1e-9 * scale


@pytest.mark.mpi(min_size=2)
def test_patch_test_distributed_distorted_hexahedra(mpi_tmp_path):
    H = [[0.05, 0.02, 0.0], [-0.01, 0.03, 0.02], [0.0, 0.01, -0.04]]
    run, status = run_table(WORLD, affine_patch(3, H, box(3, (4, 3, 3), distort=0.3)),
                            mpi_tmp_path / "out")
    assert status == 0
    cells = WORLD.allgather(run.mesh.n_cells)
    assert min(cells) > 0  # every rank owns part of the mesh
    ids, u = vertex_displacements(run)
    X = run.mesh.X[run.mesh.vertex_owned]
    assert np.abs(u - X @ np.asarray(H).T).max() < 1e-10


@pytest.mark.mpi(min_size=1)
def test_restart_on_another_rank_count_reaches_the_same_state(mpi_tmp_path):
    table = uniaxial_bar(1.2, cells=(4, 2, 2), steps=4)
    table["load"]["grow_below"] = 0
    table["output"] = {"checkpoint_every": 1, "checkpoint_keep": 10}
    table["solver"] = {"rtol": 1e-12, "atol": 1e-13}
    run, status = run_table(WORLD, table, mpi_tmp_path / "full")
    assert status == 0
    u_full = gathered(run)
    # Continue from increment 2 on one rank (another count when size > 1), and back.
    ckpt = mpi_tmp_path / "full" / "checkpoint-0000000002.h5"
    table["run"]["output"] = str(mpi_tmp_path / "full")
    u_restart = on_rank0_alone_restart(table, mpi_tmp_path / "full", ckpt)
    scale = np.abs(u_full).max()
    assert np.abs(u_restart - u_full).max() <= 1e-9 * scale


def on_rank0_alone_restart(table, out, ckpt):
    import shutil
    u = None
    if WORLD.rank == 0:
        copy = out.parent / "restart"
        shutil.copytree(out, copy)
        run, status = run_table(SELF, table, copy, restart=str(copy / ckpt.name))
        assert status == 0
        assert run.stepper.load == 1.0
        u = gathered(run)
    return WORLD.bcast(u, root=0)
