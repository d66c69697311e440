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
repeat.  After each case on R > 1 ranks, `dpd_losses.py` measures hpcms'
efficiency once more in one job, the one-rank and R-rank runs alternated
in 10-step blocks, and splits it into size x machine x pacing x
decomposition; "machine" is what R busy vCPUs give this work (R times it
is the workload capacity), "of workload" the efficiency in one job over
it: the share hpcms itself keeps.  The table gives medians over repeats, the
rates' median and best.

Runs are kept under OUT/bench_dpd-<time>/ (inputs, job.log, timing.json or
log.lammps); OUT/bench_dpd.csv has one row per case and repeat.  `--repo DIR`
runs the hpcms of another tree (e.g. `mkdir /tmp/base && git archive HEAD |
tar -x -C /tmp/base`) for a before/after comparison.

    python perf/bench_dpd.py --repeat 3                       # the benchmark, hpcms only
    python perf/bench_dpd.py --sizes 8 --steps 20 --repeat 2  # a quick check
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "perf"))
from capacity import capacity  # noqa: E402
from procs import (find_lmp, machine_note, parse_lammps_log, print_table,  # noqa: E402
                   read_timing, run_job, timestamp)

HPCMS_MPIRUN = ["mpirun", "--oversubscribe"]
# dpd_losses.py's numbers kept per case and repeat (CSV hpcms_in_one_job_*)
LOSS_FACTORS = ("efficiency", "size", "machine", "pacing", "decomposition", "of_workload",
                "capacity")

DECK = """\
# DPD benchmark deck (written by perf/bench_dpd.py)
[run]
steps = {steps}
seed = 4423
output = "{output}"

[system]
lattice = "random"
density = 3.0
box = [{Lx}, {L}, {L}]
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


def pythonpath(a):
    """PYTHONPATH for the hpcms jobs: the checkout under test first."""
    return os.pathsep.join(filter(None, [a.repo, os.environ.get("PYTHONPATH")]))


def run_hpcms(L, skin, ranks, run_dir, a):
    """One hpcms job: its numbers, or a string saying why it failed."""
    out = run_dir / "out"
    deck = run_dir / "deck.toml"
    deck.write_text(DECK.format(steps=a.steps, output=out, Lx=float(L), L=float(L), skin=skin))
    path = pythonpath(a)
    cmd = [*HPCMS_MPIRUN, "-n", str(ranks), sys.executable, "-m", "hpcms", "run", str(deck),
           "--quiet"]

    def read():
        t = read_timing(out)
        return t["ranks"], {"rate": t["particle_steps_per_second"], "loop_s": t["loop_seconds"],
                            "beads": t["particles"], "builds": t["neighbor_builds"],
                            "phases": {k: v["avg"] for k, v in t["phases"].items()}}
    return run_and_read(cmd, ranks, run_dir, a.timeout, {"PYTHONPATH": path}, read)


def run_losses(L, skin, ranks, run_dir, a):
    """hpcms' efficiency on R ranks in one job and its factors
    (`dpd_losses.py`), a dict, or a string saying why it failed."""
    deck = run_dir / "deck.toml"
    deck.write_text(DECK.format(steps=a.steps, output=run_dir / "out", Lx=float(L),
                                L=float(L), skin=skin))
    cmd = [*HPCMS_MPIRUN, "-n", str(ranks), sys.executable, str(REPO / "perf" / "dpd_losses.py"),
           str(deck)]
    try:
        res = subprocess.run(cmd, cwd=run_dir, env=dict(os.environ, PYTHONPATH=pythonpath(a)),
                             capture_output=True, text=True, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        return f"{' '.join(cmd)}: no result within {a.timeout:g} s"
    (run_dir / "losses.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0 or not res.stdout.strip():
        return f"{' '.join(cmd)} exited {res.returncode}:\n{res.stderr[-2000:]}"
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_lammps(L, skin, ranks, run_dir, a):
    """One LAMMPS job: its numbers, or a string saying why it failed."""
    (run_dir / "in.dpd").write_text(
        LAMMPS_INPUT.format(L=float(L), n=round(3 * L ** 3), skin=skin, steps=a.steps))
    cmd = [*shlex.split(a.lmp_mpirun), "-n", str(ranks), a.lmp, "-in", "in.dpd",
           "-log", "log.lammps"]

    def read():
        lg = parse_lammps_log((run_dir / "log.lammps").read_text())
        return lg["procs"], {"rate": lg["atom_steps_per_second"], "loop_s": lg["loop_seconds"],
                             "beads": lg["atoms"], "builds": lg["neighbor_builds"],
                             "phases": {k: v["avg"] for k, v in lg["phases"].items()}}
    return run_and_read(cmd, ranks, run_dir, a.timeout, a.lmp_env, read)


def run_and_read(cmd, ranks, run_dir, timeout, env, read):
    """Run one job and read() its (ranks it ran on, numbers); the numbers, or
    a string saying why the job failed."""
    res = run_job(cmd, run_dir, timeout, run_dir / "job.log", env=env)
    if not res.ok:
        return res.why()
    try:
        ran_on, numbers = read()
    except (OSError, ValueError) as e:
        return f"{shlex.join(cmd)}: {e}"
    if ran_on != ranks:
        return f"{shlex.join(cmd)}: ran on {ran_on} ranks, not {ranks} (wrong launcher?)"
    return numbers


RUNNERS = {"hpcms": run_hpcms, "lammps": run_lammps}


def lammps_with_dpd(a, where):
    """Path of the --lmp binary if it has pair_style dpd; else None and why not."""
    if not a.lmp:
        return None, "--lmp ''"
    lmp = find_lmp(a.lmp)
    if lmp is None:
        return None, f"no {a.lmp!r} on PATH (--lmp PATH names one; see perf/README.md)"
    launcher = shlex.split(a.lmp_mpirun)
    if not launcher or shutil.which(launcher[0]) is None:
        return None, f"launcher --lmp-mpirun {a.lmp_mpirun!r} not found"
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


def efficiencies(runs, code, case, r0):
    """Per repeat: (efficiency vs r0 ranks, its share of capacity), or Nones."""
    L, skin, ranks = case
    out = []
    for rep in runs:
        x, x0 = rep["runs"][case].get(code), rep["runs"][(L, skin, r0)].get(code)
        if not (x and x0):
            out.append((None, None))
            continue
        eff = x["rate"] / x0["rate"] * r0 / ranks
        cap = rep["capacity"]
        out.append((eff, eff * ranks / cap[ranks] * cap[r0] / r0 if cap else None))
    return out


def losses(runs, case, key):
    """Per repeat: the number `key` of `dpd_losses.py` for this case, or None."""
    return [(rep["losses"].get(case) or {}).get(key) for rep in runs]


def ratios(runs, case):
    """Per repeat: hpcms rate / LAMMPS rate, or None."""
    pairs = [(rep["runs"][case].get("hpcms"), rep["runs"][case].get("lammps")) for rep in runs]
    return [h["rate"] / lm["rate"] if h and lm else None for h, lm in pairs]


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


def interleave(a, cases, codes, ranks, work):
    """Every case with every code, repeat after repeat; per repeat
    {"capacity": {R: c}, "runs": {case: {code: result or None}}}, and the
    number of failed jobs."""
    runs, failed = [], 0
    for rep in range(a.repeat):
        cap = measure_capacity(ranks)
        print(f"repeat {rep + 1}/{a.repeat}: capacity "
              + (", ".join(f"{r} ranks = {c:.2f} cores' worth" for r, c in cap.items())
                 or "unknown"), flush=True)
        runs.append({"capacity": cap, "runs": {}, "losses": {}})
        for L, skin, R in cases:
            got = runs[-1]["runs"][(L, skin, R)] = {}
            line = f"  L={L:g} skin={skin:g} ranks={R}:"
            for code in codes:
                run_dir = work / f"{code}_L{L:g}_skin{skin:g}_r{R}_rep{rep}"
                run_dir.mkdir()
                res = RUNNERS[code](L, skin, R, run_dir, a)
                got[code] = None if isinstance(res, str) else res
                if got[code] is None:
                    failed += 1
                    line += f" {code} FAILED"
                    print(f"  {code} L={L:g} skin={skin:g} ranks={R} failed:\n{res}",
                          file=sys.stderr)
                else:
                    line += f" {code} {res['rate'] / 1e6:.3f} M ({res['builds']} builds)"
            if R > 1 and not a.no_losses:
                run_dir = work / f"losses_L{L:g}_skin{skin:g}_r{R}_rep{rep}"
                run_dir.mkdir()
                res = run_losses(L, skin, R, run_dir, a)
                if isinstance(res, str):
                    failed += 1
                    print(f"  losses L={L:g} skin={skin:g} ranks={R} failed:\n{res}",
                          file=sys.stderr)
                else:
                    runs[-1]["losses"][(L, skin, R)] = res
                    line += (f"; in one job: efficiency {res['efficiency']:.2f}, machine "
                             f"{res['machine']:.2f}")
            print(line, flush=True)
    return runs, failed


def report(a, cases, codes, r0, runs):
    """Print the summary and the phases of the median runs; return the CSV rows."""
    rows, loss_rows, phase_rows, csv_rows = [], [], {"hpcms": [], "lammps": []}, []
    for case in cases:
        L, skin, R = case
        per = {code: [rep["runs"][case].get(code) for rep in runs] for code in RUNNERS}
        effs = {code: efficiencies(runs, code, case, r0) for code in RUNNERS}
        ratio = ratios(runs, case)
        mid = {code: median_run(per[code]) for code in RUNNERS}
        beads = (mid["hpcms"] or mid["lammps"] or {}).get("beads", round(3 * L ** 3))
        ref = R == r0
        rows.append([
            beads, f"{skin:g}", R, rates(per["hpcms"]),
            rates(per["lammps"]) if a.lmp else "skipped", median_spread(ratio),
            "ref" if ref else median_spread([e for e, _ in effs["hpcms"]]),
            "ref" if ref else median_spread([c for _, c in effs["hpcms"]]),
            *("ref" if ref else median_spread(losses(runs, case, k))
              for k in ("efficiency", "machine", "of_workload")),
            "ref" if ref and a.lmp else median_spread([e for e, _ in effs["lammps"]]),
            " / ".join(str(mid[c]["builds"]) if mid[c] else "-" for c in RUNNERS)])
        if any(rep["losses"].get(case) for rep in runs):
            loss_rows.append([beads, f"{skin:g}", R, *(median_spread(losses(runs, case, f))
                                                      for f in LOSS_FACTORS)])
        for code in codes:
            if mid[code]:
                phase_rows[code].append([beads, f"{skin:g}", R, mid[code]])
        for k, rep in enumerate(runs):
            row = {"repeat": k, "beads": beads, "box": L, "skin": skin, "ranks": R,
                   "steps": a.steps, "cores_worth": rep["capacity"].get(R),
                   "workload_capacity": (rep["losses"].get(case) or {}).get("capacity")}
            for code in codes:
                res = per[code][k] or {}
                row.update({f"{code}_rate": res.get("rate"), f"{code}_loop_s": res.get("loop_s"),
                            f"{code}_builds": res.get("builds"),
                            f"{code}_efficiency": effs[code][k][0],
                            f"{code}_efficiency_of_capacity": effs[code][k][1]})
                if code == "hpcms":
                    row.update({f"hpcms_in_one_job_{f}": (rep["losses"].get(case) or {}).get(f)
                                for f in LOSS_FACTORS})
                row.update({f"{code}_{ph}_s": v for ph, v in res.get("phases", {}).items()})
            row["hpcms_over_lammps"] = ratio[k]
            csv_rows.append(row)

    print(f"\nDPD fluid, {a.steps} steps, {a.repeat} interleaved repeat(s); M particle-steps/s "
          f"of the time-step loop, median (best); efficiency vs {r0} rank(s) and hpcms/LAMMPS "
          "formed per repeat: median (min..max)")
    print_table(["beads", "skin", "ranks", "hpcms", "LAMMPS", "hpcms/LAMMPS", "hpcms eff",
                 "of capacity", "in one job", "machine", "of workload", "LAMMPS eff",
                 "builds hpcms / LAMMPS"], rows)
    if loss_rows:
        print("\nhpcms in one job (dpd_losses.py): efficiency = size x machine x pacing x "
              "decomposition, median over repeats (min..max)")
        print_table(["beads", "skin", "ranks", *LOSS_FACTORS], loss_rows)
    for code, title in (("hpcms", "hpcms phases (timing.json)"),
                        ("lammps", "LAMMPS phases (MPI task timing breakdown)")):
        if phase_rows[code]:
            print(f"\n{title}: seconds averaged over ranks, of the median run")
            print_phases(phase_rows[code])
    return csv_rows


def print_phases(rows):
    """One line per [beads, skin, ranks, run]: loop seconds and each phase's."""
    names = list(dict.fromkeys(ph for *_, r in rows for ph in r["phases"]))
    print_table(["beads", "skin", "ranks", "loop s", *names],
                [[*head, f"{r['loop_s']:.3f}",
                  *(f"{r['phases'][ph]:.3f}" if ph in r["phases"] else "-" for ph in names)]
                 for *head, r in rows])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[20.0, 30.0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--skins", type=float, nargs="+", default=[0.3, 0.6])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeat", type=int, default=1, help="interleaved repeats")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a job is killed")
    p.add_argument("--no-losses", action="store_true",
                   help="skip the efficiency in one job and its factors (dpd_losses.py)")
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
    a.repo = str(Path(a.repo).resolve())
    ranks = sorted(set(a.ranks))
    cases = [(L, skin, R) for L in a.sizes for skin in a.skins for R in ranks]

    work = Path(a.out).resolve() / f"bench_dpd-{timestamp()}"
    work.mkdir(parents=True)
    print(machine_note())
    a.lmp, why = lammps_with_dpd(a, work)
    codes = ["hpcms", "lammps"] if a.lmp else ["hpcms"]
    print(f"LAMMPS: {a.lmp}" if a.lmp else f"LAMMPS skipped: {why}", flush=True)
    (work / "warmup").mkdir()
    warm = run_hpcms(6, a.skins[0], 1, work / "warmup", a)
    if isinstance(warm, str):
        print(f"the hpcms warm-up run (fills numba's cache) failed:\n{warm}", file=sys.stderr)
        return 1

    runs, failed = interleave(a, cases, codes, ranks, work)
    csv_rows = report(a, cases, codes, ranks[0], runs)
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
