"""Kernel of the checkpoint checksum."""

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ODD = np.uint64(0xD1B54A32D192ED03)


@numba.njit(cache=True)
def weighted_word_sum(words, first):
    """Sum over k of mix(words[k]) * weight(first + k), modulo 2**64."""
    total = np.uint64(0)
    for k in range(words.shape[0]):
        w = words[k]
        weight = (np.uint64(first + np.uint64(k)) * _GOLDEN + _ODD) | np.uint64(1)
        total += (w ^ (w >> np.uint64(29))) * weight
    return total
