"""Spatial decomposition of a periodic box on an MPI Cartesian grid.

The box is cut in fractional coordinates by planes along each axis: rank
(i, j, k) of a grid (P0, P1, P2) owns s in [c0[i], c0[i+1]) x [c1[j], ...) x
[c2[k], ...), evenly spaced (c0[i] = i/P0) until a balancer moves them
(`hpcms.parallel.balance`).  Because the cut is fractional, the same
decomposition serves orthogonal and triclinic boxes.
"""

from __future__ import annotations

import itertools

import numpy as np
from mpi4py import MPI

from ..config.errors import DeckError
from ._domain_kernels import sort_out


def choose_grid(n_ranks, widths, requested=(0, 0, 0), key="parallel.grid"):
    """A grid of `n_ranks` with the given entries fixed (0 = free).

    Free entries are chosen to minimise the subdomain surface for the box's
    face widths (as LAMMPS does); ties go to the grid MPI_Dims_create gives.
    """
    requested = [int(r) for r in requested]
    fixed = int(np.prod([r for r in requested if r > 0]))
    if fixed and n_ranks % fixed != 0 or (all(r > 0 for r in requested) and fixed != n_ranks):
        raise DeckError(key, requested, f"the product of the fixed entries must divide the "
                        f"number of ranks, {n_ranks} (and equal it when all are given)")
    candidates = []
    for dims in itertools.product(range(1, n_ranks + 1), repeat=3):
        if int(np.prod(dims)) != n_ranks:
            continue
        if any(r > 0 and r != d for r, d in zip(requested, dims)):
            continue
        w = np.asarray(widths) / np.asarray(dims)
        area = w[0] * w[1] + w[1] * w[2] + w[0] * w[2]
        candidates.append((round(area, 12), tuple(-d for d in dims), dims))
    default = tuple(MPI.Compute_dims(n_ranks, requested))
    best = min(candidates)
    ties = [c for c in candidates if c[0] == best[0]]
    for c in ties:
        if c[2] == default:
            return list(default)
    return list(best[2])


class Domain:
    """This rank's part of the box and its neighbours on the grid.

    Collective on `comm` (creates a Cartesian communicator).
    """

    def __init__(self, comm, box, grid=(0, 0, 0)):
        dims = choose_grid(comm.size, box.widths, grid)
        self.comm = comm.Create_cart(dims, periods=[True] * 3, reorder=False)
        self.box = box
        self.dims = np.array(dims, dtype=np.int64)
        self.coords = np.array(self.comm.Get_coords(self.comm.rank), dtype=np.int64)
        # (lower, upper) neighbour ranks along each axis.
        self.neighbors = [self.comm.Shift(d, 1) for d in range(3)]
        self.pending_cuts = None
        self.set_cuts([np.arange(n + 1) / n for n in dims])

    def set_cuts(self, cuts):
        """Place the planes between ranks: cuts[d] (dims[d] + 1 increasing
        fractions from 0 to 1); rank (i, j, k) owns [cuts[0][i], cuts[0][i +
        1]) x ...  Every rank must pass the same cuts, and the particles must
        be migrated afterwards (`ParticleSystem.reneighbor` does both with
        `pending_cuts`)."""
        cuts = [np.asarray(c, dtype=np.float64) for c in cuts]
        for d, c in enumerate(cuts):
            if len(c) != self.dims[d] + 1 or c[0] != 0.0 or c[-1] != 1.0 or np.any(np.diff(c) <= 0):
                raise ValueError(f"cuts along axis {d} must rise from 0 to 1 in {self.dims[d]} "
                                 f"steps, got {c.tolist()}")
        self.cuts = cuts
        self.thinnest = [float(np.diff(c).min()) for c in cuts]  # thinnest slab along each axis
        self._cut_table = np.zeros((3, int(self.dims.max()) + 1))
        for d, c in enumerate(cuts):
            self._cut_table[d, : len(c)] = c
        self.lo = np.array([cuts[d][self.coords[d]] for d in range(3)])
        self.hi = np.array([cuts[d][self.coords[d] + 1] for d in range(3)])

    def apply_pending_cuts(self):
        """`set_cuts(pending_cuts)` if a balancer left some (at a list rebuild,
        before migration: ownership may move only then)."""
        if self.pending_cuts is not None:
            self.set_cuts(self.pending_cuts)
            self.pending_cuts = None

    @property
    def rank(self):
        return self.comm.rank

    def sort_out(self, s):
        """Fractional positions (n, 3), in [0, 1), by owning rank: returns
        (kept, leaving, counts): the rows this rank owns, the other rows
        grouped by owner in rank order, and how many go to each rank."""
        # Create_cart without reordering numbers ranks row-major by coordinates.
        kept = np.empty(len(s), dtype=np.int64)
        leaving = np.empty(len(s), dtype=np.int64)
        counts = np.zeros(self.comm.size, dtype=np.int64)
        k = sort_out(np.ascontiguousarray(s, dtype=np.float64), self.dims, self._cut_table,
                     self.comm.rank, kept, leaving, counts)
        return kept[:k], leaving[: len(s) - k], counts

    def free(self):
        """Release the Cartesian communicator.  Collective."""
        if self.comm != MPI.COMM_NULL:
            self.comm.Free()
