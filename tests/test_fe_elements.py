"""Reference elements and element kernels of the finite-strain solver (serial).

The kernels are checked against physics and geometry they must reproduce:
exact volumes, the linear patch test, residual = gradient of a hyperelastic
energy and stiffness = derivative of the residual by finite differences, zero
forces under rigid rotation.  The node order is checked against live PETSc
DMPlex meshes (box meshes and Gmsh files) and against VTK's cell definitions.
"""

import itertools

import numpy as np
import pytest

from hpcms.fe import _element_kernels as kernels
from hpcms.fe.elements import ELEMENTS, HEX8, QUAD4, SEG2, TET4, TRI3, element_for

CELLS = ["quad4", "tri3", "hex8", "tet4"]


# --------------------------------------------------------------------------
# helpers


def distorted(el, ne, seed, amp=0.1):
    """`ne` valid physical elements: a random orientation-preserving affine map
    of the reference cell, plus (for Q1 cells) random nodal perturbations."""
    rng = np.random.default_rng(seed)
    d = el.dim
    X = np.empty((ne, el.n_nodes, d))
    for e in range(ne):
        M = np.eye(d) + 0.2 * rng.standard_normal((d, d))
        if np.linalg.det(M) < 0:
            M[:, 0] *= -1
        X[e] = el.vertices @ M.T + rng.standard_normal(d)
        if not el.simplex:
            X[e] += amp * rng.standard_normal((el.n_nodes, d))
    return X


def geometry(el, X):
    ne = X.shape[0]
    G = np.empty((ne, el.n_points, el.n_nodes, el.dim))
    dV = np.empty((ne, el.n_points))
    bad = kernels.geometry(X, el.dN, el.weights, G, dV)
    return G, dV, bad


def kinematics(G, u):
    ne, nq = G.shape[:2]
    F = np.empty((ne * nq, 3, 3))
    detF = np.empty(ne * nq)
    bad = kernels.deformation_gradients(u, G, F, detF)
    return F, detF, bad


MU, LAM = 1.3, 2.1


def neo_hooke(F):
    """Compressible neo-Hookean W, P = dW/dF and A = dP/dF for a batch of F."""
    J = np.linalg.det(F)
    lnJ = np.log(J)
    Fi = np.linalg.inv(F)
    W = 0.5 * MU * (np.einsum("nij,nij->n", F, F) - 3.0) - MU * lnJ + 0.5 * LAM * lnJ**2
    FiT = np.transpose(Fi, (0, 2, 1))
    P = MU * (F - FiT) + LAM * lnJ[:, None, None] * FiT
    I = np.eye(3)
    A = (MU * np.einsum("ik,JL->iJkL", I, I)[None]
         + LAM * np.einsum("nJi,nLk->niJkL", Fi, Fi)
         + (MU - LAM * lnJ)[:, None, None, None, None] * np.einsum("nJk,nLi->niJkL", Fi, Fi))
    return W, P, A


def energy(G, dV, u):
    F, _, bad = kinematics(G, u)
    assert bad == -1
    W, _, _ = neo_hooke(F)
    return np.sum(W.reshape(dV.shape) * dV, axis=1)  # per element


def residual(G, dV, u):
    F, _, _ = kinematics(G, u)
    _, P, _ = neo_hooke(F)
    R = np.empty((G.shape[0], G.shape[2] * G.shape[3]))
    kernels.residual(P, G, dV, R)
    return R


def tangent(G, dV, u, A=None):
    if A is None:
        F, _, _ = kinematics(G, u)
        _, _, A = neo_hooke(F)
    nd = G.shape[2] * G.shape[3]
    K = np.empty((G.shape[0], nd * nd))
    kernels.stiffness(A, G, dV, K)
    return K.reshape(-1, nd, nd)


def rotation(dim, angle=0.7):
    c, s = np.cos(angle), np.sin(angle)
    if dim == 2:
        return np.array([[c, -s], [s, c]])
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    W = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + s * W + (1 - c) * W @ W


# --------------------------------------------------------------------------
# reference elements


def test_element_for_table_and_error():
    assert element_for(2, False) is QUAD4 and element_for(2, True) is TRI3
    assert element_for(3, False) is HEX8 and element_for(3, True) is TET4
    assert QUAD4.face is SEG2 and TRI3.face is SEG2 and HEX8.face is QUAD4 and TET4.face is TRI3
    with pytest.raises(ValueError, match="dim=4"):
        element_for(4, False)


@pytest.mark.parametrize("name", CELLS + ["seg2"])
def test_partition_of_unity_and_nodal_interpolation(name):
    el = ELEMENTS[name]
    assert el.N.shape == (el.n_points, el.n_nodes)
    assert el.dN.shape == (el.n_points, el.n_nodes, el.dim)
    np.testing.assert_allclose(el.N.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(el.dN.sum(axis=1), 0.0, atol=1e-14)
    N, dN = el.shape(el.vertices)  # N_a(x_b) = delta_ab
    np.testing.assert_allclose(N, np.eye(el.n_nodes), atol=1e-14)
    # the weights sum to the reference measure
    measure = {"seg2": 2.0, "quad4": 4.0, "hex8": 8.0, "tri3": 0.5, "tet4": 1.0 / 6.0}[name]
    assert el.weights.sum() == pytest.approx(measure, rel=1e-14)
    # reference gradients agree with central differences of N
    rng = np.random.default_rng(1)
    x = 0.3 * rng.random((3, el.dim))
    h = 1e-6
    for j in range(el.dim):
        step = np.zeros(el.dim)
        step[j] = h
        fd = (el.shape(x + step)[0] - el.shape(x - step)[0]) / (2 * h)
        np.testing.assert_allclose(el.shape(x)[1][:, :, j], fd, atol=1e-9)


@pytest.mark.parametrize("name", CELLS)
def test_quadrature_gives_exact_volume_of_distorted_elements(name):
    el = ELEMENTS[name]
    X = distorted(el, 20, seed=2)
    G, dV, bad = geometry(el, X)
    assert bad == -1 and np.all(dV > 0)
    # reference value: the same isoparametric map, integrated with 5-point Gauss
    g, w = np.polynomial.legendre.leggauss(5)
    if el.simplex:  # |det(x_1 - x_0, ..., x_d - x_0)| / d!
        edges = X[:, 1:, :] - X[:, :1, :]
        exact = np.abs(np.linalg.det(edges)) / (2.0 if el.dim == 2 else 6.0)
    else:
        grids = np.meshgrid(*([g] * el.dim), indexing="ij")
        pts = np.stack([a.ravel() for a in grids], axis=1)
        wts = np.prod(np.stack(np.meshgrid(*([w] * el.dim), indexing="ij")), axis=0).ravel()
        _, dN = el.shape(pts)
        J = np.einsum("nai,qaj->nqij", X, dN)
        exact = np.linalg.det(J) @ wts
    np.testing.assert_allclose(dV.sum(axis=1), exact, rtol=1e-13)
    assert kernels.volumes(dV) == pytest.approx(exact.sum(), rel=1e-13)
    if name == "quad4":  # straight edges: also the polygon (shoelace) area
        x, y = X[..., 0], X[..., 1]
        shoelace = 0.5 * np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1)
        np.testing.assert_allclose(dV.sum(axis=1), shoelace, rtol=1e-13)


@pytest.mark.parametrize("name", CELLS)
def test_geometry_flags_inverted_element(name):
    el = ELEMENTS[name]
    X = distorted(el, 4, seed=3)
    X[2] = X[2][:, ::-1] if el.dim == 2 else X[2] * np.array([1.0, 1.0, -1.0])  # mirror
    _, dV, bad = geometry(el, X)
    assert bad == 2
    assert np.all(dV[2] < 0) and np.all(dV[[0, 1, 3]] > 0)
    X[1] = X[1, :1]  # collapsed to a point: det J = 0 is flagged, not raised
    assert geometry(el, X)[2] == 1


# --------------------------------------------------------------------------
# kinematics and forces


@pytest.mark.parametrize("name", CELLS)
def test_linear_displacement_gives_exact_F(name):
    el = ELEMENTS[name]
    X = distorted(el, 6, seed=4)
    G, dV, _ = geometry(el, X)
    H = 0.3 * np.random.default_rng(5).standard_normal((el.dim, el.dim))
    u = X @ H.T
    F, detF, bad = kinematics(G, u)
    expected = np.eye(3)
    expected[: el.dim, : el.dim] += H
    assert bad == -1
    np.testing.assert_allclose(F, np.broadcast_to(expected, F.shape), atol=1e-13)
    np.testing.assert_allclose(detF, np.linalg.det(expected), rtol=1e-13)


@pytest.mark.parametrize("name", ["quad4", "tri3"])
def test_plane_strain_embedding_in_2d(name):
    el = ELEMENTS[name]
    X = distorted(el, 3, seed=6)
    G, dV, _ = geometry(el, X)
    u = 0.1 * np.random.default_rng(7).standard_normal(X.shape)
    F = np.full((3 * el.n_points, 3, 3), np.nan)
    detF = np.empty(3 * el.n_points)
    assert kernels.deformation_gradients(u, G, F, detF) == -1
    assert np.all(F[:, 2, 2] == 1.0)
    assert np.all(F[:, :2, 2] == 0.0) and np.all(F[:, 2, :2] == 0.0)
    np.testing.assert_allclose(detF, np.linalg.det(F[:, :2, :2]), rtol=1e-14)
    # out-of-plane stress and tangent components do not enter the 2D forms
    _, P, A = neo_hooke(F)
    R0 = np.empty((3, 2 * el.n_nodes))
    kernels.residual(P, G, dV, R0)
    K0 = tangent(G, dV, u, A)
    P[:, 2, :] = P[:, :, 2] = 1e3
    A[:, 2] = A[:, :, 2] = A[:, :, :, 2] = A[:, :, :, :, 2] = 1e3
    R1 = np.empty_like(R0)
    kernels.residual(P, G, dV, R1)
    assert np.array_equal(R0, R1)
    assert np.array_equal(K0, tangent(G, dV, u, A))


@pytest.mark.parametrize("name", CELLS)
def test_deformation_gradients_flag_inverted_and_nonfinite(name):
    el = ELEMENTS[name]
    X = distorted(el, 4, seed=8)
    G, dV, _ = geometry(el, X)
    u = np.zeros_like(X)
    u[2] = -2.0 * X[2] * (np.arange(el.dim) == 0)  # F = diag(-1, 1, 1): inverted
    F, detF, bad = kinematics(G, u)
    assert bad == 2 and np.all(detF[2 * el.n_points: 3 * el.n_points] < 0)
    u[2] = 0.0
    u[3, 0, 0] = np.nan
    assert kinematics(G, u)[2] == 3
    u[3] = 1e200 * X[3]  # finite F, det F overflows
    F, detF, bad = kinematics(G, u)
    assert bad == 3 and np.all(np.isfinite(F)) and not np.isfinite(detF[-1])
    u[3] = 0.0
    assert kinematics(G, u)[2] == -1


@pytest.mark.parametrize("name", CELLS)
def test_residual_is_gradient_of_energy(name):
    el = ELEMENTS[name]
    X = distorted(el, 3, seed=9)
    G, dV, _ = geometry(el, X)
    u = 0.1 * np.random.default_rng(10).standard_normal(X.shape)
    R = residual(G, dV, u)
    assert np.abs(R).max() > 1e-2  # a real test: forces are not all zero
    h = 1e-6
    fd = np.empty_like(R)
    for a in range(el.n_nodes):
        for i in range(el.dim):
            up, um = u.copy(), u.copy()
            up[:, a, i] += h
            um[:, a, i] -= h
            fd[:, a * el.dim + i] = (energy(G, dV, up) - energy(G, dV, um)) / (2 * h)
    np.testing.assert_allclose(R, fd, atol=1e-7 * np.abs(R).max())


@pytest.mark.parametrize("name", CELLS)
def test_stiffness_is_derivative_of_residual_and_symmetric(name):
    el = ELEMENTS[name]
    X = distorted(el, 3, seed=11)
    G, dV, _ = geometry(el, X)
    u = 0.1 * np.random.default_rng(12).standard_normal(X.shape)
    K = tangent(G, dV, u)
    h = 1e-6
    for b in range(el.n_nodes):
        for k in range(el.dim):
            up, um = u.copy(), u.copy()
            up[:, b, k] += h
            um[:, b, k] -= h
            fd = (residual(G, dV, up) - residual(G, dV, um)) / (2 * h)
            np.testing.assert_allclose(K[:, :, b * el.dim + k], fd, atol=1e-7 * np.abs(K).max())
    np.testing.assert_allclose(K, np.transpose(K, (0, 2, 1)), atol=1e-13 * np.abs(K).max())


@pytest.mark.parametrize("name", CELLS)
def test_stiffness_matches_direct_contraction_for_general_A(name):
    """The optimised kernel against the definition, for an A without symmetry."""
    el = ELEMENTS[name]
    X = distorted(el, 5, seed=13)
    G, dV, _ = geometry(el, X)
    A = np.random.default_rng(14).standard_normal((5 * el.n_points, 3, 3, 3, 3))
    d = el.dim
    Ad = A.reshape(5, el.n_points, 3, 3, 3, 3)[:, :, :d, :d, :d, :d]
    expected = np.einsum("eqaJ,eqiJkL,eqbL,eq->eaibk", G, Ad, G, dV)
    nd = el.n_nodes * d
    np.testing.assert_allclose(tangent(G, dV, None, A), expected.reshape(5, nd, nd),
                               rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("name", CELLS)
def test_rigid_rotation_gives_zero_residual(name):
    el = ELEMENTS[name]
    X = distorted(el, 4, seed=15)
    G, dV, _ = geometry(el, X)
    Q = rotation(el.dim)
    u = X @ Q.T - X + np.array([0.3, -0.2, 0.1][: el.dim])
    F, detF, _ = kinematics(G, u)
    np.testing.assert_allclose(detF, 1.0, rtol=1e-13)
    R = residual(G, dV, u)
    scale = MU * np.abs(G).max() * dV.max()
    assert np.abs(R).max() < 1e-12 * scale
    # a stretched state is not force-free (guards against a residual that is always 0)
    assert np.abs(residual(G, dV, u + 0.1 * X)).max() > 1e-3 * scale


@pytest.mark.parametrize("name", CELLS)
def test_cell_average_is_volume_weighted(name):
    el = ELEMENTS[name]
    X = distorted(el, 4, seed=16)
    G, dV, _ = geometry(el, X)
    values = np.random.default_rng(17).standard_normal((4 * el.n_points, 5))
    out = np.empty((4, 5))
    kernels.cell_average(values, dV, out)
    v = values.reshape(4, el.n_points, 5)
    np.testing.assert_allclose(out, np.einsum("eqm,eq->em", v, dV) / dV.sum(1)[:, None], rtol=1e-13)
    kernels.cell_average(np.ones((4 * el.n_points, 2)), dV, out[:, :2])
    np.testing.assert_allclose(out[:, :2], 1.0, rtol=1e-14)


@pytest.mark.parametrize("name", CELLS)
def test_traction_forces_total_and_distribution(name):
    cell = ELEMENTS[name]
    face = cell.face
    dim = cell.dim
    rng = np.random.default_rng(18)
    nf = 5
    # flat faces: a reference face mapped into a random plane (quad faces distorted in-plane)
    Xf = np.empty((nf, face.n_nodes, dim))
    area = np.empty(nf)
    for f in range(nf):
        local = face.vertices @ (np.eye(face.dim) + 0.2 * rng.standard_normal((face.dim, face.dim))).T
        if face.name == "quad4":
            local = local + 0.1 * rng.standard_normal(local.shape)
            x, y = local[:, 0], local[:, 1]
            area[f] = abs(0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
        elif face.name == "tri3":
            area[f] = 0.5 * abs(np.linalg.det(local[1:] - local[0]))
        else:
            area[f] = abs(local[1, 0] - local[0, 0])
        Q = rotation(dim, angle=rng.random())
        frame = Q[:, : face.dim]  # orthonormal tangent frame
        Xf[f] = local @ frame.T + rng.standard_normal(dim)
    t = np.array([0.7, -1.1, 0.4][:dim])
    out = np.empty((nf, face.n_nodes * dim))
    kernels.traction_forces(Xf, face.N, face.dN, face.weights, t, out)
    total = out.reshape(nf, face.n_nodes, dim).sum(axis=1)
    np.testing.assert_allclose(total, area[:, None] * t[None, :], rtol=1e-13)
    if face.simplex or face.name == "seg2":  # constant Jacobian: equal nodal shares
        shares = out.reshape(nf, face.n_nodes, dim) / total[:, None, :]
        np.testing.assert_allclose(shares, 1.0 / face.n_nodes, rtol=1e-13)


# --------------------------------------------------------------------------
# node order against VTK and PETSc

# VTK parametric corners (vtkQuad, vtkTriangle, vtkHexahedron, vtkTetra): a cell
# has positive volume in VTK when x(r) = sum_a N_a(r) x_a has det(dx/dr) > 0.
VTK_PCOORDS = {
    "Quadrilateral": [[0, 0], [1, 0], [1, 1], [0, 1]],
    "Triangle": [[0, 0], [1, 0], [0, 1]],
    "Hexahedron": [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                   [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    "Tetrahedron": [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
}


def vtk_jacobians(x, vtk_name, r):
    """det(dx/dr) of VTK's own interpolation for nodes x given in VTK order."""
    c = np.array(VTK_PCOORDS[vtk_name], dtype=float)
    d = c.shape[1]
    if vtk_name in ("Triangle", "Tetrahedron"):
        dN = np.vstack([-np.ones(d), np.eye(d)])[None].repeat(len(r), axis=0)
    else:  # N_a = prod_i (r_i if c_ai else 1 - r_i)
        f = np.where(c[None] == 1, r[:, None, :], 1 - r[:, None, :])
        df = np.where(c[None] == 1, 1.0, -1.0) * np.ones_like(f)
        dN = np.empty(f.shape)
        for i in range(d):
            dN[:, :, i] = df[:, :, i] * np.prod(np.delete(f, i, axis=2), axis=2)
    return np.linalg.det(np.einsum("ai,qaj->qij", x, dN))


@pytest.mark.parametrize("name", CELLS)
def test_to_xdmf_gives_positive_vtk_volume(name):
    el = ELEMENTS[name]
    assert sorted(el.to_xdmf) == list(range(el.n_nodes))
    X = distorted(el, 10, seed=19)
    r = np.random.default_rng(20).random((7, el.dim)) * 0.5  # inside both VTK cells
    for e in range(10):
        assert np.all(vtk_jacobians(X[e][el.to_xdmf], el.xdmf_name, r) > 0)
        if name in ("hex8", "tet4"):  # closure order itself is not a valid VTK cell
            assert not np.all(vtk_jacobians(X[e], el.xdmf_name, r) > 0)


# -- PETSc -------------------------------------------------------------------

def _petsc():
    petsc4py = pytest.importorskip("petsc4py")
    petsc4py.init()
    from petsc4py import PETSc

    return PETSc


def closure_mesh(dm):
    """Vertex coordinates and closure-order connectivity of every cell of `dm`."""
    vs, ve = dm.getDepthStratum(0)
    cs, ce = dm.getHeightStratum(0)
    cdim = dm.getCoordinateDim()
    section = dm.getCoordinateSection()
    array = dm.getCoordinatesLocal().getArray()
    X = np.array([array[section.getOffset(v): section.getOffset(v) + cdim] for v in range(vs, ve)])
    conn = []
    for c in range(cs, ce):
        pts = dm.getTransitiveClosure(c)[0]
        conn.append(pts[(pts >= vs) & (pts < ve)] - vs)
    return X, np.array(conn)


def boundary_faces(dm):
    """Closure-order vertex lists of the faces with one cell."""
    vs, ve = dm.getDepthStratum(0)
    fs, fe = dm.getHeightStratum(1)
    faces = []
    for f in range(fs, fe):
        if dm.getSupportSize(f) == 1:
            pts = dm.getTransitiveClosure(f)[0]
            faces.append(pts[(pts >= vs) & (pts < ve)] - vs)
    return np.array(faces)


GMSH_TYPE = {"quad4": 3, "tri3": 2, "hex8": 5, "tet4": 4}


def write_gmsh(path, X, cells, name):
    """A Gmsh 2.2 ASCII mesh; `cells` in Gmsh node order (= VTK order for these)."""
    with open(path, "w") as f:
        f.write("$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n%d\n" % len(X))
        for i, x in enumerate(X):
            x = list(x) + [0.0] * (3 - len(x))
            f.write("%d %.17g %.17g %.17g\n" % (i + 1, *x))
        f.write("$EndNodes\n$Elements\n%d\n" % len(cells))
        for i, c in enumerate(cells):
            f.write("%d %d 2 1 1 %s\n" % (i + 1, GMSH_TYPE[name], " ".join(str(v + 1) for v in c)))
        f.write("$EndElements\n")


def gmsh_box(name, n, upper):
    """Structured box mesh of `name` cells in Gmsh (right-handed) node order."""
    d = len(upper)
    idx = np.arange((n + 1) ** d).reshape((n + 1,) * d)
    grids = np.meshgrid(*[np.linspace(0, u, n + 1) for u in upper], indexing="ij")
    X = np.stack([g.ravel() for g in grids], axis=1)
    corners = np.array(VTK_PCOORDS["Quadrilateral" if d == 2 else "Hexahedron"])
    cells = []
    for base in np.ndindex(*(n,) * d):
        box = [idx[tuple(np.array(base) + c)] for c in corners]  # VTK order
        if name in ("quad4", "hex8"):
            cells.append(box)
        elif name == "tri3":
            cells += [[box[0], box[1], box[2]], [box[0], box[2], box[3]]]
        else:  # Kuhn split into six tetrahedra, each made right-handed
            for perm in itertools.permutations(range(3)):
                p = np.zeros(3, dtype=int)
                path = [idx[tuple(np.array(base) + p)]]
                for axis in perm:
                    p[axis] = 1
                    path.append(idx[tuple(np.array(base) + p)])
                x = X[path]
                if np.linalg.det((x[1:] - x[0]).T) < 0:
                    path[1], path[2] = path[2], path[1]
                cells.append(path)
    return X, np.array(cells)


@pytest.mark.parametrize("name", CELLS)
def test_reference_vertices_are_petsc_closure_order(name, tmp_path):
    """A cell written in Gmsh order (right-handed, = VTK order) comes back from
    PETSc in closure order = our reference vertices; box-mesh cells likewise."""
    PETSc = _petsc()
    el = ELEMENTS[name]
    vertices = el.vertices if el.simplex else (el.vertices + 1.0) / 2.0  # onto [0,1]^d
    path = str(tmp_path / f"{name}.msh")
    write_gmsh(path, vertices[el.to_xdmf], [list(range(el.n_nodes))], name)
    dm = PETSc.DMPlex().createFromFile(path, interpolate=True, comm=PETSc.COMM_SELF)
    X, conn = closure_mesh(dm)
    np.testing.assert_array_equal(X[conn[0]], vertices)
    if not el.simplex:
        dm = PETSc.DMPlex().createBoxMesh([1] * el.dim, lower=[0.0] * el.dim, upper=[1.0] * el.dim,
                                          simplex=False, interpolate=True, comm=PETSc.COMM_SELF)
        X, conn = closure_mesh(dm)
        np.testing.assert_array_equal(X[conn[0]], vertices)


def _check_mesh(el, X, conn, faces, volume, surface):
    G, dV, bad = geometry(el, np.ascontiguousarray(X[conn]))
    assert bad == -1 and np.all(dV > 0)
    assert kernels.volumes(dV) == pytest.approx(volume, rel=1e-12)
    # boundary faces in closure order integrate to the surface area
    t = np.array([1.0, -2.0, 0.5][: el.dim])
    out = np.empty((len(faces), el.face.n_nodes * el.dim))
    kernels.traction_forces(np.ascontiguousarray(X[faces]), el.face.N, el.face.dN,
                            el.face.weights, t, out)
    total = out.reshape(len(faces), -1, el.dim).sum(axis=(0, 1))
    np.testing.assert_allclose(total, surface * t, rtol=1e-12)


@pytest.mark.parametrize("simplex", [False, True])
@pytest.mark.parametrize("dim", [2, 3])
def test_petsc_box_mesh_closure_order_is_valid(dim, simplex):
    PETSc = _petsc()
    upper = [2.0, 1.0, 3.0][:dim]
    faces = [3, 2, 2][:dim]
    try:
        dm = PETSc.DMPlex().createBoxMesh(faces, lower=[0.0] * dim, upper=upper, simplex=simplex,
                                          interpolate=True, comm=PETSc.COMM_SELF)
    except PETSc.Error:
        assert simplex  # Debian's PETSc 3.18 has neither Triangle nor TetGen
        pytest.skip("this PETSc has no simplex mesh generator; see the Gmsh test")
    X, conn = closure_mesh(dm)
    surface = 2 * (upper[0] + upper[1]) if dim == 2 else 2 * (2 + 6 + 3)
    _check_mesh(element_for(dim, simplex), X, conn, boundary_faces(dm), np.prod(upper), surface)


@pytest.mark.parametrize("name", CELLS)
def test_gmsh_mesh_closure_order_is_valid(name, tmp_path):
    PETSc = _petsc()
    el = ELEMENTS[name]
    upper = [2.0, 1.0, 3.0][: el.dim]
    X0, cells = gmsh_box(name, 2, upper)
    path = str(tmp_path / f"box_{name}.msh")
    write_gmsh(path, X0, cells, name)
    dm = PETSc.DMPlex().createFromFile(path, interpolate=True, comm=PETSc.COMM_SELF)
    assert dm.getHeightStratum(0)[1] - dm.getHeightStratum(0)[0] == len(cells)
    X, conn = closure_mesh(dm)
    surface = 2 * (upper[0] + upper[1]) if el.dim == 2 else 2 * (2 + 6 + 3)
    _check_mesh(el, X, conn, boundary_faces(dm), np.prod(upper), surface)
