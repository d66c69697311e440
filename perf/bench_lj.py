#!/usr/bin/env python3
"""LAMMPS `bench/in.lj` in hpcms and in LAMMPS, side by side.

The benchmark: fcc lattice at rho = 0.8442, velocities at T = 1.44 (seed 87287),
lj/cut with cutoff 2.5, skin 0.3, neighbour lists rebuilt every 20 steps
without a displacement check, NVE with dt = 0.005, 100 steps.  20^3 cells are
32,000 atoms, 40^3 are 256,000.

For every size and rank count this script writes an hpcms deck and runs

    mpirun --oversubscribe -n R hpcms run deck.toml --quiet

reading `particle_steps_per_second` (time-step loop only) from timing.json,
once with the neighbour settings LAMMPS uses ("matched": every=20,
check=false) and once with hpcms' defaults ("default": every=1, check=true).
When `lmp` is installed it writes the LAMMPS input and runs

    mpirun --oversubscribe -n R lmp -in in.lj -log log.lammps

reading atom-steps/s from its "Loop time of T on P procs for S steps with N
atoms" line.  Each case runs --repeat times and the best (highest) rate is
kept.  It prints the rates, hpcms/LAMMPS, the parallel efficiency against the
smallest rank count, and the phase breakdowns of both codes, and writes
perf/results/bench_lj.csv (or --out DIR).

    python perf/bench_lj.py                                   # 20^3 and 40^3, 1 and 2 ranks
    python perf/bench_lj.py --sizes 6 --steps 20 --ranks 1 2  # a quick check
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import (DEFAULT_RESULTS, ToolMissing, find_hpcms, find_lmp,  # noqa: E402
                   find_mpirun, fmt_rate, fmt_ratio, machine_note, parse_lammps_log,
                   print_table, read_timing, run_job, timestamp)

DENSITY = 0.8442
TEMPERATURE = 1.44
SEED = 87287
CUTOFF = 2.5
SKIN = 0.3
DT = 0.005

# name -> (neighbor.every, neighbor.check)
MODES = {
    "matched": (20, False),   # what bench/in.lj does: neigh_modify delay 0 every 20 check no
    "default": (1, True),     # hpcms' defaults: consider every step, rebuild on skin/2
}


def hpcms_deck(cells, steps, every, check, thermo, output):
    """The hpcms deck of in.lj, as TOML text."""
    return f"""\
# LAMMPS bench/in.lj in hpcms form, written by perf/bench_lj.py
[run]
kind = "md"
steps = {steps}
seed = {SEED}
output = {json.dumps(str(output))}

[system]
lattice = "fcc"
density = {DENSITY}
cells = [{cells}, {cells}, {cells}]
temperature = {TEMPERATURE}

[potential]
style = "lj/cut"
cutoff = {CUTOFF}
[[potential.pair]]
types = [1, 1]
epsilon = 1.0
sigma = 1.0

[integrator]
style = "nve"
dt = {DT}

[neighbor]
skin = {SKIN}
every = {every}
check = {"true" if check else "false"}

[output]
thermo_every = {thermo}
"""


def lammps_input(cells, steps, thermo):
    """LAMMPS bench/in.lj with the box size and step count filled in."""
    return f"""\
# LAMMPS bench/in.lj, written by perf/bench_lj.py
units           lj
atom_style      atomic

lattice         fcc {DENSITY}
region          box block 0 {cells} 0 {cells} 0 {cells}
create_box      1 box
create_atoms    1 box
mass            1 1.0

velocity        all create {TEMPERATURE} {SEED} loop geom

pair_style      lj/cut {CUTOFF}
pair_coeff      1 1 1.0 1.0 {CUTOFF}

neighbor        {SKIN} bin
neigh_modify    delay 0 every 20 check no

fix             1 all nve
timestep        {DT}

thermo          {thermo}
run             {steps}
"""


def _parser():
    p = argparse.ArgumentParser(
        description="Run LAMMPS' bench/in.lj (LJ liquid, fcc start, rho 0.8442, T 1.44, "
                    "cutoff 2.5) in hpcms and, when installed, in LAMMPS; compare "
                    "particle-steps per second and parallel efficiency.",
        epilog="Each case writes its inputs and outputs under OUT/bench_lj-<time>/; "
               "the summary goes to OUT/bench_lj.csv (and a copy beside the runs).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[20, 40], metavar="N",
                   help="fcc cells per edge (N^3 cells, 4 N^3 atoms)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2], metavar="R",
                   help="MPI rank counts; efficiency is measured against the smallest")
    p.add_argument("--steps", type=int, default=100, help="time steps per run")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs of each case; the best (highest rate) is kept")
    p.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["matched", "default"],
                   help="hpcms neighbour settings: matched = every 20, no check (as LAMMPS); "
                        "default = every 1 with the skin/2 check")
    p.add_argument("--thermo", type=int, default=50, help="thermo output every this many steps")
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="results directory")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds before one run is killed")
    p.add_argument("--mpirun", default="mpirun --oversubscribe",
                   help="MPI launcher; '-n R' is appended")
    p.add_argument("--lmp", default="lmp",
                   help="LAMMPS executable ('' to skip LAMMPS)")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip the small hpcms run that fills the numba cache first")
    p.add_argument("--dry-run", action="store_true",
                   help="write the inputs and print the commands, run nothing")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if min(args.sizes) < 1 or min(args.ranks) < 1 or args.steps < 1 or args.repeat < 1:
        print("bench_lj: --sizes, --ranks, --steps and --repeat must be positive", file=sys.stderr)
        return 2
    try:
        hpcms = find_hpcms()
        mpirun = find_mpirun(args.mpirun)
    except ToolMissing as e:
        print(f"bench_lj: {e}", file=sys.stderr)
        return 2
    lmp = find_lmp(args.lmp)
    lammps_note = None
    if lmp is None:
        lammps_note = ("LAMMPS skipped: " + (f"no {args.lmp!r} on PATH (Debian: apt-get install lammps)"
                                             if args.lmp else "--lmp ''"))
    sizes = list(dict.fromkeys(args.sizes))
    ranks = sorted(set(args.ranks))
    base_ranks = ranks[0]

    out = args.out.resolve()
    work = out / f"bench_lj-{timestamp()}"
    work.mkdir(parents=True, exist_ok=False)
    print(f"bench_lj: {machine_note()}")
    print(f"bench_lj: runs in {work}")
    if lammps_note:
        print(f"bench_lj: {lammps_note}")
    if max(ranks) > (_cores() or max(ranks)):
        print(f"bench_lj: note: {max(ranks)} ranks on {_cores()} cores are oversubscribed; "
              "their rates say little about scaling")

    # ---- the cases: inputs written once, runs repeated
    cases = []          # dicts: code, cells, ranks, mode, dir
    for n in sizes:
        for r in ranks:
            for mode in args.modes:
                cases.append({"code": "hpcms", "cells": n, "ranks": r, "mode": mode})
            if lmp:
                cases.append({"code": "lammps", "cells": n, "ranks": r, "mode": "in.lj"})
    for c in cases:
        c["runs"] = []          # one entry per repeat: dict of results or None
        c["errors"] = []

    if not _check_decks(hpcms, sizes, args, work):
        return 2
    if not args.dry_run and not args.no_warmup:
        if not _warmup(hpcms, mpirun, work, args.timeout):
            return 1

    for rep in range(args.repeat):
        for c in cases:
            tag = (f"{c['code']}_c{c['cells']}_r{c['ranks']}"
                   + (f"_{c['mode']}" if c["code"] == "hpcms" else "") + f"_rep{rep}")
            run_dir = work / tag
            run_dir.mkdir()
            if c["code"] == "hpcms":
                res = _run_hpcms(hpcms, mpirun, c, run_dir, args)
            else:
                res = _run_lammps(lmp, mpirun, c, run_dir, args)
            if isinstance(res, str):
                c["errors"].append(res)
                print(f"  {tag}: FAILED\n{res}", file=sys.stderr)
            elif res is not None:
                c["runs"].append(res)
                print(f"  {tag}: {res['rate']:.3e} particle-steps/s "
                      f"(loop {res['loop_seconds']:.3f} s)", flush=True)
    if args.dry_run:
        print("bench_lj: dry run, nothing was run")
        return 0

    # ---- best of the repeats, efficiencies, ratios
    for c in cases:
        c["best"] = max(c["runs"], key=lambda r: r["rate"]) if c["runs"] else None
    index = {(c["code"], c["cells"], c["ranks"], c["mode"]): c for c in cases}

    def rate(code, n, r, mode):
        c = index.get((code, n, r, mode))
        return c["best"]["rate"] if c and c["best"] else None

    def efficiency(code, n, r, mode):
        x, x0 = rate(code, n, r, mode), rate(code, n, base_ranks, mode)
        if x is None or x0 is None:
            return None
        return (x / x0) * base_ranks / r

    rows, csv_rows = [], []
    for n in sizes:
        for mode in args.modes:
            for r in ranks:
                c = index[("hpcms", n, r, mode)]
                h = rate("hpcms", n, r, mode)
                lm = rate("lammps", n, r, "in.lj")
                ratio = h / lm if (h is not None and lm) else None
                eff_h = efficiency("hpcms", n, r, mode)
                eff_l = efficiency("lammps", n, r, "in.lj")
                best = c["best"]
                rows.append([f"{n}^3", 4 * n ** 3, mode, r, fmt_rate(h),
                             fmt_rate(lm) if lmp else "skipped", fmt_ratio(ratio),
                             fmt_ratio(eff_h, 2), fmt_ratio(eff_l, 2),
                             best["neighbor_builds"] if best else "-"])
                csv_rows.append(_csv_row(n, r, mode, args, c, index.get(("lammps", n, r, "in.lj")),
                                         h, lm, ratio, eff_h, eff_l))

    print()
    print(f"LJ benchmark (bench/in.lj), {args.steps} steps, best of {args.repeat}; "
          f"rates in particle-steps/s of the time-step loop")
    print_table(["cells", "atoms", "hpcms mode", "ranks", "hpcms", "LAMMPS", "hpcms/LAMMPS",
                 f"hpcms eff vs {base_ranks}r", f"LAMMPS eff vs {base_ranks}r", "nbr builds"],
                rows)
    print("  matched: neighbor every=20 check=false (as in.lj); default: every=1 check=true.")
    if lmp and len(args.modes) > 1:
        print("  The LAMMPS column is the same in.lj run for both hpcms modes.")
    if lammps_note:
        print(f"  {lammps_note}")

    _print_phases(cases, sizes, ranks, args.modes, lmp)

    fields = list(dict.fromkeys(k for row in csv_rows for k in row))
    for path in (out / "bench_lj.csv", work / "bench_lj.csv"):
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(csv_rows)
    (work / "bench_lj.json").write_text(json.dumps({
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine_note(),
        "hpcms": hpcms, "mpirun": mpirun, "lmp": lmp,
        "cases": [{k: v for k, v in c.items() if k != "best"} for c in cases],
    }, indent=1, default=str))
    print(f"\nwrote {out / 'bench_lj.csv'} (and a copy in {work})")

    failed = [c for c in cases if c["errors"] and not c["runs"]]
    if failed:
        print(f"bench_lj: {len(failed)} case(s) failed in every repeat; see the job.log files "
              f"under {work}", file=sys.stderr)
        return 1
    return 0


def _cores():
    import os
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def _warmup(hpcms, mpirun, work, timeout):
    """A tiny run so numba's compile lands in its cache, not in the first case."""
    d = work / "warmup"
    d.mkdir()
    deck = d / "deck.toml"
    deck.write_text(hpcms_deck(4, 5, 1, True, 0, d / "out"))
    print("bench_lj: warm-up run (fills the numba cache) ...", flush=True)
    res = run_job([*mpirun, "-n", "1", *hpcms, "run", str(deck), "--quiet"], d, timeout,
                  d / "job.log")
    if not res.ok:
        print(f"bench_lj: the hpcms warm-up run failed:\n{res.why()}", file=sys.stderr)
        return False
    return True


def _check_decks(hpcms, sizes, args, work):
    """`hpcms check` each size once, so a bad size stops us before the long runs."""
    d = work / "check"
    d.mkdir()
    ok = True
    for n in sizes:
        deck = d / f"c{n}.toml"
        deck.write_text(hpcms_deck(n, args.steps, 20, False, args.thermo, d / f"out_c{n}"))
        res = run_job([*hpcms, "check", str(deck)], d, 300, d / f"c{n}.log")
        if not res.ok:
            print(f"bench_lj: size {n} is not a valid hpcms deck:\n{res.why(3)}", file=sys.stderr)
            ok = False
    return ok


def _run_hpcms(hpcms, mpirun, case, run_dir, args):
    every, check = MODES[case["mode"]]
    deck = run_dir / "deck.toml"
    output = run_dir / "out"
    deck.write_text(hpcms_deck(case["cells"], args.steps, every, check, args.thermo, output))
    cmd = [*mpirun, "-n", str(case["ranks"]), *hpcms, "run", str(deck), "--quiet"]
    if args.dry_run:
        print(f"  (cd {shlex.quote(str(run_dir))} && {shlex.join(cmd)})")
        return None
    res = run_job(cmd, run_dir, args.timeout, run_dir / "job.log")
    if not res.ok:
        return res.why()
    try:
        t = read_timing(output)
    except (OSError, ValueError) as e:
        return f"{shlex.join(cmd)}: {e}"
    if t.get("ranks") != case["ranks"]:
        return f"{shlex.join(cmd)}: timing.json says {t.get('ranks')} ranks, expected {case['ranks']}"
    return {
        "rate": float(t["particle_steps_per_second"]),
        "loop_seconds": float(t["loop_seconds"]),
        "wall_seconds": float(t.get("wall_seconds", float("nan"))),
        "particles": int(t["particles"]),
        "neighbor_builds": t.get("neighbor_builds"),
        "dangerous_builds": t.get("dangerous_builds"),
        "load_imbalance": t.get("load_imbalance"),
        "grid": t.get("grid"),
        "phases": t.get("phases", {}),
        "dir": str(run_dir),
    }


def _run_lammps(lmp, mpirun, case, run_dir, args):
    (run_dir / "in.lj").write_text(lammps_input(case["cells"], args.steps, args.thermo))
    cmd = [*mpirun, "-n", str(case["ranks"]), lmp, "-in", "in.lj", "-log", "log.lammps"]
    if args.dry_run:
        print(f"  (cd {shlex.quote(str(run_dir))} && {shlex.join(cmd)})")
        return None
    res = run_job(cmd, run_dir, args.timeout, run_dir / "job.log")
    if not res.ok:
        return res.why()
    try:
        lg = parse_lammps_log((run_dir / "log.lammps").read_text())
    except (OSError, ValueError) as e:
        return f"{shlex.join(cmd)}: log.lammps: {e}"
    return {
        "rate": lg["atom_steps_per_second"],
        "loop_seconds": lg["loop_seconds"],
        "particles": lg["atoms"],
        "neighbor_builds": None,
        "phases": lg["phases"],
        "dir": str(run_dir),
    }


def _csv_row(n, r, mode, args, hcase, lcase, h, lm, ratio, eff_h, eff_l):
    every, check = MODES[mode]
    hb = hcase["best"]
    lb = lcase["best"] if lcase else None
    row = {
        "cells": n, "atoms": 4 * n ** 3, "ranks": r, "mode": mode,
        "neighbor_every": every, "neighbor_check": check,
        "steps": args.steps, "repeat": args.repeat,
        "hpcms_particle_steps_per_second": h,
        "hpcms_loop_seconds": hb["loop_seconds"] if hb else None,
        "hpcms_efficiency": eff_h,
        "hpcms_runs": ";".join(f"{x['rate']:.6g}" for x in hcase["runs"]),
        "lammps_atom_steps_per_second": lm,
        "lammps_loop_seconds": lb["loop_seconds"] if lb else None,
        "lammps_efficiency": eff_l,
        "lammps_runs": ";".join(f"{x['rate']:.6g}" for x in lcase["runs"]) if lcase else "",
        "hpcms_over_lammps": ratio,
        "hpcms_neighbor_builds": hb["neighbor_builds"] if hb else None,
        "hpcms_dangerous_builds": hb["dangerous_builds"] if hb else None,
        "hpcms_load_imbalance": hb["load_imbalance"] if hb else None,
        "hpcms_grid": "x".join(map(str, hb["grid"])) if hb and hb.get("grid") else None,
    }
    if hb:
        for ph, v in hb["phases"].items():
            row[f"hpcms_{ph}_avg"] = v.get("avg")
            row[f"hpcms_{ph}_max"] = v.get("max")
    if lb:
        for ph, v in lb["phases"].items():
            row[f"lammps_{ph}_avg"] = v.get("avg")
    errors = hcase["errors"] + (lcase["errors"] if lcase else [])
    row["errors"] = " | ".join(e.splitlines()[0] for e in errors)
    return row


def _print_phases(cases, sizes, ranks, modes, lmp):
    """Seconds by phase (average over ranks) and share of the loop time."""
    for code, mode_list in (("hpcms", modes), ("lammps", ["in.lj"] if lmp else [])):
        chosen = [c for n in sizes for m in mode_list for r in ranks
                  for c in cases if (c["code"], c["cells"], c["ranks"], c["mode"]) == (code, n, r, m)
                  and c["best"]]
        if not chosen:
            continue
        names = list(dict.fromkeys(p for c in chosen for p in c["best"]["phases"]))
        rows = []
        for c in chosen:
            b = c["best"]
            loop = b["loop_seconds"]
            cells = [f"{c['cells']}^3", c["mode"], c["ranks"], f"{loop:.3f}"]
            for p in names:
                v = b["phases"].get(p)
                if v is None:
                    cells.append("-")
                else:
                    share = 100.0 * v["avg"] / loop if loop > 0 else float("nan")
                    cells.append(f"{v['avg']:.4g} {share:4.1f}%")
            rows.append(cells)
        title = ("hpcms phases (timing.json): seconds averaged over ranks, % of loop time"
                 if code == "hpcms" else
                 "LAMMPS phases (MPI task timing breakdown): seconds averaged over ranks, % of loop")
        print(f"\n{title}")
        print_table(["cells", "mode", "ranks", "loop s", *names], rows)


if __name__ == "__main__":
    sys.exit(main())
