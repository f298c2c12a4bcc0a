"""Benchmark of scan on a real NNX code base from PyPI, against Python's own ``ast.parse`` of the same files.

    uv run python benchmarks/scan_bench.py [--package easydel==0.3.0] [--hits FILE]

Installs the package (no dependencies) in a temporary directory, and times, in this one process: reading
and parsing every Python file with ``ast.parse`` (the floor: what any Python linter pays), then the scan as the
command runs it (finding the files, parsing them with ast-grep, every case's rules). Each figure is the best of
three; the ratio comes from the same run. Prints the hits per case; --hits writes them as JSON (the precision
sample in the docs reads them).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flax_regressions.analysis.scan import engine, files  # noqa: E402
from flax_regressions.catalogue import reader  # noqa: E402
from flax_regressions.running import uv  # noqa: E402


def unpacked(requirement: str) -> Path:
    """The package, installed once without its dependencies in a temporary directory (outside this checkout, whose
    .gitignore the scan would honour)."""
    cache = Path(tempfile.gettempdir()) / "flax-regressions-bench" / requirement.replace("==", "-")
    if not cache.is_dir():
        command = [uv.uv(), "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(cache)]
        subprocess.run([*command, "--python", sys.executable, requirement], check=True)
    return cache


def best(seconds: list[float]) -> float:
    return min(seconds)


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--package", default="easydel==0.3.0")
    options.add_argument("--hits", type=Path)
    args = options.parse_args()
    code = unpacked(args.package)
    detections = {c: d for c, d in reader.load().detection.items() if d.none is None}
    paths = files.python_files([code], code)
    lines = sum(len(p.read_bytes().splitlines()) for p in paths)
    floor, scan = [], []
    for _ in range(3):
        start = time.perf_counter()
        for path in paths:
            ast.parse(path.read_bytes())
        floor.append(time.perf_counter() - start)
        start = time.perf_counter()
        found = files.python_files([code], code)
        hits = engine.find([engine.parse(p, p.relative_to(code).as_posix()) for p in found], detections)
        scan.append(time.perf_counter() - start)
    print(f"{args.package}: {len(paths)} files, {lines} lines; {len(detections)} cases with rules")
    print(f"  ast.parse  {best(floor):6.2f} s")
    print(f"  scan       {best(scan):6.2f} s   ({best(scan) / best(floor):.2f}x ast.parse; target <= 3x)")
    for case, n in Counter(h.case for h in hits).most_common():
        print(f"  {n:5d}  {case}")
    if args.hits:
        args.hits.write_text(json.dumps([vars(h) for h in hits], indent=1))


if __name__ == "__main__":
    main()
