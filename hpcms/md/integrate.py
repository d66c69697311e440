"""Time integrators and initial velocities (reduced units, k_B = 1).

The run loop calls, for the step being taken (`step` is 1-based: the step
number once this step completes)::

    integ.initial_integrate(step, x, v, f, mass)  # (thermostat dt/2,) kick dt/2, drift dt
    ... halo exchange, forces into f ...
    integ.post_force(step, v, f, mass, ids)        # Langevin friction + noise
    integ.final_integrate(step, v, f, mass)        # kick dt/2 (, thermostat dt/2)

x, v, f are (n_local, 3) float64 arrays of the owned particles, mass (n_local,),
ids (n_local,) int64 global ids.  Per-particle updates are elementwise and
random numbers are keyed by global id; the one global quantity that feeds back
(Nosé–Hoover's kinetic energy) comes from `exact_sum`.  Trajectories are
therefore bitwise identical on any number of ranks and in any particle order.

Temperature is T = sum(m v^2) / dof with dof the degrees of freedom the caller
counts (3N - 3 for a periodic system whose momentum is zeroed).

Deck keys of `[integrator]`:

    style        "nve" | "langevin" | "nose-hoover"            (required)
    dt           time step, > 0                                 (default 0.005)
    temperature  target kT, > 0                     (langevin, nose-hoover; required)
    damping      > 0: Langevin damping time (LAMMPS `fix langevin ... damp`) or the
                 Nosé–Hoover relaxation time tau (LAMMPS `fix nvt ... Tdamp`)
                                                    (langevin, nose-hoover; default 100 dt)
    chain        Nosé–Hoover chain length, integer >= 1         (nose-hoover; default 3)
"""

import math
import numbers

import numpy as np

from ..config.errors import DeckError
from ..parallel.reduce import exact_sum
from . import _integrate_kernels as kernels
from .rng import STREAM_INITIAL_VELOCITY, STREAM_LANGEVIN, check_key, gaussian3

__all__ = ["INTEGRATOR_STYLES", "Langevin", "NoseHooverChain", "VelocityVerlet",
           "check_table", "initial_velocities", "kinetic_energy", "make_integrator",
           "temperature"]

INTEGRATOR_STYLES = {}

DEFAULT_DT = 0.005
DEFAULT_DAMPING_STEPS = 100
DEFAULT_CHAIN = 3


def register(style):
    """Class decorator: make the integrator available as deck `style`."""
    def add(cls):
        cls.style = style
        INTEGRATOR_STYLES[style] = cls
        return cls
    return add


def _twice_kinetic(comm, v, mass):
    """sum(m v^2) over all ranks, bitwise reproducible.  Collective on `comm`."""
    per_particle = np.empty(v.shape[0])
    kernels.twice_kinetic(v, mass, per_particle)
    return exact_sum(comm, per_particle)


def kinetic_energy(comm, v, mass):
    """Global kinetic energy sum(m v^2) / 2 [energy].  Collective on `comm`."""
    return 0.5 * _twice_kinetic(comm, v, mass)


def temperature(comm, v, mass, dof):
    """Global temperature sum(m v^2) / dof [energy, k_B = 1].  Collective on `comm`."""
    return _twice_kinetic(comm, v, mass) / dof


def initial_velocities(comm, seed, ids, mass, temperature, dof):
    """Maxwell–Boltzmann velocities with zero total momentum at exactly `temperature`.

    Each particle draws three normals keyed by (seed, step 0, global id,
    stream 0), scaled by 1/sqrt(m); the mass-weighted centre-of-mass velocity
    is removed and all velocities are scaled so that sum(m v^2) / dof equals
    `temperature` (kT, to rounding).  Returns (n_local, 3) float64, the same
    bytes per id on any partition.  Collective on `comm`.
    """
    if not temperature > 0 or not dof > 0:
        raise ValueError(f"initial_velocities: temperature {temperature} and dof {dof} must be > 0")
    mass = np.asarray(mass, dtype=np.float64)
    v = gaussian3(seed, 0, STREAM_INITIAL_VELOCITY, ids)
    v /= np.sqrt(mass)[:, None]
    totals = exact_sum(comm, np.column_stack((mass[:, None] * v, mass)))
    if not totals[3] > 0:
        raise ValueError("initial_velocities: the total mass is not positive")
    v -= totals[:3] / totals[3]
    twice_ke = _twice_kinetic(comm, v, mass)
    if not twice_ke > 0:
        raise ValueError("initial_velocities: no kinetic energy left to scale "
                         "(fewer than two particles?)")
    kernels.scale(v, math.sqrt(temperature * dof / twice_ke))
    return v


@register("nve")
class VelocityVerlet:
    """Velocity Verlet, constant NVE.  Stateless apart from dt [time]."""

    keys = ("dt",)

    def __init__(self, comm, dt):
        self.comm = comm
        self.dt = float(dt)

    @classmethod
    def from_settings(cls, comm, settings, *, dof, seed):
        """Build from `check_table` settings plus the run's dof and seed."""
        return cls(comm, settings["dt"])

    def initial_integrate(self, step, x, v, f, mass):
        """v += dt/2 f/m; x += dt v."""
        kernels.kick(v, f, mass, 0.5 * self.dt)
        kernels.drift(x, v, self.dt)

    def post_force(self, step, v, f, mass, ids):
        """Nothing to add for NVE."""

    def final_integrate(self, step, v, f, mass):
        """v += dt/2 f/m."""
        kernels.kick(v, f, mass, 0.5 * self.dt)

    def thermostat_energy(self):
        """Energy stored in the thermostat: none for NVE and Langevin (not tallied)."""
        return 0.0

    def state_dict(self):
        """Checkpointable state: none beyond the deck."""
        return {}

    def load_state_dict(self, state):
        """Restore `state_dict()` output (nothing to restore)."""


@register("langevin")
class Langevin(VelocityVerlet):
    """Velocity Verlet + Langevin thermostat, as LAMMPS `fix langevin` (no tally).

    post_force adds f += -(m/damping) v + sqrt(2 m kT / (damping dt)) R with R
    standard normal keyed by (seed, step, global id, stream 1).  Needs no
    communication; the noise is the same for a particle on any rank.
    """

    keys = ("dt", "temperature", "damping")

    def __init__(self, comm, dt, temperature, damping, seed):
        super().__init__(comm, dt)
        check_key(seed, 0, STREAM_LANGEVIN)
        self.kT = float(temperature)
        self.damping = float(damping)
        self.seed = seed
        self._noise = 2.0 * self.kT / (self.damping * self.dt)

    @classmethod
    def from_settings(cls, comm, settings, *, dof, seed):
        return cls(comm, settings["dt"], settings["temperature"], settings["damping"], seed)

    def post_force(self, step, v, f, mass, ids):
        """f += friction + random force for this step [force]."""
        check_key(self.seed, step, STREAM_LANGEVIN)
        kernels.langevin_force(np.uint64(self.seed), np.int64(step), np.int64(STREAM_LANGEVIN),
                               ids, v, f, mass, 1.0 / self.damping, self._noise)


@register("nose-hoover")
class NoseHooverChain(VelocityVerlet):
    """Nosé–Hoover chain NVT (Martyna–Tuckerman–Klein), as LAMMPS `fix nvt`.

    Trotter splitting: chain dt/2, kick dt/2, drift dt | forces | kick dt/2,
    chain dt/2.  Chain masses Q_1 = dof kT tau^2, Q_k = kT tau^2 (tau =
    damping).  The chain acts on the velocities through one factor that every
    rank computes from the exact global kinetic energy, so initial_integrate
    and final_integrate are collective on `comm`.  State: thermostat positions
    `xi` and velocities `v_xi` (state_dict / load_state_dict).
    """

    keys = ("dt", "temperature", "damping", "chain")

    def __init__(self, comm, dt, temperature, damping, chain, dof):
        super().__init__(comm, dt)
        if not dof > 0:
            raise ValueError(f"nose-hoover: dof = {dof} must be > 0")
        self.kT = float(temperature)
        self.damping = float(damping)
        self.dof = dof
        q = self.kT * self.damping ** 2
        self.q = [dof * q] + [q] * (chain - 1)
        self.xi = [0.0] * chain
        self.v_xi = [0.0] * chain

    @classmethod
    def from_settings(cls, comm, settings, *, dof, seed):
        return cls(comm, settings["dt"], settings["temperature"], settings["damping"],
                   settings["chain"], dof)

    def initial_integrate(self, step, x, v, f, mass):
        """Chain dt/2, v += dt/2 f/m, x += dt v.  Collective on `comm`."""
        self._thermostat_half_step(v, mass)
        super().initial_integrate(step, x, v, f, mass)

    def final_integrate(self, step, v, f, mass):
        """v += dt/2 f/m, chain dt/2.  Collective on `comm`."""
        super().final_integrate(step, v, f, mass)
        self._thermostat_half_step(v, mass)

    def thermostat_energy(self):
        """Chain energy [energy]: KE + PE + this is conserved (LAMMPS fix nvt's scalar)."""
        energy = self.dof * self.kT * self.xi[0] + 0.5 * self.q[0] * self.v_xi[0] ** 2
        for k in range(1, len(self.xi)):
            energy += self.kT * self.xi[k] + 0.5 * self.q[k] * self.v_xi[k] ** 2
        return energy

    def state_dict(self):
        """{"xi": (chain,), "v_xi": (chain,)} float64 arrays."""
        return {"xi": np.array(self.xi), "v_xi": np.array(self.v_xi)}

    def load_state_dict(self, state):
        """Restore `state_dict()` output, bit for bit."""
        xi = [float(a) for a in state["xi"]]
        v_xi = [float(a) for a in state["v_xi"]]
        if len(xi) != len(self.q) or len(v_xi) != len(self.q):
            raise ValueError(f"nose-hoover: checkpoint chain length {len(xi)} "
                             f"differs from the deck's {len(self.q)}")
        self.xi, self.v_xi = xi, v_xi

    def _chain_force(self, k):
        """Force on chain element k >= 1 from element k - 1, over Q_k."""
        return (self.q[k - 1] * self.v_xi[k - 1] * self.v_xi[k - 1] - self.kT) / self.q[k]

    def _thermostat_half_step(self, v, mass):
        """Advance the chain by dt/2 and scale v (LAMMPS FixNH::nhc_temp_integrate)."""
        twice_ke = _twice_kinetic(self.comm, v, mass)
        q, vx, n = self.q, self.v_xi, len(self.q)
        dt2, dt4, dt8 = 0.5 * self.dt, 0.25 * self.dt, 0.125 * self.dt
        target = self.dof * self.kT

        def outer(k):  # friction on element k from element k + 1, over dt/8
            return math.exp(-dt8 * vx[k + 1]) if k + 1 < n else 1.0

        for k in range(n - 1, 0, -1):
            e = outer(k)
            vx[k] = (vx[k] * e + self._chain_force(k) * dt4) * e
        e = outer(0)
        vx[0] = (vx[0] * e + (twice_ke - target) / q[0] * dt4) * e
        factor = math.exp(-dt2 * vx[0])
        twice_ke *= factor * factor
        for k in range(n):
            self.xi[k] += dt2 * vx[k]
        vx[0] = (vx[0] * e + (twice_ke - target) / q[0] * dt4) * e
        for k in range(1, n):
            e = outer(k)
            vx[k] = (vx[k] * e + self._chain_force(k) * dt4) * e
        kernels.scale(v, factor)


_KEY_RULES = {
    "dt": "a number > 0",
    "temperature": "a number > 0",
    "damping": "a number > 0",
    "chain": "an integer >= 1",
}


def _checked(key, value):
    """The deck value of `integrator.<key>` as float / int, or DeckError."""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if key == "chain":
        ok = is_number and isinstance(value, numbers.Integral) and value >= 1
        value = int(value) if ok else value
    else:
        ok = is_number and math.isfinite(value) and value > 0
        value = float(value) if ok else value
    if not ok:
        raise DeckError(f"integrator.{key}", value, f"must be {_KEY_RULES[key]}")
    return value


def check_table(table):
    """Validate an `[integrator]` table; return (class, settings with defaults).

    Raises DeckError naming `integrator.<key>`, the value and what is allowed.
    Not collective.
    """
    styles = ", ".join(repr(s) for s in sorted(INTEGRATOR_STYLES))
    if not isinstance(table, dict):
        raise DeckError("integrator", table, "must be a table")
    style = table.get("style")
    if style not in INTEGRATOR_STYLES:
        raise DeckError("integrator.style", style, f"required, one of {styles}")
    cls = INTEGRATOR_STYLES[style]
    settings = {}
    own = getattr(cls, "own_keys", {})  # keys only a style knows, checked by cls.check_key
    for key, value in table.items():
        if key == "style":
            continue
        if key not in _KEY_RULES and key not in own:
            raise DeckError(f"integrator.{key}", value, "unknown key; known keys of "
                            "[integrator]: style, " + ", ".join(list(_KEY_RULES) + list(own)))
        if key not in cls.keys:
            raise DeckError(f"integrator.{key}", value, f"not used by style {style!r}, "
                            "whose keys are: style, " + ", ".join(cls.keys))
        settings[key] = cls.check_key(key, value) if key in own else _checked(key, value)
    settings.setdefault("dt", DEFAULT_DT)
    if "temperature" in cls.keys and "temperature" not in settings:
        raise DeckError("integrator.temperature", None,
                        f"required by style {style!r}: {_KEY_RULES['temperature']}")
    if "damping" in cls.keys:
        settings.setdefault("damping", DEFAULT_DAMPING_STEPS * settings["dt"])
    if "chain" in cls.keys:
        settings.setdefault("chain", DEFAULT_CHAIN)
    return cls, settings


def make_integrator(comm, table, *, n_global, dof, seed):
    """The integrator an `[integrator]` deck table asks for.

    n_global: number of particles; dof: degrees of freedom of the temperature
    (0 < dof <= 3 n_global); seed: run seed in [0, 2**64).  Raises DeckError
    for a bad table.  The integrator works on `comm`.
    """
    cls, settings = check_table(table)
    if not 0 < dof <= 3 * n_global:
        raise ValueError(f"make_integrator: dof = {dof} must be in "
                         f"(0, 3 * n_global = {3 * n_global}]")
    return cls.from_settings(comm, settings, dof=dof, seed=seed)


# Styles defined in other packages register themselves on import.
from hpcms.dpd import integrate as _dpd_integrate  # noqa: E402,F401  (registers "groot-warren")
