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

The top bit of the fourth word keeps the two families disjoint.  Per-particle
normals come from Box–Muller on 53-bit uniforms in (0, 1].  The pair normal
(one per pair and step: the DPD random force, the hot path) inverts the
normal CDF (Wichura's AS241, relative error about 1e-16) at one 52-bit
uniform in (0, 1): no cos and, for 85 % of the draws, no log.  Its Philox
(`philox4x32_10_u32`) carries the words in uint32, the same bits, so that a
loop over many pairs (`pair_uniform` in a kernel) compiles to SIMD code.
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
_SHIFT12 = np.uint64(12)
_SHIFT15 = np.uint64(15)
_SHIFT32 = np.uint64(32)
_PAIR_FLAG = np.uint64(0x80000000)
_TWO_M53 = 2.0 ** -53
_TWO_M52 = 2.0 ** -52
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


_W0_32 = np.uint32(0x9E3779B9)
_W1_32 = np.uint32(0xBB67AE85)


@numba.njit(cache=True, inline="always")
def _philox_round_u32(c0, c1, c2, c3, k0, k1):
    p0 = _M0 * np.uint64(c0)
    p1 = _M1 * np.uint64(c2)
    return (np.uint32(np.uint32(p1 >> _SHIFT32) ^ c1 ^ k0), np.uint32(p1),
            np.uint32(np.uint32(p0 >> _SHIFT32) ^ c3 ^ k1), np.uint32(p0))


@numba.njit(cache=True, inline="always")
def philox4x32_10_u32(c0, c1, c2, c3, k0, k1):
    """`philox4x32_10` with every word a uint32: the same output, SIMD-friendly."""
    c0, c1, c2, c3 = _philox_round_u32(c0, c1, c2, c3, k0, k1)
    for _ in range(9):
        k0 = np.uint32(k0 + _W0_32)
        k1 = np.uint32(k1 + _W1_32)
        c0, c1, c2, c3 = _philox_round_u32(c0, c1, c2, c3, k0, k1)
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


@numba.njit(cache=True, inline="always")
def pair_normal_central(q):
    """`pair_normal` for q = u - 1/2 with |q| <= 0.425 (85 % of draws): a
    rational function, no branch (other q give a number to be discarded)."""
    r = 0.180625 - q * q
    num = (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r
                + 6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r
              + 1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r
            + 1.3314166789178437745e+2) * r + 3.3871328727963666080e+0) * q
    den = (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r
                + 3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r
              + 5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r
            + 4.2313330701600911252e+1) * r + 1.0)
    return num / den


@numba.njit(cache=True)
def pair_normal(u):
    """The standard normal x with P(X < x) = u, for u in (0, 1): AS241 (PPND16).

    M. J. Wichura, Appl. Statist. 37, 477 (1988); the coefficients and steps
    of CPython's `statistics.NormalDist.inv_cdf`.
    """
    q = u - 0.5
    if abs(q) <= 0.425:
        return pair_normal_central(q)
    r = u if q <= 0.0 else 1.0 - u
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r = r - 1.6
        num = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                    + 2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r
                  + 3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r
                + 4.63033784615654529590e+0) * r + 1.42343711074968357734e+0)
        den = (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                    + 1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r
                  + 6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r
                + 2.05319162663775882187e+0) * r + 1.0)
    else:
        r = r - 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
                  + 2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r
                + 5.46378491116411436990e+0) * r + 6.65790464350110377720e+0)
        den = (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                    + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
                  + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r
                + 5.99832206555887937690e-1) * r + 1.0)
    x = num / den
    return -x if q < 0.0 else x


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


@numba.njit(cache=True, inline="always")
def pair_counter(i, j):
    """The counter words (c0, c1, c3) of the pair (min(i, j), max(i, j)), as uint32.

    c2 is the step.  Ids must lie in [0, 2**47).
    """
    a = np.uint64(min(i, j))
    b = np.uint64(max(i, j))
    return (np.uint32(a & _MASK32), np.uint32(b & _MASK32),
            np.uint32(_PAIR_FLAG | ((a >> _SHIFT32) << _SHIFT15) | (b >> _SHIFT32)))


@numba.njit(cache=True, inline="always")
def pair_uniform(c0, c1, c2, c3, k0, k1):
    """(k + 1/2) 2**-52 in (0, 1), k the top 52 bits of Philox words 0 and 1
    (uint32 counter and key words).  Symmetric about 1/2; k + 1/2 is exact."""
    w0, w1, _, _ = philox4x32_10_u32(c0, c1, c2, c3, k0, k1)
    k = np.int64(((np.uint64(w0) << _SHIFT32) | np.uint64(w1)) >> _SHIFT12)
    return (np.float64(k) + 0.5) * _TWO_M52


@numba.njit(cache=True)
def pair_gaussian(seed, step, i, j):
    """One standard normal keyed by (seed, step, min(i, j), max(i, j)).

    Symmetric in i and j, so both ranks that hold a pair draw the same number
    (DPD random force).  Ids must lie in [0, 2**47), step in [0, 2**32).
    Equal to ``pair_normal(pair_uniform(...))`` over the same counter, which is
    how the DPD kernels draw many at once.
    """
    c0, c1, c3 = pair_counter(i, j)
    s = np.uint64(seed)
    u = pair_uniform(c0, c1, np.uint32(np.uint64(step) & _MASK32), c3,
                     np.uint32(s & _MASK32), np.uint32(s >> _SHIFT32))
    return pair_normal(u)
