"""Material-point laws of the finite-strain FE solver: the `MaterialPoint`
protocol, the ``[material]`` deck table and its registered styles.

A deck looks like::

    [material]
    style = "neo-hookean"     # a key of MATERIALS
    E = 100.0
    nu = 0.3

Every law is 3D and hyperelastic here, evaluated in batches by numba kernels
(`hpcms.fe._material_kernels`).  Units are reduced (LJ) units.  An FE²
atomistic RVE implements the same protocol with history and communication.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np
from mpi4py import MPI

from hpcms.config.errors import DeckError
from hpcms.fe import _material_kernels as kernels

MATERIALS = {}
REQUIRED = None  # the default of a key the deck must give


def register(name):
    """Class decorator: make a material law available to decks as ``name``."""
    def add(cls):
        cls.name = name
        MATERIALS[name] = cls
        return cls
    return add


class Key(NamedTuple):
    """A ``[material]`` key of a style: default (`REQUIRED` if none), unit, meaning."""
    default: object
    unit: str
    doc: str


class MaterialPoint(Protocol):
    """Stress and tangent at a batch of material points (3D always;
    plane-strain FE passes F with F[2,2] = 1 and zero out-of-plane shear)."""

    name: str
    comm: MPI.Comm  # the FE communicator; a formula law does no communication

    def evaluate(self, F, ids, tangent=True):
        """F: (n, 3, 3) float64 deformation gradients; ids: (n,) int64 global
        quadrature-point ids (independent of the rank count).

        Returns (W, P, A): W (n,) stored energy per unit reference volume,
        P (n, 3, 3) first Piola-Kirchhoff stress, A (n, 3, 3, 3, 3) with
        ``A[i, J, k, L] = dP[i, J] / dF[k, L]`` (None when tangent=False).
        Collective on ``self.comm`` (every rank calls, possibly with n = 0).
        Never raises on det F <= 0: such points get NaN rows.
        """

    def commit(self) -> None:
        """Accept the last evaluated state as history."""

    def rollback(self) -> None:
        """Discard the state evaluated since the last commit."""

    def elasticity(self) -> np.ndarray:
        """(3, 3, 3, 3) tangent A at F = I."""


class _KernelLaw:
    """A history-free law evaluated by one kernel: ``_kernel(F, *_args,
    tangent, W, P, A)``.  Nothing here communicates; `evaluate` is collective
    on ``comm`` only in the sense of the protocol."""

    _kernel = None

    def __init__(self, comm):
        self.comm = comm

    def evaluate(self, F, ids, tangent=True):
        """See `MaterialPoint.evaluate`.  Not collective (no communication)."""
        F = np.ascontiguousarray(F, dtype=np.float64)
        if F.ndim != 3 or F.shape[1:] != (3, 3):
            raise ValueError(f"F must have shape (n, 3, 3), got {F.shape}")
        n = F.shape[0]
        if np.shape(ids) != (n,):
            raise ValueError(f"ids must have shape ({n},), got {np.shape(ids)}")
        W, P = np.empty(n), np.empty((n, 3, 3))
        A = np.empty((n if tangent else 0, 3, 3, 3, 3))
        type(self)._kernel(F, *self._args, bool(tangent), W, P, A)
        return W, P, (A if tangent else None)

    def commit(self):
        """No history: nothing to do."""

    def rollback(self):
        """No history: nothing to do."""

    def elasticity(self):
        """A at F = I.  For a stress-free reference this is the small-strain
        elasticity tensor; otherwise it includes the initial-stress term
        ``d_ik P_JL`` (not minor-symmetric)."""
        _, _, A = self.evaluate(np.eye(3)[None], np.zeros(1, dtype=np.int64))
        return A[0]


class _IsotropicLaw(_KernelLaw):
    """Isotropic law given by Young's modulus and Poisson ratio."""

    keys = {"E": Key(REQUIRED, "ε/σ³", "Young's modulus (> 0)"),
            "nu": Key(REQUIRED, "", "Poisson ratio, in (-1, 0.5)")}

    def __init__(self, comm, E, nu):
        super().__init__(comm)
        self.E, self.nu = float(E), float(nu)
        self.mu = self.E / (2.0 * (1.0 + self.nu))
        self.lam = self.E * self.nu / ((1.0 + self.nu) * (1.0 - 2.0 * self.nu))
        self._args = (self.mu, self.lam)

    @classmethod
    def from_deck(cls, comm, settings):
        return cls(comm, _number(settings, "E", low=0.0),
                   _number(settings, "nu", low=-1.0, high=0.5))


@register("neo-hookean")
class NeoHookean(_IsotropicLaw):
    """Compressible neo-Hookean: ``W = mu/2 (I1 - 3) - mu ln J + lambda/2 (ln J)^2``,
    ``P = mu (F - F^-T) + lambda ln J F^-T``."""
    _kernel = kernels.neo_hookean


@register("saint-venant-kirchhoff")
class SaintVenantKirchhoff(_IsotropicLaw):
    """``W = lambda/2 (tr E)^2 + mu tr(E^2)``, ``E = (F^T F - I)/2``, ``P = F S``.
    Returns NaN rows for det F <= 0 like every law, although W is defined there."""
    _kernel = kernels.saint_venant_kirchhoff


@register("cauchy-born-lj")
class CauchyBornLJ(_KernelLaw):
    """Zero-temperature Cauchy-Born law of an fcc Lennard-Jones crystal.

    ``W(F) = (1/Omega0) 1/2 sum_R phi(|F R|)`` over the reference neighbour
    vectors R of one atom with ``|F R| < cutoff``; ``Omega0 = a^3 / 4``.  phi
    is hpcms.md's lj/cut pair energy ``4 eps ((s/r)^12 - (s/r)^6)``, minus its
    value at the cutoff with ``shift``, so W(F) equals the energy per reference
    volume of a periodic fcc crystal deformed by F under ``lj/cut``.

    The neighbour list holds every R with ``|R| < list_factor * cutoff``, so
    it is complete for F whose smallest principal stretch is at least
    ``1 / list_factor`` (2/3 by default); points more compressed than that
    get NaN rows, as do points with det F <= 0.
    """

    keys = {
        "epsilon": Key(1.0, "ε", "LJ well depth (> 0)"),
        "sigma": Key(1.0, "σ", "LJ length (> 0)"),
        "cutoff": Key(2.5, "σ", "pair cutoff distance (> 0), as lj/cut's"),
        "shift": Key(False, "", "shift the pair energy to zero at the cutoff"),
        "constant": Key(0.0, "σ", "fcc lattice constant a (0: the zero-stress constant "
                                  "for this cutoff)"),
        "orient": Key([], "", "crystal directions along x, y, z, as system.orient "
                              "(default: cube axes)"),
    }
    _kernel = kernels.cauchy_born_lj

    def __init__(self, comm, epsilon=1.0, sigma=1.0, cutoff=2.5, shift=False, constant=0.0,
                 orient=None, list_factor=1.5):
        """``constant = 0`` picks `lj_fcc_zero_stress_constant` (ValueError if
        there is none); ``orient`` is 3 integer rows, orthogonal and
        right-handed (None: cube axes; others raise DeckError)."""
        super().__init__(comm)
        self.epsilon, self.sigma, self.cutoff = float(epsilon), float(sigma), float(cutoff)
        self.shift = bool(shift)
        self.constant = float(constant) or lj_fcc_zero_stress_constant(
            epsilon, sigma, cutoff, shift)
        rows = np.eye(3) if orient is None else _orient(np.asarray(orient).tolist())
        self.rotation = rows / np.linalg.norm(rows, axis=1)[:, None]  # rows: lab axes in crystal
        self.list_radius = list_factor * self.cutoff
        self.min_stretch = 1.0 / list_factor
        sites = fcc_sites(self.list_radius / self.constant)
        self.neighbors = np.ascontiguousarray(self.constant * sites @ self.rotation.T)  # lab frame
        self.volume = self.constant**3 / 4.0
        sigma6 = self.sigma**6
        lj3, lj4 = 4.0 * self.epsilon * sigma6 * sigma6, 4.0 * self.epsilon * sigma6
        offset = lj_energy(self.cutoff, self.epsilon, self.sigma) if self.shift else 0.0
        self._args = (self.neighbors, lj3, lj4, offset, self.cutoff**2,
                      self.min_stretch**2, 1.0 / self.volume)

    @classmethod
    def from_deck(cls, comm, settings):
        epsilon = _number(settings, "epsilon", low=0.0)
        sigma = _number(settings, "sigma", low=0.0)
        cutoff = _number(settings, "cutoff", low=0.0)
        shift = settings["shift"]
        if not isinstance(shift, bool):
            raise DeckError("material.shift", shift, "true or false")
        constant = _number(settings, "constant", low=0.0, low_closed=True)
        orient = _orient(settings["orient"])
        if constant == 0.0:
            try:
                constant = lj_fcc_zero_stress_constant(epsilon, sigma, cutoff, shift)
            except ValueError as e:
                raise DeckError("material.cutoff", cutoff,
                                f"{e}; give material.constant instead") from None
        return cls(comm, epsilon, sigma, cutoff, shift, constant, orient)


def make_material(table, comm) -> MaterialPoint:
    """Validate the ``[material]`` deck table and build its law on ``comm``.

    Not collective: every rank builds the same object from the same table.
    Bad input raises `DeckError` naming the key as ``material.<key>``.
    """
    if not isinstance(table, dict):
        raise DeckError("material", table, f"a table with a style, one of {sorted(MATERIALS)}")
    style = table.get("style")
    if not isinstance(style, str) or style not in MATERIALS:
        raise DeckError("material.style", style,
                        ("required: " if style is None else "") + f"one of {sorted(MATERIALS)}")
    cls = MATERIALS[style]
    settings = {}
    for name, value in table.items():
        if name == "style":
            continue
        if name not in cls.keys:
            raise DeckError(f"material.{name}", value, f"unknown key; style {style!r} has keys "
                            + ", ".join(["style", *cls.keys]))
        settings[name] = value
    for name, key in cls.keys.items():
        if name not in settings:
            if key.default is REQUIRED:
                raise DeckError(f"material.{name}", None, f"required: {key.doc}")
            settings[name] = key.default
    return cls.from_deck(comm, settings)


# --- the fcc Lennard-Jones lattice --------------------------------------------

FCC_BASIS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])


def fcc_sites(radius):
    """Every fcc site R != 0 with |R| < radius, in units of the lattice
    constant, in the cube frame; sorted by distance, then lexicographically."""
    n = int(math.ceil(radius)) + 1
    cells = np.stack(np.meshgrid(*[np.arange(-n, n + 1)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    sites = (cells + FCC_BASIS).reshape(-1, 3)
    length = np.linalg.norm(sites, axis=1)
    keep = (length > 0.0) & (length < radius)
    sites, length = sites[keep], length[keep]
    order = np.lexsort((sites[:, 2], sites[:, 1], sites[:, 0], length))
    return np.ascontiguousarray(sites[order])


def lj_energy(r, epsilon, sigma):
    """Unshifted LJ pair energy 4 eps ((s/r)^12 - (s/r)^6), as lj/cut's offset."""
    ratio6 = (sigma / r) ** 6
    return 4.0 * epsilon * (ratio6 * ratio6 - ratio6)


def _fcc_shells(radius):
    """(m, count): squared shell radii m = 2 |R|^2 (integers, |R| in units of a)
    of the fcc shells with |R| < radius, and the number of sites in each."""
    m = np.rint(2.0 * np.sum(fcc_sites(radius) ** 2, axis=1)).astype(np.int64)
    shells, counts = np.unique(m, return_counts=True)
    return shells, counts


def lj_fcc_zero_stress_constant(epsilon=1.0, sigma=1.0, cutoff=2.5, shift=False):
    """The fcc lattice constant at which the truncated LJ crystal has zero
    stress (the per-atom energy ``E(a) = 1/2 sum phi(a |R|)``, |R| in units of
    a, summed over ``a |R| < cutoff``, is stationary), by Newton's method on
    dE/da to round-off.  ``shift`` changes E by a constant per neighbour and
    not the result; it is accepted for symmetry with the law's keys.

    ValueError if the iteration finds no minimum with a consistent set of
    neighbours (a cutoff too short to bind the crystal, or a neighbour shell
    at the cutoff).
    """
    del shift  # the offset is constant within the cutoff: dE/da does not see it
    a = math.sqrt(2.0) * 2.0 ** (1.0 / 6.0) * sigma  # nearest neighbours at the pair minimum
    shells, counts = _fcc_shells(2.0 * cutoff / a)
    d = np.sqrt(shells / 2.0)
    sigma6 = sigma**6
    for _ in range(100):
        if a * d[-1] < cutoff:  # the shells no longer reach the cutoff
            shells, counts = _fcc_shells(2.0 * cutoff / a)
            d = np.sqrt(shells / 2.0)
        inside = a * d < cutoff
        if not inside.any():
            raise ValueError(f"no neighbours within the cutoff {cutoff} at a = {a:.6g}")
        r = a * d[inside]
        c = counts[inside]
        r6inv = 1.0 / r**6
        s12, s6 = sigma6 * sigma6 * r6inv * r6inv, sigma6 * r6inv  # (s/r)^12, (s/r)^6
        d1 = 4.0 * epsilon * (-12.0 * s12 + 6.0 * s6) / r  # phi'(r)
        d2 = 4.0 * epsilon * (156.0 * s12 - 42.0 * s6) / r**2  # phi''(r)
        slope = math.fsum(c * d1 * d[inside])
        curvature = math.fsum(c * d2 * d[inside] ** 2)
        if not curvature > 0.0:
            raise ValueError(f"the lattice energy is not convex at a = {a:.6g}")
        step = slope / curvature
        a_new = a - step
        if not 0.5 * a < a_new < 2.0 * a:
            raise ValueError("Newton's method on dE/da diverged")
        # Quadratic convergence: after a step of 1e-12 a the error is round-off.
        if abs(step) <= 1e-12 * a and np.array_equal(
                a_new * d < cutoff, inside):
            return a_new
        a = a_new
    raise ValueError("Newton's method on dE/da did not converge (a neighbour shell at the cutoff?)")


def cauchy_born_constants(epsilon=1.0, sigma=1.0, cutoff=2.5, shift=False, constant=0.0):
    """(C11, C12, C44) of the fcc LJ Cauchy-Born crystal in cube axes, from
    the small-strain tangent A(I) with the initial-stress term ``d_ik P_JL``
    removed (it is zero at the default zero-stress constant)."""
    law = CauchyBornLJ(MPI.COMM_SELF, epsilon, sigma, cutoff, shift, constant)
    _, P, A = law.evaluate(np.eye(3)[None], np.zeros(1, dtype=np.int64))
    C = A[0] - np.einsum("ik,JL->iJkL", np.eye(3), P[0])
    return float(C[0, 0, 0, 0]), float(C[0, 0, 1, 1]), float(C[0, 1, 0, 1])


# --- deck values -----------------------------------------------------------------

def _number(settings, name, low=-math.inf, high=math.inf, low_closed=False):
    """A finite number in (low, high) (or [low, high) with ``low_closed``)."""
    value = settings[name]
    allowed = f"a number in {'[' if low_closed else '('}{low:g}, {high:g})"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DeckError(f"material.{name}", value, allowed)
    above = value >= low if low_closed else value > low
    if not (math.isfinite(value) and above and value < high):
        raise DeckError(f"material.{name}", value, allowed)
    return float(value)


def _orient(orient):
    """3 integer rows, orthogonal and right-handed, as system.orient; [] is None."""
    if isinstance(orient, list) and not orient:
        return None
    allowed = ("3 integer rows (crystal directions along x, y, z), "
               "mutually orthogonal and right-handed")

    def integer(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not (isinstance(orient, list) and len(orient) == 3 and all(
            isinstance(row, list) and len(row) == 3 and all(map(integer, row)) for row in orient)):
        raise DeckError("material.orient", orient, allowed)
    rows = np.array(orient, dtype=np.int64)
    gram = rows @ rows.T
    if np.any(gram[~np.eye(3, dtype=bool)] != 0) or np.any(np.diag(gram) == 0):
        raise DeckError("material.orient", orient, f"{allowed}; these rows are not orthogonal")
    if np.linalg.det(rows) < 0:
        raise DeckError("material.orient", orient, f"{allowed}; these rows are left-handed")
    return rows
