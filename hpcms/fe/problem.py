"""Total-Lagrangian static equilibrium: residual and tangent for PETSc's SNES.

R(u) = f_int(u) - λ f_ext,  f_int = Σ_e ∫ P(F) : ∇N dV,  F = I + ∇u,

with the Dirichlet dofs held at λ times their prescribed values (their rows
and columns of the tangent are the identity, their residual entries zero).
Each evaluation is one batched pass: gather element displacements, compute
every quadrature point's F, ask the material for (W, P, A) in one call, and
scatter element vectors into a PETSc vector in one call; element matrices
are added by the kernel straight into the matrix's storage (see
`hpcms.fe.space`), no element matrix is stored.
The material is evaluated once per Newton iterate: the tangent comes from
the same call as the stress and is cached for the Jacobian.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from ..config.errors import DeckError
from . import _assembly_kernels as gather_kernels
from . import _element_kernels as kernels


class Equilibrium:
    """Residual and Jacobian callbacks of one FE problem.  Collective on space.comm."""

    def __init__(self, space, material, boundary, timers):
        mesh = space.mesh
        self.space, self.material, self.boundary, self.timers = space, material, boundary, timers
        self.comm = space.comm
        el = mesh.element
        ne, nq, nn, dim = mesh.n_cells, len(el.weights), el.n_nodes, mesh.dim
        self.nq = nq
        Xe = np.ascontiguousarray(mesh.X[mesh.cells])
        self.G = np.empty((ne, nq, nn, dim))
        self.dV = np.empty((ne, nq))
        bad = kernels.geometry(Xe, el.dN, el.weights, self.G, self.dV)
        bad_id = self._first_bad(bad)
        if bad_id >= 0:
            raise DeckError("mesh", f"cell {bad_id}", "has a non-positive volume (inverted "
                            "or badly shaped cell)")
        self.volume = self.comm.allreduce(float(self.dV.sum()), op=MPI.SUM)
        self.point_ids = (mesh.cell_ids[:, None] * nq + np.arange(nq)).reshape(-1)
        self._ue = np.empty((ne, nn, dim))
        self.F = np.empty((ne * nq, 3, 3))
        self.detF = np.empty(ne * nq)
        self._Re = np.empty((ne, nn * dim))
        self.bc_rows = space.owned_global_rows(boundary.dofs)
        self.J = space.matrix()
        self.J.setNearNullSpace(space.rigid_body_modes())
        self.load = 0.0
        self.internal = np.zeros(space.n_local)  # this rank's element sums of f_int
        self.failure = None  # why the last evaluation has no residual (an inverted cell...)
        self._key = None      # local displacements of the cached evaluation
        self.W = self.P = self.A = None

    def _first_bad(self, local_index):
        gid = int(self.space.mesh.cell_ids[local_index]) if local_index >= 0 else -1
        gids = [g for g in self.comm.allgather(gid) if g >= 0]
        return min(gids) if gids else -1

    def impose(self, u, load):
        """Set the Dirichlet dofs of global vector `u` to `load` times their values."""
        self.load = load
        self.space.set_owned(u, self.boundary.dofs, load * self.boundary.values)

    def evaluate(self, u_local):
        """F, then (W, P, A) at every quadrature point for local displacements.  Collective.

        Returns False (on every rank) when some cell is inverted or the material
        has no answer (NaN) at some point; `failure` then names the lowest such
        global cell id.
        """
        same = self._key is not None and np.array_equal(self._key, u_local)
        if self.comm.allreduce(same, op=MPI.LAND):  # a rank may see no change where others do
            return self.failure is None
        with self.timers("kinematics"):
            gather_kernels.gather(u_local, self.space.mesh.cells, self._ue)
            bad = kernels.deformation_gradients(self._ue, self.G, self.F, self.detF)
            bad_id = self._first_bad(bad)
        self._key = u_local.copy()
        if bad_id >= 0:
            rows = self.space.mesh.cell_ids == bad_id
            det = float(self.detF.reshape(-1, self.nq)[rows].min()) if rows.any() else np.inf
            det = self.comm.allreduce(det, op=MPI.MIN)
            self.failure = f"cell {bad_id} inverted (det F = {det:.3g})"
            return False
        with self.timers("material"):
            # drop the previous answer first: A alone is 648 bytes per point
            self.W = self.P = self.A = None
            self.W, self.P, self.A = self.material.evaluate(self.F, self.point_ids)
        bad = np.flatnonzero(~np.isfinite(self.W))
        bad_id = self._first_bad(bad[0] // self.nq if len(bad) else -1)
        self.failure = (None if bad_id < 0 else
                        f"the material has no stress at cell {bad_id} (outside its range)")
        return self.failure is None

    def residual(self, snes, u, r):
        """SNES function: r = R(u), NaN everywhere when a cell is inverted.  Collective."""
        u_local = self.space.to_local(u).reshape(-1, self.space.dim)
        if not self.evaluate(u_local):
            r.set(np.nan)
            return
        with self.timers("assembly"):
            kernels.residual(self.P, self.G, self.dV, self._Re)
            self.internal[:] = 0.0
            gather_kernels.scatter_add(self._Re, self.space.mesh.cells, self.space.dim,
                                       self.internal)
            self.space.add_to_global(self.internal - self.load * self.boundary.traction, r)
            self.space.set_owned(r, self.boundary.dofs, np.zeros(len(self.boundary.dofs)))

    def jacobian(self, snes, u, J, P):
        """SNES Jacobian: the consistent tangent, identity rows/columns at Dirichlet dofs."""
        u_local = self.space.to_local(u).reshape(-1, self.space.dim)
        if not self.evaluate(u_local):
            return
        with self.timers("assembly"):
            # the tangent goes into P, the matrix of `space.matrix()` (J too,
            # unless PETSc options such as -fe_snes_mf_operator made J its own)
            space = self.space
            values = space.tangent_values(P)
            values[:] = 0.0
            kernels.add_stiffness(self.A, self.G, self.dV, space.mesh.cells,
                                  space.element_offsets, space.segment_length,
                                  space.column_kind, values)
            space.assemble_tangent(P)
            P.zeroRowsColumns(self.bc_rows, diag=1.0)
            if J.handle != P.handle:
                J.assemble()

    def reactions(self):
        """[(name, force (dim,))]: internal force summed over each region.  Collective."""
        out = []
        for name, dofs in self.boundary.reactions:
            local = self.internal[dofs].sum(axis=0) if len(dofs) else np.zeros(self.space.dim)
            out.append((name, self.comm.allreduce(local, op=MPI.SUM)))
        return out

    def cell_fields(self):
        """{name: (n_cells, k)} dV-weighted cell averages of F, P and W at the last evaluation."""
        ne = self.space.mesh.n_cells
        out = {}
        for name, values in (("F", self.F.reshape(-1, 9)), ("P", self.P.reshape(-1, 9)),
                             ("energy_density", self.W.reshape(-1, 1))):
            avg = np.empty((ne, values.shape[1]))
            kernels.cell_average(np.ascontiguousarray(values), self.dV, avg)
            out[name] = avg
        return out

    def energy(self):
        """Stored energy ∫ W dV over the body at the last evaluation.  Collective."""
        return self.comm.allreduce(float((self.W.reshape(-1, self.nq) * self.dV).sum()),
                                   op=MPI.SUM)
