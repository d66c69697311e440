"""DPD on any number of ranks: bitwise-identical trajectories (1, 2, 3, 4 ranks),
momentum conservation and bitwise restarts, molecules included; also the DPD
thermostat on an LJ liquid (dpd/tstat) and bonded pairs excluded from the
conservative force.

Run under `mpirun -n N python -m pytest --with-mpi -m mpi`; on one rank the
comparisons are against COMM_SELF.
"""

import numpy as np
import pytest
from mpi4py import MPI

from dpd_decks import BLEND, LJ_TSTAT, SURFACTANT, SURFACTANT_EXCLUDED, WATER, table
from hpcms.config.deck import deck_from_table
from hpcms.dpd.pair import DPD
from hpcms.parallel.box import Box
from hpcms.particles.system import ParticleSystem
from hpcms.run import build_simulation, prepare
from test_determinism import assert_same
from test_restart import assert_same as assert_same_restart
from test_restart import run_on

CASES = {
    "water": WATER,
    "water-lambda-0.5": table(WATER, integrator={"lambda": 0.5}),
    "blend": BLEND,
    "surfactant-angles": SURFACTANT,
    "surfactant-exclude-bonded": SURFACTANT_EXCLUDED,
    "lj-dpd-tstat": LJ_TSTAT,
}
STEPS = 40


def trajectory_bytes(comm, t, steps):
    sim = build_simulation(comm, prepare(comm, deck_from_table(t, "dpd.toml")))
    sim.run(steps)
    s = sim.system
    out = s.gather(s.x, s.v, s.image)
    s.free()
    return out


@pytest.mark.mpi
@pytest.mark.parametrize("case", sorted(CASES))
def test_dpd_bitwise_identical_on_any_rank_count(case):
    world = MPI.COMM_WORLD
    t = CASES[case]
    ref = trajectory_bytes(MPI.COMM_SELF, t, STEPS)
    got = trajectory_bytes(world, t, STEPS)
    if world.rank == 0:
        assert_same(ref, got)
    if world.size >= 3:
        color = 0 if world.rank < 3 else MPI.UNDEFINED
        sub = world.Split(color, world.rank)
        if sub != MPI.COMM_NULL:
            got3 = trajectory_bytes(sub, t, STEPS)
            if sub.rank == 0:
                assert_same(ref, got3)
            sub.Free()
    world.Barrier()


@pytest.mark.mpi
@pytest.mark.parametrize("comm", [MPI.COMM_SELF, MPI.COMM_WORLD], ids=["self", "world"])
@pytest.mark.parametrize("base", ["surfactant", "lj-dpd-tstat"])
def test_dpd_momentum_conserved_on_ranks(comm, base):
    t = SURFACTANT if base == "surfactant" else LJ_TSTAT
    sim = build_simulation(comm, prepare(comm, deck_from_table(t, "dpd.toml")))
    sim.run(60)
    s = sim.system
    local = (s.mass[:, None] * s.v).sum(axis=0)
    total = np.empty(3)
    comm.Allreduce(local, total, op=MPI.SUM)
    assert np.abs(total).max() < 1e-10
    s.free()


RESTART_STEPS = 30


def restart_table(base, output, steps):
    return table(base, run={"steps": steps, "output": str(output)},
                 output={"checkpoint_every": RESTART_STEPS, "thermo_every": 10,
                         "structure_every": 10 if base is BLEND else 0})


def restart_case(base, first, second, tmp):
    world = MPI.COMM_WORLD
    ref = run_on(world, first, restart_table(base, tmp / "ref", 2 * RESTART_STEPS))
    run_on(world, first, restart_table(base, tmp / "cont", RESTART_STEPS))
    got = run_on(world, second, restart_table(base, tmp / "cont", 2 * RESTART_STEPS),
                 resume=True)
    if world.rank == 0:
        assert_same_restart(ref, got)
        a = (tmp / "ref" / "thermo.csv").read_text()
        b = (tmp / "cont" / "thermo.csv").read_text()
        assert a == b
        if base is BLEND:
            a = (tmp / "ref" / "structure.csv").read_text()
            b = (tmp / "cont" / "structure.csv").read_text()
            assert a == b


BASES = {"water": WATER, "blend": BLEND, "surfactant": SURFACTANT,
         "surfactant-exclude-bonded": SURFACTANT_EXCLUDED, "lj-dpd-tstat": LJ_TSTAT}


@pytest.mark.mpi
@pytest.mark.parametrize("base", ["water", "blend", "lj-dpd-tstat"])
def test_dpd_restart_same_rank_count(base, mpi_tmp_path):
    size = MPI.COMM_WORLD.size
    restart_case(BASES[base], size, size, mpi_tmp_path)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("base", ["water", "surfactant-exclude-bonded", "lj-dpd-tstat"])
@pytest.mark.parametrize("first,second", [(1, 2), (2, 1)])
def test_dpd_restart_on_another_rank_count(base, first, second, mpi_tmp_path):
    restart_case(BASES[base], first, second, mpi_tmp_path)


@pytest.mark.mpi(min_size=4)
@pytest.mark.parametrize("first,second", [(2, 4), (4, 3)])
def test_dpd_restart_on_more_or_fewer_ranks(first, second, mpi_tmp_path):
    restart_case(WATER, first, second, mpi_tmp_path)


def _oriented_pairs(s):
    """[(id_i, id_j, image of j)] of every entry of a half list, in both
    orientations ((j, i, -image) is the same pair seen from j)."""
    nl, n = s.neighbors, s.n_local
    images = np.concatenate([np.zeros((n, 3), np.int64), s.halo.images])
    out = []
    for i in range(n):
        for j in nl.index[nl.start[i]:nl.start[i + 1]]:
            img = tuple(int(c) for c in images[j])
            out.append((int(s.ids[i]), int(s.ids[j]), img))
            out.append((int(s.ids[j]), int(s.ids[i]), tuple(-c for c in img)))
    return out


@pytest.mark.mpi
@pytest.mark.parametrize("cell", [np.diag([9.0, 7.5, 8.0]),
                                  [[9.0, 0, 0], [1.7, 7.5, 0], [-1.1, 0.8, 8.0]]],
                         ids=["orthogonal", "triclinic"])
def test_half_list_on_any_rank_count_holds_every_pair_once(cell):
    """The DPD half list, decomposed: together the ranks list every pair of the
    serial full list exactly once (no pair lost or doubled at a rank boundary,
    a periodic boundary or a bin edge)."""
    assert_every_pair_once(cell, seed=17)


def assert_every_pair_once(cell, seed, planes=None):
    """1,600 random particles in `cell` (rows: the cell vectors): the half
    lists of the ranks of COMM_WORLD hold every pair of the serial full list
    exactly once.  planes(domain): planes between ranks to move to before
    the lists are built again.  Collective."""
    world = MPI.COMM_WORLD
    cell = np.asarray(cell, dtype=float).T
    n = 1600
    x = np.random.default_rng(seed).random((n, 3)) @ cell.T
    zeros, ids, types = np.zeros((n, 3)), np.arange(n), np.zeros(n, np.int32)
    full = ParticleSystem(MPI.COMM_SELF, Box(cell), np.ones(1), 1.0, 0.45)
    full.scatter(x, zeros, ids, types)
    half = ParticleSystem(world, Box(cell), np.ones(1), 1.0, 0.45, half_list=True)
    mine = world.rank == 0
    half.scatter(x if mine else zeros[:0], zeros if mine else zeros[:0], ids if mine else ids[:0],
                 types if mine else types[:0])
    if planes is not None:
        half.domain.pending_cuts = planes(half.domain)
        half.reneighbor(1)
        assert [c.tolist() for c in half.domain.cuts] == [c.tolist() for c in planes(half.domain)]
    listed = [p for part in world.allgather(_oriented_pairs(half)) for p in part]
    wanted = [(int(full.ids[i]), int(full.ids[j]), tuple(int(c) for c in img))
              for i, j, img in _full_rows(full)]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(wanted)
    full.free()
    half.free()


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("seed", [1, 2])
def test_half_list_ghosts_behind_a_slab_stay_in_the_column_its_face_cuts(seed):
    """Two ranks cut along x, 9 bins to the box: the only ghosts behind a
    rank's lower face are those of the bin column the face cuts (the half
    list looks no further back along x): none behind x = 0, a bin edge, and
    behind L/2, 4.5 bins up, only those of the half column below it."""
    world = MPI.COMM_WORLD
    comm = world.Split(0 if world.rank < 2 else MPI.UNDEFINED, world.rank)
    if comm == MPI.COMM_NULL:
        return
    box = 11.7
    n = int(3 * box ** 3)
    x = np.random.default_rng(seed).random((n, 3)) * box
    s = ParticleSystem(comm, Box(np.eye(3) * box), np.ones(1), 1.0, 0.3, half_list=True,
                       grid=(2, 1, 1))
    k = slice(None) if comm.rank == 0 else slice(0)
    s.scatter(x[k], np.zeros((n, 3))[k], np.arange(n)[k], np.zeros(n, np.int32)[k])
    face = s.domain.lo[0] * box
    ghost_x = s.x[s.n_local:, 0]
    behind = ghost_x[ghost_x < face]
    s.free()
    comm.Free()
    bin_width = box / 9
    if face == 0.0:
        assert len(behind) == 0
    else:
        assert face == box / 2
        assert len(behind) > 100 and behind.min() >= face - bin_width / 2


def _full_rows(s):
    """(i, j, image of j) of every row entry of a full list."""
    nl, n = s.neighbors, s.n_local
    images = np.concatenate([np.zeros((n, 3), np.int64), s.halo.images])
    return [(i, j, images[j]) for i in range(n) for j in nl.index[nl.start[i]:nl.start[i + 1]]]


@pytest.mark.mpi
def test_dpd_forces_of_thin_slabs_equal_the_serial_bytes():
    """Ranks stacked along x in a box 5 wide: on 4 ranks a slab is thinner than
    the list cutoff, so ghosts come two hops away and ghosts of ghosts pass
    their force sums back through `Halo.reverse`; the forces equal the serial
    ones byte for byte."""
    world = MPI.COMM_WORLD
    cell = np.diag([5.0, 4.6, 4.8])
    n = 330
    x = np.random.default_rng(5).random((n, 3)) @ cell.T
    v = np.random.default_rng(6).normal(size=(n, 3))
    ids, types = np.arange(n), np.zeros(n, np.int32)
    pair = DPD(np.full((1, 1), 25.0), np.full((1, 1), 4.5), np.ones((1, 1)), 1.0)

    def forces(comm, grid, mine):
        s = ParticleSystem(comm, Box(cell), np.ones(1), 1.0, 0.45, half_list=True, grid=grid)
        k = slice(None) if mine else slice(0)
        s.scatter(x[k], v[k], ids[k], types[k])
        nl, m = s.neighbors, s.n_local
        f = np.empty((m, 3))
        pair.compute(s.x, s.types, m, nl.start, nl.index, f, v=s.with_ghosts(s.v), ids=s.ids,
                     step=3, dt=0.04, seed=2, half=True, reverse=s.halo.reverse)
        hops = s.halo.hops[0]
        out = s.gather(f)
        s.free()
        return out, hops

    got, hops = forces(world, (world.size, 1, 1), world.rank == 0)
    if world.size == 4:
        assert hops == 2
    if world.rank == 0:
        ref, _ = forces(MPI.COMM_SELF, (1, 1, 1), True)
        assert got[1].tobytes() == ref[1].tobytes()
        assert np.abs(got[1]).max() > 10.0


@pytest.mark.mpi
def test_ghost_velocities_travel_with_the_ghost_positions():
    """With `ghost_velocity` set, a rebuild and a position update also fill
    `v_all`: the owned rows are the hook's velocities and every ghost row is
    its owner's, as `with_ghosts` forwards them in a message of their own
    (ranks stacked along x in a box 5 wide: two hops on 4 ranks)."""
    world = MPI.COMM_WORLD
    cell = np.diag([5.0, 4.6, 4.8])
    n = 330
    rng = np.random.default_rng(8)
    x, v, f = rng.random((n, 3)) @ cell.T, rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    ids, types = np.arange(n), rng.integers(0, 2, n).astype(np.int32)
    s = ParticleSystem(world, Box(cell), np.array([1.0, 2.5]), 1.0, 0.45, half_list=True,
                       grid=(world.size, 1, 1))
    s.keep_forces = True
    s.ghost_velocity = lambda v, f, mass: v + 0.3 * f / mass[:, None]
    k = slice(None) if world.rank == 0 else slice(0)
    s.scatter(x[k], v[k], ids[k], types[k], f=f[k])
    for update in (False, True):
        if update:
            s.x[: s.n_local] += 0.01
            s.v += 1.0
            s.update_ghosts()
        m = s.n_local
        wanted = s.v + 0.3 * s.f / s.mass[:, None]
        assert s.v_all.tobytes() == s.with_ghosts(wanted).tobytes()
        assert s.v_all.shape == (m + s.n_ghost, 3) and s.n_ghost > 0
    if world.size == 4:
        assert s.halo.hops[0] == 2
    s.free()
