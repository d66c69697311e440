"""Boundary conditions from the deck's [[boundary]] tables.

Each table names a `region` (see `Mesh.region`) and a `type`; every value is
the one at full load and scales with the load factor::

    [[boundary]]
    region = "xmin"
    type = "fixed"                  # u = 0
    [[boundary]]
    region = "xmax"
    type = "displacement"           # any of ux, uy, uz; the others stay free
    ux = 0.1
    [[boundary]]
    region = "ymax"
    type = "affine"                 # u = H X on the region, every component
    H = [[0, 0.1, 0], [0, 0, 0], [0, 0, 0]]
    [[boundary]]
    region = 3                      # a "Face Sets" value of a Gmsh mesh
    type = "traction"               # dead load per reference area
    t = [0, -0.01, 0]

Every region's reaction force (the sum of internal forces over its vertices)
is reported per load step under `name` (default: the region).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from ..config.errors import DeckError
from . import _element_kernels as element_kernels

TYPES = {"fixed": (), "displacement": ("ux", "uy", "uz"), "affine": ("H",),
         "traction": ("t",)}
COMMON = ("region", "type", "name")


@dataclass
class Boundary:
    """Dirichlet dofs and values, traction forces and reaction regions on this rank."""
    dofs: np.ndarray          # local dofs with a prescribed value (sorted, unique)
    values: np.ndarray        # their values at full load
    traction: np.ndarray      # (n_local,) nodal forces at full load from this rank's faces
    reactions: list           # [(name, local dofs (n, dim) of the region's vertices)]


def make_boundary(space, tables) -> Boundary:
    """Validate the [[boundary]] tables and build the conditions.  Collective."""
    mesh, dim = space.mesh, space.dim
    prescribed = {}  # local dof -> (value, key of the condition)
    traction = np.zeros(space.n_local)
    reactions = []
    conflict = None  # found by one rank only: raised on all after the loop
    for k, table in enumerate(tables):
        where = f"boundary[{k}]"
        kind = table.get("type")
        if kind not in TYPES:
            raise DeckError(f"{where}.type", kind, "allowed: " + ", ".join(map(repr, TYPES)))
        for name in table:
            if name not in COMMON + TYPES[kind]:
                raise DeckError(f"{where}.{name}", table[name], f"unknown key for type "
                                f"{kind!r}; allowed: " + ", ".join(COMMON + TYPES[kind]))
        if "region" not in table:
            raise DeckError(f"{where}.region", None, "every boundary needs a region")
        vertices, faces = mesh.region(table["region"], f"{where}.region")
        name = str(table.get("name", table["region"]))
        reactions.append((name, vertices[:, None] * dim + np.arange(dim)))
        if kind == "traction":
            t = _vector(table.get("t"), dim, f"{where}.t")
            _add_traction(mesh, faces, t, traction)
            continue
        comps, values = _dirichlet(kind, table, mesh.X[vertices], dim, where)
        for c, column in zip(comps, values.T):
            for v, value in zip(vertices, column):
                dof = int(v) * dim + c
                old = prescribed.get(dof)
                if old is not None and old[0] != value and conflict is None:
                    conflict = DeckError(f"{where}.region", table["region"],
                                         f"prescribes u{'xyz'[c]} = {value:g} at a vertex where "
                                         f"{old[1]} prescribes {old[0]:g}: conditions must "
                                         "agree where regions meet")
                prescribed[dof] = (float(value), where)
    conflicts = [e for e in mesh.comm.allgather(conflict) if e is not None]
    if conflicts:
        raise conflicts[0]
    dofs = np.array(sorted(prescribed), dtype=np.int64)
    values = np.array([prescribed[d][0] for d in dofs], dtype=float)
    for c in range(dim):
        fixed = np.count_nonzero(dofs % dim == c) if len(dofs) else 0
        if mesh.comm.allreduce(fixed, op=MPI.SUM) == 0:
            raise DeckError("boundary", f"u{'xyz'[c]}", "is prescribed nowhere: the body could "
                            "move rigidly; fix it on some region")
    return Boundary(dofs=dofs, values=values, traction=traction, reactions=reactions)


def _dirichlet(kind, table, X, dim, where):
    """(components, values (n_vertices, len(components))) of one Dirichlet condition."""
    if kind == "fixed":
        return list(range(dim)), np.zeros((len(X), dim))
    if kind == "affine":
        H = table.get("H")
        ok = (isinstance(H, list) and len(H) == dim and all(
            isinstance(r, list) and len(r) == dim and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in r) for r in H))
        if not ok:
            raise DeckError(f"{where}.H", H, f"must be a {dim}x{dim} matrix of numbers")
        return list(range(dim)), X @ np.asarray(H, dtype=float).T
    comps = [c for c, k in enumerate(("ux", "uy", "uz")[:dim]) if k in table]
    if "uz" in table and dim == 2:
        raise DeckError(f"{where}.uz", table["uz"], "a 2D mesh has only ux and uy")
    if not comps:
        raise DeckError(f"{where}", table, "a displacement condition needs ux, uy or uz")
    values = []
    for c in comps:
        k = ("ux", "uy", "uz")[c]
        value = table[k]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DeckError(f"{where}.{k}", value, "must be a number")
        values.append(float(value))
    return comps, np.tile(values, (len(X), 1))


def _vector(value, dim, key):
    ok = (isinstance(value, list) and len(value) in (dim, 3) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value))
    if not ok:
        raise DeckError(key, value, f"must be a list of {dim} numbers")
    return np.asarray(value[:dim], dtype=float)


def _add_traction(mesh, faces, t, out):
    face = mesh.element.face
    if len(faces) == 0:
        return
    Xf = np.ascontiguousarray(mesh.X[faces])
    forces = np.zeros((len(faces), face.n_nodes * mesh.dim))
    element_kernels.traction_forces(Xf, face.N, face.dN, face.weights, t, forces)
    dim = mesh.dim
    for a in range(face.n_nodes):
        for i in range(dim):
            np.add.at(out, faces[:, a] * dim + i, forces[:, a * dim + i])
