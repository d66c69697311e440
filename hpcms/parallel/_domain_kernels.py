"""Kernels of the domain decomposition."""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def owner_ranks(s, dims, out):
    """out[i] = the rank owning fractional position s[i] (in [0, 1)) on a grid
    of dims ranks, numbered row-major by grid coordinates."""
    for i in range(s.shape[0]):
        r = 0
        for d in range(3):
            c = min(max(int(np.floor(s[i, d] * dims[d])), 0), dims[d] - 1)
            r = r * dims[d] + c
        out[i] = r
