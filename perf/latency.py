#!/usr/bin/env python3
"""How long a message between two ranks takes after one of them computed a while.

    mpirun -n 2 python perf/latency.py [--gaps 0 0.2 2 5 20] [--trials 100]

A decomposed time step sends its messages after compute phases of a few
milliseconds (the halo after sorting, the ghosts' forces after the force
kernel) while the other rank waits for them.  This probe measures that case
on ranks 0 and 1 (all ranks on one node; the others idle): rank 0 computes
for `gap` milliseconds, then sends 8 bytes holding its clock; rank 1,
waiting in `Recv`, reads the clock on arrival.  The one-way time is the
difference (`time.perf_counter`, one clock for all processes of a Linux
node).

The reference, measured in the same run and the same way: rank 0 writes its
clock into a shared-memory window (`MPI.Win.Allocate_shared`) that rank 1
polls with plain loads, no MPI in between: what the machine itself takes
to carry a cache line from one core to the other.  When both grow with the
gap, the machine (a hypervisor descheduling its vCPUs, say) is the cause,
not the MPI library.

Rank 0 prints one row per gap: the median one-way microseconds of MPI and of
shared memory, with their 10th and 90th percentiles.  Nothing is written.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from mpi4py import MPI


def spin(seconds):
    """Stay busy on this core for `seconds`."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def mpi_one_way(comm, gap, trials):
    """One-way seconds of 8-byte messages from rank 0 to rank 1 sent after
    `gap` seconds of work (on rank 1; empty elsewhere)."""
    buf = np.zeros(1)
    times = []
    for k in range(trials):
        comm.Barrier()
        if comm.rank == 0:
            spin(gap)
            buf[0] = time.perf_counter()
            comm.Send(buf, dest=1, tag=k)
        elif comm.rank == 1:
            comm.Recv(buf, source=0, tag=k)
            times.append(time.perf_counter() - buf[0])
    return times


def shared_one_way(comm, clock, gap, trials):
    """The same through shared memory: rank 0 writes its clock into
    `clock` (one float64), rank 1 polls it until it changes."""
    times = []
    for _ in range(trials):
        before = clock[0]  # read before the barrier, written after it
        comm.Barrier()
        if comm.rank == 0:
            spin(gap)
            clock[0] = time.perf_counter()
        elif comm.rank == 1:
            while clock[0] == before:
                pass
            times.append(time.perf_counter() - clock[0])
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gaps", type=float, nargs="+", default=[0, 0.2, 2, 5, 20],
                   help="milliseconds of work before each message")
    p.add_argument("--trials", type=int, default=100, help="messages per gap and kind")
    a = p.parse_args()
    world = MPI.COMM_WORLD
    if world.size < 2:
        raise SystemExit("perf/latency.py: run it on 2 ranks of one node (mpirun -n 2)")
    node = world.Split_type(MPI.COMM_TYPE_SHARED)
    if node.size != world.size:
        raise SystemExit("perf/latency.py: run it on one node (one clock for all ranks)")
    win = MPI.Win.Allocate_shared(8 if node.rank == 0 else 0, 8, comm=node)
    clock = np.ndarray((1,), dtype=np.float64, buffer=win.Shared_query(0)[0])
    if world.rank == 0:
        clock[0] = 0.0  # not NaN, which would never compare equal
    world.Barrier()
    if world.rank == 0:
        print(f"one-way microseconds, rank 0 -> 1, {a.trials} messages a row: "
              "median (10th..90th percentile)")
        print(f"{'gap ms':>8}  {'MPI':>24}  {'shared memory':>24}")
    for gap in a.gaps:
        rows = []
        for times in (mpi_one_way(world, gap / 1e3, a.trials),
                      shared_one_way(world, clock, gap / 1e3, a.trials)):
            times = world.bcast(np.asarray(times) * 1e6, root=1)
            q10, q50, q90 = np.quantile(times, [0.1, 0.5, 0.9])
            rows.append(f"{q50:8.1f} ({q10:6.1f}..{q90:6.1f})")
        if world.rank == 0:
            print(f"{gap:8.1f}  {rows[0]:>24}  {rows[1]:>24}", flush=True)
    win.Free()
    node.Free()


if __name__ == "__main__":
    main()
