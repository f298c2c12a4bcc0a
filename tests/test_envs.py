"""Environment specs, release resolution and uv failure messages. No network, no Flax."""

import shutil
from datetime import UTC, date, datetime

import pytest

from flax_regressions.catalogue import reader
from flax_regressions.commands.cli import resolve_workspace
from flax_regressions.core.workspace import ENVDIR_ENV, Workspace
from flax_regressions.running import cells, envs, registry, specs, uv
from tests.test_matrix import GOOD, write

PUBLISHED = {
    "0.10.2": (datetime(2024, 11, 19, 19, 58, tzinfo=UTC), ">=3.10"),
    "0.10.5": (datetime(2025, 3, 31, 15, 18, tzinfo=UTC), ">=3.10"),
    "0.10.6": (datetime(2025, 4, 23, 20, 27, tzinfo=UTC), ">=3.10"),
    "0.12.8": (datetime(2026, 7, 20, 18, 29, tzinfo=UTC), ">=3.11"),
    "0.12.12": (datetime(2026, 10, 27, 1, 30, tzinfo=UTC), ">=3.12"),
    "0.13.0rc1": (datetime(2026, 11, 1, tzinfo=UTC), ">=3.12"),
}


@pytest.fixture
def fake_registry(monkeypatch):
    monkeypatch.setattr(registry, "published", lambda package="flax": PUBLISHED)
    monkeypatch.setattr(registry, "yanked", lambda package="flax": {})


def test_latest_is_the_newest_final_release_for_the_python(fake_registry):
    assert registry.resolve("latest", "3.12") == "0.12.12"
    assert registry.resolve("latest", "3.11") == "0.12.8"
    assert registry.releases("3.12") == ["0.10.2", "0.10.5", "0.10.6", "0.12.8", "0.12.12"]


def test_an_unknown_release_names_the_nearest_ones(fake_registry):
    with pytest.raises(
        registry.RegistryError,
        match=r"^flax 0.10.55 is not a release on the registry \(nearest: 0.10.2, 0.10.5, 0.10.6\)",
    ):
        registry.resolve("0.10.55", "3.12")


def _file(uploaded: str, yanked: bool = False, reason: str | None = None) -> dict:
    """One file of a release, as the registry's JSON API lists it."""
    return {"upload_time_iso_8601": uploaded, "requires_python": ">=3.11", "yanked": yanked, "yanked_reason": reason}


def test_a_yanked_release_is_named_yanked_with_the_registrys_reason(monkeypatch):
    """From the registry's own JSON (faked here): a release whose files are all yanked is never installed, and
    asking for it says so, with the reason its maintainers gave."""
    project = {
        "releases": {
            "0.12.10": [_file("2026-09-01T10:00:00Z")],
            "0.12.11": [
                _file("2026-10-01T10:00:00Z", True, "traverse utils bug"),
                _file("2026-10-01T10:01:00Z", True, "traverse utils bug"),
            ],
            "0.12.12": [_file("2026-10-27T01:30:00Z"), _file("2026-10-27T01:31:00Z", True, "a broken wheel")],
            "0.7.1": [_file("2023-06-01T10:00:00Z", True)],
        }
    }
    monkeypatch.setattr(registry, "_project", lambda package: project)
    registry.published.cache_clear()
    registry.yanked.cache_clear()
    try:
        assert registry.releases("3.12") == ["0.12.10", "0.12.12"]  # one yanked file does not yank its release
        with pytest.raises(registry.RegistryError) as info:
            registry.resolve("0.12.11", "3.12")
        assert str(info.value) == (
            "flax 0.12.11 is yanked on the registry (reason: traverse utils bug); a yanked "
            "release is never installed (nearest: 0.12.10, 0.12.12)"
        )
        with pytest.raises(
            registry.RegistryError, match=r"^flax 0.7.1 is yanked on the registry \(reason: none given\)"
        ):
            registry.resolve("0.7.1", "3.12")
        with pytest.raises(registry.RegistryError, match=r"^flax 0.12.13 is not a release on the registry"):
            registry.resolve("0.12.13", "3.12")
    finally:
        registry.published.cache_clear()
        registry.yanked.cache_clear()


def test_a_release_for_another_python_is_refused(fake_registry):
    with pytest.raises(registry.RegistryError, match="flax 0.12.12 does not support Python 3.11"):
        registry.resolve("0.12.12", "3.11")


def test_cutoff_is_the_day_after_the_release(fake_registry):
    assert registry.cutoff("0.10.5") == date(2025, 4, 1)


def test_unreachable_registry_is_one_line(monkeypatch):
    registry.published.cache_clear()
    monkeypatch.setattr(registry, "PYPI_JSON", "http://127.0.0.1:9/{package}/json")
    with pytest.raises(
        registry.RegistryError, match=r"^cannot reach the package registry \(http://127.0.0.1:9/flax/json\)"
    ):
        registry.published()
    registry.published.cache_clear()


def test_cell_spec_pins_the_matrix_jax_and_the_cutoff(tmp_path, fake_registry):
    m = reader.load(write(tmp_path, GOOD))
    spec = specs.spec_for(m, "0.10.5", "cpu")
    assert spec.requirements()[:3] == ["flax==0.10.5", "jax==0.5.3", "jaxlib==0.5.3"]
    assert spec.cutoff == date(2025, 4, 1) and spec.name == "flax-0.10.5-cpu"
    assert set(specs.cell_tools()) <= set(spec.requirements())
    latest = specs.spec_for(m, "latest", "cuda")
    assert latest.requirements()[:2] == ["flax==0.12.12", "jax[cuda12]"]
    assert latest.key() != spec.key() and spec.key() == specs.spec_for(m, "0.10.5", "cpu").key()


def built(envs_dir, spec):
    """What a healthy built environment has on disk, as far as the harness looks: stamp, Python, the packages."""
    from flax_regressions.core.files import write_json

    env = envs_dir / spec.name
    write_json(env / envs.STAMP, {"key": spec.key(), "spec": {"cutoff": spec.cutoff.isoformat()}})
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").touch()
    site = env / "lib" / "python3.12" / "site-packages"
    for name, version in (("flax", spec.flax), ("jax", spec.jax), ("jaxlib", spec.jax)):
        (site / name).mkdir(parents=True)
        (site / f"{name}-{version}.dist-info").mkdir()
    return env


def test_a_stamped_environment_is_reused_without_uv(tmp_path, fake_registry, monkeypatch):
    spec = specs.spec_for(reader.load(write(tmp_path, GOOD)), "0.10.5", "cpu")
    built(tmp_path / ".envs", spec)
    monkeypatch.setattr(envs, "_uv", lambda *a, **k: pytest.fail("uv must not run for an unchanged environment"))
    logs = []
    assert envs.ensure(spec, tmp_path / ".envs", log=logs.append) == tmp_path / ".envs" / spec.name / "bin" / "python"
    assert logs == [f"reusing .envs/{spec.name} (pins unchanged)"]


@pytest.mark.parametrize(
    "damage, why",
    [
        (
            lambda env: shutil.rmtree(env / "lib/python3.12/site-packages/jaxlib"),
            "jaxlib is missing from site-packages",
        ),
        (
            lambda env: shutil.rmtree(env / "lib/python3.12/site-packages/flax-0.10.5.dist-info"),
            "flax 0.10.5 is not installed (no package metadata)",
        ),
        (lambda env: (env / "bin/python").unlink(), "its Python is missing"),
    ],
)
def test_a_damaged_environment_is_rebuilt_saying_why(tmp_path, fake_registry, monkeypatch, damage, why):
    spec = specs.spec_for(reader.load(write(tmp_path, GOOD)), "0.10.5", "cpu")
    damage(built(tmp_path / ".envs", spec))
    calls = []
    monkeypatch.setattr(envs, "_uv", lambda spec, *args, **k: calls.append(args[0]))
    logs = []
    envs.ensure(spec, tmp_path / ".envs", log=logs.append)
    assert logs[0] == f"rebuilding .envs/{spec.name}: {why}"
    assert calls == ["venv", "pip", "pip"]


def test_a_built_cell_runs_with_no_network_at_all(tmp_path, fake_registry, monkeypatch):
    the_matrix = reader.load(write(tmp_path, GOOD))
    spec = specs.spec_for(the_matrix, "0.10.5", "cpu")
    built(tmp_path / ".envs", spec)

    monkeypatch.setattr(registry, "published", lambda package="flax": pytest.fail("the registry was asked"))
    monkeypatch.setattr(envs, "_uv", lambda *a, **k: pytest.fail("uv ran"))
    ran = []
    cells.run_cell(
        Workspace.at(tmp_path),
        the_matrix,
        "0.10.5",
        "cpu",
        cells_dir=tmp_path / "cells",
        log=lambda _: None,
        runner=lambda cmd, env, cwd: ran.append((cmd, env)) or 0,
    )
    [(command, env)] = ran
    assert command[0] == str(tmp_path / ".envs" / spec.name / "bin" / "python")
    # the cell keeps the bytecode it compiles, in the work directory, even where PYTHONDONTWRITEBYTECODE is set
    assert env["PYTHONDONTWRITEBYTECODE"] == "" and env["PYTHONPYCACHEPREFIX"] == str(tmp_path / ".envs" / "bytecode")


def test_envdir_moves_the_environments_and_their_bytecode_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENVDIR_ENV, "shared")
    workspace = resolve_workspace(tmp_path / "work", None)
    assert (workspace.envs, workspace.bytecode, workspace.results) == (
        tmp_path / "shared",
        tmp_path / "shared" / "bytecode",
        tmp_path / "work" / "results",
    )  # relative: to the cwd
    assert resolve_workspace(tmp_path / "work", tmp_path / "given").envs == tmp_path / "given"  # --envdir first


UNREACHABLE = """\
error: Request failed after 3 retries
  Caused by: Failed to fetch: `https://pypi.org/simple/flax/`
  Caused by: error sending request for url (https://pypi.org/simple/flax/)
  Caused by: client error (Connect)
  Caused by: dns error: failed to lookup address information: Name or service not known
"""

UNSATISFIABLE = """\
  x No solution found when resolving dependencies:
  `-> Because there is no version of flax==0.10.55 and you require flax==0.10.55, we can conclude that your
      requirements are unsatisfiable.
"""


def test_uv_failures_become_one_line():
    assert uv.explain("flax-0.10.5-cpu", UNREACHABLE) == (
        "could not install flax-0.10.5-cpu: cannot reach the package registry "
        "(dns error: failed to lookup address information: Name or service not known)"
    )
    assert uv.explain("flax-0.10.55-cpu", UNSATISFIABLE) == (
        "could not install flax-0.10.55-cpu: Because there is no version of flax==0.10.55 and you require "
        "flax==0.10.55, we can conclude that your requirements are unsatisfiable."
    )
    assert uv.explain("x", "error: something odd\nmore") == "could not install x: error: something odd"
