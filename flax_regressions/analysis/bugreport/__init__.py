"""Paste-ready upstream bug reports: a standalone script, its output in the release's environment, the versions."""

from flax_regressions.core.errors import Error


class ReportError(Error):
    """A usage or environment problem: no report can be written. Its message is one line."""
