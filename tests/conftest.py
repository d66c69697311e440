"""Shared test set-up.

Under mpirun a failing rank aborts the whole job instead of leaving the other
ranks waiting in a collective (as HOOMD's conftest does), and every MPI test
ends with a garbage collection and a barrier so collective destructors run
together (as DOLFINx's conftest does).
"""

import gc
import os
import sys

import pytest

_UNDER_MPI = "OMPI_COMM_WORLD_SIZE" in os.environ or "PMI_SIZE" in os.environ


def _world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _UNDER_MPI and report.failed and _world().size > 1:
        comm = _world()
        sys.stderr.write(
            f"\n[rank {comm.rank}] {item.nodeid} failed; aborting all ranks\n"
            f"{report.longreprtext}\n"
        )
        sys.stderr.flush()
        comm.Abort(1)


@pytest.fixture(autouse=True)
def _collective_teardown(request):
    yield
    if _UNDER_MPI and request.node.get_closest_marker("mpi") is not None:
        gc.collect()
        _world().Barrier()
