"""The bug report as Markdown, in the layout of Flax's bug-report issue template, so it pastes as filed.

Every heading is the template's; what fills them is the release's own (its environment, the script's
captured output) and the suite's records (the versions table, the workarounds that pass there).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from flax_regressions.analysis.bugreport.environment import failure_of
from flax_regressions.analysis.bugreport.known import Pair, Recorded, flax_where, version_key
from flax_regressions.analysis.bugreport.script import docstring_of, function_source, helpers_of, problem_text
from flax_regressions.catalogue.model import upstream_url
from flax_regressions.core.failure import Failure, normalized
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.render.markdown import shown_message, table

TABLE_MESSAGE_LIMIT = 100


def render(
    *,
    case: str,
    variant: str,
    module: Path,
    upstream: str,
    versions: dict,
    env_info: str,
    script: str,
    script_name: str,
    status: int,
    output: str,
    outcomes: dict[Pair, Recorded],
    workarounds: list[str],
    backend: str,
) -> str:
    title, problem = problem_text(module, variant)
    reference = failure_of(output)
    flax = versions["flax"]
    sources = sorted(set().union(*(entry.sources for entry in outcomes.values())))
    lines = [
        f"# {title.rstrip('.')} (Flax {flax}{', ' + reference.exception if reference.exception else ''})",
        "",
        f"<!-- Written by flax-regressions (`nox -s bugreport -- {case} --flax {flax} --backend {backend}`) on "
        f"{datetime.now(UTC).date().isoformat()}. Related upstream issue: {upstream_url(upstream) or 'none recorded'}. "
        f"Versions table from: {', '.join(sources)} -->",
        "",
        "### System information",
        f"- OS Platform and Distribution: {versions['platform']}",
        f"- Flax, jax, jaxlib versions: flax {flax}, jax {versions['jax']}, jaxlib {versions['jaxlib']}",
        f"- Python version: {versions['python']}",
        f"- GPU/TPU model and memory: {_accelerator(backend, env_info)}",
        f"- JAX_PLATFORMS: {versions['JAX_PLATFORMS'] or '(unset)'}",
        "",
        "<details><summary><code>jax.print_environment_info()</code></summary>",
        "",
        "```text",
        env_info,
        "```",
        "",
        "</details>",
        "",
        "### Problem you have encountered:",
        "",
        problem,
        "",
        "### What you expected to happen:",
        "",
        _expected(variant, outcomes),
        "",
        "### Logs, error messages, etc:",
        "",
        f"Output of `python {script_name}` on flax {flax}, jax {versions['jax']}, jaxlib {versions['jaxlib']} "
        f"(JAX_PLATFORMS={versions['JAX_PLATFORMS']}), exit status {status}:",
        "",
        "```text",
        output.rstrip(),
        "```",
        "",
        "### Steps to reproduce:",
        "",
        f"`pip install flax=={flax} jax=={versions['jax']} jaxlib=={versions['jaxlib']}`, save this as "
        f"`{script_name}` and run `python {script_name}`:",
        "",
        "```python",
        script.rstrip(),
        "```",
        "",
        "### Where it reproduces",
        "",
        f"`{variant}()` on every Flax/JAX pair with a recorded run (backend {backend}):",
        "",
    ]
    rows = [
        [str(flax_v), str(jax_v), entry.jaxlib or "", _result(entry.variants[variant], reference)]
        for (flax_v, jax_v), entry in sorted(outcomes.items(), key=lambda item: version_key(item[0]))
        if variant in entry.variants
    ]
    lines += table(["Flax", "JAX", "jaxlib", f"`{variant}()` (compared with flax {flax})"], rows)
    lines += ["", "### Known workaround", ""]
    if not workarounds:
        lines.append(f"None of the suite's workarounds for this case works on flax {flax}.")
    for fix in workarounds:
        doc = docstring_of(module, fix)
        helpers = [name for name in helpers_of(module, fix) if f"def {name}(" not in script]
        lines += [
            f"`{fix}()` works on flax {flax}{': ' + doc.splitlines()[0] if doc else '.'}",
            "",
            "```python",
            function_source(module, fix),
            "```",
            "",
        ]
        if helpers:
            lines += [
                f"(Besides the script's helpers it uses {', '.join(f'`{h}`' for h in helpers)}, which check its "
                f"result; all are in flax-regressions' `repro/{module.name}`.)",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def _result(record: VariantRecord, reference: Failure) -> str:
    """What the variant did on one release, next to what the script did on the report's release.

    Finer than Failure.same_as on purpose: a maintainer wants to see where the message was reworded
    ("Cannot call RngStream ..." -> "Cannot mutate RngCount ..."), which the gate rightly calls the same failure.
    """
    if record.outcome is Outcome.PASSED:
        return "runs without error"
    message = shown_message(record.message, TABLE_MESSAGE_LIMIT)
    if record.exception != reference.exception:
        return f"another exception: {record.exception}: {message}"
    if normalized(record.message) != normalized(reference.message):
        return f"same exception, another message: {record.exception}: {message}"
    return f"same error: {record.exception}: {message}"


def _expected(variant: str, outcomes: dict[Pair, Recorded]) -> str:
    passing = flax_where(outcomes, variant, Outcome.PASSED)
    text = f"`{variant}()` runs to the end without an exception."
    if passing:
        text += f" It does on flax {', '.join(passing)} (see the table below)."
    return text


def _accelerator(backend: str, env_info: str) -> str:
    if backend == "cpu":
        return "none (CPU backend)"
    gpu = re.search(r"^\|\s+\d+\s+(.+?)\s{2,}", env_info, re.M)  # nvidia-smi's table, printed by JAX
    return gpu.group(1).strip() if gpu else f"{backend} (see jax.print_environment_info() below)"
