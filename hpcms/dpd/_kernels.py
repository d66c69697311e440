"""Numba kernels of the DPD pair style (Groot & Warren 1997).  Arrays in, arrays out.

Conventions are those of `hpcms.md._pair_kernels`: a full CSR neighbour list
of the owned particles, ghosts as real periodic copies, ``d = x_i - x_j``,
``fpair`` multiplies ``d``, row ``i`` is summed on its own and nothing is
scattered to ``j``.  Per pair, with ``r = |d|``, ``w = 1 - r / rc`` and
``dv = v_i - v_j``::

    F_ij = [a w - gamma w^2 (d . dv) / r + sigma w theta_ij / sqrt(dt)] d / r

``theta_ij = pair_gaussian(seed, step, id_i, id_j)`` is symmetric in the two
ids, and ``d``, ``dv`` and ``d . dv`` change sign exactly when i and j swap,
so the row of ``j`` computes ``-F_ij`` (to the rounding of the periodic image
position) whichever rank holds either particle.
"""

import math

import numba

from hpcms.md._pair_kernels import FASTMATH, _store_energy_virial
from hpcms.md._rng_kernels import pair_gaussian

kernel = numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)

# Pairs closer than this are skipped, as LAMMPS pair dpd does (r-hat undefined).
R_MIN = 1.0e-10


@kernel
def dpd_forces(x, v, ids, types, n_local, nbr_start, nbr_index,
               a, gamma, sigma, cutsq, rcinv, seed, step, dtinvsqrt, f):
    """f[i] = sum_j F_ij for the owned particles (conservative + dissipative + random).

    x, v: (n_total, 3) owned then ghosts (ghost velocities forwarded from
    their owners); ids (n_total,) int64 global ids; types (n_total,) int32
    0-based; a, gamma, sigma, cutsq, rcinv: (n_types, n_types) tables.
    """
    for i in range(n_local):
        ti = types[i]
        a_i, g_i, s_i, c_i, rc_i = a[ti], gamma[ti], sigma[ti], cutsq[ti], rcinv[ti]
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        vxi, vyi, vzi = v[i, 0], v[i, 1], v[i, 2]
        idi = ids[i]
        fx = fy = fz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            tj = types[j]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            rsq = dx * dx + dy * dy + dz * dz
            if rsq < c_i[tj] and rsq > R_MIN * R_MIN:
                r = math.sqrt(rsq)
                rinv = 1.0 / r
                wd = 1.0 - r * rc_i[tj]
                dot = dx * (vxi - v[j, 0]) + dy * (vyi - v[j, 1]) + dz * (vzi - v[j, 2])
                theta = pair_gaussian(seed, step, idi, ids[j])
                fpair = (a_i[tj] * wd - g_i[tj] * wd * wd * dot * rinv
                         + s_i[tj] * wd * theta * dtinvsqrt) * rinv
                fx += dx * fpair
                fy += dy * fpair
                fz += dz * fpair
        f[i, 0], f[i, 1], f[i, 2] = fx, fy, fz


@kernel
def dpd_energy_virial(x, types, n_local, nbr_start, nbr_index, a, cutsq, rc, rcinv,
                      energy, virial):
    """Conservative energy and virial per owned particle.

    ``e_ij = a rc w^2 / 2``; energy[i] = 1/2 sum_j e_ij and virial[i] =
    1/2 sum_j d (x) F^C_ij (xx, yy, zz, xy, xz, yz).  The dissipative and
    random forces have zero mean virial in equilibrium (Groot & Warren 1997
    compute the pressure from the conservative force), so they are left out
    of the reported pressure, which is then free of their noise.
    """
    for i in range(n_local):
        ti = types[i]
        a_i, c_i, rc_i, rci_i = a[ti], cutsq[ti], rc[ti], rcinv[ti]
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        e = vxx = vyy = vzz = vxy = vxz = vyz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            tj = types[j]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            rsq = dx * dx + dy * dy + dz * dz
            if rsq < c_i[tj] and rsq > R_MIN * R_MIN:
                r = math.sqrt(rsq)
                wd = 1.0 - r * rci_i[tj]
                fpair = a_i[tj] * wd / r
                e += 0.5 * a_i[tj] * rc_i[tj] * wd * wd
                vxx += dx * dx * fpair
                vyy += dy * dy * fpair
                vzz += dz * dz * fpair
                vxy += dx * dy * fpair
                vxz += dx * dz * fpair
                vyz += dy * dz * fpair
        _store_energy_virial(i, e, vxx, vyy, vzz, vxy, vxz, vyz, energy, virial)


@numba.njit(cache=True)
def predicted_velocity(v, f, mass, factor, out):
    """out = v + factor f / m (Groot–Warren's predicted velocity, factor = (lambda - 1/2) dt)."""
    for i in range(v.shape[0]):
        c = factor / mass[i]
        for d in range(3):
            out[i, d] = v[i, d] + c * f[i, d]
