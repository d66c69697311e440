#!/usr/bin/env python3
"""Finite-strain FE per Newton iteration in hpcms, beside PETSc's own DMPlex
elasticity tutorial (SNES ex17) on the same mesh.

The problem: the unit cube in N^3 trilinear hexahedra (Q1, 2x2x2 Gauss
points), compressible Neo-Hookean (E = 100, nu = 0.3), clamped at x = 0 and
pulled to ux = 0.1 at x = 1 (10 % nominal strain, the lateral faces free), in
one load increment; SNES newtonls + bt line search, CG + GAMG with the
rigid-body near-null space, ksp_rtol 1e-10, Newton rtol 1e-10 (hpcms'
defaults).  N = 32 is 107,811 dofs, N = 68 is 985,527.

For every size and rank count this script writes the hpcms deck and runs

    mpirun --oversubscribe -n R python perf/fe_case.py deck.toml result.json

which builds the run with hpcms' own objects (timing mesh, distribution,
connectivity, section, sparsity, matrix) and solves it with PETSc logging on;
times are maxima over ranks.  Per Newton iteration it reports the material
evaluation, kinematics (F at every point), residual and Jacobian assembly
(element kernels + insertion into PETSc), the linear solve (SNES time net of
the residual/Jacobian callbacks: KSP + GAMG set-up) and the total.

The PETSc reference is src/snes/tutorials/ex17.c (linear elasticity on
DMPlex with PetscFE, -sol_type elas_ge: the same clamp and pull) compiled
here with PETSc's makefile conventions against $PETSC_DIR, run with the same
mesh, Q1, CG + GAMG + near-null space and -log_view; its SNESFunctionEval
and SNESJacobianEval per call and per cell are set beside hpcms' (its
pointwise material is linear, so the comparison favours it slightly).  When
a compiler, PETSc's makefiles or the example source are missing, the
comparison is skipped with a message (Debian: apt-get install
libpetsc-real3.18-dev libpetsc3.18-dev-examples).  ex17's Jacobian costs
about 1.4 ms per hexahedron with PETSc 3.18, so by default it runs at the
smallest size only (--petsc-sizes).

    python perf/bench_fe.py                          # N = 32 and 68 on 1 and 2 ranks
    python perf/bench_fe.py --sizes 12 --ranks 1 2   # a quick check (seconds)
    python perf/bench_fe.py --no-petsc               # hpcms only
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import (DEFAULT_RESULTS, ToolMissing, find_mpirun, machine_note,  # noqa: E402
                   print_table, run_job, timestamp)

E, NU, PULL = 100.0, 0.3, 0.1
CASE = Path(__file__).resolve().parent / "fe_case.py"
PETSC_EVENTS = ("SNESSolve", "SNESFunctionEval", "SNESJacobianEval", "KSPSolve", "PCSetUp",
                "DMCreateMat", "DMPlexDistribute", "DMPlexPrealloc")


def hpcms_deck(n):
    """The benchmark deck, as TOML text."""
    return f"""\
# perf/bench_fe.py: Neo-Hookean cube, clamped at x = 0, pulled at x = 1
[run]
kind = "fe"

[mesh]
type = "box"
dim = 3
cells = [{n}, {n}, {n}]

[material]
style = "neo-hookean"
E = {E}
nu = {NU}

[[boundary]]
region = "xmin"
type = "fixed"

[[boundary]]
region = "xmax"
type = "displacement"
ux = {PULL}

[load]
steps = 1
"""


def petsc_args(n):
    """ex17 options for the same problem (linear elasticity) and solver."""
    return ["-sol_type", "elas_ge", "-dm_plex_dim", "3", "-dm_plex_simplex", "0",
            "-dm_plex_box_faces", f"{n},{n},{n}", "-dm_plex_separate_marker",
            "-displacement_petscspace_degree", "1",
            "-snes_rtol", "1e-10", "-ksp_type", "cg", "-ksp_rtol", "1e-10", "-pc_type", "gamg",
            "-snes_converged_reason", "-ksp_converged_reason", "-log_view"]


def _parser():
    p = argparse.ArgumentParser(
        description="Time hpcms' finite-strain FE (Neo-Hookean cube in tension, Q1 hexahedra) "
                    "per Newton iteration on 1 and 2 ranks, beside PETSc's SNES ex17 "
                    "(DMPlex linear elasticity) on the same mesh.",
        epilog="Runs go under OUT/bench_fe-<time>/; the summary to OUT/bench_fe.csv.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 68], metavar="N",
                   help="hexahedra per edge (3 (N+1)^3 dofs)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2], metavar="R",
                   help="MPI rank counts; efficiency is against the smallest")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs of each case; the fastest (least time per iteration) is kept")
    p.add_argument("--petsc-sizes", type=int, nargs="*", default=None, metavar="N",
                   help="sizes at which to run PETSc's ex17 (default: the smallest of --sizes)")
    p.add_argument("--no-petsc", action="store_true", help="skip the PETSc reference")
    p.add_argument("--hpcms-options", default="", metavar="OPTS",
                   help="PETSc options for the hpcms runs, e.g. "
                        "'-fe_pc_gamg_reuse_interpolation true' (ex17 keeps its own)")
    p.add_argument("--petsc-example", type=Path, default=None,
                   help="ex17.c to build (default: found under $PETSC_DIR or /usr/share/petsc)")
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="results directory")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="seconds before one run is killed")
    p.add_argument("--mpirun", default="mpirun --oversubscribe",
                   help="MPI launcher; '-n R' is appended")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip the small run that fills the numba cache first")
    p.add_argument("--from", dest="previous", type=Path, default=None, metavar="DIR",
                   help="run nothing: tabulate the runs kept in DIR (a bench_fe-<time> "
                        "directory) again")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if min(args.sizes) < 1 or min(args.ranks) < 1 or args.repeat < 1:
        print("bench_fe: --sizes, --ranks and --repeat must be positive", file=sys.stderr)
        return 2
    try:
        mpirun = find_mpirun(args.mpirun)
    except ToolMissing as e:
        print(f"bench_fe: {e}", file=sys.stderr)
        return 2
    sizes = list(dict.fromkeys(args.sizes))
    ranks = sorted(set(args.ranks))
    petsc_sizes = ([] if args.no_petsc else
                   list(args.petsc_sizes) if args.petsc_sizes is not None else [min(sizes)])
    if args.previous is not None:
        return retabulate(args.previous.resolve(), sizes, ranks, petsc_sizes)
    work = args.out.resolve() / f"bench_fe-{timestamp()}"
    work.mkdir(parents=True, exist_ok=False)
    print(f"bench_fe: {machine_note()}")
    print(f"bench_fe: runs in {work}")
    ex17, petsc_note = None, None
    if petsc_sizes:
        ex17, petsc_note = build_ex17(work / "petsc_ex17", args.petsc_example)
    else:
        petsc_note = "PETSc reference skipped (--no-petsc or --petsc-sizes with no size)"
    if petsc_note:
        print(f"bench_fe: {petsc_note}")
    if not args.no_warmup and not warmup(mpirun, work, args.timeout):
        return 1

    results = {}   # (code, n, r) -> best result dict
    runs = {}      # (code, n, r) -> [per-iteration totals]
    for rep in range(args.repeat):
        for n in sizes:
            for r in ranks:
                tag = f"hpcms_n{n}_r{r}_rep{rep}"
                res = run_hpcms(mpirun, n, r, work / tag, args.timeout, args.hpcms_options)
                keep(results, runs, ("hpcms", n, r), res, tag)
                if ex17 and n in petsc_sizes:
                    tag = f"petsc_n{n}_r{r}_rep{rep}"
                    res = run_ex17(mpirun, ex17, n, r, work / tag, args.timeout)
                    keep(results, runs, ("petsc", n, r), res, tag)

    rows = report(results, runs, sizes, ranks, petsc_sizes if ex17 else [], args.repeat)
    if petsc_note:
        print(f"  {petsc_note}")
    for path in (args.out.resolve() / "bench_fe.csv", work / "bench_fe.csv"):
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
            w.writeheader()
            w.writerows(rows)
    (work / "bench_fe.json").write_text(json.dumps({
        "command": shlex.join([sys.executable, *sys.argv]), "machine": machine_note(),
        "mpirun": mpirun, "ex17": str(ex17) if ex17 else None, "petsc_note": petsc_note,
        "results": {"/".join(map(str, k)): v for k, v in results.items()},
        "runs": {"/".join(map(str, k)): v for k, v in runs.items()},
    }, indent=1, default=str))
    print(f"\nwrote {args.out.resolve() / 'bench_fe.csv'} (and a copy in {work})")
    missing = [k for k in [("hpcms", n, r) for n in sizes for r in ranks] if k not in results]
    if missing:
        print(f"bench_fe: {len(missing)} hpcms case(s) failed in every repeat; see the job.log "
              f"files under {work}", file=sys.stderr)
        return 1
    return 0


def retabulate(work, sizes, ranks, petsc_sizes):
    """The tables of the runs kept in `work`, read again (nothing runs)."""
    results, runs = {}, {}
    for d in sorted(work.iterdir()):
        m = re.fullmatch(r"(hpcms|petsc)_n(\d+)_r(\d+)_rep(\d+)", d.name)
        if not m or int(m.group(2)) not in sizes or int(m.group(3)) not in ranks:
            continue
        code, n, r = m.group(1), int(m.group(2)), int(m.group(3))
        res = hpcms_result(d) if code == "hpcms" else ex17_result(d, n, r)
        keep(results, runs, (code, n, r), res, d.name)
    repeat = max((len(v) for v in runs.values()), default=0)
    report(results, runs, sizes, ranks, [n for n in petsc_sizes if
                                         any(k[0] == "petsc" for k in results)], repeat)
    return 0


def keep(results, runs, key, res, tag):
    if isinstance(res, str):
        print(f"  {tag}: FAILED\n{res}", file=sys.stderr)
        return
    per_it = res["per_iteration"]["total"]
    print(f"  {tag}: {per_it:.3f} s per Newton iteration ({res['iterations']} "
          f"iterations, {res['dofs']} dofs)", flush=True)
    runs.setdefault(key, []).append(per_it)
    if key not in results or per_it < results[key]["per_iteration"]["total"]:
        results[key] = res


# --------------------------------------------------------------------------
# hpcms


def warmup(mpirun, work, timeout):
    """A small run so numba's compilation lands in its cache, not in a timing."""
    d = work / "warmup"
    d.mkdir()
    (d / "deck.toml").write_text(hpcms_deck(3))
    print("bench_fe: warm-up run (fills the numba cache) ...", flush=True)
    res = run_job([*mpirun, "-n", "1", sys.executable, str(CASE), "deck.toml", "result.json"],
                  d, timeout, d / "job.log")
    if not res.ok:
        print(f"bench_fe: the hpcms warm-up run failed:\n{res.why()}", file=sys.stderr)
    return res.ok


def run_hpcms(mpirun, n, r, run_dir, timeout, options=""):
    run_dir.mkdir()
    (run_dir / "deck.toml").write_text(hpcms_deck(n))
    cmd = [*mpirun, "-n", str(r), sys.executable, str(CASE), "deck.toml", "result.json",
           *shlex.split(options)]
    res = run_job(cmd, run_dir, timeout, run_dir / "job.log")
    if not res.ok:
        return res.why()
    return hpcms_result(run_dir)


def hpcms_result(run_dir):
    """fe_case.py's result.json with the per-iteration split, or why there is none.

    Per Newton iteration means per Jacobian evaluation (one per iteration,
    those of increments that failed and were cut back included)."""
    try:
        t = json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError) as e:
        return f"{run_dir}: result.json: {e}"
    ev, ph = t["events"], t["phases"]
    f_eval, j_eval = ev["SNESFunctionEval"], ev["SNESJacobianEval"]
    its = j_eval["count"]
    linear = ev["SNESSolve"]["seconds"] - f_eval["seconds"] - j_eval["seconds"]
    residual = f_eval["seconds"] - ph["kinematics"] - ph["material"]
    t["iterations"] = its
    t["per_iteration"] = {
        "material": ph["material"] / its,
        "kinematics": ph["kinematics"] / its,
        "residual assembly": residual / its,
        "jacobian assembly": j_eval["seconds"] / its,
        "linear solve": linear / its,
        "total": ev["SNESSolve"]["seconds"] / its,
    }
    t["per_call"] = {"residual": f_eval["seconds"] / f_eval["count"],
                     "jacobian": j_eval["seconds"] / j_eval["count"]}
    t["setup_total"] = sum(t["setup"].values())
    t["dir"] = str(run_dir)
    return t


# --------------------------------------------------------------------------
# PETSc's ex17


def find_ex17(explicit=None):
    """Path of ex17.c, or None."""
    if explicit is not None:
        return explicit if explicit.is_file() else None
    petsc_dir = petsc_dir_of()
    candidates = []
    if petsc_dir:
        candidates += [Path(petsc_dir) / "share/petsc/examples/src/snes/tutorials/ex17.c",
                       Path(petsc_dir) / "src/snes/tutorials/ex17.c"]
    candidates += [Path(p) for p in sorted(glob.glob(
        "/usr/share/petsc/*/share/petsc/examples/src/snes/tutorials/ex17.c"), reverse=True)]
    return next((c for c in candidates if c.is_file()), None)


def petsc_dir_of():
    """$PETSC_DIR, else the one petsc4py was built with."""
    if os.environ.get("PETSC_DIR"):
        return os.environ["PETSC_DIR"]
    try:
        import petsc4py
        return petsc4py.get_config()["PETSC_DIR"]
    except (ImportError, KeyError):
        return None


def build_ex17(build, explicit=None):
    """(path of the built ex17, None) or (None, why it is skipped)."""
    source = find_ex17(explicit)
    petsc_dir = petsc_dir_of()
    if source is None:
        return None, ("PETSc reference skipped: no ex17.c (Debian: apt-get install "
                      "libpetsc3.18-dev-examples, or pass --petsc-example)")
    if not petsc_dir or not (Path(petsc_dir) / "lib/petsc/conf/variables").is_file():
        return None, ("PETSc reference skipped: no PETSc makefiles under PETSC_DIR="
                      f"{petsc_dir} (Debian: apt-get install libpetsc-real3.18-dev)")
    if shutil.which("make") is None or shutil.which("mpicc") is None:
        return None, "PETSc reference skipped: make or mpicc not found"
    build.mkdir(parents=True)
    shutil.copy(source, build / "ex17.c")
    (build / "makefile").write_text(
        "include ${PETSC_DIR}/lib/petsc/conf/variables\n"
        "include ${PETSC_DIR}/lib/petsc/conf/rules\n"
        "ex17: ex17.o\n\t-${CLINKER} -o ex17 ex17.o ${PETSC_LIB}\n")
    env_cmd = ["make", f"PETSC_DIR={petsc_dir}", "PETSC_ARCH=", "ex17"]
    print(f"bench_fe: building PETSc's {source} in {build} ...", flush=True)
    res = run_job(env_cmd, build, 600, build / "build.log")
    if not res.ok or not (build / "ex17").is_file():
        return None, f"PETSc reference skipped: ex17 did not build (see {build / 'build.log'})"
    return build / "ex17", None


_EVENT_RE = re.compile(r"^(\S+)\s+(\d+)\s+[0-9.]+\s+([0-9.eE+-]+)\s")


def parse_log_view(text):
    """{event: {"seconds", "count"}} of the first (main) stage of a -log_view."""
    events = {}
    for line in text.splitlines():
        m = _EVENT_RE.match(line)
        if m and m.group(1) in PETSC_EVENTS and m.group(1) not in events:
            events[m.group(1)] = {"seconds": float(m.group(3)), "count": int(m.group(2))}
    return events


def run_ex17(mpirun, ex17, n, r, run_dir, timeout):
    run_dir.mkdir()
    cmd = [*mpirun, "-n", str(r), str(ex17), *petsc_args(n)]
    res = run_job(cmd, run_dir, timeout, run_dir / "job.log")
    if not res.ok:
        return res.why()
    (run_dir / "log_view.txt").write_text(res.stdout)
    return ex17_result(run_dir, n, r)


def ex17_result(run_dir, n, r):
    """ex17's -log_view (log_view.txt, or job.log) digested like `hpcms_result`."""
    path = run_dir / "log_view.txt"
    text = path.read_text() if path.is_file() else (run_dir / "job.log").read_text()
    ev = parse_log_view(text)
    if "SNESJacobianEval" not in ev or "SNESSolve" not in ev:
        return f"{run_dir}: no SNES events in its -log_view"
    if "CONVERGED" not in text:
        return f"{run_dir}: ex17 did not converge"
    f_eval, j_eval = ev["SNESFunctionEval"], ev["SNESJacobianEval"]
    its = j_eval["count"]  # one Jacobian per Newton iteration
    linear = ev["SNESSolve"]["seconds"] - f_eval["seconds"] - j_eval["seconds"]
    ksp = re.findall(r"Linear solve converged due to \S+ iterations (\d+)", text)
    return {
        "ranks": r, "cells": n ** 3, "dofs": 3 * (n + 1) ** 3, "iterations": its,
        "newton_iterations": its, "ksp_iterations": sum(int(k) for k in ksp),
        "events": ev,
        "per_iteration": {"residual assembly": f_eval["seconds"] / its,
                          "jacobian assembly": j_eval["seconds"] / its,
                          "linear solve": linear / its,
                          "total": ev["SNESSolve"]["seconds"] / its},
        "per_call": {"residual": f_eval["seconds"] / f_eval["count"],
                     "jacobian": j_eval["seconds"] / j_eval["count"]},
        "setup_total": ev.get("DMCreateMat", {}).get("seconds", 0.0),
        "dir": str(run_dir),
    }


# --------------------------------------------------------------------------
# the tables


def report(results, runs, sizes, ranks, petsc_sizes, repeat):
    r0 = ranks[0]

    def eff(code, n, r, key):
        a, b = results.get((code, n, r0)), results.get((code, n, r))
        if a is None or b is None:
            return None
        ta, tb = a["per_iteration"][key], b["per_iteration"][key]
        return ta * r0 / (tb * r) if tb > 0 else None

    def f(x, digits=3):
        return "-" if x is None else f"{x:.{digits}f}"

    print(f"\nhpcms FE, Neo-Hookean cube in tension, Q1 hexahedra; best of {repeat}; "
          "seconds per Newton iteration (max over ranks)")
    head = ["N", "dofs", "ranks", "its", "ksp its", "material", "kinematics", "residual asm",
            "jacobian asm", "linear solve", "total", f"eff vs {r0}r", "spread", "cpu/wall"]
    rows_out, csv_rows = [], []
    for n in sizes:
        for r in ranks:
            t = results.get(("hpcms", n, r))
            if t is None:
                rows_out.append([n, "-", r] + ["failed"] + ["-"] * (len(head) - 4))
                continue
            p = t["per_iteration"]
            tries = runs.get(("hpcms", n, r), [])
            spread = (max(tries) / min(tries) - 1) if len(tries) > 1 else None
            rows_out.append([n, t["dofs"], r, t["iterations"], t["ksp_iterations"],
                             f(p["material"]), f(p["kinematics"]), f(p["residual assembly"]),
                             f(p["jacobian assembly"]), f(p["linear solve"]), f(p["total"]),
                             f(eff("hpcms", n, r, "total"), 2),
                             "-" if spread is None else f"{100 * spread:.0f}%",
                             f(t.get("cpu_share_min"), 2)])
            row = {"code": "hpcms", "N": n, "dofs": t["dofs"], "cells": t["cells"], "ranks": r,
                   "newton_iterations": t["iterations"],
                   "newton_iterations_converged": t["newton_iterations"],
                   "increments": t.get("increments"),
                   "ksp_iterations": t["ksp_iterations"],
                   "runs_total_per_iteration": ";".join(f"{x:.4g}" for x in tries),
                   "setup_total": t["setup_total"], "peak_rss_mb_max": t["peak_rss_mb_max"],
                   "cpu_share_min": t.get("cpu_share_min")}
            row.update({f"{k} per it": v for k, v in p.items()})
            row.update({f"{k} per call": v for k, v in t["per_call"].items()})
            row.update({f"eff {k}": eff("hpcms", n, r, k) for k in p})
            row.update({f"setup {k}": v for k, v in t["setup"].items()})
            row.update({f"setup {k}": v for k, v in t["setup_pieces"].items()})
            csv_rows.append(row)
    print_table(head, rows_out)
    print("  residual asm: SNESFunctionEval less kinematics and material; jacobian asm: "
          "SNESJacobianEval; linear solve: SNESSolve less both (KSP + GAMG set-up); its: "
          "Jacobian evaluations (those of cut-back increments included); spread: "
          "slowest/fastest repeat - 1; cpu/wall: CPU seconds per wall second of the solve on "
          "the least served rank (< 0.9: the cores were shared, times are inflated)")

    effs = []
    for n in sizes:
        for r in ranks[1:]:
            if results.get(("hpcms", n, r)):
                effs.append([n, r] + [f(eff("hpcms", n, r, k), 2) for k in
                                      ("material", "kinematics", "residual assembly",
                                       "jacobian assembly", "linear solve", "total")])
    if effs:
        print(f"\nstrong-scaling efficiency vs {r0} rank(s), t({r0}) * {r0} / (t(R) * R)")
        print_table(["N", "ranks", "material", "kinematics", "residual asm", "jacobian asm",
                     "linear solve", "total"], effs)

    print("\nset-up seconds (max over ranks)")
    setup_rows = []
    for n in sizes:
        for r in ranks:
            t = results.get(("hpcms", n, r))
            if t is None:
                continue
            s, q = t["setup"], t["setup_pieces"]
            creation = s["mesh"] - q.get("distribution", 0.0) - q.get("connectivity", 0.0)
            setup_rows.append([n, r, f(creation), f(q.get("distribution")),
                               f(q.get("connectivity")), f(q.get("section")),
                               f(q.get("sparsity")), f(s["boundary regions"]),
                               f(s["geometry + matrix"]), f(t["setup_total"]),
                               f"{t['peak_rss_mb_max']:.0f}"])
    print_table(["N", "ranks", "mesh creation", "distribution", "connectivity", "section",
                 "sparsity", "regions", "geometry+matrix", "total", "peak MB/rank"], setup_rows)

    if petsc_sizes:
        print("\nassembly beside PETSc's SNES ex17 (Q1 linear elasticity, same mesh): "
              "seconds per call and microseconds per cell")
        cmp_rows = []
        for n in petsc_sizes:
            for r in ranks:
                h, p = results.get(("hpcms", n, r)), results.get(("petsc", n, r))
                if h is None or p is None:
                    continue
                cells = h["cells"] / r
                hr, hj = h["per_call"]["residual"], h["per_call"]["jacobian"]
                pr, pj = p["per_call"]["residual"], p["per_call"]["jacobian"]
                cmp_rows.append([n, r, f(hr), f(pr), f(pr / hr, 1), f(1e6 * hr / cells, 2),
                                 f(1e6 * pr / cells, 2), f(hj), f(pj), f(pj / hj, 1),
                                 f(1e6 * hj / cells, 2), f(1e6 * pj / cells, 2),
                                 f(p["per_iteration"]["linear solve"]),
                                 f(p["setup_total"])])
                csv_rows.append({"code": "petsc ex17", "N": n, "dofs": p["dofs"],
                                 "cells": p["cells"], "ranks": r,
                                 "newton_iterations": p["newton_iterations"],
                                 "ksp_iterations": p["ksp_iterations"],
                                 "residual per call": pr, "jacobian per call": pj,
                                 "linear solve per it": p["per_iteration"]["linear solve"],
                                 "total per it": p["per_iteration"]["total"],
                                 "setup DMCreateMat": p["setup_total"],
                                 "hpcms/petsc residual": hr / pr,
                                 "hpcms/petsc jacobian": hj / pj})
        print_table(["N", "ranks", "hpcms F s", "ex17 F s", "ex17/hpcms", "hpcms F us/cell",
                     "ex17 F us/cell", "hpcms J s", "ex17 J s", "ex17/hpcms",
                     "hpcms J us/cell", "ex17 J us/cell", "ex17 linear s", "ex17 DMCreateMat s"],
                    cmp_rows)
        print("  F: SNESFunctionEval per call (hpcms: with the Neo-Hookean evaluation); "
              "J: SNESJacobianEval per call; us/cell per rank's cells")
    return csv_rows


if __name__ == "__main__":
    sys.exit(main())
