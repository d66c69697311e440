#!/usr/bin/env bash
# The main job: a small Lennard-Jones MD run on 2 ranks, outputs in runs/.
# Installs what is missing first (launch/env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/env.sh
out=runs/lj_melt-$(date +%Y%m%d-%H%M%S)
mpirun --oversubscribe -n "${HPCMS_RANKS:-2}" hpcms run inputs/lj_melt.toml --set "run.output=\"$out\""
echo "outputs in $out: log.txt thermo.csv timing.json"
