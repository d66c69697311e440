"""Numba kernels for pair forces over a full CSR neighbour list.

Conventions shared by every kernel (reduced units):

- The neighbours of owned particle ``i`` are
  ``nbr_index[nbr_start[i]:nbr_start[i + 1]]``, indices into ``x`` (owned
  particles first, then ghosts, which are real periodic copies: no minimum
  image).  The list reaches cutoff + skin; the per-pair cutoff is applied here.
- ``d = x_i - x_j`` and ``fpair = -(dE/dr) / r``, so the force on ``i`` is
  ``d * fpair``.  Outputs for ``i < n_local`` are overwritten:
  ``f[i] = sum_j d fpair``, ``energy[i] = 1/2 sum_j e_ij`` and
  ``virial[i] = 1/2 sum_j d (x) d fpair`` in the order xx, yy, zz, xy, xz, yz.
- Determinism: row ``i`` is summed on its own, nothing is scattered to ``j``,
  and every row runs through the same compiled loop, so the bits of row ``i``'s
  results depend only on ``x_i`` and the contents and order of row ``i``.
  ``reassoc`` lets LLVM vectorise the row sum with lane-wise partial sums;
  the lane pattern depends only on the position within the row, so the rule
  holds.  Forces and energy/virial are separate kernels so that forces are the
  same bits whether or not energy and virial are asked for.
- The cutoff test is a select (LJ) or a 0/1 factor (Morse, whose scalar
  ``exp`` calls vectorise better that way), never a branch, so that the row
  loop vectorises; pairs beyond the cutoff are evaluated and discarded.
- ``*_one_type`` kernels take scalar coefficients; the others take
  (n_types, n_types) tables indexed by 0-based ``types``.
"""

import math

import numba

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

kernel = numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)


@kernel
def _lj_fpair(rsq, lj1, lj2, cutsq):
    r2inv = 1.0 / rsq
    r6inv = r2inv * r2inv * r2inv
    return r6inv * (lj1 * r6inv - lj2) * r2inv if rsq < cutsq else 0.0


@kernel
def _lj_energy(rsq, lj3, lj4, offset, cutsq):
    r2inv = 1.0 / rsq
    r6inv = r2inv * r2inv * r2inv
    return r6inv * (lj3 * r6inv - lj4) - offset if rsq < cutsq else 0.0


@kernel
def _morse_fpair(rsq, morse1, alpha, r0, cutsq):
    r = math.sqrt(rsq)
    dexp = math.exp(-alpha * (r - r0))
    return (rsq < cutsq) * (morse1 * (dexp * dexp - dexp) / r)


@kernel
def _morse_energy(rsq, d0, alpha, r0, offset, cutsq):
    dexp = math.exp(-alpha * (math.sqrt(rsq) - r0))
    return (rsq < cutsq) * (d0 * (dexp * dexp - 2.0 * dexp) - offset)


@kernel
def _store_energy_virial(i, e, vxx, vyy, vzz, vxy, vxz, vyz, energy, virial):
    energy[i] = 0.5 * e
    virial[i, 0] = 0.5 * vxx
    virial[i, 1] = 0.5 * vyy
    virial[i, 2] = 0.5 * vzz
    virial[i, 3] = 0.5 * vxy
    virial[i, 4] = 0.5 * vxz
    virial[i, 5] = 0.5 * vyz


@kernel
def lj_cut_forces_one_type(x, n_local, nbr_start, nbr_index, lj1, lj2, cutsq, f):
    for i in range(n_local):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        fx = fy = fz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            fpair = _lj_fpair(dx * dx + dy * dy + dz * dz, lj1, lj2, cutsq)
            fx += dx * fpair
            fy += dy * fpair
            fz += dz * fpair
        f[i, 0], f[i, 1], f[i, 2] = fx, fy, fz


@kernel
def lj_cut_forces(x, types, n_local, nbr_start, nbr_index, lj1, lj2, cutsq, f):
    for i in range(n_local):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        lj1_i, lj2_i, cutsq_i = lj1[types[i]], lj2[types[i]], cutsq[types[i]]
        fx = fy = fz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            tj = types[j]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            fpair = _lj_fpair(dx * dx + dy * dy + dz * dz, lj1_i[tj], lj2_i[tj], cutsq_i[tj])
            fx += dx * fpair
            fy += dy * fpair
            fz += dz * fpair
        f[i, 0], f[i, 1], f[i, 2] = fx, fy, fz


@kernel
def lj_cut_energy_virial_one_type(x, n_local, nbr_start, nbr_index,
                                  lj1, lj2, lj3, lj4, offset, cutsq, energy, virial):
    for i in range(n_local):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        e = vxx = vyy = vzz = vxy = vxz = vyz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            rsq = dx * dx + dy * dy + dz * dz
            fpair = _lj_fpair(rsq, lj1, lj2, cutsq)
            e += _lj_energy(rsq, lj3, lj4, offset, cutsq)
            vxx += dx * dx * fpair
            vyy += dy * dy * fpair
            vzz += dz * dz * fpair
            vxy += dx * dy * fpair
            vxz += dx * dz * fpair
            vyz += dy * dz * fpair
        _store_energy_virial(i, e, vxx, vyy, vzz, vxy, vxz, vyz, energy, virial)


@kernel
def lj_cut_energy_virial(x, types, n_local, nbr_start, nbr_index,
                         lj1, lj2, lj3, lj4, offset, cutsq, energy, virial):
    for i in range(n_local):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        ti = types[i]
        lj1_i, lj2_i, lj3_i, lj4_i = lj1[ti], lj2[ti], lj3[ti], lj4[ti]
        offset_i, cutsq_i = offset[ti], cutsq[ti]
        e = vxx = vyy = vzz = vxy = vxz = vyz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            tj = types[j]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            rsq = dx * dx + dy * dy + dz * dz
            fpair = _lj_fpair(rsq, lj1_i[tj], lj2_i[tj], cutsq_i[tj])
            e += _lj_energy(rsq, lj3_i[tj], lj4_i[tj], offset_i[tj], cutsq_i[tj])
            vxx += dx * dx * fpair
            vyy += dy * dy * fpair
            vzz += dz * dz * fpair
            vxy += dx * dy * fpair
            vxz += dx * dz * fpair
            vyz += dy * dz * fpair
        _store_energy_virial(i, e, vxx, vyy, vzz, vxy, vxz, vyz, energy, virial)


@kernel
def morse_forces_one_type(x, n_local, nbr_start, nbr_index, morse1, alpha, r0, cutsq, f):
    for i in range(n_local):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        fx = fy = fz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            fpair = _morse_fpair(dx * dx + dy * dy + dz * dz, morse1, alpha, r0, cutsq)
            fx += dx * fpair
            fy += dy * fpair
            fz += dz * fpair
        f[i, 0], f[i, 1], f[i, 2] = fx, fy, fz


@kernel
def morse_forces(x, types, n_local, nbr_start, nbr_index, morse1, alpha, r0, cutsq, f):
    for i in range(n_local):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        ti = types[i]
        morse1_i, alpha_i, r0_i, cutsq_i = morse1[ti], alpha[ti], r0[ti], cutsq[ti]
        fx = fy = fz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            tj = types[j]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            fpair = _morse_fpair(dx * dx + dy * dy + dz * dz,
                                 morse1_i[tj], alpha_i[tj], r0_i[tj], cutsq_i[tj])
            fx += dx * fpair
            fy += dy * fpair
            fz += dz * fpair
        f[i, 0], f[i, 1], f[i, 2] = fx, fy, fz


@kernel
def morse_energy_virial_one_type(x, n_local, nbr_start, nbr_index,
                                 d0, morse1, alpha, r0, offset, cutsq, energy, virial):
    for i in range(n_local):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        e = vxx = vyy = vzz = vxy = vxz = vyz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            rsq = dx * dx + dy * dy + dz * dz
            fpair = _morse_fpair(rsq, morse1, alpha, r0, cutsq)
            e += _morse_energy(rsq, d0, alpha, r0, offset, cutsq)
            vxx += dx * dx * fpair
            vyy += dy * dy * fpair
            vzz += dz * dz * fpair
            vxy += dx * dy * fpair
            vxz += dx * dz * fpair
            vyz += dy * dz * fpair
        _store_energy_virial(i, e, vxx, vyy, vzz, vxy, vxz, vyz, energy, virial)


@kernel
def morse_energy_virial(x, types, n_local, nbr_start, nbr_index,
                        d0, morse1, alpha, r0, offset, cutsq, energy, virial):
    for i in range(n_local):
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        ti = types[i]
        d0_i, morse1_i, alpha_i, r0_i = d0[ti], morse1[ti], alpha[ti], r0[ti]
        offset_i, cutsq_i = offset[ti], cutsq[ti]
        e = vxx = vyy = vzz = vxy = vxz = vyz = 0.0
        for k in range(nbr_start[i], nbr_start[i + 1]):
            j = nbr_index[k]
            tj = types[j]
            dx, dy, dz = xi - x[j, 0], yi - x[j, 1], zi - x[j, 2]
            rsq = dx * dx + dy * dy + dz * dz
            fpair = _morse_fpair(rsq, morse1_i[tj], alpha_i[tj], r0_i[tj], cutsq_i[tj])
            e += _morse_energy(rsq, d0_i[tj], alpha_i[tj], r0_i[tj], offset_i[tj], cutsq_i[tj])
            vxx += dx * dx * fpair
            vyy += dy * dy * fpair
            vzz += dz * dz * fpair
            vxy += dx * dy * fpair
            vxz += dx * dz * fpair
            vyz += dy * dz * fpair
        _store_energy_virial(i, e, vxx, vyy, vzz, vxy, vxz, vyz, energy, virial)
