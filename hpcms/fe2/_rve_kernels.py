"""Kernels of the atomistic RVE: coordinate maps, the FIRE minimiser's
per-atom work and the samples of dynamics.  Arrays and scalars in,
preallocated arrays out.

Every atom is treated by itself with a fixed sequence of operations, so the
bits of its results depend only on its own inputs, never on which rank holds
it or where it sits in the arrays.  No fastmath: the FIRE update must be the
same arithmetic on every rank.
"""

import numba
import numpy as np

from ..parallel._reduce_kernels import accumulate_limbs

kernel = numba.njit(cache=True, error_model="numpy")


@kernel
def cartesian(s, origin, cell, x_out):
    """x_out = origin + cell @ s per atom, summed in the order a, b, c."""
    for i in range(s.shape[0]):
        for d in range(3):
            x_out[i, d] = origin[d] + ((cell[d, 0] * s[i, 0] + cell[d, 1] * s[i, 1])
                                       + cell[d, 2] * s[i, 2])


@kernel
def unwrapped_fractional(x, image, origin, inverse, s_out):
    """s_out = inverse @ (x - origin) + image per atom: fractional coordinates
    of wrapped positions x (n, 3) with their periodic image counts."""
    for i in range(s_out.shape[0]):
        r0 = x[i, 0] - origin[0]
        r1 = x[i, 1] - origin[1]
        r2 = x[i, 2] - origin[2]
        for d in range(3):
            s_out[i, d] = ((inverse[d, 0] * r0 + inverse[d, 1] * r1) + inverse[d, 2] * r2) \
                + np.float64(image[i, d])


@kernel
def fire_norms(f, v, n, table):
    """Per-atom f.v, v.v, f.f into table (n, 3); returns (max |f_c|, max |v_c|)
    over the n atoms, inf when any component is not finite."""
    f_max = 0.0
    v_max = 0.0
    for i in range(n):
        fv = 0.0
        vv = 0.0
        ff = 0.0
        for c in range(3):
            fc = f[i, c]
            vc = v[i, c]
            fv += fc * vc
            vv += vc * vc
            ff += fc * fc
            af = abs(fc)
            av = abs(vc)
            if not af <= f_max:  # also catches NaN
                f_max = af if af < np.inf else np.inf
            if not av <= v_max:
                v_max = av if av < np.inf else np.inf
        table[i, 0] = fv
        table[i, 1] = vv
        table[i, 2] = ff
    return f_max, v_max


@kernel
def fire_move(x, v, f, n, back, keep, dt, a, b, dt_x):
    """One FIRE step of the first n atoms (unit masses), in place:

        x -= back v;  v = a (keep v + dt f) + b f;  x += dt_x v

    `back` is the half step back after uphill motion (0 otherwise) and `keep`
    0 or 1 (velocities reset or kept); a = 1 - alpha, b = alpha |v'| / |f|
    mix the velocity towards the force (semi-implicit Euler, FIRE 2.0).
    """
    for i in range(n):
        for c in range(3):
            vc = v[i, c]
            xc = x[i, c] - back * vc
            vc = a * (keep * vc + dt * f[i, c]) + b * f[i, c]
            v[i, c] = vc
            x[i, c] = xc + dt_x * vc


@kernel
def accumulate_samples(energy, virial, v, mass, table, limbs):
    """One MD sample of the owned atoms into exact fixed-point sums.

    table (n, 13) gets each atom's (energy, pair virial xx yy zz xy xz yz,
    m v (x) v xx yy zz xy xz yz); limbs (13, N_LIMBS) int64 accumulates them
    as `hpcms.parallel.reduce.exact_sum` does (integer sums: the same bits in
    any order and on any partition).  Returns the count of non-finite or
    out-of-range entries (skipped).
    """
    for i in range(table.shape[0]):
        m = mass[i]
        vx = v[i, 0]
        vy = v[i, 1]
        vz = v[i, 2]
        table[i, 0] = energy[i]
        for c in range(6):
            table[i, 1 + c] = virial[i, c]
        table[i, 7] = m * vx * vx
        table[i, 8] = m * vy * vy
        table[i, 9] = m * vz * vz
        table[i, 10] = m * vx * vy
        table[i, 11] = m * vx * vz
        table[i, 12] = m * vy * vz
    return accumulate_limbs(table, limbs)
