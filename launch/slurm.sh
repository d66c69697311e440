#!/usr/bin/env bash
# SLURM job script for an hpcms run.  Submit from the repository root:
#
#   sbatch -N 1 -n 32 -t 02:00:00 launch/slurm.sh inputs/lj_melt.toml [--set key=value ...]
#
# It activates (and on first use creates) the environment from launch/env.sh;
# on a cluster, load the site's MPI / HDF5 / PETSc modules before submitting
# and set HPCMS_VENV to a directory on a shared file system.
#SBATCH --job-name=hpcms
#SBATCH --output=hpcms-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
source launch/env.sh
srun --mpi="${HPCMS_SRUN_MPI:-pmix}" hpcms run "$@"
