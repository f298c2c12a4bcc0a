"""The measured-history page: its structure from a made-up catalogue, and what a person sees of the real one in a
browser (the system Chromium, driven by Playwright; no browser is downloaded)."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

import pytest
from packaging.specifiers import SpecifierSet

from flax_regressions.catalogue import history, reader
from flax_regressions.catalogue.history import MeasuredCell
from flax_regressions.catalogue.model import FlaxVersion, Matrix
from flax_regressions.catalogue.rules import Rule
from flax_regressions.core.variant import is_bug
from flax_regressions.render import history_page
from tests.shared_work import ROOT

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "wbr", "source"}


def rule(flax: str, expect: str, raises: str | None = None, note: str | None = None, jax: str = "") -> Rule:
    return Rule(SpecifierSet(flax), SpecifierSet(jax), None, expect, raises, "." if raises else None, note)


def made_up() -> tuple[Matrix, list[MeasuredCell]]:
    """Two cases on three releases (0.10 after 0.2: ordered as versions, not text), one JAX chosen by hand."""
    cases = {
        "alpha": {
            "bug": [rule("<0.2", "fail", "TypeError"), rule(">=0.2", "pass")],
            "fix": [rule("", "pass")],
        },
        "beta": {
            "bug": [rule("", "fail", "jax.errors.TracerError")],
            "fix_other": [rule("", "pass", note="fixed by JAX 0.5, not by Flax", jax=">=0.5")],
            "fix_new": [],  # declared, not measured yet
        },
    }
    matrix = Matrix("3.11", "0.10", [FlaxVersion("0.1", "0.4")], {"cpu": {}}, cases, upstream={"alpha": "o/r#1"})
    cells = [
        MeasuredCell("0.10", "0.6", "cpu", False, "2026-01-03", {"alpha": {"bug": "passed", "fix": "passed"}}),
        MeasuredCell(
            "0.1",
            "0.4",
            "cpu",
            False,
            "2026-01-01",
            {"alpha": {"bug": "failed: TypeError", "fix": "failed: TypeError"}, "beta": {"bug": "failed: TracerError"}},
        ),
        MeasuredCell("0.1", "0.5", "cpu", True, "2026-01-02", {"beta": {"bug": "passed", "fix_other": "passed"}}),
        MeasuredCell("0.2", "0.5", "cpu", False, "2026-01-02", {"alpha": {"bug": "failed: ValueError"}}),
    ]
    return matrix, cells


class Cells(HTMLParser):
    """The page's grid cells, keyed by (case, variant, column), with their attributes and text; the column headers'
    texts; every src/href; and a check that every element is closed where it was opened."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.row: tuple[str, str] = ("", "")
        self.cells: dict[tuple[str, str, str], dict[str, str]] = {}
        self.heads: list[str] = []
        self.links: list[str] = []
        self.current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.links += [a[k] for k in ("src", "href") if k in a]
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "tr" and "data-case" in a:
            self.row = (a["data-case"], a["data-variant"])
        if tag == "td":
            self.current = a | {"text": ""}
            self.cells[(*self.row, a["data-col"])] = self.current
        if tag == "th" and "scope" in a and a["scope"] == "col":
            self.current = {"text": ""}
            self.heads.append("")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"</{tag}> closes nothing open"
        if tag in ("td", "th") and self.current is not None:
            if tag == "th":
                self.heads[-1] = self.current["text"]
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None:
            self.current["text"] += data


def parsed(text: str) -> Cells:
    cells = Cells()
    cells.feed(text)
    cells.close()
    assert cells.stack == ["html"] or not cells.stack, f"left open: {cells.stack}"
    return cells


def test_the_page_shows_every_variant_by_every_column_with_its_outcome():
    matrix, cells = made_up()
    text = history_page.page(cells, matrix, title="<history>")
    assert text.startswith("<!DOCTYPE html>") and "<title>&lt;history&gt;</title>" in text
    grid = parsed(text)
    rows = {(case, variant) for case, variant, _ in grid.cells}
    assert rows == {(c, v) for c, variants in matrix.cases.items() for v in variants}
    assert grid.heads == ["0.1jax 0.4", "0.1 + jax 0.5 (chosen)", "0.2jax 0.5", "0.10jax 0.6"]
    assert 'class="backend"' not in text  # one backend: no backend row

    broken = grid.cells["alpha", "fix", "cpu/0.1/0.4"]
    assert "broken" in broken["text"] and "✗" in broken["text"] and "failed: TypeError" in broken["title"]
    assert "off" in broken["class"].split() and "not as expected" in broken["text"]  # the rule says pass
    reproduces = grid.cells["alpha", "bug", "cpu/0.1/0.4"]
    assert "reproduces" in reproduces["text"] and "not as expected" not in reproduces["text"]
    assert "off" not in reproduces["class"].split()
    assert "fail with TypeError" in reproduces["title"]
    # the rule's exception named with its module, the record with its bare name: as expected
    assert "off" not in grid.cells["beta", "bug", "cpu/0.1/0.4"]["class"].split()
    other_type = grid.cells["alpha", "bug", "cpu/0.2/0.5"]  # a pass rule, a failure: not as expected
    assert "off" in other_type["class"].split() and "failed: ValueError" in other_type["title"]
    assert "absent" in grid.cells["alpha", "bug", "cpu/0.10/0.6"]["text"]
    assert "works" in grid.cells["alpha", "fix", "cpu/0.10/0.6"]["text"]

    chosen = grid.cells["beta", "fix_other", "cpu/0.1/0.5"]
    assert "chosen" in chosen["class"].split() and "JAX" in chosen["text"]  # decided by JAX
    unmeasured = grid.cells["beta", "fix_new", "cpu/0.1/0.5"]
    assert "o-none" in unmeasured["class"].split() and "–" in unmeasured["text"]
    assert "not measured" in unmeasured["title"]
    assert "no rule" not in unmeasured["text"]  # nothing measured, nothing to hold to a rule

    assert not [link for link in grid.links if re.search(r"https?:", link)]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    assert "<script" not in text
    assert "Legend" in text


def test_a_backend_other_than_cpu_groups_the_columns():
    matrix, cells = made_up()
    cells.append(MeasuredCell("0.1", "0.4", "cuda", False, "2026-01-04", {"alpha": {"bug": "failed: TypeError"}}))
    text = history_page.page(cells, matrix)
    assert '<th class="backend" colspan="4">cpu</th><th class="backend" colspan="1">cuda</th>' in text
    assert parsed(text).heads[-1] == "0.1jax 0.4"


def test_write_makes_the_folder(tmp_path):
    matrix, cells = made_up()
    history_page.write(tmp_path / "site" / "history.html", cells, matrix)
    assert (tmp_path / "site" / "history.html").read_text() == history_page.page(cells, matrix)


def a_broken_fix(cells: list[MeasuredCell]) -> tuple[str, str, MeasuredCell, str]:
    """A fix variant the real history records as failed: the cell the page must show as broken."""
    for cell in cells:
        for case, variants in cell.results.items():
            for variant, record in variants.items():
                if not is_bug(variant) and record.startswith("failed: "):
                    return case, variant, cell, record
    pytest.fail("history.json records no broken workaround to look at")


@pytest.mark.e2e
def test_a_person_reads_the_real_history_in_a_browser(tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium executable on PATH (Debian's chromium package): the page is not looked at")
    from playwright.sync_api import Error, sync_playwright

    matrix, cells = reader.load(), history.read(ROOT / "history.json")
    path = tmp_path / "history.html"
    history_page.write(path, cells, matrix)
    case, variant, cell, record = a_broken_fix(cells)

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        except Error as exc:
            pytest.skip(f"playwright cannot launch {chromium}: {str(exc).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            fetched: list[str] = []
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(path.as_uri())

            assert page.locator("#legend").is_visible()
            assert page.get_by_text("Legend", exact=True).is_visible()
            for name in matrix.cases:
                assert page.get_by_text(name, exact=True).first.is_visible(), name
            assert set(page.locator("tbody th.case").all_inner_texts()) >= set(matrix.cases)

            row = page.locator(f'tr[data-case="{case}"][data-variant="{variant}"]')
            shown = row.locator(f'td[data-col="{cell.backend}/{cell.flax}/{cell.jax}"]')
            shown.scroll_into_view_if_needed()
            assert shown.is_visible()
            assert "✗" in shown.inner_text() and "broken" in shown.inner_text()
            assert record in (shown.get_attribute("title") or "")  # "failed: <ExceptionType>" on hover

            for off in page.locator("td.off").all():  # every result not as expected says so without hovering
                assert "not as expected" in off.inner_text()

            grid = page.locator(".grid")
            grid.evaluate("e => { e.scrollLeft = e.scrollWidth; }")  # the far right of a wide grid
            header, box = row.locator("th.variant"), grid.bounding_box()
            assert box is not None and (seen := header.bounding_box()) is not None
            assert box["x"] <= seen["x"] < box["x"] + box["width"] / 2  # the row's names stay in sight
            assert header.inner_text() == variant

            assert [url for url in fetched if not url.startswith("file:")] == []
            page.screenshot(path=str(tmp_path / "history_page.png"))
        finally:
            browser.close()
