"""Kernels on the particle state: wrapping into the box, fractional <-> Cartesian."""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def wrap(x, origin, inverse, cell, image, s_out):
    """Wrap positions into the periodic cell, counting the crossings in `image`.

    Each particle is treated by itself with a fixed sequence of operations, so
    the result does not depend on which rank holds it.  Writes the wrapped
    fractional coordinates to s_out.
    """
    for i in range(x.shape[0]):
        r0 = x[i, 0] - origin[0]
        r1 = x[i, 1] - origin[1]
        r2 = x[i, 2] - origin[2]
        for d in range(3):
            s = (inverse[d, 0] * r0 + inverse[d, 1] * r1) + inverse[d, 2] * r2
            k = np.floor(s)
            s_out[i, d] = s - k
            if k != 0.0:
                for c in range(3):
                    x[i, c] -= k * cell[c, d]
                image[i, d] += np.int64(k)


@numba.njit(cache=True, error_model="numpy")
def fractional(x, origin, inverse, s_out):
    """Fractional coordinates, computed exactly as `wrap` computes them."""
    for i in range(x.shape[0]):
        r0 = x[i, 0] - origin[0]
        r1 = x[i, 1] - origin[1]
        r2 = x[i, 2] - origin[2]
        for d in range(3):
            s_out[i, d] = (inverse[d, 0] * r0 + inverse[d, 1] * r1) + inverse[d, 2] * r2


@numba.njit(cache=True, error_model="numpy")
def cartesian(s, origin, cell, x_out):
    """x_out = origin + cell @ s per particle, summed in a fixed order (a, b, c)."""
    for i in range(s.shape[0]):
        for d in range(3):
            x_out[i, d] = origin[d] + ((cell[d, 0] * s[i, 0] + cell[d, 1] * s[i, 1])
                                       + cell[d, 2] * s[i, 2])
