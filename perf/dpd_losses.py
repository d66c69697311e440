#!/usr/bin/env python3
"""Where a DPD deck's parallel efficiency goes, measured in one job.

    mpirun --oversubscribe -n R python perf/dpd_losses.py deck.toml [--block 10]

The deck's box must be orthogonal, [L0, L1, L2], with a random start at a
density (`system.lattice = "random"`), as `bench_dpd.py` writes it.  Three
simulations are built: the deck decomposed over the R ranks (balanced as
`hpcms run` balances it), the whole deck on rank 0 alone (`MPI.COMM_SELF`),
and on every rank a serial copy of a slab of 1/R of the box (L0 / R x L1 x
L2, the same density).  Blocks of `--block` steps of five kinds then
alternate, `run.steps // block` rounds, in reverse order every other round:

    one         the whole box on rank 0 alone (the other ranks sleep)
    slab        one slab copy, rank 0's, alone
    together    the R slab copies at once (the slowest rank's time)
    paced       the R slab copies at once, a barrier after every step
    decomposed  the deck on R ranks

so that the five are measured seconds apart on a machine whose speed drifts
over minutes.  The efficiency t(one) / (R t(decomposed)) is the product of

    size           t(one) / (R t(slab))      a subdomain's shape: its surface of ghosts
    machine        t(slab) / t(together)     what R busy vCPUs give this work: clocks,
                                             caches, memory bandwidth, a slower vCPU
    pacing         t(together) / t(paced)    stepping in lockstep on vCPUs whose speed wanders
    decomposition  t(paced) / t(decomposed)  messages, migration, waits beyond pacing

(each a median over the rounds of that round's ratio, so their product is
close to, not exactly, the efficiency's median).  `machine` is the only one
the code cannot change; capacity = R * machine is the cores' worth of this
very work that R busy ranks get here, and of_workload = efficiency /
machine the share the code itself keeps.  Rank 0 prints one JSON line: the
median seconds a step of each kind, the factors, the efficiency,
of_workload, the capacity, the rounds and the particles.  Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from mpi4py import MPI

KINDS = ("one", "slab", "together", "paced", "decomposed")
# factor: (numerator kind, denominator kind, times 1/R)
FACTORS = {"efficiency": ("one", "decomposed", True), "size": ("one", "slab", True),
           "machine": ("slab", "together", False), "pacing": ("together", "paced", False),
           "decomposition": ("paced", "decomposed", False)}


def rest(comm):
    """Wait for every rank at a barrier, sleeping instead of spinning."""
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(0.0005)


def simulations(path, world):
    """(the deck, the decomposed simulation and its observers, rank 0's
    whole-box copy or None, this rank's slab copy)."""
    from hpcms.config.deck import load_deck
    from hpcms.parallel.balance import Balancer
    from hpcms.run import build_simulation, prepare

    deck = load_deck(path)
    if deck.system.lattice != "random" or len(deck.system.box) != 3:
        raise SystemExit(f"{path}: needs system.lattice = 'random' and box = [L0, L1, L2]")
    L0, L1, L2 = (float(b) for b in deck.system.box)
    slab_deck = load_deck(path, [f"system.box=[{L0 / world.size!r}, {L1!r}, {L2!r}]"])
    me = MPI.COMM_SELF
    whole = build_simulation(world, prepare(world, deck))
    s = whole.system
    every = deck.parallel.balance_every
    observers = ([Balancer(s.domain, lambda: s.neighbors.seconds, every)]
                 if world.size > 1 and every else [])
    one = build_simulation(me, prepare(me, deck)) if world.rank == 0 else None
    slab = build_simulation(me, prepare(me, slab_deck))
    return deck, (whole, observers), one, slab


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("deck")
    p.add_argument("--block", type=int, default=10, help="steps per block")
    a = p.parse_args()
    world = MPI.COMM_WORLD
    R = world.size
    deck, (whole, observers), one, slab = simulations(a.deck, world)
    block = a.block

    def paced():
        for _ in range(block):
            slab.run(1)
            world.Barrier()

    # kind: (what the ranks that take part do, whether all ranks take part)
    steps = {"one": (lambda: one.run(block), False), "slab": (lambda: slab.run(block), False),
             "together": (lambda: slab.run(block), True), "paced": (paced, True),
             "decomposed": (lambda: whole.run(block, observers), True)}
    for kind, (step, everyone) in steps.items():  # warm-up
        if everyone or world.rank == 0:
            step()
        world.Barrier()
    rounds = max(2, deck.run.steps // block)
    seconds = {kind: [] for kind in KINDS}
    for r in range(rounds):
        for kind in (KINDS if r % 2 == 0 else KINDS[::-1]):
            step, everyone = steps[kind]
            world.Barrier()
            t = 0.0
            if everyone or world.rank == 0:
                t0 = time.perf_counter()
                step()
                t = (time.perf_counter() - t0) / block
            if everyone:
                t = world.allreduce(t, op=MPI.MAX)
            else:
                rest(world)
            seconds[kind].append(t)
    if world.rank == 0:
        out = {f"{kind}_step_seconds": statistics.median(seconds[kind]) for kind in KINDS}
        for name, (num, den, per_rank) in FACTORS.items():
            scale = 1.0 / R if per_rank else 1.0
            out[name] = statistics.median(scale * x / y
                                          for x, y in zip(seconds[num], seconds[den]))
        out.update(of_workload=out["efficiency"] / out["machine"], capacity=R * out["machine"],
                   rounds=rounds, particles=whole.system.n_global)
        print(json.dumps(out))
    for sim in (whole, one, slab):
        if sim is not None:
            sim.system.free()


if __name__ == "__main__":
    main()
