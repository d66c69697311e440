#!/usr/bin/env python3
"""The water-like DPD fluid in hpcms and, where it has `pair_style dpd`, in LAMMPS.

Issue 3's benchmark.  Groot & Warren's fluid: rho = 3, a = 25, gamma = 4.5,
kT = 1, r_c = 1, dt = 0.04, random start, 200 steps; boxes of 20^3 and 30^3
r_c^3 hold 24,000 and 81,000 beads.  hpcms integrates it with Groot–Warren's
scheme at lambda = 0.65,

    mpirun --oversubscribe -n R python -m hpcms run deck.toml --quiet

and LAMMPS, when --lmp names a binary with `pair_style dpd` (package
DPD-BASIC, which Debian's lmp lacks), with `fix nve` (lambda = 0.5) and its
own random stream,

    LMP_MPIRUN -n R LMP -in in.dpd -log log.lammps

so the trajectories differ but the work per step is the same: one force
evaluation over the same pairs, lists checked every step at the same skin.
Rates are particle-steps/s of the time-step loop: `particle_steps_per_second`
of hpcms' timing.json, atoms x steps / T of LAMMPS' "Loop time of T" line.

This machine's speed drifts over minutes, so repeats are interleaved: each
repeat runs every size, skin and rank count (hpcms, then LAMMPS) before the
next one starts, and measures capacity(R) (perf/capacity.py) first.  The
efficiency against the smallest rank count R0, rate(R) / rate(R0) * R0 / R,
its share "of capacity" and the hpcms/LAMMPS ratio are formed within each
repeat; the table gives their medians over repeats, the rates' median and best.

Runs are kept under OUT/bench_dpd-<time>/ (inputs, job.log, timing.json or
log.lammps); OUT/bench_dpd.csv has one row per case and repeat.  `--repo DIR`
runs the hpcms of another tree (e.g. `mkdir /tmp/base && git archive HEAD |
tar -x -C /tmp/base`) for a before/after comparison.

    python perf/bench_dpd.py --repeat 3                        # 20^3 and 30^3, skins 0.3 and 0.6, 1 and 2 ranks
    python perf/bench_dpd.py --sizes 8 --steps 20 --repeat 2   # a quick check
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "perf"))
from capacity import capacity  # noqa: E402
from procs import (find_lmp, parse_lammps_log, print_table, read_timing,  # noqa: E402
                   run_job, timestamp)

HPCMS_MPIRUN = ["mpirun", "--oversubscribe"]

DECK = """\
# DPD benchmark deck (written by perf/bench_dpd.py)
[run]
steps = {steps}
seed = 4423
output = "{output}"

[system]
lattice = "random"
density = 3.0
box = [{L}, {L}, {L}]
temperature = 1.0

[potential]
style = "dpd"
temperature = 1.0
cutoff = 1.0
[[potential.pair]]
types = [1, 1]
a = 25.0
gamma = 4.5

[integrator]
style = "groot-warren"
dt = 0.04
lambda = 0.65

[neighbor]
skin = {skin}

[output]
thermo_every = 0
progress = "off"
"""

LAMMPS_INPUT = """\
# DPD benchmark input (written by perf/bench_dpd.py)
units lj
atom_style atomic
comm_modify vel yes
lattice none 1.0
region box block 0 {L} 0 {L} 0 {L}
create_box 1 box
create_atoms 1 random {n} 4423 NULL
mass 1 1.0
pair_style dpd 1.0 1.0 34387
pair_coeff 1 1 25.0 4.5 1.0
neighbor {skin} bin
neigh_modify delay 0 every 1 check yes
velocity all create 1.0 87287 loop geom
fix 1 all nve
timestep 0.04
thermo 100
run {steps}
"""


def run_hpcms(L, skin, ranks, run_dir, a):
    """One hpcms job: its numbers, or a string saying why it failed."""
    out = run_dir / "out"
    deck = run_dir / "deck.toml"
    deck.write_text(DECK.format(steps=a.steps, output=out, L=float(L), skin=skin))
    path = os.pathsep.join(filter(None, [a.repo, os.environ.get("PYTHONPATH")]))
    cmd = [*HPCMS_MPIRUN, "-n", str(ranks), sys.executable, "-m", "hpcms", "run", str(deck),
           "--quiet"]
    res = run_job(cmd, run_dir, a.timeout, run_dir / "job.log", env={"PYTHONPATH": path})
    if not res.ok:
        return res.why()
    try:
        t = read_timing(out)
    except (OSError, ValueError) as e:
        return f"{shlex.join(cmd)}: {e}"
    return {"rate": t["particle_steps_per_second"], "loop_s": t["loop_seconds"],
            "beads": t["particles"], "builds": t["neighbor_builds"],
            "phases": {k: v["avg"] for k, v in t["phases"].items()}}


def run_lammps(L, skin, ranks, run_dir, a):
    """One LAMMPS job: its numbers, or a string saying why it failed."""
    (run_dir / "in.dpd").write_text(
        LAMMPS_INPUT.format(L=float(L), n=round(3 * L ** 3), skin=skin, steps=a.steps))
    cmd = [*shlex.split(a.lmp_mpirun), "-n", str(ranks), a.lmp, "-in", "in.dpd",
           "-log", "log.lammps"]
    res = run_job(cmd, run_dir, a.timeout, run_dir / "job.log", env=a.lmp_env)
    if not res.ok:
        return res.why()
    try:
        lg = parse_lammps_log((run_dir / "log.lammps").read_text())
    except (OSError, ValueError) as e:
        return f"{shlex.join(cmd)}: log.lammps: {e}"
    return {"rate": lg["atom_steps_per_second"], "loop_s": lg["loop_seconds"],
            "beads": lg["atoms"], "builds": lg["neighbor_builds"],
            "phases": {k: v["avg"] for k, v in lg["phases"].items()}}


RUNNERS = {"hpcms": run_hpcms, "lammps": run_lammps}


def lammps_with_dpd(a, where):
    """Path of the --lmp binary if it has pair_style dpd; else None and why not."""
    if not a.lmp:
        return None, "--lmp ''"
    lmp = find_lmp(a.lmp)
    if lmp is None:
        return None, f"no {a.lmp!r} on PATH"
    res = run_job([lmp, "-h"], where, 120, env=a.lmp_env)
    if not res.ok:
        return None, res.why(3)
    pair_styles = res.stdout.partition("* Pair styles:")[2].split("\n* ")[0].split()
    if "dpd" not in pair_styles:
        return None, (f"{lmp} has no pair_style dpd (package DPD-BASIC; "
                      "Debian's lmp is built without it)")
    return lmp, None


def measure_capacity(ranks):
    """capacity(R) for each rank count, or {} (with a note) if the probe fails."""
    try:
        return capacity(ranks)
    except (OSError, ValueError, subprocess.CalledProcessError) as e:
        print(f"capacity probe failed ({e}); no 'of capacity' figures this repeat")
        return {}


def paired(runs, code, case, r0):
    """Per repeat: efficiency vs r0 ranks, its share of capacity, hpcms/LAMMPS."""
    L, skin, ranks = case
    out = []
    for rep in runs:
        mine, base = rep["runs"].get(case, {}), rep["runs"].get((L, skin, r0), {})
        x, x0 = mine.get(code), base.get(code)
        eff = x["rate"] / x0["rate"] * r0 / ranks if x and x0 else None
        cap = rep["capacity"]
        of_cap = (eff * ranks / cap[ranks] * cap[r0] / r0
                  if eff is not None and ranks in cap and r0 in cap else None)
        h, lm = mine.get("hpcms"), mine.get("lammps")
        ratio = h["rate"] / lm["rate"] if h and lm else None
        out.append((eff, of_cap, ratio))
    return out


def median_spread(xs, digits=2):
    """'median (min..max)' of the values that are not None, '-' if none."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    m = f"{statistics.median(xs):.{digits}f}"
    return m if len(xs) == 1 else f"{m} ({min(xs):.{digits}f}..{max(xs):.{digits}f})"


def median_run(results):
    """The run with the median rate (the slower middle one for an even count)."""
    ok = sorted((r for r in results if r), key=lambda r: r["rate"])
    return ok[(len(ok) - 1) // 2] if ok else None


def rates(results):
    """'median (best)' in M particle-steps/s."""
    xs = [r["rate"] / 1e6 for r in results if r]
    return f"{statistics.median(xs):.3f} ({max(xs):.3f})" if xs else "-"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[20.0, 30.0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--skins", type=float, nargs="+", default=[0.3, 0.6])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeat", type=int, default=1, help="interleaved repeats")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a job is killed")
    p.add_argument("--out", default=str(REPO / "perf" / "results"))
    p.add_argument("--repo", default=str(REPO), help="checkout whose hpcms is run")
    p.add_argument("--lmp", default="lmp", help="LAMMPS binary ('' skips LAMMPS)")
    p.add_argument("--lmp-mpirun", default="mpirun --oversubscribe",
                   help="launcher of the LAMMPS jobs ('-n R' is appended)")
    p.add_argument("--lmp-env", action="append", default=[], metavar="K=V",
                   help="extra environment for the LAMMPS jobs (repeatable)")
    a = p.parse_args()
    if any("=" not in kv for kv in a.lmp_env):
        p.error("--lmp-env takes K=V")
    a.lmp_env = dict(kv.split("=", 1) for kv in a.lmp_env)
    ranks = sorted(set(a.ranks))
    r0 = ranks[0]
    cases = [(L, skin, R) for L in a.sizes for skin in a.skins for R in ranks]

    work = Path(a.out).resolve() / f"bench_dpd-{timestamp()}"
    work.mkdir(parents=True)
    a.lmp, why = lammps_with_dpd(a, work)
    codes = ["hpcms", "lammps"] if a.lmp else ["hpcms"]
    print(f"LAMMPS: {a.lmp}" if a.lmp else f"LAMMPS skipped: {why}", flush=True)
    warm = run_hpcms(6, a.skins[0], 1, work, argparse.Namespace(**{**vars(a), "steps": 5}))
    if isinstance(warm, str):
        print(f"the hpcms warm-up run (fills numba's cache) failed:\n{warm}", file=sys.stderr)
        return 1

    runs = []     # per repeat: {"capacity": {R: c}, "runs": {case: {code: result or None}}}
    failed = 0
    for rep in range(a.repeat):
        cap = measure_capacity(ranks)
        print(f"repeat {rep + 1}/{a.repeat}: capacity "
              + ", ".join(f"{r} ranks = {c:.2f} cores' worth" for r, c in cap.items()), flush=True)
        runs.append({"capacity": cap, "runs": {}})
        for L, skin, R in cases:
            got = runs[-1]["runs"][(L, skin, R)] = {}
            line = f"  L={L:g} skin={skin:g} ranks={R}:"
            for code in codes:
                run_dir = work / f"{code}_L{L:g}_skin{skin:g}_r{R}_rep{rep}"
                run_dir.mkdir()
                res = RUNNERS[code](L, skin, R, run_dir, a)
                if isinstance(res, str):
                    failed += 1
                    got[code] = None
                    line += f" {code} FAILED"
                    print(f"  {code} L={L:g} skin={skin:g} ranks={R} failed:\n{res}",
                          file=sys.stderr)
                else:
                    got[code] = res
                    line += f" {code} {res['rate'] / 1e6:.3f} M ({res['builds']} builds)"
            print(line, flush=True)

    rows, hp_rows, lm_rows, csv_rows = [], [], [], []
    for case in cases:
        L, skin, R = case
        per = {code: [rep["runs"][case].get(code) for rep in runs] for code in RUNNERS}
        pairs = {code: paired(runs, code, case, r0) for code in codes}
        hm, lmm = median_run(per["hpcms"]), median_run(per["lammps"])
        beads = (hm or lmm or {}).get("beads", round(3 * L ** 3))
        base = R == r0
        rows.append([
            beads, f"{skin:g}", R, rates(per["hpcms"]),
            rates(per["lammps"]) if a.lmp else "skipped",
            median_spread([x[2] for x in pairs["hpcms"]]),
            "ref" if base else median_spread([x[0] for x in pairs["hpcms"]]),
            "ref" if base else median_spread([x[1] for x in pairs["hpcms"]]),
            "ref" if base or not a.lmp else median_spread([x[0] for x in pairs["lammps"]]),
            f"{hm['builds'] if hm else '-'} / {lmm['builds'] if lmm else '-'}"])
        if hm:
            hp_rows.append((beads, skin, R, hm))
        if lmm:
            lm_rows.append((beads, skin, R, lmm))
        for k, rep in enumerate(runs):
            row = {"repeat": k, "beads": beads, "box": L, "skin": skin, "ranks": R,
                   "steps": a.steps, "cores_worth": rep["capacity"].get(R)}
            for code in codes:
                res = per[code][k]
                eff, of_cap, ratio = pairs[code][k]
                row.update({f"{code}_rate": res and res["rate"], f"{code}_loop_s": res and res["loop_s"],
                            f"{code}_builds": res and res["builds"], f"{code}_efficiency": eff,
                            f"{code}_efficiency_of_capacity": of_cap})
                row.update({f"{code}_{ph}_s": v for ph, v in (res["phases"] if res else {}).items()})
            row["hpcms_over_lammps"] = ratio if a.lmp else None
            csv_rows.append(row)

    print(f"\nDPD fluid, {a.steps} steps, {a.repeat} interleaved repeat(s); M particle-steps/s "
          f"of the time-step loop, median (best); efficiency vs {r0} rank(s) and hpcms/LAMMPS "
          "formed per repeat: median (min..max)")
    print_table(["beads", "skin", "ranks", "hpcms", "LAMMPS", "hpcms/LAMMPS", "hpcms eff",
                 "of capacity", "LAMMPS eff", "builds hpcms / LAMMPS"], rows)
    for title, phase_rows in (("hpcms phases (timing.json)", hp_rows),
                              ("LAMMPS phases (MPI task timing breakdown)", lm_rows)):
        if not phase_rows:
            continue
        names = list(dict.fromkeys(ph for *_, r in phase_rows for ph in r["phases"]))
        print(f"\n{title}: seconds averaged over ranks, of the median run")
        print_table(["beads", "skin", "ranks", "loop s", *names],
                    [[b, f"{s:g}", R, f"{r['loop_s']:.3f}",
                      *(f"{r['phases'][ph]:.3f}" if ph in r["phases"] else "-" for ph in names)]
                     for b, s, R, r in phase_rows])

    path = Path(a.out) / "bench_dpd.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in csv_rows for k in r)))
        w.writeheader()
        w.writerows(csv_rows)
    print(f"\nwrote {path}; runs in {work}")
    if failed:
        print(f"{failed} job(s) failed; see their job.log under {work}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
