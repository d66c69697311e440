"""Per-particle integrator updates (numba kernels for `md.integrate`).

Every update is an elementwise formula of one particle's own values and
scalars that all ranks share, so its result does not depend on where in the
arrays, or on which rank, the particle sits.
"""

import math

import numba

from ._rng_kernels import particle_gaussian3


@numba.njit(cache=True)
def kick(v, f, mass, dt_half):
    """v += (dt_half / m) f."""
    for i in range(v.shape[0]):
        dtfm = dt_half / mass[i]
        for d in range(3):
            v[i, d] += dtfm * f[i, d]


@numba.njit(cache=True)
def drift(x, v, dt):
    """x += dt v."""
    for i in range(x.shape[0]):
        for d in range(3):
            x[i, d] += dt * v[i, d]


@numba.njit(cache=True)
def scale(v, factor):
    """v *= factor."""
    for i in range(v.shape[0]):
        for d in range(3):
            v[i, d] *= factor


@numba.njit(cache=True)
def langevin_force(seed, step, stream, ids, v, f, mass, inv_damp, noise):
    """f += -(m / damp) v + sqrt(noise m) R, R ~ N(0, 1) keyed by (seed, step, id, stream).

    noise = 2 kT / (damp dt), so sqrt(noise m) = sqrt(2 m kT / (damp dt)).
    """
    for i in range(v.shape[0]):
        m = mass[i]
        gamma = m * inv_damp
        sigma = math.sqrt(noise * m)
        r0, r1, r2 = particle_gaussian3(seed, step, stream, ids[i])
        f[i, 0] += sigma * r0 - gamma * v[i, 0]
        f[i, 1] += sigma * r1 - gamma * v[i, 1]
        f[i, 2] += sigma * r2 - gamma * v[i, 2]


@numba.njit(cache=True)
def twice_kinetic(v, mass, out):
    """out[i] = m_i |v_i|^2."""
    for i in range(v.shape[0]):
        out[i] = mass[i] * (v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2])
