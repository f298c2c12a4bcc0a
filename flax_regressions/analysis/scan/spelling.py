"""A case's rules are written with canonical names; each file spells them its own way. This respells a rule for one.

Rules write ``nnx.<Name>`` for every name of ``flax.nnx`` and ``jnp.<name>`` (or ``jax.numpy.<name>``) for
``jax.numpy``; a file may import
them as ``from flax import nnx``, ``import flax.nnx as nn``, ``from flax import nnx as nn``, ``import flax`` (then
``flax.nnx.<Name>``), ``from flax.nnx import Optimizer`` (then ``Optimizer``, or its alias), and ``jax.numpy`` under
any name. A rule's ``pattern: nnx.Module`` (a Module's base) is widened to the team's own subclasses of it,
found across every file scanned, so a pattern about Modules sees ``class Block(MyBase)`` too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

NAME = re.compile(r"(?<![\w.])(nnx|jnp|jax\.numpy)\.([$\w]+)")
MODULE_BASE = "nnx.Module"


@dataclass
class Spelling:
    """How one file names ``flax.nnx`` and ``jax.numpy`` and what it imports from them directly."""

    nnx: str = "nnx"  # the module's name in the file (``nnx``, ``nn``, ``flax.nnx``)
    jnp: str = "jax.numpy"  # ``jnp`` where the file imports it so
    direct: dict[str, str] = field(default_factory=dict)  # a name imported from flax.nnx -> its local name
    imports_flax: bool = False
    has_module: bool = False  # the file names the module itself, so any ``nnx.<Name>`` can be written in it

    def can_write(self, text: str) -> bool:
        """Whether every flax.nnx name of ``text`` (a fix) is reachable in the file as it imports things."""
        return self.has_module or all(name in self.direct for module, name in NAME.findall(text) if module == "nnx")

    def respell(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            module, name = match.groups()
            if module == "nnx" and name in self.direct:
                return self.direct[name]
            return f"{self.nnx if module == 'nnx' else self.jnp}.{name}"

        return NAME.sub(one, text)


def of_imports(statements: list[str]) -> Spelling:
    """A file's spelling from its import statements' text."""
    found = Spelling()
    aliases: list[str] = []
    for text in statements:
        try:
            nodes = ast.parse(text.strip()).body
        except SyntaxError:
            continue
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.module in ("flax", "flax.nnx", "jax"):
                found.imports_flax |= node.module != "jax"
                for a in node.names:
                    if node.module == "flax" and a.name == "nnx":
                        aliases.append(a.asname or "nnx")
                    elif node.module == "flax.nnx":
                        found.direct[a.name] = a.asname or a.name
                    elif node.module == "jax" and a.name == "numpy":
                        found.jnp = a.asname or "numpy"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in ("flax", "flax.nnx") or a.name.startswith("flax."):
                        found.imports_flax = True
                        aliases.append(a.asname if a.name == "flax.nnx" and a.asname else "flax.nnx")
                    elif a.name == "jax.numpy":
                        found.jnp = a.asname or "jax.numpy"
    found.nnx = "nnx" if "nnx" in aliases else aliases[0] if aliases else "nnx"
    found.has_module = bool(aliases)
    return found


def respelled(rule: Any, spelling: Spelling, module_bases: tuple[str, ...]) -> Any:
    """``rule`` with every pattern in the file's spelling, and ``nnx.Module`` widened to ``module_bases``."""
    if isinstance(rule, list):
        return [respelled(item, spelling, module_bases) for item in rule]
    if not isinstance(rule, dict):
        return rule
    out = {
        k: (spelling.respell(v) if k == "pattern" else respelled(v, spelling, module_bases)) for k, v in rule.items()
    }
    if rule.get("pattern") == MODULE_BASE and module_bases:
        out.pop("pattern")
        either = [{"pattern": out_pattern} for out_pattern in (spelling.respell(MODULE_BASE), *module_bases)]
        if "any" in out:
            out["all"] = [*out.get("all", []), {"any": either}]
        else:
            out["any"] = either
    return out


def subclasses(bases_by_class: dict[str, set[str]], module_names: set[str]) -> tuple[str, ...]:
    """The classes that derive, directly or not, from one of ``module_names`` (the spellings of nnx.Module)."""
    found: set[str] = set()
    grew = True
    while grew:
        grew = False
        for name, bases in bases_by_class.items():
            if name not in found and bases & (module_names | found):
                found.add(name)
                grew = True
    return tuple(sorted(found))
