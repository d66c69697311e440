"""Groot–Warren modified velocity Verlet, ``[integrator] style = "groot-warren"``.

Groot & Warren, J. Chem. Phys. 107, 4423 (1997), eq. (19)::

    x(t + dt) = x(t) + dt v(t) + dt^2 f(t) / 2m
    v~(t + dt) = v(t) + lambda dt f(t) / m            (predicted, used by the forces)
    f(t + dt) = f(x(t + dt), v~(t + dt))
    v(t + dt) = v(t) + dt [f(t) + f(t + dt)] / 2m

lambda = 1/2 is plain velocity Verlet (bit for bit the "nve" style: the
forces see the half-kicked velocity, as in LAMMPS); Groot & Warren recommend
0.65 for rho = 3, sigma = 3.  Keys: ``dt`` (> 0), ``lambda`` (in [0, 1],
default 0.65).  The integrator keeps no state; with lambda != 1/2 it needs
the previous step's forces after a list rebuild, so the particle system
carries forces through migration (`needs_old_forces`).
"""

import math
import numbers

import numpy as np

from hpcms.config.errors import DeckError
from hpcms.md.integrate import VelocityVerlet, register

from . import _kernels as kernels

DEFAULT_LAMBDA = 0.65


@register("groot-warren")
class GrootWarren(VelocityVerlet):
    """Velocity Verlet whose forces see v + lambda dt f / m."""

    keys = ("dt", "lambda")
    own_keys = {"lambda": "a number in [0, 1] (0.5: plain velocity Verlet; Groot & Warren: 0.65)"}

    def __init__(self, comm, dt, lam=DEFAULT_LAMBDA):
        super().__init__(comm, dt)
        self.lam = float(lam)
        self._predicted = np.empty((0, 3))

    @classmethod
    def check_key(cls, key, value):
        """Validate one of `own_keys`; DeckError naming ``integrator.<key>``."""
        ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
              and math.isfinite(value) and 0.0 <= value <= 1.0)
        if not ok:
            raise DeckError(f"integrator.{key}", value, f"must be {cls.own_keys[key]}")
        return float(value)

    @classmethod
    def from_settings(cls, comm, settings, *, dof, seed):
        return cls(comm, settings["dt"], settings.get("lambda", DEFAULT_LAMBDA))

    @property
    def needs_old_forces(self):
        return self.lam != 0.5

    def force_velocity(self, v, f, mass):
        """The velocity the forces of this step see: v + (lambda - 1/2) dt f / m.

        Called after `initial_integrate`, when v holds v(t) + dt f(t) / 2m and
        f still holds f(t).  Returns v itself when lambda = 1/2.
        """
        if self.lam == 0.5:
            return v
        if self._predicted.shape != v.shape:
            self._predicted = np.empty_like(v)
        kernels.predicted_velocity(v, f, mass, (self.lam - 0.5) * self.dt, self._predicted)
        return self._predicted
