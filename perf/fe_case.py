#!/usr/bin/env python3
"""One FE benchmark case, run under mpirun by perf/bench_fe.py.

    mpirun -n R python perf/fe_case.py DECK.toml RESULT.json [PETSc options]

Builds the run from the deck with hpcms' own objects, in the order
`hpcms.fe.driver.FERun` does, timing each set-up piece; then load-steps to
λ = 1 without writing fields or checkpoints (outputs are not what is
measured) and writes RESULT.json (rank 0): set-up seconds by piece, hpcms'
phase timers (kinematics, material, assembly, solve), PETSc's own log events
(SNESFunctionEval, SNESJacobianEval, KSPSolve, PCSetUp, ...) — the events a
PETSc tutorial reports with -log_view — and the Newton and Krylov iteration
counts.  Every time is the maximum over ranks (the slowest rank sets the
pace).  PETSc options after the two paths are inserted as `hpcms run`
does (e.g. -fe_pc_gamg_reuse_interpolation true).  Collective on COMM_WORLD.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

EVENTS = ("SNESSolve", "SNESFunctionEval", "SNESJacobianEval", "SNESLineSearch", "KSPSolve",
          "PCSetUp", "PCApply", "MatMult", "MatAssemblyEnd", "DMPlexDistribute")


def main(argv):
    deck_path, result_path = Path(argv[0]), Path(argv[1])
    from mpi4py import MPI
    from petsc4py import PETSc

    PETSc.Log.begin()
    if argv[2:]:
        PETSc.Options().insertString(" ".join(argv[2:]))
    comm = MPI.COMM_WORLD
    from hpcms.config.deck import load_deck
    from hpcms.fe.boundary import make_boundary
    from hpcms.fe.driver import agree
    from hpcms.fe.materials import make_material
    from hpcms.fe.mesh import create_mesh
    from hpcms.fe.problem import Equilibrium
    from hpcms.fe.solver import PHASES, LoadStepper, make_snes
    from hpcms.fe.space import DisplacementSpace
    from hpcms.md.timers import Timers

    deck = comm.bcast(load_deck(deck_path) if comm.rank == 0 else None, root=0)
    setup = {}

    def timed(name, fn, *args):
        comm.Barrier()
        t0 = time.perf_counter()
        out = fn(*args)
        comm.Barrier()
        setup[name] = time.perf_counter() - t0
        return out

    mesh = timed("mesh", create_mesh, comm, deck.mesh, deck_path.parent)
    space = timed("space", DisplacementSpace, mesh)
    material = agree(comm, make_material, deck.material, comm)
    boundary = timed("boundary regions", make_boundary, space, deck.boundary)
    timers = Timers(PHASES)
    problem = timed("geometry + matrix", Equilibrium, space, material, boundary, timers)
    snes = timed("solver", make_snes, problem, deck.solver)
    stepper = LoadStepper(problem, snes, deck.load, lambda msg: None, timers)
    comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    finished = stepper.run(lambda s: None)
    cpu = time.process_time() - c0
    comm.Barrier()
    loop = time.perf_counter() - t0
    if not finished:
        raise SystemExit("fe_case: the load stepping stopped early")

    def worst(x):
        return comm.allreduce(float(x), op=MPI.MAX)

    pieces = dict(getattr(mesh, "setup_seconds", {}), **getattr(space, "setup_seconds", {}))
    events = {}
    for name in EVENTS:
        info = PETSc.Log.Event(name).getPerfInfo()
        events[name] = {"seconds": worst(info["time"]), "count": int(info["count"])}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result = {
        "ranks": comm.size,
        "cells": mesh.n_cells_global,
        "vertices": mesh.n_vertices_global,
        "dofs": space.n_global,
        "cells_per_rank": comm.allgather(mesh.n_cells),
        "increments": stepper.step,
        "newton_iterations": stepper.iterations,
        "ksp_iterations": snes.getLinearSolveIterations(),
        "setup": {k: worst(v) for k, v in setup.items()},
        "setup_pieces": {k: worst(v) for k, v in pieces.items()},
        "loop_seconds": worst(loop),
        # CPU seconds per wall second of the solve, lowest rank: well below 1
        # means the ranks shared their cores with other work (noisy numbers)
        "cpu_share_min": comm.allreduce(cpu / loop if loop > 0 else 1.0, op=MPI.MIN),
        "phases": {k: worst(v) for k, v in timers.seconds.items()},
        "events": events,
        "peak_rss_mb_max": worst(peak),
        "peak_rss_mb_sum": comm.allreduce(peak, op=MPI.SUM),
    }
    if comm.rank == 0:
        result_path.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
