"""Kernels of the cell and Verlet lists.  Arrays in, arrays out."""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def bin_index(s, lo, inv_width, nbins, out):
    """Linear bin of each fractional position; bins are clamped at the edges."""
    for i in range(s.shape[0]):
        b = 0
        for d in range(3):
            k = int(np.floor((s[i, d] - lo[d]) * inv_width[d]))
            k = min(max(k, 0), nbins[d] - 1)
            b = b * nbins[d] + k
        out[i] = b


@numba.njit(cache=True, error_model="numpy")
def build_full_list(x, bins, n_local, nbins, reach, cutoff_sq, start, index):
    """Full Verlet list of the owned particles (rows in no particular order).

    x: (n_total, 3) positions of owned + ghost slots; bins: linear bin of each
    slot; the stencil reaches `reach` bins each way along each axis.  Fills
    start (n_local + 1) and index (capacity,).  Returns the number of pairs,
    or -1 when `index` is too small (grow it and call again).
    """
    n_total = x.shape[0]
    n_bins = nbins[0] * nbins[1] * nbins[2]
    # Counting sort of the slots by bin: a cell-ordered copy of the positions.
    bin_start = np.zeros(n_bins + 1, dtype=np.int64)
    for j in range(n_total):
        bin_start[bins[j] + 1] += 1
    for b in range(n_bins):
        bin_start[b + 1] += bin_start[b]
    fill = bin_start[:-1].copy()
    slot = np.empty(n_total, dtype=np.int32)
    xc = np.empty((n_total, 3))
    for j in range(n_total):
        p = fill[bins[j]]
        fill[bins[j]] += 1
        slot[p] = j
        xc[p, 0] = x[j, 0]
        xc[p, 1] = x[j, 1]
        xc[p, 2] = x[j, 2]
    capacity = index.shape[0]
    n = 0
    for i in range(n_local):
        start[i] = n
        b = bins[i]
        bz = b % nbins[2]
        by = (b // nbins[2]) % nbins[1]
        bx = b // (nbins[2] * nbins[1])
        z0 = max(bz - reach[2], 0)
        z1 = min(bz + reach[2], nbins[2] - 1)
        xi0, xi1, xi2 = x[i, 0], x[i, 1], x[i, 2]
        for cx in range(max(bx - reach[0], 0), min(bx + reach[0] + 1, nbins[0])):
            for cy in range(max(by - reach[1], 0), min(by + reach[1] + 1, nbins[1])):
                # Bins along z are contiguous: one run covers the stencil row.
                c = (cx * nbins[1] + cy) * nbins[2]
                p0 = bin_start[c + z0]
                p1 = bin_start[c + z1 + 1]
                if n + (p1 - p0) > capacity:
                    return -1
                for p in range(p0, p1):
                    d0 = xc[p, 0] - xi0
                    d1 = xc[p, 1] - xi1
                    d2 = xc[p, 2] - xi2
                    r2 = d0 * d0 + d1 * d1 + d2 * d2
                    # Branch-free compaction: always write, advance if inside.
                    index[n] = slot[p]
                    n += np.int64((r2 < cutoff_sq) & (slot[p] != i))
    start[n_local] = n
    return n


@numba.njit(cache=True, error_model="numpy")
def sort_rows(start, index, n_local, n_total, order):
    """Sort every row of the list into `order` (slots by global key).

    Two counting-sort transposes instead of a sort per row: the first gathers,
    for each slot j, the rows it appears in; the second walks the slots in key
    order and appends each to its rows, which therefore come out sorted.
    """
    n_pairs = start[n_local]
    col_start = np.zeros(n_total + 1, dtype=np.int64)
    for p in range(n_pairs):
        col_start[index[p] + 1] += 1
    for j in range(n_total):
        col_start[j + 1] += col_start[j]
    fill = col_start[:-1].copy()
    rows_of = np.empty(n_pairs, dtype=np.int32)
    for i in range(n_local):
        for p in range(start[i], start[i + 1]):
            j = index[p]
            rows_of[fill[j]] = i
            fill[j] += 1
    row_fill = start[:-1].copy()
    for r in range(n_total):
        j = order[r]
        for q in range(col_start[j], col_start[j + 1]):
            i = rows_of[q]
            index[row_fill[i]] = j
            row_fill[i] += 1


@numba.njit(cache=True, error_model="numpy")
def displacement_check(x, x_ref, n):
    """Largest squared displacement since x_ref, and the first non-finite row (-1: none)."""
    worst = 0.0
    bad = -1
    for i in range(n):
        d0 = x[i, 0] - x_ref[i, 0]
        d1 = x[i, 1] - x_ref[i, 1]
        d2 = x[i, 2] - x_ref[i, 2]
        r2 = d0 * d0 + d1 * d1 + d2 * d2
        if not np.isfinite(r2):
            if bad < 0:
                bad = i
        elif r2 > worst:
            worst = r2
    return worst, bad
