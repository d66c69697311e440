"""Files: checkpoints, trajectories, HDF5 inspection."""

import os

# Debian ships h5py twice and picks the MPI build only under mpirun unless
# told; hpcms writes collectively even on a singleton rank.
os.environ.setdefault("H5PY_ALWAYS_USE_MPI", "1")
