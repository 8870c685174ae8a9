"""The YAML position tree: plain Python values built from PyYAML's nodes, remembering the
`FILE:LINE:COL` of every key and value, within a budget that refuses alias bombs (issue 10).

The loader (automations.engine.config) validates the values and points each problem at the
position recorded here.
"""
from __future__ import annotations

from typing import Any

import yaml

from automations.errors import Problem


class Location:
    __slots__ = ("file", "line", "column")

    def __init__(self, file: str, line: int, column: int) -> None:
        self.file, self.line, self.column = file, line, column

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and str(other) == str(self)

    def __repr__(self) -> str:
        return f"Location({self})"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"



# What one configuration may hold once its aliases are expanded (issue 10: a 433-byte alias
# bomb made `validate` use 7 GB). PyYAML composes an alias as the anchored node itself, shared;
# building plain values (and a position for each) expands every use again, so the expansion is
# counted and refused past a fixed budget, the way go-yaml refuses "excessive aliasing". A real
# automations.yaml holds a few hundred values and a few KB of text.
MAX_VALUES = 100_000
MAX_TEXT = 10_000_000       # characters of scalar text, each alias use counted again
MAX_DEPTH = 64              # levels of nesting (every walk of the values is recursive)


class TooLarge(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class YamlTree:
    """Plain Python values built from YAML nodes, remembering where each came from."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.value_at: dict[tuple, Location] = {}
        self.key_at: dict[tuple, Location] = {}
        self.problems: list[Problem] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._values = 0
        self._text = 0
        self._seen: set[int] = set()     # ids of the nodes built once: meeting one again is an alias
        self._open: set[int] = set()     # ids of the collections being built (a recursive alias)
        self._alias_path: tuple | None = None  # where the outermost alias being expanded is used
        self._too_deep = False

    def loc(self, mark: Any) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def build(self, node: yaml.Node, path: tuple) -> Any:
        if id(node) in self._open:
            self.problem(self._alias_location(path), "an alias refers to a value that contains it (a recursive alias)")
            return None
        outermost_alias = id(node) in self._seen and self._alias_path is None
        if outermost_alias:
            self._alias_path = path
        self._seen.add(id(node))
        try:
            self._count(node, path)
            if len(path) > MAX_DEPTH:
                if not self._too_deep:  # once: a wide value past the limit would make a line per item
                    self.problem(self.loc(node.start_mark), f"nested more than {MAX_DEPTH} levels deep")
                    self._too_deep = True
                return None
            self.value_at[path] = self.loc(node.start_mark)
            if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
                return self.build_scalar(node)
            self._open.add(id(node))
            try:
                return self._build_collection(node, path)
            finally:
                self._open.discard(id(node))
        finally:
            if outermost_alias:
                self._alias_path = None

    def _count(self, node: yaml.Node, path: tuple) -> None:
        self._values += 1
        if isinstance(node, yaml.ScalarNode):
            self._text += len(node.value)
        if self._values <= MAX_VALUES and self._text <= MAX_TEXT:
            return
        size = f"more than {MAX_VALUES} values" if self._values > MAX_VALUES else f"more than {MAX_TEXT} characters"
        if self._alias_path is None:
            location, message = self.loc(node.start_mark), f"the file holds {size}"
        else:
            location = self._alias_location(self._alias_path)
            message = f"excessive aliasing: with its aliases expanded the file holds {size}"
        raise TooLarge(Problem(location.file, location.line, location.column, message))

    def _alias_location(self, path: tuple) -> Location:
        """Where an alias is used: its key, else the collection holding it (PyYAML keeps no
        position for an alias, only for the anchored value it stands for)."""
        return self.key_at.get(path) or self.at(path[:-1])

    def _build_collection(self, node: yaml.Node, path: tuple) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problem(self.loc(key_node.start_mark), "merge keys (<<) are not supported")
                    continue
                if isinstance(key_node, yaml.ScalarNode):
                    self._count(key_node, path)
                key = self.build_scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    self.problem(self.loc(key_node.start_mark), "mapping keys must be plain scalars")
                    continue
                if key in result:
                    self.problem(self.loc(key_node.start_mark), f"duplicate key {key!r}")
                    continue
                self.key_at[path + (key,)] = self.loc(key_node.start_mark)
                result[key] = self.build(value_node, path + (key,))
            return result
        return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]

    def build_scalar(self, node: yaml.Node) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            self.problem(self.loc(node.start_mark), f"invalid value: {getattr(error, 'problem', error)}")
            return None

    def at(self, path: tuple, key: bool = False) -> Location:
        if key and path in self.key_at:
            return self.key_at[path]
        while path not in self.value_at and path:
            path = path[:-1]
        return self.value_at.get(path, Location(self.file, 1, 1))

    def problem(self, location: Location, message: str, cause: BaseException | None = None) -> None:
        self.problems.append(Problem(location.file, location.line, location.column, message, cause))
