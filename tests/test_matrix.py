"""matrix.yaml loading, validation and expectation matching. No Flax needed."""

import textwrap

import pytest

from flax_regressions.catalogue import reader, repro_modules
from flax_regressions.catalogue.rules import Rule, SpecifierSet

GOOD = """\
python: "3.12"
current: "0.10.5"
flax:
  - {version: "0.10.2", jax: "0.4.35"}
  - {version: "0.10.5", jax: "0.5.3"}
  - {version: latest}
backends:
  cpu: {}
  cuda: {jax_extra: cuda12, needs: nvidia-gpu}
cases:
  demo:
    upstream: google/flax#1
    variants:
      bug:
        - {flax: "<0.10.5", expect: pass}
        - {flax: ">=0.10.5,<0.11", expect: fail, raises: ValueError, match: "rank should be"}
        - {flax: ">=0.11", jax: "<0.7", expect: fail, raises: flax.errors.TraceContextError, match: "trace level"}
        - {flax: ">=0.11", jax: ">=0.7", expect: pass}
      fix:
        - {expect: pass}
"""

REPRO = """\
def bug():
    pass


def fix(*, n=1):
    pass


def _helper():
    pass
"""


def write(tmp_path, text=GOOD, repro=REPRO):
    (tmp_path / "repro").mkdir(exist_ok=True)
    (tmp_path / "repro" / "demo.py").write_text(repro)
    (tmp_path / "matrix.yaml").write_text(text)
    return tmp_path / "matrix.yaml"


def error_of(tmp_path, text, repro=REPRO) -> str:
    with pytest.raises(reader.MatrixError) as info:
        reader.load(write(tmp_path, text, repro))
    message = str(info.value)
    assert "\n" not in message, "a validation error is one line"
    return message


def test_loads_a_valid_matrix(tmp_path):
    m = reader.load(write(tmp_path))
    assert m.python == "3.12" and m.current == "0.10.5"
    assert [(v.version, v.jax) for v in m.flax] == [("0.10.2", "0.4.35"), ("0.10.5", "0.5.3"), ("latest", None)]
    assert m.variants() == [("demo", "bug"), ("demo", "fix")]
    assert m.backends["cuda"] == {"jax_extra": "cuda12", "needs": "nvidia-gpu"}


@pytest.mark.parametrize(
    ("flax", "jax", "expected"),
    [
        ("0.10.2", "0.4.35", "pass"),
        ("0.10.5", "0.5.3", "fail with ValueError matching /rank should be/"),
        ("0.10.7", "0.6.2", "fail with ValueError matching /rank should be/"),
        ("0.11.0", "0.6.2", "fail with flax.errors.TraceContextError matching /trace level/"),
        ("0.11.0", "0.7.0", "pass"),
        ("0.12.12", "0.12.0.1", "pass"),
    ],
)
def test_expectation_follows_flax_and_jax_conditions(tmp_path, flax, jax, expected):
    rule = reader.load(write(tmp_path)).expectation("demo", "bug", flax, jax, "cpu")
    assert rule.describe() == expected


def test_a_version_no_rule_covers_is_unknown(tmp_path):
    text = GOOD.replace('{flax: "<0.10.5", expect: pass}', '{flax: ">=0.10.4,<0.10.5", expect: pass}')
    assert reader.load(write(tmp_path, text)).expectation("demo", "bug", "0.10.0", "0.4.34", "cpu") is None


def test_backend_condition(tmp_path):
    text = GOOD.replace(
        "      fix:\n        - {expect: pass}",
        "      fix:\n        - {backend: cpu, expect: pass}\n"
        "        - {backend: cuda, expect: fail, raises: RuntimeError, match: x}",
    )
    m = reader.load(write(tmp_path, text))
    assert m.expectation("demo", "fix", "0.10.5", "0.5.3", "cpu").expect == "pass"
    assert m.expectation("demo", "fix", "0.10.5", "0.5.3", "cuda").expect == "fail"


def test_rule_matches_type_by_name_dotted_name_or_base_and_message():
    rule = Rule(SpecifierSet(), SpecifierSet(), None, "fail", "ValueError", "rank .* at least 1")
    assert rule.matches(ValueError("its rank should be at least 1, but is only 0"))
    assert not rule.matches(ValueError("something else"))
    assert not rule.matches(TypeError("rank should be at least 1"))

    class Special(ValueError):
        pass

    assert rule.matches(Special("rank should be at least 1"))
    dotted = Rule(SpecifierSet(), SpecifierSet(), None, "fail", "builtins.KeyError", "k")
    assert dotted.matches(KeyError("k"))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('current: "0.10.5"', 'current: "0.10.5"\n  bad: [', "matrix.yaml:3: YAML syntax error"),
        (
            'current: "0.10.5"',
            'current: "0.10.5"\n\tbad: 1',  # PyYAML's own words (libyaml's, which reads first, differ)
            "matrix.yaml:3: YAML syntax error: found character '\\t' that cannot start any token",
        ),
        ("backends:", "colour: blue\nbackends:", "matrix.yaml:7: colour: unknown key"),
        (
            "upstream: google/flax#1",
            "upstream: google/flax#1\n    owner: me",
            "matrix.yaml:13: cases.demo.owner: unknown key",
        ),
        (
            "{expect: pass}",
            "{expect: pass, when: always}",
            "matrix.yaml:20: cases.demo.variants.fix[0].when: unknown key",
        ),
        ("  demo:\n", "  other:\n", "matrix.yaml:11: cases.other: unknown case: no module repro/other.py"),
        (
            "      fix:\n",
            "      fix_other:\n",
            "cases.demo.variants.fix_other: unknown variant: repro/demo.py defines no function fix_other()",
        ),
        (
            "      fix:\n        - {expect: pass}\n",
            "",
            "cases.demo.variants.fix: variant without an expectation: repro/demo.py defines fix()",
        ),
        (
            '"<0.10.5"',
            '"<0.10.x5"',
            "matrix.yaml:15: cases.demo.variants.bug[0].flax: invalid version specifier '<0.10.x5'",
        ),
        ('"<0.10.5"', '"<0.10.5rc1"', "cases.demo.variants.bug[0].flax: use plain release versions"),
        ('"<0.10.5"', '">=0.11,<0.10"', "cases.demo.variants.bug[0].flax: contradictory condition '<0.10,>=0.11'"),
        (
            '"<0.10.5"',
            '"<0.10.6"',
            "matrix.yaml:16: cases.demo.variants.bug[1]: contradictory conditions: rules 0 and 1 both hold for flax 0.10.5",
        ),
        (
            "{expect: pass}",
            "{backend: tpu, expect: pass}",
            "matrix.yaml:20: cases.demo.variants.fix[0].backend: unknown backend 'tpu'",
        ),
        (
            '{version: "0.10.5", jax: "0.5.3"}',
            '{version: "0.10.2", jax: "0.5.3"}',
            "matrix.yaml:5: flax[1].version: duplicated version 0.10.2",
        ),
        (
            '{version: "0.10.5", jax: "0.5.3"}',
            '{version: "0.10.5", jax: "five"}',
            "matrix.yaml:5: flax[1].jax: invalid version 'five'",
        ),
        (
            "{expect: pass}",
            "{expect: maybe}",
            "matrix.yaml:20: cases.demo.variants.fix[0].expect: must be pass, fail or warn",
        ),
        ("{expect: pass}", "{expect: fail, match: x}", "cases.demo.variants.fix[0].raises: missing"),
        ("{expect: pass}", "{expect: fail, raises: Value Error, match: x}", "fix[0].raises: not an exception name"),
        (
            "{expect: pass}",
            "{expect: fail, raises: ValueError, match: '(('}",
            "fix[0].match: invalid regular expression",
        ),
        ("{expect: pass}", "{expect: pass, raises: ValueError}", "fix[0].raises: not with expect: pass"),
        ("{expect: pass}", "{expect: warn, match: x}", "cases.demo.variants.fix[0].warns: missing"),
        ("{expect: pass}", "{expect: warn, raises: ValueError, match: x}", "fix[0].raises: not with expect: warn"),
        (
            "{expect: pass}",
            "{expect: warn, warns: ValueError, match: x}",
            "fix[0].warns: not a built-in warning category",
        ),
        (
            "{expect: pass}",
            "{expect: fail, warns: DeprecationWarning, match: x}",
            "fix[0].warns: not with expect: fail",
        ),
        ('python: "3.12"\n', "", "matrix.yaml:1: python: missing"),
    ],
)
def test_each_problem_gets_one_line_naming_file_line_and_field(tmp_path, old, new, message):
    assert old in GOOD
    assert message in error_of(tmp_path, GOOD.replace(old, new, 1))


def test_a_duplicated_key_is_refused(tmp_path):
    text = GOOD.replace("      fix:\n", "      bug:\n        - {expect: pass}\n      fix:\n")
    assert "cases.demo.variants.bug: duplicated key" in error_of(tmp_path, text)


def test_an_unreadable_or_empty_file(tmp_path):
    with pytest.raises(reader.MatrixError, match="cannot read"):
        reader.load(tmp_path / "absent.yaml")
    assert "the file is empty" in error_of(tmp_path, "")


def test_variant_functions_are_read_without_importing(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        textwrap.dedent("""\
        import flax_that_does_not_exist
        def bug(): pass
        def bug_reuse(): pass
        def fix_nnx_jit(): pass
        def helper(): pass
        def _fix(): pass
    """)
    )
    assert repro_modules.variant_functions(path) == ["bug", "bug_reuse", "fix_nnx_jit"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(
            b"def bug():\n    pass\n\n\ndef fix(:\n    pass\n",
            "matrix.yaml:11: cases.demo: repro/demo.py:5: does not compile: invalid syntax",
            id="syntax",
        ),
        pytest.param(
            REPRO.encode() + b"\nreturn 1\n",
            "matrix.yaml:11: cases.demo: repro/demo.py:12: does not compile: 'return' outside function",
            id="compiles-not",
        ),
        pytest.param(
            b"def bug():\n    return '\xe9'\n",
            "matrix.yaml:11: cases.demo: repro/demo.py:2: does not compile: "
            "(unicode error) 'utf-8' codec can't decode byte 0xe9",
            id="latin-1",
        ),
        pytest.param(
            b"\xff\xfe" + REPRO.encode("utf-16-le"),
            "matrix.yaml:11: cases.demo: repro/demo.py: does not compile: source code string cannot contain null bytes",
            id="utf-16",
        ),
    ],
)
def test_a_repro_module_that_does_not_compile_is_one_line_naming_its_file_and_line(tmp_path, source, message):
    """Read as bytes and compiled, never imported: no Flax, and the encoding is checked as an import would."""
    path = write(tmp_path)
    (tmp_path / "repro" / "demo.py").write_bytes(source)
    with pytest.raises(reader.MatrixError) as info:
        reader.load(path)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("x" * 300, "a case id names files: at most 100 bytes, not 300"),
        ("ü" * 60, "a case id names files: at most 100 bytes, not 120"),
        ("sub/demo", "a case id is a Python identifier"),
        ("../demo", "a case id is a Python identifier"),
        ("lstm-vmap", "a case id is a Python identifier"),
        ("class", "a case id is a Python identifier"),
    ],
)
def test_a_case_id_that_cannot_name_its_module_is_one_line(tmp_path, case, message):
    text = GOOD.replace("  demo:\n", f"  {case!r}:\n".replace("'", '"'))
    assert error_of(tmp_path, text).startswith(f"matrix.yaml:11: cases.{case}: {message}")


def test_a_non_ascii_case_id_is_a_case(tmp_path):
    path = write(tmp_path, GOOD.replace("  demo:\n", "  démo:\n"))
    (tmp_path / "repro" / "demo.py").rename(tmp_path / "repro" / "démo.py")
    assert reader.load(path).variants() == [("démo", "bug"), ("démo", "fix")]


def test_a_matrix_or_a_case_with_nothing_to_check_is_refused(tmp_path):
    assert (
        error_of(tmp_path, GOOD[: GOOD.index("cases:")] + "cases: {}\n", repro="")
        == "matrix.yaml:10: cases: no case: declare one, or put its module in repro/ beside this file"
    )
    assert reader.load(write(tmp_path, GOOD[: GOOD.index("cases:")] + "cases: {}\n")).undeclared == {"demo"}
    assert error_of(tmp_path, GOOD[: GOOD.index("    variants:")] + "    variants: {}\n", repro="") == (
        "matrix.yaml:13: cases.demo.variants: no variant: a case without variants checks nothing"
    )


def test_the_project_matrix_is_valid():
    m = reader.load()
    assert m.current in [v.version for v in m.flax]
    assert "cpu" in m.backends


@pytest.mark.parametrize("unmeasured", ["      fix: []\n", "      fix:\n"])
def test_a_variant_without_rules_is_unmeasured_not_an_error(tmp_path, unmeasured):
    """No rules yet is how a new case starts (``new``, then ``bisect --write``): read, and named as unmeasured."""
    the_matrix = reader.load(write(tmp_path, GOOD.replace("      fix:\n        - {expect: pass}\n", unmeasured, 1)))
    assert the_matrix.cases["demo"]["fix"] == [] and ("demo", "fix") in the_matrix.unmeasured()
