"""Kernels of the halo exchange: array gathers and ghost position updates."""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def gather_base(x_owned, base_ghost, n_local, index, out):
    """out[k] = base position of slot index[k] (owned: x, ghost: its owner's x)."""
    for k in range(index.shape[0]):
        i = index[k]
        if i < n_local:
            for d in range(3):
                out[k, d] = x_owned[i, d]
        else:
            for d in range(3):
                out[k, d] = base_ghost[i - n_local, d]


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
def select_rows(s, rows, start, stop, column, bound, below, per_unit, offset, lowest, out):
    """out[:k] = the j in [start, stop) with s[j, column] < bound (below) or
    >= bound (not below), in order; returns k.  With per_unit > 0, only
    those whose bin along `column`, floor(s per_unit + offset) on a grid of
    per_unit bins per box length, is `lowest` or above.

    A record's bin (records are rows of `fill_records`) is its owner's bin
    shifted by whole boxes, in integers, as `_neighbor_kernels.bin_index`
    places ghosts."""
    k = 0
    scale = int(per_unit)
    for j in range(start, stop):
        out[k] = j
        if (s[j, column] < bound) == below:
            if per_unit <= 0.0:
                k += 1
            else:
                b = int(np.floor(rows[j, 11 + column] * per_unit + offset)) \
                    + np.int64(rows[j, 6 + column]) * scale
                k += b >= lowest
    return k


@numba.njit(cache=True, error_model="numpy")
def fill_records(x, s, ids, types, rows, s_out):
    """Ghost records of the owned particles: rows[i] = (s, x, image 0, id, type, s)
    (the columns of `hpcms.parallel.halo`), and s_out[i] = s[i]."""
    for i in range(x.shape[0]):
        for d in range(3):
            rows[i, d] = s[i, d]
            rows[i, 3 + d] = x[i, d]
            rows[i, 6 + d] = 0.0
            rows[i, 11 + d] = s[i, d]
            s_out[i, d] = s[i, d]
        rows[i, 9] = ids[i]
        rows[i, 10] = types[i]


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
