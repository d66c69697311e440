"""H5MD trajectories (hpcms/io/h5md.py): layout, contents, rank-count independence,
restart by truncate-and-append, and other readers (MDAnalysis, h5dump).

Tests taking `comm_kind` run on COMM_SELF in the serial run and on COMM_WORLD
under mpirun (the `mpi` mark); files are read back with h5py on rank 0 after
the writer has closed them, and compared byte for byte with the particles
gathered by id.
"""

import shutil
import subprocess

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from decks import deck
from hpcms import __version__
from hpcms.io.h5md import OBSERVABLES, H5MDWriter, TrajectoryObserver, _kept_frames
from hpcms.parallel.box import Box
from hpcms.particles.system import ParticleSystem
from hpcms.run import build_simulation, prepare

# A sheared triclinic box whose lists are rebuilt every 5 steps only: frames
# between rebuilds hold particles outside the box, and image flags are set.
DECK = {"system": {"cells": [4, 4, 4],
                   "deform": [[1.0, 0.2, 0.1], [0.0, 1.0, -0.15], [0.0, 0.0, 1.0]]},
        "neighbor": {"every": 5, "check": False}}
FRAMES = (0, 6, 12, 18, 24)
PARTICLE_ELEMENTS = ("position", "velocity", "image", "species", "id")

COMMS = [pytest.param("self", id="self"),
         pytest.param("world", id="world", marks=pytest.mark.mpi)]


def get_comm(kind):
    return MPI.COMM_SELF if kind == "self" else MPI.COMM_WORLD


def traj_path(tmp, kind, name="traj"):
    """A file name unique to the writers: one per rank for COMM_SELF."""
    suffix = f"-{MPI.COMM_WORLD.rank}" if kind == "self" else ""
    return tmp / f"{name}-{kind}{suffix}.h5"


def simulation(comm):
    return build_simulation(comm, prepare(comm, deck(**DECK)))


def write_run(comm, path, frames=FRAMES, *, sim=None, writer=None):
    """Run DECK, writing a frame (with thermo) at each step of `frames`.

    Returns, on rank 0 of comm, [(step, time, thermo, [ids, x, v, image, types])]
    per frame and the box; None elsewhere.
    """
    sim = sim or simulation(comm)
    s = sim.system
    w = writer or H5MDWriter(comm, path, n_global=s.n_global, box=s.box, species_names=["Ar"],
                             author="test")
    expected = []
    for step in frames:
        sim.run(step - sim.step)
        th = sim.thermo()
        w.write_frame(s, sim.step, sim.time, th)
        got = s.gather(s.x, s.v, s.image, s.types)
        if comm.rank == 0:
            expected.append((sim.step, sim.time, th, got))
    w.close()
    box = s.box
    s.free()
    return (expected, box) if comm.rank == 0 else None


def all_datasets(path):
    """{name: (dtype, shape, bytes)} of every dataset under /particles and /observables."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = obj[...]
                out[name] = (data.dtype.str, data.shape, data.tobytes())
        f["particles"].visititems(lambda n, o: visit("particles/" + n, o))
        if "observables" in f:
            f["observables"].visititems(lambda n, o: visit("observables/" + n, o))
    return out


@pytest.mark.parametrize("comm_kind", COMMS)
def test_layout_and_contents(comm_kind, mpi_tmp_path):
    comm = get_comm(comm_kind)
    path = traj_path(mpi_tmp_path, comm_kind)
    result = write_run(comm, path)
    if comm.rank != 0:
        return
    expected, box = result
    n = len(expected[0][3][0])
    with h5py.File(path, "r") as f:
        h5md = f["h5md"]
        assert h5md.attrs["version"].tolist() == [1, 1]
        assert h5md["author"].attrs["name"] == "test"
        assert h5md["creator"].attrs["name"] == "hpcms"
        assert h5md["creator"].attrs["version"] == __version__
        g = f["particles/all"]
        assert int(g["box"].attrs["dimension"]) == 3
        assert [b.decode() for b in g["box"].attrs["boundary"]] == ["periodic"] * 3
        assert [b.decode() for b in g["species"].attrs["names"]] == ["Ar"]

        # step and time stored once (position), hard-linked everywhere else
        step, time = g["position/step"], g["position/time"]
        assert step.dtype == np.int64 and time.dtype == np.float64
        for name in PARTICLE_ELEMENTS[1:] + ("box/edges", "box/offset"):
            for ds in ("step", "time"):
                assert isinstance(g[name].get(ds, getlink=True), h5py.HardLink)
                assert g[f"{name}/{ds}"].id == g[f"position/{ds}"].id
                assert (h5py.h5o.get_info(g[f"{name}/{ds}"].id).addr
                        == h5py.h5o.get_info(g[f"position/{ds}"].id).addr)
        assert step[...].tolist() == list(FRAMES)
        assert time[...].tolist() == [e[1] for e in expected]

        shapes = {"position": (3,), "velocity": (3,), "image": (3,), "species": (), "id": ()}
        dtypes = {"position": np.float64, "velocity": np.float64, "image": np.int64,
                  "species": np.int32, "id": np.int64}
        for name in PARTICLE_ELEMENTS:
            value = g[f"{name}/value"]
            assert value.shape == (len(FRAMES), n) + shapes[name]
            assert value.dtype == dtypes[name]
            assert value.maxshape == (None, n) + shapes[name]
            assert value.chunks[0] == 1
        edges = g["box/edges/value"][...]
        offset = g["box/offset/value"][...]
        assert edges.shape == (len(FRAMES), 3, 3)
        for k, (st, _t, th, (ids, x, v, image, types)) in enumerate(expected):
            assert np.array_equal(g["id/value"][k], ids)
            assert np.all(np.diff(ids) > 0)                      # rows in id order
            assert g["position/value"][k].tobytes() == x.tobytes()
            assert g["velocity/value"][k].tobytes() == v.tobytes()
            assert np.array_equal(g["image/value"][k], image)
            assert np.array_equal(g["species/value"][k], types)
            assert np.array_equal(edges[k], box.cell.T)          # rows are box vectors
            assert np.array_equal(offset[k], box.origin)

        # Documented unwrapping: x + image @ edges moves continuously, while the
        # stored positions jump by a box vector when a particle is wrapped.
        x = g["position/value"][...]
        image = g["image/value"][...]
        unwrapped = x + np.einsum("fni,fij->fnj", image.astype(float), edges)
        assert np.abs(image[-1]).sum() > 0
        assert np.abs(np.diff(unwrapped, axis=0)).max() < 0.5
        assert np.abs(np.diff(x, axis=0)).max() > 0.5 * box.widths.min()
        frac = box.fractional(x.reshape(-1, 3))
        assert np.any((frac < 0) | (frac >= 1))                  # not wrapped between builds

        obs = f["observables"]
        for name in OBSERVABLES:
            assert obs[f"{name}/step"].id == obs["temperature/step"].id
            assert obs[f"{name}/step"][...].tolist() == list(FRAMES)
            assert obs[f"{name}/value"][...].tolist() == [getattr(e[2], name) for e in expected]


@pytest.mark.mpi
def test_same_file_on_any_rank_count(mpi_tmp_path):
    """The trajectory written on 1 rank and on all ranks is the same, byte for byte."""
    world = MPI.COMM_WORLD
    if world.rank == 0:
        write_run(MPI.COMM_SELF, mpi_tmp_path / "serial.h5")
    write_run(world, mpi_tmp_path / "world.h5")
    if world.rank == 0:
        ref = all_datasets(mpi_tmp_path / "serial.h5")
        got = all_datasets(mpi_tmp_path / "world.h5")
        assert sorted(ref) == sorted(got)
        assert "particles/all/position/value" in got
        for name in ref:
            assert ref[name] == got[name], name


@pytest.mark.parametrize("comm_kind", COMMS)
def test_open_append_truncates_and_continues(comm_kind, mpi_tmp_path):
    """A restart from step 12 drops the later frames and rewrites them identically."""
    comm = get_comm(comm_kind)
    path = traj_path(mpi_tmp_path, comm_kind)
    straight = traj_path(mpi_tmp_path, comm_kind, "straight")
    write_run(comm, path)
    if comm.rank == 0:
        shutil.copyfile(path, straight)
    comm.Barrier()

    w = H5MDWriter.open_append(comm, path, truncate_after_step=14)
    assert (w.n_frames, w.last_step, w.n_observable_frames) == (3, 12, 3)
    assert w.n_global == 256 and w.species_names == ["Ar"]
    sim = simulation(comm)           # the run restarted: same deck, same state at step 12
    sim.run(12)
    with pytest.raises(ValueError, match="does not follow"):
        w.write_frame(sim.system, sim.step, sim.time, sim.thermo())
    with pytest.raises(ValueError, match="observables"):
        w.write_frame(sim.system, 13, 13 * sim.dt)
    write_run(comm, path, FRAMES[3:], sim=sim, writer=w)
    if comm.rank == 0:
        assert all_datasets(path) == all_datasets(straight)

    # Reopened without truncation, it keeps every frame and appends after them.
    w = H5MDWriter.open_append(comm, path)
    assert (w.n_frames, w.last_step) == (len(FRAMES), FRAMES[-1])
    sim = simulation(comm)
    sim.run(FRAMES[-1])
    result = write_run(comm, path, (30,), sim=sim, writer=w)
    if comm.rank == 0:
        with h5py.File(path, "r") as f:
            assert f["particles/all/position/step"][...].tolist() == list(FRAMES) + [30]
            assert f["particles/all/position/value"].shape == (len(FRAMES) + 1, 256, 3)
            assert f["observables/pressure/value"][-1] == result[0][0][2].pressure
            assert f["particles/all/position/value"][-1].tobytes() == result[0][0][3][1].tobytes()


@pytest.mark.parametrize("comm_kind", COMMS)
def test_mdanalysis_reads_the_trajectory(comm_kind, mpi_tmp_path):
    comm = get_comm(comm_kind)
    path = traj_path(mpi_tmp_path, comm_kind)
    result = write_run(comm, path)
    if comm.rank != 0:
        return
    import MDAnalysis as mda
    from MDAnalysis.lib.mdamath import triclinic_box

    expected, box = result
    n = len(expected[0][3][0])
    # MDAnalysis infers a topology only from a group named particles/trajectory,
    # and converts units only when the file names them: hpcms's are reduced.
    u = mda.Universe.empty(n, trajectory=False)
    u.load_new(str(path), format="H5MD", convert_units=False)
    assert u.trajectory.n_frames == len(FRAMES)
    for ts, (step, time, th, (_ids, x, v, _image, _types)) in zip(u.trajectory, expected):
        assert ts.data["step"] == step
        assert ts.time == pytest.approx(time, rel=1e-6)
        assert np.array_equal(ts.positions, x.astype(np.float32))
        assert np.array_equal(ts.velocities, v.astype(np.float32))
        assert np.allclose(ts.dimensions, triclinic_box(*box.cell.T), rtol=1e-6)
        for name in OBSERVABLES:
            assert ts.data[name] == getattr(th, name)


def test_h5dump_reads_the_header(tmp_path):
    h5dump = shutil.which("h5dump")
    if h5dump is None:
        pytest.skip("h5dump not installed (Debian package hdf5-tools)")
    path = tmp_path / "traj.h5"
    write_run(MPI.COMM_SELF, path, (0, 6))
    out = subprocess.run([h5dump, "-H", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for text in ('GROUP "h5md"', 'GROUP "position"', 'GROUP "edges"', "HARDLINK",
                 "( 2, 256, 3 ) / ( H5S_UNLIMITED, 256, 3 )"):
        assert text in out.stdout


@pytest.mark.parametrize("comm_kind", COMMS)
def test_observer_and_refusals(comm_kind, mpi_tmp_path):
    comm = get_comm(comm_kind)
    path = traj_path(mpi_tmp_path, comm_kind)
    sim = simulation(comm)
    s = sim.system
    writer = H5MDWriter(comm, path, n_global=s.n_global, box=s.box)
    obs = TrajectoryObserver(writer, 4)
    obs(sim)                                   # the initial frame, as a run writes it
    sim.run(10, [obs])
    obs(sim)                                   # step 10: not a multiple of 4, no frame
    sim.run(2, [obs])
    obs(sim)                                   # step 12 is in the file already
    assert writer.last_step == 12 and writer.n_frames == 4
    with pytest.raises(ValueError, match="thermo is of step"):
        writer.write_frame(s, 13, 13 * sim.dt, sim.thermo())
    obs.close()
    obs.close()                                # closing twice is harmless
    with pytest.raises(ValueError, match="closed"):
        writer.write_frame(s, 14, 14 * sim.dt)
    with pytest.raises(FileExistsError):
        H5MDWriter(comm, path, n_global=s.n_global, box=s.box)
    with pytest.raises(FileNotFoundError):
        H5MDWriter.open_append(comm, traj_path(mpi_tmp_path, comm_kind, "missing"))
    plain = traj_path(mpi_tmp_path, comm_kind, "plain")
    if comm.rank == 0:
        with h5py.File(plain, "w") as f:
            f["x"] = 1
    comm.Barrier()
    with pytest.raises(ValueError, match="not an hpcms H5MD trajectory"):
        H5MDWriter.open_append(comm, plain)
    other = traj_path(mpi_tmp_path, comm_kind, "other")
    with H5MDWriter(comm, other, n_global=s.n_global + 1, box=s.box) as w:
        with pytest.raises(ValueError, match="particles"):
            w.write_frame(s, 0, 0.0)
    s.free()
    if comm.rank == 0:
        with h5py.File(path, "r") as f:
            assert f["particles/all/position/step"][...].tolist() == [0, 4, 8, 12]
            assert f["observables/temperature/step"][...].tolist() == [0, 4, 8, 12]
            assert "names" not in f["particles/all/species"].attrs


@pytest.mark.mpi
def test_ranks_without_particles_take_part(mpi_tmp_path):
    """Two particles on any number of ranks: most ranks own and write nothing."""
    comm = MPI.COMM_WORLD
    s = ParticleSystem(comm, Box(np.diag([10.0, 11.0, 12.0])), [1.0, 2.0], 1.0, 0.3)
    x = np.array([[9.5, 1.0, 1.0], [0.5, 10.5, 11.5]])
    if comm.rank == 0:
        s.scatter(x, -x, np.array([42, 7]), np.array([1, 0], dtype=np.int32))
    else:
        s.scatter(np.empty((0, 3)), np.empty((0, 3)), np.empty(0, np.int64),
                  np.empty(0, np.int32))
    path = mpi_tmp_path / "two.h5"
    with H5MDWriter(comm, path, n_global=2, box=s.box) as w:
        w.write_frame(s, 0, 0.0)
        w.write_frame(s, 1, 0.5)
    s.free()
    if comm.rank == 0:
        with h5py.File(path, "r") as f:
            g = f["particles/all"]
            assert g["id/value"][...].tolist() == [[7, 42]] * 2
            assert g["species/value"][...].tolist() == [[0, 1]] * 2
            assert np.array_equal(g["position/value"][1], x[::-1])
            assert np.array_equal(g["velocity/value"][1], -x[::-1])
            assert "observables" not in f


def test_kept_frames():
    assert _kept_frames([], None) == 0
    assert _kept_frames([0, 5, 10], None) == 3
    assert _kept_frames([0, 5, 10], 5) == 2
    assert _kept_frames([0, 5, 10], 7) == 2
    assert _kept_frames([0, 5, 10], -1) == 0
    assert _kept_frames([0, 5, 0], None) == 2          # a frame whose step was never written
    assert _kept_frames([3, 5, 5, 9], 100) == 2
