#!/usr/bin/env bash
# The whole test suite: serial tests, then the MPI tests on 1, 2 and 4 ranks.
# Installs what is missing first (launch/env.sh).  Fails if any rank fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/env.sh

# A rank that fails aborts the job (tests/conftest.py), and a hung job is
# killed by the timeout rather than waiting forever.
limit=${HPCMS_TEST_TIMEOUT:-1500}

echo "== serial tests"
timeout "$limit" python -m pytest -q tests "$@"

for n in 1 2 4; do
    echo "== MPI tests on $n ranks"
    timeout "$limit" mpirun --oversubscribe -n "$n" \
        python -m pytest -q --with-mpi -m mpi -p no:cacheprovider tests "$@"
done
