"""Property-based conformance: every variant held to its matrix.yaml rule over generated sizes and settings.

One shape is a weak witness: a workaround shown for five 3-to-1 LSTM cells may break for one cell or for
other feature sizes. For each case, hypothesis draws the variant's keyword arguments (what the pattern
depends on: parallel or stacked layers, 1 included; feature sizes; batch sizes; loop counts, 0 and unequal
counts included; dropout rate; sequence length) and the property is the cell's rule for that variant:
a working fix passes (each fix checks itself against an independent reference), a variant expected to
fail fails with the same exception and message (see flax_regressions/incell/properties.py).

The sizes live next to the case, in its repro module's ``PROPERTY_SIZES``: each keyword argument with its own
small set of values, or a tuple of names with a set of value tuples for arguments drawn together (a batch
and its per-example loop counts). Small sets (``sampled_from``) keep the number of shapes JAX compiles for
bounded. Hypothesis tries the first value of every set first and shrinks towards it, so each set starts with
an edge case (1 layer, 1 feature, count 0) or a value the documented call does not use: the ``ci`` profile
(the default, sized to the cell's time budget) runs that one example per variant, derandomized;
``--hypothesis-profile=thorough`` draws many more at random. Ids read ``test_property[<case>-<variant>]``.
"""

import inspect
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flax_regressions.incell.context import cell_context
from flax_regressions.incell.properties import check_example, parametrize
from flax_regressions.incell.repros import ReproImportError, load_repro


def sizes(choices: dict[Any, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments, each entry of ``choices`` drawn from its own set (in the order given, for reading)."""
    drawn = st.fixed_dictionaries({names: st.sampled_from(values) for names, values in choices.items()})
    return drawn.map(lambda picked: {name: value for names in choices for name, value in _named(names, picked[names])})


def _named(names: str | tuple[str, ...], value: Any) -> list[tuple[str, object]]:
    return list(zip(names, value)) if isinstance(names, tuple) else [(names, value)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("property"):
        parametrize(metafunc)


def loaded(pytestconfig: pytest.Config, case: str) -> ModuleType:
    """The case's repro module; a module that fails at import fails the test with that one line (incell.repros)."""
    try:
        return load_repro(cell_context(pytestconfig).matrix.repro_dir(case), case)
    except ReproImportError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None  # one line, not the import's traceback


@pytest.mark.property
@given(data=st.data())
def test_property(case: str, variant: str, pytestconfig: pytest.Config, data: st.DataObject) -> None:
    kwargs = data.draw(sizes(property_sizes(loaded(pytestconfig, case))), label="kwargs")
    check_example(pytestconfig, case, variant, kwargs)


def property_sizes(repro: ModuleType) -> dict[Any, Any]:
    """The module's ``PROPERTY_SIZES``; none given means no sizes to draw: the property test then runs the variant
    once more, as it is (a team's hand-written module need not say more)."""
    return getattr(repro, "PROPERTY_SIZES", {})


def test_every_case_has_well_formed_sizes(pytestconfig: pytest.Config) -> None:
    for case, variants in cell_context(pytestconfig).matrix.cases.items():
        repro = loaded(pytestconfig, case)
        assert isinstance(property_sizes(repro), dict), f"repro/{case}.py: PROPERTY_SIZES is not a dict"
        for names, values in property_sizes(repro).items():
            assert values, f"repro/{case}.py PROPERTY_SIZES: {names}: no values to draw from"
            if isinstance(names, tuple):
                assert all(len(value) == len(names) for value in values), f"repro/{case}.py: {names}: a value per name"
            for variant in variants:
                takes = {
                    name
                    for name, p in inspect.signature(getattr(repro, variant)).parameters.items()
                    if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                }
                missing = set(names if isinstance(names, tuple) else [names]) - takes
                assert not missing, f"repro/{case}.py PROPERTY_SIZES: {variant}() takes no {', '.join(sorted(missing))}"
