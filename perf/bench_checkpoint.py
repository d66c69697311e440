"""Checkpoint write and read bandwidth next to the raw disk bandwidth.

    mpirun -n 2 python perf/bench_checkpoint.py --particles 1000000 4000000 --dir /tmp/ckbench

Each rank owns a random share of N particles (ids shuffled, as after a run);
the script writes and reads hpcms checkpoints (collective HDF5, checksums,
fsync + rename) and prints bytes/s, next to `dd ... conv=fdatasync` of the same
number of bytes measured in the same run.  Rank 0 prints; nothing is asserted.
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from hpcms.io import checkpoint


def raw_disk(directory, nbytes):
    """dd of nbytes with fdatasync: bytes/s (rank 0 only)."""
    path = Path(directory) / "dd.bin"
    mib = max(1, nbytes // 2**20)
    t0 = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}",
                    "conv=fdatasync"], check=True, capture_output=True)
    seconds = time.perf_counter() - t0
    path.unlink()
    return mib * 2**20 / seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--particles", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--dir", default=None, help="directory on the disk to measure")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    base = comm.bcast(args.dir or tempfile.mkdtemp(prefix="ckbench-") if comm.rank == 0 else None)
    if comm.rank == 0:
        Path(base).mkdir(parents=True, exist_ok=True)
        print(f"{'particles':>10s} {'ranks':>5s} {'MB':>8s} {'write MB/s':>11s} "
              f"{'read MB/s':>10s} {'dd MB/s':>8s} {'write/dd':>8s}")
    for n in args.particles:
        rng = np.random.default_rng(comm.rank)
        lo, hi = n * comm.rank // comm.size, n * (comm.rank + 1) // comm.size
        ids = rng.permutation(np.arange(lo + 1, hi + 1, dtype=np.int64))
        k = len(ids)
        arrays = dict(ids=ids, types=np.zeros(k, np.int32), x=rng.random((k, 3)),
                      v=rng.random((k, 3)), f=rng.random((k, 3)),
                      image=np.zeros((k, 3), np.int64))
        nbytes = n * (8 + 4 + 3 * 24 + 24)
        best_w = best_r = 0.0
        for r in range(args.repeat):
            comm.Barrier()
            t0 = time.perf_counter()
            path = checkpoint.write(comm, base, step=r, time=0.0, kind="md", seed=1, deck={},
                                    cell=np.eye(3), origin=np.zeros(3), state={}, **arrays)
            comm.Barrier()
            best_w = max(best_w, nbytes / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            checkpoint.read(comm, path)
            comm.Barrier()
            best_r = max(best_r, nbytes / (time.perf_counter() - t0))
            if comm.rank == 0:
                path.unlink()
        if comm.rank == 0:
            dd = raw_disk(base, nbytes)
            print(f"{n:>10d} {comm.size:>5d} {nbytes / 1e6:>8.1f} {best_w / 1e6:>11.1f} "
                  f"{best_r / 1e6:>10.1f} {dd / 1e6:>8.1f} {best_w / dd:>8.2f}", flush=True)
    if comm.rank == 0 and args.dir is None:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
