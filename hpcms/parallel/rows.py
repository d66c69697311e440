"""Moving rows of per-particle arrays between ranks."""

from __future__ import annotations

import numpy as np
from mpi4py import MPI


def send_rows(comm, dest, arrays):
    """Send row k of every array to rank dest[k].  Collective on `comm`.

    Returns the received arrays, rows grouped by source rank in rank order and,
    within a source, in their original order.
    """
    order = np.argsort(dest, kind="stable")
    send_counts = np.bincount(dest, minlength=comm.size).astype(np.int64)
    recv_counts = np.empty_like(send_counts)
    comm.Alltoall(send_counts, recv_counts)
    n_new = int(recv_counts.sum())
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a[order])
        item = a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64))
        recv = np.empty((n_new,) + a.shape[1:], dtype=a.dtype)
        comm.Alltoallv([a.view(np.uint8).reshape(-1), send_counts * item, MPI.BYTE],
                       [recv.view(np.uint8).reshape(-1), recv_counts * item, MPI.BYTE])
        out.append(recv)
    return out
