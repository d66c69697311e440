"""The particle state of one rank: owned particles, their ghosts, their lists.

Structure of arrays.  Owned particles come first in `x` and `ids`/`types`,
ghosts after them; `v`, `f`, `image` and `mass` hold owned particles only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from mpi4py import MPI

from ..parallel.domain import Domain
from ..parallel.halo import Halo, migrate
from ..parallel.rows import take
from . import _neighbor_kernels as nkernels
from . import _state_kernels as kernels
from .neighbor import NeighborList, slot_keys


class ParticleSystem:
    """Particles of a periodic box, decomposed over `comm`.

    Collective on `comm`: construction, `reneighbor`, `update_ghosts` and
    `moved_too_far` must be called by every rank.
    """

    def __init__(self, comm, box, mass_by_type, cutoff, skin, *, every=1, check=True,
                 grid=(0, 0, 0), ghost_cutoff=0.0, half_list=False, bonded=False):
        self.domain = Domain(comm, box, grid)
        self.comm = self.domain.comm
        self.box = box
        self.mass_by_type = np.asarray(mass_by_type, dtype=np.float64)
        self.neighbors = NeighborList(cutoff, skin, every, check, half=half_list)
        # A half list needs no ghosts behind its particles along x; bonded
        # terms look for their partners all round.
        self.half_shell = half_list and not bonded
        # Ghosts reach the list cutoff, or farther when bonded terms need it (angles).
        self.halo = Halo(self.domain, max(self.neighbors.list_cutoff, ghost_cutoff))
        self.n_local = 0
        self.n_global = 0
        self.x = np.empty((0, 3))
        self.v = np.empty((0, 3))
        self.f = np.empty((0, 3))
        self.ids = np.empty(0, dtype=np.int64)
        self.types = np.empty(0, dtype=np.int32)
        self.image = np.empty((0, 3), dtype=np.int64)
        self.mass = np.empty(0)
        self.x_ref = np.empty((0, 3))
        self.last_build = 0
        # Carry forces through migration at every rebuild (an integrator that
        # needs the previous step's forces after the rebuild: groot-warren).
        self.keep_forces = False
        # ghost_velocity(v, f, mass) -> (n_local, 3): when set, the velocities
        # the ghosts carry (those a velocity-dependent pair force sees), sent
        # with the ghosts' positions by `reneighbor` and `update_ghosts` into
        # v_all (owned rows, then ghosts) instead of in a message of their own.
        self.ghost_velocity = None
        self.v_all = np.empty((0, 3))

    @property
    def n_ghost(self):
        return len(self.ids) - self.n_local

    @property
    def x_local(self):
        return self.x[: self.n_local]

    def scatter(self, x, v, ids, types, image=None, *, f=None, step=0, wrap=True):
        """Distribute particles given on any ranks to their owners, build ghosts and lists.

        `f` carries forces along (a restart continues with the checkpointed
        forces); `wrap=False` keeps positions as given (they were wrapped when
        the checkpoint's step rebuilt its lists).
        """
        n = len(ids)
        self.x = np.ascontiguousarray(x, dtype=np.float64).reshape(n, 3)
        self.v = np.ascontiguousarray(v, dtype=np.float64).reshape(n, 3)
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.types = np.ascontiguousarray(types, dtype=np.int32)
        self.image = (np.zeros((n, 3), dtype=np.int64) if image is None
                      else np.ascontiguousarray(image, dtype=np.int64))
        self.f = np.zeros((n, 3)) if f is None else np.ascontiguousarray(f, dtype=np.float64)
        self.n_local = n
        self.n_global = self.comm.allreduce(n, op=MPI.SUM)
        self.reneighbor(step, wrap=wrap, carry_forces=f is not None)

    def reneighbor(self, step, *, wrap=True, carry_forces=False):
        """Wrap, migrate (to the domain's pending cuts, if a balancer moved
        them), sort, rebuild ghosts and the Verlet list."""
        carry_forces = carry_forces or self.keep_forces
        self.domain.apply_pending_cuts()
        n = self.n_local
        x = np.ascontiguousarray(self.x[:n])
        s = np.empty((n, 3))
        image = self.image.copy()
        if wrap:
            kernels.wrap(x, self.box.origin, self.box.inverse, self.box.cell, image, s)
        else:
            kernels.fractional(x, self.box.origin, self.box.inverse, s)
        carried = [x, s, self.v, self.ids[:n], self.types[:n], image]
        if carry_forces:
            carried.append(self.f)
        kept, arrived = migrate(self.domain, s, carried)
        # Spatial sort of those that stay and those that arrived, in one gather:
        # neighbours in memory are neighbours in space.
        nl, lo, hi = self.neighbors, self.domain.lo, self.domain.hi
        grid = nl.bins(self.box, lo, hi, s)
        where = np.concatenate([grid.index[kept], grid.bin(arrived[1])])
        n = len(where)
        order = np.empty(n, dtype=np.int64)
        nkernels.bin_order(where, int(np.prod(grid.nbins)), order)
        rows = np.concatenate([kept, len(s) + np.arange(len(arrived[0]))])[order]
        carried = [take(a, rows, b) for a, b in zip(carried, arrived)]
        x, s, v, ids, types, image = carried[:6]
        self.v = np.ascontiguousarray(v)
        self.image = np.ascontiguousarray(image)
        self.mass = self.mass_by_type[types]
        if carry_forces:
            self.f = carried[6]
        elif len(self.f) != n:
            self.f = np.zeros((n, 3))
        v_ghost = None if self.ghost_velocity is None else self.ghost_velocity(
            self.v, self.f, self.mass)
        half_bins = grid.per_unit[0] if self.half_shell else None
        ghost_ids, ghost_types, owner_s, ghost_v = self.halo.build(
            x, s, ids, types, half_bins=half_bins, extra=v_ghost)
        self.n_local = n
        self.x = np.empty((n + len(ghost_ids), 3))
        self.x[:n] = x
        self.halo.positions(self.x)
        if v_ghost is not None:
            self.v_all = np.concatenate([v_ghost, ghost_v])
        self.ids = np.concatenate([ids, ghost_ids])
        self.types = np.concatenate([types, ghost_types])
        # Owned slots keep their bins (sorted above); ghosts are binned here,
        # each as its owner's bin shifted by whole boxes.
        ghost_bins = grid.bin(owner_s, self.halo.images)
        all_bins = dataclasses.replace(grid, s=s, index=np.concatenate([where[order], ghost_bins]))
        def keys():
            images = np.concatenate([np.zeros((n, 3), dtype=np.int64), self.halo.images])
            return slot_keys(self.ids, images)
        nl.build(self.x, all_bins, n, keys, self.ids)
        self.x_ref = self.x[:n].copy()
        self.last_build = step

    def deform(self, box):
        """Change the periodic cell to `box`, keeping every particle's
        fractional coordinates: owned positions, the list reference positions
        and the ghosts are mapped affinely, x -> box.origin + box.cell @ s.

        Ownership, ghosts and the neighbour list are kept.  A list built in a
        cell C_b stays valid while 2 d + ||C C_b^-1 - I||_2 (cutoff + skin) <=
        skin, with d the largest displacement since the build (`displacement`,
        measured in the mapped frame); otherwise call `reneighbor`.  Each
        particle is mapped by itself in a fixed order, so the result does not
        depend on the decomposition.  Collective.
        """
        old = self.box
        n = self.n_local
        for x in (self.x[:n], self.x_ref):
            s = np.empty((len(x), 3))
            kernels.fractional(np.ascontiguousarray(x), old.origin, old.inverse, s)
            out = np.empty_like(s)
            kernels.cartesian(s, box.origin, box.cell, out)
            x[...] = out
        self.box = box
        self.domain.box = box
        self.halo.deform(self.x)

    def with_ghosts(self, a):
        """Owned-particle array a (n_local, k) and its ghosts' copies, (n_local + n_ghost, k).

        Ghost rows are their owners' values, unshifted (velocities, not
        positions).  Collective.
        """
        out = np.empty((len(self.ids),) + np.shape(a)[1:], dtype=np.asarray(a).dtype)
        out[: self.n_local] = a[: self.n_local]
        self.halo.forward(out)
        return out

    def update_ghosts(self):
        """Refresh ghost positions from their owners, and `v_all` when
        `ghost_velocity` is set.  Collective."""
        if self.ghost_velocity is None:
            self.halo.update_positions(self.x)
        else:
            n = self.n_local
            if len(self.v_all) != len(self.ids):  # the hook came after the last build
                self.v_all = np.empty((len(self.ids), 3))  # (every ghost row is sent below)
            self.v_all[:n] = self.ghost_velocity(self.v, self.f, self.mass)
            self.halo.update_positions(self.x, self.v_all)

    def displacement(self, flag=0.0):
        """Global largest displacement since the last build, a non-finite culprit, a flag.

        Returns (max_displacement, culprit_id, max_flag): culprit_id is the
        smallest id of a particle with a non-finite position, or -1; max_flag
        is the largest `flag` any rank passed (ranks agree on a stop request
        in the same reduction).  Collective.
        """
        worst, bad = nkernels.displacement_check(self.x, self.x_ref, self.n_local)
        # Ids are below 2**51, so -id travels exactly as a float in a MAX.
        local = np.array([worst, -float(self.ids[bad]) if bad >= 0 else -np.inf, flag])
        total = np.empty(3)
        self.comm.Allreduce(local, total, op=MPI.MAX)
        culprit = int(-total[1]) if np.isfinite(total[1]) else -1
        return float(np.sqrt(total[0])), culprit, float(total[2])

    def gather(self, *arrays, root=0):
        """Owned-particle arrays gathered on `root`, ordered by global id.  Collective."""
        ids = self.comm.gather(self.ids[: self.n_local], root=root)
        parts = [self.comm.gather(np.asarray(a)[: self.n_local], root=root) for a in arrays]
        if self.comm.rank != root:
            return None
        ids = np.concatenate(ids)
        order = np.argsort(ids, kind="stable")
        return [ids[order]] + [np.concatenate(p)[order] for p in parts]

    def free(self):
        self.domain.free()

