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
import time
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

    `closure`, when given, is a function of global cell ids returning their
    global vertex ids in closure order (box meshes know it arithmetically);
    it is checked against DMPlex on a sample of cells, and the cells are
    walked one by one when it is absent or wrong.  ``setup_seconds`` holds
    the wall time of distribution and connectivity on this rank.
    """

    def __init__(self, comm, dm, box=None, closure=None):
        self.comm = comm
        self.box = box  # (lower, upper) of a box mesh, else None
        self.dim = dm.getDimension()
        self.setup_seconds = {}
        t0 = time.perf_counter()
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
        self.setup_seconds["distribution"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.simplex = _is_simplex(dm, c0, c1, comm)
        self.element = element_for(self.dim, self.simplex)
        self.cells = _cell_vertices(dm, comm, closure, self.cell_ids, self.vertex_ids,
                                    self.element.n_nodes)
        self.X = dm.getCoordinatesLocal().array.reshape(-1, self.dim).copy()
        leaves = dm.getPointSF().getGraph()[1] if comm.size > 1 else None  # serial: no graph
        leaves = np.asarray(leaves if leaves is not None else [], dtype=np.int64)
        self.vertex_owned = np.ones(v1 - v0, dtype=bool)
        ghost = leaves[(leaves >= v0) & (leaves < v1)] - v0
        self.vertex_owned[ghost] = False
        self._boundary = None  # (faces, their vertices unordered) once a box plane asks
        self.setup_seconds["connectivity"] = time.perf_counter() - t0

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
            nfn = self.element.face.n_nodes
            if self._boundary is None:
                self._boundary = _boundary_faces(dm, f0, f1, v0, v1, nfn)
            faces, face_vertices = self._boundary
            keep = on[face_vertices].all(axis=1) if len(faces) else np.zeros(0, bool)
            vertices = np.flatnonzero(on)
            face_nodes = _closure_vertices(dm, faces[keep], v0, v1, nfn)
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
            # A rank may hold a region vertex without the labelled face next to it.
            vertices = self._shared(np.unique(np.concatenate(verts).astype(np.int64)))
        if self.comm.allreduce(len(vertices), op=MPI.SUM) == 0:
            raise DeckError(key, region, "the region has no vertices on this mesh")
        return vertices, face_nodes

    def _shared(self, vertices):
        """`vertices` plus the local copies of vertices another rank marked.  Collective.

        Marks go from ghost copies to owners (MAX) and back over the point SF.
        """
        if self.comm.size == 1:
            return vertices
        dm = self.dm
        p0, p1 = dm.getChart()
        v0, v1 = dm.getDepthStratum(0)
        marks = np.zeros(p1 - p0, dtype=np.int32)
        marks[vertices + v0 - p0] = 1
        owners = marks.copy()
        sf = dm.getPointSF()
        sf.reduceBegin(MPI.INT, marks, owners, MPI.MAX)
        sf.reduceEnd(MPI.INT, marks, owners, MPI.MAX)
        every = owners.copy()
        sf.bcastBegin(MPI.INT, owners, every, MPI.REPLACE)
        sf.bcastEnd(MPI.INT, owners, every, MPI.REPLACE)
        return np.flatnonzero(every[v0 - p0:v1 - p0]).astype(np.int64)

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


def _cell_vertices(dm, comm, closure, cell_ids, vertex_ids, n_nodes):
    """(n_cells, n_nodes) local vertex indices of every local cell, in closure order.

    With `closure` (global cell ids -> global vertex ids in closure order) the
    table is computed at once and checked against DMPlex on up to 32 cells
    per rank; without it, or when the check fails on any rank, every cell's
    closure is asked of DMPlex.  That costs tens of microseconds per cell and
    grows with the mesh (PETSc 3.18, hexahedra: 13 us at 16^3 cells, 19 us at
    32^3, 88 us at 64^3): half a minute for 10^6 dofs; the table, a second.
    """
    c0, c1 = dm.getHeightStratum(0)
    v0, v1 = dm.getDepthStratum(0)
    cells = None
    if closure is not None:
        order = np.argsort(vertex_ids, kind="stable")
        wanted = closure(cell_ids).reshape(len(cell_ids), n_nodes)
        at = np.searchsorted(vertex_ids, wanted, sorter=order)
        at = np.minimum(at, max(len(order) - 1, 0))
        cells = order[at] if len(order) else np.zeros((0, n_nodes), dtype=np.int64)
        ok = bool(np.array_equal(vertex_ids[cells], wanted)) if len(cells) else True
        if ok and len(cells):
            sample = np.unique(np.linspace(0, len(cells) - 1, 32).astype(np.int64))
            ok = np.array_equal(_closure_vertices(dm, sample + c0, v0, v1, n_nodes),
                                cells[sample])
        if not comm.allreduce(ok, op=MPI.LAND):
            cells = None
    if cells is None:
        cells = _closure_vertices(dm, range(c0, c1), v0, v1, n_nodes)
    return np.ascontiguousarray(cells, dtype=np.int64)


def _closure_vertices(dm, points, v0, v1, n_nodes):
    """(len(points), n_nodes) local vertex indices of each point's closure, in closure order.

    A Python loop over points calling DMPlex (see `_cell_vertices` for its
    cost); used for file meshes, faces of regions, and to check the box-mesh
    tables.
    """
    points = list(points)
    out = np.empty((len(points), n_nodes), dtype=np.int64)
    for k, p in enumerate(points):
        closure = dm.getTransitiveClosure(int(p))[0]
        out[k] = closure[(closure >= v0) & (closure < v1)] - v0
    return out


def _boundary_faces(dm, f0, f1, v0, v1, n_nodes):
    """Faces with one cell in their support (the boundary of this rank's piece)
    and their vertices, unordered: (faces (nf,), vertices (nf, n_nodes)).

    On a distributed mesh, faces between two ranks have one local cell too;
    callers keep only faces whose vertices all lie on the region.  Faces are
    counted in the cells' cones and their vertices read from the cones of
    their edges (one cheap call per cell, boundary face and edge); callers ask
    DMPlex for the closure order only of the faces they keep.
    """
    c0, c1 = dm.getHeightStratum(0)
    cones = [dm.getCone(c) for c in range(c0, c1)]
    faces = np.concatenate(cones) if cones else np.zeros(0, dtype=np.int64)
    count = np.bincount(faces - f0, minlength=f1 - f0) if len(faces) else np.zeros(f1 - f0)
    faces = (np.flatnonzero(count == 1) + f0).astype(np.int64)
    out = np.empty((len(faces), n_nodes), dtype=np.int64)
    if len(faces) == 0:
        return faces, out
    below = np.array([dm.getCone(int(f)) for f in faces], dtype=np.int64)  # (nf, k)
    if not v0 <= below[0, 0] < v1:  # 3D: faces -> edges -> vertices
        edges, inverse = np.unique(below, return_inverse=True)
        ends = np.array([dm.getCone(int(e)) for e in edges], dtype=np.int64)  # (ne, 2)
        # each vertex of a polygon ends two of its edges
        below = np.sort(ends[inverse.reshape(below.shape)].reshape(len(faces), -1), axis=1)[:, ::2]
    if below.shape[1] != n_nodes:
        raise RuntimeError(f"boundary faces have {below.shape[1]} vertices, expected {n_nodes}")
    out[:] = below - v0
    return faces, out


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
            grid, simplices = _kuhn_simplices(section.cells, lower, upper)
            dm = _simplex_box(comm, grid, simplices)
            closure = simplices.__getitem__
        else:
            dm = PETSc.DMPlex().createBoxMesh(section.cells, lower=lower, upper=upper,
                                              simplex=False, interpolate=True, comm=comm)
            closure = _box_closure(comm, dm, section.cells)
        if section.distort:
            _distort(dm, lower, upper, section.cells, section.distort)
        return Mesh(comm, dm, box=(lower, upper), closure=closure)
    path = Path(deck_dir) / section.file
    exists = comm.bcast(path.is_file() if comm.rank == 0 else None, root=0)
    if not exists:
        raise DeckError("mesh.file", section.file, f"no such file ({path})")
    try:
        dm = PETSc.DMPlex().createFromFile(str(path), interpolate=True, comm=comm)
    except PETSc.Error as e:
        raise DeckError("mesh.file", section.file, f"DMPlex cannot read it ({e})") from None
    return Mesh(comm, dm)


def _box_closure(comm, dm, cells):
    """Global vertex ids, in closure order, of a DMPlex box mesh's cells by global id.

    createBoxMesh numbers cells and vertices lexicographically, x fastest, and
    walks every cell's corners in one pattern, read here from cell 0 (whose
    low corner is vertex 0) before the mesh is distributed.  `Mesh` checks the
    result against DMPlex.  Collective.
    """
    pattern = None
    if comm.rank == 0:
        c0 = dm.getHeightStratum(0)[0]
        v0, v1 = dm.getDepthStratum(0)
        pattern = _closure_vertices(dm, [c0], v0, v1, 2 ** len(cells))[0]
    pattern = comm.bcast(pattern, root=0)
    n = np.asarray(cells, dtype=np.int64)

    def closure(ids):
        rest = np.asarray(ids, dtype=np.int64)
        low = np.zeros_like(rest)
        stride = 1
        for d in range(len(n)):
            low += (rest % n[d]) * stride
            rest = rest // n[d]
            stride *= n[d] + 1
        return low[:, None] + pattern[None, :]
    return closure


def _kuhn_simplices(cells, lower, upper):
    """(grid points, simplices) of a box cut into triangles (2 per square) or
    tetrahedra (6 per cube, Kuhn).

    Vertex order follows DMPlex's reference simplices (hpcms.fe.elements):
    counter-clockwise triangles; tetrahedra with their first two vertices
    swapped from the right-handed order.
    """
    dim = len(cells)
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
    return grid, cells_out


def _simplex_box(comm, grid, simplices):
    """The DMPlex of `_kuhn_simplices`, whole on rank 0."""
    dim = grid.shape[1]
    if comm.rank != 0:
        return PETSc.DMPlex().createFromCellList(dim, np.zeros((0, dim + 1), dtype=np.int32),
                                                 np.zeros((0, dim)), interpolate=True,
                                                 comm=comm)
    return PETSc.DMPlex().createFromCellList(dim, simplices.astype(np.int32), grid,
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
