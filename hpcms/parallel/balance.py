"""Dynamic load balance: the planes between ranks move to even out the load.

As LAMMPS' ``fix balance ... shift``: along each axis split over more than
one rank, every slab of ranks gets the share of the box that evens out the
load measured since the last move (the wall time of each rank's neighbour
list builds, which grows with its pairs and with how fast its core runs),
taking the load as spread evenly over each slab.  The planes move part of
the way (`DAMPING`), only when the busiest slab carries more than
`THRESHOLD` times the mean, and never leave a slab thinner than half the
even share.

Moving the planes only changes which rank owns a particle: hpcms' forces and
sums do not depend on the decomposition, so trajectories stay bitwise the
same.  The new planes wait in `Domain.pending_cuts` and take effect at the
next list rebuild, which comes when it would have come anyway (a rebuild
forced at another step would wrap positions at another step and change the
bits).
"""

from __future__ import annotations

import numpy as np

THRESHOLD = 1.03
DAMPING = 0.5


def shifted_cuts(cuts, load, damping=DAMPING):
    """New planes along one axis: `cuts` (P + 1, from 0 to 1) bound P slabs
    whose measured loads are `load` (P,).  Each slab's load is taken as
    spread evenly over it; the planes that give every slab the same load
    are approached by the fraction `damping`; no slab ends up thinner than
    half of 1/P."""
    cuts = np.asarray(cuts, dtype=np.float64)
    n = len(cuts) - 1
    load = np.maximum(np.asarray(load, dtype=np.float64), 1e-12 * max(float(np.sum(load)), 1.0))
    below = np.concatenate([[0.0], np.cumsum(load)])  # load below each plane
    even = np.interp(below[-1] * np.arange(1, n) / n, below, cuts)
    new = cuts.copy()
    new[1:-1] += damping * (even - cuts[1:-1])
    thinnest = 0.5 / n
    for i in range(1, n):
        new[i] = max(new[i], new[i - 1] + thinnest)
    for i in range(n - 1, 0, -1):
        new[i] = min(new[i], new[i + 1] - thinnest)
    return new


def balanced_planes(cuts, coords, loads):
    """The planes after a move, or None when every axis is even enough.

    cuts: the planes along each axis (`Domain.cuts`); coords: each rank's
    grid coordinates; loads: each rank's load.  Along an axis split over
    more than one rank, the slabs' loads are their ranks' summed; the
    planes move (`shifted_cuts`) when the busiest slab carries more than
    THRESHOLD times the mean."""
    coords, loads = np.asarray(coords), np.asarray(loads, dtype=np.float64)
    new, moved = [np.array(c, dtype=np.float64) for c in cuts], False
    for d, c in enumerate(cuts):
        n = len(c) - 1
        if n == 1:
            continue
        slab = np.bincount(coords[:, d], weights=loads, minlength=n)
        if slab.max() > THRESHOLD * slab.mean():
            new[d] = shifted_cuts(c, slab)
            moved = True
    return new if moved else None


class Balancer:
    """Moves the planes of `domain` every `every` steps from the growth of
    `load()` (this rank's cumulative busy seconds).  An observer of
    `Simulation.run`; collective on the domain's communicator."""

    def __init__(self, domain, load, every):
        self.domain = domain
        self.load = load
        self.every = int(every)
        self.last = load()
        self.moves = 0

    def needs_rebuild(self, step):
        return False

    def due(self, step, end):
        return step % self.every == 0

    def __call__(self, sim):
        dom = self.domain
        now = self.load()
        loads = dom.comm.gather(now - self.last, root=0)
        self.last = now
        cuts = None
        if dom.comm.rank == 0:
            coords = [dom.comm.Get_coords(r) for r in range(dom.comm.size)]
            cuts = balanced_planes(dom.cuts, coords, loads)
        cuts = dom.comm.bcast(cuts, root=0)
        if cuts is not None:
            dom.pending_cuts = cuts
            self.moves += 1
