"""The one file a maintainer pastes and runs: a repro module's variant with exactly what it needs.

The repro module is read with ast, never imported: importing it would need its Flax, and the harness must
not run the repro in its own environment. The same reading gives the report its prose (problem_text) and
the workarounds' source.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flax_regressions.analysis.bugreport import ReportError

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


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
    for node in tree.body[1 if ast.get_docstring(tree) else 0 :]:
        if isinstance(node, DEFINITIONS):
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
        raise ReportError(f"repro/{module.name} defines no function {variant}()")

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
        out += ["", ""] if isinstance(node, DEFINITIONS) else [""]
        out += lines[_first_line(node) - 1 : node.end_lineno]
    out += ["", "", f"{variant}()"]
    return "\n".join(out) + "\n"


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)


def _first_line(node: ast.stmt) -> int:
    """Where a definition's source starts: its first decorator, if any."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def problem_text(module: Path, variant: str = "bug") -> tuple[str, str]:
    """(title, what goes wrong) from the repro module's docstring, and the variant's own docstring.

    The title is the docstring's first line. The description is its paragraphs after that, up to the first
    one starting "Variants:" or "Run:" (those, and all after them, are the suite's business, not the
    maintainer's), less any starting "Upstream:" (the link goes in the report's header instead).
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
    return title.strip(), "\n\n".join(
        paragraphs + [f"The failing call, `{variant}()` in the script below: " + docstring_of(module, variant)]
    )


def _function(module: Path, name: str) -> ast.FunctionDef:
    return next(n for n in ast.parse(module.read_text()).body if isinstance(n, ast.FunctionDef) and n.name == name)


def function_source(module: Path, name: str) -> str:
    """A top-level function's source text, decorators and comments included."""
    node = _function(module, name)
    return "\n".join(module.read_text().splitlines()[_first_line(node) - 1 : node.end_lineno])


def docstring_of(module: Path, name: str) -> str:
    return (ast.get_docstring(_function(module, name)) or "").strip()


def helpers_of(module: Path, name: str) -> list[str]:
    """The module's top-level functions and classes that function ``name`` calls, transitively, in module order."""
    body = ast.parse(module.read_text()).body
    defs = {n.name: n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    seen: set[str] = set()
    queue = [name]
    while queue:
        for node in ast.walk(defs[queue.pop()]):
            if isinstance(node, ast.Name) and node.id in defs and node.id not in seen | {name}:
                seen.add(node.id)
                queue.append(node.id)
    return [n for n in defs if n in seen]
