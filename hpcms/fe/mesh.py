"""Distributed DMPlex meshes and what the FE solver needs from them.

A mesh is created whole on rank 0 (a box, or a file DMPlex reads), optionally
distorted there, then distributed by PETSc's partitioner without overlap: each
cell lives on exactly one rank, vertices on partition boundaries are shared
(owned by one rank, ghosts elsewhere).  Every cell and vertex carries its
number in the undistributed mesh as a global id, so ids — and everything keyed
by them: quadrature points, output rows, checkpoints — do not depend on the
number of ranks.

Element connectivity lists each cell's vertices in DMPlex closure order, the
node order of `hpcms.fe.elements`.  Boundary regions are either DMPlex labels
(a Gmsh physical group arrives as a "Face Sets" value, or as a label of its
name) or, on box meshes, the named planes xmin, xmax, ymin, ymax, zmin, zmax.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from ..config.errors import DeckError
from .elements import element_for

BOX_REGIONS = ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax")


class Mesh:
    """A distributed mesh with its cells, vertices, ids and regions.  Collective on `comm`.

    Local arrays (this rank's view):
    ``X`` (n_vertices, dim) reference coordinates of owned and ghost vertices;
    ``vertex_ids`` (n_vertices,) global ids; ``vertex_owned`` (n_vertices,) bool;
    ``cells`` (n_cells, n_nodes) local vertex indices in closure order;
    ``cell_ids`` (n_cells,) global ids.
    """

    def __init__(self, comm, dm, box=None):
        self.comm = comm
        self.box = box  # (lower, upper) of a box mesh, else None
        self.dim = dm.getDimension()
        self.n_cells_global = comm.bcast(_cell_count(dm) if comm.rank == 0 else None, root=0)
        self.n_vertices_global = comm.bcast(_vertex_count(dm) if comm.rank == 0 else None,
                                            root=0)
        first = _first_ids(dm) if comm.rank == 0 else None
        original = np.arange(*dm.getChart(), dtype=np.int32)
        sf = dm.distribute() if comm.size > 1 else None
        if sf is not None:
            p0, p1 = dm.getChart()
            moved = np.full(p1 - p0, -1, dtype=np.int32)
            sf.bcastBegin(MPI.INT, original, moved, MPI.REPLACE)
            sf.bcastEnd(MPI.INT, original, moved, MPI.REPLACE)
            original = moved
        first = comm.bcast(first, root=0)
        self.dm = dm
        c0, c1 = dm.getHeightStratum(0)
        v0, v1 = dm.getDepthStratum(0)
        self._c0, self._v0 = c0, v0
        self.cell_ids = (original[c0:c1] - first[0]).astype(np.int64)
        self.vertex_ids = (original[v0:v1] - first[1]).astype(np.int64)
        self.simplex = _is_simplex(dm, c0, c1, comm)
        self.element = element_for(self.dim, self.simplex)
        self.cells = _closure_vertices(dm, range(c0, c1), v0, v1, self.element.n_nodes)
        self.X = dm.getCoordinatesLocal().array.reshape(-1, self.dim).copy()
        leaves = dm.getPointSF().getGraph()[1] if comm.size > 1 else None  # serial: no graph
        leaves = np.asarray(leaves if leaves is not None else [], dtype=np.int64)
        self.vertex_owned = np.ones(v1 - v0, dtype=bool)
        ghost = leaves[(leaves >= v0) & (leaves < v1)] - v0
        self.vertex_owned[ghost] = False

    @property
    def n_cells(self):
        return len(self.cell_ids)

    @property
    def n_vertices(self):
        return len(self.vertex_ids)

    def region_names(self):
        """Region names a deck may use on this mesh."""
        labels = [self.dm.getLabelName(i) for i in range(self.dm.getNumLabels())]
        names = [n for n in labels if n not in ("depth", "celltype", "marker")]
        return (list(BOX_REGIONS[:2 * self.dim]) if self.box else []) + names

    def region(self, region, key):
        """(vertices, faces) of a boundary region on this rank.  Collective.

        `region` is a box plane name, a label name (all its points), or an
        integer "Face Sets" value.  vertices: local vertex indices (owned and
        ghost); faces: (n_faces, nodes per face) local vertex indices of the
        region's faces on this rank's cells.  A region that is empty on every
        rank is a DeckError naming `key`.
        """
        dm = self.dm
        v0, v1 = dm.getDepthStratum(0)
        f0, f1 = dm.getHeightStratum(1)
        if isinstance(region, str) and self.box and region in BOX_REGIONS[:2 * self.dim]:
            axis, upper = "xyz".index(region[0]), region.endswith("max")
            bound = self.box[1 if upper else 0][axis]
            span = self.box[1][axis] - self.box[0][axis]
            on = np.abs(self.X[:, axis] - bound) <= 1e-10 * span
            faces = _boundary_faces(dm, f0, f1)
            face_nodes = _closure_vertices(dm, faces, v0, v1, self.element.face.n_nodes)
            keep = on[face_nodes].all(axis=1) if len(face_nodes) else np.zeros(0, bool)
            vertices, face_nodes = np.flatnonzero(on), face_nodes[keep]
        else:
            if isinstance(region, bool) or not isinstance(region, (str, int)):
                raise DeckError(key, region, "must be a region name or a 'Face Sets' value")
            label, value = (("Face Sets", region) if isinstance(region, int)
                            else (region, None))
            points = _label_points(dm, label, value)
            found = self.comm.allreduce(points is not None, op=MPI.LOR)
            if not found:
                raise DeckError(key, region, "no such region on this mesh; known: "
                                + ", ".join(map(str, self.region_names() + self._face_sets())))
            points = points if points is not None else np.zeros(0, dtype=np.int32)
            faces = points[(points >= f0) & (points < f1)]
            face_nodes = _closure_vertices(dm, faces, v0, v1, self.element.face.n_nodes)
            verts = [points[(points >= v0) & (points < v1)] - v0, face_nodes.reshape(-1)]
            vertices = np.unique(np.concatenate(verts).astype(np.int64))
        if self.comm.allreduce(len(vertices), op=MPI.SUM) == 0:
            raise DeckError(key, region, "the region has no vertices on this mesh")
        return vertices, face_nodes

    def _face_sets(self):
        values = []
        if self.dm.hasLabel("Face Sets"):
            values = [int(v) for v in self.dm.getLabelIdIS("Face Sets").array]
        values = sorted(set(sum(self.comm.allgather(values), [])))
        return [f"{v} (Face Sets)" for v in values]


def _cell_count(dm):
    c0, c1 = dm.getHeightStratum(0)
    return c1 - c0


def _vertex_count(dm):
    v0, v1 = dm.getDepthStratum(0)
    return v1 - v0


def _first_ids(dm):
    return dm.getHeightStratum(0)[0], dm.getDepthStratum(0)[0]


def _is_simplex(dm, c0, c1, comm):
    n = 0
    if c1 > c0:
        n = dm.getConeSize(c0)
    n = comm.allreduce(n, op=MPI.MAX)
    return n == dm.getDimension() + 1


def _closure_vertices(dm, points, v0, v1, n_nodes):
    """(len(points), n_nodes) local vertex indices of each point's closure, in closure order.

    A Python loop over points, run once at setup (about 25 µs per cell).
    """
    points = list(points)
    out = np.empty((len(points), n_nodes), dtype=np.int64)
    for k, p in enumerate(points):
        closure = dm.getTransitiveClosure(p)[0]
        out[k] = closure[(closure >= v0) & (closure < v1)] - v0
    return out


def _boundary_faces(dm, f0, f1):
    """Faces with one cell in their support: the boundary of this rank's piece.

    On a distributed mesh, faces between two ranks have one local cell too;
    callers keep only faces whose vertices all lie on the region.
    """
    faces = []
    for f in range(f0, f1):
        if dm.getSupportSize(f) == 1:
            faces.append(f)
    return faces


def _label_points(dm, label, value):
    """Points of `label` (all values, or one) on this rank, or None without that label here."""
    if not dm.hasLabel(label):
        return None
    values = [value] if value is not None else list(dm.getLabelIdIS(label).array)
    found = [dm.getStratumIS(label, v).array for v in values if dm.getStratumSize(label, v)]
    if not found:
        return np.zeros(0, dtype=np.int32) if value is None else None
    return np.unique(np.concatenate(found))


def create_mesh(comm, section, deck_dir=".") -> Mesh:
    """The mesh a deck's [mesh] section asks for, distributed over `comm`.  Collective."""
    if section.type == "box":
        lower, upper = tuple(section.lower), tuple(section.upper)
        if section.simplex:  # PETSc's own needs a mesh generator (tetgen) Debian lacks
            dm = _simplex_box(comm, section.cells, lower, upper)
        else:
            dm = PETSc.DMPlex().createBoxMesh(section.cells, lower=lower, upper=upper,
                                              simplex=False, interpolate=True, comm=comm)
        if section.distort:
            _distort(dm, lower, upper, section.cells, section.distort)
        return Mesh(comm, dm, box=(lower, upper))
    path = Path(deck_dir) / section.file
    exists = comm.bcast(path.is_file() if comm.rank == 0 else None, root=0)
    if not exists:
        raise DeckError("mesh.file", section.file, f"no such file ({path})")
    try:
        dm = PETSc.DMPlex().createFromFile(str(path), interpolate=True, comm=comm)
    except PETSc.Error as e:
        raise DeckError("mesh.file", section.file, f"DMPlex cannot read it ({e})") from None
    return Mesh(comm, dm)


def _simplex_box(comm, cells, lower, upper):
    """A box cut into triangles (2 per square) or tetrahedra (6 per cube, Kuhn), on rank 0.

    Vertex order follows DMPlex's reference simplices (hpcms.fe.elements):
    counter-clockwise triangles; tetrahedra with their first two vertices
    swapped from the right-handed order.
    """
    dim = len(cells)
    if comm.rank != 0:
        return PETSc.DMPlex().createFromCellList(dim, np.zeros((0, dim + 1), dtype=np.int32),
                                                 np.zeros((0, dim)), interpolate=True,
                                                 comm=comm)
    axes = [np.linspace(lo, hi, n + 1) for lo, hi, n in zip(lower, upper, cells)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)
    index = np.arange(len(grid)).reshape([n + 1 for n in cells])
    corner = index[tuple(slice(0, n) for n in cells)].reshape(-1)
    stride = np.array([index.strides[d] // index.itemsize for d in range(dim)])
    simplices = []
    for order in itertools.permutations(range(dim)):
        # Kuhn: walk from the cell's low corner to its high corner one axis at a time.
        path = [corner]
        for axis in order:
            path.append(path[-1] + stride[axis])
        simplices.append(np.stack(path, axis=1))
    cells_out = np.concatenate(simplices)
    edges = grid[cells_out[:, 1:]] - grid[cells_out[:, :1]]
    flip = np.linalg.det(edges) < 0
    cells_out[flip, 0], cells_out[flip, 1] = cells_out[flip, 1], cells_out[flip, 0].copy()
    if dim == 3:  # DMPlex's reference tetrahedron is left-handed
        cells_out[:, [0, 1]] = cells_out[:, [1, 0]]
    return PETSc.DMPlex().createFromCellList(dim, cells_out.astype(np.int32), grid,
                                             interpolate=True, comm=comm)


def _distort(dm, lower, upper, cells, amount):
    """Move interior vertices by up to `amount` cells, fixed by vertex number (rank 0 holds all)."""
    coords = dm.getCoordinatesLocal()
    X = coords.array.reshape(-1, len(cells))
    if len(X) == 0:
        return
    lower, upper = np.asarray(lower), np.asarray(upper)
    h = (upper - lower) / np.asarray(cells)
    tol = 1e-10 * (upper - lower)
    interior = np.all((X > lower + tol) & (X < upper - tol), axis=1)
    rng = np.random.default_rng(20261125)
    shift = rng.uniform(-amount, amount, size=X.shape) * h
    X[interior] += shift[interior]
    dm.setCoordinatesLocal(coords)
