"""MPI: communicators, domain decomposition, halo exchange, exact reductions.  Knows no physics."""
