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
def build_full_list(x, bins, n_local, nbins, cutoff_sq, rank, order, start, index):
    """Full Verlet list of the owned particles, each row sorted by `rank`.

    x: (n_total, 3) positions of owned + ghost slots; bins: linear bin of each
    slot; rank[j]: position of slot j in the global key order, order[r]: the
    slot of rank r.  Fills start (n_local + 1) and index (capacity,).
    Returns the number of pairs, or -1 when `index` is too small (grow, call again).
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
    rank_c = np.empty(n_total, dtype=np.int64)
    xc = np.empty((n_total, 3))
    for j in range(n_total):
        p = fill[bins[j]]
        fill[bins[j]] += 1
        rank_c[p] = rank[j]
        xc[p, 0] = x[j, 0]
        xc[p, 1] = x[j, 1]
        xc[p, 2] = x[j, 2]
    capacity = index.shape[0]
    row = np.empty(n_total, dtype=np.int64)
    n = 0
    for i in range(n_local):
        start[i] = n
        b = bins[i]
        bz = b % nbins[2]
        by = (b // nbins[2]) % nbins[1]
        bx = b // (nbins[2] * nbins[1])
        xi0, xi1, xi2 = x[i, 0], x[i, 1], x[i, 2]
        rank_i = rank[i]
        m = 0
        z0 = max(bz - 1, 0)
        z1 = min(bz + 1, nbins[2] - 1)
        for cx in range(max(bx - 1, 0), min(bx + 2, nbins[0])):
            for cy in range(max(by - 1, 0), min(by + 2, nbins[1])):
                # Bins along z are contiguous: one run covers all three.
                c = (cx * nbins[1] + cy) * nbins[2]
                for p in range(bin_start[c + z0], bin_start[c + z1 + 1]):
                    d0 = xc[p, 0] - xi0
                    d1 = xc[p, 1] - xi1
                    d2 = xc[p, 2] - xi2
                    r2 = d0 * d0 + d1 * d1 + d2 * d2
                    # Branch-free compaction: always write, advance if inside.
                    row[m] = rank_c[p]
                    m += (r2 < cutoff_sq) & (rank_c[p] != rank_i)
        if n + m > capacity:
            return -1
        keys = row[:m]
        keys.sort()
        for k in range(m):
            index[n + k] = order[keys[k]]
        n += m
    start[n_local] = n
    return n


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
