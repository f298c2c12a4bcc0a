"""The report, the gate, the bug report, bisect and sweep: each computes an answer from cells' results."""
