"""Element kernels of the total-Lagrangian finite-strain solver.

Pure numba functions over arrays: no MPI, no PETSc, no configuration.  Every
output is preallocated by the caller.  Shapes (ne elements, nn nodes per
element, nq quadrature points per element, dim = 2 or 3):

    X, u   (ne, nn, dim)   reference coordinates / displacements of element nodes
    G      (ne, nq, nn, dim) gradients of the shape functions w.r.t. X
    dV     (ne, nq)        quadrature weight times det(dX/dxi)
    F, P   (ne*nq, 3, 3)   per quadrature point, row e*nq + q
    A      (ne*nq, 3, 3, 3, 3) A[i,J,k,L] = dP_iJ / dF_kL

In 2D the kinematics are plane strain: F is embedded in 3x3 with F[2,2] = 1,
and only the in-plane components of P and A enter the residual and tangent.
"""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def geometry(X, dN, w, G, dV):
    """Fill G and dV from the element nodes X; first element with det J <= 0, or -1.

    dN (nq, nn, dim) are the reference gradients and w (nq,) the weights of the
    element's quadrature rule.  J[i, j] = dX_i / dxi_j.
    """
    ne, nn, dim = X.shape
    nq = dN.shape[0]
    bad = -1
    J = np.empty((dim, dim))
    Jinv = np.empty((dim, dim))
    for e in range(ne):
        for q in range(nq):
            for i in range(dim):
                for j in range(dim):
                    s = 0.0
                    for a in range(nn):
                        s += X[e, a, i] * dN[q, a, j]
                    J[i, j] = s
            if dim == 2:
                det = J[0, 0] * J[1, 1] - J[0, 1] * J[1, 0]
                Jinv[0, 0] = J[1, 1] / det
                Jinv[0, 1] = -J[0, 1] / det
                Jinv[1, 0] = -J[1, 0] / det
                Jinv[1, 1] = J[0, 0] / det
            else:
                det = _inverse3(J, Jinv)
            if not det > 0.0 and bad < 0:
                bad = e
            dV[e, q] = w[q] * det
            # dN_a/dX_i = sum_j dN_a/dxi_j (J^-1)_ji
            for a in range(nn):
                for i in range(dim):
                    s = 0.0
                    for j in range(dim):
                        s += dN[q, a, j] * Jinv[j, i]
                    G[e, q, a, i] = s
    return bad


@numba.njit(cache=True, error_model="numpy", inline="always")
def _inverse3(M, Minv):
    """Write the inverse of the 3x3 matrix M into Minv and return det M."""
    c00 = M[1, 1] * M[2, 2] - M[1, 2] * M[2, 1]
    c01 = M[1, 2] * M[2, 0] - M[1, 0] * M[2, 2]
    c02 = M[1, 0] * M[2, 1] - M[1, 1] * M[2, 0]
    det = M[0, 0] * c00 + M[0, 1] * c01 + M[0, 2] * c02
    Minv[0, 0] = c00 / det
    Minv[1, 0] = c01 / det
    Minv[2, 0] = c02 / det
    Minv[0, 1] = (M[0, 2] * M[2, 1] - M[0, 1] * M[2, 2]) / det
    Minv[1, 1] = (M[0, 0] * M[2, 2] - M[0, 2] * M[2, 0]) / det
    Minv[2, 1] = (M[0, 1] * M[2, 0] - M[0, 0] * M[2, 1]) / det
    Minv[0, 2] = (M[0, 1] * M[1, 2] - M[0, 2] * M[1, 1]) / det
    Minv[1, 2] = (M[0, 2] * M[1, 0] - M[0, 0] * M[1, 2]) / det
    Minv[2, 2] = (M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]) / det
    return det


@numba.njit(cache=True, error_model="numpy")
def deformation_gradients(u, G, F, detF):
    """F = I + sum_a u_a (x) grad N_a and det F; first element with det F <= 0 or
    non-finite, or -1.  In 2D, F is embedded in 3x3 as plane strain."""
    if G.shape[3] == 3:
        return _deformation_gradients(u, G, F, detF, 3)
    return _deformation_gradients(u, G, F, detF, 2)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _deformation_gradients(u, G, F, detF, dim):
    """`deformation_gradients` with `dim` a literal (3 or 2) at each call site,
    so that the loops over components unroll; the 3x3 accumulator is allocated
    once, outside the loops.  About 4x faster than with `dim` read from G."""
    ne, nq, nn = G.shape[0], G.shape[1], G.shape[2]
    bad = -1
    f = np.empty((3, 3))
    for e in range(ne):
        for q in range(nq):
            r = e * nq + q
            for i in range(3):
                for j in range(3):
                    f[i, j] = 1.0 if i == j else 0.0
            for a in range(nn):
                for i in range(dim):
                    ua = u[e, a, i]
                    for j in range(dim):
                        f[i, j] += ua * G[e, q, a, j]
            for i in range(3):
                for j in range(3):
                    F[r, i, j] = f[i, j]
            d = (f[0, 0] * (f[1, 1] * f[2, 2] - f[1, 2] * f[2, 1])
                 - f[0, 1] * (f[1, 0] * f[2, 2] - f[1, 2] * f[2, 0])
                 + f[0, 2] * (f[1, 0] * f[2, 1] - f[1, 1] * f[2, 0]))
            detF[r] = d
            if not (d > 0.0 and np.isfinite(d)) and bad < 0:
                bad = e
    return bad


@numba.njit(cache=True, error_model="numpy")
def residual(P, G, dV, R):
    """Internal forces R[e, a*dim+i] = sum_q sum_J P[i,J] G[e,q,a,J] dV[e,q]."""
    if G.shape[3] == 3:
        _residual(P, G, dV, R, 3)
    else:
        _residual(P, G, dV, R, 2)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _residual(P, G, dV, R, dim):
    """`residual` with a literal `dim`, as `_deformation_gradients`."""
    ne, nq, nn = G.shape[0], G.shape[1], G.shape[2]
    p = np.empty((3, 3))
    for e in range(ne):
        for k in range(nn * dim):
            R[e, k] = 0.0
        for q in range(nq):
            r = e * nq + q
            v = dV[e, q]
            for i in range(dim):
                for j in range(dim):
                    p[i, j] = P[r, i, j] * v
            for a in range(nn):
                for i in range(dim):
                    s = 0.0
                    for j in range(dim):
                        s += p[i, j] * G[e, q, a, j]
                    R[e, a * dim + i] += s


@numba.njit(cache=True, error_model="numpy")
def stiffness(A, G, dV, K):
    """Element tangents, row-major (nn*dim)^2 per element:
    K[e, (a*dim+i)*(nn*dim) + b*dim+k] = sum_q G[e,q,a,J] A[i,J,k,L] G[e,q,b,L] dV.

    No symmetry of A is assumed.  Measured (numba 0.56, one core of a shared
    AMD EPYC znver1, best of 30 calls on 4000 elements): hex8 (8 points, 576
    entries) 7.1-8.6 us per element, tet4 0.35 us, quad4 0.47 us, tri3 0.10 us;
    the textbook six-deep loop took 65 us for hex8.  Numba < 0.59 does not
    vectorize the inner loops of loop nests, so the kernels are written for
    scalar throughput: few loads per multiply-add, accumulators in registers.
    """
    if G.shape[3] == 3:
        _stiffness_3d(A, G, dV, K)
    else:
        _stiffness_2d(A, G, dV, K)


@numba.njit(cache=True, error_model="numpy")
def add_stiffness(A, G, dV, cells, offsets, length, kind, values):
    """Add every element tangent (as `stiffness`) into the values of a CSR
    matrix in place, without storing element matrices.

    Entry (a*dim+i, b*dim+k) of element e goes to
    values[offsets[e, a*nn+b] + i * dim * length[v, kind[w]] + k] with
    v = cells[e, a], w = cells[e, b] (the layout of
    `_assembly_kernels.element_offsets`).  Elements are added in order, so the
    sums depend on nothing but the local numbering.
    """
    if G.shape[3] == 3:
        _add_stiffness_3d(A, G, dV, cells, offsets, length, kind, values)
    else:
        _add_stiffness_2d(A, G, dV, cells, offsets, length, kind, values)


@numba.njit(cache=True, error_model="numpy")
def _stiffness_3d(A, G, dV, K):
    ne, nq, nn, _ = G.shape
    nd = 3 * nn
    B = np.empty((nq, nn, 3, 9))
    Ke = np.empty((nn, nn, 3, 3))
    for e in range(ne):
        _element_stiffness_3d(A, G, dV, e, B, Ke)
        for a in range(nn):
            for i in range(3):
                row = (3 * a + i) * nd
                for b in range(nn):
                    for k in range(3):
                        K[e, row + 3 * b + k] = Ke[a, b, i, k]


@numba.njit(cache=True, error_model="numpy")
def _add_stiffness_3d(A, G, dV, cells, offsets, length, kind, values):
    ne, nq, nn, _ = G.shape
    B = np.empty((nq, nn, 3, 9))
    Ke = np.empty((nn, nn, 3, 3))
    for e in range(ne):
        _element_stiffness_3d(A, G, dV, e, B, Ke)
        for a in range(nn):
            v = cells[e, a]
            for b in range(nn):
                o = offsets[e, a * nn + b]
                stride = 3 * length[v, kind[cells[e, b]]]
                for i in range(3):
                    for k in range(3):
                        values[o + i * stride + k] += Ke[a, b, i, k]


@numba.njit(cache=True, error_model="numpy")
def _stiffness_2d(A, G, dV, K):
    ne, nq, nn, _ = G.shape
    nd = 2 * nn
    B = np.empty((nq, nn, 2, 4))
    Ke = np.empty((nn, nn, 2, 2))
    for e in range(ne):
        _element_stiffness_2d(A, G, dV, e, B, Ke)
        for a in range(nn):
            for i in range(2):
                row = (2 * a + i) * nd
                for b in range(nn):
                    for k in range(2):
                        K[e, row + 2 * b + k] = Ke[a, b, i, k]


@numba.njit(cache=True, error_model="numpy")
def _add_stiffness_2d(A, G, dV, cells, offsets, length, kind, values):
    ne, nq, nn, _ = G.shape
    B = np.empty((nq, nn, 2, 4))
    Ke = np.empty((nn, nn, 2, 2))
    for e in range(ne):
        _element_stiffness_2d(A, G, dV, e, B, Ke)
        for a in range(nn):
            v = cells[e, a]
            for b in range(nn):
                o = offsets[e, a * nn + b]
                stride = 2 * length[v, kind[cells[e, b]]]
                for i in range(2):
                    for k in range(2):
                        values[o + i * stride + k] += Ke[a, b, i, k]


@numba.njit(cache=True, error_model="numpy")
def _element_stiffness_3d(A, G, dV, e, B, Ke):
    """Ke[a, b, i, k]: the tangent of element e (dim = 3), blocks by node pair.

    B[q,a,i,3k+L] = dV_q sum_J G[q,a,J] A_q[i,J,k,L], then each 3x3 block K_ab
    is summed over q in nine registers and stored once.
    """
    nq, nn = G.shape[1], G.shape[2]
    for q in range(nq):
        r = e * nq + q
        v = dV[e, q]
        for a in range(nn):
            g0 = G[e, q, a, 0] * v
            g1 = G[e, q, a, 1] * v
            g2 = G[e, q, a, 2] * v
            for i in range(3):
                for k in range(3):
                    for L in range(3):
                        B[q, a, i, 3 * k + L] = (g0 * A[r, i, 0, k, L] + g1 * A[r, i, 1, k, L]
                                                 + g2 * A[r, i, 2, k, L])
    for a in range(nn):
        for b in range(nn):
            s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = 0.0
            for q in range(nq):
                h0 = G[e, q, b, 0]
                h1 = G[e, q, b, 1]
                h2 = G[e, q, b, 2]
                s00 += B[q, a, 0, 0] * h0 + B[q, a, 0, 1] * h1 + B[q, a, 0, 2] * h2
                s01 += B[q, a, 0, 3] * h0 + B[q, a, 0, 4] * h1 + B[q, a, 0, 5] * h2
                s02 += B[q, a, 0, 6] * h0 + B[q, a, 0, 7] * h1 + B[q, a, 0, 8] * h2
                s10 += B[q, a, 1, 0] * h0 + B[q, a, 1, 1] * h1 + B[q, a, 1, 2] * h2
                s11 += B[q, a, 1, 3] * h0 + B[q, a, 1, 4] * h1 + B[q, a, 1, 5] * h2
                s12 += B[q, a, 1, 6] * h0 + B[q, a, 1, 7] * h1 + B[q, a, 1, 8] * h2
                s20 += B[q, a, 2, 0] * h0 + B[q, a, 2, 1] * h1 + B[q, a, 2, 2] * h2
                s21 += B[q, a, 2, 3] * h0 + B[q, a, 2, 4] * h1 + B[q, a, 2, 5] * h2
                s22 += B[q, a, 2, 6] * h0 + B[q, a, 2, 7] * h1 + B[q, a, 2, 8] * h2
            Ke[a, b, 0, 0] = s00
            Ke[a, b, 0, 1] = s01
            Ke[a, b, 0, 2] = s02
            Ke[a, b, 1, 0] = s10
            Ke[a, b, 1, 1] = s11
            Ke[a, b, 1, 2] = s12
            Ke[a, b, 2, 0] = s20
            Ke[a, b, 2, 1] = s21
            Ke[a, b, 2, 2] = s22


@numba.njit(cache=True, error_model="numpy")
def _element_stiffness_2d(A, G, dV, e, B, Ke):
    """As `_element_stiffness_3d` for dim = 2 (in-plane components of A only)."""
    nq, nn = G.shape[1], G.shape[2]
    for q in range(nq):
        r = e * nq + q
        v = dV[e, q]
        for a in range(nn):
            g0 = G[e, q, a, 0] * v
            g1 = G[e, q, a, 1] * v
            for i in range(2):
                for k in range(2):
                    for L in range(2):
                        B[q, a, i, 2 * k + L] = g0 * A[r, i, 0, k, L] + g1 * A[r, i, 1, k, L]
    for a in range(nn):
        for b in range(nn):
            s00 = s01 = s10 = s11 = 0.0
            for q in range(nq):
                h0 = G[e, q, b, 0]
                h1 = G[e, q, b, 1]
                s00 += B[q, a, 0, 0] * h0 + B[q, a, 0, 1] * h1
                s01 += B[q, a, 0, 2] * h0 + B[q, a, 0, 3] * h1
                s10 += B[q, a, 1, 0] * h0 + B[q, a, 1, 1] * h1
                s11 += B[q, a, 1, 2] * h0 + B[q, a, 1, 3] * h1
            Ke[a, b, 0, 0] = s00
            Ke[a, b, 0, 1] = s01
            Ke[a, b, 1, 0] = s10
            Ke[a, b, 1, 1] = s11


@numba.njit(cache=True, error_model="numpy")
def cell_average(values, dV, out):
    """dV-weighted mean over each element's points: values (ne*nq, m) -> out (ne, m)."""
    ne, nq = dV.shape
    m = values.shape[1]
    for e in range(ne):
        vol = 0.0
        for q in range(nq):
            vol += dV[e, q]
        for c in range(m):
            s = 0.0
            for q in range(nq):
                s += values[e * nq + q, c] * dV[e, q]
            out[e, c] = s / vol


@numba.njit(cache=True, error_model="numpy")
def traction_forces(Xf, Nf, dNf, wf, t, out):
    """Nodal forces of a dead-load traction t (per reference area) on faces:
    out[f, a*dim+i] = sum_q Nf[q,a] t[i] |dA_q| wf[q].

    Xf (nf, nfn, dim) are face node coordinates; Nf, dNf, wf the face element's
    tabulation.  |dA| is the tangent length (2D) or |cross product| (3D).
    """
    nf, nfn, dim = Xf.shape
    nq = wf.shape[0]
    T = np.empty((2, 3))
    for f in range(nf):
        for m in range(nfn * dim):
            out[f, m] = 0.0
        for q in range(nq):
            for j in range(dim - 1):
                for i in range(3):
                    T[j, i] = 0.0
                for i in range(dim):
                    s = 0.0
                    for a in range(nfn):
                        s += Xf[f, a, i] * dNf[q, a, j]
                    T[j, i] = s
            if dim == 2:
                dA = np.sqrt(T[0, 0] * T[0, 0] + T[0, 1] * T[0, 1])
            else:
                c0 = T[0, 1] * T[1, 2] - T[0, 2] * T[1, 1]
                c1 = T[0, 2] * T[1, 0] - T[0, 0] * T[1, 2]
                c2 = T[0, 0] * T[1, 1] - T[0, 1] * T[1, 0]
                dA = np.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
            for a in range(nfn):
                s = Nf[q, a] * dA * wf[q]
                for i in range(dim):
                    out[f, a * dim + i] += s * t[i]


@numba.njit(cache=True, error_model="numpy")
def volumes(dV):
    """Total volume sum(dV)."""
    s = 0.0
    for e in range(dV.shape[0]):
        for q in range(dV.shape[1]):
            s += dV[e, q]
    return s
