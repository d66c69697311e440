"""Harmonic bonds and angles between particles named by global id.

    E_bond  = k_b (r - r0)^2 / 2                 (k_b = 4, r0 = 0: Groot & Warren's springs)
    E_angle = k_a (theta - theta0)^2 / 2         (theta at the middle bead)

Note the 1/2: LAMMPS's ``bond_style harmonic`` K is k_b / 2.

The topology (`Topology`) is global and the same on every rank: bonds as
(id_a, id_b, type), angles as (id_a, id_b, id_c, type), and per-type
coefficients.  At each list build every rank finds, for each bond and angle
of each particle it owns, the images of the partners nearest to it among its
owned and ghost slots (`Bonded.resolve`); a bond longer than the reach
(``system.bond_reach``; the halo is that wide, twice that with angles, whose
far end is two bonds away) is a `RunError` naming the ids, on every rank
(a decomposition-independent check: the same run fails the same way on any
number of ranks).  Forces are summed per owned
particle in global order (see `_bonded_kernels`), so trajectories stay
bitwise independent of the decomposition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpcms.config.errors import RunError

from . import _bonded_kernels as kernels


@dataclass
class Topology:
    """Global bonds and angles.  Ids are global particle ids (>= 0)."""
    bonds: np.ndarray = field(default_factory=lambda: np.empty((0, 3), np.int64))
    bond_k: np.ndarray = field(default_factory=lambda: np.empty(0))
    bond_r0: np.ndarray = field(default_factory=lambda: np.empty(0))
    angles: np.ndarray = field(default_factory=lambda: np.empty((0, 4), np.int64))
    angle_k: np.ndarray = field(default_factory=lambda: np.empty(0))
    angle_theta0: np.ndarray = field(default_factory=lambda: np.empty(0))  # radians

    def __post_init__(self):
        self.bonds = np.ascontiguousarray(self.bonds, dtype=np.int64).reshape(-1, 3)
        self.angles = np.ascontiguousarray(self.angles, dtype=np.int64).reshape(-1, 4)
        for name in ("bond_k", "bond_r0", "angle_k", "angle_theta0"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.float64).ravel())

    @property
    def empty(self):
        return len(self.bonds) == 0 and len(self.angles) == 0

    def state_dict(self):
        """Arrays for a checkpoint's state (restarts need no deck to rebuild it)."""
        return {"bonds": self.bonds, "bond_k": self.bond_k, "bond_r0": self.bond_r0,
                "angles": self.angles, "angle_k": self.angle_k,
                "angle_theta0": self.angle_theta0}

    @classmethod
    def from_state(cls, state):
        return cls(**{k: np.asarray(state[k]) for k in
                      ("bonds", "bond_k", "bond_r0", "angles", "angle_k", "angle_theta0")})


def _per_id_csr(max_id, owner_ids, *columns):
    """CSR by id: entries (in the given order, stable) grouped under owner_ids."""
    order = np.argsort(owner_ids, kind="stable")
    counts = np.bincount(owner_ids, minlength=max_id + 1)
    start = np.zeros(max_id + 2, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return (start,) + tuple(np.ascontiguousarray(c[order]) for c in columns)


class Bonded:
    """Bond and angle forces of a `Topology` on a `ParticleSystem`.  Collective on `comm`."""

    def __init__(self, comm, topology: Topology, max_id, reach=3.5):
        self.comm = comm
        self.topology = topology
        self.bond_reach = float(reach)
        t = topology
        b = t.bonds
        ends = np.concatenate([b[:, 0], b[:, 1]])
        partner = np.concatenate([b[:, 1], b[:, 0]])
        btype = np.concatenate([b[:, 2], b[:, 2]])
        index = np.concatenate([np.arange(len(b)), np.arange(len(b))])
        # Each particle's bonds in global bond order: sort entries by (id, bond index).
        order = np.lexsort((index, ends))
        self.b_start, self.b_partner, self.b_type = _per_id_csr(
            max_id, ends[order], partner[order], btype[order].astype(np.int64))
        a = t.angles
        n_a = len(a)
        owners = np.concatenate([a[:, 0], a[:, 1], a[:, 2]])
        role = np.repeat(np.arange(3), n_a)
        index = np.tile(np.arange(n_a), 3)
        order = np.lexsort((index, owners))
        members = np.concatenate([a[:, :3]] * 3)
        self.a_start, self.a_members, self.a_role, self.a_type = _per_id_csr(
            max_id, owners[order], members[order], role[order].astype(np.int64),
            np.concatenate([a[:, 3]] * 3)[order].astype(np.int64))
        self.has_angles = n_a > 0
        self._builds = -1

    @staticmethod
    def ghost_cutoff(topology, list_cutoff, reach):
        """Halo width the topology needs: the bond reach, twice that with angles
        (an angle's far end is two bonds away), and at least the list cutoff."""
        if topology.empty:
            return list_cutoff
        return max(list_cutoff, 2.0 * reach if len(topology.angles) else reach)

    def resolve(self, system, step):
        """Find partner slots for this list build.  Collective; RunError on all ranks."""
        s = system
        n = s.n_local
        ids = s.ids
        order = np.argsort(ids, kind="stable")
        sorted_ids = np.ascontiguousarray(ids[order])
        reach = self.bond_reach
        reach_sq = reach * reach
        nb = kernels.count_entries(ids, n, self.b_start)
        self.lb_start = np.empty(n + 1, np.int64)
        self.lb_slot = np.empty(nb, np.int64)
        self.lb_type = np.empty(nb, np.int64)
        bad_b = np.full(2, -1, np.int64)
        n_bad_b = kernels.resolve_bonds(s.x, ids, n, order, sorted_ids, self.b_start,
                                        self.b_partner, self.b_type, reach_sq,
                                        self.lb_start, self.lb_slot, self.lb_type, bad_b)
        na = kernels.count_entries(ids, n, self.a_start)
        self.la_start = np.empty(n + 1, np.int64)
        self.la_slots = np.empty((na, 3), np.int64)
        self.la_role = np.empty(na, np.int64)
        self.la_type = np.empty(na, np.int64)
        bad_a = np.full(3, -1, np.int64)
        n_bad_a = kernels.resolve_angles(s.x, ids, n, order, sorted_ids, self.a_start,
                                         self.a_members, self.a_role, self.a_type, reach_sq,
                                         self.la_start, self.la_slots, self.la_role,
                                         self.la_type, bad_a)
        # The same report on every rank: the smallest offending ids anywhere.
        bad = self.comm.allgather((tuple(sorted(int(i) for i in bad_b)) if n_bad_b else None,
                                   tuple(int(i) for i in bad_a) if n_bad_a else None))
        bonds = [b for b, _ in bad if b is not None]
        angles = [a for _, a in bad if a is not None]
        if bonds:
            i, j = min(bonds)
            raise RunError(step, f"bond between particles {i} and {j} is longer than the bond "
                                 f"reach {reach:.4g} (system.bond_reach; ghosts reach no "
                                 "farther): the bond stretched too far (reduce dt, stiffen the "
                                 "bond, or raise system.bond_reach)")
        if angles:
            a, b, c = min(angles)
            raise RunError(step, f"angle {a}-{b}-{c} has an arm longer than the bond reach "
                                 f"{reach:.4g} (system.bond_reach): a bond stretched too far")
        self._builds = s.neighbors.builds

    def compute(self, system, f, energy=None, virial=None):
        """Add bond and angle forces (and energy, virial) of the owned particles.

        Resolves partners first when the lists were rebuilt since the last call
        (collective then).
        """
        s = system
        if s.neighbors.builds != self._builds or len(self.lb_start) != s.n_local + 1:
            self.resolve(s, getattr(s, "last_build", 0))
        t = self.topology
        with_energy = energy is not None
        if not with_energy:
            energy = np.empty(0)
            virial = np.empty((0, 6))
        kernels.bond_forces(s.x, s.n_local, self.lb_start, self.lb_slot, self.lb_type,
                            t.bond_k, t.bond_r0, f, energy, virial, with_energy)
        if self.has_angles:
            kernels.angle_forces(s.x, s.n_local, self.la_start, self.la_slots, self.la_role,
                                 self.la_type, t.angle_k, t.angle_theta0, f, energy, virial,
                                 with_energy)
