"""`hpcms info PATH`: what a run directory or an HDF5 file holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config.errors import DeckError


def describe(path) -> str:
    """A human summary of a run directory, a thermo.csv, a timing.json or an HDF5 file."""
    p = Path(path)
    if not p.exists():
        raise DeckError("info", str(path), "no such file or directory")
    if p.is_dir():
        return _run_dir(p)
    if p.suffix in (".h5", ".hdf5", ".h5md"):
        return _hdf5(p)
    if p.name.endswith(".csv"):
        return _thermo(p)
    if p.suffix == ".json":
        return json.dumps(json.loads(p.read_text()), indent=2)
    raise DeckError("info", str(path), "expected a run directory, .csv, .json or .h5 file")


def _thermo(p):
    lines = p.read_text().splitlines()
    if len(lines) < 2:
        return f"{p}: no rows"
    head, first, last = lines[0].split(","), lines[1].split(","), lines[-1].split(",")
    out = [f"{p}: {len(lines) - 1} rows, columns {', '.join(head)}"]
    for name, a, b in zip(head, first, last):
        out.append(f"  {name:<18s} first {float(a):<14.8g} last {float(b):.8g}")
    return "\n".join(out)


def _run_dir(p):
    out = [f"run directory {p}"]
    for f in sorted(p.iterdir()):
        out.append(f"  {f.name:<20s} {f.stat().st_size:>12d} bytes")
    if (p / "timing.json").exists():
        t = json.loads((p / "timing.json").read_text())
        out.append(f"  {t['particles']} particles, {t['steps']} steps on {t['ranks']} rank(s): "
                   f"{t['particle_steps_per_second']:.4g} particle-steps/s")
    if (p / "thermo.csv").exists():
        out.append(_thermo(p / "thermo.csv"))
    return "\n".join(out)


def _checkpoint(p):
    """Summary of a checkpoint, with every checksum verified."""
    from mpi4py import MPI

    from . import checkpoint

    try:
        ck = checkpoint.read(MPI.COMM_SELF, p)
        status = "all datasets verified"
    except checkpoint.CheckpointError as e:
        return f"checkpoint {p}: NOT USABLE: {e.allowed}"
    deck = ck.deck
    head = f"checkpoint {p} (layout version {checkpoint.VERSION}, hpcms {ck.hpcms_version})"
    if ck.kind == "fe":
        lines = [head, f"  kind fe, increment {ck.step}, load factor {ck.time:g}, "
                       f"{ck.n_global} vertices, written by {ck.ranks} rank(s)",
                 f"  checksums: {status}"]
        sections = ("mesh", "material")
    else:
        lines = [head, f"  kind {ck.kind}, step {ck.step}, time {ck.time:g}, {ck.n_global} "
                       f"particles, written by {ck.ranks} rank(s)",
                 f"  box {np.asarray(ck.cell).tolist()}",
                 f"  checksums: {status}"]
        sections = ("potential", "integrator")
    for name in sections:
        section = deck.get(name, {})
        brief = {k: v for k, v in section.items() if not isinstance(v, (list, dict))}
        lines.append(f"  [{name}] {brief}")
    lines.append(f"  [run] {deck.get('run', {})}")
    for group, values in ck.state.items():
        lines.append(f"  state/{group}: {', '.join(sorted(values))}")
    return "\n".join(lines)


def _hdf5(p):
    import h5py

    with h5py.File(p, "r") as f:
        fmt = f.attrs.get("format")
    if fmt == "hpcms-checkpoint":
        return _checkpoint(p)
    out = [f"HDF5 file {p}"]
    with h5py.File(p, "r") as f:
        if "h5md" in f and "particles" in f:
            for group, node in f["particles"].items():
                pos = node.get("position")
                if pos is not None and len(pos["step"]):
                    steps = pos["step"][()]
                    out.append(f"  H5MD trajectory, particles/{group}: {len(steps)} frames of "
                               f"{pos['value'].shape[1]} particles, steps {steps[0]} to "
                               f"{steps[-1]}, times {pos['time'][0]:g} to {pos['time'][-1]:g}")
    try:
        with h5py.File(p, "r") as f:
            for k, v in f.attrs.items():
                out.append(f"  @{k} = {v}")

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out.append(f"  {name}  {obj.shape} {obj.dtype}")
                else:
                    out.append(f"  {name}/")
            f.visititems(visit)
    except OSError as e:
        raise DeckError("info", str(p), f"is not a readable HDF5 file ({e})") from None
    return "\n".join(out)
