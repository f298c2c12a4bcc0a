"""The persistent compilation cache never fails or changes a cell: a real cell (the latest Flax, this venv) is
run on a fresh cache, then on the same cache with every entry corrupted, then with a cache it cannot write.
"""

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

from flax_regressions.catalogue import reader
from flax_regressions.core.results import CellId, CellResult, Versions
from flax_regressions.incell import cache_use, context
from flax_regressions.running import compile_cache, harness
from tests.shared_work import ROOT, WORKSPACE

CELL = CellId("latest", "cpu")


def run_cell(tmp_path, name: str, cache_env: dict) -> CellResult:
    cells_dir = tmp_path / name
    command = harness.pytest_command(
        sys.executable, CELL, ["-m", "conformance", "-k", "layernorm_vmap", "-q"], WORKSPACE, cells_dir
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")} | {"JAX_PLATFORMS": "cpu"} | cache_env
    proc = subprocess.run(command, cwd=harness.harness(WORKSPACE), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return CellResult.load(cells_dir / f"{CELL}.json")


def outcomes(result: CellResult) -> list[tuple]:
    return [(r.case, r.variant, r.outcome, r.exception, r.message, r.as_expected) for r in result.records]


def test_the_switch_turns_the_cache_off(tmp_path):
    assert compile_cache.settings(tmp_path, environ={})["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    assert compile_cache.settings(tmp_path, environ={})["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path)
    assert compile_cache.settings(tmp_path, environ={compile_cache.SWITCH: "off"}) == {}


def test_the_cache_tables_agree_with_the_catalogue_they_were_measured_on():
    """What the cache tables claim holds of the catalogue as it is: a case bypassed is a case of the catalogue, a JAX
    that served it wrong is one that was checked (found wrong by checking it), and every default release's pinned
    JAX uses the cache or was found unsafe (a JAX added to the default matrix without that check fails here)."""
    the_matrix = reader.load()
    assert set(compile_cache.SERVED_WRONG) <= set(the_matrix.cases)
    for jaxes in compile_cache.SERVED_WRONG.values():
        assert all(compile_cache.trusted(jax) for jax in jaxes), "found wrong means checked"
    assert all(compile_cache.trusted(v.jax) for v in the_matrix.flax if v.jax)
    assert not compile_cache.trusted(None) and not compile_cache.trusted("0.6.1")  # not checked: no cache


def test_a_cell_bypasses_the_cache_for_the_variants_of_a_case_it_served_wrong_with_its_jax_only(monkeypatch):
    bypassing = []

    @contextmanager
    def bypassed():
        bypassing.append(True)
        yield
        bypassing.pop()

    ran = []
    monkeypatch.setattr(cache_use, "bypassed", bypassed)
    monkeypatch.setattr(context, "run_variant", lambda _dir, case, *a: ran.append((case, bool(bypassing))) or (None, 0))
    for jax in ("0.5.3", "0.6.2"):
        cell = context.CellContext(reader.load(), Versions("0.10.5", jax, jax), "cpu", CellId("0.10.5", "cpu"), ())
        cell.run("vmap_while_loop", "fix_closure")
        cell.run("rnn_jit", "fix_nnx_jit")
    assert ran == [("vmap_while_loop", True), ("rnn_jit", False), ("vmap_while_loop", False), ("rnn_jit", False)]


BYPASS = """
import jax, jax.numpy as jnp
from flax_regressions.incell import cache_use
cache_use.listen()
def compiled(scale):
    with cache_use.counted() as counts:
        jax.jit(lambda x: x * scale + 1.0)(jnp.ones(3)).block_until_ready()
    return counts["requests"]
before = compiled(2.0)
with cache_use.bypassed():
    during = compiled(3.0)
after = compiled(4.0)
print(before, during, after)
"""


@pytest.mark.integration
def test_a_bypassed_block_neither_asks_nor_fills_the_cache_and_the_cache_works_again_after_it(tmp_path):
    cache = tmp_path / "cache"
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
        | {"JAX_PLATFORMS": "cpu"}
        | (compile_cache.settings(cache, environ={}))
    )
    proc = subprocess.run(
        [sys.executable, "-c", BYPASS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, during, after = map(int, proc.stdout.split())
    assert before > 0 and during == 0 and after > 0
    assert len([path for path in cache.iterdir() if path.name.endswith("-cache")]) == before + after


@pytest.mark.e2e
def test_a_corrupted_or_unwritable_cache_never_fails_or_changes_a_cell(tmp_path):
    cache = tmp_path / "cache"
    fresh = run_cell(tmp_path, "fresh", compile_cache.settings(cache, environ={}))
    assert fresh.compile_cache.directory == str(cache) and fresh.compile_cache.requests > 0
    entries = [path for path in cache.iterdir() if path.name.endswith("-cache")]
    assert entries, "the first run wrote no cache entry"

    for path in entries[::2]:  # every other one: the rest are served, so the count is seen working too
        path.write_bytes(b"\x00not an executable" * 7)
    corrupted = run_cell(tmp_path, "corrupted", compile_cache.settings(cache, environ={}))
    assert outcomes(corrupted) == outcomes(fresh)
    assert 0 < corrupted.compile_cache.served < corrupted.compile_cache.requests

    # Read-only: a directory under a regular file cannot be created or written, even by root (CI runs as root,
    # and root writes into a chmod 555 directory regardless).
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    unwritable = run_cell(tmp_path, "unwritable", compile_cache.settings(a_file / "cache", environ={}))
    assert outcomes(unwritable) == outcomes(fresh) and unwritable.compile_cache.served == 0
