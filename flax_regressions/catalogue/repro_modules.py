"""The repro modules matrix.yaml names, read without importing them (no Flax): their names and their source.

A case id is a module's name (``repro/<case>.py``, run in a cell as ``import <case>``), part of every test id
(``<case>-<variant>``) and of file names (reports/<case>-flax-<version>.md), so it must be a Python identifier
short enough for a file name. A module must compile: a syntax error or bytes that are not UTF-8 would otherwise
be a traceback from whichever session reads the module first. Both are matrix problems, one line each.

An import that fails inside a module (a package missing from a cell's environment) cannot be seen without
importing it, which validation never does: the cell's loader reports it, for that case only (incell.repros).
"""

from __future__ import annotations

import ast
import keyword
from pathlib import Path

from flax_regressions.core import variant as variant_name

MAX_ID_BYTES = 100  # the longest file name made from a case id, reports/<case>-flax-<version>.md, stays under 255


class ModuleProblem(Exception):
    """Why a repro module cannot be read or compiled; ``line``: where in the module, None for the whole file."""

    def __init__(self, what: str, line: int | None = None):
        super().__init__(what)
        self.what, self.line = what, line


def id_problem(case: str) -> str | None:
    """Why ``case`` cannot name a repro module, or None when it can."""
    if not case.isidentifier() or keyword.iskeyword(case):
        return "a case id is a Python identifier (its module is repro/<case>.py, imported as <case>)"
    if len(case.encode()) > MAX_ID_BYTES:
        return f"a case id names files: at most {MAX_ID_BYTES} bytes, not {len(case.encode())}"
    return None


def variant_functions(module: Path) -> list[str]:
    """The variant functions a repro module defines, in order; ModuleProblem when the module does not compile."""
    try:
        source = module.read_bytes()
    except OSError as exc:
        raise ModuleProblem(f"cannot read: {exc.strerror}") from None
    try:  # from bytes, as the import reads it: its encoding (UTF-8, or its coding line) is checked too
        tree = ast.parse(source, filename=str(module))
        compile(tree, str(module), "exec")  # what parses but does not compile: 'return' outside a function, ...
    except SyntaxError as exc:
        raise ModuleProblem(f"does not compile: {exc.msg}", exc.lineno) from None
    except ValueError as exc:  # null bytes, on Python 3.11
        raise ModuleProblem(f"does not compile: {exc}") from None
    variants = [
        n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and variant_name.NAME.match(n.name)
    ]
    for node in variants:
        if isinstance(node, ast.AsyncFunctionDef):
            raise ModuleProblem(
                f"{node.name}() is a coroutine function (async def): calling it runs none of its body", node.lineno
            )
        if _yields(node):
            raise ModuleProblem(
                f"{node.name}() is a generator function (it yields): calling it runs none of its body", node.lineno
            )
    return [node.name for node in variants]


def _yields(function: ast.FunctionDef) -> bool:
    """Whether the function's own body yields (a yield inside a nested function or class is that one's)."""
    todo = list(ast.iter_child_nodes(function))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return False


def imports_jax(module: Path) -> bool:
    """Whether the module imports JAX or Flax at its top level (so a cell running it imports JAX anyway)."""
    try:
        tree = ast.parse(module.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    names = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in tree.body if isinstance(n, ast.ImportFrom)]
    return any(name.split(".")[0] in ("jax", "flax") for name in names)
