"""FE field output (hpcms/io/xdmf.py): HDF5 layout, the XDMF that describes it,
an independent reader (meshio), byte-identical datasets on any rank count, and
restart by reopen + truncate.

Meshes are built by hand: a 2x2x1 block of hexahedra and a 3x2 block of
quadrilaterals.  Serial tests write on COMM_SELF; the `mpi` tests cut the
same mesh across COMM_WORLD in scrambled ways (some ranks owning nothing) and
compare with a file rank 0 wrote alone.
"""

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from hpcms.io import xdmf as xdmf_module
from hpcms.io.xdmf import FieldWriter

HEX = dict(topology="Hexahedron", nodes_per_cell=8, dim=3)
QUAD = dict(topology="Quadrilateral", nodes_per_cell=4, dim=2)


def hex_block(nx=2, ny=2, nz=1):
    """(X, connectivity) of a structured hex block; vertex id i + (nx+1)(j + (ny+1)k)."""
    vid = lambda i, j, k: i + (nx + 1) * (j + (ny + 1) * k)    # noqa: E731
    X = np.array([(0.5 * i, 0.25 * j, 1.0 * k) for k in range(nz + 1) for j in range(ny + 1)
                  for i in range(nx + 1)])
    conn = [[vid(i, j, k), vid(i + 1, j, k), vid(i + 1, j + 1, k), vid(i, j + 1, k),
             vid(i, j, k + 1), vid(i + 1, j, k + 1), vid(i + 1, j + 1, k + 1), vid(i, j + 1, k + 1)]
            for k in range(nz) for j in range(ny) for i in range(nx)]
    return X, np.array(conn, dtype=np.int64)


def quad_block(nx=3, ny=2):
    vid = lambda i, j: i + (nx + 1) * j    # noqa: E731
    X = np.array([(0.5 * i, 0.25 * j) for j in range(ny + 1) for i in range(nx + 1)])
    conn = [[vid(i, j), vid(i + 1, j), vid(i + 1, j + 1), vid(i, j + 1)]
            for j in range(ny) for i in range(nx)]
    return X, np.array(conn, dtype=np.int64)


def step_fields(X, n_cells, step):
    """Global fields of load step `step`: displacement (dim), F (3x3), P (9), energy, material."""
    dim = X.shape[1]
    u = (step + 1) * 0.01 * np.sin(X + np.arange(dim))
    F = np.tile(np.eye(3), (n_cells, 1, 1)) + 0.001 * (step + 1) * np.arange(n_cells * 9).reshape(
        n_cells, 3, 3)
    P = 2.0 * F.reshape(n_cells, 9) - 1.0
    energy = 0.5 * (step + 1) * np.arange(n_cells, dtype=float) ** 2
    material = np.arange(n_cells) % 2
    return {"displacement": u}, {"F": F, "P": P, "energy": energy, "material": material}


def write_case(comm, directory, mesh, kind, steps, owner_v=None, owner_c=None, perm_seed=None):
    """Write `mesh` and `steps` with the rows each rank owns (owner arrays; None: all on each).

    Owned rows are given in an order scrambled by `perm_seed` (None: in id
    order).  Returns the closed writer.
    """
    X, conn = mesh
    n_v, n_c = len(X), len(conn)
    v = np.flatnonzero(owner_v == comm.rank) if owner_v is not None else np.arange(n_v)
    c = np.flatnonzero(owner_c == comm.rank) if owner_c is not None else np.arange(n_c)
    if perm_seed is not None:
        rng = np.random.default_rng(perm_seed)
        v, c = rng.permutation(v), rng.permutation(c)
    w = FieldWriter(comm, directory, **kind)
    w.write_mesh(v, X[v], c, conn[c])
    for index, time in steps:
        vf, cf = step_fields(X, n_c, index)
        w.write_step(index, time, {k: a[v] for k, a in vf.items()},
                     {k: a[c] for k, a in cf.items()})
    w.close()
    return w


def datasets(path):
    """{name: (dtype, shape, bytes)} of every dataset, and {group: attrs} of every group."""
    data, attrs = {}, {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data[name] = (obj.dtype.str, obj.shape, obj[()].tobytes())
            else:
                attrs[name] = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
        f.visititems(visit)
    return data, attrs


def parse_xdmf(path):
    """Check every DataItem against the HDF5 file; return [(time, grid element)] and the root."""
    root = ET.parse(path).getroot()
    assert root.tag == "Xdmf" and root.get("Version") == "3.0"
    items = root.findall(".//DataItem")
    assert items
    with h5py.File(os.path.join(os.path.dirname(path), items[0].text.split(":")[0]), "r") as f:
        for item in items:
            h5_name, h5_path = item.text.strip().split(":")
            assert not os.path.isabs(h5_name)
            assert item.get("Format") == "HDF"
            assert h5_path in f, h5_path
            dset = f[h5_path]
            assert tuple(int(n) for n in item.get("Dimensions").split()) == dset.shape, h5_path
            kind = {"f": "Float", "i": "Int"}[dset.dtype.kind]
            assert (item.get("DataType"), item.get("Precision")) == (kind, str(dset.dtype.itemsize))
    series = root.findall("./Domain/Grid[@CollectionType='Temporal']")
    if not series:
        return [], root
    assert series[0].get("GridType") == "Collection"
    grids = series[0].findall("Grid")
    return [(float(g.find("Time").get("Value")), g) for g in grids], root


# -- serial ----------------------------------------------------------------------


def test_hex_layout_xdmf_and_values(tmp_path):
    X, conn = mesh = hex_block()
    write_case(MPI.COMM_SELF, tmp_path, mesh, HEX, [(0, 0.0), (1, 0.5)])
    steps, _ = parse_xdmf(tmp_path / "fields.xdmf")
    assert [t for t, _ in steps] == [0.0, 0.5]
    for t, grid in steps:
        assert grid.get("GridType") == "Uniform"
        topo = grid.find("Topology")
        assert (topo.get("TopologyType"), topo.get("NumberOfElements"),
                topo.get("NodesPerElement")) == ("Hexahedron", "4", "8")
        assert grid.find("Geometry").get("GeometryType") == "XYZ"
        kinds = {a.get("Name"): (a.get("Center"), a.get("AttributeType"))
                 for a in grid.findall("Attribute")}
        assert kinds == {"displacement": ("Node", "Vector"), "F": ("Cell", "Tensor"),
                         "P": ("Cell", "Tensor"), "energy": ("Cell", "Scalar"),
                         "material": ("Cell", "Scalar")}
    with h5py.File(tmp_path / "fields.h5", "r") as f:
        assert f["mesh/geometry"].shape == (18, 3)
        np.testing.assert_array_equal(f["mesh/geometry"][()], X)
        np.testing.assert_array_equal(f["mesh/topology"][()], conn)
        assert f["mesh"].attrs["topology"] == "Hexahedron"
        for index, time in [(0, 0.0), (1, 0.5)]:
            g = f[f"steps/{index}"]
            assert (g.attrs["index"], g.attrs["time"]) == (index, time)
            vf, cf = step_fields(X, len(conn), index)
            np.testing.assert_array_equal(g["vertex/displacement"][()], vf["displacement"])
            np.testing.assert_array_equal(g["cell/F"][()], cf["F"].reshape(-1, 9))
            np.testing.assert_array_equal(g["cell/P"][()], cf["P"])
            np.testing.assert_array_equal(g["cell/energy"][()], cf["energy"])
            assert g["cell/material"].dtype == np.int64
            np.testing.assert_array_equal(g["cell/material"][()], cf["material"])


def test_quads_2d_padded_to_xyz(tmp_path):
    X, conn = mesh = quad_block()
    write_case(MPI.COMM_SELF, tmp_path, mesh, QUAD, [(0, 0.0), (3, 1.0)])
    steps, _ = parse_xdmf(tmp_path / "fields.xdmf")
    assert [t for t, _ in steps] == [0.0, 1.0]
    grid = steps[1][1]
    assert grid.find("Topology").get("TopologyType") == "Quadrilateral"
    assert grid.find("Geometry").get("GeometryType") == "XYZ"
    with h5py.File(tmp_path / "fields.h5", "r") as f:
        geometry = f["mesh/geometry"][()]
        np.testing.assert_array_equal(geometry[:, :2], X)
        np.testing.assert_array_equal(geometry[:, 2], 0.0)
        u = f["steps/3/vertex/displacement"][()]
        assert u.shape == (12, 3)
        np.testing.assert_array_equal(u[:, :2], step_fields(X, len(conn), 3)[0]["displacement"])
        np.testing.assert_array_equal(u[:, 2], 0.0)


def test_mesh_only_before_first_step(tmp_path):
    mesh = hex_block()
    w = FieldWriter(MPI.COMM_SELF, tmp_path, "m", **HEX)
    w.write_mesh(np.arange(18), mesh[0], np.arange(4), mesh[1])
    steps, root = parse_xdmf(tmp_path / "m.xdmf")
    assert steps == []
    grids = root.findall("./Domain/Grid")
    assert len(grids) == 1 and grids[0].get("GridType") == "Uniform"
    w.close()


def test_meshio_reads_the_series(tmp_path):
    meshio = pytest.importorskip("meshio", reason="meshio is not installed: the independent "
                                 "reader check needs `pip install meshio`")
    X, conn = mesh = hex_block()
    write_case(MPI.COMM_SELF, tmp_path, mesh, HEX, [(0, 0.0), (1, 0.5), (2, 1.0)])
    with meshio.xdmf.TimeSeriesReader(str(tmp_path / "fields.xdmf")) as reader:
        points, cells = reader.read_points_cells()
        np.testing.assert_array_equal(points, X)
        assert [c.type for c in cells] == ["hexahedron"]
        np.testing.assert_array_equal(cells[0].data, conn)
        assert reader.num_steps == 3
        for k, time in enumerate([0.0, 0.5, 1.0]):
            t, point_data, cell_data = reader.read_data(k)
            vf, cf = step_fields(X, len(conn), k)
            assert t == time
            np.testing.assert_array_equal(point_data["displacement"], vf["displacement"])
            np.testing.assert_array_equal(cell_data["F"][0], cf["F"].reshape(-1, 9))
            np.testing.assert_array_equal(cell_data["energy"][0], cf["energy"])


PARAVIEW_SCRIPT = """
import sys
import numpy as np
from paraview import servermanager
from paraview.simple import OpenDataFile
from vtk.util.numpy_support import vtk_to_numpy

for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):
    reader = OpenDataFile(src)
    reader.UpdatePipelineInformation()
    out = {"times": np.array(reader.TimestepValues, dtype=float)}
    for k, t in enumerate(reader.TimestepValues):
        reader.UpdatePipeline(t)
        d = servermanager.Fetch(reader)
        # copies: vtk_to_numpy views memory that goes with the next Fetch
        out[f"{k}/points"] = vtk_to_numpy(d.GetPoints().GetData()).copy()
        out[f"{k}/types"] = np.array([d.GetCellType(c) for c in range(d.GetNumberOfCells())])
        out[f"{k}/cells"] = np.array([[d.GetCell(c).GetPointId(i)
                                       for i in range(d.GetCell(c).GetNumberOfPoints())]
                                      for c in range(d.GetNumberOfCells())])
        for center, data in (("point", d.GetPointData()), ("cell", d.GetCellData())):
            for i in range(data.GetNumberOfArrays()):
                a = data.GetArray(i)
                out[f"{k}/{center}/{a.GetName()}"] = vtk_to_numpy(a).copy()
    np.savez(dst, **out)
"""


def test_paraview_reads_the_series(tmp_path):
    """ParaView's own XDMF reader (the one OpenDataFile picks), run by pvpython in a subprocess."""
    pvpython = shutil.which("pvpython")
    if pvpython is None:
        pytest.skip("pvpython is not installed (Debian: python3-paraview); ParaView's reader "
                    "is not checked")
    steps = [(0, 0.0), (2, 0.5), (5, 1.0)]
    cases = {"hex": (hex_block(), HEX, 12), "quad": (quad_block(), QUAD, 9)}   # VTK cell types
    args = []
    for name, (mesh, kind, _) in cases.items():
        (tmp_path / name).mkdir()
        write_case(MPI.COMM_SELF, tmp_path / name, mesh, kind, steps, perm_seed=4)
        args += [str(tmp_path / name / "fields.xdmf"), str(tmp_path / f"{name}.npz")]
    (tmp_path / "read.py").write_text(PARAVIEW_SCRIPT)
    # The child must not take this process's MPI singleton for its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMIX_", "OMPI_MCA_ess"))}
    run = subprocess.run([pvpython, "--force-offscreen-rendering", str(tmp_path / "read.py"),
                          *args], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    for name, ((X, conn), kind, vtk_type) in cases.items():
        got = np.load(tmp_path / f"{name}.npz")
        np.testing.assert_array_equal(got["times"], [t for _, t in steps])
        dim = X.shape[1]
        for k, (index, _) in enumerate(steps):
            np.testing.assert_array_equal(got[f"{k}/points"][:, :dim], X)
            np.testing.assert_array_equal(got[f"{k}/points"][:, dim:], 0.0)
            np.testing.assert_array_equal(got[f"{k}/types"], vtk_type)
            np.testing.assert_array_equal(got[f"{k}/cells"], conn)
            vf, cf = step_fields(X, len(conn), index)
            u = got[f"{k}/point/displacement"]
            assert u.shape == (len(X), 3)
            np.testing.assert_array_equal(u[:, :dim], vf["displacement"])
            np.testing.assert_array_equal(u[:, dim:], 0.0)
            np.testing.assert_array_equal(got[f"{k}/cell/F"], cf["F"].reshape(-1, 9))
            np.testing.assert_array_equal(got[f"{k}/cell/P"], cf["P"])
            np.testing.assert_array_equal(got[f"{k}/cell/energy"], cf["energy"])
            np.testing.assert_array_equal(got[f"{k}/cell/material"], cf["material"])


def test_scrambled_rows_give_the_same_bytes(tmp_path):
    mesh = hex_block(3, 2, 2)
    steps = [(0, 0.0), (1, 0.25)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_case(MPI.COMM_SELF, tmp_path / "a", mesh, HEX, steps, perm_seed=None)
    write_case(MPI.COMM_SELF, tmp_path / "b", mesh, HEX, steps, perm_seed=7)
    assert datasets(tmp_path / "a/fields.h5") == datasets(tmp_path / "b/fields.h5")
    with open(tmp_path / "a/fields.xdmf") as fa, open(tmp_path / "b/fields.xdmf") as fb:
        assert fa.read() == fb.read()


def test_truncate_and_append_serial(tmp_path):
    X, conn = mesh = hex_block()
    w = write_case(MPI.COMM_SELF, tmp_path, mesh, HEX, [(0, 0.0), (1, 0.5), (2, 1.0)])
    assert w.steps == [(0, 0.0), (1, 0.5), (2, 1.0)]
    written = (tmp_path / "fields.xdmf").read_text()
    # A crash in the middle of step 3: its group exists, its time attribute does not.
    with h5py.File(tmp_path / "fields.h5", "r+") as f:
        f["steps"].create_group("3").attrs["index"] = 3

    w = FieldWriter(MPI.COMM_SELF, tmp_path, append=True, **HEX)
    assert w.steps == [(0, 0.0), (1, 0.5), (2, 1.0)]
    assert (tmp_path / "fields.xdmf").read_text() == written       # rebuilt from the file alone
    with h5py.File(tmp_path / "fields.h5", "r") as f:
        assert "3" not in f["steps"]
    w.truncate(0)
    assert w.steps == [(0, 0.0)]
    steps, _ = parse_xdmf(tmp_path / "fields.xdmf")
    assert [t for t, _ in steps] == [0.0]
    with pytest.raises(ValueError, match="write_mesh"):
        w.write_step(1, 0.5, {}, {})
    perm = np.random.default_rng(3).permutation(len(X))
    w.write_mesh(perm, X[perm], np.arange(len(conn)), conn)
    w.write_step(1, 0.75, {"displacement": np.ones((len(X), 3))}, {})
    w.close()
    steps, _ = parse_xdmf(tmp_path / "fields.xdmf")
    assert [t for t, _ in steps] == [0.0, 0.75]
    assert [a.get("Name") for a in steps[1][1].findall("Attribute")] == ["displacement"]
    with h5py.File(tmp_path / "fields.h5", "r") as f:
        assert sorted(f["steps"]) == ["0", "1"]
        np.testing.assert_array_equal(f["steps/1/vertex/displacement"][()], 1.0)


def test_append_with_another_mesh_fails(tmp_path):
    X, conn = mesh = hex_block()
    write_case(MPI.COMM_SELF, tmp_path, mesh, HEX, [(0, 0.0)])
    with pytest.raises(ValueError, match="mesh"):
        FieldWriter(MPI.COMM_SELF, tmp_path, append=True, **dict(HEX, topology="Quadrilateral",
                                                                  nodes_per_cell=4))
    w = FieldWriter(MPI.COMM_SELF, tmp_path, append=True, **HEX)
    with pytest.raises(ValueError, match="differs"):
        w.write_mesh(np.arange(len(X)), X + 1.0, np.arange(len(conn)), conn)
    w.close()


def test_existing_files_are_not_overwritten(tmp_path):
    write_case(MPI.COMM_SELF, tmp_path, hex_block(), HEX, [(0, 0.0)])
    with pytest.raises(FileExistsError):
        FieldWriter(MPI.COMM_SELF, tmp_path, **HEX)
    with pytest.raises(FileNotFoundError):
        FieldWriter(MPI.COMM_SELF, tmp_path, "other", append=True, **HEX)
    with pytest.raises(FileNotFoundError):
        FieldWriter(MPI.COMM_SELF, tmp_path / "missing", **HEX)


@pytest.mark.parametrize("kind,match", [
    (dict(topology="Hex", nodes_per_cell=8, dim=3), "known"),
    (dict(topology="Hexahedron", nodes_per_cell=4, dim=3), "nodes"),
    (dict(topology="Hexahedron", nodes_per_cell=8, dim=4), "dim"),
])
def test_bad_writer_arguments(tmp_path, kind, match):
    with pytest.raises(ValueError, match=match):
        FieldWriter(MPI.COMM_SELF, tmp_path, **kind)


def test_bad_mesh_and_step_arguments(tmp_path):
    X, conn = hex_block()
    w = FieldWriter(MPI.COMM_SELF, tmp_path, **HEX)
    ids, cids = np.arange(len(X)), np.arange(len(conn))
    with pytest.raises(ValueError, match="vertex ids"):
        w.write_mesh(ids + 1, X, cids, conn)
    with pytest.raises(ValueError, match="vertex ids"):
        w.write_mesh(np.r_[ids[:-1], 0], X, cids, conn)
    with pytest.raises(ValueError, match="cell ids"):
        w.write_mesh(ids, X, np.r_[cids[:-1], 0], conn)
    with pytest.raises(ValueError, match="connectivity"):
        w.write_mesh(ids, X, cids, conn + 10)
    with pytest.raises(ValueError, match="X has shape"):
        w.write_mesh(ids, X[:, :2], cids, conn)
    w.write_mesh(ids, X, cids, conn)
    u = np.zeros((len(X), 3))
    w.write_step(1, 0.1, {"displacement": u}, {})
    with pytest.raises(ValueError, match="does not follow"):
        w.write_step(1, 0.2, {"displacement": u}, {})
    with pytest.raises(ValueError, match="rows expected"):
        w.write_step(2, 0.2, {"displacement": u[1:]}, {})
    with pytest.raises(ValueError, match="components"):
        w.write_step(2, 0.2, {"displacement": np.zeros((len(X), 4))}, {})
    with pytest.raises(ValueError, match="field name"):
        w.write_step(2, 0.2, {"a/b": u}, {})
    w.write_step(2, 0.2, {"displacement": u}, {})
    assert w.steps == [(1, 0.1), (2, 0.2)]
    w.close()


def test_xdmf_is_replaced_whole(tmp_path, monkeypatch):
    X, conn = mesh = hex_block()
    w = FieldWriter(MPI.COMM_SELF, tmp_path, **HEX)
    w.write_mesh(np.arange(len(X)), X, np.arange(len(conn)), conn)
    w.write_step(0, 0.0, {"displacement": np.zeros((len(X), 3))}, {})
    before = (tmp_path / "fields.xdmf").read_text()

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(xdmf_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        w.write_step(1, 1.0, {"displacement": np.zeros((len(X), 3))}, {})
    assert (tmp_path / "fields.xdmf").read_text() == before
    monkeypatch.undo()
    w.write_step(2, 2.0, {"displacement": np.zeros((len(X), 3))}, {})
    w.close()
    steps, _ = parse_xdmf(tmp_path / "fields.xdmf")
    assert [t for t, _ in steps] == [0.0, 1.0, 2.0]
    assert not (tmp_path / "fields.xdmf.tmp").exists()


# -- MPI -------------------------------------------------------------------------

def owners(n, size, seed, skip=None):
    """Owner rank of each of n rows, drawn at random among the ranks other than `skip`."""
    return np.random.default_rng(seed).choice([r for r in range(size) if r != skip], n)


# partition -> (rank owning no vertex, rank owning no cell); -1: the last rank
PARTITIONS = {"scrambled": (None, None), "last-empty": (-1, -1), "rank0-no-cells": (None, 0)}


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("how", sorted(PARTITIONS))
@pytest.mark.parametrize("mesh_kind", ["hex", "quad"])
def test_datasets_identical_to_serial(how, mesh_kind, mpi_tmp_path):
    comm = MPI.COMM_WORLD
    mesh, kind = (hex_block(3, 2, 2), HEX) if mesh_kind == "hex" else (quad_block(), QUAD)
    steps = [(0, 0.0), (1, 0.5), (4, 2.0)]
    if comm.rank == 0:
        os.mkdir(mpi_tmp_path / "serial")
        os.mkdir(mpi_tmp_path / "parallel")
        write_case(MPI.COMM_SELF, mpi_tmp_path / "serial", mesh, kind, steps)
    comm.Barrier()
    skip_v, skip_c = (None if r is None else r % comm.size for r in PARTITIONS[how])
    owner_v = owners(len(mesh[0]), comm.size, 0, skip_v)
    owner_c = owners(len(mesh[1]), comm.size, 1, skip_c)
    write_case(comm, mpi_tmp_path / "parallel", mesh, kind, steps, owner_v, owner_c,
               perm_seed=comm.rank + 11)
    comm.Barrier()
    if comm.rank == 0:
        serial = datasets(mpi_tmp_path / "serial/fields.h5")
        assert datasets(mpi_tmp_path / "parallel/fields.h5") == serial
        assert len(serial[0]) == 2 + 3 * 5
        texts = [(mpi_tmp_path / d / "fields.xdmf").read_text() for d in ("serial", "parallel")]
        assert texts[0] == texts[1]
        steps, _ = parse_xdmf(mpi_tmp_path / "parallel/fields.xdmf")
        assert [t for t, _ in steps] == [0.0, 0.5, 2.0]


@pytest.mark.mpi(min_size=2)
def test_restart_truncates_and_continues(mpi_tmp_path):
    comm = MPI.COMM_WORLD
    X, conn = mesh = hex_block(3, 2, 2)
    first = [(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5)]
    if comm.rank == 0:
        os.mkdir(mpi_tmp_path / "serial")
        os.mkdir(mpi_tmp_path / "run")
        write_case(MPI.COMM_SELF, mpi_tmp_path / "serial", mesh, HEX, first[:2] + [(2, 1.25)])
    comm.Barrier()
    write_case(comm, mpi_tmp_path / "run", mesh, HEX, first,
               owners(len(X), comm.size, 0), owners(len(conn), comm.size, 1), perm_seed=comm.rank)

    # Restart from step 1 on another partition: the last rank owns nothing now.
    w = FieldWriter(comm, mpi_tmp_path / "run", append=True, **HEX)
    assert w.steps == first
    last = comm.size - 1
    v = np.flatnonzero(owners(len(X), comm.size, 5, skip=last) == comm.rank)
    c = np.flatnonzero(owners(len(conn), comm.size, 6, skip=last) == comm.rank)
    w.write_mesh(v, X[v], c, conn[c])
    w.truncate(1)
    assert w.steps == first[:2]
    if comm.rank == 0:
        assert [t for t, _ in parse_xdmf(mpi_tmp_path / "run/fields.xdmf")[0]] == [0.0, 0.5]
    vf, cf = step_fields(X, len(conn), 2)
    w.write_step(2, 1.25, {k: a[v] for k, a in vf.items()}, {k: a[c] for k, a in cf.items()})
    w.close()
    comm.Barrier()
    if comm.rank == 0:
        steps, _ = parse_xdmf(mpi_tmp_path / "run/fields.xdmf")
        assert [t for t, _ in steps] == [0.0, 0.5, 1.25]
        assert datasets(mpi_tmp_path / "run/fields.h5") == \
            datasets(mpi_tmp_path / "serial/fields.h5")


@pytest.mark.mpi(min_size=2)
def test_one_bad_rank_raises_on_every_rank(mpi_tmp_path):
    """A wrong argument on one rank is an error on all of them, not a hang."""
    comm = MPI.COMM_WORLD
    X, conn = hex_block()
    owner_v = np.arange(len(X)) % comm.size
    owner_v[-1] = 1                                           # rank 1 owns the last vertex
    v = np.flatnonzero(owner_v == comm.rank)
    c = np.flatnonzero(np.arange(len(conn)) % comm.size == comm.rank)
    w = FieldWriter(comm, mpi_tmp_path, **HEX)
    bad = v if comm.rank != 1 else np.r_[v[:-1], len(X)]    # only rank 1's ids are wrong
    with pytest.raises(ValueError, match="rank 1: vertex ids"):
        w.write_mesh(bad, X[v], c, conn[c])
    bad = v if comm.rank != 1 else np.r_[v[:-1], 0]          # rank 1 repeats vertex 0
    with pytest.raises(ValueError, match="vertex ids"):
        w.write_mesh(bad, X[v], c, conn[c])
    w.write_mesh(v, X[v], c, conn[c])
    u = np.zeros((len(v), 3))
    with pytest.raises(ValueError, match="rank 1: field 'displacement'"):
        w.write_step(0, 0.0, {"displacement": u if comm.rank != 1 else u[1:]}, {})
    with pytest.raises(ValueError, match="disagree"):
        w.write_step(0, 0.0 if comm.rank != 1 else 1.0, {"displacement": u}, {})
    w.write_step(0, 0.0, {"displacement": u}, {})
    assert w.steps == [(0, 0.0)]
    w.close()
