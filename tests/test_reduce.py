"""exact_sum: same bytes for any order and any partition among ranks."""

import math

import numpy as np
import pytest
from mpi4py import MPI

from hpcms.parallel.reduce import exact_sum


def _wide_values(n, seed):
    """Values of both signs spread over about 13 decades, none above 1e6."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, n) * 10.0 ** rng.uniform(-7.0, 6.0, n)


def test_any_order_gives_the_same_bytes():
    x = _wide_values(50_001, 1)
    reference = exact_sum(MPI.COMM_SELF, x)
    rng = np.random.default_rng(2)
    for _ in range(5):
        assert exact_sum(MPI.COMM_SELF, x[rng.permutation(x.size)]) == reference
    assert exact_sum(MPI.COMM_SELF, x[::-1]) == reference
    # A naive float sum does depend on the order: the test can fail.
    assert len({float(np.sum(x[rng.permutation(x.size)])) for _ in range(20)}) > 1


def test_matches_fsum():
    x = _wide_values(100_000, 3)
    # All these values are multiples of 2**-96: the sum is exact, then rounded once.
    assert exact_sum(MPI.COMM_SELF, x) == math.fsum(x)
    tiny = np.random.default_rng(4).normal(size=10_000) * 1e-25
    mixed = np.concatenate([x, tiny])
    assert math.isclose(exact_sum(MPI.COMM_SELF, mixed), math.fsum(mixed), rel_tol=1e-15)


def test_cancellation_is_exact():
    x = np.array([1e6, 1e-20 * 2 ** 40, -1e6, 3.0 * 2 ** -90, 2.0 ** 63, -(2.0 ** 63)])
    assert exact_sum(MPI.COMM_SELF, x) == math.fsum(x)


def test_columns_are_summed_separately():
    x = _wide_values(30_000, 5).reshape(-1, 3)
    sums = exact_sum(MPI.COMM_SELF, x)
    assert sums.shape == (3,) and sums.dtype == np.float64
    assert sums.tolist() == [math.fsum(c) for c in x.T]
    assert exact_sum(MPI.COMM_SELF, np.ascontiguousarray(x[:, 1])) == sums[1]
    assert exact_sum(MPI.COMM_SELF, x[:, 1]) == sums[1]  # strided view


def test_empty_input():
    assert exact_sum(MPI.COMM_SELF, np.zeros(0)) == 0.0
    assert exact_sum(MPI.COMM_SELF, np.zeros((0, 4))).tolist() == [0.0] * 4


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 2.0 ** 64, -(2.0 ** 65)])
def test_out_of_range_values_are_refused(bad):
    with pytest.raises(ValueError, match="not finite or have"):
        exact_sum(MPI.COMM_SELF, np.array([1.0, bad, 2.0]))


def test_largest_allowed_value():
    top = np.nextafter(2.0 ** 64, 0.0)
    assert exact_sum(MPI.COMM_SELF, np.array([top, -top, top])) == top


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(n,\) or \(n, k\)"):
        exact_sum(MPI.COMM_SELF, np.zeros((2, 2, 2)))


def _partitions(n, size):
    """Owner arrays (rank of each entry) for several ways of distributing n entries."""
    rng = np.random.default_rng(6)
    yield np.arange(n) * size // n                    # contiguous blocks
    yield np.arange(n) % size                         # round robin
    yield rng.integers(0, size, n)                    # random
    yield np.zeros(n, dtype=int)                      # all on rank 0, others empty
    yield np.full(n, size - 1)                        # all on the last rank


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("shape", [(40_001,), (10_001, 3)])
def test_any_partition_gives_the_serial_bytes(shape):
    comm = MPI.COMM_WORLD
    x = _wide_values(int(np.prod(shape)), 7).reshape(shape)
    serial = np.asarray(exact_sum(MPI.COMM_SELF, x))
    rng = np.random.default_rng(8 + comm.rank)
    results = []
    for owner in _partitions(shape[0], comm.size):
        mine = np.flatnonzero(owner == comm.rank)
        results.append(np.asarray(exact_sum(comm, x[rng.permutation(mine)])))
    everyone = comm.allgather([r.tobytes() for r in results])
    assert all(r == serial.tobytes() for per_rank in everyone for r in per_rank)


@pytest.mark.mpi(min_size=2)
def test_a_bad_value_on_one_rank_raises_on_every_rank():
    comm = MPI.COMM_WORLD
    x = np.ones(10)
    if comm.rank == comm.size - 1:
        x[3] = np.nan
    with pytest.raises(ValueError, match="1 entries are not finite"):
        exact_sum(comm, x)


def test_exact_sums_rounded_in_a_kernel_match_python_integers():
    """exact_sum's limb totals are rounded in a kernel: the float64 that Python's
    correctly rounded int / int gives (ties to even), cancellations and ties included."""
    from hpcms.parallel._reduce_kernels import FRAC_BITS, LIMB_BITS, accumulate_limbs, limbs_to_float

    def python_rounding(limbs):
        total = 0
        for word in limbs:
            total = (total << LIMB_BITS) + int(word)
        return total / (1 << FRAC_BITS)

    rng = np.random.default_rng(3)
    cases = []
    for k in range(300):
        values = rng.standard_normal((int(rng.integers(1, 200)), 3)) * 10.0 ** rng.uniform(-25, 15)
        values[:, 1] = np.abs(values[:, 0])
        values[:, 2] = values[:, 0] * rng.choice([-1.0, 1.0], len(values))  # cancellation
        limbs = np.zeros((3, 5), dtype=np.int64)
        accumulate_limbs(values, limbs)
        cases += [list(row) for row in limbs]
    for e in range(53, 140, 7):  # halfway cases: ties and their neighbours
        for m in (2 ** 52, 2 ** 52 + 1, 2 ** 53 - 1):
            for extra in (-1, 0, 1):
                for sign in (1, -1):
                    total, limbs = sign * ((m << (e - 52)) + (1 << (e - 53)) + extra), [0] * 5
                    for slot in range(4, 0, -1):
                        limbs[slot], total = total & 0xFFFFFFFF, total >> 32
                    cases.append([total] + limbs[1:])
    for limbs in cases:
        mine = limbs_to_float(np.array(limbs, dtype=np.int64))
        assert np.float64(mine).tobytes() == np.float64(python_rounding(limbs)).tobytes(), limbs
