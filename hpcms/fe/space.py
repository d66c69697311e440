"""Displacement degrees of freedom on a mesh: PETSc vectors, matrix and maps.

`dim` dofs sit on every vertex.  A rank's local vector holds its owned and
ghost vertices, in local vertex order (dof = vertex * dim + component);
PETSc's local-to-global scatters add element contributions across ranks.

The tangent is a PETSc AIJ matrix (block size dim) whose nonzeros are the
vertex graph of the cells: two vertices are coupled when they share a cell,
on any rank.  Its storage is this module's: the matrix is created on arrays
built here (`createAIJWithArrays`: MatCreateSeqAIJWithArrays, or
MatCreateMPIAIJWithSplitArrays for the diagonal and off-diagonal blocks of
the owned rows), followed by the rows of ghost vertices.  The element kernel
adds every element matrix straight into those values
(`_element_kernels.add_stiffness`, positions from `element_offsets`); the
ghost rows then go to their owners through PETSc's own off-process path
(MatSetValues + assembly).  Nothing is inserted entry by entry on a rank's
own rows, and DMPlex's preallocation (which walks the mesh point by point,
seconds per 10^5 dofs) is not needed: the pattern is built here from the
cells, with one all-to-all for the couplings other ranks see.
"""

from __future__ import annotations

import time

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from . import _assembly_kernels as kernels


class DisplacementSpace:
    """Vertex displacement dofs of `mesh`.  Collective on mesh.comm.

    ``setup_seconds``: wall time of the section and of the sparsity (vertex
    graph, the tangent's pattern, where element blocks go) on this rank.
    """

    def __init__(self, mesh):
        self.mesh = mesh
        self.comm = mesh.comm
        dm, dim = mesh.dm, mesh.dim
        self.dim = dim
        t0 = time.perf_counter()
        v0, v1 = dm.getDepthStratum(0)
        section = PETSc.Section().create(comm=self.comm)
        section.setNumFields(1)
        section.setFieldComponents(0, dim)
        section.setChart(*dm.getChart())
        for v in range(v0, v1):  # once, at setup: 0.5 us per vertex (DMPlexCreateSection: 4 us)
            section.setDof(v, dim)
            section.setFieldDof(v, 0, dim)
        section.setUp()
        dm.setSection(section)
        n = v1 - v0
        if n and (section.getOffset(v0) != 0 or section.getOffset(v1 - 1) != (n - 1) * dim):
            raise RuntimeError("DMPlex numbers vertex dofs out of vertex order")
        self.n_local = n * dim
        self.lgmap = dm.getLGMap()
        self.global_index = self.lgmap.apply(np.arange(self.n_local, dtype=PETSc.IntType))
        u = dm.createGlobalVec()
        start = u.getOwnershipRange()[0]
        self.n_global = u.getSize()
        self.n_owned = u.getLocalSize()
        owned = np.repeat(mesh.vertex_owned, dim)
        # Where each owned local dof sits in this rank's part of a global vector (-1: a ghost).
        self.position = np.full(self.n_local, -1, dtype=np.int64)
        self.position[owned] = self.global_index[owned] - start
        self._local = dm.createLocalVec()
        self.setup_seconds = {"section": time.perf_counter() - t0}
        t0 = time.perf_counter()
        # The tangent's nonzeros (the vertex graph) and where element blocks go.
        ptr, cols = kernels.vertex_graph(mesh.cells, n)
        self._layout(start // dim, ptr, cols)
        self.setup_seconds["sparsity"] = time.perf_counter() - t0

    @property
    def element_dofs(self):
        """(n_cells, n_nodes * dim) local dofs of every element."""
        mesh = self.mesh
        dofs = np.empty((mesh.n_cells, mesh.element.n_nodes * self.dim), dtype=PETSc.IntType)
        kernels.element_dofs(mesh.cells, self.dim, dofs)
        return dofs

    def _layout(self, first, ptr, cols):
        """The tangent's storage on this rank.  Collective.

        Block rows (one per vertex) of three kinds, in this order in the value
        array: the diagonal part of the owned rows (columns owned here), their
        off-diagonal part (columns owned elsewhere), both in global row order
        as PETSc stores them, then the rows of ghost vertices (sent to their
        owners at assembly).  An owned row couples its vertex to every vertex
        it shares a cell with on any rank: ghost rows are sent to their
        owners (global vertex ids, one all-to-all) and merged there.  (ptr,
        cols) is the local vertex graph (`_assembly_kernels.vertex_graph`).

        Sets `element_offsets`, `segment_start`, `segment_length`,
        `column_kind` (see `_assembly_kernels.element_offsets`) and the
        index arrays of the three parts.
        """
        comm, dim, mesh = self.comm, self.dim, self.mesh
        nv = mesh.n_vertices
        n_blocks = self.n_owned // dim
        n_vertices_global = self.n_global // dim
        owned = mesh.vertex_owned
        # global vertex (block) number, local order; int64: the keys exceed 2**31
        vertex = (self.global_index[::dim] // dim).astype(np.int64)
        rows = np.repeat(np.arange(nv), np.diff(ptr))
        key = vertex[rows] * n_vertices_global + vertex[cols]  # (global row, global column)
        mine = owned[rows]
        del rows
        own, theirs = key[mine], np.sort(key[~mine])
        if comm.size > 1:
            starts = np.array(comm.allgather(first) + [np.iinfo(np.int64).max], dtype=np.int64)
            owner = np.searchsorted(starts, theirs // n_vertices_global, side="right") - 1
            counts = np.bincount(owner, minlength=comm.size).astype(np.int64)
            recv_counts = np.empty_like(counts)
            comm.Alltoall(counts, recv_counts)
            recv = np.empty(recv_counts.sum(), dtype=np.int64)
            comm.Alltoallv([theirs, (counts, _offsets(counts)), MPI.INT64_T],
                           [recv, (recv_counts, _offsets(recv_counts)), MPI.INT64_T])
            own = np.concatenate([own, recv])
        # sorted by (row, column); a coupling seen twice (on two ranks) is one nonzero
        if len(own) > 1 and not np.all(own[1:] > own[:-1]):
            own = np.unique(own)
        row = own // n_vertices_global - first
        column = own % n_vertices_global
        diagonal = (column >= first) & (column < first + n_blocks)
        d_count = np.bincount(row[diagonal], minlength=n_blocks)
        o_count = np.bincount(row[~diagonal], minlength=n_blocks)
        d_ptr = np.concatenate([[0], np.cumsum(d_count)])
        o_ptr = np.concatenate([[0], np.cumsum(o_count)])
        d_cols, o_cols = column[diagonal], column[~diagonal]
        del own, row, column, diagonal
        # ghost rows in global order, each by global column
        ghost = np.flatnonzero(~owned)
        ghost = ghost[np.argsort(vertex[ghost], kind="stable")]
        g_count = ptr[ghost + 1] - ptr[ghost]
        g_ptr = np.concatenate([[0], np.cumsum(g_count)])
        g_cols = theirs % n_vertices_global
        n_d, n_o = d_ptr[-1], o_ptr[-1]
        # the block layout of every local row: segment 0 / 1 = diagonal / off-diagonal
        start = np.zeros((nv, 2), dtype=np.int64)
        length = np.zeros((nv, 2), dtype=np.int64)
        r = vertex[owned] - first
        start[owned, 0], length[owned, 0] = d_ptr[r], d_count[r]
        start[owned, 1], length[owned, 1] = n_d + o_ptr[r], o_count[r]
        start[ghost, 0] = start[ghost, 1] = n_d + n_o + g_ptr[:-1]
        length[ghost, 0] = length[ghost, 1] = g_count
        self.segment_start, self.segment_length = start, length
        self.column_kind = (~owned).astype(np.int64)
        columns = np.concatenate([d_cols, o_cols, g_cols])
        nn = mesh.element.n_nodes
        self._n_values = dim * dim * len(columns)
        wide = self._n_values >= np.iinfo(np.int32).max
        self.element_offsets = np.empty((mesh.n_cells, nn * nn),
                                        dtype=np.int64 if wide else np.int32)
        kernels.element_offsets(mesh.cells, start, length, columns, vertex, self.column_kind,
                                dim, self.element_offsets)
        if len(self.element_offsets) and self.element_offsets.min() < 0:
            raise RuntimeError("an element couples vertices the tangent's pattern lacks")
        # PETSc's index arrays: scalar rows; diagonal columns local, the others global
        self._diagonal = _scalar_csr(d_ptr, d_cols - first, dim)
        self._off_diagonal = _scalar_csr(o_ptr, o_cols, dim)
        self._ghost = _scalar_csr(g_ptr, g_cols, dim)
        self._ghost_rows = (np.repeat(vertex[ghost] * dim, dim)
                            + np.tile(np.arange(dim), len(ghost))).astype(PETSc.IntType)

    def global_vec(self):
        """A zero global vector.  Collective."""
        v = self.mesh.dm.createGlobalVec()
        v.zeroEntries()
        return v

    def matrix(self):
        """The tangent matrix, block size dim, with the pattern of the vertex graph
        and zero values; local dofs map to it through `lgmap`.  Its values live
        in `tangent_values(J)`.  Collective."""
        values = np.zeros(self._n_values)
        n_d = len(self._diagonal[1])
        n_o = len(self._off_diagonal[1])
        diagonal = (*self._diagonal, values[:n_d])
        off_diagonal = (*self._off_diagonal, values[n_d:n_d + n_o])
        size = (self.n_owned, self.n_global)
        J = PETSc.Mat().createAIJWithArrays((size, size), (diagonal, off_diagonal),
                                            comm=self.comm)
        J.setBlockSize(self.dim)
        J.setLGMap(self.lgmap, self.lgmap)
        J.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
        J.setAttr("hpcms_values", values)
        J.setAttr("hpcms_ghost", values[n_d + n_o:])
        J.assemble()
        return J

    def tangent_values(self, J):
        """The value array of a `matrix()`: the owned rows' storage in PETSc,
        then the ghost rows; element matrices are added into it in place
        (`_element_kernels.add_stiffness` with `element_offsets`,
        `segment_length` and `column_kind`), then `assemble_tangent`."""
        return J.getAttr("hpcms_values")

    def assemble_tangent(self, J):
        """Finish J after its values were written in place: the ghost rows go to
        their owners (added there), and PETSc learns that J changed.  Collective."""
        if self.comm.size > 1:
            indptr, indices = self._ghost
            J.setValuesIJV(indptr, indices, J.getAttr("hpcms_ghost"),
                           addv=PETSc.InsertMode.ADD_VALUES, rowmap=self._ghost_rows)
        J.assemble()

    def to_local(self, u):
        """Owned and ghost values of global vector `u` as (n_vertices, dim).  Collective."""
        self.mesh.dm.globalToLocal(u, self._local, addv=PETSc.InsertMode.INSERT_VALUES)
        return self._local.array_r.reshape(-1, self.dim).copy()

    def add_to_global(self, local, out):
        """out = sum over ranks of `local` (n_local,) element sums.  Collective."""
        self._local.array[:] = local
        out.zeroEntries()
        self.mesh.dm.localToGlobal(self._local, out, addv=PETSc.InsertMode.ADD_VALUES)

    def set_owned(self, vec, local_dofs, values):
        """vec[dof] = value for those local dofs this rank owns (not collective)."""
        pos = self.position[np.asarray(local_dofs, dtype=np.int64)]
        mine = pos >= 0
        vec.getArray()[pos[mine]] = np.asarray(values)[mine]

    def owned_values(self, vec):
        """(n_local,) array with vec's values at owned dofs and NaN at ghosts (not collective)."""
        out = np.full(self.n_local, np.nan)
        mine = self.position >= 0
        out[mine] = vec.getArray(readonly=True)[self.position[mine]]
        return out

    def owned_global_rows(self, local_dofs):
        """Global row numbers of the owned ones among `local_dofs`."""
        local_dofs = np.asarray(local_dofs, dtype=np.int64)
        owned = np.repeat(self.mesh.vertex_owned, self.dim)[local_dofs]
        return self.global_index[local_dofs[owned]].astype(PETSc.IntType)

    def rigid_body_modes(self):
        """Rigid-body near-null space (for GAMG) from the vertex coordinates.  Collective."""
        coords = self.global_vec()
        self.set_owned(coords, np.arange(self.n_local), self.mesh.X.reshape(-1))
        coords.setBlockSize(self.dim)
        return PETSc.NullSpace().createRigidBody(coords)


def _scalar_csr(ptr, cols, dim):
    """(indptr, indices) of the scalar rows of a block-row CSR (blocks dim x dim)."""
    indptr = np.empty((len(ptr) - 1) * dim + 1, dtype=PETSc.IntType)
    indices = np.empty(len(cols) * dim * dim, dtype=PETSc.IntType)
    kernels.dof_pattern(np.asarray(ptr, dtype=np.int64), np.asarray(cols, dtype=np.int64),
                        dim, indptr, indices)
    return indptr, indices


def _offsets(counts):
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
