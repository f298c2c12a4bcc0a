"""A YAML file read as its node tree, not as loaded data: every value keeps its line, so every problem is one line
naming the file, that line and the field (catalogue.reader reads matrix.yaml through it)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from flax_regressions.catalogue.model import MatrixError
from flax_regressions.core.errors import one_line

# libyaml's parser, where PyYAML has it (its wheels do), builds the same node tree, lines included, in a tenth of
# the time: 2 ms against 28 ms for matrix.yaml, read by every process a cell or a command starts.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(path: Path, shown: str | None = None) -> yaml.Node | None:
    """The file's YAML node tree (MatrixError when it cannot be read or parsed)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise MatrixError(path, None, "", f"cannot read: {exc.strerror}", shown) from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise MatrixError(
            path, line, "", f"not UTF-8: byte {exc.object[exc.start]:#04x} at offset {exc.start}", shown
        ) from None
    try:
        return yaml.compose(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        pass  # read again below: the message in PyYAML's own words, as it always was
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark else text[: getattr(exc, "position", 0)].count("\n") + 1
        raise MatrixError(path, line, "", f"YAML syntax error: {one_line(str(problem))}", shown) from None


class NodeReader:
    """Reads values out of a YAML node tree, so every error can name the line its value stands on. ``shown`` names
    the file in messages as the command line gave it (a --cases matrix), else by its name."""

    def __init__(self, path: Path, shown: str | None = None):
        self.path, self.shown = path, shown

    def fail(self, node: yaml.Node | None, where: str, what: str) -> NoReturn:
        raise MatrixError(self.path, node.start_mark.line + 1 if node is not None else None, where, what, self.shown)

    def mapping(self, node: yaml.Node | None, where: str, allowed: set[str] | None = None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, where, "expected a mapping")
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, where or "(top level)", "a key is a plain name, not a list or a mapping")
            key = key_node.value
            if key in out:
                self.fail(key_node, f"{where}.{key}" if where else key, "duplicated key")
            if allowed is not None and key not in allowed:
                self.fail(
                    key_node, f"{where}.{key}" if where else key, f"unknown key (allowed: {', '.join(sorted(allowed))})"
                )
            out[key] = value_node
        return out

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, where, "expected a list")
        return node.value

    def scalar(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            self.fail(node, where, "expected a non-empty value")
        return node.value

    def version(self, node: yaml.Node, where: str) -> str:
        value = self.scalar(node, where)
        try:
            Version(value)
        except InvalidVersion:
            self.fail(node, where, f"invalid version {value!r}")
        return value

    def specifier(self, node: yaml.Node | None, where: str) -> SpecifierSet:
        if node is None:
            return SpecifierSet()
        value = self.scalar(node, where)
        try:
            spec = SpecifierSet(value)
        except InvalidSpecifier:
            self.fail(node, where, f"invalid version specifier {value!r}")
        for one in spec:
            bound = Version(one.version.removesuffix(".*"))
            if bound.pre or bound.post or bound.dev or bound.local:
                self.fail(node, where, f"use plain release versions in specifiers, not {one.version!r}")
        return spec
