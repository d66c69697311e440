"""Kernels of the observables."""

import numba


@numba.njit(cache=True, error_model="numpy")
def kinetic_tensor(v, mass, out):
    """out[i] = m_i (vx vx, vy vy, vz vz, vx vy, vx vz, vy vz)."""
    for i in range(v.shape[0]):
        m = mass[i]
        out[i, 0] = m * v[i, 0] * v[i, 0]
        out[i, 1] = m * v[i, 1] * v[i, 1]
        out[i, 2] = m * v[i, 2] * v[i, 2]
        out[i, 3] = m * v[i, 0] * v[i, 1]
        out[i, 4] = m * v[i, 0] * v[i, 2]
        out[i, 5] = m * v[i, 1] * v[i, 2]
