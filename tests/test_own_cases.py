"""--cases directories read and merged (catalogue.case_dirs), with no Flax and nothing installed: the one-line errors, the
settings taken from the built-in matrix, and each case's module found beside the matrix that declares it."""

import shutil

import pytest

from flax_regressions.catalogue import case_dirs, reader
from flax_regressions.core.paths import builtin_matrix
from tests.shared_work import ROOT
from tests.test_matrix import GOOD, REPRO

USER_CASES = ROOT / "tests" / "fixtures" / "user_repo" / "cases"


def own(tmp_path, name: str, text: str):
    (tmp_path / name / "repro").mkdir(parents=True)
    (tmp_path / name / "repro" / "demo.py").write_text(REPRO)
    (tmp_path / name / "matrix.yaml").write_text(text)
    return tmp_path / name


def test_include_builtin_adds_the_built_in_cases_and_settings_and_keeps_each_cases_directory():
    builtin, merged = reader.load(), case_dirs.load([USER_CASES])
    assert list(merged.cases) == [*builtin.cases, "train_step"]
    assert (merged.python, merged.flax, merged.backends) == (builtin.python, builtin.flax, builtin.backends)
    assert merged.repro_file("train_step") == USER_CASES / "repro" / "train_step.py"
    assert merged.repro_file("rnn_jit") == builtin_matrix().parent / "repro" / "rnn_jit.py"
    assert merged.case_dirs == (USER_CASES,)


def test_a_standalone_matrix_runs_only_its_own_cases(tmp_path):
    merged = case_dirs.load([own(tmp_path, "mine", GOOD)])
    assert list(merged.cases) == ["demo"] and merged.repro_dir("demo") == tmp_path / "mine" / "repro"


@pytest.mark.parametrize(
    "first, second, message",
    [
        (
            'include: builtin\ncurrent: "0.10.4"\n',
            'include: builtin\ncurrent: "0.10.2"\n',
            "two/matrix.yaml:2: current: not the same as in {tmp}/one/matrix.yaml",
        ),
        (
            GOOD,
            "include: builtin\n",
            "two/matrix.yaml:3: cases.demo: case id already declared in {tmp}/one/matrix.yaml",
        ),
    ],
)
def test_two_directories_that_disagree_are_one_line_naming_both_files(tmp_path, monkeypatch, first, second, message):
    monkeypatch.chdir(tmp_path)
    cases_part = "cases:\n  demo:\n    variants:\n      bug: [{expect: pass}]\n      fix: [{expect: pass}]\n"
    own(tmp_path, "one", first if first == GOOD else first + cases_part)
    own(tmp_path, "two", second + cases_part)
    with pytest.raises(reader.MatrixError) as info:
        case_dirs.load([tmp_path / "one", "two"])
    assert str(info.value).startswith(message.format(tmp=tmp_path)), str(info.value)


def test_only_a_cases_directory_can_include_the_built_in_catalogue(tmp_path):
    shutil.copytree(builtin_matrix().parent / "repro", tmp_path / "repro")
    (tmp_path / "matrix.yaml").write_text("include: builtin\n" + builtin_matrix().read_text())
    with pytest.raises(reader.MatrixError, match=r"^matrix.yaml:1: include: unknown key"):
        reader.load(tmp_path / "matrix.yaml")
