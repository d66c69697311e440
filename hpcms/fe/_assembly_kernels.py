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
