"""Particles in global id order, cut into one contiguous slab per rank.

Files hold particle data as global datasets ordered by particle id, so that
frames and checkpoints compare row by row whatever wrote them.  `IdOrder`
finds once where each id's row is; `to_slabs` then moves particles so that
rank r holds rows [offset, offset + count) of that order, which it writes (or
reads) as one contiguous hyperslab.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from ..parallel.rows import block_owner, send_rows


def block_bounds(n_global, size, rank):
    """Rows [lo, hi) of block `rank` when n_global rows are cut into `size` blocks."""
    per, extra = divmod(n_global, size)
    lo = rank * per + min(rank, extra)
    return lo, lo + per + (1 if rank < extra else 0)


def global_rows(comm, ids):
    """Row of each local id in the global ascending order of all ids.  Collective.

    Ids are bucketed by value range across ranks, sorted there, numbered with
    an exclusive scan of the bucket sizes, and the numbers sent back.
    """
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    lo = comm.allreduce(int(ids.min()) if len(ids) else np.iinfo(np.int64).max, op=MPI.MIN)
    hi = comm.allreduce(int(ids.max()) if len(ids) else -1, op=MPI.MAX)
    span = max(hi - lo + 1, 1)
    bucket = ((ids - lo) * comm.size // span).astype(np.int64) if len(ids) else ids
    origin = np.full(len(ids), comm.rank, dtype=np.int64)
    position = np.arange(len(ids), dtype=np.int64)
    got_ids, got_origin, got_pos = send_rows(comm, bucket, [ids, origin, position])
    order = np.argsort(got_ids, kind="stable")
    start = comm.exscan(len(got_ids)) or 0
    rows = np.empty(len(got_ids), dtype=np.int64)
    rows[order] = start + np.arange(len(got_ids))
    back_rows, back_pos = send_rows(comm, got_origin, [rows, got_pos])
    out = np.empty(len(ids), dtype=np.int64)
    out[back_pos] = back_rows
    return out


def to_slabs(comm, rows, n_global, arrays):
    """Move rows to their block owner and sort them: rank r gets block_bounds(.., r).

    Returns (lo, hi, arrays) with every array now holding rows lo..hi-1 in
    order.  Collective.
    """
    moved = send_rows(comm, block_owner(rows, n_global, comm.size), [rows] + list(arrays))
    lo, hi = block_bounds(n_global, comm.size, comm.rank)
    place = moved[0] - lo
    out = []
    for a in moved[1:]:
        b = np.empty_like(a)
        b[place] = a  # a scatter: no sort needed, rows are known
        out.append(b)
    return lo, hi, out
