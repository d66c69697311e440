"""Finite-strain continuum mechanics on PETSc (DMPlex, SNES, KSP).

The solver assembles the total-Lagrangian residual and tangent from element
kernels and asks a material-point object for stresses: it never knows whether
they come from a formula, a Cauchy-Born lattice sum or an atomistic RVE.
"""
