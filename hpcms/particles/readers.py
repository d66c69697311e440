"""Read and write initial configurations: LAMMPS data files and extended XYZ.

`read_structure(path)` picks the format from `fmt` or the file suffix.  Every
problem with the file is a `DeckError` naming the deck key that gave the path,
the path, and for a parse error the line number and what was expected there.
Files are read on one rank; only the numeric columns are converted with numpy.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from hpcms.config.errors import DeckError
from hpcms.particles.structure import Structure

_SUFFIXES = {".data": "lammps-data", ".lmp": "lammps-data", ".lammps": "lammps-data",
             ".xyz": "extxyz", ".extxyz": "extxyz"}


def read_structure(path, fmt=None, key="system.file") -> Structure:
    """The first configuration in `path`, as format `fmt` ("lammps-data" or "extxyz")."""
    path = Path(path)
    if fmt is None:
        fmt = _SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise DeckError(key, str(path), f"cannot tell the format from the suffix; "
                                            f"allowed suffixes: {', '.join(_SUFFIXES)}")
    if fmt not in READERS:
        raise DeckError(key, str(path), f"unknown format {fmt!r}; allowed: {', '.join(READERS)}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DeckError(key, str(path), f"cannot read the file ({err})") from None
    return READERS[fmt](text.splitlines(), _Source(key, str(path)))


class _Source:
    """Where lines come from: builds the DeckError for a problem at a line."""

    def __init__(self, key, path):
        self.key = key
        self.path = path

    def error(self, lineno, message):
        where = f"line {lineno}: " if lineno is not None else ""
        return DeckError(self.key, self.path, where + message)


# --- tables of numbers ----------------------------------------------------------


class _Table:
    """The rows of one table in a file, as text: (lineno, tokens), all equally wide.

    `spec` names the columns for messages ("id type x y z [ix iy iz]"); each
    row must be one of `widths` columns wide, the same as the first row.
    """

    def __init__(self, rows, spec, widths, src):
        self.rows, self.spec, self.src = rows, spec, src
        expected = " or ".join(str(w) for w in widths)
        for lineno, tokens in rows:
            if len(tokens) not in widths:
                raise src.error(lineno, f"expected '{spec}' ({expected} columns), "
                                        f"got {len(tokens)}")
            if len(tokens) != len(rows[0][1]):
                raise src.error(lineno, f"expected '{spec}' with {len(rows[0][1])} columns as on "
                                        f"line {rows[0][0]}, got {len(tokens)}")
        self.width = len(rows[0][1]) if rows else widths[0]
        self.text = np.array([tokens for _, tokens in rows], dtype=str).reshape(-1, self.width)

    def column(self, j, dtype):
        """Column `j` as `dtype` (np.int64 or finite np.float64); a bad entry names its line."""
        try:
            values = self.text[:, j].astype(dtype)
            if dtype is np.float64 and not np.all(np.isfinite(values)):
                raise ValueError
            return values
        except (ValueError, OverflowError):
            for lineno, tokens in self.rows:
                if not _converts(tokens[j], dtype):
                    what = "an integer" if dtype is np.int64 else "a finite number"
                    raise self.src.error(lineno, f"column {j + 1} of '{self.spec}': expected "
                                                 f"{what}, got {tokens[j]!r}") from None
            raise

    def columns(self, first, count, dtype):
        """Columns first .. first + count - 1 as an (n, count) array."""
        return np.stack([self.column(j, dtype) for j in range(first, first + count)], axis=1)

    def line(self, i):
        """The line number of row `i`."""
        return self.rows[i][0]


def _converts(token, dtype):
    try:
        value = np.array(token).astype(dtype)
    except (ValueError, OverflowError):
        return False
    return dtype is not np.float64 or bool(np.isfinite(value))


def _check_ids(ids, table):
    """Ids are >= 1 and unique; a bad one is reported at its (second) line."""
    if np.any(ids < 1):
        i = int(np.argmax(ids < 1))
        raise table.src.error(table.line(i), f"atom id {ids[i]} is not >= 1")
    order = np.argsort(ids, kind="stable")
    repeated = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if len(repeated):
        later = order[repeated[0] + 1]
        raise table.src.error(table.line(later), f"atom id {ids[later]} appears twice")


# --- LAMMPS data files (atom_style atomic) --------------------------------------

_ATOMS_SPEC = "id type x y z [ix iy iz]"
_SECTIONS = ("Masses", "Atoms", "Velocities")
_BOX_AXES = {("xlo", "xhi"): 0, ("ylo", "yhi"): 1, ("zlo", "zhi"): 2}


def read_lammps_data(lines, src) -> Structure:
    """A LAMMPS data file, atom_style atomic (https://docs.lammps.org/read_data.html).

    Types are 1-based in the file, 0-based in the Structure.  Force-field
    sections ("Pair Coeffs", ...) are skipped: the deck defines the force field.
    """
    header, sections = _split_lammps(lines, src)
    n_atoms, n_types, origin, cell = _lammps_header(header, src)
    if "Atoms" not in sections:
        raise src.error(None, "no Atoms section")
    ids, types, positions, images = _lammps_atoms(sections["Atoms"], n_atoms, n_types, src)
    masses = velocities = None
    if "Masses" in sections:
        masses = _lammps_masses(sections["Masses"], n_types, src)
    if "Velocities" in sections:
        velocities = _lammps_velocities(sections["Velocities"], ids, src)
    return Structure(cell=cell, origin=origin, positions=positions, types=types, ids=ids,
                     n_types=n_types, masses=masses, velocities=velocities, images=images)


def _split_lammps(lines, src):
    """Header rows and {section: (lineno of title, rows)}; a row is (lineno, tokens)."""
    header, sections, current = [], {}, None
    for lineno, line in enumerate(lines[1:], start=2):  # line 1 is a title
        text, _, comment = line.partition("#")
        tokens = text.split()
        if not tokens:
            continue
        if not tokens[0][0].isalpha():
            (header if current is None else current).append((lineno, tokens))
            continue
        title = " ".join(tokens)
        if title.endswith("Coeffs"):
            current = []  # skipped
        elif title in _SECTIONS and title not in sections:
            if title == "Atoms" and comment.strip() not in ("", "atomic"):
                raise src.error(lineno, f"atom style '{comment.strip()}' is not supported; "
                                        "expected 'Atoms' or 'Atoms # atomic'")
            current = []
            sections[title] = (lineno, current)
        elif title in sections:
            raise src.error(lineno, f"a second {title} section")
        elif current is None:
            header.append((lineno, tokens))  # a misspelt header line, reported there
        else:
            raise src.error(lineno, f"expected a section title ({', '.join(_SECTIONS)} or "
                                    f"'... Coeffs'), got '{title}'")
    return header, sections


def _lammps_header(rows, src):
    """Atom and type counts, box origin and cell from the header rows."""
    expected = ("expected a header line ('N atoms', 'N atom types', 'lo hi xlo xhi', "
                "'xy xz yz'), got '{}'")
    counts, lo_hi, tilt = {}, {}, [0.0, 0.0, 0.0]
    for lineno, tokens in rows:
        n = next((i for i, t in enumerate(tokens) if t[0].isalpha()), len(tokens))
        values, words = tokens[:n], tuple(tokens[n:])
        if words in (("atoms",), ("atom", "types")) and n == 1:
            counts[words] = _header_number(values[0], int, lineno, src)
        elif words in _BOX_AXES and n == 2:
            lo_hi[_BOX_AXES[words]] = [_header_number(v, float, lineno, src) for v in values]
        elif words == ("xy", "xz", "yz") and n == 3:
            tilt = [_header_number(v, float, lineno, src) for v in values]
        else:
            raise src.error(lineno, expected.format(" ".join(tokens)))
    for words in (("atoms",), ("atom", "types")):
        if words not in counts:
            raise src.error(None, f"the header has no 'N {' '.join(words)}' line")
    for (lo_word, hi_word), d in _BOX_AXES.items():
        if d not in lo_hi:
            raise src.error(None, f"the header has no 'lo hi {lo_word} {hi_word}' line")
    lo, hi = np.array([lo_hi[d] for d in range(3)]).T
    if np.any(hi <= lo):
        raise src.error(None, f"box bounds must have lo < hi, got lo {lo.tolist()}, "
                              f"hi {hi.tolist()}")
    xy, xz, yz = tilt
    cell = np.array([[hi[0] - lo[0], xy, xz], [0.0, hi[1] - lo[1], yz], [0.0, 0.0, hi[2] - lo[2]]])
    n_atoms, n_types = counts[("atoms",)], counts[("atom", "types")]
    if n_types < 1 or n_atoms < 0:
        raise src.error(None, f"expected at least one atom type and a non-negative atom count, "
                              f"got {n_atoms} atoms, {n_types} atom types")
    return n_atoms, n_types, lo, cell


def _header_number(token, kind, lineno, src):
    try:
        value = kind(token)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value):
        what = "an integer" if kind is int else "a finite number"
        raise src.error(lineno, f"expected {what}, got {token!r}")
    return value


def _lammps_atoms(section, n_atoms, n_types, src):
    title_line, rows = section
    if len(rows) != n_atoms:
        raise src.error(title_line, f"the Atoms section has {len(rows)} lines, "
                                    f"the header says {n_atoms} atoms")
    table = _Table(rows, _ATOMS_SPEC, (5, 8), src)
    ids, types = table.column(0, np.int64), table.column(1, np.int64)
    positions = table.columns(2, 3, np.float64)
    images = table.columns(5, 3, np.int64) if table.width == 8 else None
    bad = (types < 1) | (types > n_types)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise src.error(table.line(i), f"atom type {types[i]} is outside 1..{n_types}")
    _check_ids(ids, table)
    return ids, (types - 1).astype(np.int32), positions, images


def _lammps_masses(section, n_types, src):
    title_line, rows = section
    table = _Table(rows, "type mass", (2,), src)
    types, masses = table.column(0, np.int64), table.column(1, np.float64)
    for i, (t, m) in enumerate(zip(types.tolist(), masses.tolist())):
        if not 1 <= t <= n_types or m <= 0.0:
            raise src.error(table.line(i), f"expected a type in 1..{n_types} and a positive mass, "
                                           f"got {t} {m}")
    if sorted(types.tolist()) != list(range(1, n_types + 1)):
        raise src.error(title_line, f"the Masses section must give each of the {n_types} "
                                    "types once")
    result = np.empty(n_types)
    result[types - 1] = masses
    return result


def _lammps_velocities(section, atom_ids, src):
    """Velocities in the order of `atom_ids`; the section may list the atoms in any order."""
    title_line, rows = section
    if len(rows) != len(atom_ids):
        raise src.error(title_line, f"the Velocities section has {len(rows)} lines "
                                    f"for {len(atom_ids)} atoms")
    table = _Table(rows, "id vx vy vz", (4,), src)
    ids, values = table.column(0, np.int64), table.columns(1, 3, np.float64)
    _check_ids(ids, table)
    order = np.argsort(atom_ids)
    where = np.minimum(np.searchsorted(atom_ids[order], ids), len(ids) - 1)
    unknown = atom_ids[order][where] != ids
    if np.any(unknown):
        i = int(np.argmax(unknown))
        raise src.error(table.line(i), f"atom id {ids[i]} is not in the Atoms section")
    velocities = np.empty_like(values)
    velocities[order[where]] = values
    return velocities


def write_lammps_data(path, structure: Structure):
    """Write `structure` as a LAMMPS data file (atom_style atomic), full precision.

    The cell must be in LAMMPS form: a = (lx, 0, 0), b = (xy, ly, 0).  Reading
    the file back gives identical arrays, except that lx = xhi - xlo may differ
    in the last bit when the origin is not zero.
    """
    cell, lo = structure.cell, structure.origin
    if np.any(cell[[1, 2, 2], [0, 0, 1]] != 0.0):
        raise ValueError("LAMMPS needs an upper-triangular cell: "
                         "a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz)")
    hi = lo + np.diag(cell)
    out = ["LAMMPS data file written by hpcms", "",
           f"{structure.n_atoms} atoms", f"{structure.n_types} atom types", ""]
    out += [f"{lo[d]!r} {hi[d]!r} {axis}lo {axis}hi" for d, axis in enumerate("xyz")]
    tilt = cell[[0, 0, 1], [1, 2, 2]].tolist()
    if any(tilt):
        out.append(f"{tilt[0]!r} {tilt[1]!r} {tilt[2]!r} xy xz yz")
    if structure.masses is not None:
        out += ["", "Masses", ""]
        out += [f"{t + 1} {m!r}" for t, m in enumerate(structure.masses.tolist())]
    out += ["", "Atoms # atomic", ""]
    ids, positions = structure.ids.tolist(), structure.positions.tolist()
    images = structure.images.tolist() if structure.images is not None else None
    for i, (atom_id, t, (x, y, z)) in enumerate(zip(ids, structure.types.tolist(), positions)):
        flags = " {} {} {}".format(*images[i]) if images is not None else ""
        out.append(f"{atom_id} {t + 1} {x!r} {y!r} {z!r}{flags}")
    if structure.velocities is not None:
        out += ["", "Velocities", ""]
        out += [f"{atom_id} {vx!r} {vy!r} {vz!r}"
                for atom_id, (vx, vy, vz) in zip(ids, structure.velocities.tolist())]
    Path(path).write_text("\n".join(out) + "\n")


# --- extended XYZ ---------------------------------------------------------------

_XYZ_PROPERTIES = {  # name in Properties -> (type letter, columns)
    "species": ("S", 1), "pos": ("R", 3), "velo": ("R", 3), "vel": ("R", 3),
    "id": ("I", 1), "masses": ("R", 1), "mass": ("R", 1),
}


def read_extxyz(lines, src) -> Structure:
    """The first frame of an extended XYZ file (ASE / OVITO convention).

    Species map to types in order of first appearance; their names are kept
    in `type_names`.  Per-atom masses must agree within a species.  Columns
    other than species, pos, velo/vel, id and masses/mass are ignored.
    """
    n_atoms = _xyz_count(lines, src)
    info = _xyz_info(lines[1], src)
    cell, origin = _xyz_cell(info, src)
    columns, width, spec = _xyz_properties(info.get("properties", "species:S:1:pos:R:3"), src)
    if len(lines) < n_atoms + 2:
        raise src.error(len(lines), f"expected {n_atoms} atom lines after line 2, the file ends")
    table = _Table([(i, lines[i - 1].split()) for i in range(3, n_atoms + 3)], spec, (width,), src)

    types, type_names = _species_types(table.text[:, columns["species"][0]])
    ids = table.column(columns["id"][0], np.int64) if "id" in columns else np.arange(1, n_atoms + 1)
    _check_ids(ids, table)
    velocity = next((name for name in ("velo", "vel") if name in columns), None)
    mass = next((name for name in ("masses", "mass") if name in columns), None)
    return Structure(
        cell=cell, origin=origin, positions=table.columns(*columns["pos"], np.float64),
        types=types, ids=ids, n_types=len(type_names), type_names=type_names,
        masses=_per_type_masses(table, columns[mass][0], types) if mass else None,
        velocities=table.columns(*columns[velocity], np.float64) if velocity else None,
    )


def _species_types(species):
    """0-based types numbering the species in order of first appearance, and their names."""
    names, first, inverse = np.unique(species, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse], [str(name) for name in names[order]]


def _xyz_count(lines, src):
    if len(lines) < 2:
        raise src.error(len(lines) + 1, "expected the atom count on line 1 and a comment line 2, "
                                        "the file ends")
    try:
        n_atoms = int(lines[0])
    except ValueError:
        raise src.error(1, f"expected the number of atoms, got {lines[0].strip()!r}") from None
    if n_atoms < 0:
        raise src.error(1, f"expected a non-negative number of atoms, got {n_atoms}")
    return n_atoms


def _xyz_info(line, src):
    """The key=value pairs of the comment line, keys lower-cased."""
    try:
        words = shlex.split(line)
    except ValueError as err:
        raise src.error(2, f"expected key=value pairs, {err}") from None
    return {k.lower(): v for k, _, v in (w.partition("=") for w in words)}


def _xyz_cell(info, src):
    if "lattice" not in info:
        raise src.error(2, 'expected Lattice="ax ay az bx by bz cx cy cz" '
                           "(hpcms needs a periodic cell)")
    if info.get("pbc", "T T T").upper().split() != ["T", "T", "T"]:
        raise src.error(2, f'expected pbc="T T T" (hpcms boxes are periodic), got {info["pbc"]!r}')
    cell = _xyz_vector(info["lattice"], 9, "Lattice", src).reshape(3, 3).T
    if not np.linalg.det(cell) > 0.0:
        raise src.error(2, "expected right-handed, non-degenerate Lattice vectors, "
                           f"got {info['lattice']!r}")
    origin = _xyz_vector(info["origin"], 3, "Origin", src) if "origin" in info else np.zeros(3)
    return cell, origin


def _xyz_vector(text, size, name, src):
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError:
        values = np.empty(0)
    if values.shape != (size,) or not np.all(np.isfinite(values)):
        raise src.error(2, f"expected {name} to hold {size} numbers, got {text!r}")
    return values


def _xyz_properties(text, src):
    """{name: (first column, column count)}, the total width, and a spec for messages."""
    fields = text.split(":")
    if len(fields) % 3:
        raise src.error(2, f"expected Properties=name:type:columns[:...], got {text!r}")
    columns, spec, start = {}, [], 0
    for name, letter, count in zip(fields[0::3], fields[1::3], fields[2::3]):
        if not count.isdigit() or int(count) < 1:
            raise src.error(2, f"expected a column count for property {name!r}, got {count!r}")
        width = int(count)
        if name in _XYZ_PROPERTIES and (letter, width) != _XYZ_PROPERTIES[name]:
            want = ":".join(map(str, _XYZ_PROPERTIES[name]))
            raise src.error(2, f"expected property {name}:{want}, got {name}:{letter}:{width}")
        columns[name] = (start, width)
        spec.append(name if width == 1 else f"{name}[{width}]")
        start += width
    for required in ("species", "pos"):
        if required not in columns:
            raise src.error(2, f"expected Properties to include {required}, got {text!r}")
    return columns, start, " ".join(spec)


def _per_type_masses(table, j, types):
    """One mass per type from column `j`, set by its first atom; the others must agree."""
    atom_masses = table.column(j, np.float64)
    masses = atom_masses[np.unique(types, return_index=True)[1]]
    bad = (masses[types] != atom_masses) | (atom_masses <= 0.0)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise table.src.error(table.line(i), "expected one positive mass per species, got "
                                             f"{atom_masses[i]!r} where the species has "
                                             f"{masses[types[i]]!r}")
    return masses


def write_extxyz(path, structure: Structure):
    """Write `structure` as one extended XYZ frame, full precision.

    Writes species (`type_names`, else the 1-based type number), pos, id, and
    velo and per-atom masses when present, plus an Origin key.  Image flags are
    not written.  Types read back in order of first appearance.
    """
    names = structure.type_names or [str(t + 1) for t in range(structure.n_types)]
    lattice = " ".join(repr(v) for v in structure.cell.T.ravel().tolist())
    origin = " ".join(repr(v) for v in structure.origin.tolist())
    properties = "species:S:1:pos:R:3:id:I:1"
    columns = [structure.positions.tolist(), [[i] for i in structure.ids.tolist()]]
    if structure.velocities is not None:
        properties += ":velo:R:3"
        columns.append(structure.velocities.tolist())
    if structure.masses is not None:
        properties += ":masses:R:1"
        columns.append([[m] for m in structure.masses[structure.types].tolist()])
    out = [str(structure.n_atoms),
           f'Lattice="{lattice}" Origin="{origin}" Properties={properties} pbc="T T T"']
    for t, *parts in zip(structure.types.tolist(), *columns):
        out.append(" ".join([names[t]] + [repr(v) for part in parts for v in part]))
    Path(path).write_text("\n".join(out) + "\n")


READERS = {"lammps-data": read_lammps_data, "extxyz": read_extxyz}
