"""An initial configuration: a periodic cell and the atoms in it.

A `Structure` is what a lattice builder or a file reader hands to the
simulation set-up; it is a global (not distributed) view held on one rank or
replicated, before the atoms are scattered to their owners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Structure:
    """Atoms in a periodic cell whose vectors are the COLUMNS of `cell`.

    A point with fractional coordinates s is at ``origin + cell @ s``; the
    cell holds s in [0, 1)^3.  Positions need not lie inside the cell (image
    flags, when given, say how many cells they were unwrapped by).
    """

    cell: np.ndarray
    origin: np.ndarray
    positions: np.ndarray
    types: np.ndarray
    ids: np.ndarray
    n_types: int
    masses: np.ndarray | None = None
    velocities: np.ndarray | None = None
    images: np.ndarray | None = None
    type_names: list[str] | None = None

    def __post_init__(self):
        self.cell = _array(self.cell, np.float64, (3, 3), "cell")
        self.origin = _array(self.origin, np.float64, (3,), "origin")
        self.positions = _array(self.positions, np.float64, (-1, 3), "positions")
        n = len(self.positions)
        self.types = _array(self.types, np.int32, (n,), "types")
        self.ids = _array(self.ids, np.int64, (n,), "ids")
        self.n_types = int(self.n_types)
        if self.masses is not None:
            self.masses = _array(self.masses, np.float64, (self.n_types,), "masses")
        if self.velocities is not None:
            self.velocities = _array(self.velocities, np.float64, (n, 3), "velocities")
        if self.images is not None:
            self.images = _array(self.images, np.int64, (n, 3), "images")
        if self.type_names is not None and len(self.type_names) != self.n_types:
            raise ValueError(f"type_names has {len(self.type_names)} names "
                             f"for {self.n_types} types")
        if n and (self.types.min() < 0 or self.types.max() >= self.n_types):
            raise ValueError(f"types must lie in [0, {self.n_types})")
        if not np.linalg.det(self.cell) > 0.0:
            raise ValueError("cell vectors must be right-handed and non-degenerate")

    @property
    def n_atoms(self) -> int:
        return len(self.positions)

    @property
    def volume(self) -> float:
        return float(np.linalg.det(self.cell))

    def fractional(self) -> np.ndarray:
        """Fractional coordinates s of the positions (not wrapped)."""
        return np.linalg.solve(self.cell, (self.positions - self.origin).T).T

    def wrapped(self) -> np.ndarray:
        """Positions mapped into the cell: fractional coordinates in [0, 1)."""
        s = self.fractional()
        s -= np.floor(s)
        s[s >= 1.0] = 0.0  # s - floor(s) rounds to 1.0 for tiny negative s
        return np.ascontiguousarray(self.origin + s @ self.cell.T)


def _array(value, dtype, shape, name):
    """`value` as a C-contiguous array of `dtype`; -1 in `shape` matches any length."""
    array = np.ascontiguousarray(value, dtype=dtype)
    fits = array.ndim == len(shape) and all(w in (-1, g) for w, g in zip(shape, array.shape))
    if not fits:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    return array
