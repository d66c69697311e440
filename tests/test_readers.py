"""Reading and writing LAMMPS data and extended XYZ files."""

import numpy as np
import pytest

from hpcms.config.errors import DeckError
from hpcms.particles.lattice import build_lattice
from hpcms.particles.readers import read_structure, write_extxyz, write_lammps_data
from hpcms.particles.structure import Structure

FIELDS = ("cell", "origin", "positions", "types", "ids", "masses", "velocities", "images")


def sample(cell, origin=(0.0, 0.0, 0.0), images=True):
    """A two-type structure with velocities, masses, shuffled ids and image flags."""
    rng = np.random.default_rng(7)
    n = 50
    cell = np.asarray(cell, dtype=float)
    return Structure(
        cell=cell,
        origin=np.asarray(origin, dtype=float),
        positions=origin + rng.random((n, 3)) @ cell.T,
        types=np.arange(n) % 2,
        ids=rng.permutation(n) + 10,
        n_types=2,
        masses=np.array([1.0, 39.948 / 3]),
        velocities=rng.normal(size=(n, 3)),
        images=rng.integers(-2, 3, size=(n, 3)) if images else None,
        type_names=["Ar", "Kr"],
    )


def assert_same(a, b, fields=FIELDS):
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.n_types == b.n_types


ORTHOGONAL = np.diag([5.1, 6.2, 7.3])
TRICLINIC = np.array([[5.1, 0.7, -0.4], [0.0, 6.2, 1.3], [0.0, 0.0, 7.3]])  # columns a, b, c
GENERAL = np.array([[5.1, 0.7, -0.4], [0.2, 6.2, 1.3], [-0.3, 0.1, 7.3]])


@pytest.mark.parametrize("cell", [ORTHOGONAL, TRICLINIC], ids=["orthogonal", "triclinic"])
def test_lammps_round_trip(tmp_path, cell):
    s = sample(cell)
    write_lammps_data(tmp_path / "conf.data", s)
    assert_same(read_structure(tmp_path / "conf.data"), s)


def test_lammps_round_trip_lattice(tmp_path):
    s = build_lattice("fcc", (4, 4, 4), density=0.8442, orient=[[1, 1, 0], [-1, 1, 0], [0, 0, 1]])
    write_lammps_data(tmp_path / "fcc.lmp", s)
    back = read_structure(tmp_path / "fcc.lmp")
    assert_same(back, s)
    assert "xy xz yz" not in (tmp_path / "fcc.lmp").read_text()


@pytest.mark.parametrize("cell", [ORTHOGONAL, TRICLINIC, GENERAL],
                         ids=["orthogonal", "triclinic", "general"])
def test_extxyz_round_trip(tmp_path, cell):
    s = sample(cell, origin=(0.1, -0.2, 0.3), images=False)
    write_extxyz(tmp_path / "conf.xyz", s)
    back = read_structure(tmp_path / "conf.xyz")
    assert_same(back, s)
    assert back.type_names == ["Ar", "Kr"]


def test_lammps_writer_rejects_general_cell(tmp_path):
    with pytest.raises(ValueError, match="upper-triangular"):
        write_lammps_data(tmp_path / "x.data", sample(GENERAL))


HAND_WRITTEN = """\
LAMMPS data file: two argon atoms and a krypton   # title line, ignored

3 atoms        # count
2 atom types

-1.0 4.0 xlo xhi
0.0 5.0 ylo yhi
0.5 6.5 zlo zhi
1.5 -0.5 0.25 xy xz yz

Masses

2 83.798  # Kr
1 39.948  # Ar

Pair Coeffs # lj/cut

1 1.0 1.0
2 1.2 1.1

Atoms # atomic

7 1 0.0 0.0 1.0 0 0 0
3 2 1.5 2.5 3.5 1 -1 0   # wrapped once
5 1 3.9 4.9 6.4 0 0 -2

Velocities

5 0.5 0.6 0.7
7 0.1 0.2 0.3
3 -1 -2 -3e-1
"""


def test_hand_written_lammps(tmp_path):
    (tmp_path / "in.data").write_text(HAND_WRITTEN)
    s = read_structure(tmp_path / "in.data")
    assert np.array_equal(s.origin, [-1.0, 0.0, 0.5])
    assert np.array_equal(s.cell, [[5.0, 1.5, -0.5], [0.0, 5.0, 0.25], [0.0, 0.0, 6.0]])
    assert np.array_equal(s.ids, [7, 3, 5])
    assert np.array_equal(s.types, [0, 1, 0]) and s.types.dtype == np.int32
    assert np.array_equal(s.positions, [[0.0, 0.0, 1.0], [1.5, 2.5, 3.5], [3.9, 4.9, 6.4]])
    assert np.array_equal(s.images, [[0, 0, 0], [1, -1, 0], [0, 0, -2]])
    assert np.array_equal(s.masses, [39.948, 83.798])
    assert np.array_equal(s.velocities, [[0.1, 0.2, 0.3], [-1.0, -2.0, -0.3], [0.5, 0.6, 0.7]])
    assert s.volume == pytest.approx(150.0)


def test_lammps_without_images_or_velocities(tmp_path):
    text = ("title\n\n2 atoms\n1 atom types\n0 2 xlo xhi\n0 2 ylo yhi\n0 2 zlo zhi\n\n"
            "Atoms\n\n1 1 0 0 0\n2 1 1 1 1\n")
    (tmp_path / "a.lammps").write_text(text)
    s = read_structure(tmp_path / "a.lammps")
    assert s.images is None and s.velocities is None and s.masses is None
    assert np.array_equal(s.cell, 2.0 * np.eye(3))


def lammps_lines():
    return HAND_WRITTEN.splitlines()


def replaced(lineno, text):
    lines = lammps_lines()
    lines[lineno - 1] = text
    return "\n".join(lines) + "\n"


ATOM_LINE = 24  # "3 2 1.5 2.5 3.5 1 -1 0"
SPEC = "'id type x y z [ix iy iz]'"


def test_hand_written_line_numbers():
    assert lammps_lines()[ATOM_LINE - 1].startswith("3 2 1.5")


@pytest.mark.parametrize("text, message", [
    (replaced(ATOM_LINE, "3 2 1.5"), f"line 24: expected {SPEC} (5 or 8 columns), got 3"),
    (replaced(ATOM_LINE, "3 2 1.5 2.5 3.5"),
     f"line 24: expected {SPEC} with 8 columns as on line 23, got 5"),
    (replaced(ATOM_LINE, "3 2 1.5 abc 3.5 1 -1 0"),
     f"line 24: column 4 of {SPEC}: expected a finite number, got 'abc'"),
    (replaced(ATOM_LINE, "3 2 1.5 nan 3.5 1 -1 0"), "line 24: column 4"),
    (replaced(ATOM_LINE, "3.0 2 1.5 2.5 3.5 1 -1 0"),
     f"line 24: column 1 of {SPEC}: expected an integer, got '3.0'"),
    (replaced(ATOM_LINE, "3 3 1.5 2.5 3.5 1 -1 0"), "line 24: atom type 3 is outside 1..2"),
    (replaced(ATOM_LINE, "7 2 1.5 2.5 3.5 1 -1 0"), "line 24: atom id 7 appears twice"),
    (replaced(ATOM_LINE, "0 2 1.5 2.5 3.5 1 -1 0"), "line 24: atom id 0 is not >= 1"),
    (replaced(3, "4 atoms"), "line 21: the Atoms section has 3 lines, the header says 4 atoms"),
    (replaced(3, "three atoms"), "line 3: expected a header line"),
    (replaced(3, "3.5 atoms"), "line 3: expected an integer, got '3.5'"),
    (replaced(9, "1.5 -0.5 xy xz yz"), "line 9: expected a header line"),
    (replaced(7, "0.0 5.0 ylo"), "line 7: expected a header line"),
    (replaced(7, ""), "the header has no 'lo hi ylo yhi' line"),
    (replaced(4, ""), "the header has no 'N atom types' line"),
    (replaced(6, "4.0 -1.0 xlo xhi"), "lo < hi"),
    (replaced(21, "Atoms # full"), "line 21: atom style 'full' is not supported"),
    (replaced(21, "Bonds"), "line 21: expected a section title"),
    (replaced(13, "2 -83.798"), "line 13: expected a type in 1..2 and a positive mass"),
    (replaced(14, "2 39.948"), "line 11: the Masses section must give each of the 2 types once"),
    (replaced(29, "9 0.5 0.6 0.7"), "line 29: atom id 9 is not in the Atoms section"),
    (replaced(29, "5 0.5 0.6"), "line 29: expected 'id vx vy vz' (4 columns), got 3"),
    (replaced(31, ""), "line 27: the Velocities section has 2 lines for 3 atoms"),
])
def test_malformed_lammps(tmp_path, text, message):
    path = tmp_path / "bad.data"
    path.write_text(text)
    with pytest.raises(DeckError) as err:
        read_structure(path, key="rve.file")
    assert err.value.key == "rve.file"
    assert str(path) in str(err.value)
    assert message in str(err.value)


XYZ = """\
3
Lattice="4.0 0.0 0.0 1.0 5.0 0.0 0.0 0.0 6.0" \
Properties=species:S:1:pos:R:3:charge:R:1:vel:R:3 pbc="T T T" energy=-1.5
Kr 0.0 0.0 0.0 0.1 1 2 3
Ar 1.0 1.0 1.0 -0.1 4 5 6
Kr 2.0 2.0 2.0 0.0 7 8 9
second frame is never read
"""


def test_hand_written_extxyz(tmp_path):
    (tmp_path / "in.extxyz").write_text(XYZ)
    s = read_structure(tmp_path / "in.extxyz")
    assert np.array_equal(s.cell, [[4.0, 1.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 6.0]])
    assert np.array_equal(s.types, [0, 1, 0]) and s.type_names == ["Kr", "Ar"]
    assert np.array_equal(s.ids, [1, 2, 3])
    assert np.array_equal(s.velocities, np.arange(1.0, 10.0).reshape(3, 3))
    assert s.masses is None and s.images is None


def xyz_replaced(lineno, text):
    lines = XYZ.splitlines()
    lines[lineno - 1] = text
    return "\n".join(lines) + "\n"


UNIT = 'Lattice="1 0 0 0 1 0 0 0 1"'
XYZ_SPEC = "'species pos[3] charge vel[3]'"


@pytest.mark.parametrize("text, message", [
    (xyz_replaced(1, "three"), "line 1: expected the number of atoms, got 'three'"),
    (xyz_replaced(1, "7"), "line 6: expected 7 atom lines after line 2, the file ends"),
    (xyz_replaced(2, "Properties=species:S:1:pos:R:3"), "line 2: expected Lattice="),
    (xyz_replaced(2, 'Lattice="1 0 0 0 1 0 0 0"'), "line 2: expected Lattice to hold 9 numbers"),
    (xyz_replaced(2, 'Lattice="-1 0 0 0 1 0 0 0 1"'), "line 2: expected right-handed"),
    (xyz_replaced(2, UNIT + ' pbc="T T F"'), 'line 2: expected pbc="T T T"'),
    (xyz_replaced(2, UNIT + " Properties=species:S:1:pos:R:2"),
     "line 2: expected property pos:R:3"),
    (xyz_replaced(2, UNIT + " Properties=species:S:1"),
     "line 2: expected Properties to include pos"),
    (xyz_replaced(2, UNIT[:-1]), "line 2: expected key=value pairs"),
    (xyz_replaced(4, "Ar 1.0 1.0"), f"line 4: expected {XYZ_SPEC} (8 columns), got 3"),
    (xyz_replaced(4, "Ar 1.0 x 1.0 -0.1 4 5 6"),
     f"line 4: column 3 of {XYZ_SPEC}: expected a finite number, got 'x'"),
])
def test_malformed_extxyz(tmp_path, text, message):
    path = tmp_path / "bad.xyz"
    path.write_text(text)
    with pytest.raises(DeckError) as err:
        read_structure(path)
    assert err.value.key == "system.file"
    assert message in str(err.value)


def test_extxyz_masses_must_agree_per_species(tmp_path):
    text = ('2\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3:masses:R:1\n'
            "Ar 0 0 0 39.9\nAr 1 1 1 40.0\n")
    (tmp_path / "m.xyz").write_text(text)
    with pytest.raises(DeckError, match="line 4: expected one positive mass per species"):
        read_structure(tmp_path / "m.xyz")


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DeckError, match="cannot read the file") as err:
        read_structure(tmp_path / "absent.data")
    assert err.value.key == "system.file"
    (tmp_path / "conf.pdb").write_text("")
    with pytest.raises(DeckError, match="cannot tell the format"):
        read_structure(tmp_path / "conf.pdb")
    with pytest.raises(DeckError, match="unknown format 'pdb'"):
        read_structure(tmp_path / "conf.pdb", fmt="pdb")


def test_explicit_format_overrides_suffix(tmp_path):
    s = sample(ORTHOGONAL)
    write_lammps_data(tmp_path / "conf.txt", s)
    assert_same(read_structure(tmp_path / "conf.txt", fmt="lammps-data"), s)
