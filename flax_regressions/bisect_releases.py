"""Where a case's variants changed: the Flax releases (and the JAX releases, where JAX decides) of each change.

    nox -s bisect -- <case> [--variant V] [--between A B] [--write] [--fresh] [--markdown]

A probe is one cell run (cells.run_cell: the matrix's own environments, each Flax release with its
contemporary JAX) of the case's tests only; one run answers for all the case's variants. The search
(flax_regressions.bisect) splits the releases wherever a variant's outcome, its exception type or its
message (see matrix_edit.stable_match) differs; the default matrix's releases are probed first, so a
behaviour that comes and goes between two releases the matrix samples is not missed. At every change
whose two sides had different JAX, the older Flax is run with the newer side's JAX: if that alone brings
the change, the JAX releases in between are bisected with Flax held fixed, and the change is put on JAX.

Every run is remembered in results/bisect/<case>/probes.json (until repro/<case>.py changes): running
again, or again with --write, costs no cell runs. --write turns the result into matrix.yaml rules
(flax_regressions.matrix_edit). Exit status: 0, or 2 with a one-line reason on a usage or environment error.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from flax_regressions import bisect, cells, matrix, matrix_edit, releases
from flax_regressions.cli import USAGE_ERROR, Parser
from flax_regressions.matrix import ROOT
from flax_regressions.results import RESULTS_DIR, cell_id, write_json

BISECT_DIR = RESULTS_DIR / "bisect"
BACKEND = "cpu"


class BisectError(Exception):
    """A usage or environment problem: no answer can be given. Its message is one line."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = Parser("bisect", description="Find the Flax (and JAX) releases where a case's variants change.")
    parser.add_argument("case")
    parser.add_argument("--variant", action="append", metavar="V", help="only this variant (repeatable; default: all the case's)")
    parser.add_argument("--between", nargs=2, metavar=("A", "B"),
                        help="the first and last Flax release (default: the oldest matrix.yaml covers, and latest)")
    parser.add_argument("--write", action="store_true", help="rewrite the variants' rules in matrix.yaml from the result")
    parser.add_argument("--fresh", action="store_true", help="forget remembered runs: run every probe again")
    parser.add_argument("--markdown", action="store_true", help="also print the history as Markdown table rows")
    return parser.parse_args(argv)


# A probe's outcome: ((variant, key, message), ...) in the case's variant order; key is ("pass",),
# ("fail", exception type) or (what went wrong,) for a harness error or a missing result.
Outcome = tuple


def key_of(record: dict | None) -> tuple:
    outcome = (record or {}).get("outcome") or "missing"
    if outcome == "passed":
        return ("pass",)
    if outcome == "failed":
        return ("fail", record.get("exception"))
    return (outcome,)


def same_failure(messages: list[str]) -> bool:
    """Whether failures with these messages are one failure (they share a stable phrase)."""
    return len(set(messages)) == 1 or matrix_edit.stable_match(messages) is not None


def variant_differs(a: tuple, b: tuple) -> bool:
    """Two (variant, key, message) entries differ: another outcome, exception type, or message."""
    return a[1] != b[1] or (a[1][0] == "fail" and not same_failure([a[2], b[2]]))


def differ_in(variants: list[str]):
    """``differ`` for the search: any of ``variants`` behaves differently."""
    def differ(a: Outcome, b: Outcome) -> bool:
        return any(x[0] in variants and variant_differs(x, y) for x, y in zip(a, b))
    return differ


def entry(outcome: Outcome, variant: str) -> tuple:
    return next(e for e in outcome if e[0] == variant)


def show(outcome: Outcome | str, variants: list[str]) -> str:
    if outcome == bisect.UNINSTALLABLE:
        return "cannot be installed"
    return "  ".join(f"{v}:{'/'.join(k[1:]) or k[0]}" for v, k, _ in outcome if v in variants)


class Prober:
    """Probes (Flax, JAX pin) for one case and remembers every run in probes.json.

    The n-th probe of a cell in this session is answered by its n-th remembered run when there is one;
    the search's second look at a cell (its confirmation) is therefore a second run, not the same answer.
    Runs are forgotten when repro/<case>.py changes.
    """

    def __init__(self, the_matrix: matrix.Matrix, case: str, out_dir: Path, log=print, fresh: bool = False):
        self.matrix, self.case, self.dir, self.log = the_matrix, case, out_dir, log
        self.variants = list(the_matrix.cases[case])
        self.source = hashlib.sha256((the_matrix.repro_dir / f"{case}.py").read_bytes()).hexdigest()[:16]
        self.store_path = out_dir / "probes.json"
        stored = {} if fresh or not self.store_path.exists() else json.loads(self.store_path.read_text())
        self.store: dict[str, list[dict]] = stored.get("runs", {}) if stored.get("source") == self.source else {}
        self.calls: Counter = Counter()
        self.cost = Counter()  # runs, built, remembered, seconds

    def jax_of(self, flax: str, jax: str | None = None) -> str:
        return jax or self.store[cell_id(flax, BACKEND)][0]["versions"].get("jax", "?")

    def __call__(self, flax: str, jax: str | None = None) -> Outcome | str:
        cell = cell_id(flax, BACKEND, jax)
        n = self.calls[cell]
        self.calls[cell] += 1
        runs = self.store.setdefault(cell, [])
        label = f"flax {flax}" + (f" + jax {jax}" if jax else "")
        if n < len(runs):
            self.cost["remembered"] += 1
            how = "remembered"
        else:
            runs.append(self.run(flax, jax, cell, n + 1))
            write_json(self.store_path, {"case": self.case, "source": self.source, "runs": self.store})
            how = ("built env, " if runs[n]["built"] else "") + f"{runs[n]['seconds']:.1f}s"
        result = self.outcome(runs[n])
        seen = runs[n]["versions"].get("jax")
        self.log(f"  probe {label:<26} {'(jax ' + seen + ')' if seen and not jax else '':<15} {how:<20} {show(result, self.variants)}")
        return result

    def outcome(self, run: dict) -> Outcome | str:
        if run["uninstallable"]:
            return bisect.UNINSTALLABLE
        return tuple((v, tuple(run["results"][v]["key"]), run["results"][v]["message"]) for v in self.variants)

    def run(self, flax: str, jax: str | None, cell: str, attempt: int) -> dict:
        """One cell run of the case's tests; its pytest output goes to logs/<cell>-<attempt>.log."""
        start, lines = time.monotonic(), []
        path = self.dir / "cells" / f"{cell}.json"
        path.unlink(missing_ok=True)
        logfile = self.dir / "logs" / f"{cell}-{attempt}.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)

        def runner(command: list[str], env: dict[str, str]) -> None:
            with open(logfile, "w") as out:
                subprocess.run(command, env=os.environ | env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

        cells.run_cell(self.matrix, flax, BACKEND, ["-k", self.case, "-q"], cells_dir=self.dir / "cells",
                       log=lines.append, runner=runner, jax=jax)
        seconds = time.monotonic() - start
        built = any(line.startswith("building ") for line in lines)
        self.cost.update(runs=1, built=int(built), seconds=seconds)
        data = json.loads(path.read_text()) if path.exists() else {}
        if data.get("cell_outcome") == "error":
            if "cannot reach the package registry" in data["reason"]:
                raise BisectError(data["reason"])
            return {"uninstallable": data["reason"], "versions": {}, "results": {}, "built": built, "seconds": seconds}
        records = {r["variant"]: r for r in data.get("results", []) if r["case"] == self.case}
        results = {}
        for v in self.variants:
            record = records.get(v)
            message = (record or {}).get("message") or ("" if record else f"no result; see {logfile.relative_to(ROOT)}")
            results[v] = {"key": list(key_of(record)), "message": message}
        return {"uninstallable": None, "versions": data.get("versions", {}), "results": results, "built": built,
                "seconds": round(seconds, 1)}


@dataclass
class Change:
    """A change of one variant between two adjacent probed Flax releases, and whose it is."""

    before: str  # Flax release
    after: str
    jax_before: str
    jax_after: str
    cause: str = "Flax"  # "Flax", "JAX", or a sentence when neither alone explains it
    jax_change: tuple[str, str] | None = None  # the JAX releases on either side, when JAX decides

    def describe(self) -> str:
        where = f"flax {self.before} (jax {self.jax_before}) -> {self.after} (jax {self.jax_after})"
        if self.jax_change:
            return f"{where}: follows JAX: changes at jax {self.jax_change[0]} -> {self.jax_change[1]} with flax {self.before}"
        return f"{where}: {self.cause}"


@dataclass
class History:
    """What the bisection found for one case."""

    case: str
    variants: list[str]
    versions: list[str]
    found: bisect.Search
    segments: dict[str, list[matrix_edit.Segment]] = field(default_factory=dict)
    ends: dict[str, list[str]] = field(default_factory=dict)  # variant -> the last release of each segment
    changes: dict[str, list[Change]] = field(default_factory=dict)  # variant -> the change into each later segment


def analyse(the_matrix: matrix.Matrix, case: str, variants: list[str], versions: list[str], prober: Prober,
            seeds: list[str] = (), log=print) -> History:
    """Bisect the Flax releases, put each change on Flax or JAX, and cut each variant's history into segments."""
    start = time.monotonic()
    log(f"{case}: {len(versions)} Flax releases {versions[0]} .. {versions[-1]}; first the default matrix's: {', '.join(seeds)}")
    found = bisect.search(versions, prober, seeds=seeds, differ=differ_in(variants))
    log(f"{case}: Flax search: {found.probes} probes of {len(found.outcomes) + len(found.skipped)} releases, "
        f"{len(found.changes)} change point(s), {time.monotonic() - start:.0f}s")
    history = History(case, variants, versions, found)
    causes: dict[tuple[int, int], dict[str, Change]] = {}
    for a, b in found.changes:
        step = time.monotonic()
        causes[a, b] = attribute(the_matrix, found, a, b, variants, prober, log)
        log(f"{case}: who changed {versions[a]} -> {versions[b]}: {time.monotonic() - step:.0f}s")
    for v in variants:
        runs = bisect.runs(found, lambda run, i: continues(found, v, run, i))
        history.segments[v], history.ends[v], history.changes[v] = [], [], []
        for k, run in enumerate(runs):
            first = entry(found.outcomes[run.first], v)
            change = None
            if k:
                change = causes.get((runs[k - 1].last, run.first), {}).get(v) or Change(
                    versions[runs[k - 1].last], versions[run.first], prober.jax_of(versions[runs[k - 1].last]),
                    prober.jax_of(versions[run.first]))
                history.changes[v].append(change)
            history.segments[v].append(matrix_edit.Segment(
                flax_first=versions[run.first], jax_seen=prober.jax_of(versions[run.first]),
                expect={"pass": "pass", "fail": "fail"}.get(first[1][0], first[1][0]),
                exception=first[1][1] if first[1][0] == "fail" else None,
                messages=list(dict.fromkeys(entry(found.outcomes[i], v)[2] for i in run.probed)) if first[1][0] == "fail" else [],
                by_jax=change.jax_change[1] if change and change.jax_change else None))
            nxt = runs[k + 1].first if k + 1 < len(runs) else len(versions)
            history.ends[v].append(versions[nxt - 1])
    return history


def continues(found: bisect.Search, variant: str, run: list[int], i: int) -> bool:
    """Whether probed item ``i`` behaves like the run before it: same outcome, one failure across all messages."""
    entries = [entry(found.outcomes[j], variant) for j in run + [i]]
    if variant_differs(entries[0], entries[-1]):
        return False
    return entries[0][1][0] != "fail" or same_failure([e[2] for e in entries])


def attribute(the_matrix, found: bisect.Search, a: int, b: int, variants: list[str], prober: Prober, log) -> dict[str, Change]:
    """Whose change is it? Run the older Flax with the newer side's JAX; bisect JAX where that alone brings it."""
    versions = found.items
    before, after = found.outcomes[a], found.outcomes[b]
    jax_a, jax_b = prober.jax_of(versions[a]), prober.jax_of(versions[b])
    changed = [v for v in variants if variant_differs(entry(before, v), entry(after, v))]
    out = {v: Change(versions[a], versions[b], jax_a, jax_b) for v in changed}
    if jax_a == jax_b:
        return out
    pinned = prober(versions[a], jax_b)
    if pinned == bisect.UNINSTALLABLE:
        for change in out.values():
            change.cause = f"Flax (flax {versions[a]} cannot be installed with jax {jax_b})"
        return out
    by_jax = []
    for v in changed:
        if not variant_differs(entry(pinned, v), entry(after, v)):
            by_jax.append(v)
        elif variant_differs(entry(pinned, v), entry(before, v)):
            out[v].cause = f"Flax and JAX (flax {versions[a]} with jax {jax_b}: {show(pinned, [v])})"
    if not by_jax:
        return out
    candidates = [j for j in releases.releases(the_matrix.python, "jax") if Version(jax_a) <= Version(j) <= Version(jax_b)]
    known = {jax_a: before, jax_b: pinned}

    def probe(jax: str) -> Outcome | str:
        if jax == jax_a:
            return before  # the Flax search ran it already, and confirmed it
        return known.pop(jax) if jax in known else prober(versions[a], jax)

    log(f"  JAX decides {', '.join(by_jax)} between flax {versions[a]} and {versions[b]}: bisecting "
        f"{len(candidates)} JAX releases {jax_a} .. {jax_b} with flax {versions[a]}")
    jax_found = bisect.search(candidates, probe, differ=differ_in(by_jax))
    for v in by_jax:
        changes = [(i, j) for i, j in jax_found.changes if variant_differs(entry(jax_found.outcomes[i], v), entry(jax_found.outcomes[j], v))]
        if len(changes) == 1:
            out[v].cause, out[v].jax_change = "JAX", (candidates[changes[0][0]], candidates[changes[0][1]])
        else:
            out[v].cause = f"JAX ({len(changes)} changes among jax {jax_a} .. {jax_b} with flax {versions[a]})"
    return out


def describe_segment(variant: str, seg: matrix_edit.Segment, last: str, latest: str) -> str:
    span = f"{seg.flax_first}+" if last == latest else (seg.flax_first if last == seg.flax_first else f"{seg.flax_first}–{last}")
    if seg.expect == "pass":
        what = "does not reproduce" if variant.startswith("bug") else "works"
    elif seg.expect == "fail":
        phrase = matrix_edit.common_phrase(seg.messages)
        what = ("reproduces" if variant.startswith("bug") else "broken") + f" ({seg.exception}" + (f": {phrase})" if phrase else ")")
    else:
        what = seg.expect
    return f"{what} on {span}"


def report_lines(history: History, markdown: bool = False) -> list[str]:
    """Per variant: its segments, and between them each change with its two sides and whose it is."""
    versions, found = history.versions, history.found
    lines = []
    for i, why in sorted(found.skipped.items()):
        detail = f": {' vs '.join(show(o, history.variants) for o in found.flaky[i])}" if why == bisect.FLAKY else ""
        lines.append(f"{history.case}: flax {versions[i]} skipped ({why}{detail})")
    rows = []
    for v in history.variants:
        lines.append(f"{history.case}-{v}:")
        parts = []
        for k, seg in enumerate(history.segments[v]):
            if k:
                change = history.changes[v][k - 1]
                lines.append(f"    change at {change.describe()}")
            text = describe_segment(v, seg, history.ends[v][k], versions[-1])
            lines.append(f"  {text}")
            if k and history.changes[v][k - 1].jax_change:
                text += f" with jax {history.changes[v][k - 1].jax_change[1]}+ (JAX's change, not Flax's)"
            parts.append(text)
        rows.append(f"| {history.case} | {v} | {'; '.join(parts)} |")
    return lines + (["", "| case | variant | history |", "|---|---|---|", *rows] if markdown else [])


def default_range(the_matrix: matrix.Matrix) -> str:
    """The oldest release matrix.yaml's expectations speak of: the lowest lower bound of any flax rule."""
    bounds = [Version(s.version) for rules in the_matrix.cases.values() for variant in rules.values()
              for rule in variant for s in rule.flax if s.operator in (">=", "==", "~=")]
    return str(min(bounds)) if bounds else releases.releases(the_matrix.python)[0]


def main(argv: list[str], the_matrix: matrix.Matrix | None = None, log=print) -> int:
    args = parse_args(argv)
    try:
        the_matrix = the_matrix or matrix.load()
        if args.case not in the_matrix.cases:
            raise BisectError(f"unknown case {args.case!r} (matrix.yaml has: {', '.join(the_matrix.cases)})")
        variants = args.variant or list(the_matrix.cases[args.case])
        unknown = [v for v in variants if v not in the_matrix.cases[args.case]]
        if unknown:
            raise BisectError(f"{args.case} has no variant {unknown[0]!r} (it has: {', '.join(the_matrix.cases[args.case])})")
        first, last = args.between or (default_range(the_matrix), "latest")
        versions = releases.between(the_matrix.python, first, last)
        latest = releases.resolve("latest", the_matrix.python)
        if args.write and versions[-1] != latest:
            raise BisectError(f"--write needs the range to end at the latest release ({latest}), not {versions[-1]}: "
                              "later releases would lose their expectations")
        if len(versions) < 2:
            raise BisectError(f"nothing to bisect: {len(versions)} release(s) between {first} and {last}")
        seeds = [releases.resolve(v.version, the_matrix.python) for v in the_matrix.flax]
        seeds = [s for s in dict.fromkeys(seeds) if s in versions]
        prober = Prober(the_matrix, args.case, BISECT_DIR / args.case, log=log, fresh=args.fresh)
        start = time.monotonic()
        history = analyse(the_matrix, args.case, variants, versions, prober, seeds, log)
    except (BisectError, releases.RegistryError, matrix.MatrixError) as exc:
        print(f"bisect: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    cost = prober.cost
    log(f"{args.case}: {cost['runs']} cell runs ({cost['built']} environments built), {cost['remembered']} answered from "
        f"remembered runs; {time.monotonic() - start:.0f}s in all ({cost['seconds']:.0f}s running cells)")
    print("\n".join(report_lines(history, args.markdown)))
    if args.write:
        return write(the_matrix, history)
    return 0


def write(the_matrix: matrix.Matrix, history: History, path: Path = matrix.MATRIX_FILE) -> int:
    """Rewrite the bisected variants' rules in matrix.yaml (validated first); print the diff."""
    edits = {}
    try:
        for v in history.variants:
            edits[history.case, v] = matrix_edit.rules_for(v, history.segments[v], the_matrix.cases[history.case][v])
        before = path.read_text()
        after = matrix_edit.write(path, edits)
    except (ValueError, matrix.MatrixError) as exc:
        print(f"bisect: error: not written: {exc}", file=sys.stderr)
        return USAGE_ERROR
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "matrix.yaml", "matrix.yaml", lineterm=""))
    print("\n".join(diff) if diff else "matrix.yaml already says this: unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
