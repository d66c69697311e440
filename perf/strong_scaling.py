#!/usr/bin/env python3
"""Strong scaling of one hpcms deck: the same problem on several rank counts.

    python perf/strong_scaling.py inputs/lj_melt.toml --ranks 1 2 4 \\
        --set system.cells=[20,20,20] --set run.steps=200

For each rank count R it runs

    mpirun --oversubscribe -n R hpcms run DECK --set ... --set run.output=... --quiet

(--repeat times, keeping the best rate) and reads timing.json.  Speed-up is
measured against the smallest rank count R0 — speedup(R) = rate(R) / rate(R0),
efficiency(R) = speedup(R) / (R / R0) — so with R0 = 1 they are the usual ones.
It prints a table and writes OUT/<name>.csv (ranks, particle_steps_per_second,
speedup, efficiency, loop seconds, phase times) and OUT/<name>.png (speed-up
and efficiency against ranks, and the phase times), OUT = perf/results by
default, <name> = strong_scaling_<deck stem>.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import (DEFAULT_RESULTS, ToolMissing, find_hpcms, find_mpirun,  # noqa: E402
                   fmt_rate, fmt_ratio, machine_note, print_table, read_timing, run_job,
                   timestamp)


def _parser():
    p = argparse.ArgumentParser(
        description="Run one hpcms deck on several MPI rank counts and report speed-up "
                    "and parallel efficiency (CSV + PNG plot).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("deck", type=Path, help="hpcms TOML deck")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4], metavar="R",
                   help="MPI rank counts; the smallest is the baseline")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="deck override passed to hpcms (repeatable), e.g. "
                        "--set system.cells=[20,20,20]; run.output is set by this script")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per rank count; the best (highest rate) is kept")
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="results directory")
    p.add_argument("--name", default=None,
                   help="base name of the CSV and PNG (default strong_scaling_<deck stem>)")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds before one run is killed")
    p.add_argument("--mpirun", default="mpirun --oversubscribe",
                   help="MPI launcher; '-n R' is appended")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip the 2-step serial run that fills the numba cache first")
    p.add_argument("--no-plot", action="store_true", help="write the CSV only")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if min(args.ranks) < 1 or args.repeat < 1:
        print("strong_scaling: --ranks and --repeat must be positive", file=sys.stderr)
        return 2
    if not args.deck.is_file():
        print(f"strong_scaling: deck {args.deck} not found", file=sys.stderr)
        return 2
    for o in args.overrides:
        if "=" not in o:
            print(f"strong_scaling: --set {o!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        if o.split("=", 1)[0].strip() == "run.output":
            print("strong_scaling: --set run.output is not allowed: each run gets its own "
                  "directory under --out", file=sys.stderr)
            return 2
    try:
        hpcms = find_hpcms()
        mpirun = find_mpirun(args.mpirun)
    except ToolMissing as e:
        print(f"strong_scaling: {e}", file=sys.stderr)
        return 2

    deck = args.deck.resolve()
    ranks = sorted(set(args.ranks))
    base = ranks[0]
    name = args.name or f"strong_scaling_{deck.stem}"
    out = args.out.resolve()
    work = out / f"{name}-{timestamp()}"
    work.mkdir(parents=True, exist_ok=False)
    sets = [a for o in args.overrides for a in ("--set", o)]
    cores = _cores()
    print(f"strong_scaling: {machine_note()}")
    print(f"strong_scaling: {deck} {' '.join(shlex.quote(s) for s in sets)}")
    print(f"strong_scaling: runs in {work}")
    if max(ranks) > cores:
        print(f"strong_scaling: note: more ranks than the {cores} cores here are "
              "oversubscribed; their efficiency measures the machine, not the code")

    # fail fast on a bad deck, then compile the kernels once outside the timings
    res = run_job([*hpcms, "check", str(deck), *sets], work, 300, work / "check.log")
    if not res.ok:
        print(f"strong_scaling: the deck does not validate:\n{res.why(5)}", file=sys.stderr)
        return 2
    if not args.no_warmup:
        print("strong_scaling: warm-up run (2 steps, fills the numba cache) ...", flush=True)
        wdir = work / "warmup"
        wdir.mkdir()
        res = run_job([*mpirun, "-n", str(base), *hpcms, "run", str(deck), *sets,
                       "--set", "run.steps=2", "--set", f"run.output={json.dumps(str(wdir / 'out'))}",
                       "--quiet"], wdir, args.timeout, wdir / "job.log")
        if not res.ok:
            print(f"strong_scaling: the warm-up run failed:\n{res.why()}", file=sys.stderr)
            return 1

    runs = {r: [] for r in ranks}
    errors = {r: [] for r in ranks}
    for rep in range(args.repeat):
        for r in ranks:
            d = work / f"r{r}_rep{rep}"
            d.mkdir()
            cmd = [*mpirun, "-n", str(r), *hpcms, "run", str(deck), *sets,
                   "--set", f"run.output={json.dumps(str(d / 'out'))}", "--quiet"]
            res = run_job(cmd, d, args.timeout, d / "job.log")
            if not res.ok:
                errors[r].append(res.why())
                print(f"  {r} ranks, run {rep}: FAILED\n{res.why()}", file=sys.stderr)
                continue
            try:
                t = read_timing(d / "out")
            except (OSError, ValueError) as e:
                errors[r].append(str(e))
                print(f"  {r} ranks, run {rep}: {e}", file=sys.stderr)
                continue
            t["dir"] = str(d)
            runs[r].append(t)
            print(f"  {r} ranks, run {rep}: {t['particle_steps_per_second']:.3e} particle-steps/s "
                  f"(loop {t['loop_seconds']:.3f} s)", flush=True)

    best = {r: max(runs[r], key=lambda t: t["particle_steps_per_second"])
            for r in ranks if runs[r]}
    if base not in best:
        print(f"strong_scaling: the baseline ({base} ranks) failed; no speed-up to report",
              file=sys.stderr)
    phases = list(dict.fromkeys(p for t in best.values() for p in t.get("phases", {})))

    rows, table = [], []
    for r in ranks:
        t = best.get(r)
        rate = t["particle_steps_per_second"] if t else None
        speedup = rate / best[base]["particle_steps_per_second"] if (t and base in best) else None
        eff = speedup * base / r if speedup is not None else None
        row = {
            "ranks": r,
            "particles": t["particles"] if t else None,
            "steps": t["steps"] if t else None,
            "particle_steps_per_second": rate,
            "speedup": speedup,
            "efficiency": eff,
            "loop_seconds": t["loop_seconds"] if t else None,
            "wall_seconds": t.get("wall_seconds") if t else None,
            "grid": "x".join(map(str, t["grid"])) if t and t.get("grid") else None,
            "load_imbalance": t.get("load_imbalance") if t else None,
            "neighbor_builds": t.get("neighbor_builds") if t else None,
            "oversubscribed": r > cores,
            "runs": ";".join(f"{x['particle_steps_per_second']:.6g}" for x in runs[r]),
        }
        for p in phases:
            v = t.get("phases", {}).get(p) if t else None
            row[f"{p}_avg"] = v.get("avg") if v else None
            row[f"{p}_max"] = v.get("max") if v else None
        row["errors"] = " | ".join(e.splitlines()[0] for e in errors[r])
        rows.append(row)
        cells = [r, row["grid"] or "-", fmt_rate(rate), fmt_ratio(speedup, 2), fmt_ratio(eff, 2),
                 f"{row['loop_seconds']:.3f}" if t else "-",
                 f"{row['load_imbalance']:.3f}" if t and row["load_imbalance"] is not None else "-"]
        for p in phases:
            v = row[f"{p}_avg"]
            cells.append("-" if v is None else f"{v:.3f}")
        table.append(cells)

    particles = next((t["particles"] for t in best.values()), None)
    steps = next((t["steps"] for t in best.values()), None)
    print()
    print(f"strong scaling of {deck.name}: {particles} particles, {steps} steps, "
          f"best of {args.repeat}; speed-up and efficiency against {base} rank(s)")
    print_table(["ranks", "grid", "p-steps/s", "speedup", "efficiency", "loop s", "imbalance",
                 *[f"{p} s" for p in phases]], table)
    print("  phase columns: seconds, averaged over ranks")

    fields = list(dict.fromkeys(k for row in rows for k in row))
    csv_path = out / f"{name}.csv"
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    shutil.copy(csv_path, work / csv_path.name)
    (work / "meta.json").write_text(json.dumps({
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine_note(), "deck": str(deck), "overrides": args.overrides,
        "hpcms": hpcms, "mpirun": mpirun, "cores": cores,
    }, indent=1))
    print(f"\nwrote {csv_path}")

    status = 0 if all(runs[r] for r in ranks) else 1
    if not args.no_plot and best:
        png = out / f"{name}.png"
        title = (f"{deck.name} {' '.join(args.overrides)}\n{particles} particles, {steps} steps; "
                 f"{machine_note().split(':', 1)[1].strip()}")
        try:
            _plot(rows, phases, base, cores, title, png)
        except ImportError:
            print("strong_scaling: matplotlib is not installed (Debian: apt-get install "
                  "python3-matplotlib); plot skipped", file=sys.stderr)
            return 1
        shutil.copy(png, work / png.name)
        print(f"wrote {png}")
    return status


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _plot(rows, phases, base, cores, title, path):
    """Speed-up (with the ideal line), efficiency, and phase seconds against ranks."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["speedup"] is not None]
    ranks = [r["ranks"] for r in ok]
    all_ranks = [r["ranks"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    fig.suptitle(title, fontsize=9)

    ax = axes[0]
    ax.plot(all_ranks, [r / base for r in all_ranks], "--", color="grey", label="ideal")
    ax.plot(ranks, [r["speedup"] for r in ok], "o-", label="hpcms")
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel(f"speed-up vs {base} rank(s)")
    ax.legend()

    ax = axes[1]
    ax.axhline(1.0, ls="--", color="grey")
    ax.plot(ranks, [r["efficiency"] for r in ok], "o-")
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel("parallel efficiency")
    ax.set_ylim(0, max(1.1, *(r["efficiency"] * 1.1 for r in ok)) if ok else 1.1)

    for ax in axes[:2]:
        ax.set_xscale("log", base=2)
        ax.set_xticks(all_ranks)
        ax.set_xticklabels([str(r) for r in all_ranks])
        over = [r for r in all_ranks if r > cores]
        if over:
            under = [r for r in all_ranks if r <= cores]
            start = (max(under) * over[0]) ** 0.5 if under else over[0] / 1.2
            ax.axvspan(start, max(all_ranks) * 1.1, color="red", alpha=0.08)
            ax.text(start, 0.02, f" > {cores} cores:\n oversubscribed", fontsize=8,
                    color="darkred", transform=ax.get_xaxis_transform())
        ax.grid(True, alpha=0.3)

    ax = axes[2]
    have = [r for r in rows if r["loop_seconds"] is not None]
    x = list(range(len(have)))
    bottom = [0.0] * len(have)
    for p in phases:
        h = [r.get(f"{p}_avg") or 0.0 for r in have]
        ax.bar(x, h, bottom=bottom, label=p)
        bottom = [b + v for b, v in zip(bottom, h)]
    ax.set_xticks(x)
    ax.set_xticklabels([str(r["ranks"]) for r in have])
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel("seconds (average over ranks)")
    ax.set_title("time-step loop by phase", fontsize=9)
    if phases:
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
