"""H5MD 1.1 trajectories, written collectively with parallel HDF5.

Layout (https://nongnu.org/h5md/h5md.html; N = n_global, F = frames)::

    /h5md                      attrs: version = [1, 1]
        author                 attrs: name
        creator                attrs: name = "hpcms", version
    /particles/all
        box                    attrs: dimension = 3, boundary = ["periodic"] * 3
            edges              step, time (links), value (F, 3, 3) float64
            offset             step, time (links), value (F, 3)    float64
        position               step (F,) int64, time (F,) float64, value (F, N, 3) float64
        velocity               step, time (links), value (F, N, 3) float64
        image                  step, time (links), value (F, N, 3) int64
        species                step, time (links), value (F, N)    int32  attrs: (names)
        id                     step, time (links), value (F, N)    int64
    /observables               only when frames are written with `thermo`
        temperature            step (F,) int64, time (F,) float64, value (F,) float64
        potential_energy, kinetic_energy, total_energy, pressure
                               step, time (links to temperature's), value (F,) float64

Conventions:

- Row k of every per-particle dataset is the particle with the k-th smallest
  id, on every frame, whatever the number of ranks that wrote it: frames and
  files compare row by row (and byte for byte: hpcms runs are bitwise
  identical on any rank count).
- `step` and `time` are stored once, in `position`; every other element of
  `/particles/all` (the box's `edges` and `offset` included) holds HDF5 hard
  links to those two datasets, as H5MD allows for data sampled together.  The
  observables share `temperature`'s step and time the same way.
- `box/edges/value[f]` is a 3x3 matrix whose ROWS are the box vectors a, b, c
  (the H5MD convention for a triclinic box; an orthogonal box is the diagonal
  matrix).  hpcms's `Box.cell` holds them as columns, so edges = cell.T.
  `box/offset/value[f]` is the box origin (its lower corner).
- Positions are written as hpcms stores them: wrapped into the box at
  reneighbouring steps only, so in between a particle may sit slightly
  outside the box.  `image` counts the box crossings; the unwrapped position
  is  x + image @ edges  (per particle; = x + cell @ image in hpcms's column
  convention).
- `species` is the 0-based hpcms particle type; optional type names are kept
  in the attribute `names` of the `species` group (names[t] for type t).
- `observables` hold per-particle energies, temperature and pressure exactly
  as thermo.csv does.  A file has them on every frame or on none (readers
  such as MDAnalysis index observables by trajectory frame).
- Quantities are in hpcms's reduced units; no `unit` attributes are written
  (MDAnalysis then needs `convert_units=False`).

Parallel HDF5: opening, creating groups, datasets, attributes and links, and
resizing are collective, so every rank makes the same calls with the same
arguments; only the data each rank writes differs.  A rank with nothing to
write still takes part in every write with an empty selection (h5py's
high-level `dset[...] = data` returns early on an empty selection and would
leave the other ranks waiting in the collective write, h5py issue 965), so
writes go through h5py's low-level `DatasetID.write` with a collective
transfer property list.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
from h5py import h5fd, h5p, h5s

from .. import __version__
from .slabs import global_rows, to_slabs

H5MD_VERSION = (1, 1)
GROUP = "all"
OBSERVABLES = ("temperature", "potential_energy", "kinetic_energy", "total_energy", "pressure")

# element name -> (trailing shape of one particle's row, dtype, fill value)
PARTICLE_ELEMENTS = {
    "position": ((3,), np.float64, 0.0),
    "velocity": ((3,), np.float64, 0.0),
    "image": ((3,), np.int64, 0),
    "species": ((), np.int32, -1),
    "id": ((), np.int64, -1),
}

_CHUNK_BYTES = 1 << 22      # per-particle chunks hold one frame, at most 4 MiB
_SERIES_CHUNK = 1024        # step / time / box / observables: frames per chunk


def _open(comm, path, mode):
    """h5py.File on `comm` with the mpio driver; plain HDF5 for one rank without it.

    Debian's h5py loads its MPI build only under mpirun (or with
    H5PY_ALWAYS_USE_MPI set); a one-rank run outside mpirun uses the serial
    build, which writes the same file.  Collective.
    """
    if h5py.get_config().mpi:
        return h5py.File(path, mode, driver="mpio", comm=comm), True
    if comm.size == 1:
        return h5py.File(path, mode), False
    raise RuntimeError("this h5py has no MPI support, which a trajectory written by "
                       f"{comm.size} ranks needs (Debian: run under mpirun or set "
                       "H5PY_ALWAYS_USE_MPI=1 before importing h5py)")


def _strings(values):
    """A fixed-length string array attribute value (what C readers expect)."""
    values = [str(v).encode("utf-8") for v in values]
    return np.array(values, dtype=f"S{max([len(v) for v in values] + [1])}")


def _kept_frames(steps, truncate_after_step):
    """How many leading frames to keep: steps strictly increasing, none past the limit.

    A frame whose step does not exceed the previous one was never finished
    (step is the last thing a frame writes): it and everything after it go.
    """
    steps = np.asarray(steps, dtype=np.int64)
    keep = len(steps)
    if keep > 1:
        bad = np.flatnonzero(np.diff(steps) <= 0)
        if len(bad):
            keep = int(bad[0]) + 1
    if truncate_after_step is not None:
        keep = min(keep, int(np.searchsorted(steps[:keep], int(truncate_after_step),
                                             side="right")))
    return keep


class H5MDWriter:
    """An H5MD 1.1 trajectory of `n_global` particles, written collectively on `comm`.

    Collective on `comm`: the constructor, `open_append`, `write_frame` and
    `close` must be called by every rank with the same arguments (except the
    particle system's own rank-local content).  The file must not exist: a
    run never overwrites an earlier one's output.

    `box` is the run's Box (checked; each frame stores its system's box, so a
    box that deforms during the run is recorded frame by frame).
    `species_names[t]` names type t; `author` and `creator_version` go to
    /h5md/author and /h5md/creator.  Frames are appended by `write_frame`;
    `open_append` continues an existing file.
    """

    def __init__(self, comm, path, *, n_global, box, species_names=None,
                 author="hpcms user", creator_version=__version__):
        n_global = int(n_global)
        if n_global < 1:
            raise ValueError(f"n_global must be at least 1, got {n_global}")
        if np.shape(box.cell) != (3, 3):
            raise ValueError(f"box.cell must be 3x3, got shape {np.shape(box.cell)}")
        exists = comm.bcast(os.path.exists(path) if comm.rank == 0 else None, root=0)
        if exists:
            raise FileExistsError(f"{path} already exists; trajectories are never overwritten")
        f, mpi = _open(comm, path, "w-")
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array(H5MD_VERSION, dtype=np.int32)
        h5md.create_group("author").attrs["name"] = str(author)
        creator = h5md.create_group("creator")
        creator.attrs["name"] = "hpcms"
        creator.attrs["version"] = str(creator_version)

        group = f.create_group(f"particles/{GROUP}")
        box_group = group.create_group("box")
        box_group.attrs["dimension"] = np.int32(3)
        box_group.attrs["boundary"] = _strings(["periodic"] * 3)
        step = time = None
        for name, (tail, dtype, fill) in PARTICLE_ELEMENTS.items():    # position first
            g = self._element(group, name, (n_global,) + tail, dtype, fill, step, time,
                              per_particle=True)
            step, time = g["step"], g["time"]
        self._element(box_group, "edges", (3, 3), np.float64, 0.0, step, time)
        self._element(box_group, "offset", (3,), np.float64, 0.0, step, time)
        if species_names is not None:
            group["species"].attrs["names"] = _strings(species_names)
        f.flush()
        self._attach(comm, f, mpi, path)

    # -- layout ---------------------------------------------------------------

    @staticmethod
    def _element(parent, name, row_shape, dtype, fill, step=None, time=None, *,
                 per_particle=False):
        """A time-dependent element {step, time, value}; step/time linked when given."""
        g = parent.create_group(name)
        if step is None:
            g.create_dataset("step", (0,), np.int64, maxshape=(None,), chunks=(_SERIES_CHUNK,))
            g.create_dataset("time", (0,), np.float64, maxshape=(None,), chunks=(_SERIES_CHUNK,))
        else:
            g["step"] = step        # HDF5 hard links: one dataset, two names
            g["time"] = time
        if per_particle:
            # One frame per chunk, cut along the particles if large.
            row_bytes = np.dtype(dtype).itemsize * int(np.prod(row_shape[1:], dtype=np.int64))
            rows = max(1, min(row_shape[0], _CHUNK_BYTES // max(row_bytes, 1)))
            chunks = (1, rows) + tuple(row_shape[1:])
        else:
            chunks = (_SERIES_CHUNK,) + tuple(row_shape)
        g.create_dataset("value", (0,) + tuple(row_shape), dtype,
                         maxshape=(None,) + tuple(row_shape), chunks=chunks, fillvalue=fill)
        return g

    def _attach(self, comm, f, mpi, path):
        """Hold the open file's datasets; count its frames."""
        self.comm = comm
        self.path = str(path)
        self.file = f
        self._dxpl = None
        if mpi:
            self._dxpl = h5p.create(h5p.DATASET_XFER)
            self._dxpl.set_dxpl_mpio(h5fd.MPIO_COLLECTIVE)
        group = f[f"particles/{GROUP}"]
        self.group = group
        self.n_global = int(group["position/value"].shape[1])
        names = group["species"].attrs.get("names")
        self.species_names = None if names is None else [
            n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
        self._step = group["position/step"]
        self._time = group["position/time"]
        self._values = {name: group[f"{name}/value"] for name in PARTICLE_ELEMENTS}
        self._values["edges"] = group["box/edges/value"]
        self._values["offset"] = group["box/offset/value"]
        self.n_frames = int(self._step.shape[0])
        self.last_step = int(self._step[self.n_frames - 1]) if self.n_frames else None
        self._obs = None
        if "observables" in f:
            obs = f["observables"]
            self._obs = {name: obs[f"{name}/value"] for name in OBSERVABLES}
            self._obs_step = obs[f"{OBSERVABLES[0]}/step"]
            self._obs_time = obs[f"{OBSERVABLES[0]}/time"]

    def _create_observables(self):
        obs = self.file.create_group("observables")
        first = self._element(obs, OBSERVABLES[0], (), np.float64, 0.0)
        for name in OBSERVABLES[1:]:
            self._element(obs, name, (), np.float64, 0.0, first["step"], first["time"])
        self._obs = {name: obs[f"{name}/value"] for name in OBSERVABLES}
        self._obs_step = first["step"]
        self._obs_time = first["time"]

    @property
    def n_observable_frames(self):
        return 0 if self._obs is None else int(self._obs_step.shape[0])

    # -- writing --------------------------------------------------------------

    def _write(self, dset, frame, data, start=(), mine=True):
        """Collective: data into dset[frame, start...] (its shape gives the extent).

        A rank with no rows (or mine=False) selects nothing and still joins
        the collective write.
        """
        data = np.asarray(data, dtype=dset.dtype)      # a 0-d value stays 0-d
        if not data.flags.c_contiguous:
            data = data.copy()
        count = (1,) + data.shape
        fspace = dset.id.get_space()
        if mine and data.size:
            offset = (frame,) + tuple(start) + (0,) * (len(count) - 1 - len(start))
            fspace.select_hyperslab(offset, count)
            mspace = h5s.create_simple(count)
        else:
            fspace.select_none()
            mspace = h5s.create_simple((1,))
            mspace.select_none()
            data = np.zeros(1, dtype=dset.dtype)
        dset.id.write(mspace, fspace, data, dxpl=self._dxpl)

    def write_frame(self, system, step, time, thermo=None):
        """Append the particles of `system` at (step, time), and `thermo` if given.

        `system` is a ParticleSystem on this writer's communicator; its owned
        particles are moved into id order (rank r writes one contiguous slab).
        `thermo` (a Thermo of the same step) adds a row to /observables; give
        it on every frame of a file or on none.  Steps must increase.
        Collective.
        """
        if self.file is None:
            raise ValueError(f"{self.path}: the trajectory is closed")
        step = int(step)
        if system.n_global != self.n_global:
            raise ValueError(f"{self.path} holds {self.n_global} particles, "
                             f"the system has {system.n_global}")
        if self.last_step is not None and step <= self.last_step:
            raise ValueError(f"{self.path}: step {step} does not follow the last frame's "
                             f"step {self.last_step}")
        if thermo is not None and int(thermo.step) != step:
            raise ValueError(f"thermo is of step {thermo.step}, the frame of step {step}")
        if (thermo is None) != (self._obs is None) and (self.n_frames or self._obs is not None):
            have = "has" if self._obs is not None else "has no"
            raise ValueError(f"{self.path} {have} observables on its earlier frames: write "
                             "thermo with every frame or with none")

        n = system.n_local
        rows = global_rows(self.comm, system.ids[:n])
        lo, hi, (x, v, image, types, ids) = to_slabs(
            self.comm, rows, self.n_global,
            [system.x[:n], system.v[:n], system.image[:n], system.types[:n], system.ids[:n]])
        if len(ids) != hi - lo:
            raise RuntimeError(f"rank {self.comm.rank} got {len(ids)} rows for slab [{lo}, {hi})")

        frame = self.n_frames
        for dset in (self._step, self._time, *self._values.values()):
            dset.resize(frame + 1, axis=0)
        for name, data in (("position", x), ("velocity", v), ("image", image),
                           ("species", types), ("id", ids)):
            self._write(self._values[name], frame, data, (lo,))
        root = self.comm.rank == 0
        self._write(self._values["edges"], frame, system.box.cell.T, mine=root)
        self._write(self._values["offset"], frame, system.box.origin, mine=root)
        # step last: a frame whose step was not written is dropped on append.
        self._write(self._time, frame, np.float64(time), mine=root)
        self._write(self._step, frame, np.int64(step), mine=root)
        self.n_frames = frame + 1
        self.last_step = step

        if thermo is not None:
            if self._obs is None:
                self._create_observables()
            k = self.n_observable_frames
            for dset in (self._obs_step, self._obs_time, *self._obs.values()):
                dset.resize(k + 1, axis=0)
            for name, dset in self._obs.items():
                self._write(dset, k, np.float64(getattr(thermo, name)), mine=root)
            self._write(self._obs_time, k, np.float64(time), mine=root)
            self._write(self._obs_step, k, np.int64(step), mine=root)
        self.file.flush()

    def close(self):
        """Close the file.  Collective; a second call does nothing."""
        if self.file is not None:
            self.file.close()
            self.file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- continuing -----------------------------------------------------------

    @classmethod
    def open_append(cls, comm, path, *, truncate_after_step=None):
        """Reopen a trajectory to continue it, e.g. after a restart.  Collective.

        Frames with step > truncate_after_step (None: keep all) are dropped by
        shrinking the datasets, as are frames that were never finished; new
        frames are appended after the last kept one.
        """
        exists = comm.bcast(os.path.isfile(path) if comm.rank == 0 else None, root=0)
        if not exists:
            raise FileNotFoundError(f"{path}: no such trajectory")
        f, mpi = _open(comm, path, "r+")
        try:
            version = tuple(int(a) for a in f["h5md"].attrs["version"])
            if version != H5MD_VERSION:
                raise ValueError(f"{path} is H5MD {version}; this writer continues "
                                 f"H5MD {H5MD_VERSION} files only")
            self = cls.__new__(cls)
            self._attach(comm, f, mpi, path)
        except KeyError as e:
            f.close()
            raise ValueError(f"{path} is not an hpcms H5MD trajectory (missing {e})") from None
        except ValueError:
            f.close()
            raise
        keep = _kept_frames(self._step[...], truncate_after_step)
        if keep < self.n_frames:
            for dset in (self._step, self._time, *self._values.values()):
                dset.resize(keep, axis=0)
            self.n_frames = keep
            self.last_step = int(self._step[keep - 1]) if keep else None
        if self._obs is not None:
            keep = _kept_frames(self._obs_step[...], truncate_after_step)
            if keep < self.n_observable_frames:
                for dset in (self._obs_step, self._obs_time, *self._obs.values()):
                    dset.resize(keep, axis=0)
        f.flush()
        return self


class TrajectoryObserver:
    """Writes a frame (with thermo observables) at every step that is a multiple of `every`.

    An observer for `Simulation.run` (`due`, `needs_rebuild`, `__call__`).
    Calling it at a step that is not such a multiple, or whose frame the file
    already holds (the first step of a restart), writes nothing: a run that
    stopped and resumed writes the same frames as one that did not.
    `sim` needs `.system`, `.step`, `.time` and `.thermo()`.  Collective.
    """

    def __init__(self, writer, every, *, thermo=True):
        self.writer = writer
        self.every = int(every)
        self.thermo = thermo

    def due(self, step, end=None):
        return self.every > 0 and step % self.every == 0

    def needs_rebuild(self, step):
        return False

    def __call__(self, sim):
        last = self.writer.last_step
        if not self.due(sim.step) or (last is not None and sim.step <= last):
            return
        self.writer.write_frame(sim.system, sim.step, sim.time,
                                sim.thermo() if self.thermo else None)

    def close(self):
        self.writer.close()
