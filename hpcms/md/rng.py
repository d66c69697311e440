"""Counter-based random numbers keyed by (seed, step, global particle id, stream).

A particle's random numbers are a pure function of the seed, the step, its
global id and a small stream number that separates uses, so they never depend
on the rank that owns the particle, on the order of the arrays or on the
decomposition.  The generator is Philox4x32-10 (Random123); see
`hpcms.md._rng_kernels` for the counter layout.

Streams in use: `STREAM_INITIAL_VELOCITY` (0), `STREAM_LANGEVIN` (1), and in
`hpcms.fe2.rve` `STREAM_VACANCY` (16), `STREAM_EVALUATION_SEED` (17).
`pair_gaussian(seed, step, i, j)` is a numba function for other kernels
(DPD): one normal per pair, symmetric in the two ids.
"""

import numpy as np

from ._rng_kernels import gaussian3_kernel, pair_gaussian, philox4x32_10

__all__ = ["STREAM_INITIAL_VELOCITY", "STREAM_LANGEVIN", "check_key", "gaussian3",
           "pair_gaussian", "philox"]

STREAM_INITIAL_VELOCITY = 0
STREAM_LANGEVIN = 1

MAX_SEED = 2 ** 64
MAX_STEP = 2 ** 32
MAX_STREAM = 2 ** 23


def check_key(seed, step, stream):
    """Raise ValueError unless seed, step and stream fit the counter layout."""
    for name, value, limit in (("seed", seed, MAX_SEED), ("step", step, MAX_STEP),
                               ("stream", stream, MAX_STREAM)):
        if not 0 <= value < limit:
            raise ValueError(f"rng: {name} = {value} is outside [0, {limit})")


def gaussian3(seed, step, stream, ids, out=None):
    """Three standard normals per particle, keyed by (seed, step, ids[i], stream).

    ids: (n,) int64 global ids in [0, 2**63).  out: (n, 3) float64, written
    and returned (allocated when None).  Local: no communication.
    """
    check_key(seed, step, stream)
    ids = np.asarray(ids, dtype=np.int64)
    if out is None:
        out = np.empty((ids.shape[0], 3))
    gaussian3_kernel(np.uint64(seed), np.int64(step), np.int64(stream), ids, out)
    return out


def philox(counter, key):
    """Philox4x32-10 of four 32-bit counter words and two key words -> uint32[4]."""
    words = [int(w) for w in counter] + [int(w) for w in key]
    if len(words) != 6 or not all(0 <= w < 2 ** 32 for w in words):
        raise ValueError("philox: counter is four and key two 32-bit words")
    return np.array(philox4x32_10(*(np.uint64(w) for w in words)), dtype=np.uint32)
