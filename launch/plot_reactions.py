"""Plot an FE run's reaction.csv: every region's reaction force and the stored
energy against the load factor.  Writes reactions.png beside the CSV.

    python launch/plot_reactions.py runs/<run>
"""

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(run_dir):
    run_dir = Path(run_dir)
    with open(run_dir / "reaction.csv") as f:
        rows = list(csv.DictReader(f))
    load = [0.0] + [float(r["load"]) for r in rows]
    fig, (forces, energy) = plt.subplots(1, 2, figsize=(9, 3.5))
    for name in rows[0]:
        if "_f" in name:
            forces.plot(load, [0.0] + [float(r[name]) for r in rows], marker="o", label=name)
    forces.set_xlabel("load factor")
    forces.set_ylabel("reaction force")
    forces.legend(fontsize="small")
    energy.plot(load[1:], [float(r["energy"]) for r in rows], marker="o")
    energy.set_xlabel("load factor")
    energy.set_ylabel("stored energy")
    fig.tight_layout()
    out = run_dir / "reactions.png"
    fig.savefig(out, dpi=120)
    return out


if __name__ == "__main__":
    print(main(sys.argv[1]))
