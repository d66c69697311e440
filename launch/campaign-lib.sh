# Sourced by run-until-done.sh and slurm-campaign.sh: where a run keeps its
# checkpoints.  Needs $python (an interpreter that imports hpcms) and $deck.

# The run's output directory as hpcms resolves it (deck + --set overrides);
# empty when the deck cannot be read (hpcms then reports why).
output_dir() {
    "$python" - "$deck" "$@" 2>/dev/null <<'PY'
import sys
from hpcms.config.deck import load_deck
args, overrides = sys.argv[2:], []
for i, a in enumerate(args):
    if a == "--set" and i + 1 < len(args):
        overrides.append(args[i + 1])
    elif a.startswith("--set="):
        overrides.append(a[len("--set="):])
print(load_deck(sys.argv[1], overrides).run.output)
PY
}

# Name of the newest checkpoint in $out (empty when none).
newest_checkpoint() {
    [ -n "$out" ] && [ -d "$out" ] || return 0
    local f newest=""
    for f in "$out"/checkpoint-*.h5; do
        [ -e "$f" ] && newest=$(basename "$f")
    done
    echo "$newest"
}
