# Source this file: it makes sure the hpcms environment exists, then activates it.
#
#   source launch/env.sh
#
# First use on Debian 12 installs the distribution's parallel stack (Open MPI,
# mpi4py, petsc4py, h5py built on parallel HDF5, numba, pytest-mpi), creates a
# virtual environment `.venv` with --system-site-packages on top of it and
# installs hpcms there in editable mode.  Later uses only activate it.
# Set HPCMS_VENV to put the environment elsewhere.

_hpcms_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_hpcms_venv=${HPCMS_VENV:-$_hpcms_root/.venv}
_hpcms_debs="openmpi-bin libopenmpi-dev python3-mpi4py python3-petsc4py python3-h5py-mpi python3-numba python3-pytest python3-pytest-mpi python3-venv python3-setuptools python3-matplotlib hdf5-tools"

# True when every package is installed.  dpkg-query prints nothing for a
# package it has never seen, so count the installed ones against the list.
_hpcms_have_debs() {
    local want have
    want=$(echo $_hpcms_debs | wc -w)
    have=$(dpkg-query -W -f='${Status}\n' $_hpcms_debs 2>/dev/null | grep -c "install ok installed" || true)
    [ "$have" = "$want" ]
}

if ! _hpcms_have_debs; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "hpcms: installing the Debian MPI / PETSc / parallel HDF5 / numba stack" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq $_hpcms_debs >/dev/null \
            || { echo "hpcms: apt-get install failed" >&2; return 1 2>/dev/null || exit 1; }
    else
        echo "hpcms: missing Debian packages; as root run: apt-get install $_hpcms_debs" >&2
        return 1 2>/dev/null || exit 1
    fi
fi

# Debian's petsc4py imports only when it knows where PETSc lives.
if [ -z "${PETSC_DIR:-}" ]; then
    for _d in /usr/lib/petscdir/petsc*/x86_64-linux-gnu-real /usr/lib/petscdir/petsc*/*-real; do
        [ -d "$_d" ] && { export PETSC_DIR=$_d; break; }
    done
fi
# Open MPI refuses root without these; in containers its shared-memory
# single-copy path needs ptrace rights that are often missing.
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
# numba compiles each kernel once and caches it beside the source.
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$_hpcms_root/.numba_cache}
# One BLAS thread per MPI rank: threaded 3x3 inversions cost a millisecond on busy cores.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

if [ ! -x "$_hpcms_venv/bin/python" ]; then
    echo "hpcms: creating $_hpcms_venv" >&2
    /usr/bin/python3 -m venv --system-site-packages "$_hpcms_venv" \
        || { return 1 2>/dev/null || exit 1; }
fi
if [ ! -x "$_hpcms_venv/bin/hpcms" ]; then
    echo "hpcms: installing hpcms (editable) into $_hpcms_venv" >&2
    "$_hpcms_venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$_hpcms_root" \
        || { return 1 2>/dev/null || exit 1; }
fi
# Test dependencies from the package index: MDAnalysis reads our H5MD files,
# meshio our XDMF fields (independent readers).  numpy stays below 1.25 or
# Debian's numba 0.56 stops working.
if ! compgen -G "$_hpcms_venv/lib/python3*/site-packages/MDAnalysis" >/dev/null \
    || ! compgen -G "$_hpcms_venv/lib/python3*/site-packages/meshio" >/dev/null; then
    echo "hpcms: installing MDAnalysis and meshio into $_hpcms_venv" >&2
    "$_hpcms_venv/bin/python" -m pip install -q "MDAnalysis" "meshio" "numpy<1.25" \
        || { return 1 2>/dev/null || exit 1; }
fi
# shellcheck disable=SC1091
source "$_hpcms_venv/bin/activate"
unset _hpcms_debs _d
