"""Philox4x32-10 known answers and the statistics of the normals built on it."""

import numba
import numpy as np
import pytest

from hpcms.md.rng import check_key, gaussian3, pair_gaussian, philox

# Random123 kat_vectors, philox4x32 with 10 rounds: counter, key, result.
KATS = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


@pytest.mark.parametrize("counter, key, expected", KATS)
def test_philox_known_answers(counter, key, expected):
    assert philox(counter, key).tolist() == expected


def test_philox_rejects_words_wider_than_32_bits():
    with pytest.raises(ValueError, match="32-bit"):
        philox([2 ** 32, 0, 0, 0], [0, 0])


def _check_standard_normal(z, n_sigma=5.0):
    n = z.size
    assert abs(z.mean()) < n_sigma / np.sqrt(n)
    assert abs(z.var() - 1.0) < n_sigma * np.sqrt(2.0 / n)
    kurtosis = np.mean(z ** 4)
    assert abs(kurtosis - 3.0) < n_sigma * np.sqrt(96.0 / n)
    tail = np.mean(np.abs(z) > 3.0)
    p = 0.0026997961
    assert abs(tail - p) < n_sigma * np.sqrt(p / n)


def test_gaussian3_moments_and_independence():
    n = 200_000
    z = gaussian3(seed=2024, step=7, stream=1, ids=np.arange(n))
    for column in z.T:
        _check_standard_normal(column)
    bound = 5.0 / np.sqrt(n)
    corr = np.corrcoef(z.T)
    assert np.all(np.abs(corr[np.triu_indices(3, 1)]) < bound)
    # Neighbouring ids, the next step and another stream are uncorrelated.
    assert abs(np.corrcoef(z[:-1, 0], z[1:, 0])[0, 1]) < bound
    for other in (gaussian3(2024, 8, 1, np.arange(n)), gaussian3(2024, 7, 0, np.arange(n)),
                  gaussian3(2025, 7, 1, np.arange(n))):
        assert abs(np.corrcoef(z[:, 0], other[:, 0])[0, 1]) < bound


def test_gaussian3_depends_only_on_the_key_not_on_order_or_batch():
    ids = np.random.default_rng(0).choice(2 ** 40, size=1001, replace=False)
    reference = gaussian3(11, 3, 1, ids)
    order = np.random.default_rng(1).permutation(ids.size)
    assert gaussian3(11, 3, 1, ids[order]).tobytes() == reference[order].tobytes()
    # One at a time (the scalar code path) gives the same bytes as the batch.
    singles = np.vstack([gaussian3(11, 3, 1, ids[i:i + 1]) for i in range(0, ids.size, 97)])
    assert singles.tobytes() == reference[::97].tobytes()
    out = np.empty((ids.size, 3))
    assert gaussian3(11, 3, 1, ids, out) is out
    assert out.tobytes() == reference.tobytes()


@pytest.mark.parametrize("seed, step, stream", [(-1, 0, 0), (2 ** 64, 0, 0), (0, -1, 0),
                                                (0, 2 ** 32, 0), (0, 0, 2 ** 23)])
def test_key_out_of_range_is_refused(seed, step, stream):
    with pytest.raises(ValueError, match="outside"):
        check_key(seed, step, stream)
    with pytest.raises(ValueError, match="outside"):
        gaussian3(seed, step, stream, np.arange(3))


def test_large_seed_and_step_are_accepted():
    z = gaussian3(2 ** 64 - 1, 2 ** 32 - 1, 2 ** 23 - 1, np.array([2 ** 63 - 1]))
    assert np.all(np.isfinite(z))


@numba.njit
def _pair_table(seed, step, i, j):
    out = np.empty(i.shape[0])
    for p in range(i.shape[0]):
        out[p] = pair_gaussian(seed, step, i[p], j[p])
    return out


def test_pair_gaussian_is_symmetric_and_normal():
    rng = np.random.default_rng(5)
    i = rng.integers(0, 2 ** 47, size=200_000)
    j = rng.integers(0, 2 ** 47, size=200_000)
    forward = _pair_table(9, 12, i, j)
    assert forward.tobytes() == _pair_table(9, 12, j, i).tobytes()
    _check_standard_normal(forward)
    later = _pair_table(9, 13, i, j)
    assert abs(np.corrcoef(forward, later)[0, 1]) < 5.0 / np.sqrt(i.size)
    assert pair_gaussian(9, 12, int(i[0]), int(j[0])) == forward[0]


def test_pair_and_particle_numbers_are_different_families():
    ids = np.arange(1000)
    particle = gaussian3(3, 1, 0, ids)[:, 0]
    pair = _pair_table(3, 1, ids, np.zeros_like(ids))
    assert not np.any(particle == pair)
