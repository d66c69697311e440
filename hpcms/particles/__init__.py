"""Particle state, initial structures, cell and Verlet lists."""
