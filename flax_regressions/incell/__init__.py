"""What runs inside a cell's own interpreter: the pytest plugin, and the conformance and property tests it drives."""
