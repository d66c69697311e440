"""Restarts continue bit for bit, on the same or another number of ranks.

For each integrator: a reference run of 2 x STEPS steps that checkpoints every
STEPS steps, and a run of STEPS steps continued from its checkpoint by a run
on another number of ranks.  Positions and velocities at the end are compared
as raw bytes, gathered by global id.
"""

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from decks import THERMOSTATS, table
from hpcms.config.deck import deck_from_table
from hpcms.run import execute

STEPS = 40


def run_on(world, size, t, **kwargs):
    """execute() on the first `size` ranks of world; gathered (ids, x, v) on its rank 0."""
    color = 0 if world.rank < size else MPI.UNDEFINED
    sub = world.Split(color, world.rank)
    result = None
    if sub != MPI.COMM_NULL:
        sim, status = execute(sub, deck_from_table(t, "restart.toml"), echo=False, **kwargs)
        assert status == 0
        s = sim.system
        result = s.gather(s.x, s.v)
        s.free()
        sub.Free()
    world.Barrier()
    return result


def deck_table(integrator, output, steps):
    return table(run={"steps": steps, "output": str(output)},
                 integrator=THERMOSTATS[integrator],
                 output={"checkpoint_every": STEPS, "thermo_every": 10,
                         "trajectory_every": 20})


def assert_same(a, b):
    assert np.array_equal(a[0], b[0])
    assert a[1].tobytes() == b[1].tobytes()
    assert a[2].tobytes() == b[2].tobytes()


def restart_case(integrator, first, second, tmp):
    world = MPI.COMM_WORLD
    ref = run_on(world, first, deck_table(integrator, tmp / "ref", 2 * STEPS))
    run_on(world, first, deck_table(integrator, tmp / "cont", STEPS))
    got = run_on(world, second, deck_table(integrator, tmp / "cont", 2 * STEPS), resume=True)
    if world.rank == 0:
        assert_same(ref, got)
        rows = [int(line.split(",")[0]) for line in
                (tmp / "cont" / "thermo.csv").read_text().splitlines()[1:]]
        assert rows == sorted(set(rows)) and rows[-1] == 2 * STEPS
        assert frames(tmp / "cont") == frames(tmp / "ref")


def frames(run):
    """Steps and position bytes of a run's H5MD trajectory."""
    with h5py.File(run / "trajectory.h5", "r") as f:
        pos = f["particles/all/position"]
        return pos["step"][()].tolist(), pos["value"][()].tobytes()


@pytest.mark.mpi
@pytest.mark.parametrize("integrator", sorted(THERMOSTATS))
def test_restart_same_rank_count(integrator, mpi_tmp_path):
    size = MPI.COMM_WORLD.size
    restart_case(integrator, size, size, mpi_tmp_path)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("integrator", sorted(THERMOSTATS))
@pytest.mark.parametrize("first,second", [(1, 2), (2, 1)])
def test_restart_on_another_rank_count(integrator, first, second, mpi_tmp_path):
    restart_case(integrator, first, second, mpi_tmp_path)


@pytest.mark.mpi(min_size=4)
@pytest.mark.parametrize("integrator", sorted(THERMOSTATS))
@pytest.mark.parametrize("first,second", [(2, 4), (4, 3)])
def test_restart_on_more_or_fewer_ranks(integrator, first, second, mpi_tmp_path):
    restart_case(integrator, first, second, mpi_tmp_path)
