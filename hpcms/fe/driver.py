"""Run an FE deck: mesh, material, boundary conditions, load stepping, outputs.

A run's directory gets ``log.txt`` (Newton residual norms per iteration),
``reaction.csv`` (one row per converged increment: load factor, reaction
force of every boundary region, stored energy, iterations), ``fields.h5`` +
``fields.xdmf`` (displacement per vertex; F, P and energy density per cell,
for ParaView), ``timing.json`` (kinematics / material / assembly / solve /
output seconds) and, when asked, checkpoints.  A checkpoint holds the
displacement of every vertex by global id, the load factor and increment: a
restart may use any number of ranks.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from .. import __version__
from ..config.deck import physics_differences
from ..config.errors import DeckError, RunError
from ..io import checkpoint
from ..io.xdmf import FieldWriter
from ..md.timers import Timers
from ..outputs import EXIT_RESUMABLE, Log, truncate_csv
from ..parallel.rows import rows_by_id
from .boundary import make_boundary
from .materials import make_material
from .mesh import create_mesh
from .problem import Equilibrium
from .solver import PHASES, LoadStepper, make_snes
from .space import DisplacementSpace


def agree(comm, fn, *args):
    """fn(*args) on every rank; a DeckError on any rank is raised on all.  Collective."""
    result, error = None, None
    try:
        result = fn(*args)
    except DeckError as e:
        error = e
    first = next((e for e in comm.allgather(error) if e is not None), None)
    if first is not None:
        raise first
    return result


class FERun:
    """Everything an FE run is made of, built from a deck.  Collective on `comm`."""

    def __init__(self, comm, deck, log=print):
        self.comm, self.deck = comm, deck
        self.timers = Timers(PHASES)
        self.mesh = create_mesh(comm, deck.mesh, Path(deck.path).parent)
        self.space = DisplacementSpace(self.mesh)
        self.material = agree(comm, make_material, deck.material, comm)
        self.boundary = make_boundary(self.space, deck.boundary)
        self.problem = Equilibrium(self.space, self.material, self.boundary, self.timers)
        self.snes = make_snes(self.problem, deck.solver)
        self.stepper = LoadStepper(self.problem, self.snes, deck.load, log, self.timers)

    def close(self):
        """Release what the material holds (RVE sub-communicators).  Collective."""
        if hasattr(self.material, "free"):
            self.material.free()

    def displacement(self):
        """(n_vertices, dim) displacements of this rank's owned and ghost vertices.  Collective."""
        return self.space.to_local(self.stepper.u)

    def restore(self, ckpt):
        """Displacements and load state from a checkpoint of any rank count.  Collective."""
        rows = ckpt.groups["vertices"]
        if int(ckpt.state["mesh"]["vertices"]) != self.mesh.n_vertices_global:
            raise DeckError("mesh", self.deck.mesh.type, "differs from the checkpoint's mesh "
                            f"({int(ckpt.state['mesh']['vertices'])} vertices, this one "
                            f"{self.mesh.n_vertices_global})")
        (u,) = rows_by_id(self.comm, rows["id"], [rows["displacement"]],
                          self.mesh.n_vertices_global, self.mesh.vertex_ids)
        self.space.set_owned(self.stepper.u, np.arange(self.space.n_local), u.reshape(-1))
        self.stepper.restore(ckpt.state["load"])
        points = ckpt.groups.get("points")
        if points is not None and hasattr(self.material, "load_state_rows"):
            names = [k for k in points if k != "id"]
            n_points = self.mesh.n_cells_global * self.problem.nq
            values = rows_by_id(self.comm, points["id"], [points[k] for k in names], n_points,
                                self.problem.point_ids)
            self.material.load_state_rows(self.problem.point_ids, dict(zip(names, values)))

    def write_checkpoint(self, directory, keep):
        """checkpoint-<increment>.h5 of the last converged state.  Collective."""
        m = self.mesh
        u = self.displacement()[m.vertex_owned]
        d = self.deck
        groups = {"vertices": {"id": m.vertex_ids[m.vertex_owned], "displacement": u}}
        if hasattr(self.material, "state_rows"):  # per-point history (FE² RVEs)
            groups["points"] = self.material.state_rows()
        path = checkpoint.write_groups(
            self.comm, directory, step=self.stepper.step, time=self.stepper.load, kind="fe",
            seed=d.run.seed, deck=d.raw, groups=groups,
            state={"load": self.stepper.state(),
                   "mesh": {"vertices": m.n_vertices_global, "cells": m.n_cells_global}})
        if self.comm.rank == 0:
            checkpoint.prune(directory, keep)
        return path


class Outputs:
    """reaction.csv, fields and checkpoints after each converged increment.  Collective."""

    def __init__(self, run: FERun, out: Path, log, restart_step=None):
        self.run, self.out, self.log = run, out, log
        comm, mesh = run.comm, run.mesh
        self.names = [name for name, _ in run.boundary.reactions]
        axes = "xyz"[:mesh.dim]
        self.columns = (["increment", "load"] + [f"{n}_f{a}" for n in self.names for a in axes]
                        + ["energy", "iterations"])
        self.csv = None
        continuing = restart_step is not None
        if comm.rank == 0:
            if continuing:
                truncate_csv(out / "reaction.csv", restart_step, len(self.columns))
            self.csv = open(out / "reaction.csv", "a")
            if self.csv.tell() == 0:
                self.csv.write(",".join(self.columns) + "\n")
        el = mesh.element
        # A restart continues the field file when the run directory still has it.
        append = continuing and comm.bcast((out / "fields.h5").exists() if comm.rank == 0
                                           else None, root=0)
        self.fields = FieldWriter(comm, out, "fields", topology=el.xdmf_name,
                                  nodes_per_cell=el.n_nodes, dim=mesh.dim, append=append)
        owned = mesh.vertex_owned  # on a reopened file: checked against it, not written
        self.fields.write_mesh(mesh.vertex_ids[owned], mesh.X[owned], mesh.cell_ids,
                               mesh.vertex_ids[mesh.cells][:, el.to_xdmf])
        if append:
            self.fields.truncate(restart_step)
        self.last_fields = -1
        self.last_checkpoint = -1

    def __call__(self, stepper):
        run, sec = self.run, self.run.deck.output
        if hasattr(run.material, "summary"):
            self.log(run.material.summary())
        if hasattr(run.material, "after_increment"):
            with run.timers("output"):
                run.material.after_increment(self.out, stepper.step, stepper.load)
        with run.timers("output"):
            self._reaction_row(stepper)
            every = sec.fields_every
            if (every and stepper.step % every == 0) or stepper.load >= 1.0:
                self.write_fields(stepper)
        every = sec.checkpoint_every
        if every and (stepper.step % every == 0 or stepper.load >= 1.0):
            self.checkpoint()

    def _reaction_row(self, stepper):
        p = self.run.problem
        forces = [f for _, f in p.reactions()]
        energy = p.energy()
        if self.csv is not None:
            values = [stepper.step, stepper.load] + [x for f in forces for x in f]
            values += [energy, self.run.snes.getIterationNumber()]
            self.csv.write(",".join(f"{v:.17g}" if isinstance(v, float) else str(v)
                                    for v in values) + "\n")
            self.csv.flush()

    def write_fields(self, stepper):
        if self.last_fields == stepper.step:
            return
        mesh, p = self.run.mesh, self.run.problem
        u = self.run.displacement()[mesh.vertex_owned]
        cells = p.cell_fields()
        if hasattr(self.run.material, "point_fields"):
            for name, values in self.run.material.point_fields().items():
                cells[name] = values.reshape(mesh.n_cells, p.nq).mean(axis=1)
        self.fields.write_step(stepper.step, stepper.load, {"displacement": u}, cells)
        self.last_fields = stepper.step

    def checkpoint(self):
        if self.last_checkpoint == self.run.stepper.step:
            return
        t0 = time.perf_counter()
        with self.run.timers("checkpoint"):
            path = self.run.write_checkpoint(self.out, self.run.deck.output.checkpoint_keep)
        self.last_checkpoint = self.run.stepper.step
        self.log(f"checkpoint {path.name} written in {time.perf_counter() - t0:.3f} s")

    def close(self):
        if self.csv is not None:
            self.csv.close()
        self.fields.close()


def execute_fe(comm, deck, *, echo=True, resume=False, restart=None, force=False,
               stop_watch=None):
    """Validate, build, load-step to λ = 1, write outputs.  Collective on `comm`.

    Returns (FERun, status), status EXIT_RESUMABLE when a stop request
    (signal, wall-clock limit) checkpointed the run between increments.
    """
    from ..run import on_root, output_dir_free

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
        if ckpt.kind != "fe":
            raise DeckError("--restart", ckpt.path, f"is a checkpoint of a {ckpt.kind} run, "
                            "not of an FE run")
        changed = physics_differences(ckpt.deck, deck.raw)
        if changed and not force:
            raise DeckError("deck", deck.path, "changes keys that alter the solution since the "
                            f"checkpoint: {', '.join(changed)}; restore them or pass --force")
    log = Log(comm, None, echo=echo)
    run = FERun(comm, deck, log=log)  # every deck error surfaces here, before any output
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "deck.json").write_text(json.dumps(deck.raw, indent=2, default=str))
    comm.Barrier()
    log = Log(comm, out / "log.txt", echo=echo)
    run.stepper.log = log
    if ckpt is not None:
        run.restore(ckpt)
        log(f"continuing from {ckpt.path} (increment {ckpt.step}, load {ckpt.time:.6g}, "
            f"written by {ckpt.ranks} rank(s))" + (" with --force" if changed else ""))
    _log_setup(log, run)
    outputs = Outputs(run, out, log, None if ckpt is None else ckpt.step)
    watch_flag = (lambda: False) if stop_watch is None else stop_watch.flag
    stop = lambda: comm.allreduce(watch_flag(), op=MPI.MAX) > 0  # noqa: E731
    t_loop = time.perf_counter()
    try:
        finished = run.stepper.run(outputs, stop)
    except RunError as e:
        log(f"run stopped: {e}")
        outputs.checkpoint()  # the last converged state
        outputs.close()
        run.close()
        raise
    loop = time.perf_counter() - t_loop
    status = 0
    if finished:
        outputs.write_fields(run.stepper)
    else:
        outputs.checkpoint()
        status = EXIT_RESUMABLE
        log(f"stopped at increment {run.stepper.step} (load {run.stepper.load:.6g}) on a stop "
            f"request: checkpoint written; continue with --resume (exit status {status})")
    outputs.close()
    run.close()
    timing = _timing(comm, run, loop, time.perf_counter() - t_start)
    if comm.rank == 0:
        (out / "timing.json").write_text(json.dumps(timing, indent=2))
    _log_timing(log, timing)
    log(f"fields: {out / 'fields.xdmf'} (ParaView), reactions: {out / 'reaction.csv'}")
    log.close()
    return run, status


def _log_setup(log, run):
    m, d = run.mesh, run.deck
    dofs = run.space.n_global
    cells = run.comm.allgather(m.n_cells)
    log(f"hpcms {__version__}: fe run of {d.path} on {run.comm.size} rank(s)")
    log(f"mesh: {m.n_cells_global} {m.element.name} cells, {m.n_vertices_global} vertices, "
        f"{dofs} dofs, {'plane strain' if m.dim == 2 else '3D'}, cells per rank "
        f"{min(cells)}..{max(cells)}")
    log(f"material {d.material.get('style')}, {len(run.boundary.reactions)} boundary region(s), "
        f"Newton rtol {d.solver.rtol:g} atol {d.solver.atol:g}, "
        f"KSP {run.snes.getKSP().getType()} PC {run.snes.getKSP().getPC().getType()}")


def _timing(comm, run, loop, wall):
    phases = run.timers.summary(comm, loop)
    # SNES time net of the callbacks it made: the linear solves (and line search).
    inner = sum(run.timers.seconds[k] for k in ("kinematics", "material", "assembly"))
    linear = max(run.timers.seconds["solve"] - inner, 0.0)
    linear = {"min": comm.allreduce(linear, op=MPI.MIN),
              "avg": comm.allreduce(linear, op=MPI.SUM) / comm.size,
              "max": comm.allreduce(linear, op=MPI.MAX)}
    phases["linear solve"] = linear
    its = run.stepper.iterations
    return {"ranks": comm.size, "dofs": run.space.n_global, "cells": run.mesh.n_cells_global,
            "increments": run.stepper.step, "newton_iterations": its,
            "wall_seconds": wall, "loop_seconds": loop,
            "seconds_per_newton_iteration": loop / its if its else 0.0, "phases": phases}


def _log_timing(log, timing):
    loop = timing["loop_seconds"]
    log(f"loop time {loop:.3f} s: {timing['increments']} increment(s), "
        f"{timing['newton_iterations']} Newton iteration(s), {timing['dofs']} dofs on "
        f"{timing['ranks']} rank(s)")
    log("phase           min        avg        max       %avg   (solve includes the three above)")
    for name, t in timing["phases"].items():
        pct = 100 * t["avg"] / loop if loop > 0 else 0.0
        log(f"{name:<13s} {t['min']:9.4f}  {t['avg']:9.4f}  {t['max']:9.4f}  {pct:6.1f}")
