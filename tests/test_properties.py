"""Property-based conformance: every variant held to its matrix.yaml rule over generated sizes and settings.

One shape is a weak witness: a workaround shown for five 3-to-1 LSTM cells may break for one cell or for
other feature sizes. For each case, hypothesis draws the variant's keyword arguments (what the pattern
depends on: parallel or stacked layers, 1 included; feature sizes; batch sizes; loop counts, 0 and unequal
counts included; dropout rate; sequence length) and the property is the cell's rule for that variant:
a working fix passes (each fix checks itself against an independent reference), a variant expected to
fail fails with the same exception and message (see flax_regressions/properties.py).

Sizes come from small sets (``sampled_from``) so that the number of shapes JAX compiles for stays bounded.
Hypothesis tries the first value of every set first and shrinks towards it, so each set starts with an edge
case (1 layer, 1 feature, count 0) or a value the documented call does not use: the ``ci`` profile (the
default, sized to the cell's time budget) runs that one example per variant, derandomized;
``--hypothesis-profile=thorough`` draws many more at random. Ids read ``test_property[<case>-<variant>]``.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flax_regressions.plugin import cell_context
from flax_regressions.properties import check_example, parametrize


def sizes(**choices):
    """Keyword arguments, each drawn from its own small set of values (in the order given, for reading)."""
    drawn = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in choices.items()})
    return drawn.map(lambda kwargs: {name: kwargs[name] for name in choices})


def loop_counts(batch_sizes, counts):
    """(batch, counts): one loop count per example, from ``counts``.

    Example i draws from ``counts`` rotated by i, so every combination can be drawn and the simplest one
    (the first values) is unequal and starts at 0: (0, 1, 3, 0) for batch 4 and counts [0, 1, 3].
    """
    def for_batch(batch):
        rotated = [st.sampled_from(counts[i % len(counts):] + counts[:i % len(counts)]) for i in range(batch)]
        return st.tuples(*rotated).map(lambda c: {"batch": batch, "counts": c})

    return st.sampled_from(batch_sizes).flatmap(for_batch)


# Per case: the keyword arguments its variants take. A new case needs an entry (test_every_case_has_sizes).
KWARGS = {
    "lstm_vmap": sizes(num_layers=[1, 2, 5], in_features=[1, 3], hidden_features=[4, 1], batch=[2, None]),
    "layernorm_vmap": sizes(features=[1, 10, 16], batch=[1, 15]),
    # Rates strictly between 0 and 1: at 0 and 1 nnx.Dropout draws no randomness, the RNG streams the
    # pattern is about are never read, and a broken workaround "passes" (fix_stateaxes does on 0.12).
    "dropout_split_rngs": sizes(num_layers=[1, 3, 4], features=[1, 10], batch=[2, None], rate=[0.5, 0.1, 0.9]),
    "vmap_while_loop": st.tuples(loop_counts([4, 1, 3], [0, 1, 3]), sizes(features=[1, 4])).map(
        lambda pair: pair[0] | pair[1]
    ),
    "rnn_jit": sizes(features=[1, 10], hidden=[1, 10], batch=[1, 2], seq_len=[1, 5]),
}


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("property"):
        parametrize(metafunc)


@pytest.mark.property
@given(data=st.data())
def test_property(case, variant, rule, pytestconfig, data):
    kwargs = data.draw(KWARGS[case], label="kwargs")
    check_example(pytestconfig, case, variant, rule, kwargs)


def test_every_case_has_sizes(pytestconfig):
    cases = set(cell_context(pytestconfig)["matrix"].cases)
    assert set(KWARGS) == cases, "tests/test_properties.py KWARGS and the cases of matrix.yaml differ"
