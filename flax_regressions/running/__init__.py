"""Running a cell: its environment (one Flax release with its JAX) and the pytest run that fills in its results."""
