#!/usr/bin/env python3
"""FE² benchmarks (issue 6): RVE evaluations per second, farming efficiency,
and what result reuse and warm starts save.

    python perf/bench_fe2.py                 # everything, 1 and 2 ranks
    python perf/bench_fe2.py rve --cells 4   # one part

Parts:
  rve      one RVE (fcc LJ, statics, perfect crystal and with vacancies) timed
           in-process: set-up, evaluate without and with the tangent (central
           differences, and analytic: `tangent = "analytic"`), per atom;
           larger RVEs on a group of 1 and 2 ranks (`mpirun -n 2` of this
           script), with the group's parallel efficiency.
  farm     an FE² run (a sheared block, 64 quadrature points) on 1 and 2 ranks
           with ranks_per_rve = 1 (`hpcms run`, loop time from timing.json):
           farming efficiency = t1 / (2 t2).  Two RVEs: perfect 108-atom
           crystals (no FIRE steps: each job is 19 force evaluations and the
           per-relaxation overhead, the finest grain a farm gets) and 31-atom
           crystals with a vacancy (about 900 FIRE steps a job).  Each run
           prints the load average before and after, the ranks' CPU/wall
           inside the farm and the groups' busy max/mean from the log: a
           CPU/wall below ~0.97 means a rank lost its core to something else.
  reuse    a plate with a hole whose RVEs hold a vacancy, over 3 increments,
           with warm starts and with every relaxation started from the
           perfect lattice: FIRE steps and loop time; the reuse rate from the log.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "perf"))
from capacity import capacity  # noqa: E402

MPIRUN = ["mpirun", "--oversubscribe", "-n"]


def time_rve(comm, cells, vacancies, repeat):
    """(set-up s, evaluate s, evaluate+tangent s, evaluate+analytic tangent s, atoms):
    best of `repeat`.  Collective."""
    import numpy as np
    from mpi4py import MPI

    from hpcms.fe2.rve import RVE, RVESpec

    spec = RVESpec(cells=tuple(cells), vacancies=vacancies)
    F = np.eye(3)
    F[0, 1] = 0.01
    F[0, 0] = 1.005
    analytic = RVE(comm, RVESpec(cells=tuple(cells), vacancies=vacancies, tangent="analytic"))
    analytic.evaluate(F, None, tangent=True)  # compile kernels, fill caches
    warm = RVE(comm, spec)
    warm.evaluate(F, None, tangent=True)
    warm.free()
    best = [float("inf")] * 4
    for _ in range(repeat):
        comm.Barrier()
        t0 = time.perf_counter()
        rve = RVE(comm, spec)
        t1 = time.perf_counter()
        rve.evaluate(F, None, tangent=False)
        t2 = time.perf_counter()
        rve.evaluate(F, None, tangent=True)
        t3 = time.perf_counter()
        analytic.evaluate(F, None, tangent=True)
        t4 = time.perf_counter()
        rve.free()
        times = [t1 - t0, t2 - t1, t3 - t2, t4 - t3]
        times = [comm.allreduce(t, op=MPI.MAX) for t in times]
        best = [min(a, b) for a, b in zip(best, times)]
    analytic.free()
    return best + [rve.n_atoms]


def rve_worker(args):
    """Run under mpirun: time RVEs on COMM_WORLD as one group, print JSON on rank 0."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    out = {}
    for vac in (0.0, 0.01):
        setup, plain, tangent, analytic, atoms = time_rve(comm, [args.cells] * 3, vac,
                                                          args.repeat)
        out[str(vac)] = dict(setup=setup, evaluate=plain, tangent=tangent, analytic=analytic,
                             atoms=atoms)
    if comm.rank == 0:
        print("RESULT " + json.dumps(out))


def run_worker(ranks, cells, repeat):
    cmd = MPIRUN + [str(ranks), sys.executable, __file__, "rve-worker", "--cells", str(cells),
                    "--repeat", str(repeat)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not line:
        raise RuntimeError(done.stdout + done.stderr)
    return json.loads(line[0][7:])


def part_rve(args):
    print("== RVE evaluations (fcc LJ, statics; best of %d)" % args.repeat)
    print(f"{'cells':>5} {'ranks':>5} {'vacancies':>9} {'atoms':>6} {'set-up ms':>9} "
          f"{'eval ms':>8} {'+tangent ms':>11} {'+analytic ms':>12} {'evals/s':>8} "
          f"{'tangent evals/s':>15} {'us/atom':>8}")
    rows = {}
    for cells in args.cells:
        for ranks in args.ranks:
            result = run_worker(ranks, cells, args.repeat)
            for vac, r in result.items():
                rows[(cells, ranks, vac)] = r
                print(f"{cells:>5} {ranks:>5} {float(vac):>9.2f} {r['atoms']:>6} "
                      f"{1e3 * r['setup']:>9.2f} {1e3 * r['evaluate']:>8.2f} "
                      f"{1e3 * r['tangent']:>11.2f} {1e3 * r['analytic']:>12.2f} "
                      f"{1 / r['evaluate']:>8.1f} "
                      f"{1 / r['tangent']:>15.1f} {1e6 * r['evaluate'] / r['atoms']:>8.2f}")
    for cells in args.cells:
        if len(args.ranks) > 1:
            a, b = rows[(cells, args.ranks[0], "0.01")], rows[(cells, args.ranks[-1], "0.01")]
            n = args.ranks[-1] / args.ranks[0]
            print(f"group efficiency {args.ranks[0]}->{args.ranks[-1]} ranks, {cells}^3 cells "
                  f"with vacancies (tangent): {a['tangent'] / (n * b['tangent']):.2f}")


DECKS = {
    "farm": """[run]
kind = "fe"
[mesh]
type = "box"
dim = 3
cells = [2, 2, 2]
[material]
style = "rve"
cells = [{cells}, {cells}, {cells}]
vacancies = {vacancies}
hill_mandel_step = 0.0
[[boundary]]
region = "zmin"
type = "fixed"
[[boundary]]
region = "zmax"
type = "affine"
H = [[0.0, 0.0, 0.02], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
[load]
steps = 1
""",
    "reuse": """[run]
kind = "fe"
[mesh]
type = "file"
file = "{mesh}"
[material]
style = "rve"
cells = [2, 2, 2]
vacancies = 0.04
ftol = 1e-8
hill_mandel_step = 0.0
warm_start = {warm}
[[boundary]]
region = 1
type = "displacement"
ux = 0.0
[[boundary]]
region = 2
type = "displacement"
uy = 0.0
[[boundary]]
region = 3
type = "traction"
t = [0.4, 0.0]
[load]
steps = 3
grow_below = 0
[solver]
rtol = 1e-6
atol = 1e-8
""",
}


def hpcms_run(deck_text, where, name, ranks):
    deck = Path(where) / f"{name}.toml"
    deck.write_text(deck_text)
    k = 0
    while (Path(where) / f"{name}-{ranks}-{k}").exists():  # one directory per run
        k += 1
    out = Path(where) / f"{name}-{ranks}-{k}"
    cmd = MPIRUN + [str(ranks), sys.executable, "-m", "hpcms", "run", str(deck), "--quiet",
                    "--set", f'run.output="{out}"']
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise RuntimeError(done.stdout + done.stderr)
    timing = json.loads((out / "timing.json").read_text())
    log = (out / "log.txt").read_text()
    fire = sum(int(m) for m in re.findall(r"(\d+) FIRE steps", log))
    reused = sum(int(m) for m in re.findall(r"(\d+) reused", log))
    evaluated = sum(int(m) for m in re.findall(r"(\d+) evaluated", log))
    cpu = re.findall(r"CPU/wall ([\d.]+)\.\.([\d.]+)", log)
    timing["cpu_wall"] = [float(v) for v in cpu[-1]] if cpu else [math.nan, math.nan]
    timing["busy"] = float(re.findall(r"busy max/mean ([\d.]+)", log)[-1])
    return timing, fire, reused, evaluated


FARM_CASES = (("108-atom perfect crystals", dict(cells=3, vacancies=0.0)),
              ("31-atom crystals with a vacancy", dict(cells=2, vacancies=0.04)))


def part_farm(args, where):
    cores = capacity(args.ranks)
    print("machine: " + ", ".join(f"{r} ranks = {c:.2f} cores' worth" for r, c in cores.items())
          + " (perf/capacity.py)")
    for title, case in FARM_CASES:
        print(f"== farming: sheared block, 64 points x {title}, ranks_per_rve = 1 "
              f"(best of {args.repeat})")
        deck = DECKS["farm"].format(**case)
        times = {}
        for ranks in args.ranks:
            runs = []
            for _ in range(args.repeat):
                before = os.getloadavg()[0]
                timing = hpcms_run(deck, where, "farm", ranks)[0]
                runs.append((timing["loop_seconds"], before, os.getloadavg()[0], timing))
            best, before, after, timing = min(runs, key=lambda r: r[0])
            times[ranks] = best
            lo, hi = timing["cpu_wall"]
            print(f"  {ranks} rank(s): loop {best:.3f} s (load {before:.2f} -> {after:.2f}, "
                  f"CPU/wall {lo:.2f}..{hi:.2f}, group busy max/mean {timing['busy']:.2f}; "
                  f"all runs {', '.join(f'{r[0]:.3f}' for r in runs)})")
        if len(args.ranks) > 1:
            r0, r1 = args.ranks[0], args.ranks[-1]
            eff = times[r0] * r0 / (times[r1] * r1)
            print(f"  farming efficiency {r0}->{r1}: {eff:.2f} "
                  f"({eff * r1 / cores[r1] * cores[r0] / r0:.2f} of capacity)")


def part_reuse(args, where):
    print("== reuse and warm starts: plate with a hole, 48 points, RVEs with a vacancy, "
          "3 increments, 1 rank")
    mesh = REPO / "inputs" / "plate_hole_coarse.msh"
    results = {}
    for warm in ("true", "false"):
        timing, fire, reused, evaluated = hpcms_run(
            DECKS["reuse"].format(mesh=mesh, warm=warm), where, f"reuse-{warm}", 1)
        results[warm] = timing["loop_seconds"]
        print(f"  warm_start = {warm:5s}: loop {timing['loop_seconds']:.2f} s, {fire} FIRE "
              f"steps, {evaluated} RVE evaluations, {reused} reused "
              f"({100 * reused / max(reused + evaluated, 1):.0f} %)")
    print(f"  warm-start speed-up: {results['false'] / results['true']:.2f}x")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("part", nargs="?", default="all",
                   choices=("all", "rve", "farm", "reuse", "rve-worker"))
    p.add_argument("--cells", type=int, nargs="*", default=[4, 6])
    p.add_argument("--ranks", type=int, nargs="*", default=[1, 2])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if args.part == "rve-worker":
        args.cells = args.cells[0]
        return rve_worker(args)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as where:
        if args.part in ("all", "rve"):
            part_rve(args)
        if args.part in ("all", "farm"):
            part_farm(args, where)
        if args.part in ("all", "reuse"):
            part_reuse(args, where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
