"""Kernels that move element arrays to and from vertex arrays (arrays only)."""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def gather(values, cells, out):
    """out[e, a, :] = values[cells[e, a], :] for vertex values (n_vertices, dim)."""
    for e in range(cells.shape[0]):
        for a in range(cells.shape[1]):
            v = cells[e, a]
            for i in range(values.shape[1]):
                out[e, a, i] = values[v, i]


@nb.njit(cache=True)
def scatter_add(element_values, cells, dim, out):
    """out[cells[e, a] * dim + i] += element_values[e, a * dim + i]."""
    for e in range(cells.shape[0]):
        for a in range(cells.shape[1]):
            base = cells[e, a] * dim
            for i in range(dim):
                out[base + i] += element_values[e, a * dim + i]


@nb.njit(cache=True)
def element_dofs(cells, dim, out):
    """out[e, a * dim + i] = cells[e, a] * dim + i: local dof numbers of each element."""
    for e in range(cells.shape[0]):
        for a in range(cells.shape[1]):
            for i in range(dim):
                out[e, a * dim + i] = cells[e, a] * dim + i


@nb.njit(cache=True)
def vertex_graph(cells, n_vertices):
    """The vertex graph of the cells: (ptr, cols), each vertex's neighbours in
    cols[ptr[v]:ptr[v+1]], sorted, itself included (vertices sharing a cell)."""
    ne, nn = cells.shape
    # vertex -> cells (counting sort)
    start = np.zeros(n_vertices + 1, dtype=np.int64)
    for e in range(ne):
        for a in range(nn):
            start[cells[e, a] + 1] += 1
    for v in range(n_vertices):
        start[v + 1] += start[v]
    fill = start[:-1].copy()
    incident = np.empty(ne * nn, dtype=np.int64)
    for e in range(ne):
        for a in range(nn):
            v = cells[e, a]
            incident[fill[v]] = e
            fill[v] += 1
    # distinct neighbours: count, then fill and sort each row
    mark = np.full(n_vertices, -1, dtype=np.int64)
    ptr = np.zeros(n_vertices + 1, dtype=np.int64)
    for v in range(n_vertices):
        n = 0
        for m in range(start[v], start[v + 1]):
            e = incident[m]
            for a in range(nn):
                w = cells[e, a]
                if mark[w] != v:
                    mark[w] = v
                    n += 1
        ptr[v + 1] = ptr[v] + n
    cols = np.empty(ptr[n_vertices], dtype=np.int64)
    mark[:] = -1
    for v in range(n_vertices):
        n = ptr[v]
        for m in range(start[v], start[v + 1]):
            e = incident[m]
            for a in range(nn):
                w = cells[e, a]
                if mark[w] != v:
                    mark[w] = v
                    cols[n] = w
                    n += 1
        cols[ptr[v]:ptr[v + 1]] = np.sort(cols[ptr[v]:ptr[v + 1]])
    return ptr, cols


@nb.njit(cache=True)
def dof_pattern(ptr, cols, dim, indptr, indices):
    """Scalar CSR of the dofs (dof = vertex * dim + component) from the vertex graph.

    Row v*dim + i holds the columns w*dim + k of every neighbour w (sorted) and
    component k; indptr (n_vertices*dim + 1,), indices (ptr[-1]*dim*dim,).
    """
    nv = ptr.shape[0] - 1
    indptr[0] = 0
    for v in range(nv):
        deg = ptr[v + 1] - ptr[v]
        for i in range(dim):
            row = v * dim + i
            base = indptr[row]
            for s in range(deg):
                w = cols[ptr[v] + s]
                for k in range(dim):
                    indices[base + s * dim + k] = w * dim + k
            indptr[row + 1] = base + deg * dim


@nb.njit(cache=True)
def element_offsets(cells, start, length, columns, key, kind, dim, out):
    """Where each element block lands in a block-row matrix layout.

    Local vertex v's row is split in segments (kind 0 and 1: the diagonal and
    off-diagonal parts of a distributed matrix), segment k holding the blocks
    columns[start[v, k]:start[v, k] + length[v, k]], sorted; a column vertex w
    is found in segment kind[w] under key[w].  Values are stored scalar-row
    by scalar-row: block slot s of segment (v, k), entry (i, j), sits at
    dim*dim*start[v, k] + i*dim*length[v, k] + dim*s + j.

    out[e, a*nn + b]: that position for entry (0, 0) of block (a, b) of
    element e (row vertex cells[e, a], column vertex cells[e, b]); -1 when
    the column is missing (a caller's error).
    """
    ne, nn = cells.shape
    for e in range(ne):
        for a in range(nn):
            v = cells[e, a]
            for b in range(nn):
                w = cells[e, b]
                k = kind[w]
                lo = start[v, k]
                hi = lo + length[v, k]
                target = key[w]
                # binary search of the column in the sorted segment
                l, h = lo, hi
                while h - l > 1:
                    mid = (l + h) // 2
                    if columns[mid] <= target:
                        l = mid
                    else:
                        h = mid
                if l < hi and columns[l] == target:
                    out[e, a * nn + b] = dim * dim * lo + (l - lo) * dim
                else:
                    out[e, a * nn + b] = -1
