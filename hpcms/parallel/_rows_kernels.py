"""Kernels of row gathers on per-particle arrays."""

import numba


@numba.njit(cache=True)
def take_rows(a, b, rows, out):
    """out[k] = row rows[k] of a stacked on b (2-D arrays of one width):
    numpy's row fancy-indexing, several times faster, without the stacking.
    Rows of 1 and 3 items (ids, positions) have loops of their own: a loop
    over a row's items costs more than the copy."""
    width = a.shape[1]
    if width == 3:
        _take_rows3(a, b, rows, out)
    elif width == 1:
        _take_rows1(a, b, rows, out)
    else:
        n_a = a.shape[0]
        for k in range(rows.shape[0]):
            r = rows[k]
            if r < n_a:
                for c in range(width):
                    out[k, c] = a[r, c]
            else:
                for c in range(width):
                    out[k, c] = b[r - n_a, c]


@numba.njit(cache=True, inline="always")
def _take_rows3(a, b, rows, out):
    n_a = a.shape[0]
    for k in range(rows.shape[0]):
        r = rows[k]
        if r < n_a:
            out[k, 0], out[k, 1], out[k, 2] = a[r, 0], a[r, 1], a[r, 2]
        else:
            r -= n_a
            out[k, 0], out[k, 1], out[k, 2] = b[r, 0], b[r, 1], b[r, 2]


@numba.njit(cache=True, inline="always")
def _take_rows1(a, b, rows, out):
    n_a = a.shape[0]
    for k in range(rows.shape[0]):
        r = rows[k]
        out[k, 0] = a[r, 0] if r < n_a else b[r - n_a, 0]


@numba.njit(cache=True)
def add_rows(a, rows, b):
    """a[rows[k]] += b[k] for 2-D arrays of one width."""
    if a.shape[1] == 3:
        for k in range(rows.shape[0]):
            r = rows[k]
            a[r, 0] += b[k, 0]
            a[r, 1] += b[k, 1]
            a[r, 2] += b[k, 2]
    else:
        for k in range(rows.shape[0]):
            r = rows[k]
            for c in range(a.shape[1]):
                a[r, c] += b[k, c]
