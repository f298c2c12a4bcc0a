"""The release bisection on synthetic outcome sequences, and --write on a copy of a matrix file. No Flax."""

import math
import re
from collections import Counter
from datetime import UTC
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from flax_regressions.analysis.bisect import search
from flax_regressions.analysis.bisect.history import analyse
from flax_regressions.analysis.bisect.observation import Behaviour, Observation
from flax_regressions.analysis.bisect.search import FLAKY, UNINSTALLABLE
from flax_regressions.catalogue import case_dirs, edit, measured, reader
from flax_regressions.catalogue.model import MatrixError
from flax_regressions.commands import cli
from flax_regressions.render.bisect import report_lines
from flax_regressions.running import registry, specs
from tests.test_matrix import REPRO, write

ITEMS = [f"0.{i}" for i in range(40)]


def world(changes: dict[int, str], first: str = "A", uninstallable=(), flaky: dict[int, str] = None):
    """A probe over ITEMS: outcome ``first`` until each index in ``changes`` switches it; counts its calls."""
    calls = Counter()
    flaky = dict(flaky or {})

    def probe(item):
        i = ITEMS.index(item)
        calls[i] += 1
        if i in uninstallable:
            return UNINSTALLABLE
        if i in flaky and calls[i] == 1:
            return flaky[i]
        outcome = first
        for at in sorted(changes):
            if i >= at:
                outcome = changes[at]
        return outcome

    return probe, calls


def test_finds_every_change_point():
    probe, calls = world({7: "B", 15: "C", 31: "D"})
    found = search.search(ITEMS, probe)
    assert found.changes == [(6, 7), (14, 15), (30, 31)]
    assert not found.skipped and not found.flaky
    assert max(calls.values()) <= 2, "an item is probed once, and once more only to confirm a change"


def test_a_behaviour_that_comes_back_is_found_through_a_seed():
    probe, _ = world({5: "B", 12: "A"})  # A, then B on 5..11, then A again: the two ends agree
    assert search.search(ITEMS, probe).changes == []
    assert search.search(ITEMS, probe, seeds=[ITEMS[8]]).changes == [(4, 5), (11, 12)]


def test_an_uninstallable_release_is_stepped_over():
    probe, _ = world({10: "B"}, uninstallable={10, 0})
    found = search.search(ITEMS, probe)
    assert found.changes == [(9, 11)], "the change lies between the installable neighbours"
    assert found.skipped == {0: UNINSTALLABLE, 10: UNINSTALLABLE}
    assert min(found.outcomes) == 1, "an uninstallable end: the search starts at the next release"


def test_a_flaky_result_is_reported_and_does_not_move_the_change():
    # The first probe of the middle item says B where the truth is A: a fake change, unmasked by the re-run.
    middle = 19  # where the search looks first: the middle of 0..39 is 19.5, and a tie goes to the lower item
    probe, calls = world({30: "B"}, flaky={middle: "B"})
    found = search.search(ITEMS, probe)
    assert calls[middle] == 2 and found.skipped == {middle: FLAKY}
    assert found.flaky == {middle: ("B", "A")}
    assert found.changes == [(29, 30)]


def test_a_flaky_side_of_a_real_change_is_searched_around():
    probe, _ = world({12: "B"}, flaky={11: "B"})
    found = search.search(ITEMS, probe)
    assert found.skipped.get(11) == FLAKY
    assert found.changes == [(10, 12)]


def test_without_confirmation_each_item_is_probed_once():
    probe, calls = world({7: "B", 15: "C"})
    found = search.search(ITEMS, probe, confirm=False)
    assert found.changes == [(6, 7), (14, 15)] and set(calls.values()) == {1}


@pytest.mark.parametrize("n", [8, 23, 64, 1000])
def test_one_change_costs_about_log2_n_environments(n):
    items = list(range(n))
    for at in (1, n // 3, n - 1):
        calls = Counter()

        def probe(i, calls=calls, at=at):
            calls[i] += 1
            return i >= at

        found = search.search(items, probe)
        assert found.changes == [(at - 1, at)]
        assert len(calls) <= math.ceil(math.log2(n)) + 2, "distinct releases probed: both ends and a binary search"
        assert found.probes == len(calls) + 2, "plus one re-run of each side of the change"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=12), st.sets(st.integers(0, 59), max_size=6))
def test_every_change_is_found_when_no_behaviour_comes_back(lengths, broken):
    items = list(range(sum(lengths)))
    truth = [k for k, length in enumerate(lengths) for _ in range(length)]  # a new outcome in every segment
    broken = {i for i in broken if i < len(items)}
    found = search.search(items, lambda i: UNINSTALLABLE if i in broken else truth[i])
    installable = [i for i in items if i not in broken]
    expected = [(a, b) for a, b in zip(installable, installable[1:]) if truth[a] != truth[b]]
    assert found.changes == expected


def test_runs_group_probed_items_by_a_projection():
    probe, _ = world({7: "B", 15: "C"})
    found = search.search(ITEMS, probe)
    runs = search.runs(found, lambda run, i: (found.outcomes[run[0]] == "C") == (found.outcomes[i] == "C"))
    assert [(r.first, r.last) for r in runs] == [(0, 14), (15, 39)]


# --- rules from a history, and --write on a copy of a matrix file --------------------------------------

MATRIX_TEXT = """\
# A comment at the top that must stay.
python: "3.12"
current: "0.10.5"
flax:
  - {version: "0.10.2", jax: "0.4.35"}
  - {version: latest}   # trailing comment
backends:
  cpu: {}
cases:
  demo:
    upstream: google/flax#1
    variants:
      # the documented call
      bug:
        - {flax: ">=0.10.0", expect: fail, raises: flax.errors.TraceContextError, match: "trace level",
           note: "kept when the rule still holds"}
      fix:   # the workaround
        - {flax: ">=0.10.0", expect: pass}
# the end
"""


def test_stable_match_is_a_short_common_phrase_of_plain_words():
    assert (
        measured.stable_match(
            [
                "at vmap out_axes[0][0].states[0]['linear']['bias'].value, got axis spec None but output was batched on axis 0",
            ]
        )
        == "got axis spec None but output was batched"
    )
    assert (
        measured.stable_match(
            [
                "Cannot call RngStream from a different trace level (https://flax.readthedocs.io/...)",
                "Cannot mutate RngStream from a different trace level (https://flax.readthedocs.io/...)",
            ]
        )
        == "RngStream from a different trace level"
    )
    assert measured.stable_match(["module 'flax.nnx' has no attribute 'while_loop'"]) == (
        r"module 'flax\.nnx' has no attribute 'while_loop'"
    )
    assert (
        measured.stable_match(
            [
                "RNGs must be provided to initialize the cell carry.",
                "vmap was requested to map its argument along axis 0",
            ]
        )
        is None
    )


def test_rules_follow_flax_and_jax_and_keep_what_still_holds(tmp_path):
    old = reader.load(write(tmp_path, MATRIX_TEXT)).cases["demo"]["bug"]
    segments = [
        measured.Segment("0.10.0", "0.4.34", "fail", "AttributeError", ["module 'flax.nnx' has no attribute 'x'"]),
        measured.Segment(
            "0.10.1", "0.4.35", "fail", "TraceContextError", ["Cannot call RngStream from a different trace level"]
        ),
        measured.Segment("0.10.6", "0.6.0", "pass", by_jax="0.6.0"),
        measured.Segment(
            "0.11.0", "0.7.0", "fail", "ValueError", ["fold_in accepts a single key, but was given (4, 2)"]
        ),
    ]
    assert measured.rules_for("bug", segments, old) == [
        {
            "flax": ">=0.10.0,<0.10.1",
            "expect": "fail",
            "raises": "AttributeError",
            "match": r"module 'flax\.nnx' has no attribute 'x'",
        },
        {
            "flax": ">=0.10.1,<0.11.0",
            "jax": "<0.6.0",
            "expect": "fail",
            "raises": "flax.errors.TraceContextError",
            "match": "trace level",
            "note": "kept when the rule still holds",
        },
        {"flax": ">=0.10.1,<0.11.0", "jax": ">=0.6.0", "expect": "pass", "note": "fixed by JAX 0.6.0, not by Flax"},
        {
            "flax": ">=0.11.0",
            "expect": "fail",
            "raises": "ValueError",
            "match": "fold_in accepts a single key, but was given",
        },
    ]


def test_write_replaces_one_rule_list_and_keeps_comments_and_order(tmp_path):
    path = write(tmp_path, MATRIX_TEXT, REPRO)
    rules = [
        {"flax": ">=0.10.0,<0.11.0", "expect": "pass"},
        {
            "flax": ">=0.11.0",
            "expect": "fail",
            "raises": "ValueError",
            "match": "a fairly long message that is matched here",
            "note": "a note long enough to go on the next line, the way the rest of matrix.yaml writes long rules",
        },
    ]
    text = edit.write(path, {("demo", "bug"): rules}, partial(case_dirs.read_one, shown=str(path)))
    assert path.read_text() == text
    old_lines, new_lines = MATRIX_TEXT.splitlines(), text.splitlines()
    assert [line for line in new_lines if "#" in line] == [line for line in old_lines if "#" in line], "comments stay"
    start = old_lines.index("      bug:") + 1
    assert new_lines[:start] == old_lines[:start] and new_lines[start + 3 :] == old_lines[start + 2 :]
    assert new_lines[start : start + 3] == [
        '        - {flax: ">=0.10.0,<0.11.0", expect: pass}',
        '        - {flax: ">=0.11.0", expect: fail, raises: ValueError, match: "a fairly long message that is matched here",',
        '           note: "a note long enough to go on the next line, the way the rest of matrix.yaml writes long rules"}',
    ]
    loaded = reader.load(path).cases["demo"]["bug"]
    assert [r.expect for r in loaded] == ["pass", "fail"] and loaded[1].note.startswith("a note long enough")


def test_write_refuses_rules_that_do_not_validate(tmp_path):
    path = write(tmp_path, MATRIX_TEXT, REPRO)
    overlapping = [{"flax": ">=0.10.0", "expect": "pass"}, {"flax": ">=0.11.0", "expect": "pass"}]
    with pytest.raises(MatrixError, match=r"^matrix\.yaml:\d+: cases\.demo\.variants\.bug\[1\]: contradictory"):
        edit.write(path, {("demo", "bug"): overlapping}, partial(case_dirs.read_one, shown=str(path)))
    assert path.read_text() == MATRIX_TEXT
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left behind"


# --- the session's analysis, with a fake prober standing in for cell runs -----------------------------

FLAX_JAX = {
    "0.10.0": "0.4.34",
    "0.10.1": "0.4.35",
    "0.10.2": "0.4.35",
    "0.10.3": "0.5.0",
    "0.10.4": "0.5.1",
    "0.10.5": "0.5.3",
    "0.10.6": "0.6.0",
    "0.10.7": "0.6.2",
    "0.11.0": "0.7.0",
    "0.11.1": "0.7.0",
}
JAX = ["0.4.34", "0.4.35", "0.5.0", "0.5.1", "0.5.2", "0.5.3", "0.6.0", "0.6.1", "0.6.2", "0.7.0"]


class FakeProber:
    """Flax 0.10.0 lacks the API; on later Flax the bug is fixed by JAX 0.6.0; the fix breaks in Flax 0.11.0."""

    def __init__(self):
        self.calls = Counter()

    def jax_of(self, flax, jax=None):
        return jax or FLAX_JAX[flax]

    def __call__(self, flax, jax=None):
        self.calls[flax, jax] += 1
        jax = jax or FLAX_JAX[flax]
        if flax == "0.10.0":
            bug = fix = "fail", "AttributeError", "module 'flax.nnx' has no attribute 'while_loop'"
        else:
            bug = (
                ("pass", None, "")
                if [int(x) for x in jax.split(".")] >= [0, 6, 0]
                else ("fail", "ValueError", "got axis spec None but output was batched on axis 0")
            )
            fix = (
                ("pass", None, "")
                if Version(flax) < Version("0.11.0")
                else ("fail", "ValueError", "fold_in accepts a single key")
            )
        return Observation((Behaviour("bug", *bug), Behaviour("fix", *fix)))


def test_analysis_puts_a_change_on_jax_when_the_older_flax_follows_it(tmp_path, monkeypatch):
    monkeypatch.setattr(
        registry, "releases", lambda python, package="flax": JAX if package == "jax" else list(FLAX_JAX)
    )
    the_matrix = reader.load(write(tmp_path, MATRIX_TEXT, REPRO))
    prober, lines = FakeProber(), []
    history = analyse(the_matrix, "demo", ["bug", "fix"], list(FLAX_JAX), prober, seeds=["0.10.2"], log=lines.append)
    assert [c.describe() for c in history.changes["bug"]] == [
        "flax 0.10.0 (jax 0.4.34) -> 0.10.1 (jax 0.4.35): Flax",
        "flax 0.10.5 (jax 0.5.3) -> 0.10.6 (jax 0.6.0): follows JAX: changes at jax 0.5.3 -> 0.6.0 with flax 0.10.5",
    ]
    assert [(s.first, s.expect, s.by_jax) for s in history.segments["bug"]] == [
        ("0.10.0", "fail", None),
        ("0.10.1", "fail", None),
        ("0.10.6", "pass", "0.6.0"),
    ]
    assert [c.describe() for c in history.changes["fix"]][-1] == "flax 0.10.7 (jax 0.6.2) -> 0.11.0 (jax 0.7.0): Flax"
    assert prober.calls["0.10.5", "0.6.0"] == 2, "the deciding JAX probe is confirmed like any change"
    assert all(n <= 2 for n in prober.calls.values())
    rules = measured.rules_for("bug", history.segments["bug"], the_matrix.cases["demo"]["bug"])
    assert [(r["flax"], r.get("jax"), r["expect"]) for r in rules] == [
        (">=0.10.0,<0.10.1", None, "fail"),
        (">=0.10.1", "<0.6.0", "fail"),
        (">=0.10.1", ">=0.6.0", "pass"),
    ]
    text = "\n".join(report_lines(history))
    assert (
        "demo-bug:\n  reproduces (AttributeError: module 'flax.nnx' has no attribute 'while_loop') on 0.10.0\n" in text
    )
    assert "does not reproduce on 0.10.6+" in text


def test_usage_errors_are_one_line_and_exit_2(tmp_path, capsys):
    write(tmp_path, MATRIX_TEXT, REPRO)

    def bisect(*argv):
        return cli.main(["--workdir", str(tmp_path), "bisect", *argv, "--cases", str(tmp_path)])

    assert bisect("nosuchcase") == 2
    assert capsys.readouterr().err == "bisect: error: unknown case 'nosuchcase' (matrix.yaml has: demo)\n"
    assert bisect("demo", "--variant", "fix_nothing") == 2
    assert capsys.readouterr().err == "bisect: error: demo has no variant 'fix_nothing' (it has: bug, fix)\n"
    with pytest.raises(SystemExit) as exit_info:
        bisect("demo", "--between", "0.10.0")
    assert exit_info.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_jax_pin_gets_its_own_cell_and_the_cutoff_of_that_jax(tmp_path, monkeypatch):
    from datetime import date, datetime

    from flax_regressions.core.results import CellId

    published = {
        "flax": {"0.10.5": (datetime(2025, 3, 31, tzinfo=UTC), ">=3.10")},
        "jax": {
            "0.5.3": (datetime(2025, 3, 19, tzinfo=UTC), ">=3.10"),
            "0.6.0": (datetime(2025, 4, 16, tzinfo=UTC), ">=3.10"),
        },
    }
    monkeypatch.setattr(registry, "published", lambda package="flax": published[package])
    the_matrix = reader.load(write(tmp_path, MATRIX_TEXT, REPRO))
    spec = specs.spec_for(the_matrix, "0.10.5", "cpu", jax="0.6.0")
    assert spec.requirements()[:3] == ["flax==0.10.5", "jax==0.6.0", "jaxlib==0.6.0"]
    assert spec.cutoff == date(2025, 4, 17), "resolved as the registry stood the day after that JAX"
    assert specs.spec_for(the_matrix, "0.10.5", "cpu", jax="0.5.3").cutoff == date(2025, 4, 1)
    assert (
        str(CellId("0.10.5", "cpu", "0.6.0")) == "flax-0.10.5-jax-0.6.0-cpu"
        and str(CellId("0.10.5", "cpu")) == "flax-0.10.5-cpu"
    )
    with pytest.raises(registry.RegistryError, match="^jax 0.6.9 is not a release on the registry$"):
        specs.spec_for(the_matrix, "0.10.5", "cpu", jax="0.6.9")


# --- the prober: a cell's result as bisect compares it, and its memory ---------------------------------


def test_a_reworded_message_is_the_same_failure_and_another_type_is_not():
    trace = Behaviour("bug", "fail", "TraceContextError", "Cannot call RngStream from a different trace level")
    assert not trace.differs(
        Behaviour("bug", "fail", "TraceContextError", "Cannot mutate RngStream from a different trace level")
    )
    assert trace.differs(Behaviour("bug", "fail", "ValueError", "Cannot call RngStream from a different trace level"))
    assert trace.differs(Behaviour("bug", "pass"))
    assert str(trace) == "bug:TraceContextError" and str(Behaviour("fix", "missing")) == "fix:missing"


def test_a_probe_reads_the_cells_result_and_a_later_session_remembers_it(tmp_path, monkeypatch):
    from flax_regressions.analysis.bisect import prober
    from flax_regressions.core.records import Outcome, VariantRecord
    from flax_regressions.core.results import CellId, CellOutcome, CellResult, Versions
    from flax_regressions.core.workspace import Workspace

    the_matrix = reader.load(write(tmp_path, MATRIX_TEXT, REPRO))
    runs = []

    def run_cell(workspace, the_matrix, flax, backend, extra, *, cells_dir, log, runner, jax):
        runs.append((flax, jax, extra))
        cell = CellId(flax, backend, jax)
        if flax == "0.10.0":
            return CellResult.not_run(cell, CellOutcome.ERROR, "could not install flax-0.10.0-cpu: no wheel")
        if flax == "0.9.0":
            return CellResult.not_run(
                cell, CellOutcome.NOT_RUN, "could not install flax-0.9.0-cpu: registry unreachable"
            )
        record = VariantRecord("demo", "bug", Outcome.FAILED, "ValueError", "rank should be 2")
        return CellResult(cell, versions=Versions(flax, "0.5.3", "0.5.3"), records=(record,))

    monkeypatch.setattr(prober.cells, "run_cell", run_cell)
    probe = prober.Prober(
        Workspace.at(tmp_path), the_matrix, "demo", tmp_path / "bisect" / "demo", log=lambda line: None
    )
    seen = probe("0.10.5")
    assert [str(b) for b in seen.behaviours] == ["bug:ValueError", "fix:missing"]
    assert seen.of("fix").message.startswith("no result; see ")
    assert runs == [("0.10.5", None, ["-k", "demo", "-q"])] and probe.jax_of("0.10.5") == "0.5.3"
    assert probe("0.10.0") == UNINSTALLABLE
    with pytest.raises(prober.BisectError, match="^could not install flax-0.9.0-cpu: registry unreachable$"):
        probe("0.9.0")
    later = prober.Prober(
        Workspace.at(tmp_path), the_matrix, "demo", tmp_path / "bisect" / "demo", log=lambda line: None
    )
    assert later("0.10.5") == seen and later("0.10.0") == UNINSTALLABLE and len(runs) == 3, "answered from probes.json"
    assert later.cost["remembered"] == 2 and later.jax_of("0.10.5") == "0.5.3"
    later("0.10.5")
    assert len(runs) == 4, "a second probe of a cell in one session is a second run (the search's confirmation)"
    fresh = prober.Prober(
        Workspace.at(tmp_path), the_matrix, "demo", tmp_path / "bisect" / "demo", log=lambda line: None, fresh=True
    )
    fresh("0.10.5")
    assert len(runs) == 5, "--fresh forgets the remembered runs"


def test_the_default_range_starts_at_the_oldest_release_the_rules_speak_of(tmp_path):
    assert reader.load(write(tmp_path, MATRIX_TEXT, REPRO)).oldest_release() == "0.10.0"


def test_a_measured_warning_is_written_as_a_warning_rule():
    """A watched warning is what the variant "raised" (incell.repros): --write turns it back into expect: warn."""
    segments = [
        measured.Segment("0.10.0", "0.4.34", "pass"),
        measured.Segment("0.12.1", "0.8.1", "fail", "DeprecationWarning", ["'.value' access is now deprecated."]),
    ]
    assert measured.rules_for("bug", segments, []) == [
        {"flax": ">=0.10.0,<0.12.1", "expect": "pass"},
        {"flax": ">=0.12.1", "expect": "warn", "warns": "DeprecationWarning", "match": "access is now deprecated"},
    ]
    assert edit.render(measured.rules_for("bug", segments, [])[1], 8) == (
        '        - {flax: ">=0.12.1", expect: warn, warns: DeprecationWarning, match: "access is now deprecated"}'
    )


def test_messages_without_a_phrase_of_plain_words_are_matched_by_their_beginning():
    """``unexpected object RngStream(`` has two plain words before its bracket: no phrase, so its beginning."""
    segments = [
        measured.Segment("0.10.3", "0.5.0", "fail", "TypeError", ["unexpected object RngStream( # RngState: 2 (12 B)"])
    ]
    rule = measured.rules_for("bug", segments, [])[0]
    assert rule["match"] == r"^unexpected object RngStream\( # RngState: 2 \(12 B\)"
    assert re.search(rule["match"], segments[0].messages[0])
    assert (
        measured.prefix_match(["at 0x7f00 here", "at 0x5500 there"]) == "^at"
        and measured.prefix_match(["", ""]) == "^$"
    )
