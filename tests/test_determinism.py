"""Bitwise-identical trajectories on any number of ranks (DESIGN.md, Determinism).

Each test runs the same deck on COMM_SELF (the serial reference, on every
rank) and on COMM_WORLD, and on a 3-rank sub-communicator when there are 4
ranks, then compares the raw bytes of positions and velocities gathered by
global id.
"""

import numpy as np
import pytest
from mpi4py import MPI

from decks import THERMOSTATS, deck
from hpcms.run import build_simulation, prepare


def trajectory_bytes(comm, d, steps):
    """(ids, x, v, image) by id on rank 0 of comm after `steps` steps."""
    sim = build_simulation(comm, prepare(comm, d))
    sim.run(steps)
    s = sim.system
    out = s.gather(s.x, s.v, s.image)
    s.free()
    return out


def assert_same(ref, got):
    ids_r, x_r, v_r, img_r = ref
    ids_g, x_g, v_g, img_g = got
    assert np.array_equal(ids_r, ids_g)
    # Unwrapped positions must agree bit for bit: compare bytes.
    assert (x_r + 0).tobytes() == (x_g + 0).tobytes()
    assert v_r.tobytes() == v_g.tobytes()
    assert np.array_equal(img_r, img_g)


CASES = {
    "nve": {"integrator": THERMOSTATS["nve"]},
    "langevin": {"integrator": THERMOSTATS["langevin"]},
    "nose-hoover": {"integrator": THERMOSTATS["nose-hoover"]},
    # Sheared triclinic box, every-step rebuild policy off: list every 5 steps.
    "triclinic": {"system": {"deform": [[1.0, 0.2, 0.1], [0.0, 1.0, -0.15], [0.0, 0.0, 1.0]]},
                  "neighbor": {"every": 5, "check": False}},
}


@pytest.mark.mpi
@pytest.mark.parametrize("case", sorted(CASES))
def test_bitwise_identical_on_any_rank_count(case):
    world = MPI.COMM_WORLD
    d = deck(**CASES[case])
    ref = trajectory_bytes(MPI.COMM_SELF, d, 60)
    got = trajectory_bytes(world, d, 60)
    if world.rank == 0:
        assert_same(ref, got)
    if world.size >= 3:
        color = 0 if world.rank < 3 else MPI.UNDEFINED
        sub = world.Split(color, world.rank)
        if sub != MPI.COMM_NULL:
            got3 = trajectory_bytes(sub, d, 60)
            if sub.rank == 0:
                assert_same(ref, got3)
            sub.Free()
    world.Barrier()


@pytest.mark.mpi(min_size=2)
def test_rank_grid_1x1xN_with_multi_hop_halo():
    """A thin decomposition where the halo reaches past the next subdomain."""
    world = MPI.COMM_WORLD
    ref = trajectory_bytes(MPI.COMM_SELF, deck(), 40)
    got = trajectory_bytes(world, deck(parallel={"grid": [1, 1, world.size]}), 40)
    if world.rank == 0:
        assert_same(ref, got)


def test_serial_run_is_repeatable():
    d = deck(integrator=THERMOSTATS["langevin"])
    a = trajectory_bytes(MPI.COMM_SELF, d, 30)
    b = trajectory_bytes(MPI.COMM_SELF, d, 30)
    assert_same(a, b)
