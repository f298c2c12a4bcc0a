"""The package's folders are layers: a module imports only from its own layer and the ones below, never in a loop."""

import ast
from pathlib import Path

import pytest

from tests.shared_work import ROOT

PACKAGE = ROOT / "flax_regressions"
LAYERS = ["core", "catalogue", "running", "incell", "analysis", "render", "commands"]  # bottom first
MAX_LINES = 260  # "about 250"


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flax_regressions"):
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("flax_regressions")}
    return found


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 2 and parts[1] in LAYERS else None


@pytest.mark.parametrize("module", sorted(modules()))
def test_a_module_imports_nothing_from_a_higher_layer(module):
    mine = layer(module)
    higher = [m for m in imports(modules()[module]) if layer(m) is not None and mine is not None and layer(m) > mine]
    assert not higher, f"{module} (layer {LAYERS[mine]}) imports {higher}"


def test_no_import_loop():
    known = modules()
    graph = {m: {i for i in imports(p) if i in known and i != m} for m, p in known.items()}

    def reaches(start, goal, seen):
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start])

    loops = [m for m in graph if reaches(m, m, {m})]
    assert not loops, f"import loops through {loops}"


def test_every_module_is_small():
    big = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"
