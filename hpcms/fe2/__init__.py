"""FE²: the macroscopic finite-element solver's material points answered by
atomistic representative volume elements (RVEs).  The world communicator is
split into RVE groups; each group relaxes (statics) or samples (dynamics) a
periodic crystal deformed by a quadrature point's deformation gradient F with
the domain-decomposed MD engine on its sub-communicator and returns the
energy density, the first Piola-Kirchhoff stress and the tangent.  Results are
bitwise identical whatever the number of ranks in a group, and each
quadrature point's relaxed atoms are kept for warm starts and checkpoints.
"""
