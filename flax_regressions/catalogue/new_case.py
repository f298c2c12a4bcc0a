"""A new case: its repro module from the house template, declared (not measured yet) in its directory's matrix.

The template reads like the modules of the built-in catalogue: a docstring with the upstream link and what goes
wrong, ``PROPERTY_SIZES``, a ``bug`` and a ``fix`` (each raising until written), and a ``main()`` that runs every
variant, so ``python repro/<case>.py`` works before any harness does. Until both bodies are written the case
cannot be measured: ``bisect`` refuses it (``unwritten``) rather than record the template's own error as the bug.
"""

from __future__ import annotations

import re
from pathlib import Path

UPSTREAM = re.compile(r"^[\w.-]+/[\w.-]+#\d+$")  # owner/repo#number, as matrix.yaml's upstream: keys say it
UNWRITTEN = "flax-regressions new: write this variant"  # the template's bodies raise this until replaced

TEMPLATE = '''\
"""{title}

Upstream: {link}

What goes wrong: (the call, the release it breaks on, and the error or the wrong value it gives).

Variants:
  bug  -- the code as the report gives it.
  fix  -- the workaround, checked against a reference computed another way.

Run: python repro/{case}.py
"""

import jax
from flax import nnx  # noqa: F401  (the variants use it once written)

PROPERTY_SIZES = {{"n": [1, 4]}}  # the keyword arguments the property tests vary, and the sizes they try


def bug(*, n=4):
    """The report's code: raises (or computes the wrong value) where the bug is present."""
    raise NotImplementedError("{unwritten}")


def fix(*, n=4):
    """The workaround: computes the right value, checked with an assert against a reference."""
    raise NotImplementedError("{unwritten}")


def main():
    """Run every variant and print PASS or the exception's type and first line, then the versions."""
    from importlib.metadata import version

    for name, variant in list(globals().items()):
        if callable(variant) and (name in ("bug", "fix") or name.startswith(("bug_", "fix_"))):
            try:
                variant()
                print(f"{{name}}: PASS")
            except Exception as exc:  # report every failure the same way
                first_line = (str(exc).strip().splitlines() or [""])[0]
                print(f"{{name}}: {{type(exc).__name__}}: {{first_line}}")
    versions = "  ".join(f"{{name}} {{version(name)}}" for name in ("flax", "jax", "jaxlib"))
    print(f"{{versions}}  backend {{jax.default_backend()}}")


if __name__ == "__main__":
    main()
'''


def module_text(case: str, upstream: str) -> str:
    """The template filled in for ``case`` (``upstream``: owner/repo#N, or empty)."""
    owner_repo, _, number = upstream.partition("#")
    link = f"https://github.com/{owner_repo}/issues/{number}" if upstream else "(the upstream issue's address)"
    return TEMPLATE.format(
        title=f"{case}: (what the bug does, in one line).", link=link, case=case, unwritten=UNWRITTEN
    )


def unwritten(module: Path) -> bool:
    """Whether the module still has a body of the template's, which would measure nothing."""
    return UNWRITTEN in Path(module).read_text(encoding="utf-8", errors="replace")
