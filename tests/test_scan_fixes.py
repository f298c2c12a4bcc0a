"""Every rewrite ``scan --fix`` offers works: applied to its case's own bug variants, they pass in a cell of the
oldest default release and of the latest (real cells, the checkout's environments)."""

import os
import subprocess
import sys

import pytest

from flax_regressions.analysis.scan import engine, selfcheck
from flax_regressions.catalogue import reader
from flax_regressions.core.variant import is_bug
from tests.shared_work import ROOT, SHARED

pytestmark = pytest.mark.e2e

CATALOGUE = reader.load()
FIXABLE = sorted(case for case, d in CATALOGUE.detection.items() if d.fix)


def fixed_module(case: str) -> tuple[str, list[str]]:
    """The case's module with its fix applied to the hits in its bug variants, and those variants."""
    module = CATALOGUE.repro_file(case)
    source = engine.parse(module, module.name)
    hits = engine.find([source], {case: CATALOGUE.detection[case]})
    spans, _ = selfcheck.code_spans(module)
    fixed = sorted(v for v in CATALOGUE.cases[case] if is_bug(v) and any(h.fix and h.line in spans[v] for h in hits))
    inside = [h for h in hits if any(h.line in spans[v] for v in fixed)]
    return engine.fixed(source.text, inside), fixed


def test_the_catalogue_has_rewrites_to_check():
    assert FIXABLE, "no case offers a rewrite: this test would check nothing"


@pytest.mark.parametrize("release", ["oldest", "latest"])
def test_each_rewrite_passes_on_the_oldest_default_release_and_the_latest(tmp_path, release):
    cases = tmp_path / "fixed"
    (cases / "repro").mkdir(parents=True)
    entries, selected = [], []
    for case in FIXABLE:
        text, variants = fixed_module(case)
        assert variants, f"{case}: its fix applies to none of its bug variants"
        (cases / "repro" / f"{case}_fixed.py").write_text(text)
        rules = {v: "[{expect: pass}]" if v in variants else "[]" for v in CATALOGUE.cases[case]}
        body = "\n".join(f"      {v}: {r}" for v, r in rules.items())
        entries.append(f"  {case}_fixed:\n    variants:\n{body}")
        selected += [f"{case}_fixed-{v}" for v in variants]
    (cases / "matrix.yaml").write_text("include: builtin\ncases:\n" + "\n".join(entries) + "\n")
    flax = CATALOGUE.flax[0].version if release == "oldest" else "latest"
    proc = subprocess.run(
        [sys.executable, "-m", "flax_regressions", "--workdir", str(tmp_path), "run", "--cases", str(cases),
         "--flax", flax, "--", "-k", " or ".join(selected), "-m", "conformance"],
        cwd=ROOT, env=os.environ | SHARED, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{len(selected)} of {len(selected)} results as expected" in proc.stdout
