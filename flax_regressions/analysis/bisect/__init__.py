"""Bisection over releases: where a case's variants change, and whether Flax or JAX made the change."""
