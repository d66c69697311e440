"""Numba kernels of the DPD pair style (Groot & Warren 1997).  Arrays in, arrays out.

Conventions are those of `hpcms.md._pair_kernels` (ghosts as real periodic
copies, ``d = x_i - x_j``, ``fpair`` multiplies ``d``) except for the sums.
Per pair, with ``r = |d|``, ``w = 1 - r / rc`` and ``dv = v_i - v_j``::

    F_ij = [c a w - gamma w^2 (d . dv) / r + sigma w theta_ij / sqrt(dt)] d / r

with ``c`` 0 for an excluded (bonded) pair, else 1, and ``theta_ij`` the pair
normal keyed by (seed, step, min id, max id) (`hpcms.md.rng.pair_gaussian`).
``fpair`` depends on ``d`` and ``dv`` only through ``|d|^2`` and ``d . dv``,
which do not change, bit for bit, when i and j swap (both vectors change sign
exactly), so the pair gives exactly ``-F_ij`` seen from j on any rank.

Sums are exact: each pair term is rounded once to an integer multiple of
``1 / FIXED_SCALE`` (about 1e-12) and the integers are added, so a particle's force does
not depend on the order of its terms.  That frees the list from the
decomposition-independent row order of the other styles: DPD runs on a half
list (each pair once over all ranks, Newton's third law; the sums of ghost
rows go back to their owners) and stays bitwise identical on any number of
ranks; on a full list (the dpd/tstat overlay, sharing the list of another
style) every row adds only its own particle's terms.

The forces take three passes, so that the random numbers, the costly part,
are drawn in a loop that compiles to SIMD code:

1. `dpd_pair_select` keeps the list entries within the cutoff, in list
   order, and `dpd_pair_terms` computes for each ``fpair``'s deterministic
   part ``(c a w - gamma w^2 (d . dv) / r) / r``, its random coefficient
   ``sigma w / (r sqrt(dt))`` and the pair's Philox counter;
2. `pair_normals` draws one normal per kept entry;
3. `dpd_fixed_sums` adds the rounded terms.

`dpd_forces` runs the passes over blocks of rows of about BLOCK list
entries, so that the per-pair scratch (~50 bytes a pair) stays in cache
instead of streaming the whole list's through memory.
"""

import math

import numba
import numpy as np

from hpcms.md._rng_kernels import pair_counter, pair_normal, pair_normal_central, pair_uniform

# No `reassoc`: sums are taken in the order written (the row order).  The
# other flags only shorten individual operations, the same way in every row.
FASTMATH = {"nsz", "arcp", "contract", "afn"}

kernel = numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)

# Pairs closer than this are skipped, as LAMMPS pair dpd does (r-hat undefined).
R_MIN = 1.0e-10

# Pair terms are summed as integer multiples of 1 / FIXED_SCALE (2^-40, about
# 1e-12 in force or energy units).  A term beyond FIXED_LIMIT (2^16 = 65536
# in those units) is a fault: 128 such terms still fit an int64 sum.
FIXED_SCALE = 2.0 ** 40
FIXED_LIMIT = 2.0 ** 56

# List entries per block of `dpd_forces`: its scratch, ~200 kB, fits the L2 cache.
BLOCK = 4096


@kernel
def _excluded(excl_start, excl_partner, id_i, id_j):
    """Whether id_j is among the bond partners of id_i (an empty table: none)."""
    if id_i + 1 >= excl_start.shape[0]:
        return False
    for b in range(excl_start[id_i], excl_start[id_i + 1]):
        if excl_partner[b] == id_j:
            return True
    return False


@kernel
def dpd_pair_select(x, types, i0, i1, nbr_start, nbr_index, cutsq, row_end, pj):
    """Pass 1a: the list entries within the cutoff of rows i0 <= i < i1, row
    by row in list order.

    x: (n_total, 3) owned then ghosts; types (n_total,) int32 0-based; cutsq
    (n_types, n_types).  Kept entries t of row i, row_end[i - i0 - 1] <= t <
    row_end[i - i0] (from 0), are its neighbours pj[t]; pj has room for the
    rows' list entries.  Returns the number kept.
    """
    n = 0
    for i in range(i0, i1):
        c_i = cutsq[types[i]]
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            rsq = dx * dx + dy * dy + dz * dz
            # Branch-free compaction: always write, advance when kept.
            pj[n] = j
            n += np.int64((rsq < c_i[types[j]]) & (rsq > R_MIN * R_MIN))
        row_end[i - i0] = n
    return n


@kernel
def dpd_pair_terms(x, v, ids, types, i0, i1, row_end, pj, a, gamma, sigma, rcinv, dtinvsqrt,
                   excl_start, excl_partner, fcd, frand, c0, c1, c3):
    """Pass 1b: for each kept pair t of rows i0 <= i < i1, fcd[t] and frand[t]
    (see the module docstring) and the pair's counter words c0, c1, c3.

    v: (n_total, 3) velocities, ghosts' forwarded from their owners; ids
    (n_total,) int64 global ids; a, gamma, sigma, rcinv: (n_types, n_types)
    tables (a = 0 everywhere: the DPD thermostat alone).  excl_start,
    excl_partner: bond partners by global id (CSR over ids) whose
    conservative force is left out; excl_start empty: none.
    """
    exclude = excl_start.shape[0] > 0
    t = 0
    for i in range(i0, i1):
        ti = types[i]
        a_i, g_i, s_i, rc_i = a[ti], gamma[ti], sigma[ti], rcinv[ti]
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        vxi, vyi, vzi = v[i, 0], v[i, 1], v[i, 2]
        idi = ids[i]
        while t < row_end[i - i0]:
            j = pj[t]
            tj = types[j]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            rinv = 1.0 / r
            wd = 1.0 - r * rc_i[tj]
            dot = dx * (vxi - v[j, 0]) + dy * (vyi - v[j, 1]) + dz * (vzi - v[j, 2])
            a_ij = a_i[tj]
            if exclude and _excluded(excl_start, excl_partner, idi, ids[j]):
                a_ij = 0.0
            fcd[t] = (a_ij * wd - g_i[tj] * wd * wd * dot * rinv) * rinv
            frand[t] = s_i[tj] * wd * dtinvsqrt * rinv
            c0[t], c1[t], c3[t] = pair_counter(idi, ids[j])
            t += 1


@numba.njit(cache=True, error_model="numpy")
def pair_normals(n, c0, c1, c3, c2, k0, k1, u, theta):
    """Pass 2: theta[t] = the pair normal of counter (c0[t], c1[t], c2, c3[t]) and
    key (k0, k1): `pair_normal`(`pair_uniform`(...)), the bits of
    `hpcms.md.rng.pair_gaussian`.  Scratch: u (n,) float64.

    Compiled without fast-math (no contraction), like `pair_normal`.  The
    first two loops have no branch and compile to SIMD code; the 15 % of
    draws in the tails are finished one by one.
    """
    for t in range(n):
        u[t] = pair_uniform(c0[t], c1[t], c2, c3[t], k0, k1)
    for t in range(n):
        theta[t] = pair_normal_central(u[t] - 0.5)
    for t in range(n):
        if abs(u[t] - 0.5) > 0.425:
            theta[t] = pair_normal(u[t])


@kernel
def dpd_fixed_sums(x, i0, i1, row_end, pj, fcd, frand, theta, half, acc):
    """Pass 3: acc[i] += round(d (fcd[t] + frand[t] theta[t]) FIXED_SCALE) over the
    kept entries t of rows i0 <= i < i1; with a half list (`half`) also acc[j] -= the same, ghosts
    j included (their sums go back to their owners).  Integer sums: the
    result does not depend on the order of the terms, so neither on the
    list's nor on the decomposition's.  acc: (n_total, 3) int64 (a full
    list: n_local rows will do), zeroed by the caller.  Returns -1, or the
    first entry whose term is not finite or beyond FIXED_LIMIT.
    """
    t = 0
    for i in range(i0, i1):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        ax = ay = az = np.int64(0)
        while t < row_end[i - i0]:
            j = pj[t]
            fpair = (fcd[t] + frand[t] * theta[t]) * FIXED_SCALE
            fx = np.rint((xi - x[j, 0]) * fpair)
            fy = np.rint((yi - x[j, 1]) * fpair)
            fz = np.rint((zi - x[j, 2]) * fpair)
            if not max(abs(fx), abs(fy), abs(fz)) < FIXED_LIMIT:
                return t
            qx, qy, qz = np.int64(fx), np.int64(fy), np.int64(fz)
            ax += qx
            ay += qy
            az += qz
            if half:
                acc[j, 0] -= qx
                acc[j, 1] -= qy
                acc[j, 2] -= qz
            t += 1
        acc[i, 0] += ax
        acc[i, 1] += ay
        acc[i, 2] += az
    return -1


@numba.njit(cache=True, error_model="numpy")
def dpd_forces(x, v, ids, types, n_local, nbr_start, nbr_index, half, a, gamma, sigma, cutsq,
               rcinv, dtinvsqrt, excl_start, excl_partner, c2, k0, k1, acc, bad):
    """The three passes over blocks of rows of about BLOCK list entries: acc
    gets the fixed-point pair forces (see `dpd_fixed_sums`; zeroed by the
    caller); (c2, k0, k1) are the counter's step word and the key
    (`pair_normals`).  Arguments otherwise as the passes'.  Returns True, or
    False with bad = (i, j), the slots of a pair whose term is not finite or
    beyond FIXED_LIMIT.
    """
    longest = 0
    for i in range(n_local):
        longest = max(longest, nbr_start[i + 1] - nbr_start[i])
    size = max(BLOCK, longest)
    row_end = np.empty(n_local, np.int64)
    pj = np.empty(size, np.int32)
    fcd = np.empty(size)
    frand = np.empty(size)
    u = np.empty(size)
    theta = np.empty(size)
    c0 = np.empty(size, np.uint32)
    c1 = np.empty(size, np.uint32)
    c3 = np.empty(size, np.uint32)
    i0 = 0
    while i0 < n_local:
        i1 = i0 + 1
        while i1 < n_local and nbr_start[i1 + 1] - nbr_start[i0] <= size:
            i1 += 1
        kept = dpd_pair_select(x, types, i0, i1, nbr_start, nbr_index, cutsq, row_end, pj)
        dpd_pair_terms(x, v, ids, types, i0, i1, row_end, pj, a, gamma, sigma, rcinv, dtinvsqrt,
                       excl_start, excl_partner, fcd, frand, c0, c1, c3)
        pair_normals(kept, c0, c1, c3, c2, k0, k1, u, theta)
        t = dpd_fixed_sums(x, i0, i1, row_end, pj, fcd, frand, theta, half, acc)
        if t >= 0:
            i = i0
            while row_end[i - i0] <= t:
                i += 1
            bad[0], bad[1] = i, pj[t]
            return False
        i0 = i1
    return True


@numba.njit(cache=True)
def from_fixed(acc, out):
    """out = acc / FIXED_SCALE (exact while |acc| < 2**53)."""
    for i in range(acc.shape[0]):
        for d in range(acc.shape[1]):
            out[i, d] = acc[i, d] * (1.0 / FIXED_SCALE)


@kernel
def dpd_energy_virial(x, ids, types, n_local, nbr_start, nbr_index, half, a, cutsq, rc, rcinv,
                      excl_start, excl_partner, acc):
    """Conservative energy and virial per owned particle, in fixed point.

    ``e_ij = a rc w^2 / 2``; particle i gets 1/2 e_ij and 1/2 d (x) F^C_ij
    (xx, yy, zz, xy, xz, yz) of each pair, both rounded to multiples of
    1 / FIXED_SCALE into acc[i] (energy, then the virial), and with a half
    list (`half`) j gets the same, ghosts included (acc (n_total, 7) int64;
    a full list: n_local rows will do).  Excluded pairs
    (see `dpd_pair_terms`) add nothing.  The dissipative and random forces
    have zero mean virial in equilibrium (Groot & Warren 1997 compute the
    pressure from the conservative force), so they are left out of the
    reported pressure, which is then free of their noise.
    """
    q = np.empty(7, np.int64)
    for i in range(n_local):
        ti = types[i]
        a_i, c_i, rc_i, rci_i = a[ti], cutsq[ti], rc[ti], rcinv[ti]
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        idi = ids[i]
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            tj = types[j]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            rsq = dx * dx + dy * dy + dz * dz
            if rsq < c_i[tj] and rsq > R_MIN * R_MIN:
                if excl_start.shape[0] > 0 and _excluded(excl_start, excl_partner, idi, ids[j]):
                    continue
                r = math.sqrt(rsq)
                wd = 1.0 - r * rci_i[tj]
                half_f = 0.5 * a_i[tj] * wd / r * FIXED_SCALE
                q[0] = np.int64(np.rint(0.25 * a_i[tj] * rc_i[tj] * wd * wd * FIXED_SCALE))
                q[1] = np.int64(np.rint(dx * dx * half_f))
                q[2] = np.int64(np.rint(dy * dy * half_f))
                q[3] = np.int64(np.rint(dz * dz * half_f))
                q[4] = np.int64(np.rint(dx * dy * half_f))
                q[5] = np.int64(np.rint(dx * dz * half_f))
                q[6] = np.int64(np.rint(dy * dz * half_f))
                for c in range(7):
                    acc[i, c] += q[c]
                if half:
                    for c in range(7):
                        acc[j, c] += q[c]


@numba.njit(cache=True)
def predicted_velocity(v, f, mass, factor, out):
    """out = v + factor f / m (Groot–Warren's predicted velocity, factor = (lambda - 1/2) dt)."""
    for i in range(v.shape[0]):
        c = factor / mass[i]
        for d in range(3):
            out[i, d] = v[i, d] + c * f[i, d]
