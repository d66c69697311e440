"""Integrators on systems small enough to write here: free particles and
independent harmonic oscillators (f = -k x), plus deck validation and the
bitwise independence of trajectories from particle order and rank count."""

import numpy as np
import pytest
from mpi4py import MPI

from hpcms.config.errors import DeckError
from hpcms.md.integrate import (INTEGRATOR_STYLES, Langevin, NoseHooverChain, VelocityVerlet,
                                check_table, initial_velocities, kinetic_energy,
                                make_integrator, temperature)
from hpcms.md.rng import gaussian3


class Oscillators:
    """Independent 3-d harmonic oscillators (k = 0: free particles), one per id."""

    def __init__(self, ids, mass, k, x, v, dof):
        self.ids, self.mass, self.k, self.x, self.v, self.dof = ids, mass, k, x, v, dof

    @classmethod
    def equilibrated(cls, n, kT=1.0, seed=0, free=False):
        """x ~ N(0, kT/k) and Maxwell-Boltzmann v at kT; springs and masses vary."""
        rng = np.random.default_rng(seed)
        ids = np.arange(n, dtype=np.int64)
        mass = rng.uniform(1.0, 2.0, n)
        k = np.zeros(n) if free else rng.uniform(0.5, 2.0, n)
        x = np.zeros((n, 3)) if free else gaussian3(seed, 0, 7, ids) * np.sqrt(kT / k)[:, None]
        v = initial_velocities(MPI.COMM_SELF, seed, ids, mass, kT, 3 * n)
        return cls(ids, mass, k, x, v, 3 * n)

    def subset(self, select):
        """A copy of the particles at index array `select`, in that order."""
        return Oscillators(self.ids[select], self.mass[select], self.k[select],
                           self.x[select], self.v[select], self.dof)

    def forces(self, out):
        np.multiply(-self.k[:, None], self.x, out=out)
        return out

    def potential_energy(self):
        return 0.5 * np.sum(self.k[:, None] * self.x * self.x)

    def run(self, integ, steps, first_step=1, f=None, every=0, observe=None):
        """Drive `integ` as the run loop does; returns the force array left at the end."""
        f = self.forces(np.empty_like(self.x)) if f is None else f
        for step in range(first_step, first_step + steps):
            integ.initial_integrate(step, self.x, self.v, f, self.mass)
            self.forces(f)
            integ.post_force(step, self.v, f, self.mass, self.ids)
            integ.final_integrate(step, self.v, f, self.mass)
            if every and step % every == 0:
                observe(step)
        return f


def _integrator(style, n_global, dof, seed=1, **keys):
    table = {"style": style, **keys}
    return make_integrator(MPI.COMM_SELF, table, n_global=n_global, dof=dof, seed=seed)


def _mean_and_error(samples, n_blocks=20):
    """Mean and its standard error from block averages."""
    blocks = np.array_split(np.asarray(samples), n_blocks)
    means = np.array([b.mean() for b in blocks])
    return means.mean(), means.std(ddof=1) / np.sqrt(n_blocks)


# ---------------------------------------------------------------- deck keys

def test_styles_are_registered_by_deck_name():
    from hpcms.dpd.integrate import GrootWarren
    assert INTEGRATOR_STYLES == {"nve": VelocityVerlet, "langevin": Langevin,
                                 "nose-hoover": NoseHooverChain, "groot-warren": GrootWarren}


def test_defaults():
    assert check_table({"style": "nve"}) == (VelocityVerlet, {"dt": 0.005})
    cls, settings = check_table({"style": "nose-hoover", "temperature": 2, "dt": 0.002})
    assert cls is NoseHooverChain
    assert settings == {"dt": 0.002, "temperature": 2.0, "damping": 0.2, "chain": 3}
    assert type(settings["temperature"]) is float
    assert check_table({"style": "langevin", "temperature": 1.0})[1]["damping"] == 0.5


@pytest.mark.parametrize("table, key, message", [
    ({}, "integrator.style", "one of 'groot-warren', 'langevin', 'nose-hoover', 'nve'"),
    ({"style": "nvt"}, "integrator.style", "one of 'groot-warren', 'langevin', 'nose-hoover', 'nve'"),
    ({"style": "nve", "dt": 0}, "integrator.dt", "a number > 0"),
    ({"style": "nve", "dt": -0.1}, "integrator.dt", "a number > 0"),
    ({"style": "nve", "dt": True}, "integrator.dt", "a number > 0"),
    ({"style": "nve", "dt": "0.005"}, "integrator.dt", "a number > 0"),
    ({"style": "nve", "dt": float("inf")}, "integrator.dt", "a number > 0"),
    ({"style": "nve", "dt": float("nan")}, "integrator.dt", "a number > 0"),
    ({"style": "nve", "timestep": 0.1}, "integrator.timestep", "unknown key"),
    ({"style": "nve", "chain": 3}, "integrator.chain", "not used by style 'nve'"),
    ({"style": "nve", "temperature": 1.0}, "integrator.temperature", "not used by style 'nve'"),
    ({"style": "langevin", "chain": 2, "temperature": 1.0}, "integrator.chain",
     "not used by style 'langevin'"),
    ({"style": "langevin"}, "integrator.temperature", "required by style 'langevin'"),
    ({"style": "nose-hoover", "damping": 1.0}, "integrator.temperature", "required"),
    ({"style": "langevin", "temperature": 0}, "integrator.temperature", "a number > 0"),
    ({"style": "langevin", "temperature": 1, "damping": False}, "integrator.damping", "> 0"),
    ({"style": "nose-hoover", "temperature": 1, "chain": 0}, "integrator.chain",
     "an integer >= 1"),
    ({"style": "nose-hoover", "temperature": 1, "chain": 2.0}, "integrator.chain",
     "an integer >= 1"),
    ({"style": "nose-hoover", "temperature": 1, "chain": True}, "integrator.chain",
     "an integer >= 1"),
])
def test_bad_tables_name_key_value_and_allowed(table, key, message):
    with pytest.raises(DeckError) as info:
        make_integrator(MPI.COMM_SELF, table, n_global=10, dof=27, seed=1)
    assert info.value.key == key
    assert message in str(info.value)
    assert info.value.value is table.get(key.split(".")[1])


def test_bad_dof_is_refused():
    with pytest.raises(ValueError, match="dof"):
        make_integrator(MPI.COMM_SELF, {"style": "nve"}, n_global=10, dof=31, seed=1)


# ---------------------------------------------------------------- initial velocities

def test_initial_velocities_have_zero_momentum_and_exact_temperature():
    comm = MPI.COMM_SELF
    n = 1000
    rng = np.random.default_rng(3)
    ids = rng.choice(10 ** 9, n, replace=False)
    mass = rng.uniform(0.5, 4.0, n)
    v = initial_velocities(comm, 17, ids, mass, 1.7, 3 * n - 3)
    assert np.all(np.abs((mass[:, None] * v).sum(axis=0)) < 1e-13)
    assert temperature(comm, v, mass, 3 * n - 3) == pytest.approx(1.7, rel=1e-14)
    assert kinetic_energy(comm, v, mass) == pytest.approx(0.5 * 1.7 * (3 * n - 3), rel=1e-14)
    order = rng.permutation(n)
    again = initial_velocities(comm, 17, ids[order], mass[order], 1.7, 3 * n - 3)
    assert again.tobytes() == v[order].tobytes()
    other_seed = initial_velocities(comm, 18, ids, mass, 1.7, 3 * n - 3)
    assert not np.any(other_seed == v)


def test_initial_velocities_refuse_a_single_particle():
    with pytest.raises(ValueError, match="no kinetic energy"):
        initial_velocities(MPI.COMM_SELF, 1, np.array([0]), np.array([1.0]), 1.0, 3)


# ---------------------------------------------------------------- physics

def test_nve_conserves_energy():
    system = Oscillators.equilibrated(100, seed=4)
    integ = _integrator("nve", 100, 300, dt=0.01)
    e0 = kinetic_energy(MPI.COMM_SELF, system.v, system.mass) + system.potential_energy()
    energies = []
    system.run(integ, 20_000, every=10, observe=lambda step: energies.append(
        kinetic_energy(MPI.COMM_SELF, system.v, system.mass) + system.potential_energy()))
    energies = np.array(energies) / e0 - 1.0
    assert np.max(np.abs(energies)) < 1e-4          # bounded O(dt^2) oscillation
    assert abs(energies[-200:].mean() - energies[:200].mean()) < 1e-6  # no drift


def test_nve_is_second_order():
    errors = []
    for dt in (0.02, 0.01, 0.005):
        system = Oscillators.equilibrated(20, seed=5)
        omega = np.sqrt(system.k / system.mass)[:, None]
        x0, v0 = system.x.copy(), system.v.copy()
        steps = int(round(2.0 / dt))
        system.run(_integrator("nve", 20, 60, dt=dt), steps)
        t = steps * dt
        exact = x0 * np.cos(omega * t) + v0 / omega * np.sin(omega * t)
        errors.append(np.max(np.abs(system.x - exact)))
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert ratios == pytest.approx([4.0, 4.0], rel=0.02)


def test_langevin_free_particles_reach_the_bath_temperature():
    kT = 1.5
    system = Oscillators.equilibrated(1000, kT=0.1, seed=6, free=True)
    integ = _integrator("langevin", 1000, 3000, seed=9, temperature=kT, damping=0.5)
    samples = []
    system.run(integ, 6000, every=5, observe=lambda step: step > 1000 and samples.append(
        temperature(MPI.COMM_SELF, system.v, system.mass, system.dof)))
    mean, error = _mean_and_error(samples)
    assert error < 0.01
    assert abs(mean - kT) < 4 * error


def test_nose_hoover_holds_temperature_and_conserves_extended_energy():
    kT = 1.0
    system = Oscillators.equilibrated(256, kT=kT, seed=7)
    integ = _integrator("nose-hoover", 256, system.dof, temperature=kT, damping=0.5)

    def extended_energy():
        return (kinetic_energy(MPI.COMM_SELF, system.v, system.mass)
                + system.potential_energy() + integ.thermostat_energy())

    h0 = extended_energy()
    temperatures, energies = [], []

    def observe(step):
        temperatures.append(temperature(MPI.COMM_SELF, system.v, system.mass, system.dof))
        energies.append(extended_energy())

    system.run(integ, 12_000, every=5, observe=observe)
    mean, error = _mean_and_error(temperatures)
    assert error < 0.005
    assert abs(mean - kT) < 4 * error
    assert np.std(temperatures) > 0.5 * np.sqrt(2.0 / system.dof)  # canonical, not rescaled
    assert np.max(np.abs(np.array(energies) / h0 - 1.0)) < 2e-6
    assert integ.thermostat_energy() != 0.0


@pytest.mark.parametrize("chain", [1, 3])
def test_nose_hoover_restart_is_bitwise(chain):
    keys = dict(temperature=1.3, damping=0.3, chain=chain)
    straight = Oscillators.equilibrated(50, seed=8)
    integ = _integrator("nose-hoover", 50, 150, **keys)
    f = straight.run(integ, 60)
    state = {name: np.copy(a) for name, a in integ.state_dict().items()}
    restarted = straight.subset(np.arange(50))
    fresh = _integrator("nose-hoover", 50, 150, **keys)
    fresh.load_state_dict(state)
    restarted.run(fresh, 60, first_step=61, f=f.copy())
    straight.run(integ, 60, first_step=61, f=f)
    assert restarted.x.tobytes() == straight.x.tobytes()
    assert restarted.v.tobytes() == straight.v.tobytes()
    assert fresh.thermostat_energy() == integ.thermostat_energy()


def test_nose_hoover_refuses_a_checkpoint_of_another_chain_length():
    integ = _integrator("nose-hoover", 10, 30, temperature=1.0, chain=2)
    with pytest.raises(ValueError, match="chain length 3"):
        integ.load_state_dict({"xi": np.zeros(3), "v_xi": np.zeros(3)})


# ---------------------------------------------------------------- determinism

THERMOSTATS = [
    {"style": "langevin", "temperature": 1.2, "damping": 0.4},
    {"style": "nose-hoover", "temperature": 1.2, "damping": 0.2, "chain": 3},
]


def _distributed_run(comm, table, owner, order_seed, steps=100, n=300):
    """Run the particles with owner == comm.rank, in a shuffled order; gather by id."""
    everything = Oscillators.equilibrated(n, seed=10)
    mine = np.flatnonzero(owner == comm.rank)
    mine = mine[np.random.default_rng(order_seed + comm.rank).permutation(mine.size)]
    part = everything.subset(mine)
    integ = make_integrator(comm, table, n_global=n, dof=3 * n, seed=21)
    part.run(integ, steps)
    x, v = np.empty((n, 3)), np.empty((n, 3))
    for ids, xs, vs in comm.allgather((part.ids, part.x, part.v)):
        x[ids], v[ids] = xs, vs
    return x, v


def _serial_run(table, steps=100, n=300):
    return _distributed_run(MPI.COMM_SELF, table, np.zeros(n, dtype=int), 0, steps, n)


@pytest.mark.parametrize("table", THERMOSTATS, ids=lambda t: t["style"])
def test_trajectory_does_not_depend_on_particle_order(table):
    reference = _serial_run(table)
    shuffled = _distributed_run(MPI.COMM_SELF, table, np.zeros(300, dtype=int), 99)
    assert shuffled[0].tobytes() == reference[0].tobytes()
    assert shuffled[1].tobytes() == reference[1].tobytes()


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("table", THERMOSTATS, ids=lambda t: t["style"])
def test_trajectory_is_bitwise_identical_across_rank_counts(table):
    comm = MPI.COMM_WORLD
    reference = _serial_run(table)
    owner = np.random.default_rng(11).integers(0, comm.size, 300)
    split = _distributed_run(comm, table, owner, 5)
    assert split[0].tobytes() == reference[0].tobytes()
    assert split[1].tobytes() == reference[1].tobytes()


@pytest.mark.mpi(min_size=2)
def test_initial_velocities_are_bitwise_identical_across_rank_counts():
    comm = MPI.COMM_WORLD
    n = 500
    rng = np.random.default_rng(12)
    ids = rng.choice(10 ** 12, n, replace=False)
    mass = rng.uniform(1.0, 3.0, n)
    serial = initial_velocities(MPI.COMM_SELF, 5, ids, mass, 0.8, 3 * n - 3)
    owner = rng.integers(0, comm.size, n)
    mine = np.flatnonzero(owner == comm.rank)
    local = initial_velocities(comm, 5, ids[mine], mass[mine], 0.8, 3 * n - 3)
    gathered = np.empty_like(serial)
    for where, vs in comm.allgather((mine, local)):
        gathered[where] = vs
    assert gathered.tobytes() == serial.tobytes()
