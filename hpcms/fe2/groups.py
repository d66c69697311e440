"""RVE groups: the FE communicator split once into sub-communicators.

Like Firedrake's `Ensemble(comm, M)`: `ranks_per_rve` must divide the
communicator's size; rank r joins group r // ranks_per_rve; the groups are
named and freed with the object.
"""

from __future__ import annotations

import numpy as np

from ..config.errors import DeckError


class RVEGroups:
    """`comm` split into groups of `ranks_per_rve` consecutive ranks.  Collective on `comm`."""

    def __init__(self, comm, ranks_per_rve, key="material.ranks_per_rve"):
        if isinstance(ranks_per_rve, bool) or not isinstance(ranks_per_rve, int) \
                or ranks_per_rve < 1:
            raise DeckError(key, ranks_per_rve, "must be a positive integer")
        if comm.size % ranks_per_rve:
            raise DeckError(key, ranks_per_rve, f"must divide the number of ranks ({comm.size})")
        self.comm = comm
        self.size = ranks_per_rve
        self.count = comm.size // ranks_per_rve
        self.index = comm.rank // ranks_per_rve
        self.group = comm.Split(color=self.index, key=comm.rank)
        self.group.Set_name(f"hpcms RVE group {self.index} of {self.count}")

    @property
    def leader(self):
        """True on the group's first rank, which sends results back."""
        return self.group.rank == 0

    def ranks_of(self, group):
        """Ranks of `comm` in group(s) `group` (array of group indices -> (n, size))."""
        group = np.asarray(group, dtype=np.int64)
        return group[..., None] * self.size + np.arange(self.size)

    def free(self):
        """Free the sub-communicator.  Collective on `comm`."""
        if self.group is not None:
            self.group.Free()
            self.group = None
