#!/usr/bin/env python3
"""Independent serial copies of one hpcms deck, one per rank, run at once.

    mpirun --oversubscribe -n R python perf/dpd_copies.py deck.toml

Every rank builds the deck's simulation on its own (MPI.COMM_SELF: no
message between ranks), all start the time-step loop together after a
barrier, and rank 0 prints one JSON line: each rank's loop seconds and
particle-steps/s.  Nothing is written.

`bench_dpd.py` runs a slab of 1/R of its box this way on one rank and on
R ranks: R copies at once are as fast as one alone only when the machine
gives R busy ranks R cores' worth of this very work (caches, memory
bandwidth and clock included), which no compute-bound probe
(`capacity.py`) measures.  The ratio bounds the efficiency from 1 to R
ranks that any decomposition of the box could reach here.
"""

from __future__ import annotations

import json
import sys
import time

from mpi4py import MPI


def main():
    from hpcms.config.deck import load_deck
    from hpcms.run import build_simulation, prepare

    world = MPI.COMM_WORLD
    deck = load_deck(sys.argv[1])
    me = MPI.COMM_SELF
    sim = build_simulation(me, prepare(me, deck))
    world.Barrier()
    t0 = time.perf_counter()
    sim.run(deck.run.steps)
    seconds = time.perf_counter() - t0
    all_seconds = world.gather(seconds, root=0)
    if world.rank == 0:
        n = sim.system.n_global
        print(json.dumps({"loop_seconds": all_seconds,
                          "rates": [n * deck.run.steps / s for s in all_seconds],
                          "particles": n}))
    sim.system.free()


if __name__ == "__main__":
    main()
