"""Checkpoints: one HDF5 file per checkpoint, written collectively.

Layout (format "hpcms-checkpoint", version 1)::

    /                 attrs: format, version, hpcms_version, kind, step, time,
                             n_global, ranks (that wrote it), seed, deck (JSON)
    /box/cell         (3, 3) cell vectors as columns      /box/origin (3,)
    /particles        attr n_global: the rows of a row group (FE runs: /vertices)
    /particles/id     (N,) int64, rows in the writer's rank order (any order)
    /particles/type   (N,) int32 (0-based)
    /particles/position, velocity, force   (N, 3) float64
    /particles/image  (N, 3) int64
    /state/<group>/<name>   whatever the run's components need to continue
                            (integrator, neighbour schedule), small arrays
    every dataset has attr `checksum`: a position-weighted 64-bit sum of its
    words, computable from any partition of its rows (see `_checksum`).

Crash safety: the file is written under a temporary name in the same
directory, closed, fsync'ed, then renamed; the directory is fsync'ed too.
A reader verifies every checksum and names the file and dataset that fail.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from mpi4py import MPI

from .. import __version__
from ..config.errors import DeckError
from ._checksum_kernels import weighted_word_sum
from .hdf5 import open_file, read_rows, write_rows
from .slabs import block_bounds

FORMAT = "hpcms-checkpoint"
VERSION = 1
PATTERN = re.compile(r"^checkpoint-(\d+)\.h5$")
PARTICLE_FIELDS = ("id", "type", "position", "velocity", "force", "image")



class CheckpointError(DeckError):
    """A checkpoint that cannot be used: names the file and what is wrong."""

    def __init__(self, path, problem):
        super().__init__("checkpoint", str(path), problem)
        self.args = (f"checkpoint {path}: {problem}",)

    def __reduce__(self):
        return (CheckpointError, (self.value, self.allowed))


def checkpoint_name(step):
    return f"checkpoint-{step:010d}.h5"


def _checksum(data, first_word):
    """Partial checksum of `data`, whose first word is word `first_word` of the dataset.

    Each 64-bit word w at global position k contributes mix(w) * weight(k)
    modulo 2**64; the dataset's checksum is the sum over all words, so ranks
    add their parts with an integer Allreduce.  Any changed word changes it.
    """
    raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    pad = (-len(raw)) % 8
    if pad:
        raw = np.concatenate([raw, np.zeros(pad, dtype=np.uint8)])
    return np.uint64(weighted_word_sum(raw.view(np.uint64), np.uint64(first_word)))


def _global_checksum(comm, data, first_row):
    if data.dtype.itemsize < 8:
        # Rows of 4-byte words (types) need not fill whole 64-bit words: widen
        # them so that a row's words do not depend on where a rank's part starts.
        data = np.asarray(data).astype(np.int64 if data.dtype.kind == "i" else np.uint64)
    words_per_row = (data.dtype.itemsize * int(np.prod(data.shape[1:], dtype=np.int64))) // 8
    local = np.array([_checksum(data, first_row * words_per_row)], dtype=np.uint64)
    total = np.empty_like(local)
    comm.Allreduce(local, total, op=MPI.SUM)
    return int(total[0])


@dataclass
class Checkpoint:
    """What a checkpoint holds; each row group's arrays are this rank's block of rows."""
    path: str
    step: int
    time: float
    n_global: int
    ranks: int
    kind: str
    seed: int
    deck: dict
    hpcms_version: str
    cell: np.ndarray | None = None
    origin: np.ndarray | None = None
    groups: dict = field(default_factory=dict)   # {group: {name: rows}}
    state: dict = field(default_factory=dict)

    @property
    def particles(self):
        return self.groups.get("particles", {})


def write(comm, directory, *, step, time, kind, seed, deck, cell, origin,
          ids, types, x, v, f, image, state):
    """Write a particle run's checkpoint-<step>.h5 into `directory`.  Collective.

    ids..image are this rank's owned particles in any order; `state` maps
    group names to dicts of small arrays or numbers (the same on every rank).
    Returns the final path.
    """
    particles = dict(zip(PARTICLE_FIELDS, [ids, types, x, v, f, image]))
    return write_groups(comm, directory, step=step, time=time, kind=kind, seed=seed, deck=deck,
                        groups={"particles": particles}, state=state,
                        small={"box/cell": cell, "box/origin": origin})


def write_groups(comm, directory, *, step, time, kind, seed, deck, groups, state, small=None):
    """Write checkpoint-<step>.h5 crash-safely from row groups.  Collective.

    `groups` maps a group name to {name: rows}, each rank holding any subset
    of the rows in any order (an `id` array says which); rows are written as
    one slab per rank at an exclusive-scan offset, with no redistribution.
    `small` holds arrays every rank has whole.  Returns the final path.
    """
    directory = Path(directory)
    final = directory / checkpoint_name(step)
    tmp = directory / (final.name + ".tmp")
    n_rows = {g: comm.allreduce(len(next(iter(rows.values()))), op=MPI.SUM)
              for g, rows in groups.items()}
    first = next(iter(n_rows.values()), 0)
    with open_file(tmp, "w", comm) as h5:
        h5.attrs.update(format=FORMAT, version=VERSION, hpcms_version=__version__, kind=kind,
                        step=step, time=time, n_global=first, ranks=comm.size, seed=seed,
                        deck=json.dumps(deck, default=str))
        for name, value in (small or {}).items():
            _write_small(comm, h5, name, np.asarray(value, dtype=np.float64))
        for group, rows in groups.items():
            count = len(next(iter(rows.values())))
            lo = comm.exscan(count) or 0
            h5.require_group(group).attrs["n_global"] = n_rows[group]
            for name, data in rows.items():
                data = np.ascontiguousarray(data)
                dset = h5.create_dataset(f"{group}/{name}", (n_rows[group],) + data.shape[1:],
                                         data.dtype)
                write_rows(dset, lo, data)
                dset.attrs["checksum"] = _global_checksum(comm, data, lo)
        for group, values in state.items():
            for name, value in values.items():
                _write_small(comm, h5, f"state/{group}/{name}", np.asarray(value))
    if comm.rank == 0:
        _fsync(tmp)
        os.replace(tmp, final)
        _fsync(directory)
    comm.Barrier()
    return final


def _write_small(comm, h5, name, value):
    """A small dataset that every rank holds whole: created by all, written by rank 0."""
    dset = h5.create_dataset(name, value.shape, value.dtype)
    if comm.rank == 0 and value.size:
        dset[...] = value
    dset.attrs["checksum"] = int(_checksum(value, 0))


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(comm, path):
    """Read and verify a checkpoint; each rank gets a block of every row group.  Collective.

    Raises CheckpointError (on every rank) naming the file and the failing
    dataset when the file is unreadable, of another format or version, or
    fails a checksum.
    """
    error, ckpt = None, None
    try:
        ckpt = _read(comm, path)
    except CheckpointError as e:
        error = e
    except (OSError, KeyError, ValueError) as e:
        error = CheckpointError(path, f"cannot be read: {e}")
    errors = comm.allgather(error)
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return ckpt


def _read(comm, path):
    with open_file(path, "r", comm) as h5:
        a = h5.attrs
        if a.get("format") != FORMAT:
            raise CheckpointError(path, f"is not an hpcms checkpoint (format {a.get('format')!r})")
        if int(a["version"]) != VERSION:
            raise CheckpointError(path, f"has layout version {int(a['version'])}; this hpcms "
                                        f"({__version__}) reads version {VERSION} only")
        groups = {}
        row_groups = [g for g in h5 if g == "particles" or "n_global" in h5[g].attrs]
        if a.get("kind") in (None, "md") and "particles" not in row_groups:
            raise CheckpointError(path, "has no particles group")
        for group in row_groups:
            n_global = int(h5[group].attrs.get("n_global", a["n_global"]))
            lo, hi = block_bounds(n_global, comm.size, comm.rank)
            names = sorted(h5[group])
            if group == "particles" and set(names) != set(PARTICLE_FIELDS):
                raise CheckpointError(path, f"particles hold {names}, expected "
                                            f"{list(PARTICLE_FIELDS)}")
            groups[group] = {}
            for name in names:
                dset = h5[f"{group}/{name}"]
                if dset.shape[0] != n_global:
                    raise CheckpointError(path, f"dataset {group}/{name} has {dset.shape[0]} "
                                                f"rows, expected {n_global}")
                data = read_rows(dset, lo, hi)
                if _global_checksum(comm, data, lo) != int(dset.attrs["checksum"]):
                    raise CheckpointError(path, f"dataset {group}/{name} fails its checksum "
                                                "(the file is corrupted)")
                groups[group][name] = data
        small = {}
        h5.visititems(lambda name, obj: small.__setitem__(name, obj[()])
                      if isinstance(obj, h5py.Dataset) and name.split("/")[0] not in row_groups
                      else None)
        for name, value in small.items():
            if int(_checksum(np.asarray(value), 0)) != int(h5[name].attrs["checksum"]):
                raise CheckpointError(path, f"dataset {name} fails its checksum "
                                            "(the file is corrupted)")
        state = {}
        for name, value in small.items():
            if name.startswith("state/"):
                _, group, key = name.split("/", 2)
                state.setdefault(group, {})[key] = value
        return Checkpoint(path=str(path), step=int(a["step"]), time=float(a["time"]),
                          n_global=int(a["n_global"]), ranks=int(a["ranks"]),
                          kind=str(a["kind"]), seed=int(a["seed"]), deck=json.loads(a["deck"]),
                          hpcms_version=str(a["hpcms_version"]),
                          cell=small.get("box/cell"), origin=small.get("box/origin"),
                          groups=groups, state=state)


def candidates(directory):
    """Checkpoint files in `directory`, newest step first (not collective)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), d / p.name) for p in d.iterdir() if (m := PATTERN.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def newest_valid(comm, directory, log=print):
    """The newest checkpoint in `directory` that reads and verifies.  Collective.

    Broken ones are reported through `log` (rank 0) and skipped.  Returns
    a Checkpoint, or None when there is none.
    """
    paths = comm.bcast(candidates(directory) if comm.rank == 0 else None, root=0)
    for path in paths:
        try:
            return read(comm, path)
        except CheckpointError as e:
            if comm.rank == 0:
                log(f"hpcms: skipping checkpoint: {e}")
    return None


def prune(directory, keep):
    """Delete all but the newest `keep` checkpoints (rank 0 only; keep >= 1)."""
    for path in candidates(directory)[keep:]:
        path.unlink(missing_ok=True)
    # Left by a writer that was killed: no write is in progress when prune runs.
    for path in Path(directory).glob("checkpoint-*.h5.tmp"):
        path.unlink(missing_ok=True)
