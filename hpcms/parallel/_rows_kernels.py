"""Kernels of row gathers on per-particle arrays."""

import numba


@numba.njit(cache=True)
def take_rows(a, b, rows, out):
    """out[k] = row rows[k] of a stacked on b (2-D arrays of one width):
    numpy's row fancy-indexing, several times faster, without the stacking."""
    n_a = a.shape[0]
    for k in range(rows.shape[0]):
        r = rows[k]
        if r < n_a:
            for c in range(a.shape[1]):
                out[k, c] = a[r, c]
        else:
            for c in range(a.shape[1]):
                out[k, c] = b[r - n_a, c]


@numba.njit(cache=True)
def add_rows(a, rows, b):
    """a[rows[k]] += b[k] for 2-D arrays of one width."""
    for k in range(rows.shape[0]):
        r = rows[k]
        for c in range(a.shape[1]):
            a[r, c] += b[k, c]
