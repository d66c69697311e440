"""Command line: `hpcms run|check|info|keys`.  The entry point names COMM_WORLD.

Deck errors print one line naming the key, the value and what is allowed, and
exit with status 2 on every rank.  A fault during a run prints the step and
the culprit and exits with status 3.  A run stopped by SIGTERM, SIGUSR1 or its
wall-clock limit writes a checkpoint and exits with status 75: continue it
with `--resume`.  Anything unexpected aborts all ranks
(MPI_Abort) instead of leaving some of them waiting in a collective.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from . import __version__
from .config.errors import EXIT_DECK_ERROR, EXIT_RUN_ERROR, DeckError, RunError


def _parser():
    p = argparse.ArgumentParser(
        prog="hpcms",
        description="MPI-parallel multiscale materials simulator. "
                    "Run under mpirun/srun for several ranks: mpirun -n 4 hpcms run deck.toml")
    p.add_argument("--version", action="version", version=f"hpcms {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a deck")
    check = sub.add_parser("check", help="validate a deck (and its structure) without running")
    for sp in (run, check):
        sp.add_argument("deck", help="TOML input deck")
        sp.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a deck value: dotted key, TOML value "
                             "(--set system.cells=[8,8,8] --set run.output=\"runs/a\")")
    run.add_argument("--quiet", action="store_true", help="no progress output on stdout")
    run.add_argument("--resume", action="store_true",
                     help="continue from the newest valid checkpoint in the output directory")
    run.add_argument("--restart", metavar="FILE", help="continue from this checkpoint file")
    run.add_argument("--force", action="store_true",
                     help="continue even though the deck changes keys that alter the trajectory")
    run.add_argument("--max-hours", type=float, metavar="H",
                     help="checkpoint and stop (exit 75) before H hours of wall time "
                          "(overrides run.max_hours)")
    info = sub.add_parser("info", help="describe an output file or run directory")
    info.add_argument("path")
    sub.add_parser("keys", help="print the deck reference: every key, default and unit")
    return p


def _keys():
    """The deck reference: sections from their dataclasses, styles from their registries."""
    from .config.deck import reference
    from .md.integrate import INTEGRATOR_STYLES
    from .md.pair import PAIR_STYLES, POTENTIAL_KEYS

    lines = [reference(), "[potential]",
             "  keys: " + ", ".join(POTENTIAL_KEYS) + "; style one of " + ", ".join(PAIR_STYLES)]
    for name, cls in PAIR_STYLES.items():
        lines.append(f"  [[potential.pair]] for {name}: types = [i, j], "
                     + ", ".join(cls.coefficients) + ", cutoff (optional)")
        if hasattr(cls, "keys_doc"):
            lines.append(f"  style = {name!r}: " + cls.keys_doc)
    from .dpd.tstat import KEYS_DOC
    lines.append("  " + KEYS_DOC)
    lines += ["", "[integrator]"]
    for name, cls in INTEGRATOR_STYLES.items():
        lines.append(f"  style = {name!r}: " + ", ".join(cls.keys))
    return "\n".join(lines + ["", _fe_keys()])


def _fe_keys():
    """The FE deck (run.kind = 'fe'): sections, material styles, boundary types."""
    from .fe2 import material as _rve  # noqa: F401  (registers "rve")
    from .config.deck import section_reference
    from .config.fe_deck import FE_SECTIONS
    from .fe.boundary import TYPES
    from .fe.materials import MATERIALS, REQUIRED

    lines = ["# FE decks (run.kind = 'fe'): [run] as above, then"]
    for name, cls in FE_SECTIONS.items():
        if name != "run":
            lines += section_reference(name, cls)
    lines.append("[material]")
    for style, cls in MATERIALS.items():
        lines.append(f"  style = {style!r}:")
        for key, k in cls.keys.items():
            default = "required" if k.default is REQUIRED else repr(k.default)
            unit = f" [{k.unit}]" if k.unit else ""
            lines.append(f"    {key} = {default}{unit}: {k.doc}")
    lines += ["", "[[boundary]]  region = box plane (xmin..zmax), label name or 'Face Sets' "
              "value; name = reaction column name (default: the region)"]
    for kind, keys in TYPES.items():
        lines.append(f"  type = {kind!r}" + (": " + ", ".join(keys) if keys else ": u = 0"))
    return "\n".join(lines)


def main(argv=None):
    args, petsc_args = _parser().parse_known_args(argv)
    # Single-dash options (-fe_snes_monitor, -fe_pc_type hypre) go to PETSc;
    # anything else unknown is a usage error (exit 2).
    petsc_like = (petsc_args[0].startswith("-") and not any(a.startswith("--") for a in petsc_args)
                  if petsc_args else True)
    if not petsc_like or (petsc_args and args.command not in ("run", "check")):
        _parser().parse_args(argv)
    if petsc_args:
        from petsc4py import PETSc
        PETSc.Options().insertString(" ".join(petsc_args))
    if args.command == "keys":
        print(_keys())
        return 0
    if args.command == "info":
        from .io.info import describe
        try:
            print(describe(args.path))
        except DeckError as e:
            print(f"hpcms: error: {e}", file=sys.stderr)
            return EXIT_DECK_ERROR
        return 0

    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    try:
        return _run(comm, args)
    except DeckError as e:
        if comm.rank == 0:
            print(f"hpcms: error: {e}", file=sys.stderr, flush=True)
        return EXIT_DECK_ERROR
    except RunError as e:
        if comm.rank == 0:
            print(f"hpcms: run stopped: {e}", file=sys.stderr, flush=True)
        return EXIT_RUN_ERROR
    except Exception:
        sys.stderr.write(f"hpcms: internal error on rank {comm.rank}:\n{traceback.format_exc()}")
        sys.stderr.flush()
        comm.Abort(1)


def _run(comm, args):
    from .config.deck import load_deck
    from .run import execute, on_root, prepare

    deck = on_root(comm, load_deck, args.deck, args.overrides)
    deck = comm.bcast(deck, root=0)
    if deck.run.kind == "fe":
        return _run_fe(comm, args, deck)
    if args.command == "check":
        plan = prepare(comm, deck)
        if comm.rank == 0:
            print(f"{args.deck}: ok ({plan.n_global} particles, {plan.n_types} type(s), "
                  f"rank grid {plan.grid})")
        return 0
    from .outputs import StopWatch

    if args.max_hours is not None and not args.max_hours >= 0:
        raise DeckError("--max-hours", args.max_hours, "must be >= 0")
    hours = deck.run.max_hours if args.max_hours is None else args.max_hours
    # SIGTERM / SIGUSR1 (SLURM's --signal) ask for a checkpoint and exit 75.
    watch = StopWatch(hours).install()
    try:
        _, status = execute(comm, deck, echo=not args.quiet, resume=args.resume,
                            restart=args.restart, force=args.force, max_hours=hours,
                            stop_watch=watch)
    finally:
        watch.uninstall()
    return status


def _run_fe(comm, args, deck):
    from .fe2 import material as _rve  # noqa: F401  (registers the FE² style "rve")
    from .fe.driver import FERun, execute_fe
    from .outputs import StopWatch

    if args.command == "check":
        run = FERun(comm, deck, log=lambda m: None)
        run.close()
        if comm.rank == 0:
            m = run.mesh
            print(f"{args.deck}: ok ({m.n_cells_global} {m.element.name} cells, "
                  f"{run.space.n_global} dofs, material {deck.material.get('style')})")
        return 0
    if args.max_hours is not None and not args.max_hours >= 0:
        raise DeckError("--max-hours", args.max_hours, "must be >= 0")
    hours = deck.run.max_hours if args.max_hours is None else args.max_hours
    watch = StopWatch(hours).install()
    try:
        _, status = execute_fe(comm, deck, echo=not args.quiet, resume=args.resume,
                               restart=args.restart, force=args.force, stop_watch=watch)
    finally:
        watch.uninstall()
    return status


def entry():
    sys.exit(main())


if __name__ == "__main__":
    entry()
