"""Kernels of the domain decomposition."""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy", inline="always")
def _owner(s, i, dims, cuts):
    """The rank owning fractional position s[i] (in [0, 1)) on a grid of dims
    ranks, numbered row-major by grid coordinates: along axis d, the c with
    cuts[d, c] <= s < cuts[d, c + 1] (floor(s dims) is the first guess)."""
    r = 0
    for d in range(3):
        n = dims[d]
        if n > 1:
            x = s[i, d]
            c = min(max(int(np.floor(x * n)), 0), n - 1)
            while c > 0 and x < cuts[d, c]:
                c -= 1
            while c < n - 1 and x >= cuts[d, c + 1]:
                c += 1
            r = r * n + c
    return r


@numba.njit(cache=True, error_model="numpy")
def sort_out(s, dims, cuts, rank, kept, leaving, counts):
    """Rows of fractional positions s by owner (`_owner`; cuts (3, max dims +
    1) the planes between ranks along each axis): kept[:k] = the rows `rank`
    owns, leaving[:len(s) - k] = the others grouped by owner in rank order
    (in row order within a group), counts[r] (zeroed by the caller) = how
    many go to rank r.  Returns k."""
    n = s.shape[0]
    k = 0
    m = 0
    dest = np.empty(n, dtype=np.int64)
    for i in range(n):
        r = _owner(s, i, dims, cuts)
        if r == rank:
            kept[k] = i
            k += 1
        else:
            leaving[m] = i
            dest[m] = r
            counts[r] += 1
            m += 1
    # Counting sort of the (few) leaving rows by owner.
    start = np.zeros(counts.shape[0], dtype=np.int64)
    for r in range(counts.shape[0] - 1):
        start[r + 1] = start[r] + counts[r]
    rows = leaving[:m].copy()
    for j in range(m):
        leaving[start[dest[j]]] = rows[j]
        start[dest[j]] += 1
    return k
