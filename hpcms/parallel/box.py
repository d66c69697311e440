"""A periodic simulation cell: orthogonal or triclinic.

The cell vectors a, b, c are the COLUMNS of `cell`:  x = origin + cell @ s
with fractional coordinates s in [0, 1)^3.  A triclinic cell is any
non-singular 3x3 matrix, so a box deformed by a deformation gradient F is
simply `Box(F @ cell, origin)`.
"""

from __future__ import annotations

import numpy as np


class Box:
    """Periodic cell with cached inverse.  Immutable by convention."""

    def __init__(self, cell, origin=(0.0, 0.0, 0.0)):
        self.cell = np.ascontiguousarray(cell, dtype=np.float64).reshape(3, 3)
        self.origin = np.ascontiguousarray(origin, dtype=np.float64).reshape(3)
        self.volume = float(np.linalg.det(self.cell))
        if not self.volume > 0.0:
            raise ValueError(f"cell matrix must have a positive determinant, got {self.volume}")
        self.inverse = np.linalg.inv(self.cell)
        # Distance between opposite faces: the box is this wide along each
        # fractional axis, whatever its tilt.
        self.widths = 1.0 / np.linalg.norm(self.inverse, axis=1)
        self._orthogonal = bool(np.all(self.cell == np.diag(np.diag(self.cell))))

    def fractional(self, x):
        """Fractional coordinates of Cartesian positions (n, 3)."""
        return (x - self.origin) @ self.inverse.T

    def cartesian(self, s):
        """Cartesian positions of fractional coordinates (n, 3)."""
        return self.origin + s @ self.cell.T

    def fractional_cutoff(self, r):
        """How far in each fractional coordinate a Cartesian distance r reaches."""
        return r / self.widths

    @property
    def is_orthogonal(self):
        return self._orthogonal

    def deformed(self, F):
        """The box deformed by a deformation gradient F (3x3), origin fixed."""
        return Box(np.asarray(F, dtype=np.float64) @ self.cell, self.origin)

    def __repr__(self):
        return f"Box(cell={self.cell.tolist()}, origin={self.origin.tolist()})"
