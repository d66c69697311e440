"""Philox4x32-10 and the normal variates built on it (numba kernels).

Philox4x32-10 is the counter-based generator of Salmon et al., "Parallel random
numbers: as easy as 1, 2, 3" (SC 2011), bit-compatible with Random123's
`philox4x32_R(10, ctr, key)`.  All 32-bit words are carried in uint64
variables and masked, so the arithmetic is exact on every platform.

Counter layout (the key is the 64-bit seed, low word first):

- per particle: (id_lo, id_hi, step, stream << 8 | block), stream < 2**23,
  block < 256, ids in [0, 2**63), step in [0, 2**32);
- per pair:     (a_lo, b_lo, step, 2**31 | a_hi << 15 | b_hi) with a < b the
  two ids, both in [0, 2**47).

The top bit of the fourth word keeps the two families disjoint.  Uniforms are
53-bit, in (0, 1]; normals come from Box–Muller.
"""

import math

import numba
import numpy as np

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)
_SHIFT8 = np.uint64(8)
_SHIFT11 = np.uint64(11)
_SHIFT15 = np.uint64(15)
_SHIFT32 = np.uint64(32)
_PAIR_FLAG = np.uint64(0x80000000)
_TWO_M53 = 2.0 ** -53
_TWO_PI = 2.0 * math.pi


@numba.njit(cache=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) and key (k0, k1), 32-bit words in uint64."""
    for r in range(10):
        if r > 0:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0 = p0 >> _SHIFT32
        hi1 = p1 >> _SHIFT32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, p1 & _MASK32, hi0 ^ c3 ^ k1, p0 & _MASK32
    return c0, c1, c2, c3


@numba.njit(cache=True)
def _uniform53(hi, lo):
    """Uniform in (0, 1] from the top 53 bits of the 64-bit word hi:lo."""
    x = (hi << _SHIFT32) | lo
    return np.float64((x >> _SHIFT11) + _ONE) * _TWO_M53


@numba.njit(cache=True)
def _box_muller(w0, w1, w2, w3):
    """Two independent standard normals from one Philox output block."""
    radius = math.sqrt(-2.0 * math.log(_uniform53(w0, w1)))
    angle = _TWO_PI * _uniform53(w2, w3)
    return radius * math.cos(angle), radius * math.sin(angle)


@numba.njit(cache=True)
def particle_gaussian3(seed, step, stream, pid):
    """Three standard normals keyed by (seed, step, particle id, stream)."""
    s = np.uint64(seed)
    p = np.uint64(pid)
    k0 = s & _MASK32
    k1 = s >> _SHIFT32
    c0 = p & _MASK32
    c1 = p >> _SHIFT32
    c2 = np.uint64(step) & _MASK32
    c3 = np.uint64(stream) << _SHIFT8
    w0, w1, w2, w3 = philox4x32_10(c0, c1, c2, c3, k0, k1)
    g0, g1 = _box_muller(w0, w1, w2, w3)
    w0, w1, w2, w3 = philox4x32_10(c0, c1, c2, c3 | _ONE, k0, k1)
    g2, _ = _box_muller(w0, w1, w2, w3)
    return g0, g1, g2


@numba.njit(cache=True)
def gaussian3_kernel(seed, step, stream, ids, out):
    """out[i, 0:3] = particle_gaussian3(seed, step, stream, ids[i])."""
    for i in range(ids.shape[0]):
        g0, g1, g2 = particle_gaussian3(seed, step, stream, ids[i])
        out[i, 0] = g0
        out[i, 1] = g1
        out[i, 2] = g2


@numba.njit(cache=True)
def pair_gaussian(seed, step, i, j):
    """One standard normal keyed by (seed, step, min(i, j), max(i, j)).

    Symmetric in i and j, so both ranks that hold a pair draw the same number
    (DPD random force).  Ids must lie in [0, 2**47), step in [0, 2**32).
    """
    a = np.uint64(min(i, j))
    b = np.uint64(max(i, j))
    s = np.uint64(seed)
    c3 = _PAIR_FLAG | ((a >> _SHIFT32) << _SHIFT15) | (b >> _SHIFT32)
    w0, w1, w2, w3 = philox4x32_10(a & _MASK32, b & _MASK32,
                                   np.uint64(step) & _MASK32, c3,
                                   s & _MASK32, s >> _SHIFT32)
    g0, _ = _box_muller(w0, w1, w2, w3)
    return g0
