"""The deck of a finite-element run (`run.kind = "fe"`).

Sections: [run] (shared with particle runs), [mesh], [material] (validated by
hpcms.fe.materials, whose style picks the law), [[boundary]] (validated by
hpcms.fe.boundary), [load], [solver] and [output].  Units are whatever the
deck's numbers are in: a consistent set (reduced LJ units for the
Cauchy-Born law, e.g. lengths in σ and stresses in ε/σ³).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .deck import RunSection, key, validate_section
from .errors import DeckError


@dataclass(frozen=True)
class MeshSection:
    type: str = key("box", "'box': a DMPlex box mesh; 'file': a mesh file DMPlex reads "
                           "(Gmsh .msh, ExodusII)", choices=("box", "file"))
    dim: int = key(3, "spatial dimension of a box mesh (2: plane strain)", kind=int,
                   choices=(2, 3))
    cells: list = key([4, 4, 4], "cells of a box mesh along x, y (, z)", kind=int, minimum=1)
    lower: list = key([0.0, 0.0, 0.0], "lower corner of a box mesh", "length", kind=float)
    upper: list = key([1.0, 1.0, 1.0], "upper corner of a box mesh", "length", kind=float)
    simplex: bool = key(False, "box mesh of triangles/tetrahedra (P1) instead of "
                               "quadrilaterals/hexahedra (Q1)", kind=bool)
    file: str = key("", "mesh file (type = 'file'), relative to the deck", kind=str)
    distort: float = key(0.0, "move interior vertices of a box mesh randomly by up to this "
                              "fraction of a cell (patch tests); fixed by vertex id",
                         kind=float, minimum=0.0)


@dataclass(frozen=True)
class LoadSection:
    steps: int = key(10, "load increments to reach the full load when none is cut back",
                     kind=int, minimum=1)
    max_increment: float = key(1.0, "largest load increment, as a fraction of the full load",
                               kind=float, minimum=0.0, exclusive=True)
    min_increment: float = key(1e-6, "smallest increment before the run stops as diverged",
                               kind=float, minimum=0.0, exclusive=True)
    cutbacks: int = key(8, "consecutive halvings of an increment allowed when Newton fails",
                        kind=int, minimum=0)
    grow_below: int = key(4, "grow the next increment when Newton converged in at most this "
                             "many iterations", kind=int, minimum=0)
    grow: float = key(1.5, "growth factor of the increment after a fast convergence",
                      kind=float, minimum=1.0)


@dataclass(frozen=True)
class SolverSection:
    rtol: float = key(1e-10, "Newton: stop when |R| <= rtol |R0|", kind=float, minimum=0.0)
    atol: float = key(1e-12, "Newton: stop when |R| <= atol", "force", kind=float, minimum=0.0)
    max_it: int = key(20, "Newton iterations per load increment", kind=int, minimum=1)
    ksp_type: str = key("cg", "PETSc Krylov method (-fe_ksp_type)", kind=str)
    pc_type: str = key("gamg", "PETSc preconditioner (-fe_pc_type), e.g. gamg, hypre, lu",
                       kind=str)
    ksp_rtol: float = key(1e-10, "relative tolerance of the linear solves", kind=float,
                          minimum=0.0, exclusive=True)
    petsc_options: dict = key({}, "more PETSc options without the '-fe_' prefix, "
                                  "e.g. {snes_linesearch_type = 'bt'}", kind=dict)


@dataclass(frozen=True)
class FEOutputSection:
    fields_every: int = key(1, "write fields (HDF5 + XDMF) every N converged increments "
                               "(0: only the last)", kind=int, minimum=0)
    checkpoint_every: int = key(0, "write a checkpoint every N converged increments and at "
                                   "the end (0: none)", kind=int, minimum=0)
    checkpoint_keep: int = key(2, "keep this many newest checkpoints", kind=int, minimum=1)


FE_SECTIONS = {
    "run": RunSection,
    "mesh": MeshSection,
    "load": LoadSection,
    "solver": SolverSection,
    "output": FEOutputSection,
}


@dataclass(frozen=True)
class FEDeck:
    """A validated finite-element deck.  `material` and `boundary` are checked by hpcms.fe."""
    run: RunSection
    mesh: MeshSection
    load: LoadSection
    solver: SolverSection
    output: FEOutputSection
    material: dict
    boundary: list
    path: str
    raw: dict


def fe_deck_from_table(raw: dict, path: str = "deck") -> FEDeck:
    known = list(FE_SECTIONS) + ["material", "boundary"]
    for name in raw:
        if name not in known:
            raise DeckError(name, raw[name], "unknown section of an FE deck; known sections: "
                            + ", ".join(known))
    sections = {name: validate_section(name, cls, raw.get(name, {}))
                for name, cls in FE_SECTIONS.items()}
    mesh = sections["mesh"]
    if mesh.type == "box":
        for name in ("cells", "lower", "upper"):
            value = getattr(mesh, name)
            if len(value) < mesh.dim:
                raise DeckError(f"mesh.{name}", value,
                                f"must give {mesh.dim} values (mesh.dim = {mesh.dim})")
        for d in range(mesh.dim):
            if not mesh.upper[d] > mesh.lower[d]:
                raise DeckError("mesh.upper", mesh.upper, "must exceed mesh.lower in every "
                                "direction")
        sections["mesh"] = dataclasses.replace(
            mesh, cells=mesh.cells[:mesh.dim], lower=mesh.lower[:mesh.dim],
            upper=mesh.upper[:mesh.dim])
    elif not mesh.file:
        raise DeckError("mesh.file", mesh.file, "give a mesh file when mesh.type = 'file'")
    if mesh.distort >= 0.5:
        raise DeckError("mesh.distort", mesh.distort, "must be < 0.5 (cells would invert)")
    load = sections["load"]
    if load.min_increment > load.max_increment:
        raise DeckError("load.min_increment", load.min_increment,
                        f"must not exceed load.max_increment = {load.max_increment}")
    if not isinstance(raw.get("material"), dict):
        raise DeckError("material", raw.get("material"), "the deck needs a [material] table")
    boundary = raw.get("boundary", [])
    if not isinstance(boundary, list) or not all(isinstance(b, dict) for b in boundary):
        raise DeckError("boundary", boundary, "must be an array of tables ([[boundary]])")
    if not boundary:
        raise DeckError("boundary", boundary, "an FE deck needs [[boundary]] conditions")
    run = sections["run"]
    if not run.output:
        sections["run"] = dataclasses.replace(run, output=str(Path("runs") / (Path(path).stem
                                                                          or "run")))
    return FEDeck(material=raw["material"], boundary=boundary, path=path, raw=raw, **sections)
