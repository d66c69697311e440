#!/usr/bin/env python3
"""Independent serial copies of one hpcms deck, one per rank: how much slower
a copy runs while the other ranks run theirs than while they rest.

    mpirun --oversubscribe -n R python perf/dpd_copies.py deck.toml [--block 10]

Every rank builds the deck's simulation on its own (MPI.COMM_SELF: no message
between ranks but the barriers that pace the blocks).  Blocks of `--block`
steps then alternate: rank 0 alone (the other ranks sleep), all ranks at
once, `run.steps` // `--block` blocks of each.  Rank 0 prints one
JSON line: the median seconds per step of rank 0 alone, of the slowest rank
together, and capacity = R * alone / together.

`bench_dpd.py` runs a slab of 1/R of its box this way: R copies at once are
as fast as one alone only when the machine gives R busy ranks R cores' worth
of this very work (caches, memory bandwidth and clock included), which no
compute-bound probe (`capacity.py`) measures.  Alternating in one job keeps
the two measurements seconds apart on a machine whose speed drifts over
minutes.  Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from mpi4py import MPI


def rest(comm):
    """Wait for every rank at a barrier, sleeping instead of spinning."""
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(0.0005)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("deck")
    p.add_argument("--block", type=int, default=10, help="steps per block")
    a = p.parse_args()
    from hpcms.config.deck import load_deck
    from hpcms.run import build_simulation, prepare

    world = MPI.COMM_WORLD
    deck = load_deck(a.deck)
    me = MPI.COMM_SELF
    sim = build_simulation(me, prepare(me, deck))
    sim.run(a.block)  # warm-up
    blocks = max(2, deck.run.steps // a.block)
    alone, together = [], []
    for b in range(blocks):
        for mode in (("alone", "together") if b % 2 == 0 else ("together", "alone")):
            world.Barrier()
            if mode == "together" or world.rank == 0:
                t0 = time.perf_counter()
                sim.run(a.block)
                seconds = (time.perf_counter() - t0) / a.block
            rest(world)
            if mode == "together":
                together.append(world.allreduce(seconds, op=MPI.MAX))
            elif world.rank == 0:
                alone.append(seconds)
    if world.rank == 0:
        t1, tr = statistics.median(alone), statistics.median(together)
        print(json.dumps({"alone_step_seconds": t1, "together_step_seconds": tr,
                          "capacity": world.size * t1 / tr, "blocks": blocks,
                          "particles": sim.system.n_global}))
    sim.system.free()


if __name__ == "__main__":
    main()
