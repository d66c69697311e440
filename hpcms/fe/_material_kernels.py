"""Numba kernels of the material-point laws in `hpcms.fe.materials`.

Conventions shared by every kernel:

- ``F`` is (n, 3, 3) float64, C-contiguous.  Outputs are preallocated and
  overwritten: ``W`` (n,) stored energy per unit reference volume, ``P``
  (n, 3, 3) first Piola-Kirchhoff stress and, when ``tangent`` is true, ``A``
  (n, 3, 3, 3, 3) with ``A[p, i, J, k, L] = dP[p, i, J] / dF[p, k, L]``
  (``A`` may be (0, 3, 3, 3, 3) when ``tangent`` is false).
- A point whose ``det F`` is not positive (or is NaN) gets NaN in its rows of
  ``W``, ``P`` and ``A``; nothing raises.
- Kernels take arrays and scalars only; scratch arrays are allocated once,
  before the loop over points.  Points are independent: the results of one
  point do not depend on the others in the batch.
"""

import math

import numba
import numpy as np

kernel = numba.njit(cache=True, error_model="numpy")


@kernel
def _det(F):
    return (F[0, 0] * (F[1, 1] * F[2, 2] - F[1, 2] * F[2, 1])
            - F[0, 1] * (F[1, 0] * F[2, 2] - F[1, 2] * F[2, 0])
            + F[0, 2] * (F[1, 0] * F[2, 1] - F[1, 1] * F[2, 0]))


@kernel
def _inverse_transpose(F, det, G):
    """G = F^-T (the cofactor matrix over det F)."""
    G[0, 0] = (F[1, 1] * F[2, 2] - F[1, 2] * F[2, 1]) / det
    G[0, 1] = (F[1, 2] * F[2, 0] - F[1, 0] * F[2, 2]) / det
    G[0, 2] = (F[1, 0] * F[2, 1] - F[1, 1] * F[2, 0]) / det
    G[1, 0] = (F[0, 2] * F[2, 1] - F[0, 1] * F[2, 2]) / det
    G[1, 1] = (F[0, 0] * F[2, 2] - F[0, 2] * F[2, 0]) / det
    G[1, 2] = (F[0, 1] * F[2, 0] - F[0, 0] * F[2, 1]) / det
    G[2, 0] = (F[0, 1] * F[1, 2] - F[0, 2] * F[1, 1]) / det
    G[2, 1] = (F[0, 2] * F[1, 0] - F[0, 0] * F[1, 2]) / det
    G[2, 2] = (F[0, 0] * F[1, 1] - F[0, 1] * F[1, 0]) / det


@kernel
def _nan_point(p, tangent, W, P, A):
    W[p] = np.nan
    P[p, :, :] = np.nan
    if tangent:
        A[p, :, :, :, :] = np.nan


@kernel
def neo_hookean(F, mu, lam, tangent, W, P, A):
    """Compressible neo-Hookean: W = mu/2 (I1 - 3) - mu ln J + lam/2 (ln J)^2,
    P = mu (F - G) + lam ln J G with G = F^-T, and
    A_iJkL = mu d_ik d_JL + (mu - lam ln J) G_iL G_kJ + lam G_iJ G_kL."""
    G = np.empty((3, 3))
    for p in range(F.shape[0]):
        Fp = F[p]
        det = _det(Fp)
        if not det > 0.0:
            _nan_point(p, tangent, W, P, A)
            continue
        _inverse_transpose(Fp, det, G)
        log_j = math.log(det)
        i1 = 0.0
        for i in range(3):
            for j in range(3):
                i1 += Fp[i, j] * Fp[i, j]
                P[p, i, j] = mu * (Fp[i, j] - G[i, j]) + lam * log_j * G[i, j]
        W[p] = 0.5 * mu * (i1 - 3.0) - mu * log_j + 0.5 * lam * log_j * log_j
        if not tangent:
            continue
        c = mu - lam * log_j
        for i in range(3):
            for j in range(3):
                for k in range(3):
                    for m in range(3):
                        a = c * G[i, m] * G[k, j] + lam * G[i, j] * G[k, m]
                        if i == k and j == m:
                            a += mu
                        A[p, i, j, k, m] = a


@kernel
def saint_venant_kirchhoff(F, mu, lam, tangent, W, P, A):
    """Saint Venant-Kirchhoff: E = (F^T F - I)/2, S = lam tr(E) I + 2 mu E,
    W = lam/2 tr(E)^2 + mu E:E, P = F S and
    A_iJkL = d_ik S_JL + lam F_iJ F_kL + mu (b_ik d_JL + F_iL F_kJ), b = F F^T."""
    E = np.empty((3, 3))
    S = np.empty((3, 3))
    b = np.empty((3, 3))
    for p in range(F.shape[0]):
        Fp = F[p]
        if not _det(Fp) > 0.0:
            _nan_point(p, tangent, W, P, A)
            continue
        for i in range(3):
            for j in range(3):
                c = 0.0
                bb = 0.0
                for k in range(3):
                    c += Fp[k, i] * Fp[k, j]
                    bb += Fp[i, k] * Fp[j, k]
                E[i, j] = 0.5 * (c - (1.0 if i == j else 0.0))
                b[i, j] = bb
        tr = E[0, 0] + E[1, 1] + E[2, 2]
        ee = 0.0
        for i in range(3):
            for j in range(3):
                ee += E[i, j] * E[i, j]
                S[i, j] = 2.0 * mu * E[i, j] + (lam * tr if i == j else 0.0)
        W[p] = 0.5 * lam * tr * tr + mu * ee
        for i in range(3):
            for j in range(3):
                s = 0.0
                for k in range(3):
                    s += Fp[i, k] * S[k, j]
                P[p, i, j] = s
        if not tangent:
            continue
        for i in range(3):
            for j in range(3):
                for k in range(3):
                    for m in range(3):
                        a = lam * Fp[i, j] * Fp[k, m] + mu * Fp[i, m] * Fp[k, j]
                        if j == m:
                            a += mu * b[i, k]
                        if i == k:
                            a += S[j, m]
                        A[p, i, j, k, m] = a


@kernel
def smallest_stretch_squared(F):
    """Smallest eigenvalue of C = F^T F (the squared smallest singular value
    of F), by the trigonometric closed form for symmetric 3x3 matrices."""
    c00 = F[0, 0] * F[0, 0] + F[1, 0] * F[1, 0] + F[2, 0] * F[2, 0]
    c11 = F[0, 1] * F[0, 1] + F[1, 1] * F[1, 1] + F[2, 1] * F[2, 1]
    c22 = F[0, 2] * F[0, 2] + F[1, 2] * F[1, 2] + F[2, 2] * F[2, 2]
    c01 = F[0, 0] * F[0, 1] + F[1, 0] * F[1, 1] + F[2, 0] * F[2, 1]
    c02 = F[0, 0] * F[0, 2] + F[1, 0] * F[1, 2] + F[2, 0] * F[2, 2]
    c12 = F[0, 1] * F[0, 2] + F[1, 1] * F[1, 2] + F[2, 1] * F[2, 2]
    q = (c00 + c11 + c22) / 3.0
    off = c01 * c01 + c02 * c02 + c12 * c12
    p2 = (c00 - q) ** 2 + (c11 - q) ** 2 + (c22 - q) ** 2 + 2.0 * off
    if p2 == 0.0:
        return q
    p = math.sqrt(p2 / 6.0)
    b00, b11, b22 = (c00 - q) / p, (c11 - q) / p, (c22 - q) / p
    b01, b02, b12 = c01 / p, c02 / p, c12 / p
    r = 0.5 * (b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02)
               + b02 * (b01 * b12 - b11 * b02))
    r = min(1.0, max(-1.0, r))
    return q + 2.0 * p * math.cos(math.acos(r) / 3.0 + 2.0 * math.pi / 3.0)


@kernel
def cauchy_born_lj(F, R, lj3, lj4, offset, cutsq, min_stretch_sq, inv_volume, tangent,
                   W, P, A):
    """Cauchy-Born lattice sum of a one-atom (Bravais) lattice with the lj/cut
    pair energy ``phi(r) = r^-6 (lj3 r^-6 - lj4) - offset`` for ``r^2 < cutsq``
    (lj3 = 4 eps sigma^12, lj4 = 4 eps sigma^6), over the reference neighbour
    vectors ``R`` (m, 3):

        W = inv_volume / 2 sum_R phi(|x|),   x = F R
        P_iJ = inv_volume / 2 sum_R phi'/r x_i R_J
        A_iJkL = inv_volume / 2 sum_R [(phi'' - phi'/r) / r^2 x_i x_k + phi'/r d_ik] R_J R_L

    A point whose smallest principal stretch squared is below
    ``min_stretch_sq`` (outside the validity of the list of ``R``) gets NaN.
    """
    B = np.empty((3, 3))  # sum phi'/r R (x) R, the d_ik term of A
    v = np.empty((3, 3))  # x (x) R of one neighbour
    half = 0.5 * inv_volume
    for p in range(F.shape[0]):
        Fp = F[p]
        if not (_det(Fp) > 0.0 and smallest_stretch_squared(Fp) >= min_stretch_sq):
            _nan_point(p, tangent, W, P, A)
            continue
        w = 0.0
        P[p, :, :] = 0.0
        if tangent:
            A[p, :, :, :, :] = 0.0
            B[:, :] = 0.0
        for n in range(R.shape[0]):
            r0, r1, r2 = R[n, 0], R[n, 1], R[n, 2]
            x0 = Fp[0, 0] * r0 + Fp[0, 1] * r1 + Fp[0, 2] * r2
            x1 = Fp[1, 0] * r0 + Fp[1, 1] * r1 + Fp[1, 2] * r2
            x2 = Fp[2, 0] * r0 + Fp[2, 1] * r1 + Fp[2, 2] * r2
            rsq = x0 * x0 + x1 * x1 + x2 * x2
            if not rsq < cutsq:
                continue
            r2inv = 1.0 / rsq
            r6inv = r2inv * r2inv * r2inv
            w += r6inv * (lj3 * r6inv - lj4) - offset
            d1 = -r6inv * (12.0 * lj3 * r6inv - 6.0 * lj4) * r2inv  # phi'(r) / r
            v[0, 0], v[0, 1], v[0, 2] = x0 * r0, x0 * r1, x0 * r2
            v[1, 0], v[1, 1], v[1, 2] = x1 * r0, x1 * r1, x1 * r2
            v[2, 0], v[2, 1], v[2, 2] = x2 * r0, x2 * r1, x2 * r2
            for i in range(3):
                for j in range(3):
                    P[p, i, j] += d1 * v[i, j]
            if not tangent:
                continue
            # (phi'' - phi'/r) / r^2
            d2 = r6inv * (168.0 * lj3 * r6inv - 48.0 * lj4) * r2inv * r2inv
            B[0, 0] += d1 * r0 * r0
            B[0, 1] += d1 * r0 * r1
            B[0, 2] += d1 * r0 * r2
            B[1, 1] += d1 * r1 * r1
            B[1, 2] += d1 * r1 * r2
            B[2, 2] += d1 * r2 * r2
            for i in range(3):
                for j in range(3):
                    dv = d2 * v[i, j]
                    for k in range(3):
                        for m in range(3):
                            A[p, i, j, k, m] += dv * v[k, m]
        W[p] = half * w
        for i in range(3):
            for j in range(3):
                P[p, i, j] *= half
        if not tangent:
            continue
        B[1, 0], B[2, 0], B[2, 1] = B[0, 1], B[0, 2], B[1, 2]
        for i in range(3):
            for j in range(3):
                for k in range(3):
                    for m in range(3):
                        a = A[p, i, j, k, m]
                        if i == k:
                            a += B[j, m]
                        A[p, i, j, k, m] = half * a
