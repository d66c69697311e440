#!/usr/bin/env python3
"""How many cores' worth of arithmetic this machine gives R concurrent ranks.

A parallel efficiency is only as good as the cores behind it: on a virtual
machine two "cores" may share one physical core, or the host may give two
busy vCPUs one core's time.  This runs a compute-bound numba loop (no memory
traffic, no communication) on 1 rank and then on R ranks at once under the
same `mpirun` the benchmarks use, and reports

    capacity(R) = R * t(1) / t(R)     (R on a machine with R free cores)

Benchmarks print it beside their efficiencies; an efficiency of e measured
where capacity(2) = c means e * 2 / c of what the machine could give.

    python perf/capacity.py --ranks 1 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys

N_ITER = 150_000_000

PROBE = f"""
import time
import numba
from mpi4py import MPI

@numba.njit(cache=False)
def spin(n):
    s = 0.0
    x = 1.0
    for i in range(n):
        x = x * 1.0000001 + 1e-9
        s += x
    return s

spin(10)
comm = MPI.COMM_WORLD
comm.Barrier()
t = time.perf_counter()
spin({N_ITER})
t = comm.allreduce(time.perf_counter() - t, op=MPI.MAX)
if comm.rank == 0:
    print(t)
"""


def probe_seconds(ranks):
    """Wall seconds of the loop on `ranks` concurrent ranks (the slowest)."""
    cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), sys.executable, "-c", PROBE]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def capacity(ranks):
    """{R: cores' worth} for each R in `ranks` (1 is measured too)."""
    t1 = probe_seconds(1)
    return {r: (1.0 if r == 1 else r * t1 / probe_seconds(r)) for r in ranks}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    for r, c in capacity(args.ranks).items():
        print(f"ranks={r}: {c:.2f} cores' worth of arithmetic")


if __name__ == "__main__":
    main()
