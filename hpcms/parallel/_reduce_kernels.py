"""Fixed-point limbs of float64 values and their rounding (kernels of `reduce.exact_sum`).

A value x with |x| < 2**64 is cut, truncating toward zero, into N_LIMBS signed
integers d_0..d_4 with |d_l| < 2**32 and

    x ~= sum_l d_l * 2**(32 - 32 l),     error < 2**-96,

i.e. a 128-bit fixed-point number with FRAC_BITS = 96 fractional bits.  Every
step is exact in float64 (scaling by powers of two, removing the integer part),
so the limbs of a value do not depend on anything but the value.
"""

import math

import numba
import numpy as np

N_LIMBS = 5
FRAC_BITS = 96
LIMB_BITS = 32
RANGE = 2.0 ** 64

_LIMB = 2.0 ** LIMB_BITS
_TOP = 2.0 ** -LIMB_BITS


@numba.njit(cache=True)
def accumulate_limbs(values, acc):
    """acc[j, l] += limb l of values[i, j] for all i; returns the bad-entry count.

    values: (n, k) float64; acc: (k, N_LIMBS) int64.  Entries that are not
    finite or have |x| >= RANGE are counted and skipped.
    """
    n_bad = 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            x = values[i, j]
            if not abs(x) < RANGE:
                n_bad += 1
                continue
            r = x * _TOP
            for limb in range(N_LIMBS):
                d = np.int64(r)
                acc[j, limb] += d
                r = (r - np.float64(d)) * _LIMB
    return n_bad


# --- rounding the limb sums ---------------------------------------------------------
#
# `round_limbs` gives the float64 nearest to the exact total of summed limbs,
# ties to even (what Python's int / int of the same integers returns): the
# limbs are carried into base-2**32 digits, the magnitude's top 53 bits are the
# mantissa, the next bit and whether any bit below it is set decide the rounding.

@numba.njit(cache=True, error_model="numpy")
def _digit_bit(e0, e1, e2, e3, e4, p):
    """Bit p (0 = least significant) of e0 2**128 + e1 2**96 + ... + e4."""
    if p >= 128:
        return (e0 >> (p - 128)) & 1
    if p >= 96:
        return (e1 >> (p - 96)) & 1
    if p >= 64:
        return (e2 >> (p - 64)) & 1
    if p >= 32:
        return (e3 >> (p - 32)) & 1
    return (e4 >> p) & 1


@numba.njit(cache=True, error_model="numpy")
def limbs_to_float(limb_sums):
    """The float64 nearest to sum_l limb_sums[l] 2**(32 - 32 l) (ties to even).
    limb_sums: (N_LIMBS,) int64."""
    mask = np.int64(0xFFFFFFFF)
    # Limbs 4, 3, 2, 1 carried into digits in [0, 2**32) (floor division by
    # 2**32 is an arithmetic shift), the signed rest into the top digit.
    low = limb_sums[4] & mask
    e4 = low & mask
    carry = (limb_sums[4] >> 32) + (low >> 32)
    low = (limb_sums[3] & mask) + carry
    e3 = low & mask
    carry = (limb_sums[3] >> 32) + (low >> 32)
    low = (limb_sums[2] & mask) + carry
    e2 = low & mask
    carry = (limb_sums[2] >> 32) + (low >> 32)
    low = (limb_sums[1] & mask) + carry
    e1 = low & mask
    carry = (limb_sums[1] >> 32) + (low >> 32)
    e0 = limb_sums[0] + carry
    negative = e0 < 0
    if negative:                # magnitude: -(e0 2**128 + D)
        if e1 == 0 and e2 == 0 and e3 == 0 and e4 == 0:
            e0 = -e0
        else:
            e0 = -e0 - 1
            e1, e2, e3, e4 = mask - e1, mask - e2, mask - e3, mask - e4 + 1
            if e4 > mask:
                e4 = 0
                e3 += 1
                if e3 > mask:
                    e3 = 0
                    e2 += 1
                    if e2 > mask:
                        e2 = 0
                        e1 += 1
                        if e1 > mask:
                            e1 = 0
                            e0 += 1
    top = -1
    for p in range(190, -1, -1):
        if _digit_bit(e0, e1, e2, e3, e4, p):
            top = p
            break
    if top < 0:
        return 0.0
    if top <= 52:               # below 2**53: exact
        value = (np.float64(e2) * 18446744073709551616.0 + np.float64(e3) * 4294967296.0) \
            + np.float64(e4)
        value = value * 2.0 ** -96
    else:
        shift = top - 52
        mantissa = np.int64(0)
        for p in range(top, shift - 1, -1):
            mantissa = 2 * mantissa + _digit_bit(e0, e1, e2, e3, e4, p)
        half = _digit_bit(e0, e1, e2, e3, e4, shift - 1)
        sticky = 0
        for p in range(shift - 2, -1, -1):
            if _digit_bit(e0, e1, e2, e3, e4, p):
                sticky = 1
                break
        if half and (sticky or (mantissa & 1)):
            mantissa += 1
        value = math.ldexp(np.float64(mantissa), shift - 96)
    return -value if negative else value


@numba.njit(cache=True, error_model="numpy")
def round_limbs(limbs, out):
    """out[j] = limbs_to_float(limbs[j]) for every column j."""
    for j in range(limbs.shape[0]):
        out[j] = limbs_to_float(limbs[j])
