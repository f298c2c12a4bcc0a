"""What is expected, and of which releases: matrix.yaml (its rules, validation and editing) and the registry."""
