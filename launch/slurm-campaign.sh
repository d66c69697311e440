#!/usr/bin/env bash
# A long hpcms run as a chain of SLURM jobs: each job runs until shortly
# before its time limit, writes a checkpoint, and submits the next one.
# Submit from the repository root:
#
#   sbatch -N 2 -n 64 -t 04:00:00 launch/slurm-campaign.sh inputs/lj_melt.toml [hpcms run options]
#
# How it works
# - `--signal=B:USR1@120` below makes SLURM send SIGUSR1 to this batch shell
#   (B: only the shell, not the job steps) 120 s before the time limit.  The
#   shell traps it and forwards it to srun, which passes it on to the hpcms
#   tasks: they write a checkpoint at the next step and exit with status 75.
#   Make 120 s comfortably more than one checkpoint write plus a few steps.
#   (Without B:, SLURM signals the tasks directly, which works as well, but
#   then this shell cannot tell a planned stop from a cancellation.)
# - The run starts fresh when its output directory (run.output, after any
#   --set overrides) holds no checkpoint, and with --resume when it does: the
#   same command line serves every job of the chain, and a job that died
#   without checkpointing (node failure) continues from the newest valid one.
# - When hpcms exits with 75 after that planned stop, or because run.max_hours
#   / --max-hours ran out, the job resubmits itself with the same arguments
#   (`sbatch "$0" "$@"`; sbatch copies the script at submission, so $0, the
#   spooled copy, is still readable while this job runs).  Resource options
#   given on the first sbatch command line are NOT inherited: put them in
#   #SBATCH lines below or in HPCMS_SBATCH_ARGS (e.g. "-N 2 -n 64 -t 04:00:00").
# - It does not resubmit when the job was cancelled (scancel sends SIGTERM:
#   hpcms checkpoints and exits 75, and this shell records the cancellation),
#   when the run finished (0), failed (2: deck error, 3: run fault, other),
#   when the checkpoint did not advance, or after HPCMS_CAMPAIGN_MAX jobs.
#
# Environment:
#   HPCMS_CAMPAIGN_MAX    most jobs in the chain (default 20)
#   HPCMS_CAMPAIGN_JOB    this job's number in the chain (set on resubmission; 1 at first)
#   HPCMS_SBATCH_ARGS     extra sbatch options for the resubmission, split on spaces
#   HPCMS_SRUN_MPI        srun --mpi plugin (default pmix)
#   HPCMS_VENV            environment location (see launch/env.sh)
#SBATCH --job-name=hpcms-campaign
#SBATCH --output=hpcms-%j.out
#SBATCH --signal=B:USR1@120
#SBATCH --open-mode=append
set -uo pipefail

if [ $# -lt 1 ]; then
    echo "usage: sbatch launch/slurm-campaign.sh DECK.toml [hpcms run options]" >&2
    exit 2
fi
EXIT_RESUMABLE=75
deck=$1
shift
job=${HPCMS_CAMPAIGN_JOB:-1}
max_jobs=${HPCMS_CAMPAIGN_MAX:-20}

cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}" || exit 1
# shellcheck disable=SC1091
source launch/env.sh || exit 1

python=python3
# shellcheck source=launch/campaign-lib.sh
source launch/campaign-lib.sh
out=$(output_dir "$@")

before=$(newest_checkpoint)
resume=()
if [ -n "$before" ]; then
    resume=(--resume)
fi
echo "hpcms-campaign: job $job of at most $max_jobs (${SLURM_JOB_ID:-no job id}):" \
     "$([ -n "$before" ] && echo "continuing from $out/$before" || echo "fresh run")" >&2

step=""
reason=""
on_usr1() {
    reason=${reason:-time limit}
    [ -n "$step" ] && kill -USR1 "$step" 2>/dev/null
}
on_term() {
    reason=cancelled
    [ -n "$step" ] && kill -TERM "$step" 2>/dev/null
}
trap on_usr1 USR1
trap on_term TERM INT

# srun runs in the background so that the traps run while it does; srun
# forwards the signals it receives to the tasks of its step.
srun --mpi="${HPCMS_SRUN_MPI:-pmix}" hpcms run "$deck" "$@" "${resume[@]}" &
step=$!
while :; do
    wait "$step"
    status=$?
    kill -0 "$step" 2>/dev/null || break
done
step=""
echo "hpcms-campaign: hpcms exited with status $status${reason:+ ($reason)}" >&2

if [ "$status" = "$EXIT_RESUMABLE" ] && [ "$reason" != cancelled ]; then
    after=$(newest_checkpoint)
    if [ -z "$after" ] || [ "$after" = "$before" ]; then
        echo "hpcms-campaign: no newer checkpoint than ${before:-none}; not resubmitting" >&2
    elif [ "$job" -ge "$max_jobs" ]; then
        echo "hpcms-campaign: HPCMS_CAMPAIGN_MAX=$max_jobs jobs used; not resubmitting" \
             "(continue with: sbatch $0 $deck $*)" >&2
    else
        read -r -a sbatch_args <<< "${HPCMS_SBATCH_ARGS:-}"
        HPCMS_CAMPAIGN_JOB=$((job + 1)) sbatch --export=ALL "${sbatch_args[@]}" "$0" "$deck" "$@" \
            || echo "hpcms-campaign: resubmission failed" >&2
    fi
fi
exit "$status"
