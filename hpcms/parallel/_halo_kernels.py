"""Kernels of the halo exchange: array gathers and ghost position updates."""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def gather_base(x_owned, base_ghost, extra_all, n_local, index, out):
    """out[k] = the base position of slot index[k] (owned: x, ghost: its
    owner's x) followed by its row of extra_all (owned and ghost rows; none
    when it has no columns)."""
    for k in range(index.shape[0]):
        i = index[k]
        if i < n_local:
            for d in range(3):
                out[k, d] = x_owned[i, d]
        else:
            for d in range(3):
                out[k, d] = base_ghost[i - n_local, d]
        for c in range(extra_all.shape[1]):
            out[k, 3 + c] = extra_all[i, c]


@numba.njit(cache=True, error_model="numpy")
def split_base_extra(rows, base_ghost, extra_all, n_local, first):
    """Rows of `gather_base` arrived for ghosts first, first + 1, ...:
    base positions to base_ghost, the rest to the ghosts' rows of extra_all."""
    for k in range(rows.shape[0]):
        g = first + k
        for d in range(3):
            base_ghost[g, d] = rows[k, d]
        for c in range(extra_all.shape[1]):
            extra_all[n_local + g, c] = rows[k, 3 + c]


@numba.njit(cache=True, error_model="numpy")
def shift_ghosts(base_ghost, shift_vec, x, n_local):
    """x[n_local + g] = base_ghost[g] + shift_vec[g]: one add, same on every rank."""
    for g in range(base_ghost.shape[0]):
        for d in range(3):
            x[n_local + g, d] = base_ghost[g, d] + shift_vec[g, d]


@numba.njit(cache=True, error_model="numpy")
def shift_vectors(images, cell, out):
    """out[g] = images[g,0]*a + images[g,1]*b + images[g,2]*c, summed in that order."""
    for g in range(images.shape[0]):
        for d in range(3):
            out[g, d] = (images[g, 0] * cell[d, 0] + images[g, 1] * cell[d, 1]) \
                + images[g, 2] * cell[d, 2]


@numba.njit(cache=True, error_model="numpy")
def select_slots(s, rec_s, rec, down, up, column, below, above, per_unit, lowest, out_down,
                 out_up):
    """The slots of the two directions of a halo hop, in one pass:
    out_down[:k_down] = the slots j in range(*down) whose fractional
    coordinate along `column` is < below, out_up[:k_up] = those in
    range(*up) whose coordinate is >= above, each in order; returns (k_down,
    k_up).  The two spans are equal or adjacent.  Slot j < len(s) is owned
    particle j (fractional coordinates s[j], image 0), a later one is ghost
    record j - len(s) (rows `rec` of `fill_records`, their shifted
    fractional coordinates also in rec_s).

    With per_unit > 0, only the upward slots whose bin along `column`,
    floor(s per_unit) on a grid of per_unit bins per box length, is
    `lowest` or above: a record's bin is its owner's bin shifted by whole
    boxes, in integers, as `_neighbor_kernels.bin_index` places ghosts."""
    n = s.shape[0]
    k_down = 0
    k_up = 0
    scale = int(per_unit)
    for j in range(min(down[0], up[0]), max(down[1], up[1])):
        if j < n:
            x = s[j, column]
        else:
            x = rec_s[j - n, column]
        out_down[k_down] = j
        k_down += (x < below) & (down[0] <= j) & (j < down[1])
        if x >= above and up[0] <= j < up[1]:
            out_up[k_up] = j
            if per_unit <= 0.0:
                k_up += 1
            elif j < n:
                k_up += int(np.floor(x * per_unit)) >= lowest
            else:
                own, image = rec[j - n, 11 + column], np.int64(rec[j - n, 6 + column])
                k_up += int(np.floor(own * per_unit)) + image * scale >= lowest
    return k_down, k_up


@numba.njit(cache=True, error_model="numpy")
def fill_records(x, s, ids, types, extra, rec, slots, column, shift, out):
    """out[k] = the ghost record of slot slots[k] (see `select_slots`) with
    its image moved by `shift` boxes along `column`: columns 0-2 the image's
    fractional coordinates, 3-5 the owner's position, 6-8 the image, 9 the
    id, 10 the type, 11-13 the owner's own fractional coordinates, then the
    owner's row of `extra` (the columns of `hpcms.parallel.halo`)."""
    n = s.shape[0]
    for k in range(slots.shape[0]):
        j = slots[k]
        if j < n:
            for d in range(3):
                out[k, d] = s[j, d]
                out[k, 3 + d] = x[j, d]
                out[k, 6 + d] = 0.0
                out[k, 11 + d] = s[j, d]
            out[k, 9] = ids[j]
            out[k, 10] = types[j]
            for c in range(extra.shape[1]):
                out[k, 14 + c] = extra[j, c]
        else:
            for c in range(rec.shape[1]):
                out[k, c] = rec[j - n, c]
        if shift != 0.0:
            out[k, column] += shift
            out[k, 6 + column] += shift


@numba.njit(cache=True, error_model="numpy")
def split_records(rows, base, images, ids, types, owner_s):
    """The columns of ghost records: positions, images, ids, types and the
    owners' fractional coordinates."""
    for g in range(rows.shape[0]):
        for d in range(3):
            base[g, d] = rows[g, 3 + d]
            images[g, d] = np.int64(rows[g, 6 + d])
            owner_s[g, d] = rows[g, 11 + d]
        ids[g] = np.int64(rows[g, 9])
        types[g] = np.int32(rows[g, 10])
