"""Structure written by a run: g(r) per type pair and the blend structure factor.

`RDFObserver` accumulates the radial distribution function of every type
pair from the Verlet list (so out to the list cutoff, r_c + skin) every
`output.rdf_every` steps, and writes ``rdf.csv`` at the end::

    g_ab(r) = <n_ab(r)> / (N_a rho_b 4 pi r^2 dr)      (rho_b = N_b / V; N_b - 1 when a = b)

Histogram counts are integers summed with an integer Allreduce, so g(r) is
the same on any number of ranks.

`StructureObserver` writes ``structure.csv`` every `output.structure_every`
steps: the composition structure factor of types 1 (s = +1) and 2 (s = -1),
``S(k) = |sum_j s_j exp(i k . x_j)|^2 / N_12``, averaged over the wave vectors
2 pi n / L of each of the three smallest shells |n|^2 = 1, 2, 3.  A mixed
blend stays at S = O(1) (times the chain length); a demixing one grows
S(k_1) towards O(N_12): ``order = S(k_1) / N_12`` is the order parameter
(about 0 mixed; of order 0.1 for two slabs).  The sums are exact
(`exact_sum`), so the file does not depend on the rank count either.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from mpi4py import MPI

from hpcms.parallel.reduce import exact_sum

from . import _analysis_kernels as kernels

RDF_BINS = 100


class RDFObserver:
    """Accumulates g(r) every `every` steps; `write(path)` at the end.  Collective."""

    def __init__(self, sim, every, n_types, path, n_bins=RDF_BINS):
        self.every = every
        self.n_types = n_types
        self.path = path
        self.n_bins = n_bins
        self.r_max = sim.system.neighbors.list_cutoff
        self.hist = np.zeros((n_types, n_types, n_bins), dtype=np.int64)
        self.frames = 0

    def needs_rebuild(self, step):
        return False

    def due(self, step, end):
        return step % self.every == 0

    def __call__(self, sim):
        s = sim.system
        nl = s.neighbors
        kernels.rdf_histogram(s.x, s.types, s.n_local, nl.start, nl.index, nl.half, self.n_types,
                              self.r_max, self.n_bins, self.hist)
        self.frames += 1

    def result(self, sim):
        """(r centres, {(a, b): g(r)}) with 1-based type numbers.  Collective."""
        s = sim.system
        total = np.empty_like(self.hist)
        s.comm.Allreduce(self.hist, total, op=MPI.SUM)
        local = np.bincount(s.types[: s.n_local], minlength=self.n_types).astype(np.int64)
        counts = np.empty_like(local)
        s.comm.Allreduce(local, counts, op=MPI.SUM)
        width = self.r_max / self.n_bins
        edges = np.arange(self.n_bins + 1) * width
        shell = 4.0 / 3.0 * math.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
        volume = s.box.volume
        g = {}
        for a, b in itertools.product(range(self.n_types), repeat=2):
            if b < a:
                continue
            partners = counts[b] - (1 if a == b else 0)
            norm = max(self.frames, 1) * counts[a] * partners / volume * shell
            with np.errstate(invalid="ignore", divide="ignore"):
                g[(a + 1, b + 1)] = np.where(norm > 0, total[a, b] / norm, 0.0)
        return 0.5 * (edges[1:] + edges[:-1]), g

    def write(self, sim):
        r, g = self.result(sim)
        if sim.comm.rank != 0:
            return
        pairs = sorted(g)
        with open(self.path, "w") as f:
            f.write("r," + ",".join(f"g_{a}_{b}" for a, b in pairs) + "\n")
            for k in range(len(r)):
                f.write(repr(float(r[k])) + "," + ",".join(repr(float(g[p][k])) for p in pairs)
                        + "\n")


def wave_vectors(cell):
    """Wave vectors 2 pi B n of the shells |n|^2 = 1, 2, 3 (one of each +-k pair).

    B = inverse cell transposed; returns (kvecs (m, 3), shell index (m,)).
    """
    recip = 2.0 * math.pi * np.linalg.inv(cell).T
    ks, shells = [], []
    for n in itertools.product((-1, 0, 1), repeat=3):
        n = np.array(n)
        sq = int(n @ n)
        first = next((v for v in n if v != 0), 0)
        if sq in (1, 2, 3) and first > 0:
            ks.append(recip @ n)
            shells.append(sq - 1)
    return np.array(ks), np.array(shells)


def composition_structure(sim, type_a=0, type_b=1):
    """(S per shell (3,), N_ab): the composition structure factor of two types.  Collective."""
    s = sim.system
    kvecs, shells = wave_vectors(s.box.cell)
    n = s.n_local
    modes = np.empty((n, 2 * len(kvecs) + 1))
    kernels.composition_modes(s.x, s.types, n, type_a, type_b, kvecs, modes)
    t = s.types[:n]
    modes[:, -1] = ((t == type_a) | (t == type_b)).astype(np.float64)
    sums = exact_sum(s.comm, modes)
    n_ab = sums[-1]
    power = sums[0:-1:2] ** 2 + sums[1:-1:2] ** 2
    per_shell = np.array([power[shells == k].mean() for k in range(3)]) / max(n_ab, 1.0)
    return per_shell, n_ab


class StructureObserver:
    """Writes structure.csv rows: step, time, S_k1, S_k2, S_k3, order.  Collective."""

    COLUMNS = ("step", "time", "S_k1", "S_k2", "S_k3", "order")

    def __init__(self, sim, every, path):
        self.every = every
        self.file = None
        if sim.comm.rank == 0:
            self.file = open(path, "a")
            if self.file.tell() == 0:
                self.file.write(",".join(self.COLUMNS) + "\n")

    def needs_rebuild(self, step):
        return False

    def due(self, step, end):
        return step % self.every == 0 or step == end

    def __call__(self, sim):
        per_shell, n_ab = composition_structure(sim)
        if self.file is None:
            return
        row = [sim.step, sim.time, *per_shell, per_shell[0] / max(n_ab, 1.0)]
        self.file.write(",".join(repr(v) if isinstance(v, int) else repr(float(v)) for v in row)
                        + "\n")
        self.file.flush()

    def close(self):
        if self.file:
            self.file.close()
