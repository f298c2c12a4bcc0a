"""The ``pytest11`` entry point ``flax_regressions``: your cases among your own tests, only when asked for.

Installing flax-regressions registers this module with every pytest run in that environment, so it does
nothing but add one option, ``--flax-cases DIR``, until that option is given. Then
``pytest -p flax_regressions --flax-cases DIR ...`` loads the in-cell plugin (its options included, before the
command line is parsed) and adds the conformance tests (incell/conformance_tests.py) to what pytest collects: each
case and variant of DIR's matrix is a test item, ``test_variant[<case>-<variant>]``, held to its rule
among the user's own tests. A run that names the in-cell plugin itself (a cell, this project's own tests)
has the option from it, and this module stays out of the way. Only pytest and the standard library are
imported here: every pytest run in the environment pays for this module's import. The option is not ``--cases``:
a plugin registers its options before a project's conftest.py does, so a project with its own ``--cases`` would
fail to start once this package is installed (``option dest 'cases' already used``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ENTRY_POINT = "flax_regressions"  # pyproject's [project.entry-points.pytest11] name
IN_CELL = "flax_regressions.incell.plugin"
CASE_TESTS = Path(__file__).with_name("conformance_tests.py")
_ACTIVE = pytest.StashKey[bool]()


def add_cases_option(parser: pytest.Parser) -> None:
    """``--flax-cases DIR``: one owner (this module, or the in-cell plugin when it is loaded first)."""
    parser.getgroup("flax-regressions").addoption(
        "--flax-cases",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory with its own matrix.yaml and repro/ (repeatable): run its cases, not the built-in matrix",
    )


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.has_plugin(IN_CELL):
        add_cases_option(parser)


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """With --flax-cases, and no in-cell plugin yet: load it now, so that its options are parsed with the rest."""
    manager = early_config.pluginmanager
    if early_config.known_args_namespace.flax_cases and not manager.has_plugin(IN_CELL):
        manager.import_plugin(IN_CELL)
        early_config.stash[_ACTIVE] = True


def pytest_configure(config: pytest.Config) -> None:
    """Collect the conformance tests beside the user's own (config.args: what the session collects)."""
    if config.stash.get(_ACTIVE, False) and str(CASE_TESTS) not in config.args:
        config.args.append(str(CASE_TESTS))
