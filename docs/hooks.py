"""mkdocs hooks (mkdocs.yml ``hooks:``): the pages the code writes, so they cannot drift from it.

- ``<!-- cli-reference -->`` in a page becomes the command-line reference: the help of the ``flax-regressions``
  command and of each of its subcommands, from the real argument parsers (commands.cli), at a fixed width.
- ``<!-- figures: history -->`` becomes a table of each case's history along the Flax releases (with their own JAX),
  from history.json: where a bug reproduces and where a workaround is broken, as release ranges.
- ``history.html`` is written into the built site from the catalogue's measured history (history.json beside
  matrix.yaml) by render.history_page. A placeholder is registered with the site's files first, so that links to
  it are checked like any other.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from packaging.version import Version

from flax_regressions.catalogue import history, reader
from flax_regressions.commands import cli
from flax_regressions.core.variant import is_bug
from flax_regressions.render import history_page

MARKER = "<!-- cli-reference -->"
HISTORY_MARKER = "<!-- figures: history -->"
HISTORY_PAGE = "history.html"
# argparse wraps its help at $COLUMNS, and from Python 3.14 colours it unless $NO_COLOR: both fixed, so the page is the
# same on every machine
HELP_ENVIRONMENT = {"COLUMNS": "100", "NO_COLOR": "1"}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Register history.html (on_post_build writes it), so that a link to it is a link to a known file."""
    placeholder = "<!doctype html><title>History</title><p>The history page is written when the site is built.</p>\n"
    files.append(File.generated(config, HISTORY_PAGE, content=placeholder))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace the markers with the command-line reference and the history table."""
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, cli_reference())
    if HISTORY_MARKER in markdown:
        cells = history.read(Path(config.config_file_path).parent / "history.json")
        markdown = markdown.replace(HISTORY_MARKER, history_table(cells))
    return markdown


def history_table(cells: list[history.MeasuredCell]) -> str:
    """Each case along the Flax releases measured on CPU with their own JAX: the releases where one of its bug
    variants reproduces, and those where each workaround is broken, as ranges of releases."""
    own = sorted((c for c in cells if c.backend == "cpu" and not c.jax_chosen), key=lambda c: Version(c.flax))
    releases = [c.flax for c in own]
    cases: dict[str, dict[str, None]] = {}
    for cell in own:
        for case, variants in cell.results.items():
            cases.setdefault(case, {}).update(dict.fromkeys(variants))
    lines = [
        f"Measured on {len(releases)} releases, {releases[0]} to {releases[-1]}, each with its own JAX, on CPU.",
        "",
        "A workaround counts as broken where it fails for any reason, including an API the release does not have yet.",
        "",
        "| case | a bug variant reproduces on | workarounds broken on |",
        "|---|---|---|",
    ]
    for case in sorted(cases):
        bugs = [v for v in cases[case] if is_bug(v)]
        fixes = {v: _failing(own, case, [v]) for v in cases[case] if not is_bug(v)}
        broken = "; ".join(f"`{v}`: {_ranges(on, releases)}" for v, on in fixes.items() if on) or "none"
        lines.append(f"| `{case}` | {_ranges(_failing(own, case, bugs), releases)} | {broken} |")
    return "\n".join(lines) + "\n"


def _failing(own: list[history.MeasuredCell], case: str, variants: list[str]) -> list[str]:
    """The releases where one of ``variants`` of ``case`` was measured and did not pass."""
    return [c.flax for c in own if any(c.results.get(case, {}).get(v, "passed") != "passed" for v in variants)]


def _ranges(chosen: list[str], releases: list[str]) -> str:
    """``0.10.0–0.10.4, 0.11.0`` for releases picked out of the ordered list; "none" or "every release"."""
    if not chosen:
        return "none"
    if len(chosen) == len(releases):
        return "every release"
    runs: list[list[str]] = []
    for i, release in enumerate(releases):
        if release in chosen:
            if runs and i > 0 and releases[i - 1] in chosen:
                runs[-1].append(release)
            else:
                runs.append([release])
    return ", ".join(run[0] if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs)


def cli_reference() -> str:
    """Each command's ``--help``, under a heading of its own: the top-level command first, then every subcommand."""
    saved = {name: os.environ.get(name) for name in HELP_ENVIRONMENT}
    os.environ.update(HELP_ENVIRONMENT)
    try:
        top = cli.parser()
        sections = [_section("flax-regressions", top.format_help())]
        for action in top._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    sections.append(_section(name, sub.format_help()))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return "\n".join(sections)


def _section(name: str, help_text: str) -> str:
    return f"## {name}\n\n```text\n{help_text.rstrip()}\n```\n"


def on_post_build(config: MkDocsConfig) -> None:
    """Write <site_dir>/history.html from the catalogue's history (history.json beside mkdocs.yml) and its matrix."""
    cells = history.read(Path(config.config_file_path).parent / "history.json")
    the_matrix = reader.load()
    html: str = history_page.page(cells, the_matrix)
    (Path(config.site_dir) / HISTORY_PAGE).write_text(html, encoding="utf-8")
