"""Moving rows of per-particle arrays between ranks."""

from __future__ import annotations

import math

import numpy as np
from mpi4py import MPI

from ._rows_kernels import add_rows as _add_rows
from ._rows_kernels import take_rows


def take(a, rows, b=None, out=None):
    """a[rows] for a per-particle array a (any row shape) and integer rows;
    with b, the rows of a and b stacked (rows >= len(a) are b's).  Written
    to `out` (C-contiguous, not overlapping the rows read) when given."""
    if b is None:
        b = a[:0]
    if out is None:
        out = np.empty((len(rows),) + a.shape[1:], dtype=a.dtype)
    elif not out.flags.c_contiguous:
        raise ValueError("take: out must be C-contiguous")
    if len(rows):
        if a.ndim == 2:
            take_rows(a, b, rows, out)
        else:
            width = row_size(a)
            take_rows(a.reshape(len(a), width), b.reshape(len(b), width), rows,
                      out.reshape(len(rows), width))
    return out


def add_rows(a, rows, b):
    """a[rows] += b for a per-particle array a (rows distinct, not overlapping b)."""
    if len(rows):
        if a.ndim == 2:
            _add_rows(a, rows, b)
        else:
            width = row_size(a)
            _add_rows(a.reshape(len(a), width), rows, b.reshape(len(b), width))


def row_size(a):
    """Items in one row of a per-particle array."""
    return math.prod(a.shape[1:])


def send_rows(comm, dest, arrays):
    """Send row k of every array to rank dest[k].  Collective on `comm`.

    Returns the received arrays, rows grouped by source rank in rank order and,
    within a source, in their original order.
    """
    order = np.argsort(dest, kind="stable")
    send_counts = np.bincount(dest, minlength=comm.size).astype(np.int64)
    recv_counts = np.empty_like(send_counts)
    comm.Alltoall(send_counts, recv_counts)
    return [_alltoallv(comm, np.ascontiguousarray(a[order]), send_counts, recv_counts)
            for a in arrays]


def send_grouped(comm, rows, send_counts):
    """Send rows already grouped by destination rank, send_counts[r] of them
    to rank r.  Collective on `comm`.  Returns the rows received, grouped by
    source rank in rank order."""
    recv_counts = np.empty_like(send_counts)
    comm.Alltoall(send_counts, recv_counts)
    return _alltoallv(comm, np.ascontiguousarray(rows), send_counts, recv_counts)


def _alltoallv(comm, a, send_counts, recv_counts):
    """The rows of `a` (grouped by destination) exchanged as bytes, counts in rows."""
    item = a.dtype.itemsize * row_size(a)
    recv = np.empty((int(recv_counts.sum()),) + a.shape[1:], dtype=a.dtype)
    comm.Alltoallv([a.view(np.uint8).reshape(-1), send_counts * item, MPI.BYTE],
                   [recv.view(np.uint8).reshape(-1), recv_counts * item, MPI.BYTE])
    return recv


def block_owner(ids, n_global, size):
    """Rank holding each id when ids 0..n_global-1 are cut into `size` contiguous blocks
    (the first n_global % size blocks one longer)."""
    per, extra = divmod(n_global, size)
    big = extra * (per + 1)
    ids = np.asarray(ids, dtype=np.int64)
    return np.where(ids < big, ids // max(per + 1, 1),
                    extra + (ids - big) // max(per, 1)).astype(np.int64)


def rows_by_id(comm, ids, arrays, n_global, wanted):
    """Rows of the ids in `wanted`, from ranks that hold them.  Collective on `comm`.

    Every id in 0..n_global-1 is held by one rank (rows `arrays` keyed by
    `ids`); each rank asks for any ids (`wanted`, repeats across ranks
    allowed) and gets their rows in the order asked.
    """
    moved = send_rows(comm, block_owner(ids, n_global, comm.size), [ids] + list(arrays))
    first = _block_start(n_global, comm.size, comm.rank)
    stores = []
    for a in moved[1:]:
        store = np.empty((len(a),) + a.shape[1:], dtype=a.dtype)
        store[moved[0] - first] = a
        stores.append(store)
    wanted = np.asarray(wanted, dtype=np.int64)
    asker = np.full(len(wanted), comm.rank, dtype=np.int64)
    slot = np.arange(len(wanted), dtype=np.int64)
    q_ids, q_asker, q_slot = send_rows(comm, block_owner(wanted, n_global, comm.size),
                                       [wanted, asker, slot])
    answers = send_rows(comm, q_asker, [q_slot] + [s[q_ids - first] for s in stores])
    out = []
    for a in answers[1:]:
        b = np.empty_like(a)
        b[answers[0]] = a
        out.append(b)
    return out


def _block_start(n_global, size, rank):
    per, extra = divmod(n_global, size)
    return rank * per + min(rank, extra)
