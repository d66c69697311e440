"""Exact, order-independent global sums.

`exact_sum(comm, values)` returns the same bytes whatever the partition of the
entries among ranks and whatever their order, which is what lets a thermostat
or barostat act identically on any number of ranks.

Method: every value is turned into a 128-bit fixed-point number with 96
fractional bits (five signed 32-bit limbs held in int64 words, see
`_reduce_kernels`); the limbs are added as integers, locally by a numba kernel
and globally by `comm.Allreduce(..., MPI.SUM)` on int64 (integer addition is
associative, so order cannot matter); the exact integer total is then rounded
once to the nearest float64.

Range: entries must be finite with |x| < 2**64 (about 1.8e19), and at most
2**31 (about 2.1e9) entries per column over all ranks.  Each entry is truncated
toward zero to a multiple of 2**-96 (about 1.3e-29) before the sum, so the
result is the correctly rounded sum of the truncated entries: exactly
`math.fsum` of the entries whenever they have no bits below 2**-96.
"""

import numpy as np
from mpi4py import MPI

from ._reduce_kernels import N_LIMBS, RANGE, accumulate_limbs, round_limbs

__all__ = ["exact_sum", "MAX_ENTRIES", "RANGE"]

MAX_ENTRIES = 2 ** 31


def exact_sum(comm, values):
    """Sum of `values` over all local entries and all ranks, bitwise reproducible.

    values: (n,) float64 -> float, or (n, k) -> (k,) float64 ndarray of the
    column sums.  n may differ between ranks (zero included); k and the number
    of dimensions must be the same on every rank.  Raises ValueError on every
    rank if any entry anywhere is not finite or has |x| >= 2**64, or if a column
    has more than 2**31 entries in all.  Collective on `comm`.
    """
    local = np.asarray(values, dtype=np.float64)
    if local.ndim not in (1, 2):
        raise ValueError(f"exact_sum: values must be (n,) or (n, k), not {local.shape}")
    table = local[:, None] if local.ndim == 1 else local
    n_cols = table.shape[1]
    words = np.zeros(n_cols * N_LIMBS + 2, dtype=np.int64)
    limbs = words[:-2].reshape(n_cols, N_LIMBS)
    words[-2] = accumulate_limbs(table, limbs)
    words[-1] = table.shape[0]
    comm.Allreduce(MPI.IN_PLACE, words, op=MPI.SUM)
    n_bad, n_entries = int(words[-2]), int(words[-1])
    if n_bad:
        raise ValueError(f"exact_sum: {n_bad} entries are not finite or have |x| >= {RANGE:.3e}")
    if n_entries > MAX_ENTRIES:
        raise ValueError(f"exact_sum: {n_entries} entries per column exceed {MAX_ENTRIES}")
    sums = np.empty(n_cols)
    round_limbs(limbs, sums)
    return float(sums[0]) if local.ndim == 1 else sums
