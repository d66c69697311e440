"""Assemble a simulation from a validated deck and run it with its outputs.

Everything that can be wrong with the input is found before anything is
written: `prepare` validates the deck, reads or builds the structure on rank 0,
checks the potential, integrator, cutoff and rank grid, and raises the same
DeckError on every rank.  `execute` then creates the output directory and runs.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from . import __version__
from .config.deck import Deck, physics_differences
from .config.errors import DeckError, RunError
from .dpd.analysis import RDFObserver, StructureObserver
from .dpd.bonded import Bonded, Topology
from .dpd.placement import build_random
from .md.integrate import initial_velocities, make_integrator
from .md.pair import make_pair_force
from .md.simulation import Simulation
from .io import checkpoint
from .io.h5md import H5MDWriter, TrajectoryObserver
from .md.thermo import COLUMNS
from .outputs import (EXIT_RESUMABLE, CheckpointObserver, Log, StopWatch,
                      ThermoObserver, truncate_csv)
from .parallel.balance import Balancer
from .parallel.box import Box
from .parallel.domain import choose_grid
from .particles.lattice import build_lattice
from .particles.readers import read_structure
from .particles.structure import Structure
from .particles.system import ParticleSystem


def on_root(comm, fn, *args, **kwargs):
    """Run fn on rank 0 and give every rank its result or its DeckError.  Collective."""
    result, error = None, None
    if comm.rank == 0:
        try:
            result = fn(*args, **kwargs)
        except DeckError as e:
            error = e
    error = comm.bcast(error, root=0)
    if error is not None:
        raise error
    return result


def agree(comm, fn, *args, **kwargs):
    """Run fn on every rank; if any raises DeckError, all raise the lowest rank's.  Collective."""
    result, error = None, None
    try:
        result = fn(*args, **kwargs)
    except DeckError as e:
        error = e
    errors = comm.allgather(error)
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return result


def build_structure(deck: Deck) -> Structure:
    """The initial structure the deck asks for (not collective; rank 0 calls it)."""
    return build_initial(deck)[0]


def build_initial(deck: Deck):
    """(Structure, Topology) the deck asks for (not collective; rank 0 calls it).

    The topology (bonds, angles) is empty unless `system.molecules` places chains.
    """
    sysd = deck.system
    topology = Topology()
    if sysd.lattice == "random":
        st, topology = build_random(sysd, deck.run.seed)
    elif sysd.file:
        # A relative path is relative to the deck's directory.
        path = str(Path(deck.path).parent / sysd.file)
        st = read_structure(path, sysd.format or None, key="system.file")
    else:
        st = build_lattice(sysd.lattice, sysd.cells, density=sysd.density or None,
                           constant=sysd.constant or None, orient=sysd.orient or None)
    if sysd.deform:
        F = np.asarray(sysd.deform, dtype=float) if _is_matrix(sysd.deform) else None
        if F is None or not np.linalg.det(F) > 0:
            raise DeckError("system.deform", sysd.deform,
                            "must be a 3x3 matrix of numbers with a positive determinant")
        st.cell = F @ st.cell
        st.positions = (st.positions - st.origin) @ F.T + st.origin
    return st, topology


def _is_matrix(m):
    return (isinstance(m, list) and len(m) == 3 and all(
        isinstance(r, list) and len(r) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in r) for r in m))


def masses(deck: Deck, st: Structure):
    """Mass of each type: the deck's, else the file's, else 1."""
    if deck.system.mass:
        if len(deck.system.mass) != st.n_types:
            raise DeckError("system.mass", deck.system.mass,
                            f"must give one mass per type ({st.n_types} types)")
        return np.asarray(deck.system.mass, dtype=float)
    if st.masses is not None:
        return np.asarray(st.masses, dtype=float)
    return np.ones(st.n_types)


@dataclass
class Plan:
    """What `prepare` found: enough to build the simulation on every rank."""
    deck: Deck
    box: Box
    n_types: int
    n_global: int
    mass_by_type: np.ndarray
    grid: list
    structure: Structure | None  # rank 0 only
    topology: Topology | None = None  # bonds and angles, on every rank


def prepare(comm, deck: Deck, ckpt=None) -> Plan:
    """Validate everything the run depends on.  Collective; DeckError on all ranks.

    From a checkpoint, the box, particle count and masses are the checkpoint's.
    """
    if ckpt is None:
        st, topology = on_root(comm, build_initial, deck) or (None, None)
        header = on_root(comm, lambda: (st.cell, st.origin, st.n_types, len(st.ids),
                                        masses(deck, st)))
        cell, origin, n_types, n_global, mass_by_type = comm.bcast(header, root=0)
        topology = comm.bcast(topology, root=0)
    else:
        st = None
        mass_by_type = np.asarray(ckpt.state["system"]["mass_by_type"], dtype=float)
        cell, origin, n_types, n_global = ckpt.cell, ckpt.origin, len(mass_by_type), ckpt.n_global
        topology = (Topology.from_state(ckpt.state["topology"]) if "topology" in ckpt.state
                    else Topology())
    box = Box(cell, origin)
    pair = agree(comm, make_pair_force, deck.potential, n_types)
    chi_keys = getattr(pair, "chi_keys", [])
    if chi_keys and abs(n_global / box.volume / pair.CHI_DENSITY - 1.0) > 0.01:
        raise DeckError(chi_keys[0], None,
                        f"the chi -> a mapping (Groot & Warren 1997) holds at density "
                        f"{pair.CHI_DENSITY:g}; this system's density is {n_global / box.volume:.4g}: "
                        "give a instead")
    half_width = 0.5 * float(box.widths.min())
    if pair.cutoff_max >= half_width:
        raise DeckError("potential.cutoff", pair.cutoff_max,
                        f"must be less than half the box's smallest width ({half_width:.6g}); "
                        "use a larger box (system.cells) or a shorter cutoff")
    dof = max(3 * n_global - 3, 1)
    agree(comm, make_integrator, comm, deck.integrator, n_global=n_global, dof=dof,
          seed=deck.run.seed)
    grid = agree(comm, choose_grid, comm.size, box.widths, deck.parallel.grid)
    return Plan(deck, box, n_types, n_global, mass_by_type, grid, st if comm.rank == 0 else None,
                topology)


def build_simulation(comm, plan: Plan, ckpt=None) -> Simulation:
    """Distribute the particles (structure or checkpoint), set up forces and integrator.

    Collective.
    """
    deck, st = plan.deck, plan.structure
    pair = make_pair_force(deck.potential, plan.n_types)
    dof = max(3 * plan.n_global - 3, 1)
    integ = make_integrator(comm, deck.integrator, n_global=plan.n_global, dof=dof,
                            seed=deck.run.seed)
    nb = deck.neighbor
    topology = plan.topology if plan.topology is not None else Topology()
    system = ParticleSystem(comm, plan.box, plan.mass_by_type, pair.cutoff_max, nb.skin,
                            every=nb.every, check=nb.check, grid=plan.grid,
                            half_list=getattr(pair, "half_list", False),
                            bonded=not topology.empty,
                            ghost_cutoff=Bonded.ghost_cutoff(topology, pair.cutoff_max + nb.skin,
                                                             deck.system.bond_reach))
    tail = bool(deck.potential.get("tail", False))
    sim = Simulation(system, pair, integ, dof=dof, tail=tail, seed=deck.run.seed)
    if ckpt is not None:
        p = ckpt.particles
        # Positions were wrapped when the checkpoint's step rebuilt its lists;
        # forces include what the integrator added (Langevin) at that step.
        system.scatter(p["position"], p["velocity"], p["id"], p["type"], p["image"],
                       f=p["force"], step=ckpt.step, wrap=False)
        integ.load_state_dict(ckpt.state.get("integrator", {}))
        sim.step = ckpt.step
        _add_bonded(comm, sim, topology, deck.system.bond_reach)
        return sim
    if comm.rank == 0:
        v = st.velocities if st.velocities is not None else np.zeros_like(st.positions)
        system.scatter(st.positions, v, st.ids, st.types, st.images)
    else:
        system.scatter(np.empty((0, 3)), np.empty((0, 3)), np.empty(0, np.int64),
                       np.empty(0, np.int32))
    if deck.system.temperature > 0.0:
        system.v[...] = initial_velocities(system.comm, deck.run.seed,
                                           system.ids[: system.n_local], system.mass,
                                           deck.system.temperature, dof)
    elif deck.system.temperature == 0.0:
        system.v[...] = 0.0
    _add_bonded(comm, sim, topology, deck.system.bond_reach)
    sim.setup()
    return sim


def _add_bonded(comm, sim, topology, reach):
    """Bond and angle forces of a non-empty topology join the simulation.  Collective."""
    if topology.empty:
        return
    s = sim.system
    max_id = comm.allreduce(int(s.ids[: s.n_local].max()) if s.n_local else 0, op=MPI.MAX)
    max_id = max(max_id, int(topology.bonds[:, :2].max(initial=0)),
                 int(topology.angles[:, :3].max(initial=0)))
    bonded = Bonded(comm, topology, max_id, reach)
    sim.bonded.append(bonded)
    if hasattr(sim.pair, "set_exclusions"):  # dpd: exclude_bonded needs the bond partners
        sim.pair.set_exclusions(bonded.b_start, bonded.b_partner)


def output_dir_free(path):
    """DeckError when an earlier run's outputs are in the way."""
    p = Path(path)
    if p.exists() and (not p.is_dir() or any(p.iterdir())):
        raise DeckError("run.output", str(path), "already exists and is not empty; choose another "
                        "run.output (--set run.output=...) or remove it: runs are never overwritten")


def execute(comm, deck: Deck, *, echo=True, resume=False, restart=None, force=False,
            max_hours=None, stop_watch=None):
    """Validate, set up (fresh or from a checkpoint), run, write outputs.

    Fresh runs refuse an existing non-empty output directory.  `resume`
    continues from the newest valid checkpoint in the output directory,
    `restart` from a given checkpoint file; a deck that changes the physics
    is refused unless `force`.  Collective on `comm`.  Returns (sim, status)
    with status EXIT_RESUMABLE when a stop request wrote a checkpoint.
    """
    t_start = time.perf_counter()
    out = Path(deck.run.output)
    continuing = resume or restart is not None
    if not continuing:
        on_root(comm, output_dir_free, deck.run.output)
    ckpt, changed = None, []
    if continuing:
        ckpt = (checkpoint.read(comm, restart) if restart is not None else
                checkpoint.newest_valid(comm, out, log=lambda m: print(m, file=sys.stderr)))
        if ckpt is None:
            raise DeckError("--resume", str(out), "has no valid checkpoint to resume from; "
                            "start a fresh run (without --resume)")
        changed = physics_differences(ckpt.deck, deck.raw)
        if changed and not force:
            raise DeckError("deck", deck.path, "changes keys that alter the trajectory since the "
                            f"checkpoint: {', '.join(changed)}; restore them or pass --force")
    plan = prepare(comm, deck, ckpt)
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "deck.json").write_text(json.dumps(deck.raw, indent=2, default=str))
        if ckpt is not None:
            truncate_csv(out / "thermo.csv", ckpt.step, len(COLUMNS))
            truncate_csv(out / "structure.csv", ckpt.step, len(StructureObserver.COLUMNS))
    comm.Barrier()
    log = Log(comm, out / "log.txt", echo=echo)
    log(f"hpcms {__version__}: {deck.run.kind} run of {deck.path} on {comm.size} rank(s)")
    sim = build_simulation(comm, plan, ckpt)
    if ckpt is not None:
        log(f"continuing from {ckpt.path} (step {ckpt.step}, written by {ckpt.ranks} rank(s))"
            + (" with --force" if changed else ""))
    s = sim.system
    imbalance = _imbalance(comm, s.n_local)
    remaining = max(deck.run.steps - sim.step, 0)
    log(f"{s.n_global} particles, {plan.n_types} type(s), box {plan.box.cell.tolist()}")
    log(f"rank grid {s.domain.dims.tolist()}, ghost hops {s.halo.hops}, "
        f"particles per rank max/mean {imbalance:.3f}")
    log(f"pair {sim.pair.style} cutoff {sim.pair.cutoff_max} skin {s.neighbors.skin}, "
        f"integrator {sim.integrator.style} dt {sim.dt}, steps {sim.step} to {deck.run.steps}")
    thermo = ThermoObserver(sim, out / "thermo.csv", deck.output.thermo_every, log,
                            deck.output.progress if echo else "off", remaining)
    # Always present: with checkpoint_every = 0 it writes only on a stop request.
    ckpts = CheckpointObserver(sim, out, deck.output.checkpoint_every,
                               deck.output.checkpoint_keep, deck.run.steps, deck.raw,
                               deck.run.seed, deck.run.kind, plan.mass_by_type, log)
    observers = [thermo, ckpts]
    rdf = structure = None
    if deck.output.rdf_every:
        rdf = RDFObserver(sim, deck.output.rdf_every, plan.n_types, out / "rdf.csv")
        observers.append(rdf)
    if deck.output.structure_every:
        structure = StructureObserver(sim, deck.output.structure_every, out / "structure.csv")
        observers.append(structure)
        if ckpt is None:
            structure(sim)
    balancer = None
    if comm.size > 1 and deck.parallel.balance_every:
        balancer = Balancer(s.domain, lambda: s.neighbors.seconds, deck.parallel.balance_every)
        observers.append(balancer)
    traj = _trajectory(comm, deck, plan, sim, out, ckpt)
    if traj is not None:
        observers.append(traj)
        traj(sim)  # the frame of the start step (skipped when the file has it)
    hours = deck.run.max_hours if max_hours is None else max_hours
    if 0 < 3600 * hours < 5.0:
        log(f"warning: max_hours {hours} h is less than the 5 s kept for writing a "
            "checkpoint: the run stops after its first step")
    watch = stop_watch or StopWatch(hours)
    watch.checkpoint_seconds = lambda: ckpts.last_seconds
    if ckpt is None:
        thermo(sim)
    try:
        loop = sim.run(remaining, observers, watch.flag)
    except RunError as e:
        log(f"run stopped: {e}")
        raise
    finally:
        thermo.close()
        if traj is not None:
            traj.close()
        if structure is not None:
            structure.close()
    if rdf is not None:
        rdf.write(sim)
    timing = _timing(comm, sim, loop, time.perf_counter() - t_start, imbalance, remaining,
                     balancer.moves if balancer else 0)
    if comm.rank == 0:
        (out / "timing.json").write_text(json.dumps(timing, indent=2))
    _log_timing(log, timing)
    status = 0
    if sim.stop_requested and sim.step < deck.run.steps:
        status = EXIT_RESUMABLE
        reasons = comm.allgather(watch.received)
        why = next((r for r in reasons if r), "a stop request")
        log(f"stopped at step {sim.step} on {why}: checkpoint written; continue with "
            f"--resume (exit status {EXIT_RESUMABLE})")
    log.close()
    return sim, status


def _trajectory(comm, deck, plan, sim, out, ckpt):
    """The H5MD trajectory observer, continuing the file after a restart.  Collective."""
    every = deck.output.trajectory_every
    if not every:
        return None
    path = out / "trajectory.h5"
    exists = comm.bcast(path.exists() if comm.rank == 0 else None, root=0)
    if ckpt is not None and exists:
        writer = H5MDWriter.open_append(comm, path, truncate_after_step=ckpt.step)
    else:
        st = plan.structure
        names = comm.bcast(st.type_names if comm.rank == 0 and st is not None else None, root=0)
        s = sim.system
        writer = H5MDWriter(comm, path, n_global=s.n_global, box=s.box, species_names=names,
                            creator_version=__version__)
    return TrajectoryObserver(writer, every)


def _imbalance(comm, n_local):
    counts = comm.allgather(n_local)
    mean = sum(counts) / len(counts)
    return max(counts) / mean if mean else 1.0


def _timing(comm, sim, loop, wall, imbalance, steps, balance_moves):
    s = sim.system
    return {
        "ranks": comm.size,
        "grid": s.domain.dims.tolist(),
        "particles": s.n_global,
        "steps": steps,
        "wall_seconds": wall,
        "loop_seconds": loop,
        "particle_steps_per_second": s.n_global * steps / loop if loop > 0 else 0.0,
        "load_imbalance": imbalance,
        "balance_moves": balance_moves,
        "planes": [c.tolist() for c in s.domain.cuts],
        "neighbor_builds": s.neighbors.builds,
        "dangerous_builds": sim.dangerous_builds,
        "phases": sim.timers.summary(comm, loop),
    }


def _log_timing(log, timing):
    loop = timing["loop_seconds"]
    log(f"loop time {loop:.3f} s for {timing['steps']} steps of {timing['particles']} particles "
        f"on {timing['ranks']} rank(s): {timing['particle_steps_per_second']:.4g} particle-steps/s")
    log("phase       min        avg        max       %avg")
    for name, t in timing["phases"].items():
        pct = 100 * t["avg"] / loop if loop > 0 else 0.0
        log(f"{name:<9s} {t['min']:9.4f}  {t['avg']:9.4f}  {t['max']:9.4f}  {pct:6.1f}")
    log(f"neighbor list builds {timing['neighbor_builds']}, dangerous builds "
        f"{timing['dangerous_builds']}, load imbalance {timing['load_imbalance']:.3f}")
    if timing["balance_moves"]:
        planes = "; ".join(f"{'abc'[d]} {', '.join(f'{c:.4f}' for c in cuts)}"
                           for d, cuts in enumerate(timing["planes"]) if len(cuts) > 2)
        log(f"load balance: the planes between ranks moved {timing['balance_moves']} times; "
            f"now at {planes}")
