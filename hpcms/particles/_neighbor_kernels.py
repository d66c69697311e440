"""Kernels of the cell and Verlet lists.  Arrays in, arrays out."""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def bin_index(s, images, per_unit, first, nbins, out):
    """Linear local bin of each fractional position, or of a periodic image.

    Bins are global: bin g along axis d holds the s_d with
    floor(s_d per_unit[d]) = g, the same on every rank; this rank's bins
    start at global bin first[d] and there are nbins[d] of them (positions
    beyond are clamped).  With images (n, 3) (else (0, 3)), slot i is image
    images[i] of a particle at s[i]: its bin is the particle's shifted by
    whole boxes, in integers, so that every rank bins an image exactly as
    its owner's bin implies.
    """
    shifted = images.shape[0] > 0
    for i in range(s.shape[0]):
        b = 0
        for d in range(3):
            k = int(np.floor(s[i, d] * per_unit[d])) - first[d]
            if shifted:
                k += images[i, d] * int(per_unit[d])
            k = min(max(k, 0), nbins[d] - 1)
            b = b * nbins[d] + k
        out[i] = b


@numba.njit(cache=True, error_model="numpy")
def bin_starts(bins, n, n_bins):
    """start (n_bins + 1): bin b holds start[b] <= p < start[b + 1] once the
    first n slots are sorted by bin (the counts of a counting sort, summed)."""
    start = np.zeros(n_bins + 1, dtype=np.int64)
    for j in range(n):
        start[bins[j] + 1] += 1
    for b in range(n_bins):
        start[b + 1] += start[b]
    return start


@numba.njit(cache=True, error_model="numpy")
def bin_order(bins, n_bins, order):
    """order = the slots sorted by bin, stably (a counting sort):
    `np.argsort(bins, kind="stable")` for bins in [0, n_bins)."""
    start = bin_starts(bins, bins.shape[0], n_bins)
    for j in range(bins.shape[0]):
        order[start[bins[j]]] = j
        start[bins[j]] += 1


@numba.njit(cache=True, error_model="numpy")
def build_full_list(x, s, bins, order, n_local, per_unit, first, nbins, reach, widths,
                    cutoff_sq, start, index):
    """Full Verlet list of the owned particles, rows in a decomposition-free order.

    x: (n_total, 3) positions of owned + ghost slots, s: the fractional
    coordinates of (at least) the owned ones; bins: the slots' local bins,
    aligned to a global grid of per_unit[d] bins per box length (see
    `bin_index`), starting at global bin first[d]; order: the slots sorted
    by global key (id, image).  Each bin is filled in key order and a
    row lists the stencil's bins in a fixed order relative to the particle's
    own bin, so every row comes out in the same order whichever rank builds
    it.  The stencil reaches `reach` bins each way.  For an orthogonal box
    (widths = its edge lengths, else zeros) columns and bin runs that lie
    wholly beyond the cutoff are skipped.  Fills start (n_local + 1) and
    index (capacity,).  Returns the number of pairs, or -1 when `index` is
    too small.
    """
    n_total = x.shape[0]
    n_bins = nbins[0] * nbins[1] * nbins[2]
    # Counting sort of the slots by bin: a cell-ordered copy of the positions.
    bin_start = bin_starts(bins, n_total, n_bins)
    fill = bin_start[:-1].copy()
    slot = np.empty(n_total, dtype=np.int32)
    xc = np.empty((n_total, 3))
    for r in range(n_total):
        j = order[r]
        p = fill[bins[j]]
        fill[bins[j]] += 1
        slot[p] = j
        xc[p, 0] = x[j, 0]
        xc[p, 1] = x[j, 1]
        xc[p, 2] = x[j, 2]
    prune = widths[0] > 0.0
    w0 = widths[0] / per_unit[0]
    w1 = widths[1] / per_unit[1]
    w2 = widths[2] / per_unit[2]
    reach_sq = cutoff_sq * (1.0 + 1e-9)  # pruning is conservative: round-off never drops a pair
    capacity = index.shape[0]
    n = 0
    for i in range(n_local):
        start[i] = n
        b = bins[i]
        bz = b % nbins[2]
        by = (b // nbins[2]) % nbins[1]
        bx = b // (nbins[2] * nbins[1])
        u0 = s[i, 0] * per_unit[0] - first[0]
        u1 = s[i, 1] * per_unit[1] - first[1]
        u2 = s[i, 2] * per_unit[2] - first[2]
        xi0, xi1, xi2 = x[i, 0], x[i, 1], x[i, 2]
        for cx in range(max(bx - reach[0], 0), min(bx + reach[0] + 1, nbins[0])):
            g0 = max(0.0, cx - u0, u0 - (cx + 1)) * w0
            for cy in range(max(by - reach[1], 0), min(by + reach[1] + 1, nbins[1])):
                z0 = max(bz - reach[2], 0)
                z1 = min(bz + reach[2], nbins[2] - 1)
                if prune:
                    g1 = max(0.0, cy - u1, u1 - (cy + 1)) * w1
                    left = reach_sq - g0 * g0 - g1 * g1
                    if left < 0.0:
                        continue
                    rz = np.sqrt(left) / w2
                    z0 = max(z0, int(np.floor(u2 - rz)))
                    z1 = min(z1, int(np.floor(u2 + rz)))
                    if z1 < z0:
                        continue
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


SUB = 8  # sub-cells per bin and axis of the half list's stencil table


@numba.njit(cache=True, error_model="numpy")
def half_stencil(reach, widths, per_unit, cutoff_sq):
    """Column runs of the half list's stencil for each sub-cell of a bin.

    A bin is cut into SUB^3 sub-cells; for sub-cell k, runs[k, m] = (dx, dy,
    dz0, dz1) for m < count[k]: the bins (dx, dy, dz0..dz1) relative to the
    particle's bin that come within the cutoff of some point of the sub-cell
    (orthogonal box, widths = edge lengths), else every bin of the reach
    (widths zeros).  A run lies in one column and is contiguous in memory.
    Runs come by column, (dx, dy) ascending; own_run[k] is the first of
    sub-cell k's runs in its own column or a later one (the half list's).
    Returns (runs, count, own_run); `NeighborList` keeps them between builds.
    """
    side = 2 * reach + 1
    n_sub = SUB * SUB * SUB
    runs = np.zeros((n_sub, side[0] * side[1], 4), dtype=np.int64)
    count = np.zeros(n_sub, dtype=np.int64)
    prune = widths[0] > 0.0
    w = widths / per_unit
    limit = cutoff_sq * (1.0 + 1e-9)  # conservative: round-off never drops a pair
    for q0 in range(SUB):
        for q1 in range(SUB):
            for q2 in range(SUB):
                k = (q0 * SUB + q1) * SUB + q2
                q = (q0, q1, q2)
                for dx in range(-reach[0], reach[0] + 1):
                    for dy in range(-reach[1], reach[1] + 1):
                        z0 = reach[2] + 1
                        z1 = -reach[2] - 1
                        for dz in range(-reach[2], reach[2] + 1):
                            gap = 0.0
                            if prune:
                                for d, off in ((0, dx), (1, dy), (2, dz)):
                                    g = max(0.0, off - (q[d] + 1) / SUB, q[d] / SUB - (off + 1))
                                    gap += (g * w[d]) ** 2
                            if gap < limit:
                                z0 = min(z0, dz)
                                z1 = max(z1, dz)
                        if z0 <= z1:
                            m = count[k]
                            runs[k, m, 0], runs[k, m, 1] = dx, dy
                            runs[k, m, 2], runs[k, m, 3] = z0, z1
                            count[k] += 1
    own_run = np.zeros(n_sub, dtype=np.int64)
    for k in range(n_sub):
        while own_run[k] < count[k] and (runs[k, own_run[k], 0] < 0 or (
                runs[k, own_run[k], 0] == 0 and runs[k, own_run[k], 1] < 0)):
            own_run[k] += 1
    return runs, count, own_run


@numba.njit(cache=True, error_model="numpy")
def build_half_list(x, s, ids, bins, n_local, per_unit, first, nbins, runs, count,
                    own_run, cutoff_sq, start, index):
    """Half Verlet list: every pair within the cutoff once over all ranks
    (Newton's third law across ghosts too).

    Arguments as `build_full_list`, plus ids (n_total,) global ids, without
    the key order, and the stencil's column runs from `half_stencil` in
    place of the reach and box widths.  A pair sits in the row of the slot
    that comes first by (bin in (x, y, z) order, then, in one bin, owned
    slots in slot order before ghosts, ghosts by id): an owned particle's
    row holds the slots of the later bins of its stencil, the owned slots
    after it in its own bin and the ghosts of its own bin with a larger id.  A pair whose first slot
    is a ghost is listed by the rank that owns that ghost's particle, where
    the other slot is its image; the ghosts' forces go back to their owners
    (`Halo.reverse`).  The rule agrees between the two images of a pair, on
    any decomposition, because a ghost's bin is its owner's shifted by whole
    boxes in integers (`bin_index` with images).  Rows come out in stencil
    order, which depends on the decomposition, so only styles that sum their
    pair terms exactly (in fixed point, see `hpcms.dpd._kernels`) may use
    this list.  The bins searched are the runs of the particle's sub-cell.
    Returns the number of pairs, or -1 when `index` is too small.
    """
    n_total = x.shape[0]
    n_bins = nbins[0] * nbins[1] * nbins[2]
    # Counting sort by bin, each bin's owned slots first, then its ghosts.
    bin_start = bin_starts(bins, n_total, n_bins)
    owned_start = bin_starts(bins, n_local, n_bins)
    ghost_start = bin_start[:-1] + (owned_start[1:] - owned_start[:-1])
    fill = bin_start[:-1].copy()
    slot = np.empty(n_total, dtype=np.int32)
    pos = np.empty(n_local, dtype=np.int64)
    xc = np.empty((n_total, 3))
    idc = np.empty(n_total, dtype=np.int64)
    for j in range(n_total):
        p = fill[bins[j]]
        fill[bins[j]] += 1
        slot[p] = j
        if j < n_local:
            pos[j] = p
        xc[p, 0] = x[j, 0]
        xc[p, 1] = x[j, 1]
        xc[p, 2] = x[j, 2]
        idc[p] = ids[j]
    capacity = index.shape[0]
    n = 0
    for i in range(n_local):
        start[i] = n
        b = bins[i]
        bz = b % nbins[2]
        by = (b // nbins[2]) % nbins[1]
        bx = b // (nbins[2] * nbins[1])
        k = 0
        for d, bd in ((0, bx), (1, by), (2, bz)):
            u = s[i, d] * per_unit[d] - first[d] - bd
            k = k * SUB + min(max(int(u * SUB), 0), SUB - 1)
        xi0, xi1, xi2 = x[i, 0], x[i, 1], x[i, 2]
        idi = ids[i]
        for m in range(own_run[k], count[k]):
            cx, cy = bx + runs[k, m, 0], by + runs[k, m, 1]
            if cx < 0 or cx >= nbins[0] or cy < 0 or cy >= nbins[1]:
                continue
            z1 = min(bz + runs[k, m, 3], nbins[2] - 1)
            c = (cx * nbins[1] + cy) * nbins[2]
            if cx == bx and cy == by:
                # The own bin's ghosts with a larger id, then (below) the
                # owned slots after the particle and the later bins.
                p0 = ghost_start[c + bz]
                p1 = bin_start[c + bz + 1]
                if n + (p1 - p0) > capacity:
                    return -1
                for p in range(p0, p1):
                    d0 = xc[p, 0] - xi0
                    d1 = xc[p, 1] - xi1
                    d2 = xc[p, 2] - xi2
                    index[n] = slot[p]
                    n += np.int64((d0 * d0 + d1 * d1 + d2 * d2 < cutoff_sq) & (idc[p] > idi))
                p1 = ghost_start[c + bz]
                if n + (p1 - pos[i]) > capacity:
                    return -1
                n = _scan_run(xc, slot, pos[i] + 1, p1, xi0, xi1, xi2, cutoff_sq, index, n)
                p0 = bin_start[c + bz + 1]
            else:
                p0 = bin_start[c + max(bz + runs[k, m, 2], 0)]
            p1 = bin_start[c + z1 + 1]
            if n + (p1 - p0) > capacity:
                return -1
            n = _scan_run(xc, slot, p0, p1, xi0, xi1, xi2, cutoff_sq, index, n)
    start[n_local] = n
    return n


@numba.njit(cache=True, error_model="numpy", inline="always")
def _scan_run(xc, slot, p0, p1, xi0, xi1, xi2, cutoff_sq, index, n):
    """Append the slots p0 <= p < p1 (cell-ordered positions xc) within the
    cutoff of (xi0, xi1, xi2) to index from n on; returns the new n.
    Branch-free compaction: always write, advance when inside."""
    for p in range(p0, p1):
        d0 = xc[p, 0] - xi0
        d1 = xc[p, 1] - xi1
        d2 = xc[p, 2] - xi2
        index[n] = slot[p]
        n += np.int64(d0 * d0 + d1 * d1 + d2 * d2 < cutoff_sq)
    return n
