"""The suite's own pytest plugin (expectations from matrix.yaml, results recording) lives in the harness."""

pytest_plugins = ["flax_regressions.plugin"]
