"""The input deck: TOML in, frozen dataclasses out.

Each section of the deck is a frozen dataclass whose fields carry their unit,
default and meaning in `metadata`; `validate_section` checks a TOML table
against it and names the key, the value and what is allowed when something is
wrong.  The same metadata prints the deck reference (`hpcms keys`).

Sections whose keys depend on a style (`[potential]`, `[integrator]`) are kept
as plain tables here and validated by the module that registers the style.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

from .errors import DeckError


def key(default, doc, unit="", *, kind=None, choices=None, minimum=None,
        exclusive=False, length=None):
    """A deck key: its default, documentation and what values are allowed."""
    meta = dict(doc=doc, unit=unit, kind=kind, choices=choices, minimum=minimum,
                exclusive=exclusive, length=length, is_list=isinstance(default, list))
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunSection:
    kind: str = key("md", "what to run: 'md' particles (MD, DPD), 'fe' finite elements",
                    choices=("md", "fe"))
    steps: int = key(1000, "number of time steps", "steps", kind=int, minimum=0)
    seed: int = key(12345, "seed of every random number (velocities, thermostats)",
                    kind=int, minimum=0)
    output: str = key("", "output directory; default runs/<deck name>", kind=str)
    max_hours: float = key(0.0, "write a checkpoint and stop (exit 75, resumable) before this "
                                "much wall time has passed (0: no limit)", "h",
                           kind=float, minimum=0.0)


@dataclass(frozen=True)
class SystemSection:
    lattice: str = key("", "crystal lattice to fill the box with (or give `file`); "
                           "'random': uniform random placement at `density` in `box` (DPD)",
                       choices=("", "fcc", "bcc", "sc", "random"))
    density: float = key(0.0, "number density of the lattice (0: use `constant`)",
                         "σ⁻³", kind=float, minimum=0.0)
    constant: float = key(0.0, "lattice constant (0: use `density`)", "σ",
                          kind=float, minimum=0.0)
    cells: list = key([1, 1, 1], "lattice repeats along x, y, z", kind=int,
                      minimum=1, exclusive=False, length=3)
    orient: list = key([], "crystal directions along x, y, z, e.g. [[1,1,0],[-1,1,0],[0,0,1]]",
                       kind=list)
    file: str = key("", "structure file to start from (LAMMPS data, atomic style, or extended XYZ)",
                    kind=str)
    format: str = key("", "format of `file`; default from its suffix",
                      choices=("", "lammps-data", "extxyz"))
    deform: list = key([], "deformation gradient F (3x3) applied to the box and atoms at start",
                       kind=list)
    mass: list = key([], "mass of each type (default 1, or the file's Masses)", "m",
                     kind=float, minimum=0.0, exclusive=True)
    box: list = key([], "box edge lengths along x, y, z (lattice = 'random')", "σ",
                    kind=float, minimum=0.0, exclusive=True, length=3)
    type_names: list = key([], "names of the types in order (lattice = 'random'; default ['A'])",
                           kind=str)
    solvent: str = key("", "type name of the beads that fill the box around the molecules "
                           "(lattice = 'random'; default the first type)", kind=str)
    molecules: list = key([], "linear chains placed as random walks (lattice = 'random'): "
                              "tables {sequence = [type names], count, bond_k, bond_r0, "
                              "angle_k, angle_theta0}", kind=list)
    bond_reach: float = key(3.5, "longest bond allowed; ghosts reach this far (twice with "
                                 "angles) when there are molecules", "σ",
                            kind=float, minimum=0.0, exclusive=True)
    temperature: float = key(-1.0, "initial velocities at this temperature with zero momentum "
                                   "(-1: the file's velocities, or zero)", "ε/k_B", kind=float)


@dataclass(frozen=True)
class NeighborSection:
    skin: float = key(0.3, "extra distance beyond the cutoff kept in the Verlet list", "σ",
                      kind=float, minimum=0.0)
    every: int = key(1, "consider a rebuild every this many steps", "steps", kind=int, minimum=1)
    check: bool = key(True, "rebuild only when a particle moved more than skin/2 (global max)",
                      kind=bool)


@dataclass(frozen=True)
class OutputSection:
    thermo_every: int = key(100, "write a thermo.csv row and a progress line every N steps "
                                 "(0: only first and last)", "steps", kind=int, minimum=0)
    trajectory_every: int = key(0, "write an H5MD trajectory frame every N steps (0: none)",
                                "steps", kind=int, minimum=0)
    checkpoint_every: int = key(0, "write a checkpoint every N steps and at the end (0: none)",
                                "steps", kind=int, minimum=0)
    checkpoint_keep: int = key(2, "keep this many newest checkpoints", kind=int, minimum=1)
    rdf_every: int = key(0, "accumulate g(r) per type pair every N steps, written to rdf.csv "
                            "at the end (0: none)", "steps", kind=int, minimum=0)
    structure_every: int = key(0, "write the composition structure factor of types 1 and 2 to "
                                  "structure.csv every N steps (0: none)", "steps",
                               kind=int, minimum=0)
    progress: str = key("auto", "progress display on rank 0: a bar on a terminal, lines in a log",
                        choices=("auto", "bar", "lines", "off"))


@dataclass(frozen=True)
class ParallelSection:
    grid: list = key([0, 0, 0], "ranks along the box's a, b, c axes; 0: chosen automatically",
                     kind=int, minimum=0, length=3)
    balance_every: int = key(20, "move the planes between ranks every N steps so that each "
                                 "rank's measured load (list-build time) evens out; "
                                 "trajectories do not change (0: fixed, even planes)",
                             "steps", kind=int, minimum=0)


# `[potential]` and `[integrator]` are validated by md.pair and md.integrate.
SECTIONS = {
    "run": RunSection,
    "system": SystemSection,
    "neighbor": NeighborSection,
    "output": OutputSection,
    "parallel": ParallelSection,
}
STYLED_SECTIONS = ("potential", "integrator")


@dataclass(frozen=True)
class Deck:
    """A validated deck.  `raw` keeps the table as read, for the record."""
    run: RunSection
    system: SystemSection
    neighbor: NeighborSection
    output: OutputSection
    parallel: ParallelSection
    potential: dict
    integrator: dict
    path: str
    raw: dict


def _type_name(kind):
    return {int: "an integer", float: "a number", bool: "true or false",
            str: "a string", list: "a list", dict: "a table"}[kind]


def _check_scalar(name, value, meta):
    kind = meta["kind"]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is not None and kind is not list:
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise DeckError(name, value, f"must be {_type_name(kind)}")
    if kind is float and not math.isfinite(value):
        raise DeckError(name, value, "must be a finite number")
    choices = meta["choices"]
    if choices is not None and value not in choices:
        allowed = ", ".join(repr(c) for c in choices if c != "")
        raise DeckError(name, value, f"allowed: {allowed}")
    lo = meta["minimum"]
    if lo is not None:
        if meta["exclusive"] and not value > lo:
            raise DeckError(name, value, f"must be > {lo}")
        if not meta["exclusive"] and not value >= lo:
            raise DeckError(name, value, f"must be >= {lo}")
    return value


def validate_section(name: str, cls, table: Any):
    """Check one deck table against its dataclass; return the frozen instance."""
    if not isinstance(table, dict):
        raise DeckError(name, table, "must be a table ([" + name + "])")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for k, value in table.items():
        full = f"{name}.{k}"
        if k not in fields:
            raise DeckError(full, value, "unknown key; known keys of [" + name + "]: "
                            + ", ".join(fields))
        meta = fields[k].metadata
        if meta["is_list"]:
            if not isinstance(value, list):
                raise DeckError(full, value, "must be a list")
            if meta["length"] is not None and len(value) != meta["length"]:
                raise DeckError(full, value, f"must be a list of {meta['length']} values")
            if meta["kind"] is not list:
                value = [_check_scalar(full, v, meta) for v in value]
        else:
            value = _check_scalar(full, value, meta)
        values[k] = value
    return cls(**values)


def read_toml(path) -> dict:
    """Parse a TOML deck; a missing or malformed file is a DeckError."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise DeckError("deck", str(path), f"cannot be read: {e.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DeckError("deck", str(path), f"is not valid TOML: {e}") from None


def apply_override(table: dict, assignment: str) -> None:
    """Apply one `--set section.key=value` (value in TOML syntax) in place."""
    if "=" not in assignment:
        raise DeckError("--set", assignment, "must look like section.key=value")
    dotted, text = assignment.split("=", 1)
    dotted = dotted.strip()
    parts = dotted.split(".")
    if len(parts) < 2 or not all(parts):
        raise DeckError("--set", assignment, "the key must be dotted: section.key")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        # A bare word is taken as a string: --set run.output=runs/a
        value = text.strip()
    node = table
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise DeckError(dotted, value, f"'{p}' is not a table")
    node[parts[-1]] = value


def load_deck(path, overrides=()) -> Deck:
    """Read, override and validate a deck.  Not collective: rank 0 calls it."""
    raw = read_toml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    return deck_from_table(raw, str(path))


def deck_from_table(raw: dict, path: str = "deck") -> Deck:
    """Validate a deck table (as parsed from TOML) into a Deck (FEDeck when run.kind = 'fe')."""
    run_table = raw.get("run", {})
    if isinstance(run_table, dict) and run_table.get("kind") == "fe":
        from .fe_deck import fe_deck_from_table
        return fe_deck_from_table(raw, path)
    known = list(SECTIONS) + list(STYLED_SECTIONS)
    for name in raw:
        if name not in known:
            raise DeckError(name, raw[name], "unknown section; known sections: " + ", ".join(known))
    sections = {name: validate_section(name, cls, raw.get(name, {}))
                for name, cls in SECTIONS.items()}
    for name in STYLED_SECTIONS:
        if name not in raw:
            raise DeckError(name, None, f"the deck needs a [{name}] section")
        if not isinstance(raw[name], dict):
            raise DeckError(name, raw[name], "must be a table")
    system = sections["system"]
    if bool(system.lattice) == bool(system.file):
        raise DeckError("system.lattice", system.lattice,
                        "give exactly one of system.lattice and system.file")
    run = sections["run"]
    if not run.output:
        stem = Path(path).stem or "run"
        sections["run"] = dataclasses.replace(run, output=str(Path("runs") / stem))
    return Deck(potential=raw["potential"], integrator=raw["integrator"],
                path=path, raw=raw, **sections)


def reference() -> str:
    """The deck reference, generated from the section definitions."""
    lines = []
    for name, cls in SECTIONS.items():
        lines += section_reference(name, cls)
    return "\n".join(lines)


def section_reference(name, cls):
    """Lines documenting one section: key = default [unit]: doc, allowed values."""
    lines = [f"[{name}]"]
    for f in dataclasses.fields(cls):
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        unit = f" [{meta['unit']}]" if meta["unit"] else ""
        allowed = ""
        if meta["choices"]:
            allowed = " one of " + ", ".join(repr(c) for c in meta["choices"] if c != "")
        lines.append(f"  {f.name} = {default!r}{unit}: {meta['doc']}{allowed}")
    return lines + [""]


# Keys a restart may change: they do not touch the trajectory.
RESTART_FREE = ("run.steps", "run.output", "run.max_hours", "output.", "parallel.",
                "material.ranks_per_rve")


def physics_differences(old: dict, new: dict):
    """Dotted keys whose values differ between two deck tables, except RESTART_FREE ones."""
    def flat(table, prefix=""):
        out = {}
        for k, v in table.items():
            name = f"{prefix}{k}"
            if isinstance(v, dict):
                out.update(flat(v, name + "."))
            else:
                out[name] = v
        return out
    a, b = flat(old), flat(new)
    return sorted(k for k in set(a) | set(b)
                  if a.get(k) != b.get(k) and not k.startswith(RESTART_FREE))
