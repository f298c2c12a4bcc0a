"""The detection rules checked against the catalogue's own modules, so they cannot drift from the cases they find.

For a case with rules: each of its ``bug*`` variants is found (a hit in the code the variant runs: its function and
the module's functions and classes it names, transitively), unless ``missed`` says why the source cannot show it;
each fix in ``avoided_by`` is not, in its own code (helpers it shares with the bug, such as the checks of the
result, are the module's scaffolding); a bug listed under ``missed`` is indeed not found. A rule ast-grep cannot compile
is a problem too. Run by ``validate`` and by the tests; every problem is one line naming the matrix file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ast_grep_py import SgRoot

from flax_regressions.analysis.scan import engine
from flax_regressions.catalogue.model import Detection, Matrix, MatrixError
from flax_regressions.core.variant import is_bug


def check(the_matrix: Matrix, shown: dict[Path, str] | None = None) -> None:
    """Raise MatrixError on the first problem (see the module docstring)."""
    for case, detection in the_matrix.detection.items():
        if detection.none is not None:
            continue
        problem = problems(case, detection, the_matrix.repro_file(case), list(the_matrix.cases[case]))
        if problem:
            what, where = problem
            path = the_matrix.declared_in[case]
            raise MatrixError(path, detection.line, where, what, (shown or {}).get(path))


def problems(case: str, detection: Detection, module: Path, variants: list[str]) -> tuple[str, str] | None:
    """The first problem of one case's rules against its module, as (what, where), or None."""
    why = compile_problem(detection.rule)
    if why:
        return (f"ast-grep cannot use the rule: {why}", f"cases.{case}.detect.rule")
    hits = engine.find([engine.parse(module, str(module))], {case: detection})
    lines, where = {hit.line for hit in hits}, f"cases.{case}.detect"
    spans, own = code_spans(module)
    for variant in variants:
        found = sorted(lines & (spans if is_bug(variant) else own).get(variant, set()))
        if is_bug(variant) and variant not in detection.missed and not found:
            why = "the rule finds nothing in the code it runs (fix the rule, or give the reason under missed)"
            return (f"{variant}: {why}", where)
        if variant in detection.missed and found:
            return (f"{variant}: listed under missed, but the rule finds line {found[0]} of {module.name}", where)
        if variant in detection.avoided_by and found:
            return (f"{variant}: listed under avoided_by, but the rule finds line {found[0]} of {module.name}", where)
    return None


def code_spans(module: Path) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Each top-level function's lines, with those of the module's functions and classes it names, transitively;
    and its own lines alone."""
    tree = ast.parse(module.read_bytes())
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    named = {name: {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & set(defs) for name, node in defs.items()}
    spans, own = {}, {}
    for name in defs:
        own[name] = set(range(defs[name].lineno, (defs[name].end_lineno or 0) + 1))
        reach, todo = {name}, [name]
        while todo:
            for other in named[todo.pop()] - reach:
                reach.add(other)
                todo.append(other)
        spans[name] = {line for n in reach for line in range(defs[n].lineno, (defs[n].end_lineno or 0) + 1)}
    return spans, own


def compile_problem(rule: dict) -> str | None:
    """Why ast-grep cannot compile ``rule``, in one line (its first line, and the innermost cause of its
    backtrace-long message), or None."""
    try:
        SgRoot("", "python").root().find_all({"rule": rule})  # type: ignore[call-overload]
    except Exception as exc:  # ast-grep-py raises Exception or RuntimeError, with a Rust backtrace
        return _one_line(exc)
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).split("Stack backtrace")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line.split(": ", 1)[1] for line in lines if line[:1].isdigit() and ": " in line]
    return f"{lines[0]}: {causes[-1]}" if causes else (lines[0] if lines else type(exc).__name__)
