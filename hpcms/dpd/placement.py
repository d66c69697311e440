"""Random initial configurations for DPD: a uniform fluid and linear chains.

``[system] lattice = "random"`` fills an orthogonal box of edge lengths
``box`` with round(density * volume) beads.  Molecules (``molecules``, a list
of tables) are placed first, each chain a random walk of fixed step from a
uniformly random first bead; the remaining beads are solvent (type
``solvent``), uniformly random.  Ids run 1..N: chains in deck order, bead by
bead, then solvent.  Positions come from numpy's PCG64 seeded with
(run.seed, 0x44504421) on the one rank that builds the structure, so the
configuration depends on the seed only, never on the number of ranks.

A molecule table::

    {sequence = ["H", "T", "T"], count = 100, bond_k = 4.0, bond_r0 = 0.0,
     angle_k = 0.0, angle_theta0 = 180.0}

sequence: type names from ``system.type_names`` (1 bead or more); count >= 1;
bond_k > 0 and bond_r0 >= 0 (E = bond_k (r - bond_r0)^2 / 2 between consecutive
beads); angle_k >= 0 (0: no angles) and angle_theta0 in [0, 180] degrees
(E = angle_k (theta - theta0)^2 / 2 at each inner bead).  Walk step: bond_r0,
or 0.75 when bond_r0 = 0 (near the rms length of a k = 4 spring at kT = 1).
"""

from __future__ import annotations

import math

import numpy as np

from hpcms.config.errors import DeckError
from hpcms.particles.structure import Structure

from .bonded import Topology

MOLECULE_KEYS = ("sequence", "count", "bond_k", "bond_r0", "angle_k", "angle_theta0")
DEFAULT_STEP = 0.75
SEED_SALT = 0x44504421


def _number(entry, name, prefix, default, *, positive=False, upper=None):
    value = entry.get(name, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0) and (upper is None or value <= upper)
    if not ok:
        rule = "a number > 0" if positive else "a number >= 0"
        if upper is not None:
            rule += f" and <= {upper}"
        raise DeckError(f"{prefix}.{name}", value, rule)
    return float(value)


def check_molecules(molecules, names):
    """Validated molecule tables: [(sequence as 0-based types, count, k, r0, ka, theta0)]."""
    out = []
    for m, entry in enumerate(molecules):
        prefix = f"system.molecules[{m}]"
        if not isinstance(entry, dict):
            raise DeckError(prefix, entry, "a table {sequence = [...], count = N, ...}")
        for k in entry:
            if k not in MOLECULE_KEYS:
                raise DeckError(f"{prefix}.{k}", entry[k],
                                f"unknown key; allowed keys are {list(MOLECULE_KEYS)}")
        seq = entry.get("sequence")
        if not (isinstance(seq, list) and seq and all(isinstance(b, str) for b in seq)):
            raise DeckError(f"{prefix}.sequence", seq, "a non-empty list of type names")
        for b in seq:
            if b not in names:
                raise DeckError(f"{prefix}.sequence", seq,
                                f"unknown bead type {b!r}; types are system.type_names = {names}")
        count = entry.get("count")
        if not (isinstance(count, int) and not isinstance(count, bool) and count >= 1):
            raise DeckError(f"{prefix}.count", count, "an integer >= 1")
        k = _number(entry, "bond_k", prefix, 4.0, positive=True)
        r0 = _number(entry, "bond_r0", prefix, 0.0)
        ka = _number(entry, "angle_k", prefix, 0.0)
        theta0 = _number(entry, "angle_theta0", prefix, 180.0, upper=180.0)
        out.append(([names.index(b) for b in seq], count, k, r0, ka, math.radians(theta0)))
    return out


def build_random(sysd, seed):
    """(Structure, Topology) for a ``lattice = "random"`` [system] section.  Not collective."""
    if not sysd.density > 0:
        raise DeckError("system.density", sysd.density,
                        "required with lattice = 'random': the number density, > 0")
    if len(sysd.box) != 3:
        raise DeckError("system.box", sysd.box,
                        "required with lattice = 'random': three edge lengths, e.g. [10, 10, 10]")
    if sysd.constant or sysd.orient or list(sysd.cells) != [1, 1, 1]:
        raise DeckError("system.cells", sysd.cells, "not used with lattice = 'random' "
                        "(nor constant, orient): give box and density")
    names = list(sysd.type_names) or ["A"]
    if len(set(names)) != len(names):
        raise DeckError("system.type_names", names, "distinct names")
    solvent = sysd.solvent or names[0]
    if solvent not in names:
        raise DeckError("system.solvent", solvent, f"one of system.type_names = {names}")
    molecules = check_molecules(sysd.molecules, names)
    lengths = np.asarray(sysd.box, dtype=float)
    volume = float(np.prod(lengths))
    n_total = int(round(sysd.density * volume))
    n_chain_beads = sum(len(seq) * count for seq, count, *_ in molecules)
    if n_chain_beads > n_total:
        raise DeckError("system.molecules", sysd.molecules,
                        f"the molecules hold {n_chain_beads} beads, more than the box holds at "
                        f"this density (round(density * volume) = {n_total}): enlarge system.box "
                        "or lower the counts")
    rng = np.random.Generator(np.random.PCG64([int(seed), SEED_SALT]))
    positions = np.empty((n_total, 3))
    types = np.empty(n_total, dtype=np.int32)
    bonds, angles = [], []
    bond_k, bond_r0, angle_k, angle_theta0 = [], [], [], []
    p = 0
    for kind, (seq, count, k, r0, ka, theta0) in enumerate(molecules):
        step = r0 if r0 > 0 else DEFAULT_STEP
        if step >= 0.5 * lengths.min():
            raise DeckError(f"system.molecules[{kind}].bond_r0", r0,
                            f"less than half the box's smallest edge ({0.5 * lengths.min():.6g})")
        bond_k.append(k)
        bond_r0.append(r0)
        if ka > 0:
            angle_k.append(ka)
            angle_theta0.append(theta0)
        n_b = len(seq)
        for _ in range(count):
            first = p
            positions[p] = rng.random(3) * lengths
            types[p] = seq[0]
            p += 1
            for b in range(1, n_b):
                u = rng.normal(size=3)
                positions[p] = positions[p - 1] + step * u / np.linalg.norm(u)
                types[p] = seq[b]
                p += 1
            ids = np.arange(first, p) + 1
            for b in range(n_b - 1):
                bonds.append((ids[b], ids[b + 1], kind))
            if ka > 0:
                for b in range(n_b - 2):
                    angles.append((ids[b], ids[b + 1], ids[b + 2], len(angle_k) - 1))
    n_solvent = n_total - p
    positions[p:] = rng.random((n_solvent, 3)) * lengths
    types[p:] = names.index(solvent)
    cell = np.diag(lengths)
    st = Structure(cell=cell, origin=np.zeros(3), positions=positions, types=types,
                   ids=np.arange(1, n_total + 1), n_types=len(names), type_names=names)
    topo = Topology(bonds=np.array(bonds, dtype=np.int64).reshape(-1, 3), bond_k=bond_k,
                    bond_r0=bond_r0, angles=np.array(angles, dtype=np.int64).reshape(-1, 4),
                    angle_k=angle_k, angle_theta0=angle_theta0)
    return st, topo
