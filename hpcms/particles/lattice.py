"""Cubic crystal lattices filling an orthogonal periodic box.

`build_lattice("fcc", (20, 20, 20), density=0.8442)` is LAMMPS's
``lattice fcc 0.8442`` + ``region box block 0 20 0 20 0 20`` +
``create_atoms``: the lattice constant is a = (n_basis / density)^(1/3), and an
``orient`` gives the crystal directions along x, y and z.
"""

from __future__ import annotations

import numpy as np

from hpcms.config.errors import DeckError
from hpcms.particles.structure import Structure

# Basis atoms of the cubic conventional cell, in units of the lattice constant,
# in LAMMPS's order.
BASES = {
    "sc": np.array([[0.0, 0.0, 0.0]]),
    "bcc": np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]),
    "fcc": np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]]),
}

# Sites closer than this (in fractional box coordinates) to a face count as on it.
_FACE_TOL = 1e-8


def build_lattice(kind, cells, *, density=None, constant=None, orient=None,
                  key_prefix="system") -> Structure:
    """Atoms on a cubic lattice in an orthogonal box with its corner at 0.

    kind: "fcc", "bcc" or "sc".  cells: repetitions along x, y, z.  Give exactly
    one of density (atoms per volume) or constant (lattice constant a).
    orient: 3 integer rows, the crystal directions along x, y, z (mutually
    orthogonal, right-handed); the box along axis d is ``cells[d] * a *
    |orient[d]|`` long.  Ids run 1..N over the cubic cells of the crystal,
    z outermost, then y, then x, basis atoms innermost (LAMMPS create_atoms
    order for the identity orientation).  All atoms have type 0.
    """
    basis = _check_kind(kind, key_prefix)
    cells = _check_cells(cells, key_prefix)
    a = _lattice_constant(len(basis), density, constant, key_prefix)
    orient = _check_orient(orient, key_prefix)

    lengths = np.asarray(cells) * a * np.linalg.norm(orient, axis=1)
    rotation = orient / np.linalg.norm(orient, axis=1)[:, None]  # rows: lab axes in crystal frame
    positions = _sites_in_box(basis, a, rotation, lengths)

    n_expected = len(basis) * int(np.prod(cells)) * int(round(np.linalg.det(orient)))
    assert len(positions) == n_expected, f"{len(positions)} sites in the box, expected {n_expected}"
    n = len(positions)
    return Structure(
        cell=np.diag(lengths),
        origin=np.zeros(3),
        positions=positions,
        types=np.zeros(n, dtype=np.int32),
        ids=np.arange(1, n + 1, dtype=np.int64),
        n_types=1,
    )


def _sites_in_box(basis, a, rotation, lengths):
    """Every lattice site in [0, lengths), once, in crystal-cell order (z, y, x, basis)."""
    corners = np.array([[i, j, k] for k in (0, 1) for j in (0, 1) for i in (0, 1)]) * lengths
    crystal = corners @ rotation / a  # the box corners in crystal coordinates
    lo = np.floor(crystal.min(axis=0)).astype(int) - 1
    hi = np.ceil(crystal.max(axis=0)).astype(int)
    nz, ny, nx = np.meshgrid(*(np.arange(lo[d], hi[d] + 1) for d in (2, 1, 0)), indexing="ij")
    origins = np.stack([nx.ravel(), ny.ravel(), nz.ravel()], axis=1).astype(np.float64)
    sites = (origins[:, None, :] + basis[None, :, :]).reshape(-1, 3)

    positions = a * (sites @ rotation.T)
    s = positions / lengths
    inside = np.all((s >= -_FACE_TOL) & (s < 1.0 - _FACE_TOL), axis=1)
    positions = positions[inside]
    positions[s[inside] < 0.0] = 0.0  # sites on the low faces, a rounding error outside
    return np.ascontiguousarray(positions)


def _check_kind(kind, key_prefix):
    if kind not in BASES:
        raise DeckError(f"{key_prefix}.lattice", kind, f"allowed: {', '.join(sorted(BASES))}")
    return BASES[kind]


def _check_cells(cells, key_prefix):
    key = f"{key_prefix}.cells"
    try:
        values = list(cells)
    except TypeError:
        raise DeckError(key, cells, "three positive integers") from None
    if len(values) != 3 or not all(_is_int(v) and v > 0 for v in values):
        raise DeckError(key, cells, "three positive integers")
    return tuple(int(v) for v in values)


def _lattice_constant(n_basis, density, constant, key_prefix):
    if (density is None) == (constant is None):
        given = "both" if density is not None else "neither"
        raise DeckError(f"{key_prefix}.density", density,
                        f"give exactly one of density or constant ({given} given)")
    if density is not None:
        return (n_basis / _positive(density, f"{key_prefix}.density")) ** (1.0 / 3.0)
    return _positive(constant, f"{key_prefix}.constant")


def _check_orient(orient, key_prefix):
    """The orientation as a 3x3 integer array: orthogonal, right-handed rows."""
    if orient is None:
        return np.eye(3, dtype=np.int64)
    key = f"{key_prefix}.orient"
    allowed = ("3 integer rows (crystal directions along x, y, z), "
               "mutually orthogonal and right-handed")
    try:
        rows = np.array(orient, dtype=object)
    except ValueError:
        raise DeckError(key, orient, allowed) from None
    if rows.shape != (3, 3) or not all(_is_int(v) for v in rows.ravel()):
        raise DeckError(key, orient, allowed)
    rows = rows.astype(np.int64)
    gram = rows @ rows.T
    if np.any(gram[~np.eye(3, dtype=bool)] != 0) or np.any(np.diag(gram) == 0):
        raise DeckError(key, orient, f"{allowed}; these rows are not orthogonal")
    if np.linalg.det(rows) < 0:
        raise DeckError(key, orient, f"{allowed}; these rows are left-handed")
    return rows


def _positive(value, key):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DeckError(key, value, "a positive number")
    if not (np.isfinite(value) and value > 0):
        raise DeckError(key, value, "a positive number")
    return float(value)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
