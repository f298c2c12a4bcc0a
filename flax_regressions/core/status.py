"""Exit statuses, the same for every command: CI tells "it breaks" from "cannot tell" by them."""

OK = 0  # as expected: every cell as matrix.yaml says, the upgrade breaks nothing, the report was written
NOT_AS_EXPECTED = 1  # a cell is not as expected, the upgrade breaks a variant, the bug does not reproduce
USAGE_ERROR = 2  # no verdict: bad input or an environment problem, said in one line
