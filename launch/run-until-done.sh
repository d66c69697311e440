#!/usr/bin/env bash
# Run an hpcms deck to the end, across stops that leave a checkpoint behind.
#
#   launch/run-until-done.sh DECK.toml [hpcms run options...]
#   HPCMS_RANKS=8 launch/run-until-done.sh inputs/lj_melt.toml --max-hours 1.5
#
# Each attempt is `mpirun -n $HPCMS_RANKS hpcms run DECK [options]`.  While an
# attempt exits with status 75 (the run wrote a checkpoint because of
# SIGTERM/SIGUSR1 or its wall-clock limit, run.max_hours / --max-hours), the
# next attempt continues it with `--resume`.  The first attempt uses --resume
# too when the run's output directory (run.output, after any --set overrides)
# already holds a checkpoint, so the script can simply be started again after
# a crash.  A --restart FILE given by the user applies to the first attempt
# only; later attempts resume from the newest checkpoint.
#
# SIGTERM or SIGINT (Ctrl-C) sent to this script is forwarded to mpirun as
# SIGUSR1, which Open MPI passes on to the ranks: the run writes a checkpoint
# at its next step and stops with status 75, and the script stops too (a
# second signal is forwarded as SIGTERM).  Any other status ends the loop.
# The script exits with the final status: 0 when the run reached run.steps.
#
# Environment:
#   HPCMS_RANKS         ranks per attempt (default 2)
#   HPCMS_MPIRUN        launcher (default mpirun); HPCMS_MPIRUN_ARGS: extra
#                       launcher options, split on spaces (e.g. --oversubscribe)
#   HPCMS_MAX_ATTEMPTS  give up, with status 75, after this many attempts
#                       (default 100)
# An attempt that exits 75 without a newer checkpoint than the one it started
# from also ends the loop (status 75): looping would repeat it forever.
set -uo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ $# -ge 1 ] && exit 0 || exit 2
fi

EXIT_RESUMABLE=75
deck=$1
shift
ranks=${HPCMS_RANKS:-2}
max_attempts=${HPCMS_MAX_ATTEMPTS:-100}
mpirun_cmd=${HPCMS_MPIRUN:-mpirun}
read -r -a mpirun_args <<< "${HPCMS_MPIRUN_ARGS:-}"
if command -v hpcms >/dev/null 2>&1; then
    hpcms_cmd=(hpcms)
else
    hpcms_cmd=("${PYTHON:-python3}" -m hpcms)
fi
python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || python=python3

# shellcheck source=launch/campaign-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/campaign-lib.sh"

# The user's options without --resume and --restart FILE (for later attempts).
later_args=()
user_resumes=0
skip=0
for a in "$@"; do
    if [ $skip = 1 ]; then skip=0; continue; fi
    case $a in
        --resume) user_resumes=1 ;;
        --restart) user_resumes=1; skip=1 ;;
        --restart=*) user_resumes=1 ;;
        *) later_args+=("$a") ;;
    esac
done

out=$(output_dir "$@")
if [ $user_resumes = 1 ]; then
    args=("$@")
elif [ -n "$(newest_checkpoint)" ]; then
    echo "run-until-done: $out has a checkpoint: continuing it with --resume" >&2
    args=("$@" --resume)
else
    args=("$@")
fi

child=""
stopping=0
forward() {
    stopping=$((stopping + 1))
    [ -n "$child" ] || return 0
    if [ $stopping = 1 ]; then
        echo "run-until-done: stop requested: asking the run to checkpoint (SIGUSR1)" >&2
        kill -USR1 "$child" 2>/dev/null
    else
        kill -TERM "$child" 2>/dev/null
    fi
}
trap forward TERM INT

attempt=0
status=0
while :; do
    attempt=$((attempt + 1))
    before=$(newest_checkpoint)
    echo "run-until-done: attempt $attempt: ${hpcms_cmd[*]} run $deck ${args[*]}" >&2
    "$mpirun_cmd" "${mpirun_args[@]}" -n "$ranks" "${hpcms_cmd[@]}" run "$deck" "${args[@]}" &
    child=$!
    # `wait` returns early when a trapped signal arrives: wait again until
    # mpirun itself has ended.
    while :; do
        wait "$child"
        status=$?
        kill -0 "$child" 2>/dev/null || break
    done
    child=""
    if [ $status != $EXIT_RESUMABLE ]; then
        break
    fi
    if [ $stopping != 0 ]; then
        echo "run-until-done: stopped on request; run the same command again to continue" >&2
        break
    fi
    after=$(newest_checkpoint)
    if [ -z "$after" ] || [ "$after" = "$before" ]; then
        echo "run-until-done: attempt $attempt exited $status without a newer checkpoint" \
             "(newest: ${after:-none}); giving up" >&2
        break
    fi
    if [ "$attempt" -ge "$max_attempts" ]; then
        echo "run-until-done: $attempt attempts (HPCMS_MAX_ATTEMPTS) used; the run is not" \
             "finished: continue it with --resume" >&2
        break
    fi
    args=("${later_args[@]}" --resume)
done
echo "run-until-done: exit status $status after $attempt attempt(s)" >&2
exit "$status"
