"""Molecular dynamics: pair force fields, integrators, thermostats, observables."""
