"""Kernels of the atomistic RVE: coordinate maps, the FIRE minimiser's
per-atom work, a whole FIRE relaxation on one rank (`fire_relax`), exact
sums rounded by `hpcms.parallel._reduce_kernels.round_limbs`, the second
derivatives and Hessian of the analytic tangent, and the samples of
dynamics.  Arrays and scalars in, preallocated arrays out (`fire_relax`
allocates nothing; `tangent_rows` and `hessian` neither).

Every atom is treated by itself with a fixed sequence of operations, so the
bits of its results depend only on its own inputs, never on which rank holds
it or where it sits in the arrays.  No fastmath: the FIRE update must be the
same arithmetic on every rank.

`fire_relax` calls `hpcms.md._pair_kernels.lj_cut_forces_one_type` and
`hpcms.particles._neighbor_kernels.displacement_check` (`ParticleSystem.
displacement`'s test), and repeats `Halo.update_positions`' ghost copies on
one rank: numba's cache does not notice changes to a called
kernel in another file, so clear `.numba_cache` after editing that one.
"""

import math

import numba
import numpy as np

from ..md._pair_kernels import lj_cut_forces_one_type
from ..parallel._reduce_kernels import accumulate_limbs, round_limbs
from ..particles._neighbor_kernels import displacement_check

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


# --- FIRE on one rank, fused ----------------------------------------------------------

# What `fire_relax` stopped at.
FIRE_CONVERGED, FIRE_MAX_ITERATIONS, FIRE_RUNAWAY, FIRE_LOST, FIRE_REBUILD, FIRE_BAD_SUM = \
    0, 1, 2, 3, 4, 5


@kernel
def fire_relax(x, v, f, x_ref, n, ghost_owner, ghost_shift, ghost_base, nbr_start, nbr_index,
               lj1, lj2, cutsq, table, limbs, sums, params, state, counters, ftol,
               max_iterations, halo_cutoff, skin, strain_reach, runaway):
    """FIRE steps of the n atoms of a one-rank RVE, each step in the order and
    with the arithmetic of `hpcms.fe2.rve.FIRE.minimize` with
    `RVE._moved` (the same bits):

        norms -> stop tests -> exact sums of f.v, v.v, f.f -> FIRE update
        -> move -> displacement check -> ghosts -> forces

    until converged, out of iterations, a runaway, a lost atom, or a step
    after which the lists must be rebuilt (the caller rebuilds them, computes
    the forces and calls again).  Ghost g is the periodic copy of owned atom
    ghost_owner[g] shifted by ghost_shift[g] (`Halo.update_positions` on one
    rank); forces are `lj_cut_forces_one_type`.

    params: FIRE's (dt_max, dt_min, n_delay, f_inc, f_dec, alpha_start,
    f_alpha, max_step); state: (dt, alpha, f_max) in and out; counters:
    (n_up, steps) in and out.  Returns one of the FIRE_* codes.
    """
    dt_max, dt_min, n_delay, f_inc = params[0], params[1], params[2], params[3]
    f_dec, alpha_start, f_alpha, max_step = params[4], params[5], params[6], params[7]
    dt, alpha = state[0], state[1]
    n_up, steps = counters[0], counters[1]
    n_ghost = ghost_owner.shape[0]
    code = FIRE_CONVERGED
    f_max = 0.0
    while True:
        f_max, v_max = fire_norms(f, v, n, table)
        if not (f_max < runaway and v_max < runaway):
            code = FIRE_RUNAWAY
            break
        if f_max <= ftol:
            code = FIRE_CONVERGED
            break
        if steps >= max_iterations:
            code = FIRE_MAX_ITERATIONS
            break
        limbs[...] = 0
        if accumulate_limbs(table, limbs):
            code = FIRE_BAD_SUM
            break
        round_limbs(limbs, sums)
        fv, vv, ff = sums[0], sums[1], sums[2]
        if fv > 0.0:
            n_up += 1
            keep, back = 1.0, 0.0
            if n_up > n_delay:
                grown = dt * f_inc
                dt = dt_max if dt_max < grown else grown          # Python's min
                alpha *= f_alpha
        else:
            n_up = 0
            if steps >= n_delay:
                shrunk = dt * f_dec
                dt = dt_min if dt_min > shrunk else shrunk       # Python's max
                alpha = alpha_start
            keep, back = 0.0, 0.5 * dt
        w = keep * (vv + 2.0 * dt * fv) + dt * dt * ff
        v_new = math.sqrt(0.0 if 0.0 > w else w)
        a, b = 1.0 - alpha, alpha * v_new / math.sqrt(ff)
        bound = a * (keep * v_max + dt * f_max) + b * f_max
        dt_x = dt if bound * dt <= max_step else max_step / bound
        fire_move(x, v, f, n, back, keep, dt, a, b, dt_x)
        steps += 1
        # The displacement check of `ParticleSystem.displacement`.
        worst, first_bad = displacement_check(x, x_ref, n)
        lost = first_bad >= 0
        moved = math.sqrt(worst)
        if lost or not moved <= halo_cutoff:
            code = FIRE_LOST
            break
        if 2.0 * moved + strain_reach > skin:
            code = FIRE_REBUILD
            break
        for g in range(n_ghost):
            o = ghost_owner[g]
            for d in range(3):
                ghost_base[g, d] = x[o, d]
                x[n + g, d] = x[o, d] + ghost_shift[g, d]
        lj_cut_forces_one_type(x, n, nbr_start, nbr_index, lj1, lj2, cutsq, f)
    state[0], state[1], state[2] = dt, alpha, f_max
    counters[0], counters[1] = n_up, steps
    return code


# --- the analytic tangent -----------------------------------------------------------

@kernel
def tangent_rows(x, ids, n, nbr_start, nbr_index, lj1, lj2, cutsq, F_inverse, born, mixed,
                 row_count, row_ids, row_D):
    """Second derivatives of the LJ energy for the analytic tangent, per owned atom a.

    With r = x_a - x_j over the row's neighbours j inside the cutoff, psi =
    phi'(r)/r = -(lj1 r^-14 - lj2 r^-8), D = 2 dpsi/d(r^2) r r^T + psi I
    (= d^2 phi / dr dr) and R = F^-1 r (the pair in the reference cell):

        born[a, (i J k L)] = 1/2 sum_j D_ik R_J R_L   (d^2E/dF dF at fixed fractions)
        mixed[a, (i k L)]  = sum_j D_ik R_L           (d^2E/dx_a dF)
        row j: row_ids = ids[j], row_D = D (xx yy zz xy xz yz)   (the Hessian's row)

    Entries of atom a go to row_ids/row_D from nbr_start[a] on (row_count[a]
    of them), in the row's order.  Each row is summed in its own order, so the
    values do not depend on the decomposition.
    """
    for a in range(n):
        xa, ya, za = x[a, 0], x[a, 1], x[a, 2]
        for c in range(81):
            born[a, c] = 0.0
        for c in range(27):
            mixed[a, c] = 0.0
        m = 0
        base = nbr_start[a]
        for k in range(nbr_start[a], nbr_start[a + 1]):
            j = nbr_index[k]
            r0, r1, r2 = xa - x[j, 0], ya - x[j, 1], za - x[j, 2]
            rsq = r0 * r0 + r1 * r1 + r2 * r2
            if not rsq < cutsq:
                continue
            s_inv = 1.0 / rsq
            s3 = s_inv * s_inv * s_inv
            psi = -s3 * (lj1 * s3 - lj2) * s_inv                      # -fpair
            psi_s = s3 * (7.0 * lj1 * s3 - 4.0 * lj2) * s_inv * s_inv
            dxx = 2.0 * psi_s * r0 * r0 + psi
            dyy = 2.0 * psi_s * r1 * r1 + psi
            dzz = 2.0 * psi_s * r2 * r2 + psi
            dxy = 2.0 * psi_s * r0 * r1
            dxz = 2.0 * psi_s * r0 * r2
            dyz = 2.0 * psi_s * r1 * r2
            D = (dxx, dxy, dxz, dxy, dyy, dyz, dxz, dyz, dzz)
            R = ((F_inverse[0, 0] * r0 + F_inverse[0, 1] * r1) + F_inverse[0, 2] * r2,
                 (F_inverse[1, 0] * r0 + F_inverse[1, 1] * r1) + F_inverse[1, 2] * r2,
                 (F_inverse[2, 0] * r0 + F_inverse[2, 1] * r1) + F_inverse[2, 2] * r2)
            for i in range(3):
                for kk in range(3):
                    d = D[3 * i + kk]
                    for L in range(3):
                        mixed[a, (i * 3 + kk) * 3 + L] += d * R[L]
                        for J in range(3):
                            born[a, ((i * 3 + J) * 3 + kk) * 3 + L] += 0.5 * d * R[J] * R[L]
            row_ids[base + m] = ids[j]
            row_D[base + m, 0] = dxx
            row_D[base + m, 1] = dyy
            row_D[base + m, 2] = dzz
            row_D[base + m, 3] = dxy
            row_D[base + m, 4] = dxz
            row_D[base + m, 5] = dyz
            m += 1
        row_count[a] = m


@kernel
def hessian(atom_row, row_start, row_count, row_ids, row_D, id_row, K):
    """K (3N, 3N) += the Hessian d^2E/dx dx from the rows of `tangent_rows`.

    Atom rows come in the order of atom_row (their row of K / 3); entries of
    atom a are row_ids/row_D[row_start[a]: row_start[a] + row_count[a]], and
    id_row maps an atom id to its row.  Block (a, b) gets -D for each
    neighbour slot of b, block (a, a) + D: a periodic image of a itself adds
    nothing.  Filled in a fixed order, the same for any decomposition."""
    for a in range(atom_row.shape[0]):
        p = 3 * atom_row[a]
        for e in range(row_start[a], row_start[a] + row_count[a]):
            q = 3 * id_row[row_ids[e]]
            d0, d1, d2, d3, d4, d5 = (row_D[e, 0], row_D[e, 1], row_D[e, 2], row_D[e, 3],
                                      row_D[e, 4], row_D[e, 5])
            block = (d0, d3, d4, d3, d1, d5, d4, d5, d2)
            for i in range(3):
                for k in range(3):
                    K[p + i, q + k] -= block[3 * i + k]
                    K[p + i, p + k] += block[3 * i + k]
