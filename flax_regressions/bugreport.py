"""Paste-ready upstream bug reports, in the layout of Flax's bug-report issue template.

    python -m flax_regressions.bugreport <case> [--flax V] [--backend B] [--variant bug_...]   (or: nox -s bugreport -- ...)

writes ``reports/<case>-flax-<V>.md`` (``<case>-<variant>-flax-<V>.md`` for another bug variant). A maintainer
must be able to run the repro with one paste, so the report embeds one standalone script: the repro module's
``bug`` variant with exactly the imports and helpers it uses (read with ast, never by importing the module)
and a ``bug()`` call at the bottom. That very script is run in
the release's environment (the cell's, built by envs.ensure) and the traceback it prints goes in the report
as captured; so does ``jax.print_environment_info()`` from the same environment. The table of the versions
where the bug reproduces and where it does not comes from every results file under results/ (the matrix's
cells, the gate's, the bisect's, ``results/matrix.json``); when the requested release has none, its cell is
run on demand for that case, and when no other release has any, the default matrix's are.

Exit status: 0 when the report is written; 1 when the bug does not reproduce on that release (no report: a
report of a bug that does not reproduce is not one to file); 2 on a usage or environment error, one line.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from packaging.version import InvalidVersion, Version

from flax_regressions import cells, envs, matrix, releases
from flax_regressions.cli import Parser
from flax_regressions.gate import normalized, shown_message, shown_path
from flax_regressions.matrix import ROOT
from flax_regressions.results import RESULTS_DIR

REPORTS_DIR = ROOT / "reports"
ON_DEMAND_DIR = RESULTS_DIR / "bugreport" / "cells"
SCRIPT_TIMEOUT_S = 600

# Run in the release's environment: versions first (one JSON line), then JAX's own environment report.
SYSTEM_INFO = r"""
import json, os, platform, sys
from importlib.metadata import version
print(json.dumps({"flax": version("flax"), "jax": version("jax"), "jaxlib": version("jaxlib"),
                  "python": platform.python_version(), "platform": platform.platform(),
                  "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "")}))
import jax
if hasattr(jax, "print_environment_info"):
    jax.print_environment_info()
else:
    print("jax.print_environment_info() does not exist in this JAX")
"""


class ReportError(Exception):
    """A usage or environment problem: no report can be written. Its message is one line."""


# ---------------------------------------------------------------------------------------------------------
# The standalone script


def standalone_script(module: Path, variant: str = "bug") -> str:
    """The ``variant`` function of a repro module with just what it needs, then a call to it: one runnable file.

    What it needs is found by name, transitively: the module's top-level functions, classes and assignments
    that the variant (or something it needs) mentions, and the imports that bind a mentioned name. Top-level
    statements run for their effect (``jax.config.update(...)``) are kept, the ``if __name__`` block and
    ``main`` are not. Definitions keep their source text, comments included, and their order in the module.
    """
    source = module.read_text()
    tree = ast.parse(source, filename=str(module))
    lines = source.splitlines()
    defined: dict[str, ast.stmt] = {}
    imports: list[tuple[ast.stmt, ast.alias, str]] = []
    always: list[ast.stmt] = []
    for node in tree.body[1 if ast.get_docstring(tree) else 0:]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        defined[name.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                imports.append((node, alias, alias.asname or alias.name.split(".")[0]))
        elif not _is_main_guard(node):
            always.append(node)  # a statement run for its effect: keep it
    if variant not in defined or not isinstance(defined[variant], ast.FunctionDef):
        raise ReportError(f"{shown_path(module)} defines no function {variant}()")

    needed: list[ast.stmt] = []
    queue = [defined[variant], *always]
    mentioned: set[str] = set()
    while queue:
        node = queue.pop()
        if any(node is n for n in needed):
            continue
        needed.append(node)
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        mentioned |= names
        queue += [defined[name] for name in names if name in defined]

    chosen_imports: dict[int, list[ast.alias]] = {}
    import_nodes: dict[int, ast.stmt] = {}
    for node, alias, bound in imports:
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if (bound in mentioned and bound not in defined) or is_future:
            chosen_imports.setdefault(id(node), []).append(alias)
            import_nodes[id(node)] = node

    title = (ast.get_docstring(tree) or "").strip().splitlines()
    upstream = [line.strip() for line in title if line.strip().startswith("Upstream:")]
    header = [title[0] if title else f"{module.stem}: {variant}", ""]
    header += upstream + [f"Standalone copy of {variant}() from flax-regressions' repro/{module.name}."]
    out = ['"""' + "\n".join(header) + '\n"""', ""]
    for node in tree.body:
        if id(node) in import_nodes:
            kept = type(node)(**{**{f: getattr(node, f) for f in node._fields}, "names": chosen_imports[id(node)]})
            out.append(ast.unparse(kept))
    for node in sorted(needed, key=lambda n: n.lineno):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        out += ["", ""] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else [""]
        out += lines[start - 1:node.end_lineno]
    out += ["", "", f"{variant}()"]
    return "\n".join(out) + "\n"


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)


def problem_text(module: Path, variant: str = "bug") -> tuple[str, str]:
    """(title, what goes wrong) from the repro module's docstring, and the variant's own docstring.

    The description is the docstring's prose after the title: its "Upstream:", "Variants:" and "Run:"
    paragraphs are the suite's business, not the maintainer's.
    """
    tree = ast.parse(module.read_text())
    doc = ast.get_docstring(tree) or module.stem
    title, _, rest = doc.partition("\n")
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", rest.strip()):
        if paragraph.startswith(("Variants:", "Run:")):
            break
        if paragraph and not paragraph.startswith("Upstream:"):
            paragraphs.append(paragraph)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == variant)
    return title.strip(), "\n\n".join(paragraphs + [f"The failing call, `{variant}()` in the script below: "
                                                     + (ast.get_docstring(function) or "").strip()])


def function_source(module: Path, name: str) -> str:
    source = module.read_text()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "\n".join(source.splitlines()[start - 1:node.end_lineno])


# ---------------------------------------------------------------------------------------------------------
# Running in the release's environment


def run_script(python: Path, script: str, backend: str, name: str) -> tuple[int, str]:
    """Run ``script`` as ``<name>`` in a scratch directory with the release's Python; return (status, output).

    Paths in the output are shortened so that the report names no directory of this machine: the script is
    ``<name>``, and the environment's packages are ``.../site-packages/...``.
    """
    with tempfile.TemporaryDirectory(prefix="flax-bugreport-") as scratch:
        (Path(scratch) / name).write_text(script)
        try:
            proc = subprocess.run([str(python), name], cwd=scratch, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env=_env(backend), timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ReportError(f"{name} ran longer than {SCRIPT_TIMEOUT_S}s in {python.parent.parent.name}") from None
        output = proc.stdout.replace(str(Path(scratch).resolve()) + "/", "").replace(scratch + "/", "")
    site = re.escape(str(python.parent.parent)) + r"/lib/python[0-9.]+/site-packages"
    return proc.returncode, re.sub(site, ".../site-packages", output)


def system_info(python: Path, backend: str) -> tuple[dict, str]:
    """The versions (as a dict) and ``jax.print_environment_info()``'s output, from the release's environment."""
    proc = subprocess.run([str(python), "-c", SYSTEM_INFO], capture_output=True, text=True, env=_env(backend),
                          cwd=tempfile.gettempdir(), timeout=SCRIPT_TIMEOUT_S)
    first, _, rest = proc.stdout.partition("\n")
    try:
        versions = json.loads(first)
    except ValueError:
        raise ReportError(f"could not read the versions of {python.parent.parent.name}: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}") from None
    return versions, rest.strip() or proc.stderr.strip()


def _env(backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | {"JAX_PLATFORMS": backend}


# ---------------------------------------------------------------------------------------------------------
# What is known about the case on every release


def known_outcomes(case: str, backend: str, results_dir: Path | None = None) -> dict[tuple[str, str], dict]:
    """Every recorded run of the case on ``backend``: (flax, jax) -> its records by variant, jaxlib, and sources.

    Cell results files anywhere under results/ (newest first wins), then results/matrix.json's rows for the
    releases no cell file covers. Files that are not cell results are ignored, unreadable ones too.
    """
    results_dir = results_dir or RESULTS_DIR
    found: dict[tuple[str, str], dict] = {}
    files = []
    for path in results_dir.rglob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("cell_outcome") == "ran" and isinstance(data.get("versions"), dict):
            files.append((data.get("updated") or "", path, data))
    merged = results_dir / "matrix.json"
    try:
        rows = json.loads(merged.read_text()).get("cells", []) if merged.exists() else []
    except (OSError, ValueError, AttributeError):
        rows = []
    runs = [(data["versions"], shown_path(path.parent) + "/", data.get("results", []))
            for _, path, data in sorted(files, key=lambda f: f[0], reverse=True) if data.get("backend") == backend]
    runs += [(row, shown_path(merged), [row]) for row in rows if row.get("backend") == backend]
    for versions, source, records in runs:  # newest first: a variant's first record wins
        for record in records:
            if record.get("case") != case or record.get("outcome") not in ("passed", "failed"):
                continue
            entry = found.setdefault((versions.get("flax"), versions.get("jax")),
                                     {"variants": {}, "jaxlib": versions.get("jaxlib"), "sources": set()})
            if record["variant"] not in entry["variants"]:
                entry["variants"][record["variant"]] = record
                entry["sources"].add(source)
    return found


def _version_key(key: tuple[str, str]):
    def v(text):
        try:
            return Version(text or "0")
        except InvalidVersion:
            return Version("0")
    return v(key[0]), v(key[1])


# ---------------------------------------------------------------------------------------------------------
# The report


def render(*, case: str, variant: str, module: Path, upstream: str, versions: dict, env_info: str, script: str,
           script_name: str, status: int, output: str, outcomes: dict, workarounds: list[str], backend: str) -> str:
    title, problem = problem_text(module, variant)
    exception = _exception_of(output)
    reference = {"exception": exception, "message": _last_message(output)}
    flax = versions["flax"]
    lines = [
        f"# {title.rstrip('.')} (Flax {flax}{', ' + exception if exception else ''})",
        "",
        f"<!-- Written by flax-regressions (`nox -s bugreport -- {case} --flax {flax} --backend {backend}`) on "
        f"{datetime.now(timezone.utc).date().isoformat()}. Related upstream issue: {_issue_link(upstream)}. "
        f"Versions table from: {', '.join(sorted(set().union(*(e['sources'] for e in outcomes.values()))))} -->",
        "",
        "### System information",
        f"- OS Platform and Distribution: {versions['platform']}",
        f"- Flax, jax, jaxlib versions: flax {flax}, jax {versions['jax']}, jaxlib {versions['jaxlib']}",
        f"- Python version: {versions['python']}",
        f"- GPU/TPU model and memory: {_accelerator(backend, env_info)}",
        f"- JAX_PLATFORMS: {versions['JAX_PLATFORMS'] or '(unset)'}",
        "",
        "<details><summary><code>jax.print_environment_info()</code></summary>",
        "",
        "```text",
        env_info,
        "```",
        "",
        "</details>",
        "",
        "### Problem you have encountered:",
        "",
        problem,
        "",
        "### What you expected to happen:",
        "",
        _expected(variant, outcomes, flax),
        "",
        "### Logs, error messages, etc:",
        "",
        f"Output of `python {script_name}` on flax {flax}, jax {versions['jax']}, jaxlib {versions['jaxlib']} "
        f"(JAX_PLATFORMS={versions['JAX_PLATFORMS']}), exit status {status}:",
        "",
        "```text",
        output.rstrip(),
        "```",
        "",
        "### Steps to reproduce:",
        "",
        f"`pip install flax=={flax} jax=={versions['jax']} jaxlib=={versions['jaxlib']}`, save this as "
        f"`{script_name}` and run `python {script_name}`:",
        "",
        "```python",
        script.rstrip(),
        "```",
        "",
        "### Where it reproduces",
        "",
        f"`{variant}()` on every Flax/JAX pair with a recorded run (backend {backend}):",
        "",
        f"| Flax | JAX | jaxlib | `{variant}()` (compared with flax {flax}) |",
        "|---|---|---|---|",
    ]
    for (flax_v, jax_v), entry in sorted(outcomes.items(), key=lambda item: _version_key(item[0])):
        record = entry["variants"].get(variant)
        if record is None:
            continue
        lines.append(f"| {flax_v} | {jax_v} | {entry['jaxlib'] or ''} | {_result(record, reference)} |")
    lines += ["", "### Known workaround", ""]
    if not workarounds:
        lines.append(f"None of the suite's workarounds for this case works on flax {flax}.")
    for fix in workarounds:
        doc = _docstring_of(module, fix)
        helpers = [name for name in _helpers_of(module, fix) if f"def {name}(" not in script]
        lines += [f"`{fix}()` works on flax {flax}{': ' + doc.splitlines()[0] if doc else '.'}", "",
                  "```python", function_source(module, fix), "```", ""]
        if helpers:
            lines += [f"(Besides the script's helpers it uses {', '.join(f'`{h}`' for h in helpers)}, which check its "
                      f"result; all are in flax-regressions' `repro/{module.name}`.)", ""]
    return "\n".join(lines).rstrip() + "\n"


EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))(?::\s*(.*)|$)")


def _exception_line(output: str):
    """The traceback's ``module.Type: message`` line (the last one: JAX may print a note after it)."""
    for line in reversed(output.strip().splitlines()):
        match = EXCEPTION_LINE.match(line)
        if match:
            return match
    return None


def _exception_of(output: str) -> str | None:
    """The exception type the script died of (``flax.errors.TraceContextError`` -> ``TraceContextError``)."""
    match = _exception_line(output)
    return match.group(1).rsplit(".", 1)[-1] if match else None


def _last_message(output: str) -> str | None:
    match = _exception_line(output)
    return (match.group(2) or "").strip() if match else None


def _result(record: dict, reference: dict) -> str:
    """What the variant did on one release, next to what it does on the report's release (``reference``)."""
    if record["outcome"] == "passed":
        return "runs without error"
    message = shown_message(record.get("message"), 100)
    if record.get("exception") != reference.get("exception"):
        return f"another exception: {record.get('exception')}: {message}"
    if normalized(record.get("message")) != normalized(reference.get("message")):
        return f"same exception, another message: {record.get('exception')}: {message}"
    return f"same error: {record.get('exception')}: {message}"


def _expected(variant: str, outcomes: dict, flax: str) -> str:
    passing = sorted({k[0] for k, e in outcomes.items()
                      if e["variants"].get(variant, {}).get("outcome") == "passed"}, key=lambda v: _version_key((v, "")))
    text = f"`{variant}()` runs to the end without an exception."
    if passing:
        text += f" It does on flax {', '.join(passing)} (see the table below)."
    return text


def _accelerator(backend: str, env_info: str) -> str:
    if backend == "cpu":
        return "none (CPU backend)"
    gpu = re.search(r"^\|\s+\d+\s+(.+?)\s{2,}", env_info, re.M)  # nvidia-smi's table, printed by JAX
    return gpu.group(1).strip() if gpu else f"{backend} (see jax.print_environment_info() below)"


def _issue_link(upstream: str) -> str:
    match = re.fullmatch(r"([\w.-]+/[\w.-]+)#(\d+)", upstream or "")
    return f"https://github.com/{match.group(1)}/issues/{match.group(2)}" if match else (upstream or "none recorded")


def _helpers_of(module: Path, name: str) -> list[str]:
    """The module's top-level functions and classes that function ``name`` calls, transitively, in module order."""
    body = ast.parse(module.read_text()).body
    defs = {n.name: n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    seen, queue = set(), [name]
    while queue:
        for node in ast.walk(defs[queue.pop()]):
            if isinstance(node, ast.Name) and node.id in defs and node.id not in seen | {name}:
                seen.add(node.id)
                queue.append(node.id)
    return [n for n in defs if n in seen]


def _docstring_of(module: Path, name: str) -> str:
    node = next(n for n in ast.parse(module.read_text()).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return (ast.get_docstring(node) or "").strip()


# ---------------------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser("bugreport", description="Write a paste-ready upstream bug report for one case.")
    parser.add_argument("case", help="a case of matrix.yaml (its repro is repro/<case>.py)")
    parser.add_argument("--flax", default="latest", metavar="V", help="the release the report is for (default: latest)")
    parser.add_argument("--backend", default="cpu", help="the JAX backend (default: cpu)")
    parser.add_argument("--variant", default="bug", help="the bug variant to report (default: bug)")
    return parser.parse_args(argv)


def _ensure_outcomes(the_matrix, case: str, flax: str, backend: str, log) -> dict:
    """Known outcomes, with the requested release's cell (and, when nothing else is known, the matrix's) run now."""
    outcomes = known_outcomes(case, backend)
    wanted = [] if any(k[0] == flax for k in outcomes) else [flax]
    if not any(k[0] != flax for k in outcomes):
        wanted += [releases.resolve(v.version, the_matrix.python) for v in the_matrix.flax]
    for version in dict.fromkeys(wanted):
        log(f"no recorded results for {case} on flax {version} ({backend}): running its cell")
        cells.run_cell(the_matrix, version, backend, ["-m", "conformance", "-k", case], cells_dir=ON_DEMAND_DIR, log=log)
    return known_outcomes(case, backend) if wanted else outcomes


def report(args: argparse.Namespace, log=print) -> tuple[int, Path | None, str]:
    """Write the report; return (exit status, its path or None, a one-line summary)."""
    the_matrix = matrix.load()
    if args.case not in the_matrix.cases:
        raise ReportError(f"unknown case {args.case!r} (matrix.yaml has: {', '.join(the_matrix.cases)})")
    if args.variant not in the_matrix.cases[args.case] or not args.variant.startswith("bug"):
        bugs = [v for v in the_matrix.cases[args.case] if v.startswith("bug")]
        raise ReportError(f"{args.case} has no bug variant {args.variant!r} (it has: {', '.join(bugs)})")
    if args.backend not in the_matrix.backends:
        raise ReportError(f"unknown backend {args.backend!r} (matrix.yaml has: {', '.join(the_matrix.backends)})")
    reason = cells.missing_backend(the_matrix, args.backend)
    if reason:
        raise ReportError(f"backend {args.backend}: {reason}")
    flax = releases.resolve(args.flax, the_matrix.python)
    python = envs.ensure(cells.spec_for(the_matrix, flax, args.backend), log=log)

    module = the_matrix.repro_dir / f"{args.case}.py"
    script = standalone_script(module, args.variant)
    script_name = f"repro_{args.case}.py"
    status, output = run_script(python, script, args.backend, script_name)
    outcomes = _ensure_outcomes(the_matrix, args.case, flax, args.backend, log)
    if status == 0:
        where = sorted({k[0] for k, e in outcomes.items() if e["variants"].get(args.variant, {}).get("outcome") == "failed"},
                       key=lambda v: _version_key((v, "")))
        others = [v for v in the_matrix.cases[args.case] if v.startswith("bug") and v != args.variant]
        return 1, None, (f"{args.case}-{args.variant} does not reproduce on flax {flax} ({args.backend}): the script ran "
                         f"without error; recorded as failing on: {', '.join(where) or 'no release'}"
                         + (f"; try --variant {' or '.join(others)}" if others else ""))
    versions, env_info = system_info(python, args.backend)
    mine = next((e for k, e in outcomes.items() if k == (flax, versions["jax"])), None) or next(
        (e for k, e in outcomes.items() if k[0] == flax), {"variants": {}})
    workarounds = [v for v, r in mine["variants"].items() if not v.startswith("bug") and r.get("outcome") == "passed"]
    text = render(case=args.case, variant=args.variant, module=module, upstream=the_matrix.upstream.get(args.case, ""),
                  versions=versions, env_info=env_info, script=script, script_name=script_name, status=status,
                  output=output, outcomes=outcomes, workarounds=sorted(workarounds), backend=args.backend)
    path = REPORTS_DIR / f"{args.case}{'' if args.variant == 'bug' else '-' + args.variant}-flax-{flax}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return 0, path, f"wrote {shown_path(path)}: {args.case}-{args.variant} on flax {flax} ({args.backend}) raises {_exception_of(output) or 'an error'}"


def main(argv: list[str] | None = None) -> int:
    """Write the report; print where; return the exit status (0 written, 1 does not reproduce, 2 error)."""
    args = parse_args(argv)
    try:
        status, _, summary = report(args, log=lambda line: print(f"bugreport: {line}", file=sys.stderr))
    except (ReportError, matrix.MatrixError, releases.RegistryError, envs.EnvError) as exc:
        print(f"bugreport: error: {exc}", file=sys.stderr)
        return 2
    print(f"bugreport: {summary}", file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main())
