"""hpcms: an MPI-parallel multiscale materials simulator."""

__version__ = "0.1.0"
