"""Finite-element fields as HDF5 + XDMF 3 for ParaView, written collectively.

Files ``directory/name.h5`` and ``directory/name.xdmf``.  HDF5 layout
(N_v vertices, N_c cells, rows in global id order)::

    /mesh                      attrs: topology (XDMF TopologyType), nodes_per_cell, dim
        geometry               (N_v, 3) float64   reference coordinates, z = 0 in 2D
        topology               (N_c, nodes_per_cell) int64   global vertex ids
    /steps/<index>             attrs: index int64, time float64 (written last)
        vertex/<name>          (N_v,) | (N_v, 3) | (N_v, 9)   float64 or int64
        cell/<name>            (N_c,) | (N_c, 3) | (N_c, 9)   float64 or int64

Conventions:

- Row k of every dataset is the vertex (or cell) with global id k, whatever
  the number of ranks that wrote it, so the datasets hold identical bytes on
  any rank count.  Datasets are contiguous (no chunks, no filters).
- A field's rows are stored by kind: one component -> (N,) "Scalar"; `dim`
  or 3 components -> (N, 3) "Vector" (2D vectors padded with z = 0, as
  ParaView wants three); 9 components or 3x3 -> (N, 9) "Tensor", row-major
  (xx, xy, xz, yx, ...).  Floats are stored as float64, integers and
  booleans as int64.
- A step group without its `time` attribute was never finished (a crash
  while writing it): reopening with `append=True` drops it.
- ``name.xdmf`` is derived from the HDF5 file: a Temporal collection with one
  Uniform grid per step, in increasing index, each repeating the mesh's
  Topology and Geometry (references, not copies) and listing the step's
  fields in name order.  Before the first step it holds the mesh grid alone.
  DataItems name the HDF5 file relative to the XDMF file, so the directory
  can be moved.  Rank 0 rewrites it after every change, through a temporary
  file and os.replace, so a reader never sees half of one.
- Truncating unlinks step groups; HDF5 does not give their space back
  (h5repack does).

Parallel HDF5: creating the file, groups, datasets and attributes is
collective (same calls, same arguments on every rank); rows are routed to
their global-id slab (`slabs.to_slabs`) so that each rank writes one
contiguous block, a rank with none taking part with an empty selection
(`hdf5.write_rows`).  Arguments that must agree across ranks are checked
with one small allgather, and a bad argument on any rank raises the same
ValueError on every rank instead of leaving the others waiting.
"""

from __future__ import annotations

import operator
import os
import xml.etree.ElementTree as ET

import numpy as np

from .hdf5 import open_file, read_rows, write_rows
from .slabs import global_rows, to_slabs

# XDMF TopologyType -> nodes per cell (in XDMF's node order).
TOPOLOGIES = {
    "Triangle": 3, "Quadrilateral": 4, "Tetrahedron": 4, "Pyramid": 5, "Wedge": 6,
    "Hexahedron": 8, "Triangle_6": 6, "Quadrilateral_8": 8, "Quadrilateral_9": 9,
    "Tetrahedron_10": 10, "Hexahedron_20": 20, "Hexahedron_27": 27,
}
# stored row shape -> XDMF AttributeType
ATTRIBUTE_TYPES = {(): "Scalar", (3,): "Vector", (9,): "Tensor"}
_NUMBER_TYPES = {np.dtype(np.float64): ("Float", "8"), np.dtype(np.int64): ("Int", "8")}
_CENTERS = (("vertex", "Node"), ("cell", "Cell"))


def _check_all(comm, problem):
    """Raise ValueError on every rank if any rank has a problem (a message or None).

    Collective on `comm`.
    """
    problems = comm.allgather(problem)
    bad = [(rank, p) for rank, p in enumerate(problems) if p is not None]
    if bad:
        rank, p = bad[0]
        raise ValueError(p if comm.size == 1 else f"rank {rank}: {p}")


def _check_name(name, what):
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/:\\"):
        raise ValueError(f"{what} {name!r} must be a non-empty string without '/', ':' or '\\'")


def stored_rows(name, data, n_rows, dim):
    """`data` as the rows stored in the file: (N,), (N, 3) or (N, 9), float64 or int64.

    Raises ValueError naming the field when its shape or type does not fit.
    """
    a = np.asarray(data)
    if a.ndim == 0 or a.shape[0] != n_rows:
        raise ValueError(f"field {name!r} has shape {a.shape}; {n_rows} rows expected "
                         "(one per vertex or cell given to write_mesh, in the same order)")
    if a.dtype.kind == "f":
        a = a.astype(np.float64, copy=False)
    elif a.dtype.kind in "iub":
        a = a.astype(np.int64, copy=False)
    else:
        raise ValueError(f"field {name!r} has dtype {a.dtype}; floats or integers expected")
    tail = a.shape[1:]
    if tail in ((), (1,)):
        return a.reshape(n_rows)
    if tail in ((9,), (3, 3)):
        return a.reshape(n_rows, 9)
    if tail in ((dim,), (3,)):
        out = np.zeros((n_rows, 3), dtype=a.dtype)
        out[:, :tail[0]] = a
        return out
    raise ValueError(f"field {name!r} has {tail} components per row; allowed: 1 (Scalar), "
                     f"{dim} or 3 (Vector), 9 or 3x3 (Tensor)")


def _data_item(parent, h5_name, path, shape, dtype):
    number, precision = _NUMBER_TYPES[np.dtype(dtype)]
    item = ET.SubElement(parent, "DataItem", Dimensions=" ".join(str(n) for n in shape),
                         DataType=number, Precision=precision, Format="HDF")
    item.text = f"{h5_name}:{path}"


def xdmf_text(h5_name, mesh, steps):
    """The XDMF 3 document for a mesh and its steps.

    `mesh` = (topology, nodes_per_cell, n_vertices, n_cells); `steps` is a
    list of (index, time, fields) in increasing index, fields a list of
    (group, name, shape, dtype) with group "vertex" or "cell".
    """
    topology, nodes_per_cell, n_vertices, n_cells = mesh

    def mesh_grid(parent, name):
        grid = ET.SubElement(parent, "Grid", Name=name, GridType="Uniform")
        topo = ET.SubElement(grid, "Topology", TopologyType=topology,
                             NumberOfElements=str(n_cells), NodesPerElement=str(nodes_per_cell))
        _data_item(topo, h5_name, "/mesh/topology", (n_cells, nodes_per_cell), np.int64)
        geo = ET.SubElement(grid, "Geometry", GeometryType="XYZ")
        _data_item(geo, h5_name, "/mesh/geometry", (n_vertices, 3), np.float64)
        return grid

    root = ET.Element("Xdmf", Version="3.0")
    domain = ET.SubElement(root, "Domain")
    if not steps:
        mesh_grid(domain, "mesh")
    else:
        series = ET.SubElement(domain, "Grid", Name="fields", GridType="Collection",
                               CollectionType="Temporal")
        for index, time, fields in steps:
            grid = mesh_grid(series, f"step {index}")
            grid.insert(0, ET.Element("Time", Value=repr(float(time))))
            for group, name, shape, dtype in fields:
                center = dict(_CENTERS)[group]
                attr = ET.SubElement(grid, "Attribute", Name=name, Center=center,
                                     AttributeType=ATTRIBUTE_TYPES[tuple(shape[1:])])
                _data_item(attr, h5_name, f"/steps/{index}/{group}/{name}", shape, dtype)
    if hasattr(ET, "indent"):
        ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class FieldWriter:
    """Mesh + per-load-step fields in one HDF5 file, described by an XDMF file (temporal collection) for ParaView.

    Collective on `comm`: the constructor and every method must be called by
    all ranks, with the same arguments except for each rank's own rows.
    `topology` is an XDMF TopologyType (see TOPOLOGIES) and `nodes_per_cell`
    must match it; `dim` (2 or 3) is the number of coordinates given.
    A new pair must not exist yet (runs never overwrite earlier output);
    `append=True` reopens an existing pair after a restart, dropping steps
    that were never finished: call `write_mesh` again (it checks the mesh is
    the file's and learns the new partition), `truncate(restart_step)`, then
    go on with `write_step`.
    """

    def __init__(self, comm, directory, name="fields", *, topology, nodes_per_cell, dim,
                 append=False):
        _check_name(name, "file name")
        if topology not in TOPOLOGIES:
            raise ValueError(f"topology {topology!r} is not known; known: {', '.join(TOPOLOGIES)}")
        if nodes_per_cell != TOPOLOGIES[topology]:
            raise ValueError(f"nodes_per_cell = {nodes_per_cell}, but a {topology} has "
                             f"{TOPOLOGIES[topology]} nodes")
        if dim not in (2, 3):
            raise ValueError(f"dim = {dim}; 2 or 3 allowed")
        self.comm = comm
        self.topology, self.nodes_per_cell, self.dim = topology, int(nodes_per_cell), int(dim)
        self.h5_name = f"{name}.h5"
        self.path = os.path.join(str(directory), self.h5_name)
        self.xdmf_path = os.path.join(str(directory), f"{name}.xdmf")
        self._steps = {}            # index -> (time, [(group, name, shape, dtype)])
        self._vertex_ids = self._cell_ids = None    # set by write_mesh
        self.n_vertices = self.n_cells = None
        self.file = None

        found = None
        if comm.rank == 0:
            found = [p for p in (self.path, self.xdmf_path) if os.path.exists(p)]
            if not os.path.isdir(str(directory)):
                found = None
        found = comm.bcast(found, root=0)
        if found is None:
            raise FileNotFoundError(f"{directory}: no such directory")
        if append:
            if self.path not in found:
                raise FileNotFoundError(f"{self.path}: no field file to append to")
            self._reopen()
        else:
            if found:
                raise FileExistsError(f"{', '.join(found)} already exist(s); field output is "
                                      "never overwritten (append=True continues it)")
            self.file = open_file(self.path, "w-", comm)
            self._mesh_exists = False

    # -- reopening ------------------------------------------------------------

    def _reopen(self):
        """Open the file r+, check its mesh, read its steps, drop unfinished ones."""
        f = self.file = open_file(self.path, "r+", self.comm)
        try:
            attrs = f["mesh"].attrs
            have = (str(attrs["topology"]), int(attrs["nodes_per_cell"]), int(attrs["dim"]))
            self.n_vertices = int(f["mesh/geometry"].shape[0])
            self.n_cells = int(f["mesh/topology"].shape[0])
        except KeyError as e:
            self.close()
            raise ValueError(f"{self.path} is not an hpcms field file (missing {e})") from None
        if have != (self.topology, self.nodes_per_cell, self.dim):
            self.close()
            raise ValueError(f"{self.path} holds a mesh of (topology, nodes_per_cell, dim) = "
                             f"{have}, not {(self.topology, self.nodes_per_cell, self.dim)}")
        self._mesh_exists = True
        unfinished = []
        for key, group in f.get("steps", {}).items():
            if "time" not in group.attrs:
                unfinished.append(key)
                continue
            fields = [(g, n, d.shape, d.dtype) for g, _ in _CENTERS for n, d in group[g].items()]
            self._steps[int(group.attrs["index"])] = (float(group.attrs["time"]), fields)
        for key in unfinished:
            del f["steps"][key]
        f.flush()
        self._write_xdmf()

    # -- writing --------------------------------------------------------------

    @property
    def steps(self):
        """[(index, time)] of the steps in the file, in increasing index."""
        return [(i, self._steps[i][0]) for i in sorted(self._steps)]

    def _open_file(self):
        if self.file is None:
            raise ValueError(f"{self.path}: the field writer is closed")
        return self.file

    def write_mesh(self, vertex_ids, X, cell_ids, connectivity):
        """Write the mesh once, rows in global id order.  Collective on comm.

        `vertex_ids` (n_v_owned,) are this rank's global vertex ids, dense
        0..N_v-1 over all ranks; `X` (n_v_owned, dim) their reference
        coordinates; `cell_ids` (n_c_owned,) dense global cell ids and
        `connectivity` (n_c_owned, nodes_per_cell) their global vertex ids
        in XDMF node order.  Fields given to write_step follow the same row
        order.  On a reopened file (append=True) the mesh is compared with
        the file's instead, and a difference is an error.
        """
        f = self._open_file()
        comm = self.comm
        vertex_ids, cell_ids = np.asarray(vertex_ids), np.asarray(cell_ids)
        X, connectivity = np.asarray(X), np.asarray(connectivity)
        n_v, n_c = len(vertex_ids), len(cell_ids)
        problem = None
        if vertex_ids.ndim != 1 or cell_ids.ndim != 1 or vertex_ids.dtype.kind not in "iu" \
                or cell_ids.dtype.kind not in "iu":
            problem = "vertex_ids and cell_ids must be 1-D integer arrays"
        elif X.shape != (n_v, self.dim) or X.dtype.kind not in "fiu":
            problem = f"X has shape {X.shape} ({X.dtype}); ({n_v}, {self.dim}) floats expected"
        elif (connectivity.shape != (n_c, self.nodes_per_cell)
              or connectivity.dtype.kind not in "iu"):
            problem = (f"connectivity has shape {connectivity.shape} ({connectivity.dtype}); "
                       f"({n_c}, {self.nodes_per_cell}) integers expected")
        _check_all(comm, problem)
        n_vertices, n_cells = comm.allreduce(n_v), comm.allreduce(n_c)
        if n_vertices == 0 or n_cells == 0:
            raise ValueError(f"the mesh has {n_vertices} vertices and {n_cells} cells; "
                             "at least one of each is needed")
        vertex_ids, cell_ids = vertex_ids.astype(np.int64), cell_ids.astype(np.int64)
        connectivity = connectivity.astype(np.int64)
        # Ids are 0..N-1, each once, exactly when each id is its own row in the sorted order.
        vertex_rows, cell_rows = global_rows(comm, vertex_ids), global_rows(comm, cell_ids)
        problem = None
        if not np.array_equal(vertex_rows, vertex_ids):
            problem = f"vertex ids are not 0..{n_vertices - 1}, each on exactly one rank"
        elif not np.array_equal(cell_rows, cell_ids):
            problem = f"cell ids are not 0..{n_cells - 1}, each on exactly one rank"
        elif n_c and (connectivity.min() < 0 or connectivity.max() >= n_vertices):
            problem = f"connectivity holds vertex ids outside 0..{n_vertices - 1}"
        _check_all(comm, problem)

        geometry = np.zeros((n_v, 3))
        geometry[:, :self.dim] = X
        v_lo, _, (geometry,) = to_slabs(comm, vertex_ids, n_vertices, [geometry])
        c_lo, _, (topology,) = to_slabs(comm, cell_ids, n_cells, [connectivity])
        if self._mesh_exists:
            problem = None
            if (n_vertices, n_cells) != (self.n_vertices, self.n_cells):
                problem = (f"the mesh has {n_vertices} vertices and {n_cells} cells, {self.path} "
                           f"{self.n_vertices} and {self.n_cells}")
            _check_all(comm, problem)
            same = (np.array_equal(read_rows(f["mesh/geometry"], v_lo, v_lo + len(geometry)),
                                   geometry)
                    and np.array_equal(read_rows(f["mesh/topology"], c_lo, c_lo + len(topology)),
                                       topology))
            _check_all(comm, None if same else f"the mesh differs from the one in {self.path}")
        else:
            mesh = f.create_group("mesh")
            mesh.attrs["topology"] = self.topology
            mesh.attrs["nodes_per_cell"] = np.int64(self.nodes_per_cell)
            mesh.attrs["dim"] = np.int64(self.dim)
            write_rows(mesh.create_dataset("geometry", (n_vertices, 3), np.float64), v_lo, geometry)
            write_rows(mesh.create_dataset("topology", (n_cells, self.nodes_per_cell), np.int64),
                       c_lo, topology)
            f.create_group("steps")
            self._mesh_exists = True
            self.n_vertices, self.n_cells = n_vertices, n_cells
            f.flush()
        self._vertex_ids, self._cell_ids = vertex_ids, cell_ids
        self._write_xdmf()

    def write_step(self, index, time, vertex_fields, cell_fields):
        """Write the fields of load step `index` at `time`, then relist the steps in the XDMF.

        `vertex_fields` / `cell_fields` map names to arrays whose rows follow
        the ids given to write_mesh (see the module docstring for the shapes
        allowed).  Every rank passes the same index, time and field names
        and kinds.  Indices must increase from step to step.  Collective on
        comm.
        """
        f = self._open_file()
        comm = self.comm
        if self._vertex_ids is None:
            raise ValueError("write_mesh must be called before write_step")
        problem, arrays = None, {}
        try:
            index, time = operator.index(index), float(time)
            last = max(self._steps, default=-1)
            if index <= last:
                raise ValueError(f"step index {index} does not follow the last step {last} "
                                 "(truncate first to rewrite steps)")
            for group, fields, n_rows in (("vertex", vertex_fields, len(self._vertex_ids)),
                                          ("cell", cell_fields, len(self._cell_ids))):
                for name, data in sorted((fields or {}).items()):
                    _check_name(name, "field name")
                    arrays[group, name] = stored_rows(name, data, n_rows, self.dim)
        except (TypeError, ValueError) as e:
            problem = str(e)
        _check_all(comm, problem)
        spec = (index, time, [(g, n, a.shape[1:], a.dtype.str) for (g, n), a in arrays.items()])
        specs = comm.allgather(spec)
        _check_all(comm, None if all(s == specs[0] for s in specs) else
                   f"ranks disagree on (index, time, fields): {specs[0]} vs {spec}")

        out = {}
        for group, ids, n_global in (("vertex", self._vertex_ids, self.n_vertices),
                                     ("cell", self._cell_ids, self.n_cells)):
            names = [n for g, n in arrays if g == group]
            lo, _, slabs = to_slabs(comm, ids, n_global, [arrays[group, n] for n in names])
            out.update({(group, n): (lo, s) for n, s in zip(names, slabs)})
        step = f["steps"].create_group(str(index))
        fields = []
        for group, _ in _CENTERS:
            parent = step.create_group(group)
            for (g, name), a in arrays.items():
                if g == group:
                    n_global = self.n_vertices if g == "vertex" else self.n_cells
                    shape = (n_global,) + a.shape[1:]
                    lo, rows = out[g, name]
                    write_rows(parent.create_dataset(name, shape, a.dtype), lo, rows)
                    fields.append((g, name, shape, a.dtype))
        step.attrs["index"] = np.int64(index)
        step.attrs["time"] = np.float64(time)      # last: marks the step finished
        f.flush()
        self._steps[index] = (time, fields)
        self._write_xdmf()

    def truncate(self, last_index):
        """Drop the steps with index > last_index (restart from that step).  Collective on comm."""
        f = self._open_file()
        last_index = operator.index(last_index)
        for index in [i for i in self._steps if i > last_index]:
            del f["steps"][str(index)]
            del self._steps[index]
        f.flush()
        self._write_xdmf()

    def _write_xdmf(self):
        """Rank 0 replaces the XDMF file by one listing the file's steps.  Collective on comm."""
        problem = None
        if self.comm.rank == 0 and self.n_vertices is not None:
            steps = [(i, t, fields) for i, (t, fields) in sorted(self._steps.items())]
            text = xdmf_text(self.h5_name, (self.topology, self.nodes_per_cell, self.n_vertices,
                                            self.n_cells), steps)
            tmp = self.xdmf_path + ".tmp"
            try:
                with open(tmp, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.xdmf_path)
            except OSError as e:
                problem = f"{self.xdmf_path}: {e}"
        problem = self.comm.bcast(problem, root=0)
        if problem is not None:
            raise OSError(problem)

    def close(self):
        """Close the HDF5 file (the XDMF file is always up to date).  Collective on comm."""
        if self.file is not None:
            self.file.close()
            self.file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
