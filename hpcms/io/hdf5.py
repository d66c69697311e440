"""Collective row-slab reads and writes with h5py's mpio driver.

h5py skips the HDF5 call when a selection is empty, and a rank that skips a
collective call leaves the others waiting (h5py issue 965).  These helpers
make every rank take part, with an empty selection when it has no rows.
"""

from __future__ import annotations

import h5py
import numpy as np


def open_file(path, mode, comm):
    """h5py.File on `comm` with the mpio driver; plain when h5py lacks MPI and comm has one rank.

    Collective.
    """
    if h5py.get_config().mpi:
        return h5py.File(path, mode, driver="mpio", comm=comm)
    if comm.size == 1:
        return h5py.File(path, mode)
    raise RuntimeError("h5py was built without MPI: parallel HDF5 is needed on several ranks "
                       "(Debian: python3-h5py-mpi, selected with H5PY_ALWAYS_USE_MPI=1)")


def _collective():
    dxpl = h5py.h5p.create(h5py.h5p.DATASET_XFER)
    if h5py.get_config().mpi:
        dxpl.set_dxpl_mpio(h5py.h5fd.MPIO_COLLECTIVE)
    return dxpl


def _spaces(dset, lo, shape):
    fspace = dset.id.get_space()
    if shape[0]:
        fspace.select_hyperslab((lo,) + (0,) * (len(shape) - 1), shape)
        return h5py.h5s.create_simple(shape), fspace, shape
    fspace.select_none()
    dummy = (1,) + tuple(shape[1:])
    mspace = h5py.h5s.create_simple(dummy)
    mspace.select_none()
    return mspace, fspace, dummy


def write_rows(dset, lo, data):
    """Write `data` into rows [lo, lo + len(data)) of `dset`.  Collective."""
    data = np.ascontiguousarray(data, dtype=dset.dtype)
    mspace, fspace, shape = _spaces(dset, lo, data.shape)
    buf = data if data.shape[0] else np.zeros(shape, dtype=dset.dtype)
    dset.id.write(mspace, fspace, buf, dxpl=_collective())


def read_rows(dset, lo, hi):
    """Rows [lo, hi) of `dset` as an array.  Collective."""
    shape = (hi - lo,) + dset.shape[1:]
    mspace, fspace, buf_shape = _spaces(dset, lo, shape)
    buf = np.empty(buf_shape, dtype=dset.dtype)
    dset.id.read(mspace, fspace, buf, dxpl=_collective())
    return buf if shape[0] else np.empty(shape, dtype=dset.dtype)
