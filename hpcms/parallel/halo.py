"""Ghost (halo) exchange, staged by dimension, and migration of particles.

Ghosts are real periodic copies: a ghost keeps its owner's position (`base`)
and the integer image it stands for, and its position is always
``base + images @ cell.T`` computed in one fixed way.  A pair therefore sees
the same separation vector, bit for bit, whatever the decomposition, and the
same holds in serial where every periodic image is a ghost too.

`build` runs at reneighbouring steps: for each axis in turn it sends the
particles within the ghost cutoff of a face to the neighbour behind it,
hop after hop when the cutoff reaches past the neighbouring subdomain, and
records what it sent so that `update_positions` and `forward` can repeat the
same pattern every step with positions only.  A per-particle array of the
owners (`extra`: the velocities a velocity-dependent pair force needs) can
travel with the records and with the positions, saving a message a step.
"""

from __future__ import annotations

import math

import numpy as np
from mpi4py import MPI

from . import _halo_kernels as kernels
from .rows import add_rows, row_size, send_grouped, take

# Columns of a ghost record sent at build time (`_halo_kernels.fill_records`):
# 0-2 the fractional coordinates of the image (shifted by whole box lengths),
# 3-5 the owner's position, 6-8 the image, 9 the id, 10 the type, 11-13 the
# owner's own fractional coordinates, then the columns of `extra`, if any.
_S, _WIDTH = slice(0, 3), 14
_NO_EXTRA = np.empty((0, 0))


def _sendrecv(comm, messages):
    """Send the rows `send` of each (send, dest, source, tag) to dest and
    receive rows of the same shape and dtype, as many as come, from source
    (`send` itself when both are this rank); all messages in flight at once.
    Returns the received arrays.  One message each way: sizes are read off
    the arriving ones."""
    requests = [comm.Isend(np.ascontiguousarray(send), dest=dest, tag=tag)
                for send, dest, source, tag in messages
                if not dest == source == comm.rank]
    received = []
    for send, dest, source, tag in messages:
        if dest == source == comm.rank:
            received.append(send)
            continue
        status = MPI.Status()
        comm.Probe(source=source, tag=tag, status=status)
        row_bytes = send.dtype.itemsize * row_size(send)
        recv = np.empty((status.Get_count(MPI.BYTE) // row_bytes,) + send.shape[1:],
                        dtype=send.dtype)
        comm.Recv(recv, source=source, tag=tag)
        received.append(recv)
    MPI.Request.Waitall(requests)
    return received


def _exchange(comm, messages):
    """For each (send, recv, dest, source, tag): send to dest, receive into
    recv (of known size) from source, or copy when both are this rank; all
    messages in flight at once."""
    requests = []
    for send, recv, dest, source, tag in messages:
        if dest == source == comm.rank:
            recv[...] = send
        else:
            requests.append(comm.Irecv(recv, source=source, tag=tag))
            requests.append(comm.Isend(send, dest=dest, tag=tag))
    MPI.Request.Waitall(requests)


def _lowest_column(domain, per_unit):
    """The lowest bin along x, floor(s per_unit), that can hold a
    particle owned by this rank's upper neighbour along x, in its frame.

    Owners hold s >= their lower plane exactly (`Domain.sort_out`), and the
    bin of that plane is computed by the same operations, which never
    decrease: the bin of the plane is that lowest bin.
    """
    upper = (int(domain.coords[0]) + 1) % int(domain.dims[0])
    return math.floor(float(domain.cuts[0][upper]) * per_unit)


class _Stage:
    """One message of the ghost pattern: what goes where, what comes back."""
    __slots__ = ("send_index", "dest", "source", "recv_start", "recv_count")

    def __init__(self, send_index, dest, source, recv_start, recv_count):
        self.send_index = send_index
        self.dest = dest
        self.source = source
        self.recv_start = recv_start
        self.recv_count = recv_count


class _Ghosts:
    """Ghost records (rows of _WIDTH floats and the columns of `extra`)
    appended in place, growing by doubling, with a compact copy of their
    fractional coordinates to select on.  Slot j of the pattern is owned
    particle j below n_local, ghost record j - n_local above."""

    def __init__(self, x, s, ids, types, extra, capacity):
        self.owned = (x, s, ids, types, extra)
        self.n_local = len(x)
        self.width = _WIDTH + extra.shape[1]
        self.rows = np.empty((max(capacity, 16), self.width))
        self.s = np.empty((len(self.rows), 3))
        self.n = 0

    @property
    def n_slots(self):
        return self.n_local + self.n

    def select(self, down, up, column, below, above, per_unit=0.0, lowest=0):
        """The slots of a hop's two directions: those j in range(*down)
        whose fractional coordinate along `column` is < below, and those in
        range(*up) whose coordinate is >= above; with per_unit > 0 bins per
        box length, of the latter only those in bin `lowest` or above along
        `column` (`_halo_kernels.select_slots`, one pass)."""
        span = max(down[1], up[1]) - min(down[0], up[0])  # room for the kernel's writes
        out_down, out_up = np.empty(span, dtype=np.int64), np.empty(span, dtype=np.int64)
        k_down, k_up = kernels.select_slots(self.owned[1], self.s, self.rows, down, up, column,
                                            below, above, per_unit, lowest, out_down, out_up)
        return out_down[:k_down], out_up[:k_up]

    def records(self, slots, column, shift):
        """The records of `slots`, their images moved by `shift` boxes along `column`."""
        out = np.empty((len(slots), self.width))
        kernels.fill_records(*self.owned, self.rows, slots, column, shift, out)
        return out

    def append(self, got):
        """Append the records `got` (k, width)."""
        new = self._grow(len(got))
        new[...] = got
        self.s[self.n: self.n + len(got)] = got[:, _S]
        self.n += len(got)

    def append_own(self, slots, column, shift):
        """Append the records of `slots` as `records` makes them, written in
        place (a hop from this rank to itself: no message, no copy)."""
        new = self._grow(len(slots))
        kernels.fill_records(*self.owned, self.rows, slots, column, shift, new)
        self.s[self.n: self.n + len(slots)] = new[:, _S]
        self.n += len(slots)

    def _grow(self, k):
        """Room for k more records; returns the rows they go to."""
        if self.n + k > len(self.rows):
            size = max(2 * len(self.rows), self.n + k)
            self.rows = np.concatenate([self.rows[: self.n],
                                        np.empty((size - self.n, self.width))])
            self.s = np.concatenate([self.s[: self.n], np.empty((size - self.n, 3))])
        return self.rows[self.n: self.n + k]


class Halo:
    """Ghost layers of width `cutoff` around this rank's subdomain.

    Collective on `domain.comm`: every method must be called by all ranks.
    """

    def __init__(self, domain, cutoff):
        self.domain = domain
        self.comm = domain.comm
        self.cutoff = float(cutoff)
        self.stages: list[_Stage] = []
        self.n_local = 0
        self.base = np.empty((0, 3))
        self.shift = np.empty((0, 3))
        self.images = np.empty((0, 3), dtype=np.int64)
        self.hops = [0, 0, 0]

    def build(self, x, s, ids, types, half_bins=None, extra=None):
        """Create the ghosts of owned particles (x, s, ids, types of length n_local).

        Returns (ghost_ids, ghost_types, owner_s, ghost_extra): owner_s are
        the fractional coordinates the owners gave (unshifted; `images` says
        which image each ghost is); ghost_extra the ghosts' rows of `extra`
        (n_local, k) floats, copied unshifted (k = 0 when not given).  Keeps
        the pattern.

        half_bins = per_unit: the ghosts serve only a half list on a grid
        of per_unit bins per box length along x, with a bin edge at s = 0
        (`hpcms.particles.neighbor.Bins`), which never looks at a lower
        bin along x than its particle's (`_neighbor_kernels.build_half_list`):
        no ghost is made below a rank's lowest bin along x (the layer behind
        each rank along x is left out).  Not for bonded terms, which look
        for partners all round.
        """
        dom, comm = self.domain, self.comm
        n_local = len(x)
        extra = _NO_EXTRA if extra is None else np.ascontiguousarray(extra)
        slots = _Ghosts(x, s, ids, types, extra, int(1.25 * self.n_ghost))
        self.stages = []
        # A sliver more than the cutoff in fractional terms, so that round-off
        # in s never drops a ghost that is needed.
        delta = (dom.box.fractional_cutoff(self.cutoff) * (1.0 + 1e-10) + 1e-12).tolist()
        lowest = _lowest_column(dom, half_bins) if half_bins else 0
        dims, coords = dom.dims.tolist(), dom.coords.tolist()
        lo, hi = dom.lo.tolist(), dom.hi.tolist()
        for d in range(3):
            # Enough hops that the thinnest run of neighbours covers delta.
            hops = max(1, math.ceil(delta[d] / dom.thinnest[d]))
            self.hops[d] = hops
            lower, upper = dom.neighbors[d]
            # Records crossing the periodic boundary move by one box.
            down_shift = 1.0 if coords[d] == 0 else 0.0
            up_shift = -1.0 if coords[d] == dims[d] - 1 else 0.0
            # For a half list, along x only from the receiver's lowest bin on
            # (its frame is one box lower when it wraps round).
            keep = half_bins if half_bins and d == 0 else 0.0
            keep_from = lowest + int(keep) * (up_shift != 0.0)
            # The slots each direction may send on: all at the first hop,
            # then those received on the hop before.
            down = up = (0, slots.n_slots)
            for hop in range(hops):
                # Towards the lower neighbour: what lies within delta of my low face;
                # towards the upper one: within delta of my high face.
                # Both draw on the slots before this hop only.
                sel, sel_up = slots.select(down, up, d, lo[d] + delta[d], hi[d] - delta[d],
                                           per_unit=keep, lowest=keep_from)
                first = slots.n_slots
                if lower == upper == comm.rank:  # periodic images of my own slots
                    slots.append_own(sel, d, down_shift)
                    second = slots.n_slots
                    slots.append_own(sel_up, d, up_shift)
                else:
                    got_from_upper, got_from_lower = _sendrecv(comm, [
                        (slots.records(sel, d, down_shift), lower, upper, 10 + 4 * d),
                        (slots.records(sel_up, d, up_shift), upper, lower, 12 + 4 * d)])
                    slots.append(got_from_upper)
                    second = slots.n_slots
                    slots.append(got_from_lower)
                self.stages.append(_Stage(sel, lower, upper, first, second - first))
                self.stages.append(_Stage(sel_up, upper, lower, second, slots.n_slots - second))
                down, up = (first, second), (second, slots.n_slots)
        n_ghost = slots.n
        self.n_local = n_local
        self.base = np.empty((n_ghost, 3))
        self.images = np.empty((n_ghost, 3), dtype=np.int64)
        ghost_ids = np.empty(n_ghost, dtype=np.int64)
        ghost_types = np.empty(n_ghost, dtype=np.int32)
        owner_s = np.empty((n_ghost, 3))
        kernels.split_records(slots.rows[:n_ghost], self.base, self.images, ghost_ids,
                              ghost_types, owner_s)
        self.shift = np.empty_like(self.base)
        kernels.shift_vectors(self.images, dom.box.cell, self.shift)
        return ghost_ids, ghost_types, owner_s, slots.rows[:n_ghost, _WIDTH:]

    @property
    def n_ghost(self):
        return len(self.base)

    def positions(self, x_all):
        """Fill the ghost rows of x_all (n_local + n_ghost, 3) from the bases."""
        kernels.shift_ghosts(self.base, self.shift, x_all, self.n_local)

    def update_positions(self, x_all, extra_all=None):
        """Refresh ghost positions from their owners' current positions; with
        extra_all (n_local + n_ghost, k) floats, whose owned rows are set,
        copy its ghost rows from the owners in the same messages."""
        n_local = self.n_local
        extra_all = _NO_EXTRA if extra_all is None else extra_all
        k = extra_all.shape[1]
        for hop in self._hops():
            messages, arrived = [], []
            for m, st in hop:
                send = np.empty((len(st.send_index), 3 + k))
                ghosts = slice(st.recv_start - n_local, st.recv_start - n_local + st.recv_count)
                kernels.gather_base(x_all, self.base, extra_all, n_local, st.send_index, send)
                if k:
                    recv = np.empty((st.recv_count, 3 + k))
                    arrived.append((ghosts, recv))
                else:
                    recv = self.base[ghosts]
                messages.append((send, recv, st.dest, st.source, 100 + m))
            _exchange(self.comm, messages)
            for ghosts, recv in arrived:  # the next hop sends on from these
                kernels.split_base_extra(recv, self.base, extra_all, n_local, ghosts.start)
        self.positions(x_all)

    def deform(self, x_all):
        """Ghost shifts for the domain's (changed) cell, then ghost positions
        refreshed from their owners' x_all; the pattern is kept.  Collective."""
        kernels.shift_vectors(self.images, self.domain.box.cell, self.shift)
        self.update_positions(x_all)

    def forward(self, a_all):
        """Copy a per-particle array (n_local + n_ghost, k) from owners to ghosts, unshifted."""
        rank = self.comm.rank
        for hop in self._hops():
            messages = []
            for k, st in hop:
                recv = a_all[st.recv_start: st.recv_start + st.recv_count]
                if st.dest == st.source == rank:
                    take(a_all, st.send_index, out=recv)  # sources precede the ghosts they feed
                else:
                    messages.append((take(a_all, st.send_index), recv, st.dest, st.source,
                                     200 + k))
            _exchange(self.comm, messages)

    def reverse(self, a_all):
        """Add each ghost row of a per-particle array (n_local + n_ghost, k) into
        its owner's row: `forward` run backwards, hops in reverse order so
        that ghosts of ghosts pass their sums on.  Meant for integer sums
        (exact in any order).  Collective."""
        rank = self.comm.rank
        for hop in reversed(self._hops()):
            messages, added = [], []
            for k, st in hop:
                sums = a_all[st.recv_start: st.recv_start + st.recv_count]
                if st.dest == st.source == rank:
                    add_rows(a_all, st.send_index, sums)  # the rows added to precede `sums`
                    continue
                got = np.empty((len(st.send_index),) + a_all.shape[1:], dtype=a_all.dtype)
                messages.append((np.ascontiguousarray(sums), got, st.source, st.dest, 300 + k))
                added.append((st.send_index, got))
            _exchange(self.comm, messages)
            for rows, got in added:
                add_rows(a_all, rows, got)

    def _hops(self):
        """The stages by hop, (index, stage) pairs: the two directions of a
        hop send only what the slots before it hold, so they go at once."""
        indexed = list(enumerate(self.stages))
        return [indexed[h: h + 2] for h in range(0, len(indexed), 2)]


def migrate(domain, s, arrays):
    """Send every owned particle to the rank that owns its fractional position.

    `s` is (n, 3) fractional coordinates wrapped into [0, 1); `arrays` is a
    list of per-particle arrays sent along.  Returns (kept, arrived): the
    rows of `arrays` that stay here, in order, and the arrays of the
    particles that arrived.  Only the particles that leave travel, all their
    arrays packed in one message.  Collective on `domain.comm`.
    """
    comm = domain.comm
    if comm.size == 1:
        return np.arange(len(s)), [a[:0] for a in arrays]
    kept, leaving, counts = domain.sort_out(s)
    return kept, unpack_rows(send_grouped(comm, pack_rows(arrays, leaving), counts), arrays)


def pack_rows(arrays, rows):
    """Rows `rows` (few) of every array, side by side as bytes: (len(rows),
    total row bytes) uint8."""
    parts = [a[rows].reshape(len(rows), row_size(a)).view(np.uint8) for a in arrays]
    return np.concatenate(parts, axis=1) if parts else np.empty((len(rows), 0), np.uint8)


def unpack_rows(packed, like):
    """The arrays of `pack_rows`, with the dtypes and row shapes of `like`."""
    out, offset = [], 0
    for a in like:
        width = a.dtype.itemsize * row_size(a)
        part = np.ascontiguousarray(packed[:, offset: offset + width])
        out.append(part.view(a.dtype).reshape((len(packed),) + a.shape[1:]))
        offset += width
    return out
