"""Displacement degrees of freedom on a mesh: PETSc vectors, matrix and maps.

`dim` dofs sit on every vertex.  A rank's local vector holds its owned and
ghost vertices, in local vertex order (dof = vertex * dim + component);
PETSc's local-to-global scatters add element contributions across ranks.
The matrix is PETSc's own preallocated AIJ matrix of the DMPlex, filled with
every element block at once (`setValuesLocalRCV`).
"""

from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from . import _assembly_kernels as kernels


class DisplacementSpace:
    """Vertex displacement dofs of `mesh`.  Collective on mesh.comm."""

    def __init__(self, mesh):
        self.mesh = mesh
        self.comm = mesh.comm
        dm, dim = mesh.dm, mesh.dim
        self.dim = dim
        v0, v1 = dm.getDepthStratum(0)
        section = PETSc.Section().create(comm=self.comm)
        section.setNumFields(1)
        section.setFieldComponents(0, dim)
        section.setChart(*dm.getChart())
        for v in range(v0, v1):  # once, at setup
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
        owned = np.repeat(mesh.vertex_owned, dim)
        # Where each owned local dof sits in this rank's part of a global vector (-1: a ghost).
        self.position = np.full(self.n_local, -1, dtype=np.int64)
        self.position[owned] = self.global_index[owned] - start
        dofs = np.empty((mesh.n_cells, mesh.element.n_nodes * dim), dtype=PETSc.IntType)
        kernels.element_dofs(mesh.cells, dim, dofs)
        self.element_dofs = dofs
        self._local = dm.createLocalVec()

    def global_vec(self):
        """A zero global vector.  Collective."""
        v = self.mesh.dm.createGlobalVec()
        v.zeroEntries()
        return v

    def matrix(self):
        """The preallocated tangent matrix, block size dim.  Collective."""
        J = self.mesh.dm.createMatrix()
        J.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
        return J

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
