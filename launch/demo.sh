#!/usr/bin/env bash
# The main job: a small FE² run on 2 ranks (a plate with a hole whose every
# quadrature point is a relaxed atomistic RVE with a vacancy), outputs in runs/.
# Installs what is missing first (launch/env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/env.sh
out=runs/fe2_plate_hole-$(date +%Y%m%d-%H%M%S)
mpirun --oversubscribe -n "${HPCMS_RANKS:-2}" hpcms run inputs/fe2_plate_hole.toml \
    --set "run.output=\"$out\""
plot=$(python launch/plot_reactions.py "$out")
checkpoint=$(ls "$out"/checkpoint-*.h5 | tail -n 1)
echo
echo "fields (open in ParaView): $out/fields.xdmf (+ fields.h5)"
echo "reactions per increment:   $out/reaction.csv"
echo "plot:                      $plot"
echo "checkpoint:                $checkpoint (hpcms info $checkpoint)"
echo "log and timing:            $out/log.txt, $out/timing.json"
