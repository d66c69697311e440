"""The atomistic representative volume element (RVE) of an FE² material point.

An RVE is a periodic crystal (fcc Lennard-Jones ``lj/cut`` to begin with, with
vacancies at random sites) whose cell is deformed by the macroscopic
deformation gradient F: the cell becomes ``F @ cell0`` (triclinic under
shear).  In statics the atoms are relaxed at fixed cell by FIRE, and the RVE
returns

    W = E / V0,    P = J sigma F^-T = -(virial / V0) F^-T,
    A = dP/dF by central differences of relaxed RVEs (warm started;
        ``tangent = "differences"``, 18 more relaxations), or analytically
        (``tangent = "analytic"``): A = (Born - B^T K^+ B) / V0 with the Born
        term d^2E/dF dF of the affinely carried atoms, the Hessian K and the
        mixed derivatives B = d^2E/dx dF at the relaxed atoms (one dense solve),

with V0 the volume of the undeformed cell (vacancies included), E the
absolute lattice energy and ``virial = sum_i 1/2 sum_j (x_i - x_j) (x) f_ij``
(positive in compression), so that for a perfect crystal W, P and A are the
Cauchy-Born law `hpcms.fe.materials.CauchyBornLJ`.

Determinism: an evaluation is a pure function of (spec, F, start state) and
its bits do not depend on the number of ranks of the group.  Every atom's
force is summed in an order fixed by global ids (the engine's rule), every
global quantity that steers the minimiser (the power f.v, |f|, |v|) is an
exact fixed-point sum (`hpcms.parallel.reduce.exact_sum`), maxima are MPI MAX reductions (exact), each atom is
updated by itself in a fixed order, and each evaluation starts from freshly
built ghosts and lists, never from what an earlier evaluation left behind.
On a one-rank group FIRE runs fused in one kernel call per list build
(`_rve_kernels.fire_relax`: the steps, ghost copies, displacement checks and
forces of `FIRE.minimize` with the same arithmetic): the same bits as the
general path, without its ~100 us of Python and MPI calls per step.  The
analytic tangent sums its Born term exactly, and assembles and solves the
Hessian on the group's first rank in atom-id order.

In dynamics (``mode = "dynamics"``) the atoms instead run NVT molecular
dynamics in the cell ``F @ cell0`` (velocity Verlet + Langevin thermostat,
`hpcms.md.integrate.Langevin`): `equilibration_steps`, then `sampling_steps`
averaged every step in `blocks` equal blocks, and the RVE returns

    W = <E_pot> / V0                           (potential energy only),
    P = J <sigma> F^-T = -(<virial + K> / V0) F^-T,   K = sum_i m v_i (x) v_i,
    P_error = the standard error of each component of P from the block means,
    A = None, or the fixed reference tangent (below),

with the same sign conventions as in statics (the kinetic part K adds to the
pair virial: both are positive in compression).  Every step of the sampling
is averaged.  P_error treats the `blocks` block means as independent: a block
should be several stress correlation times long (about the damping time in
a crystal; the defaults give 400 steps = 4 damping times), and with 10
blocks the error bar is itself uncertain by about 25 %.  W leaves out the
kinetic energy, whose average 3 N kT / 2 does not depend on F: <E_pot> / V0
is the usual proxy of the free energy density (it is not the free energy:
in dynamics P is not dW/dF, and a Hill-Mandel check of W against P does not
apply).  The tangent is not measured in dynamics: the macro Newton uses a
fixed reference tangent, the statics tangent at F = I of the same crystal,
computed once per RVE object (19 relaxations at the first call that asks
for it) and returned by every later call.

Random numbers in dynamics (Maxwell-Boltzmann velocities of a cold start,
Langevin forces) come from the counter-based generator `hpcms.md.rng` keyed
by (evaluation seed, step, atom id), the step counting 1, 2, ... from the
start of each evaluation and the evaluation seed drawn from (spec.seed, key)
with `key` the caller's evaluation key (the FE² material passes the
quadrature point id, so that points do not share noise).  An evaluation is
therefore a pure function of (spec, F, start state, key) in dynamics too,
with the same bits on any number of ranks: the Langevin update of an atom
uses its own values and its own random numbers only, and the sampled sums
(energy, virial, kinetic tensor of every atom at every step of a block) are
accumulated as exact fixed-point integers (`hpcms.parallel.reduce`'s format)
and reduced once per block.  Two evaluations with the same key share their
noise sequence (common random numbers): differences such as P(F + dF) -
P(F) from the same start state are much less noisy than P itself.

Cost: one ParticleSystem per RVE is kept for its lifetime.  An evaluation
scatters its start positions into the cell ``F @ cell0`` (one list build); the
18 relaxations of the tangent reuse the lists of the relaxation at F, with the
cell changed in place (`ParticleSystem.deform`), as long as they stay valid.
In dynamics the lists are rebuilt when an atom has moved half the skin.  The
first use of the kernels in a process loads them from numba's cache (~0.5 s):
`warm_up` does that at set-up (the FE² material calls it).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from ..fe.materials import lj_fcc_zero_stress_constant
from ..md.integrate import DEFAULT_DAMPING_STEPS, Langevin, initial_velocities
from ..md.pair import LJCut
from ..md.rng import MAX_STEP, gaussian3, philox
from ..parallel._reduce_kernels import N_LIMBS, RANGE, round_limbs
from ..parallel.box import Box
from ..parallel.reduce import MAX_ENTRIES, exact_sum
from ..particles.lattice import BASES, build_lattice
from ..particles.system import ParticleSystem
from . import _rve_kernels as kernels

# Counter-based random streams: the one that picks the vacant sites, and the
# one that draws an evaluation's seed from (spec.seed, key) in dynamics
# (hpcms.md.rng uses 0 for initial velocities and 1 for Langevin forces).
STREAM_VACANCY = 16
STREAM_EVALUATION_SEED = 17

MODES = ("statics", "dynamics")
TANGENTS = ("differences", "analytic")

# The analytic tangent solves with the dense Hessian on the group's first rank
# (O(N^3): a 256-atom RVE takes ~20 ms, 864 atoms ~0.7 s).
MAX_ANALYTIC_ATOMS = 2000

# Columns of the per-atom samples of dynamics: potential energy, pair virial
# (xx yy zz xy xz yz), kinetic tensor m v (x) v (xx yy zz xy xz yz).
_SAMPLE_COLUMNS = 13

# Forces or velocities this large mean the relaxation blew up (and their
# squares would leave the range of the exact sums, 2**64).
_RUNAWAY = 2.0 ** 30


@dataclass(frozen=True)
class RVESpec:
    """What an RVE is: crystal, potential, defects and solver settings.

    Validated on construction (ValueError naming the field, the value and
    what is allowed).  The potential is ``lj/cut`` with the conventions of
    `hpcms.md.pair.LJCut` and `hpcms.fe.materials.CauchyBornLJ`.
    """
    lattice: str = "fcc"
    cells: tuple = (4, 4, 4)          # conventional cells along x, y, z: 4 * 4**3 = 256 atoms
    orient: tuple = ()                # crystal directions along x, y, z (() = cube axes)
    epsilon: float = 1.0
    sigma: float = 1.0
    cutoff: float = 2.5
    shift: bool = False
    constant: float = 0.0             # lattice constant; 0: the fcc zero-stress constant
    vacancies: float = 0.0            # fraction of sites left empty, in [0, 1)
    seed: int = 1                     # picks the vacant sites (and, with the evaluation
                                      # key, the random numbers of dynamics)
    mode: str = "statics"             # "statics" (FIRE) or "dynamics" (NVT MD)
    ftol: float = 1e-10               # converged when every force component is <= ftol
    max_iterations: int = 10000       # FIRE steps per relaxation
    fd_step: float = 1e-5             # central-difference step of the tangent (on F)
    tangent: str = "differences"      # "differences" (18 relaxations) or "analytic"
    skin: float = 0.3                 # neighbour-list skin
    # dynamics: NVT MD (LJ units, k_B = 1)
    temperature: float = 0.0          # kT of the Langevin bath; must be > 0 in dynamics
    damping: float = 0.0              # Langevin damping time; 0: 100 dt
    dt: float = 0.005                 # MD time step
    equilibration_steps: int = 1000   # steps before sampling starts
    sampling_steps: int = 4000        # steps averaged (every step); `blocks` divides it
    blocks: int = 10                  # blocks of the block-average error estimate, >= 2
    mass: float = 1.0                 # mass of every atom

    def __post_init__(self):
        def bad(name, allowed):
            raise ValueError(f"RVESpec.{name} = {getattr(self, name)!r}: {allowed}")

        def integer(v):
            return isinstance(v, numbers.Integral) and not isinstance(v, bool)

        def real(v):
            return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)

        if self.lattice not in BASES:
            bad("lattice", f"one of {sorted(BASES)}")
        cells = tuple(self.cells) if isinstance(self.cells, (tuple, list)) else ()
        if len(cells) != 3 or not all(integer(c) and c > 0 for c in cells):
            bad("cells", "three positive integers")
        object.__setattr__(self, "cells", tuple(int(c) for c in cells))
        rows = [tuple(r) if isinstance(r, (tuple, list)) else () for r in self.orient]
        if rows and (len(rows) != 3 or not all(len(r) == 3 and all(map(integer, r))
                                               for r in rows)):
            bad("orient", "() or 3 rows of 3 integers: the crystal directions along x, y, z "
                          "(orthogonal, right-handed)")
        object.__setattr__(self, "orient", tuple(tuple(int(v) for v in r) for r in rows))
        for name in ("epsilon", "sigma", "cutoff", "ftol", "fd_step", "skin"):
            if not (real(getattr(self, name)) and getattr(self, name) > 0):
                bad(name, "a positive finite number")
        if not isinstance(self.shift, (bool, np.bool_)):
            bad("shift", "true or false")
        if not (real(self.constant) and self.constant >= 0):
            bad("constant", "a finite number >= 0 (0: the zero-stress constant)")
        if self.constant == 0 and self.lattice != "fcc":
            bad("constant", f"must be given (> 0) for the {self.lattice} lattice: "
                            "the zero-stress constant is known for fcc only")
        if not (real(self.vacancies) and 0 <= self.vacancies < 1):
            bad("vacancies", "a fraction in [0, 1)")
        if not (integer(self.seed) and 0 <= self.seed < 2 ** 64):
            bad("seed", "an integer in [0, 2**64)")
        if self.mode not in MODES:
            bad("mode", f"one of {list(MODES)}")
        if self.tangent not in TANGENTS:
            bad("tangent", f"one of {list(TANGENTS)}")
        if not (integer(self.max_iterations) and self.max_iterations >= 0):
            bad("max_iterations", "an integer >= 0")
        for name in ("dt", "mass"):
            if not (real(getattr(self, name)) and getattr(self, name) > 0):
                bad(name, "a positive finite number")
        if not (real(self.temperature) and self.temperature >= 0):
            bad("temperature", "a finite kT >= 0 (> 0 in dynamics)")
        if self.mode == "dynamics" and not self.temperature > 0:
            bad("temperature", "must be > 0 (the kT of the bath) when RVESpec.mode = 'dynamics'")
        if not (real(self.damping) and self.damping >= 0):
            bad("damping", "a finite time > 0, or 0 for 100 dt")
        if not (integer(self.equilibration_steps) and self.equilibration_steps >= 0):
            bad("equilibration_steps", "an integer >= 0")
        if not (integer(self.blocks) and self.blocks >= 2):
            bad("blocks", "an integer >= 2 (the error estimate needs two block means)")
        if not (integer(self.sampling_steps) and self.sampling_steps > 0
                and self.sampling_steps % self.blocks == 0):
            bad("sampling_steps", f"a positive integer that blocks = {self.blocks} divides")
        if self.equilibration_steps + self.sampling_steps >= MAX_STEP:
            bad("sampling_steps", f"equilibration_steps + sampling_steps must be < {MAX_STEP} "
                                  "(the step counter of the random numbers)")


@dataclass
class RVEState:
    """What a quadrature point keeps between evaluations and in checkpoints."""
    ids: np.ndarray          # (n_atoms,) int64 atom (lattice site) ids, ascending
    fractional: np.ndarray   # (n_atoms, 3) positions in fractional coordinates of the
                             # deformed cell, unwrapped
    velocities: np.ndarray | None = None  # (n_atoms, 3) at the last MD step (dynamics);
                                          # None in statics


@dataclass
class RVEResult:
    """One evaluation, the same on every rank of the group."""
    W: float                 # energy per reference volume, E(F) / V0
    P: np.ndarray            # (3, 3) first Piola-Kirchhoff stress
    A: np.ndarray | None     # (3, 3, 3, 3) A[i, J, k, L] = dP[i, J] / dF[k, L], when asked
    state: RVEState          # the relaxed atoms at F
    iterations: int          # FIRE steps of all relaxations of this evaluation (in
                             # dynamics: MD steps, equilibration + sampling)
    converged: bool          # every relaxation reached ftol (dynamics: the MD ran through)
    max_force: float = 0.0   # largest force component left at F (global; statics)
    relaxations: int = 1     # relaxations run (1, or 19 with the differences tangent; in
                             # dynamics 19 (1 analytic) when this call computed the
                             # reference tangent, else 0)
    P_error: np.ndarray | None = None    # (3, 3) standard error of P from the block
                                         # means (dynamics; None in statics)
    temperature: float | None = None     # time average of sum m v^2 / 3N (dynamics)
    temperature_error: float | None = None  # its standard error (block means)


@dataclass(frozen=True)
class FIRE:
    """The FIRE minimiser (Bitzek, Koskinen, Gähler, Moseler & Gumbsch,
    Phys. Rev. Lett. 97, 170201 (2006)) with the FIRE 2.0 semi-implicit Euler
    step, delayed start and half step back (Guénolé et al., Comput. Mater.
    Sci. 175, 109584 (2020)).  Unit masses; no atom moves farther than
    `max_step` in one step (LAMMPS's dmax).  Times in LJ units.
    """
    dt_start: float = 0.04
    dt_max: float = 0.2
    dt_min: float = 0.002
    n_delay: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha_start: float = 0.25
    f_alpha: float = 0.99
    max_step: float = 0.1

    def minimize(self, comm, system, moved, ftol, max_iterations):
        """Relax system.x (owned atoms) down the forces in system.f.

        `moved(step)` brings ghosts, lists and system.f up to date after the
        owned positions changed and returns False when a position is not
        finite.  Returns (steps, converged, max_force).  Every decision uses
        global values that are the same bits on every rank, so every rank
        takes the same path.  Collective on `comm`.
        """
        system.v[...] = 0.0
        dt, alpha, n_up = self.dt_start, self.alpha_start, 0
        maxima = np.empty(2)
        table = np.empty((0, 3))
        steps = 0
        while True:
            n = system.n_local  # a list rebuild may migrate atoms
            if len(table) != n:
                table = np.empty((n, 3))
            maxima[:] = kernels.fire_norms(system.f, system.v, n, table)
            comm.Allreduce(MPI.IN_PLACE, maxima, op=MPI.MAX)
            f_max, v_max = float(maxima[0]), float(maxima[1])
            if not (f_max < _RUNAWAY and v_max < _RUNAWAY):
                return steps, False, math.inf
            if f_max <= ftol:
                return steps, True, f_max
            if steps >= max_iterations:
                return steps, False, f_max
            fv, vv, ff = exact_sum(comm, table).tolist()
            if fv > 0.0:
                n_up += 1
                keep, back = 1.0, 0.0
                if n_up > self.n_delay:
                    dt = min(dt * self.f_inc, self.dt_max)
                    alpha *= self.f_alpha
            else:  # uphill (or at rest): half a step back, stop, restart slower
                n_up = 0
                if steps >= self.n_delay:
                    dt = max(dt * self.f_dec, self.dt_min)
                    alpha = self.alpha_start
                keep, back = 0.0, 0.5 * dt
            # |v + dt f|^2 from the global sums, then v <- (1 - a) v' + a |v'| f / |f|
            v_new = math.sqrt(max(keep * (vv + 2.0 * dt * fv) + dt * dt * ff, 0.0))
            a, b = 1.0 - alpha, alpha * v_new / math.sqrt(ff)
            bound = a * (keep * v_max + dt * f_max) + b * f_max  # >= every |v_c| after the step
            dt_x = dt if bound * dt <= self.max_step else self.max_step / bound
            kernels.fire_move(system.x, system.v, system.f, n, back, keep, dt, a, b, dt_x)
            steps += 1
            if not moved(steps):
                return steps, False, math.inf

    def minimize_one_rank(self, system, forces, ghost_owner, rebuild, strain_reach, ftol,
                          max_iterations):
        """`minimize` with `RVE._moved` on a one-rank communicator, fused: one
        kernel call (`_rve_kernels.fire_relax`) runs the steps between list
        rebuilds, with the same arithmetic and decisions, hence the same bits.

        forces: the (lj1, lj2, cutsq) of the one-type LJ pair; ghost_owner():
        the owned row of each ghost of the current lists; rebuild(step):
        rebuilds the lists and computes the forces, and returns the new strain
        reach (0).  Returns (steps, converged, max_force).
        """
        system.v[...] = 0.0
        n = system.n_local
        params = np.array([self.dt_max, self.dt_min, self.n_delay, self.f_inc, self.f_dec,
                           self.alpha_start, self.f_alpha, self.max_step])
        state = np.array([self.dt_start, self.alpha_start, 0.0])
        counters = np.zeros(2, dtype=np.int64)
        table, sums = np.empty((n, 3)), np.empty(3)
        limbs = np.empty((3, N_LIMBS), dtype=np.int64)
        halo, nl = system.halo, system.neighbors
        while True:
            code = kernels.fire_relax(
                system.x, system.v, system.f, system.x_ref, n, ghost_owner(), halo.shift,
                halo.base, nl.start, nl.index, *forces, table, limbs, sums, params, state,
                counters, ftol, max_iterations, halo.cutoff, nl.skin, strain_reach, _RUNAWAY)
            steps = int(counters[1])
            if code == kernels.FIRE_REBUILD:
                strain_reach = rebuild(steps)
                continue
            if code == kernels.FIRE_CONVERGED:
                return steps, True, float(state[2])
            if code == kernels.FIRE_MAX_ITERATIONS:
                return steps, False, float(state[2])
            if code == kernels.FIRE_BAD_SUM:
                raise ValueError(f"exact_sum: entries are not finite or have |x| >= {RANGE:.3e}")
            return steps, False, math.inf  # a runaway or a lost atom


class RVE:
    """A periodic atomistic crystal evaluated under deformation gradients.

    Collective on `comm` (the RVE group's sub-communicator): construction,
    `evaluate` and `free` must be called by every rank of the group.  F, the
    start state and the evaluation key are read on rank 0 of `comm` only;
    results are the same bits on every rank and for every size of `comm`.
    """

    def __init__(self, comm, spec: RVESpec, minimizer: FIRE | None = None):
        self.comm = comm
        self.spec = spec
        self.minimizer = minimizer or FIRE()
        sp = spec
        self.constant = float(sp.constant) or lj_fcc_zero_stress_constant(
            sp.epsilon, sp.sigma, sp.cutoff, sp.shift)
        st = build_lattice(sp.lattice, sp.cells, constant=self.constant,
                           orient=[list(r) for r in sp.orient] or None, key_prefix="RVESpec")
        self.cell0 = st.cell
        self.origin = st.origin
        self.box0 = Box(self.cell0, self.origin)
        self.volume0 = self.box0.volume
        self.n_sites = len(st.ids)
        self.n_vacancies = int(round(sp.vacancies * self.n_sites))
        if self.n_sites - self.n_vacancies < 2:
            raise ValueError(f"RVESpec.vacancies = {sp.vacancies}: leaves "
                             f"{self.n_sites - self.n_vacancies} of {self.n_sites} atoms")
        keep = np.ones(self.n_sites, dtype=bool)
        if self.n_vacancies:
            # One normal per site id from the counter-based generator: the
            # smallest n_vacancies are vacant, the same on any number of ranks.
            g = gaussian3(sp.seed, 0, STREAM_VACANCY, st.ids)[:, 0]
            keep[np.lexsort((st.ids, g))[: self.n_vacancies]] = False
        self.ids = np.ascontiguousarray(st.ids[keep])
        self.n_atoms = len(self.ids)
        if sp.sampling_steps // sp.blocks * self.n_atoms > MAX_ENTRIES:
            raise ValueError(f"RVESpec.blocks = {sp.blocks}: a block of "
                             f"{sp.sampling_steps // sp.blocks} steps of {self.n_atoms} atoms "
                             f"exceeds the {MAX_ENTRIES} entries of an exact sum; use more blocks")
        self._s0 = np.ascontiguousarray(self.box0.fractional(st.positions[keep]))
        eps, sig, cut = (np.array([[float(v)]]) for v in (sp.epsilon, sp.sigma, sp.cutoff))
        self.pair = LJCut(eps, sig, cut, shift=bool(sp.shift))
        # One-rank groups relax in one fused kernel (same bits as the general path).
        self._lj = (float(self.pair.lj1[0, 0]), float(self.pair.lj2[0, 0]),
                    float(self.pair.cutsq[0, 0]))
        self._owner, self._owner_build = np.empty(0, dtype=np.int64), -1
        # The analytic tangent's row of each atom id (ids ascending).
        if sp.tangent == "analytic" and self.n_atoms > MAX_ANALYTIC_ATOMS:
            raise ValueError(f"RVESpec.tangent = 'analytic': {self.n_atoms} atoms exceed the "
                             f"{MAX_ANALYTIC_ATOMS} of its dense Hessian; use 'differences'")
        self._id_row = np.full(int(self.ids[-1]) + 1, -1, dtype=np.int64)
        self._id_row[self.ids] = np.arange(self.n_atoms)
        self.system = ParticleSystem(comm, self.box0, [float(sp.mass)], sp.cutoff, sp.skin)
        self.damping = float(sp.damping) or DEFAULT_DAMPING_STEPS * float(sp.dt)
        self._reference_tangent = None  # dynamics: statics A at F = I, once computed
        # The cell of the last list build, and how far the current cell's
        # change since then moves pairs (0 while the cell is the build's).
        self._build_cell_inverse = self.box0.inverse
        self._strain_reach = 0.0
        # The caller's rank 0 reads F, the state and the key; every rank gets
        # this buffer: F (9), F bad, state bad, velocities given, velocities
        # bad, key low and high 32-bit words, key bad.
        self._job = np.empty(16)

    # --- public -----------------------------------------------------------------

    def reference_state(self) -> RVEState:
        """The unrelaxed crystal: every atom on its lattice site."""
        return RVEState(self.ids.copy(), self._s0.copy())

    def evaluate(self, F, state: RVEState | None = None, tangent=True, key=0) -> RVEResult:
        """Relax the crystal in the cell F @ cell0 (statics), or run NVT MD in
        it (dynamics), and measure W, P (and A).

        The atoms start from `state` (fractional coordinates, a warm start) or,
        when None, from the affine map of the lattice sites.  ValueError on
        every rank when F is not a finite 3x3 matrix with det F > 0, when
        `state` does not hold this RVE's atoms or when `key` is not an
        integer in [0, 2**64).  A relaxation that does not reach `ftol` in
        `max_iterations` steps gives converged=False (the tangent is then not
        computed: A is NaN); one that blows up (a non-finite or runaway force)
        also gives NaN W and P and returns the start state.

        Dynamics: the start state's velocities are kept (positions are mapped
        by their fractional coordinates into the new cell); a state without
        velocities (a cold start) gets Maxwell-Boltzmann velocities at kT.
        `key` (ignored in statics) selects the random numbers: the result is
        a pure function of (spec, F, start state, key), and callers pass a
        different key wherever they want independent noise (the FE² material:
        the quadrature point id).  With `tangent` A is the fixed reference
        tangent (statics, F = I).  An MD run that blows up (a non-finite
        position or velocity, an atom that jumps farther than the halo) gives
        converged=False, NaN W, P and P_error, and returns the start state.
        Collective.
        """
        F, start, velocities, key = self._receive(F, state, key)
        if self.spec.mode == "dynamics":
            return self._dynamics(F, start, velocities, key, tangent)
        return self._statics(F, start, tangent)

    def warm_up(self):
        """Run the statics code once before timed work: a relaxation with one
        atom nudged off its site (FIRE steps) and the tangent of the perfect
        crystal, so that every compiled kernel is loaded from numba's cache
        (about 0.5 s in a fresh process) at set-up instead of at the first
        evaluation.  The results are discarded; no later evaluation depends
        on it (each starts from freshly built lists).  Collective."""
        nudged = self._s0.copy()  # statics in either mode (dynamics needs it for its tangent)
        nudged[0] += 1e-3 / np.asarray(self.spec.cells, dtype=np.float64)
        self._statics(np.eye(3), nudged, False)
        self._statics(np.eye(3), self._s0, True)

    def noise_seed(self, key):
        """The 64-bit seed of the random numbers of a dynamics evaluation with
        evaluation key `key`: Philox of (key, stream 17) under spec.seed."""
        m, seed = 0xFFFFFFFF, self.spec.seed
        words = philox((key & m, key >> 32, 0, STREAM_EVALUATION_SEED << 8),
                       (seed & m, seed >> 32))
        return int(words[0]) | (int(words[1]) << 32)

    def free(self):
        """Release the engine's communicator.  Collective."""
        self.system.free()

    # --- statics --------------------------------------------------------------------

    def _statics(self, F, start, tangent):
        """A relaxation at F from rank 0's `start` (and the tangent).  Collective."""
        self._scatter(F, start)
        steps, ok, f_max, energy, virial = self._relax()
        if not np.isfinite(f_max):
            nan = np.full((3, 3), np.nan)
            A = np.full((3, 3, 3, 3), np.nan) if tangent else None
            return RVEResult(math.nan, nan, A, self._broadcast_state(start), steps, False, f_max)
        W, P = self._measure(F, energy, virial)
        result_state = self._gather_state()
        A, relaxations = None, 1
        if tangent:
            if ok and self.spec.tangent == "analytic":
                A = self._analytic_tangent(F)
            elif ok:
                A, more, ok = self._tangent(F, result_state)
                steps += more
                relaxations += 18
            else:
                A = np.full((3, 3, 3, 3), np.nan)
        return RVEResult(W, P, A, result_state, steps, ok, f_max, relaxations)

    # --- dynamics -------------------------------------------------------------------

    def _dynamics(self, F, start, velocities, key, tangent):
        """NVT MD at F from rank 0's start state, block averages, and the
        reference tangent when asked.  Collective."""
        sp = self.spec
        seed = self.noise_seed(key)
        self._scatter(F, start, velocities if self.comm.rank == 0 else None)
        s = self.system
        if velocities is None:  # a cold start: Maxwell-Boltzmann at kT, zero momentum
            s.v[...] = initial_velocities(self.comm, seed, s.ids[:s.n_local], s.mass,
                                          sp.temperature, 3 * self.n_atoms)
        steps, sums = self._run_md(Langevin(self.comm, sp.dt, sp.temperature, self.damping,
                                            seed))
        state = (self._gather_state(velocities=True) if sums is not None
                 else self._broadcast_state(start, velocities))
        A, relaxations = None, 0
        if tangent:  # after the state is saved: the relaxations reuse the particle system
            relaxations = (0 if self._reference_tangent is not None
                           else 1 if sp.tangent == "analytic" else 19)
            A = self.reference_tangent()
        if sums is None:
            nan = np.full((3, 3), np.nan)
            return RVEResult(math.nan, nan, A, state, steps, False, 0.0, relaxations,
                             nan.copy(), math.nan, math.nan)
        # Block means of (energy, pair virial, kinetic tensor), then W, P, T per block.
        means = sums / (sp.sampling_steps // sp.blocks)
        inverse_T = _inverse3(F).T
        P_blocks = np.empty((sp.blocks, 3, 3))
        for b in range(sp.blocks):
            xx, yy, zz, xy, xz, yz = (float(v) for v in means[b, 1:7] + means[b, 7:13])
            w = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
            P_blocks[b] = -(w / self.volume0) @ inverse_T
        W, _ = _mean_and_error(means[:, 0] / self.volume0)
        P, P_error = _mean_and_error(P_blocks)
        T, T_error = _mean_and_error((means[:, 7] + means[:, 8] + means[:, 9])
                                     / (3 * self.n_atoms))
        return RVEResult(float(W), P, A, state, steps, True, 0.0, relaxations, P_error,
                         float(T), float(T_error))

    def reference_tangent(self):
        """The fixed reference tangent of dynamics: the statics tangent
        dP/dF at F = I of this crystal (relaxed at the zero-temperature
        lattice constant), computed at the first call and kept.  A copy.
        Collective (every rank calls it at the same time: the first call
        runs 19 relaxations)."""
        if self._reference_tangent is None:
            result = self._statics(np.eye(3), self._s0, True)
            self._reference_tangent = result.A
        return self._reference_tangent.copy()

    def _run_md(self, integrator):
        """`equilibration_steps` + `sampling_steps` steps of `integrator` from
        the scattered atoms (LAMMPS Verlet::run's sequence):

            half kick + drift -> rebuild check -> ghosts or rebuild -> forces
            (+ energy and virial when sampling) -> Langevin forces -> half kick
            -> sample

        Each sampled step adds every owned atom's (energy, pair virial,
        m v (x) v) to exact fixed-point sums, reduced once per block.
        Returns (steps, (blocks, 13) block sums), or (steps, None) when the
        run blew up.  Collective (every decision uses global values)."""
        sp, s, comm = self.spec, self.system, self.comm
        n_eq = sp.equilibration_steps
        block = sp.sampling_steps // sp.blocks
        limbs = np.zeros((_SAMPLE_COLUMNS, N_LIMBS), dtype=np.int64)
        words = np.empty(_SAMPLE_COLUMNS * N_LIMBS + 1, dtype=np.int64)
        sums = np.empty((sp.blocks, _SAMPLE_COLUMNS))
        energy, virial, table = np.empty(0), np.empty((0, 6)), np.empty((0, _SAMPLE_COLUMNS))
        bad = 0
        self._forces()
        for step in range(1, n_eq + sp.sampling_steps + 1):
            n = s.n_local
            integrator.initial_integrate(step, s.x[:n], s.v, s.f, s.mass)
            if not self._update_lists(step):
                return step, None
            n = s.n_local  # a rebuild may migrate atoms
            sampling = step > n_eq
            if sampling:
                if len(table) != n:
                    energy, virial = np.empty(n), np.empty((n, 6))
                    table = np.empty((n, _SAMPLE_COLUMNS))
                nl = s.neighbors
                self.pair.compute(s.x, s.types, n, nl.start, nl.index, s.f, energy, virial)
            else:
                self._forces()
            integrator.post_force(step, s.v, s.f, s.mass, s.ids[:n])
            integrator.final_integrate(step, s.v, s.f, s.mass)
            if sampling:
                bad += kernels.accumulate_samples(energy, virial, s.v, s.mass, table, limbs)
                k, r = divmod(step - n_eq, block)
                if r == 0:
                    words[:-1] = limbs.ravel()
                    words[-1] = bad
                    comm.Allreduce(MPI.IN_PLACE, words, op=MPI.SUM)
                    if words[-1]:  # a non-finite or runaway velocity or energy
                        return step, None
                    round_limbs(words[:-1].reshape(_SAMPLE_COLUMNS, N_LIMBS), sums[k - 1])
                    limbs[...] = 0
                    bad = 0
        return n_eq + sp.sampling_steps, sums

    # --- a relaxation -------------------------------------------------------------

    def _receive(self, F, state, key):
        """F (3x3), the start fractional coordinates and velocities (rank 0;
        None elsewhere) and the key, validated the same way on every rank.
        Returns (F, start, velocities, key); velocities is None everywhere in
        statics and on a cold start, else an array on rank 0 and True on the
        other ranks.  Collective."""
        job = self._job
        start = velocities = None
        dynamics = self.spec.mode == "dynamics"
        if self.comm.rank == 0:
            job[:] = 0.0
            try:
                F = np.asarray(F, dtype=np.float64)
            except (TypeError, ValueError):
                F = None
            if F is None or F.shape != (3, 3):
                job[9] = 1.0
            else:
                job[:9] = F.ravel()
            if state is None:
                start = self._s0
            else:
                start = np.asarray(state.fractional, dtype=np.float64)
                ids = np.asarray(state.ids)
                if not (ids.shape == self.ids.shape and np.array_equal(ids, self.ids)
                        and start.shape == (self.n_atoms, 3) and np.isfinite(start).all()):
                    job[10] = 1.0
                if dynamics and getattr(state, "velocities", None) is not None:
                    velocities = np.asarray(state.velocities, dtype=np.float64)
                    job[11] = 1.0
                    if not (velocities.shape == (self.n_atoms, 3)
                            and np.isfinite(velocities).all()):
                        job[12] = 1.0
            if (isinstance(key, numbers.Integral) and not isinstance(key, bool)
                    and 0 <= key < 2 ** 64):
                job[13], job[14] = int(key) & 0xFFFFFFFF, int(key) >> 32
            else:
                job[15] = 1.0
        self.comm.Bcast(job, root=0)
        if job[9]:
            raise ValueError("F must be a 3x3 matrix of numbers")
        F = job[:9].reshape(3, 3).copy()
        if not np.isfinite(F).all():
            raise ValueError(f"F must be finite, got {F.tolist()}")
        det = _det3(F)
        if not det > 0.0:
            raise ValueError(f"F must have a positive determinant, got det F = {det:.6g}")
        if job[10]:
            raise ValueError(f"the state does not hold this RVE's {self.n_atoms} atoms "
                             "(ids ascending, finite fractional coordinates)")
        if job[12]:
            raise ValueError(f"the state's velocities must be finite, ({self.n_atoms}, 3)")
        if job[15]:
            raise ValueError("key must be an integer in [0, 2**64)")
        if job[11] and self.comm.rank != 0:
            velocities = True
        return F, start, velocities, int(job[13]) | (int(job[14]) << 32)

    def _scatter(self, F, start, velocities=None):
        """Start positions (rank 0's `start`, fractional) and velocities (rank
        0's, or zero) in the cell F @ cell0, ghosts and lists built afresh.
        Collective."""
        s = self.system
        box = self.box0.deformed(F)
        s.deform(box)
        if self.comm.rank == 0:
            x = np.empty((self.n_atoms, 3))
            kernels.cartesian(np.ascontiguousarray(start), box.origin, box.cell, x)
            v = np.zeros_like(x) if velocities is None else velocities
            s.scatter(x, v, self.ids, np.zeros(self.n_atoms, dtype=np.int32))
        else:
            s.scatter(np.empty((0, 3)), np.empty((0, 3)), np.empty(0, dtype=np.int64),
                      np.empty(0, dtype=np.int32))
        self._build_cell_inverse = box.inverse
        self._strain_reach = 0.0

    def _relax(self):
        """Forces at the current positions, FIRE, then the exact global sums of
        energy and virial.  Returns (steps, converged, max_force, energy,
        virial (xx yy zz xy xz yz)).  Collective."""
        sp = self.spec
        per_atom = self._energy_virial()  # and forces: at a minimum already, nothing moves
        if self.comm.size == 1:
            steps, ok, f_max = self.minimizer.minimize_one_rank(
                self.system, self._lj, self._ghost_owner, self._rebuild, self._strain_reach,
                sp.ftol, sp.max_iterations)
        else:
            steps, ok, f_max = self.minimizer.minimize(self.comm, self.system, self._moved,
                                                       sp.ftol, sp.max_iterations)
        if not np.isfinite(f_max):
            return steps, False, f_max, math.nan, None
        if steps:
            per_atom = self._energy_virial()
        sums = exact_sum(self.comm, per_atom)
        return steps, ok, f_max, float(sums[0]), sums[1:]

    def _forces(self):
        s = self.system
        nl = s.neighbors
        self.pair.compute(s.x, s.types, s.n_local, nl.start, nl.index, s.f)

    def _energy_virial(self):
        """Forces into system.f, and each owned atom's pair energy and virial
        (xx yy zz xy xz yz) as the rows of a (n_local, 7) table."""
        s = self.system
        nl = s.neighbors
        n = s.n_local
        energy, virial = np.empty(n), np.empty((n, 6))
        self.pair.compute(s.x, s.types, n, nl.start, nl.index, s.f, energy, virial)
        table = np.empty((n, 7))
        table[:, 0] = energy
        table[:, 1:] = virial
        return table

    def _ghost_owner(self):
        """The owned row each ghost copies, for the current lists (one rank)."""
        s = self.system
        if self._owner_build != s.neighbors.builds:
            n = s.n_local
            rows = s.with_ghosts(np.arange(n, dtype=np.int64)[:, None])
            self._owner = np.ascontiguousarray(rows[n:, 0])
            self._owner_build = s.neighbors.builds
        return self._owner

    def _rebuild(self, step):
        """`_update_lists`'s rebuild, then forces; returns the strain reach (0)."""
        s = self.system
        s.reneighbor(step)
        self._build_cell_inverse = s.box.inverse
        self._strain_reach = 0.0
        self._forces()
        return 0.0

    def _moved(self, step):
        """FIRE moved the owned atoms: lists or ghosts, then forces.  False
        when a position is not finite.  Collective."""
        if not self._update_lists(step):
            return False
        self._forces()
        return True

    def _update_lists(self, step, ghosts_current=False):
        """After owned positions changed: rebuild the lists if they may miss a
        pair, else refresh the ghosts (unless `ghosts_current`).  False when a
        position is not finite or an atom moved farther than the halo since
        the last build (pairs were missed).  Collective (the decision uses
        global maxima and the cell, the same on every rank)."""
        s = self.system
        moved, culprit, _ = s.displacement()
        if culprit >= 0 or not moved <= s.halo.cutoff:
            return False
        if 2.0 * moved + self._strain_reach > s.neighbors.skin:
            s.reneighbor(step)
            self._build_cell_inverse = s.box.inverse
            self._strain_reach = 0.0
        elif not ghosts_current:
            s.update_ghosts()
        return True

    def _measure(self, F, energy, virial):
        """W = E / V0 and P = -(virial / V0) F^-T."""
        xx, yy, zz, xy, xz, yz = (float(v) for v in virial)
        w = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        P = -(w / self.volume0) @ _inverse3(F).T
        return energy / self.volume0, P

    # --- the state ------------------------------------------------------------------

    def _gather_state(self, velocities=False):
        """The owned atoms' unwrapped fractional coordinates (and velocities),
        on every rank, ordered by id.  Collective."""
        s = self.system
        n = s.n_local
        width = 7 if velocities else 4
        local = np.empty((n, width))
        frac = np.empty((n, 3))
        kernels.unwrapped_fractional(s.x, s.image, s.box.origin, s.box.inverse, frac)
        local[:, 0] = s.ids[:n]  # ids < 2**53 travel exactly as float64
        local[:, 1:4] = frac
        if velocities:
            local[:, 4:] = s.v[:n]
        counts = np.array(self.comm.allgather(width * n), dtype=np.int64)
        rows = np.empty((int(counts.sum()) // width, width))
        displ = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.comm.Allgatherv(local, [rows, counts, displ, MPI.DOUBLE])
        ids = rows[:, 0].astype(np.int64)
        order = np.argsort(ids, kind="stable")
        v = np.ascontiguousarray(rows[order, 4:]) if velocities else None
        return RVEState(np.ascontiguousarray(ids[order]), np.ascontiguousarray(rows[order, 1:4]),
                        v)

    def _broadcast_state(self, start, velocities=None):
        """Rank 0's start coordinates (and velocities: rank 0's array, True
        elsewhere, or None) as a state on every rank.  Collective."""
        frac = start.copy() if self.comm.rank == 0 else np.empty((self.n_atoms, 3))
        self.comm.Bcast(frac, root=0)
        v = None
        if velocities is not None:
            v = velocities.copy() if self.comm.rank == 0 else np.empty((self.n_atoms, 3))
            self.comm.Bcast(v, root=0)
        return RVEState(self.ids.copy(), frac, v)

    # --- the tangent ----------------------------------------------------------------

    def _tangent(self, F, state):
        """A[:, :, k, L] = (P(F + h e_kL) - P(F - h e_kL)) / 2h by relaxed RVEs.

        F + h e_kL starts from the relaxed atoms at F mapped affinely into its
        cell; F - h e_kL from the linear extrapolation 2 s(F) - s(F + h e_kL)
        of the fractional coordinates, which leaves it O(h^2) from its minimum.
        While the lists of the relaxation at F stay valid the perturbed cells
        reuse them (the cell is changed in place, `ParticleSystem.deform`);
        after a rebuild the next perturbation scatters the relaxed state afresh.
        Either way every rank takes the same path.  Returns (A, steps,
        converged).  Collective.
        """
        s = self.system
        h = self.spec.fd_step
        A = np.empty((3, 3, 3, 3))
        steps, ok = 0, True
        frac, builds = self._snapshot()
        for k in range(3):
            for L in range(3):
                P_pm = []
                start = frac
                for sign in (1.0, -1.0):
                    Fp = F.copy()
                    Fp[k, L] += sign * h
                    if not _det3(Fp) > 0.0:
                        raise ValueError(f"F = {F.tolist()} perturbed by fd_step = {h} "
                                         "has det <= 0")
                    if s.neighbors.builds == builds:
                        self._load(Fp, start)
                    else:  # the lists were rebuilt: start afresh from the relaxed state
                        self._scatter(Fp, state.fractional if self.comm.rank == 0 else None)
                        frac, builds = self._snapshot()
                    n_steps, conv, f_max, energy, virial = self._relax()
                    steps += n_steps
                    ok = ok and conv
                    if not np.isfinite(f_max):
                        return np.full((3, 3, 3, 3), np.nan), steps, False
                    P_pm.append(self._measure(Fp, energy, virial)[1])
                    if sign > 0 and s.neighbors.builds == builds:  # same atoms, same rows
                        start = 2.0 * frac - self._snapshot()[0]
                A[:, :, k, L] = (P_pm[0] - P_pm[1]) / (2.0 * h)
        return A, steps, ok

    def _analytic_tangent(self, F):
        """A = (Born - B^T K^+ B) / V0 at the relaxed atoms (the lists are valid).

        Born = d^2E/dF dF with the atoms carried affinely, K = d^2E/dx dx the
        Hessian, B = d^2E/dx dF; K^+ B are the atoms' relaxation per unit dF,
        found with the first atom pinned (K's null space is the translations,
        to which B is orthogonal).  Born is an exact sum over atoms; B and
        the rows of K are gathered on rank 0, which assembles K densely in
        atom-id order (`_rve_kernels.hessian`), solves, and broadcasts A: the
        same bits on any number of ranks.  Collective."""
        s, comm = self.system, self.comm
        n, nl = s.n_local, s.neighbors
        born, mixed = np.empty((n, 81)), np.empty((n, 27))
        count = np.empty(n, dtype=np.int64)
        row_ids = np.zeros(int(nl.start[n]), dtype=np.int64)  # slots past a row: unused
        row_D = np.empty((len(row_ids), 6))
        kernels.tangent_rows(s.x, s.ids, n, nl.start, nl.index, *self._lj, _inverse3(F), born,
                             mixed, count, row_ids, row_D)
        born = exact_sum(comm, born).reshape(9, 9)
        local = (s.ids[:n], mixed, count, nl.start[:n], row_ids, row_D)
        parts = [local] if comm.size == 1 else comm.gather(local, root=0)
        A = np.empty((3, 3, 3, 3))
        if comm.rank == 0:
            offsets = np.cumsum([0] + [len(p[4]) for p in parts[:-1]])
            rows = self._id_row[np.concatenate([p[0] for p in parts])]
            order = np.argsort(rows)  # atoms in id order
            start = np.concatenate([p[3] + o for p, o in zip(parts, offsets)])[order]
            count = np.concatenate([p[2] for p in parts])[order]
            neighbor_rows = self._id_row[np.concatenate([p[4] for p in parts])]
            row_D = np.concatenate([p[5] for p in parts])
            N = self.n_atoms
            B = np.empty((N, 3, 9))
            B[rows] = np.concatenate([p[1] for p in parts]).reshape(-1, 3, 9)
            B = B.reshape(3 * N, 9)
            K = np.zeros((3 * N, 3 * N))
            kernels.hessian(np.arange(N), start, count, neighbor_rows, row_D, np.arange(N), K)
            try:
                relaxation = B[3:].T @ np.linalg.solve(K[3:, 3:], B[3:])
            except np.linalg.LinAlgError:  # singular: an unstable crystal has no tangent
                relaxation = np.full((9, 9), np.nan)
            A[...] = ((born - relaxation) / self.volume0).reshape(3, 3, 3, 3)
        comm.Bcast(A, root=0)
        return A

    def _snapshot(self):
        """(fractional coordinates of the owned atoms, list build count)."""
        s = self.system
        n = s.n_local
        frac = np.empty((n, 3))
        kernels.unwrapped_fractional(s.x, np.zeros((n, 3), dtype=np.int64), s.box.origin,
                                     s.box.inverse, frac)
        return frac, s.neighbors.builds

    def _load(self, Fp, frac):
        """Owned atoms back at fractional coordinates `frac`, in the cell
        Fp @ cell0, lists kept while valid.  Collective."""
        s = self.system
        n = s.n_local
        x = np.empty((n, 3))
        kernels.cartesian(frac, s.box.origin, s.box.cell, x)
        s.x[:n] = x
        s.deform(self.box0.deformed(Fp))
        # Pairs change length by up to ||G - I||_2 r <= ||G - I||_F r, with G
        # the cell change since the build (see ParticleSystem.deform).
        G = s.box.cell @ self._build_cell_inverse
        self._strain_reach = math.sqrt(float(np.sum((G - np.eye(3)) ** 2))) \
            * s.neighbors.list_cutoff
        self._update_lists(s.last_build, ghosts_current=True)  # positions are finite


def _mean_and_error(blocks):
    """Mean over the block means (axis 0) and its standard error
    sqrt(sum (b - mean)^2 / (M (M - 1))), the usual block-average estimate
    (independent blocks)."""
    m = blocks.shape[0]
    mean = blocks.sum(axis=0) / m
    return mean, np.sqrt(((blocks - mean) ** 2).sum(axis=0) / (m * (m - 1)))


# 3x3 algebra in plain floats: LAPACK calls on tiny matrices cost far more
# (and stall when BLAS threads compete with MPI ranks for the cores).

def _det3(m):
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def _inverse3(m):
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    det = _det3(m)
    return np.array([[e * i - f * h, c * h - b * i, b * f - c * e],
                     [f * g - d * i, a * i - c * g, c * d - a * f],
                     [d * h - e * g, b * g - a * h, a * e - b * d]]) / det
