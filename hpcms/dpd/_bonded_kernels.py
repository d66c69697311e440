"""Numba kernels of harmonic bonds and angles.  Arrays in, arrays out.

Each owned particle's bonded force is computed in its own row, from its own
position and the images of its partners nearest to it (resolved at list
builds), and summed in global bond / angle order, so the bits do not depend on
the decomposition.  Nothing is scattered to other particles.
"""

import math

import numba
import numpy as np

kernel = numba.njit(cache=True, error_model="numpy")

SMALL = 0.001  # LAMMPS angle_harmonic's floor on sin(theta)


@kernel
def _slots_of(pid, sorted_ids, lo_hi):
    """[lo, hi) of the slots holding particle id pid in the id-sorted slot order."""
    lo, hi = 0, sorted_ids.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_ids[mid] < pid:
            lo = mid + 1
        else:
            hi = mid
    first = lo
    hi = sorted_ids.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_ids[mid] <= pid:
            lo = mid + 1
        else:
            hi = mid
    lo_hi[0] = first
    lo_hi[1] = lo


@kernel
def _nearest(pid, x, ref, order, sorted_ids, lo_hi):
    """Slot of the image of pid nearest to point x[ref], and its squared distance (-1: none)."""
    _slots_of(pid, sorted_ids, lo_hi)
    best, best_d2 = -1, np.inf
    for p in range(lo_hi[0], lo_hi[1]):
        s = order[p]
        d0 = x[s, 0] - x[ref, 0]
        d1 = x[s, 1] - x[ref, 1]
        d2 = x[s, 2] - x[ref, 2]
        r2 = d0 * d0 + d1 * d1 + d2 * d2
        if r2 < best_d2:
            best, best_d2 = s, r2
    return best, best_d2


@kernel
def count_entries(ids, n_local, start):
    """Number of topology entries of the owned particles (start: per-id CSR)."""
    n = 0
    for i in range(n_local):
        n += start[ids[i] + 1] - start[ids[i]]
    return n


@kernel
def resolve_bonds(x, ids, n_local, order, sorted_ids, start, partner, btype, reach_sq,
                  lstart, lslot, ltype, bad):
    """Local bond rows: for owned i, the slot of each partner's image nearest to i.

    start/partner/btype: per-id CSR of the global bond list (each bond under
    both ends, in bond order).  Fills lstart (n_local + 1), lslot, ltype.
    bad[0:2] gets the ids of the first bond (in row order) whose partner is
    missing or farther than sqrt(reach_sq); returns the number of bad bonds.
    """
    lo_hi = np.empty(2, dtype=np.int64)
    m = 0
    n_bad = 0
    for i in range(n_local):
        lstart[i] = m
        pid = ids[i]
        for e in range(start[pid], start[pid + 1]):
            s, d2 = _nearest(partner[e], x, i, order, sorted_ids, lo_hi)
            if s < 0 or d2 > reach_sq:
                if n_bad == 0:
                    bad[0], bad[1] = pid, partner[e]
                n_bad += 1
                s = i  # a zero-length placeholder; the caller raises
            lslot[m] = s
            ltype[m] = btype[e]
            m += 1
    lstart[n_local] = m
    return n_bad


@kernel
def resolve_angles(x, ids, n_local, order, sorted_ids, start, members, role, atype, reach_sq,
                   lstart, lslots, lrole, ltype, bad):
    """Local angle rows: slots of (a, b, c) seen from owned i (which is members[role]).

    From i the centre b is its own slot (role 1) or the image nearest to i;
    the far end is the image nearest to that b.  Fills lstart, lslots (m, 3),
    lrole, ltype; bad[0:3] gets the ids of the first angle with a missing or
    too long arm.  Returns the number of bad angles.
    """
    lo_hi = np.empty(2, dtype=np.int64)
    m = 0
    n_bad = 0
    for i in range(n_local):
        lstart[i] = m
        pid = ids[i]
        for e in range(start[pid], start[pid + 1]):
            a, b, c = members[e, 0], members[e, 1], members[e, 2]
            r = role[e]
            ok = True
            if r == 1:
                sb = i
                sa, da = _nearest(a, x, sb, order, sorted_ids, lo_hi)
                sc, dc = _nearest(c, x, sb, order, sorted_ids, lo_hi)
                ok = sa >= 0 and sc >= 0 and da <= reach_sq and dc <= reach_sq
            else:
                sb, db = _nearest(b, x, i, order, sorted_ids, lo_hi)
                ok = sb >= 0 and db <= reach_sq
                if ok:
                    far = c if r == 0 else a
                    sf, df = _nearest(far, x, sb, order, sorted_ids, lo_hi)
                    ok = sf >= 0 and df <= reach_sq
                    if r == 0:
                        sa, sc = i, sf
                    else:
                        sa, sc = sf, i
            if not ok:
                if n_bad == 0:
                    bad[0], bad[1], bad[2] = a, b, c
                n_bad += 1
                sa = sb = sc = i
            lslots[m, 0], lslots[m, 1], lslots[m, 2] = sa, sb, sc
            lrole[m] = r
            ltype[m] = atype[e]
            m += 1
    lstart[n_local] = m
    return n_bad


@kernel
def bond_forces(x, n_local, lstart, lslot, ltype, k, r0, f, energy, virial, with_energy):
    """f[i] += -k (r - r0) d / r per bond of i, d = x_i - x_j; E = k (r - r0)^2 / 2.

    With with_energy, energy[i] += E / 2 and virial[i] += d (x) F_i / 2 per bond.
    """
    for i in range(n_local):
        for m in range(lstart[i], lstart[i + 1]):
            j = lslot[m]
            t = ltype[m]
            dx, dy, dz = x[i, 0] - x[j, 0], x[i, 1] - x[j, 1], x[i, 2] - x[j, 2]
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            stretch = r - r0[t]
            fb = -k[t] * stretch / r if r > 0.0 else 0.0
            f[i, 0] += dx * fb
            f[i, 1] += dy * fb
            f[i, 2] += dz * fb
            if with_energy:
                energy[i] += 0.25 * k[t] * stretch * stretch
                virial[i, 0] += 0.5 * dx * dx * fb
                virial[i, 1] += 0.5 * dy * dy * fb
                virial[i, 2] += 0.5 * dz * dz * fb
                virial[i, 3] += 0.5 * dx * dy * fb
                virial[i, 4] += 0.5 * dx * dz * fb
                virial[i, 5] += 0.5 * dy * dz * fb


@kernel
def angle_forces(x, n_local, lstart, lslots, lrole, ltype, k, theta0, f, energy, virial,
                 with_energy):
    """f[i] += the harmonic angle force on i, E = k (theta - theta0)^2 / 2.

    theta is the angle at b between r1 = x_a - x_b and r2 = x_c - x_b.  With
    with_energy, energy[i] += E / 3 and virial[i] += (r1 (x) F_a + r2 (x) F_c) / 3.
    """
    for i in range(n_local):
        for m in range(lstart[i], lstart[i + 1]):
            sa, sb, sc = lslots[m, 0], lslots[m, 1], lslots[m, 2]
            t = ltype[m]
            x1 = x[sa, 0] - x[sb, 0]
            y1 = x[sa, 1] - x[sb, 1]
            z1 = x[sa, 2] - x[sb, 2]
            x2 = x[sc, 0] - x[sb, 0]
            y2 = x[sc, 1] - x[sb, 1]
            z2 = x[sc, 2] - x[sb, 2]
            rsq1 = x1 * x1 + y1 * y1 + z1 * z1
            rsq2 = x2 * x2 + y2 * y2 + z2 * z2
            r1 = math.sqrt(rsq1)
            r2 = math.sqrt(rsq2)
            if r1 == 0.0 or r2 == 0.0:
                continue
            c = (x1 * x2 + y1 * y2 + z1 * z2) / (r1 * r2)
            c = min(max(c, -1.0), 1.0)
            s = max(math.sqrt(1.0 - c * c), SMALL)
            dtheta = math.acos(c) - theta0[t]
            a = k[t] * dtheta / s  # -dE/dc
            a11 = a * c / rsq1
            a12 = -a / (r1 * r2)
            a22 = a * c / rsq2
            # F_a = a dc/dr1 with dc/dr1 = r2 / (r1 r2) - c r1 / r1^2 (signs folded as LAMMPS).
            fax = -(a11 * x1 + a12 * x2)
            fay = -(a11 * y1 + a12 * y2)
            faz = -(a11 * z1 + a12 * z2)
            fcx = -(a22 * x2 + a12 * x1)
            fcy = -(a22 * y2 + a12 * y1)
            fcz = -(a22 * z2 + a12 * z1)
            r = lrole[m]
            if r == 0:
                f[i, 0] += fax
                f[i, 1] += fay
                f[i, 2] += faz
            elif r == 2:
                f[i, 0] += fcx
                f[i, 1] += fcy
                f[i, 2] += fcz
            else:
                f[i, 0] -= fax + fcx
                f[i, 1] -= fay + fcy
                f[i, 2] -= faz + fcz
            if with_energy:
                third = 1.0 / 3.0
                energy[i] += third * 0.5 * k[t] * dtheta * dtheta
                virial[i, 0] += third * (x1 * fax + x2 * fcx)
                virial[i, 1] += third * (y1 * fay + y2 * fcy)
                virial[i, 2] += third * (z1 * faz + z2 * fcz)
                virial[i, 3] += third * (x1 * fay + x2 * fcy)
                virial[i, 4] += third * (x1 * faz + x2 * fcz)
                virial[i, 5] += third * (y1 * faz + y2 * fcz)
