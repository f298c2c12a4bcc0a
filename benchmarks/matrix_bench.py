"""Benchmark of the main job: cold, warm with and without the compilation cache, the sequential floor, and uv
against pip for the cold build.

    uv run python benchmarks/matrix_bench.py

- cold: ``nox`` with no environments and an empty compilation cache (the uv package cache warm), building every
  default CPU cell and running it;
- warm: ``nox`` again, every environment reused, with the compilation cache off (FLAX_REGRESSIONS_COMPILE_CACHE=off);
- warm with the cache: ``nox`` again, every environment reused and every program in the cache;
- the five seeded cases: the same warm ``nox`` with the cache, narrowed to the catalogue's first five cases
  (``-k``), so the cost of the catalogue's growth is a ratio from one run;
- floor: the same pytest runs started directly in the prepared environments, one after another, uncached (with the
  environment a cell runs with, its kept bytecode included: running.cells.cell_environment);
- build with uv / build with pip: the environments alone, from the same lock files, with uv against venv + pip.

Each figure is one run, and the ratios come from that one run: the machines are shared and noisy, so compare
the ratios, not the seconds. It moves .envs/ and .jax-cache/ aside and puts them back, so a developer's survive.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flax_regressions.analysis.report import default_cells  # noqa: E402
from flax_regressions.catalogue import reader  # noqa: E402
from flax_regressions.core.workspace import Workspace  # noqa: E402
from flax_regressions.running import compile_cache, envs, harness, specs  # noqa: E402

WORKSPACE = Workspace.at(ROOT)

UNCACHED = {compile_cache.SWITCH: "off"}
# The catalogue as the suite was seeded with it: the cost of the cases added since is measured against these.
SEEDED = ("lstm_vmap", "layernorm_vmap", "dropout_split_rngs", "vmap_while_loop", "rnn_jit")


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ | (env or {})
    )
    return time.perf_counter() - start


def nox(env: dict[str, str] | None = None, pytest_args: tuple[str, ...] = ()) -> float:
    return timed([sys.executable, "-m", "nox", *(["--", *pytest_args] if pytest_args else [])], env)


def floor(the_matrix) -> float:
    total, scratch = 0.0, ROOT / ".bench-results" / "cells"
    for cell in default_cells(the_matrix):
        python = envs.python_of(WORKSPACE.envs / specs.spec_for(the_matrix, cell.flax, "cpu").name)
        command = harness.pytest_command(python, cell, ["-q"], WORKSPACE, scratch)
        total += timed(command, env=harness.cell_environment(WORKSPACE, "cpu", dict(os.environ) | UNCACHED) | UNCACHED)
    shutil.rmtree(scratch.parent, ignore_errors=True)
    return total


def build_with_pip(the_matrix, scratch: Path) -> float:
    """venv + pip from each cell's uv lock: the same packages, the baseline installer."""
    start = time.perf_counter()
    for v in the_matrix.flax:
        name = specs.spec_for(the_matrix, v.version, "cpu").name
        env = scratch / name
        subprocess.run([shutil.which(f"python{the_matrix.python}") or "python3", "-m", "venv", str(env)], check=True)
        subprocess.run(
            [
                env / "bin" / "python",
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
                str(WORKSPACE.envs / name / "requirements.lock"),
            ],
            check=True,
        )
    return time.perf_counter() - start


def build_with_uv(the_matrix, scratch: Path) -> float:
    start = time.perf_counter()
    for v in the_matrix.flax:
        envs.ensure(specs.spec_for(the_matrix, v.version, "cpu"), scratch, log=lambda _: None)
    return time.perf_counter() - start


def main() -> None:
    the_matrix = reader.load()
    print(f"benchmark: {len(default_cells(the_matrix))} CPU cells of the default matrix", flush=True)
    kept = [
        (path, path.with_name(path.name + "-saved-by-benchmark")) for path in (WORKSPACE.envs, WORKSPACE.compile_cache)
    ]
    for path, saved in kept:
        if path.exists():
            path.rename(saved)
    scratch = ROOT / ".bench-envs"
    try:
        figures = {"cold nox": nox()}
        print(f"  cold nox   {figures['cold nox']:7.1f} s  (no environments, empty compilation cache)", flush=True)
        figures["warm nox"] = nox(UNCACHED)
        print(f"  warm nox   {figures['warm nox']:7.1f} s  (compilation cache off)", flush=True)
        figures["seeded cached"] = nox(pytest_args=("-k", " or ".join(SEEDED)))
        print(
            f"  warm nox   {figures['seeded cached']:7.1f} s  (with the compilation cache, the five seeded cases)",
            flush=True,
        )
        figures["warm cached"] = nox()  # last: its report is the one results/ keeps
        print(f"  warm nox   {figures['warm cached']:7.1f} s  (with the compilation cache)", flush=True)
        figures["floor"] = floor(the_matrix)
        print(f"  floor      {figures['floor']:7.1f} s  (the pytest runs alone, one after another)", flush=True)
        shutil.rmtree(scratch, ignore_errors=True)
        figures["build uv"] = build_with_uv(the_matrix, scratch)
        print(f"  build uv   {figures['build uv']:7.1f} s  (environments only, sequential)", flush=True)
        shutil.rmtree(scratch, ignore_errors=True)
        figures["build pip"] = build_with_pip(the_matrix, scratch)
        print(f"  build pip  {figures['build pip']:7.1f} s  (same locks, venv + pip)", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for path, saved in kept:
            if saved.exists():
                shutil.rmtree(path, ignore_errors=True)
                saved.rename(path)
    print(
        "ratios (targets): "
        f"warm with the cache/floor {figures['warm cached'] / figures['floor']:.2f}x (<= 0.35), "
        f"warm/floor {figures['warm nox'] / figures['floor']:.2f}x (<= 1.0), "
        f"cold/floor {figures['cold nox'] / figures['floor']:.2f}x (<= 0.7), "
        f"pip/uv build {figures['build pip'] / figures['build uv']:.1f}x (>= 4), "
        f"all cases/the five seeded ones, warm with the cache {figures['warm cached'] / figures['seeded cached']:.2f}x "
        "(no target: the 1.5x budget is the main job against itself before the catalogue, README)"
    )


if __name__ == "__main__":
    main()
