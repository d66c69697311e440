"""Reference elements of the finite-strain solver: quad4, tri3, hex8, tet4.

An element's node order is the order of its cell's vertices in PETSc DMPlex's
transitive closure (``pts = dm.getTransitiveClosure(c)[0]``, keeping the points
of depth 0), because that is how the solver builds connectivity.  The reference
coordinates below were probed from PETSc 3.18 and are checked against a live
mesh by ``tests/test_fe_elements.py``:

* quad4 (box mesh, Gmsh): closure = (0,0) (1,0) (1,1) (0,1) of [0,1]^2, i.e.
  counter-clockwise, the same order as VTK/XDMF.
* hex8 (box mesh, Gmsh): closure = (0,0,0) (0,1,0) (1,1,0) (1,0,0)  (0,0,1)
  (1,0,1) (1,1,1) (0,1,1): the bottom face runs clockwise seen from +z (its
  right-hand normal points out of the cell), the top face counter-clockwise.
  This is DMPlex's reference hexahedron; VTK order is closure[[0,3,2,1,4,5,6,7]].
* tri3 (Gmsh, cell lists): closure = input order; DMPlex's reference triangle
  (0,0) (1,0) (0,1) is counter-clockwise.
* tet4: DMPlex's reference tetrahedron is (0,0,0) (0,1,0) (1,0,0) (0,0,1),
  *left-handed* with respect to the usual P1 map; PETSc's Gmsh reader swaps
  the first two vertices of every (right-handed) Gmsh tetrahedron to match it.
  ``DMPlex.createFromCellList`` keeps the given order, so cells handed to it
  must follow this convention.  VTK order is closure[[1,0,2,3]].

With these reference coordinates every correctly oriented DMPlex cell maps
with a positive Jacobian determinant.  Faces (for traction integrals) take the
closure vertex order of the face point: a cyclic order of its vertices, whose
orientation carries no meaning here since only |dA| is used.

Q1 cells live on [-1,1]^d with full 2^d-point Gauss quadrature; P1 cells on
the unit simplex with the 1-point centroid rule (constant gradients).
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ReferenceElement:
    """A Lagrange element with its quadrature rule, tabulated once (compared by identity)."""

    name: str            # "quad4" | "tri3" | "hex8" | "tet4" | "seg2"
    dim: int             # reference (topological) dimension
    n_nodes: int
    vertices: np.ndarray  # (n_nodes, dim) reference coordinates of the nodes
    points: np.ndarray   # (nq, dim) quadrature points in the reference cell
    weights: np.ndarray  # (nq,)
    N: np.ndarray        # (nq, n_nodes) shape functions at the points
    dN: np.ndarray       # (nq, n_nodes, dim) reference gradients
    xdmf_name: str       # XDMF TopologyType
    to_xdmf: np.ndarray  # (n_nodes,): xdmf_connectivity = connectivity[:, to_xdmf]
    face: "ReferenceElement | None"  # boundary face element, None for seg2

    @property
    def n_points(self):
        return self.points.shape[0]

    @property
    def simplex(self):
        return self.name in ("tri3", "tet4")

    def shape(self, points):
        """Shape functions and reference gradients at `points` (m, dim)."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if self.simplex:
            return _simplex_shape(self.vertices, points)
        return _tensor_shape(self.vertices, points)


def _tensor_shape(vertices, points):
    """Multilinear shape functions on [-1,1]^d with nodes at `vertices`."""
    # factor[q, a, i] = (1 + xi_i v_ai) / 2 ; N_a = prod_i factor
    factor = 0.5 * (1.0 + points[:, None, :] * vertices[None, :, :])
    dfactor = 0.5 * np.broadcast_to(vertices[None, :, :], factor.shape)
    N = np.prod(factor, axis=2)
    dN = np.empty(factor.shape)
    for i in range(vertices.shape[1]):
        others = np.delete(factor, i, axis=2)
        dN[:, :, i] = dfactor[:, :, i] * np.prod(others, axis=2)
    return N, dN


def _simplex_shape(vertices, points):
    """Barycentric (P1) shape functions of the simplex with `vertices`."""
    d = vertices.shape[1]
    # Solve [v_a; 1] N = [xi; 1] for the barycentric coordinates N.
    M = np.vstack([vertices.T, np.ones(d + 1)])
    Minv = np.linalg.inv(M)
    N = np.hstack([points, np.ones((points.shape[0], 1))]) @ Minv.T
    dN = np.broadcast_to(Minv[:, :d][None], (points.shape[0], d + 1, d)).copy()
    return N, dN


def _gauss_tensor(dim):
    g = 1.0 / np.sqrt(3.0)
    axes = np.meshgrid(*([np.array([-g, g])] * dim), indexing="ij")
    points = np.stack([a.ravel() for a in axes], axis=1)
    return points, np.ones(points.shape[0])


def _make(name, vertices, points, weights, xdmf_name, to_xdmf, face, simplex):
    vertices = np.asarray(vertices, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    N, dN = (_simplex_shape if simplex else _tensor_shape)(vertices, points)
    arrays = [vertices, points, np.asarray(weights, dtype=np.float64), N, dN,
              np.asarray(to_xdmf, dtype=np.int64)]
    for a in arrays:
        a.setflags(write=False)
    vertices, points, weights, N, dN, to_xdmf = arrays
    return ReferenceElement(name=name, dim=vertices.shape[1], n_nodes=vertices.shape[0],
                            vertices=vertices, points=points, weights=weights, N=N, dN=dN,
                            xdmf_name=xdmf_name, to_xdmf=to_xdmf, face=face)


SEG2 = _make("seg2", [[-1.0], [1.0]], *_gauss_tensor(1), "Polyline", [0, 1], None, False)

# Closure order of a DMPlex quadrilateral, mapped to [-1,1]^2.
QUAD4 = _make("quad4", [[-1, -1], [1, -1], [1, 1], [-1, 1]], *_gauss_tensor(2),
              "Quadrilateral", [0, 1, 2, 3], SEG2, False)

TRI3 = _make("tri3", [[0, 0], [1, 0], [0, 1]], [[1 / 3, 1 / 3]], [1 / 2],
             "Triangle", [0, 1, 2], SEG2, True)

# Closure order of a DMPlex hexahedron, mapped to [-1,1]^3.
HEX8 = _make("hex8",
             [[-1, -1, -1], [-1, 1, -1], [1, 1, -1], [1, -1, -1],
              [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]],
             *_gauss_tensor(3), "Hexahedron", [0, 3, 2, 1, 4, 5, 6, 7], QUAD4, False)

# DMPlex's (left-handed) reference tetrahedron, see the module docstring.
TET4 = _make("tet4", [[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], [[0.25, 0.25, 0.25]],
             [1 / 6], "Tetrahedron", [1, 0, 2, 3], TRI3, True)

ELEMENTS = {e.name: e for e in (SEG2, QUAD4, TRI3, HEX8, TET4)}


def element_for(dim: int, simplex: bool) -> ReferenceElement:
    """The cell element of a `dim`-dimensional mesh of simplices or tensor cells."""
    table = {(2, False): QUAD4, (2, True): TRI3, (3, False): HEX8, (3, True): TET4}
    try:
        return table[(int(dim), bool(simplex))]
    except KeyError:
        raise ValueError(f"no element for dim={dim!r}, simplex={simplex!r}; "
                         f"known: dim 2 or 3, simplex True or False") from None
