"""hpcms: an MPI-parallel multiscale materials simulator."""

import os

# One rank per core: BLAS threads (OpenBLAS starts one per core) would compete
# with the other ranks for their cores.  Effective only before numpy loads
# OpenBLAS, as under the `hpcms` command; an explicit setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
