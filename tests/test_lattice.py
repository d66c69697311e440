"""Cubic lattices: atom counts, density, neighbour shells, orientations, bad input."""

import numpy as np
import pytest

from hpcms.config.errors import DeckError
from hpcms.particles.lattice import build_lattice
from hpcms.particles.structure import Structure

ORIENT_110 = [[1, 1, 0], [-1, 1, 0], [0, 0, 1]]
ORIENT_112 = [[1, 1, 2], [-1, 1, 0], [-1, -1, 1]]


def distances(structure):
    """All pair distances under the minimum image (orthogonal box), self pairs at inf."""
    lengths = np.diag(structure.cell)
    d = structure.positions[:, None, :] - structure.positions[None, :, :]
    d -= lengths * np.round(d / lengths)
    r = np.sqrt((d * d).sum(axis=-1))
    np.fill_diagonal(r, np.inf)
    return r


def shell(structure, radius):
    """Number of neighbours of each atom at `radius` (relative tolerance 1e-9)."""
    r = distances(structure)
    assert r.min() == pytest.approx(radius, rel=1e-9), "nearest neighbour closer than expected"
    return (r < radius * (1 + 1e-9)).sum(axis=1)


def test_fcc_lj_liquid_density_size():
    s = build_lattice("fcc", (20, 20, 20), density=0.8442)
    assert s.n_atoms == 32000
    assert s.n_atoms / s.volume == pytest.approx(0.8442, rel=1e-12)
    assert np.array_equal(s.ids, np.arange(1, 32001))
    assert np.all(s.types == 0) and s.n_types == 1
    assert np.all((s.positions >= 0) & (s.positions < np.diag(s.cell)))
    assert s.positions.flags.c_contiguous and s.positions.dtype == np.float64


@pytest.mark.parametrize("kind, n_basis, radius_over_a, n_neighbours", [
    ("fcc", 4, 1 / np.sqrt(2), 12),
    ("bcc", 2, np.sqrt(3) / 2, 8),
    ("sc", 1, 1.0, 6),
])
def test_neighbour_shells(kind, n_basis, radius_over_a, n_neighbours):
    s = build_lattice(kind, (3, 4, 5), constant=1.5)
    assert s.n_atoms == n_basis * 60
    assert np.all(shell(s, 1.5 * radius_over_a) == n_neighbours)


def test_create_atoms_order():
    a = 2.0
    s = build_lattice("fcc", (2, 2, 2), constant=a)
    # basis innermost, then x, then y, then z
    first = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [1, 0, 0]]
    assert np.allclose(s.positions[:5], a * np.array(first))
    assert np.allclose(s.positions[8], [0, a, 0])
    assert np.allclose(s.positions[16], [0, 0, a])


@pytest.mark.parametrize("orient, cells", [(ORIENT_110, (2, 2, 3)), (ORIENT_112, (1, 2, 2))])
def test_oriented_fcc(orient, cells):
    s = build_lattice("fcc", cells, density=0.8442, orient=orient)
    a = (4 / 0.8442) ** (1 / 3)
    assert np.allclose(np.diag(s.cell), np.array(cells) * a * np.linalg.norm(orient, axis=1))
    assert s.n_atoms / s.volume == pytest.approx(0.8442, rel=1e-12)
    assert np.all((s.positions >= 0) & (s.positions < np.diag(s.cell)))
    assert np.all(shell(s, a / np.sqrt(2)) == 12)


def test_orient_110_count_like_lammps():
    # LAMMPS: lattice fcc 0.8442 orient x 1 1 0 orient y -1 1 0 orient z 0 0 1,
    # region block 0 4 0 4 0 4 -> 4*4*4 * 4 basis * |det| = 2 -> 512 atoms
    assert build_lattice("fcc", (4, 4, 4), density=0.8442, orient=ORIENT_110).n_atoms == 512


def test_no_duplicate_sites_on_faces():
    s = build_lattice("bcc", (3, 3, 3), constant=1.0, orient=ORIENT_110)
    assert distances(s).min() > 0.8


def test_wrapped_undoes_cell_shifts():
    s = build_lattice("sc", (3, 3, 3), constant=1.0)
    shifted = Structure(cell=s.cell, origin=s.origin, ids=s.ids, types=s.types, n_types=1,
                        positions=s.positions + np.array([3.0, -6.0, 9.0]))
    assert np.allclose(shifted.wrapped(), s.positions, atol=1e-12)
    assert np.all((shifted.wrapped() >= 0) & (shifted.wrapped() < 3.0))


def oriented(rows):
    return {"constant": 1.0, "orient": rows}


@pytest.mark.parametrize("kind, cells, kwargs, key", [
    ("hcp", (2, 2, 2), {"density": 1.0}, "system.lattice"),
    ("fcc", (2, 2), {"density": 1.0}, "system.cells"),
    ("fcc", (2, 0, 2), {"density": 1.0}, "system.cells"),
    ("fcc", (2, 2.0, 2), {"density": 1.0}, "system.cells"),
    ("fcc", 8, {"density": 1.0}, "system.cells"),
    ("fcc", (2, 2, 2), {}, "system.density"),
    ("fcc", (2, 2, 2), {"density": 1.0, "constant": 1.0}, "system.density"),
    ("fcc", (2, 2, 2), {"density": -1.0}, "system.density"),
    ("fcc", (2, 2, 2), {"density": "dense"}, "system.density"),
    ("fcc", (2, 2, 2), {"constant": 0.0}, "system.constant"),
    ("fcc", (2, 2, 2), oriented([[1, 1, 0], [1, 0, 0], [0, 0, 1]]), "system.orient"),
    ("fcc", (2, 2, 2), oriented([[1, 1, 0], [1, -1, 0], [0, 0, 1]]), "system.orient"),
    ("fcc", (2, 2, 2), oriented([[1, 0, 0], [0, 1, 0]]), "system.orient"),
    ("fcc", (2, 2, 2), oriented([[1, 0, 0], [0, 1, 0], [0, 0, 0]]), "system.orient"),
    ("fcc", (2, 2, 2), oriented([[1.5, 0, 0], [0, 1, 0], [0, 0, 1]]), "system.orient"),
])
def test_bad_input_names_key(kind, cells, kwargs, key):
    with pytest.raises(DeckError) as err:
        build_lattice(kind, cells, **kwargs)
    assert err.value.key == key
    assert key in str(err.value)


def test_key_prefix():
    with pytest.raises(DeckError) as err:
        build_lattice("diamond", (1, 1, 1), density=1.0, key_prefix="rve.system")
    assert err.value.key == "rve.system.lattice"
    assert "bcc, fcc, sc" in str(err.value)


def test_orient_messages_say_what_is_wrong():
    with pytest.raises(DeckError, match="not orthogonal"):
        build_lattice("fcc", (1, 1, 1), **oriented([[1, 1, 0], [1, 0, 0], [0, 0, 1]]))
    with pytest.raises(DeckError, match="left-handed"):
        build_lattice("fcc", (1, 1, 1), **oriented([[1, 1, 0], [1, -1, 0], [0, 0, 1]]))
