"""Every document a person reads: Markdown tables and reports, and the GitHub job summary."""
