"""A team's own lock (--lock): the three formats read into pins, the environments built from them (uv faked), and
the gate's refusal of a file that is not a lock. The installed tool's gate on the fixture repository with its lock,
end to end: tests/test_tool.py."""

import json
import subprocess
import sys
from datetime import date

import pytest

from flax_regressions.catalogue import reader
from flax_regressions.running import envs, locks, specs
from tests.shared_work import ROOT, WORKSPACE
from tests.test_matrix import GOOD, write


def read(tmp_path, name: str, text: str, python: str = "3.12") -> locks.Lock:
    path = tmp_path / name
    path.write_text(text)
    return locks.read(path, python)


def pins(lock: locks.Lock) -> list[str]:
    return [str(p) for p in lock.pins]


def test_a_requirements_file_of_pins_with_hashes_markers_and_comments(tmp_path):
    lock = read(
        tmp_path,
        "requirements.txt",
        (
            "# uv pip compile --generate-hashes\n"
            "Flax==0.10.5 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb\n"
            "jax==0.5.3  # via flax\n"
            "jax_cuda12_plugin==0.5.3 ; sys_platform == 'linux'\n"
            "numpy==2.0.2 ; python_version < '3.10'\n"
            "numpy==2.2.4 ; python_version >= '3.10'\n"
            "pywin32==308 ; sys_platform == 'win32'\n\n"
        ),
    )
    assert pins(lock) == (
        ["flax==0.10.5", "jax==0.5.3", "jax-cuda12-plugin==0.5.3", "numpy==2.2.4"]
        if sys.platform == "linux"
        else ["flax==0.10.5", "jax==0.5.3", "numpy==2.2.4"]
    )
    assert lock.version("flax") == "0.10.5" and lock.version("jax_cuda12_plugin") in ("0.5.3", None)
    assert lock.requirements() == ("numpy==2.2.4",)
    assert lock.jax_pins() == tuple(p for p in pins(lock) if p.startswith("jax"))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("flax==0.10.5\nnumpy>=1.26\n", r"requirements.txt:2: 'numpy>=1.26' is not pinned with name==version$"),
        (
            "flax==0.10.5\n--index-url https://x\n",
            r"requirements.txt:2: --index-url is not supported: give a file of "
            r"name==version pins$",
        ),
        ("flax==0.10.5\n\nnumpy==2.*\n", r"requirements.txt:3: 'numpy==2.\*' is not pinned"),
        ("flax==0.10.5\nnot a requirement!\n", r"requirements.txt:2: not a requirement: "),
        (
            "numpy==2.2.4\nnumpy==2.2.5\n",
            r"requirements.txt:2: numpy is pinned twice for Python 3.12 \(2.2.4 at .*requirements.txt:1, 2.2.5 here\)$",
        ),
        ("# nothing\n", r"requirements.txt: no pinned package for Python 3.12$"),
    ],
)
def test_a_requirements_file_that_is_not_a_lock_is_one_line_naming_the_line(tmp_path, text, error):
    with pytest.raises(locks.LockError, match=error):
        read(tmp_path, "requirements.txt", text)


def test_a_missing_lock_file_is_one_line(tmp_path):
    with pytest.raises(locks.LockError, match=r"^--lock .*nope.txt: cannot read it \(No such file or directory\)$"):
        locks.read(tmp_path / "nope.txt", "3.12")


PYLOCK = """\
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11"

[[packages]]
name = "my-project"
directory = { path = ".", editable = true }

[[packages]]
name = "flax"
version = "0.10.5"
index = "https://pypi.org/simple"

[[packages]]
name = "ml_dtypes"
version = "0.5.1"

[[packages]]
name = "numpy"
version = "1.26.4"
marker = "python_full_version < '3.12'"

[[packages]]
name = "numpy"
version = "2.2.4"
marker = "python_full_version >= '3.12'"
"""


def test_a_pylock_toml_pins_its_packages_for_the_cells_python(tmp_path):
    assert pins(read(tmp_path, "pylock.toml", PYLOCK)) == ["flax==0.10.5", "ml-dtypes==0.5.1", "numpy==2.2.4"]
    assert pins(read(tmp_path, "pylock.train.toml", PYLOCK, "3.11")) == [
        "flax==0.10.5",
        "ml-dtypes==0.5.1",
        "numpy==1.26.4",
    ]
    with pytest.raises(locks.LockError, match=r"pylock.toml: packages\[2\] \(flax\): no version: cannot pin it$"):
        read(tmp_path, "pylock.toml", PYLOCK.replace('version = "0.10.5"\n', ""))
    with pytest.raises(locks.LockError, match=r"pylock.toml: not TOML: "):
        read(tmp_path, "pylock.toml", "[[packages]\n")


def test_this_repositorys_own_uv_lock_gives_what_uv_sync_installs():
    """The walk from the project through its dependencies, extras and groups, markers evaluated: for Python 3.12 the
    dev environment's packages (uv sync installed exactly these: 49, the project itself left out)."""
    lock = locks.read(ROOT / "uv.lock", "3.12")
    assert "flax-regressions" not in {p.name for p in lock.pins} and len(lock.pins) > 30
    assert lock.version("nox") and lock.version("pytest") and lock.version("jax") == lock.version("jaxlib")
    older = locks.read(ROOT / "uv.lock", "3.11")  # the lock forks on the Python: Flax 0.12.12 needs 3.12
    assert older.version("flax") != lock.version("flax")


UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "team"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "colorama", marker = "sys_platform == 'win32'" },
    { name = "flax" },
]

[package.dev-dependencies]
test = [{ name = "pytest" }]

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "flax"
version = "0.10.5"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "jax" }]

[[package]]
name = "jax"
version = "0.5.3"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pytest"
version = "8.3.5"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "unused"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
"""


def test_a_uv_lock_follows_the_projects_edges_and_leaves_the_project_out(tmp_path):
    lock = read(tmp_path, "uv.lock", UV_LOCK)
    assert pins(lock) == [
        "flax==0.10.5",
        "jax==0.5.3",
        "pytest==8.3.5",
    ]  # no colorama off Windows, no unreachable package
    with pytest.raises(locks.LockError, match=r"uv.lock: package\[4\] \(jax\): comes from git, not a registry"):
        read(
            tmp_path,
            "uv.lock",
            UV_LOCK.replace(
                'version = "0.5.3"\nsource = { registry = "https://pypi.org/simple" }',
                'version = "0.5.3"\nsource = { git = "https://github.com/jax-ml/jax" }',
            ),
        )


def test_the_digest_is_the_pins_not_the_file(tmp_path):
    a = read(tmp_path, "requirements.txt", "flax==0.10.5\njax==0.5.3\n")
    b = read(
        tmp_path,
        "pylock.toml",
        '[[packages]]\nname = "jax"\nversion = "0.5.3"\n[[packages]]\nname = "flax"\nversion = "0.10.5"\n',
    )
    c = read(tmp_path, "other.txt", "flax==0.10.5\njax==0.6.0\n")
    assert a.digest == b.digest != c.digest


@pytest.fixture
def lock_spec(tmp_path, monkeypatch):
    """The spec of flax 0.11.0 built from a lock pinning flax 0.10.5 and jax 0.5.3 (no registry: a fixed cut-off)."""
    the_matrix = reader.load(write(tmp_path, GOOD))
    lock = read(tmp_path, "requirements.txt", "flax==0.10.5\njax==0.5.3\njaxlib==0.5.3\nnumpy==2.2.4\n")
    monkeypatch.setattr(specs.registry, "cutoff", lambda version, package="flax": date(2025, 7, 30))
    monkeypatch.setattr(specs.registry, "resolve", lambda requested, python: requested)
    return the_matrix, lock, specs.spec_for(the_matrix, "0.11.0", "cpu", lock=lock)


def test_a_lock_spec_pins_the_lock_but_flax_and_resolves_with_no_cutoff(lock_spec):
    the_matrix, lock, spec = lock_spec
    assert spec.requirements()[:5] == ["flax==0.11.0", "jax", "jax==0.5.3", "jaxlib==0.5.3", "numpy==2.2.4"]
    assert spec.resolution_limits() == [] and spec.locked
    catalogue = specs.spec_for(the_matrix, "0.11.0", "cpu")
    assert (
        catalogue.resolution_limits() == ["--exclude-newer", "2025-07-30T00:00:00Z"] and catalogue.key() != spec.key()
    )
    assert specs.envs_dir_for(WORKSPACE, None, lock) == WORKSPACE.envs / f"lock-{lock.digest}"
    assert specs.envs_dir_for(WORKSPACE, "0.6.0", lock) == WORKSPACE.envs / f"lock-{lock.digest}" / "jax-0.6.0"


def test_a_jax_chosen_by_hand_replaces_the_locks(lock_spec, monkeypatch):
    the_matrix, lock, _ = lock_spec
    monkeypatch.setattr(specs.registry, "published", lambda package="flax": {"0.6.2": None})
    spec = specs.spec_for(the_matrix, "0.11.0", "cpu", jax="0.6.2", lock=lock)
    assert spec.requirements()[:4] == ["flax==0.11.0", "jax==0.6.2", "jaxlib==0.6.2", "numpy==2.2.4"]


def test_a_catalogue_environment_keeps_its_key():
    """The key an environment of matrix.yaml had before locks existed: adding them rebuilds nothing."""
    spec = specs.EnvSpec(
        "0.10.5",
        "0.5.3",
        "cpu",
        None,
        "3.12",
        date(2025, 4, 1),
        ("pytest>=8", "pytest-xdist>=3", "hypothesis>=6", "pyyaml>=6", "packaging>=23"),
    )
    assert spec.key() == "85ac5be1cf01b402"


def test_when_the_locks_jax_cannot_install_the_resolver_chooses_it_saying_so_once_per_use(
    lock_spec, tmp_path, monkeypatch
):
    _, _, spec = lock_spec
    compiled = []

    def uv(used, *args, stdin=None):
        if args[:2] == ("pip", "compile"):
            compiled.append((stdin.splitlines()[:4], [a for a in args if a.startswith(("--exclude", "jax"))]))
            if "jax==0.5.3" in stdin:
                raise envs.EnvError(f"could not install {used.name}: Because flax==0.11.0 depends on jax>=0.6.0 ...")
            (tmp_path / ".envs" / used.name / "requirements.lock").write_text("jax==0.6.2\n")
        if args[0] == "venv":
            (tmp_path / ".envs" / used.name / "bin").mkdir(parents=True)

    monkeypatch.setattr(envs, "_uv", uv)
    logs = []
    envs.ensure(spec, tmp_path / ".envs", log=logs.append)
    assert compiled[1] == (
        ["flax==0.11.0", "jax", "numpy==2.2.4", "pytest>=8"],
        [
            "--exclude-newer-package",
            "jax=2025-07-30T00:00:00Z",
            "--exclude-newer-package",
            "jaxlib=2025-07-30T00:00:00Z",
        ],
    )
    note = (
        "the lock's jax==0.5.3 jaxlib==0.5.3 cannot install with flax 0.11.0, so the resolver chose JAX as of "
        "2025-07-30 (Because flax==0.11.0 depends on jax>=0.6.0 ...)"
    )
    assert note in logs
    stamp = json.loads((tmp_path / ".envs" / spec.name / envs.STAMP).read_text())
    assert stamp["key"] == spec.key() and stamp["note"] == note


def test_a_lock_that_conflicts_elsewhere_says_so_with_its_own_pins(lock_spec, tmp_path, monkeypatch):
    _, _, spec = lock_spec

    def uv(used, *args, stdin=None):
        if args[:2] == ("pip", "compile"):
            raise envs.EnvError(
                f"could not install {used.name}: Because numpy==2.2.4 ... ({'with' if 'jax==' in stdin else 'without'} jax)"
            )

    monkeypatch.setattr(envs, "_uv", uv)
    with pytest.raises(envs.EnvError, match=r"Because numpy==2.2.4 ... \(with jax\)$"):
        envs.ensure(spec, tmp_path / ".envs", log=lambda line: None)


@pytest.mark.integration
def test_the_gate_refuses_a_bad_lock_in_one_line_with_exit_2(tmp_path):
    bad = tmp_path / "requirements.txt"
    bad.write_text("flax>=0.10\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flax_regressions",
            "--workdir",
            str(tmp_path),
            "gate",
            "--lock",
            str(bad),
            "--to",
            "0.11.0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1] == f"gate: error: {bad}:1: 'flax>=0.10' is not pinned with name==version"
    )
