"""Load balance: planes between ranks that move (`hpcms.parallel.balance`).

The serial tests check where `shifted_cuts` puts the planes; the MPI ones
that moving planes change which rank owns what and nothing else: every pair
is still listed once, trajectories keep their bytes.
"""

import numpy as np
import pytest
from mpi4py import MPI

from hpcms.config.deck import deck_from_table
from hpcms.parallel.balance import THRESHOLD, Balancer, balanced_planes, shifted_cuts
from hpcms.parallel.box import Box
from hpcms.particles.system import ParticleSystem
from hpcms.run import build_simulation, prepare
from test_determinism import assert_same
from test_dpd_mpi import CASES, STEPS, assert_every_pair_once, trajectory_bytes


def test_equal_loads_leave_the_planes_where_they_are():
    cuts = np.array([0.0, 0.3, 0.55, 1.0])
    assert shifted_cuts(cuts, [5.0, 5.0, 5.0]).tolist() == pytest.approx(cuts.tolist(), abs=1e-15)


def test_load_spread_evenly_over_the_box_splits_it_evenly():
    cuts = np.array([0.0, 0.3, 0.55, 1.0])
    load = np.diff(cuts) * 7.0  # the same load per unit width everywhere
    new = shifted_cuts(cuts, load, damping=1.0)
    assert new.tolist() == pytest.approx([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0], abs=1e-12)


def test_planes_move_half_way_to_the_even_split():
    """Loads 3 and 1 on halves: the even split puts the plane at 1/3 (the
    load taken as spread evenly over each slab); damped by 1/2, at 5/12."""
    new = shifted_cuts([0.0, 0.5, 1.0], [3.0, 1.0])
    assert new.tolist() == pytest.approx([0.0, 5.0 / 12.0, 1.0], abs=1e-15)
    assert shifted_cuts([0.0, 0.5, 1.0], [3.0, 1.0], damping=1.0)[1] == pytest.approx(1.0 / 3.0)


@pytest.mark.parametrize("load", [[1e6, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1e6], [0.0, 5.0, 0.0, 0.0]])
def test_no_slab_thinner_than_half_its_even_share(load):
    new = shifted_cuts([0.0, 0.25, 0.5, 0.75, 1.0], load, damping=1.0)
    assert new[0] == 0.0 and new[-1] == 1.0
    assert np.diff(new).min() >= 0.125 - 1e-15


def test_slabs_within_the_threshold_stay_and_beyond_it_move():
    """Four ranks on a 2 x 2 x 1 grid: slab loads along a are the sums of
    their ranks'.  Within THRESHOLD of the mean nothing moves; beyond it only
    the uneven axis does."""
    cuts = [[0.0, 0.5, 1.0], [0.0, 0.5, 1.0], [0.0, 1.0]]
    coords = [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 0)]
    small = 0.5 * (THRESHOLD - 1.0)
    assert balanced_planes(cuts, coords, [1.0 + small, 1.0 + small, 1.0, 1.0]) is None
    new = balanced_planes(cuts, coords, [2.0, 2.0, 1.0, 1.0])
    assert new[0][1] < 0.5
    assert new[1].tolist() == cuts[1] and new[2].tolist() == cuts[2]


def test_ownership_follows_the_planes():
    """A particle on a plane belongs to the rank above it; set_cuts refuses
    planes that do not rise from 0 to 1."""
    s = ParticleSystem(MPI.COMM_SELF, Box(np.eye(3) * 10.0), np.ones(1), 1.0, 0.3)
    dom = s.domain
    kept, leaving, counts = dom.sort_out(np.array([[0.0, 0.5, 0.999]]))
    assert kept.tolist() == [0] and counts.tolist() == [0]
    for bad in ([0.0, 0.5], [0.1, 1.0], [0.0, 0.0, 1.0]):
        with pytest.raises(ValueError, match="cuts along axis 0"):
            dom.set_cuts([bad, [0.0, 1.0], [0.0, 1.0]])
    s.free()


def _uneven(domain):
    """Planes bunched towards the low end of every axis split over ranks."""
    return [(np.arange(n + 1) / n) ** 1.4 for n in domain.dims.tolist()]


@pytest.mark.mpi
@pytest.mark.parametrize("cell", [np.diag([9.0, 7.5, 8.0]),
                                  [[9.0, 0, 0], [1.7, 7.5, 0], [-1.1, 0.8, 8.0]]],
                         ids=["orthogonal", "triclinic"])
def test_half_list_between_uneven_planes_holds_every_pair_once(cell):
    """Planes moved off the even split (slabs from 0.14 to 0.33 of the box on
    four ranks): the ranks' half lists still hold every pair of the serial
    full list exactly once."""
    assert_every_pair_once(cell, seed=23, planes=_uneven)


class _Seesaw:
    """A made-up load: at each reading the other end of the grid along a
    was the busy one (four times the other end), so the planes swing."""

    def __init__(self, domain):
        self.domain = domain
        self.readings = 0
        self.total = 0.0

    def __call__(self):
        n, c = int(self.domain.dims[0]), int(self.domain.coords[0])
        busy = c if self.readings % 2 else n - 1 - c
        self.total += 1.0 + 3.0 * busy / max(n - 1, 1)
        self.readings += 1
        return self.total


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("case", ["water", "surfactant-angles", "lj-dpd-tstat"])
def test_moving_planes_leave_the_trajectory_bitwise_the_same(case):
    """Planes moved every 5 steps (at the rebuilds that come anyway): the
    trajectory has the bytes of the serial one."""
    world = MPI.COMM_WORLD
    t = CASES[case]
    ref = trajectory_bytes(MPI.COMM_SELF, t, STEPS)
    sim = build_simulation(world, prepare(world, deck_from_table(t, "dpd.toml")))
    dom = sim.system.domain
    balancer = Balancer(dom, _Seesaw(dom), 5)
    seen = set()

    class Watch:  # records the planes in force after each step
        def needs_rebuild(self, step):
            return False

        def due(self, step, end):
            return True

        def __call__(self, sim):
            seen.add(tuple(dom.cuts[0].tolist()))

    sim.run(STEPS, [balancer, Watch()])
    s = sim.system
    got = s.gather(s.x, s.v, s.image)
    s.free()
    assert balancer.moves >= STEPS // 5 - 1
    assert len(seen) >= 3
    if world.rank == 0:
        assert_same(ref, got)


@pytest.mark.mpi(min_size=2)
def test_planes_follow_the_particles():
    """Particles only in the lower 70 % of the box along x, the ranks stacked
    along x: the list-build times pull the planes down towards the
    particles, and the ranks come to hold more alike (measured loads, so
    only the direction and rough size of the move are checked; every rank
    takes part, so none waits elsewhere while the others are timed)."""
    comm = MPI.COMM_WORLD
    box = 14.0
    n = int(3 * 0.7 * box ** 3)
    x = np.random.default_rng(4).random((n, 3)) * box
    x[:, 0] *= 0.7
    s = ParticleSystem(comm, Box(np.eye(3) * box), np.ones(1), 1.0, 0.3, half_list=True,
                       grid=(comm.size, 1, 1))
    k = slice(None) if comm.rank == 0 else slice(0)
    s.scatter(x[k], np.zeros((n, 3))[k], np.arange(n)[k], np.zeros(n, np.int32)[k])
    spread = np.ptp(comm.allgather(s.n_local))
    top = float(s.domain.cuts[0][-2])
    balancer = Balancer(s.domain, lambda: s.neighbors.seconds, 1)
    for step in range(1, 13):
        s.reneighbor(step)
        balancer(None)
    s.reneighbor(13)
    moved_top = float(s.domain.cuts[0][-2])
    held = comm.allgather(s.n_local)
    s.free()
    assert moved_top < top - 0.05
    assert np.ptp(held) < 0.8 * spread
