"""Cell lists and Verlet neighbour lists with a skin.

The list is full (each pair in both rows) and every row comes out in an
order that does not depend on the decomposition (bins aligned to the whole
box, each filled in global key order), so that a particle's force is summed
in the same order whichever rank holds it.  A half list (`half=True`: each
pair once over all ranks, owned-ghost pairs included, the ghosts' force
sums going back to their owners through `Halo.reverse`) has rows in no such
order; it serves styles whose sums are exact in any order (DPD's fixed-point
forces).  Sizing is separate from updating: the build reports overflow and
is retried with a larger buffer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import _neighbor_kernels as kernels

_IMAGE_BITS = 4  # periodic images -7..7 per axis fit in the key
# Bins are list_cutoff / reach wide, so that a stencil of `reach` bins each
# way covers every pair: the full list's 5x5x5 bins keep its candidates few;
# the half list searches column runs (pruned per sub-cell, see
# `_neighbor_kernels.half_stencil`), and fewer, longer runs of 3x3x3 bins
# cost less there (measured in perf/README.md, bench_dpd.py).
FULL_REACH = 2
HALF_REACH = 1


def slot_keys(ids, images):
    """Global sort key of each slot: its particle id, then its periodic image."""
    off = 1 << (_IMAGE_BITS - 1)
    img = images + off
    return (((ids << _IMAGE_BITS | img[:, 0]) << _IMAGE_BITS | img[:, 1])
            << _IMAGE_BITS | img[:, 2])


class NeighborList:
    """Verlet list out to cutoff + skin for the owned particles of a rank."""

    def __init__(self, cutoff, skin, every=1, check=True, half=False):
        self.cutoff = float(cutoff)
        self.half = bool(half)
        self.skin = float(skin)
        self.every = int(every)
        self.check = bool(check)
        self.start = np.zeros(1, dtype=np.int64)
        self.index = np.zeros(0, dtype=np.int32)
        self.n_pairs = 0
        self.builds = 0
        self.seconds = 0.0  # wall time spent building (a rank's load, for balancing)
        self.reach = HALF_REACH if self.half else FULL_REACH
        self._stencil = (None, None)  # (what it was made for, half_stencil's tables)

    @property
    def list_cutoff(self):
        return self.cutoff + self.skin

    def bins(self, box, lo, hi, s):
        """Binning of fractional positions over this rank's region plus halo.

        Bins are aligned to the whole box (the same grid on every rank, with
        a bin edge at s = 0) and at least 1/`reach` of the list cutoff wide,
        so a stencil of `reach` bins each way covers every pair.  Returns a
        `Bins`; its `bin` places more slots on the same grid.
        """
        delta = box.fractional_cutoff(self.list_cutoff)
        per_unit = np.maximum(1, np.floor(self.reach / delta)).astype(np.int64)
        first = np.floor((lo - delta) * per_unit).astype(np.int64) - 1
        last = np.floor((hi + delta) * per_unit).astype(np.int64) + 1
        widths = np.diag(box.cell).copy() if box.is_orthogonal else np.zeros(3)
        grid = Bins(None, s, per_unit.astype(np.float64), first, last - first + 1,
                    widths)
        grid.index = grid.bin(s)
        return grid

    def build(self, x, bins, n_local, keys, ids=None):
        """Rebuild from positions x (owned first, then ghosts), their Bins and
        slot keys (a callable giving them; a half list needs none, it needs
        `ids`, the global ids of the slots)."""
        t0 = time.perf_counter()
        if len(self.index) < 16 * max(n_local, 1):
            self.index = np.empty(100 * max(n_local, 1), dtype=np.int32)
        self.start = np.empty(n_local + 1, dtype=np.int64)
        reach = np.full(3, self.reach, dtype=np.int64)
        order = None if self.half else np.argsort(keys())
        while True:
            if self.half:
                n = kernels.build_half_list(x, bins.s, ids, bins.index, n_local, bins.per_unit,
                                            bins.first, bins.nbins,
                                            *self._half_stencil(reach, bins),
                                            self.list_cutoff ** 2, self.start, self.index)
            else:
                n = kernels.build_full_list(x, bins.s, bins.index, order, n_local,
                                            bins.per_unit, bins.first, bins.nbins, reach,
                                            bins.widths, self.list_cutoff ** 2, self.start,
                                            self.index)
            if n >= 0:
                break
            self.index = np.empty(2 * len(self.index), dtype=np.int32)
        self.n_pairs = int(n)
        self.builds += 1
        self.seconds += time.perf_counter() - t0

    def _half_stencil(self, reach, bins):
        """The half list's column runs (`_neighbor_kernels.half_stencil`),
        made again only when the bins' size or the box changes (~0.1 ms)."""
        key = (bins.per_unit.tobytes(), bins.widths.tobytes(), self.list_cutoff)
        if self._stencil[0] != key:
            self._stencil = (key, kernels.half_stencil(reach, bins.widths, bins.per_unit,
                                                       self.list_cutoff ** 2))
        return self._stencil[1]


@dataclass
class Bins:
    """Where each slot falls on the global-aligned bin grid."""
    index: np.ndarray     # local linear bin of each slot
    s: np.ndarray         # fractional coordinates of the slots (the owned ones at least)
    per_unit: np.ndarray  # bins per box length along each axis
    first: np.ndarray     # global index of this rank's first bin
    nbins: np.ndarray     # local bins along each axis
    widths: np.ndarray    # box edge lengths when orthogonal (pruning), else zeros

    def bin(self, s, images=None):
        """Local bin of each fractional position s (n, 3) on this grid; with
        images (n, 3), of those periodic images of particles at s (ghosts; see
        `_neighbor_kernels.bin_index`)."""
        out = np.empty(len(s), dtype=np.int64)
        images = np.zeros((0, 3), dtype=np.int64) if images is None else images
        kernels.bin_index(s, images, self.per_unit, self.first, self.nbins, out)
        return out
