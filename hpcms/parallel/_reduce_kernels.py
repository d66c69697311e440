"""Fixed-point limbs of float64 values (numba kernel for `reduce.exact_sum`).

A value x with |x| < 2**64 is cut, truncating toward zero, into N_LIMBS signed
integers d_0..d_4 with |d_l| < 2**32 and

    x ~= sum_l d_l * 2**(32 - 32 l),     error < 2**-96,

i.e. a 128-bit fixed-point number with FRAC_BITS = 96 fractional bits.  Every
step is exact in float64 (scaling by powers of two, removing the integer part),
so the limbs of a value do not depend on anything but the value.
"""

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
