"""`${VAR}` and `${VAR:-default}` in string values, expanded from the environment when a step
runs; a default may hold templates itself (`${A:-${B}}`), as in bash. `${{ steps.ID.outputs.NAME }}`
references an earlier step's output (automations.engine.references); both are read in one pass,
so a value of one is never read as the other. Nothing else is templated; `$${` stands for a
literal `${` (and `$${{` for a literal `${{`).

Options declared `expand=False` (a `run` step's command) are not expanded here, only
their `$${` becomes `${` and each reference `${AUTOMATIONS_REF_n}`: the shell they are handed
to expands the same syntax from the same environment, so a secret kept in an environment
variable never lands on the child's argv, and an output's value never becomes code.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from automations.engine.options import ExpandedStr, KeyPath, TemplateStr, matches_path
from automations.engine.references import (
    OPEN,
    Reference,
    ReferenceSyntaxError,
    StepReferences,
    UnresolvedReference,
    parse_reference,
    pass_on,
)
from automations.errors import StepFailed

MAX_NESTING = 8    # `${A:-${B:-...}}` levels; the parser recurses once a level

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL = re.compile(r"\$\$\{|\$\{")            # what a top-level scan stops at
_SPECIAL_NESTED = re.compile(r"\$\$\{|\$\{|\}")  # ...and in a default, its closing brace


class _Template:
    # A plain class, not a typing.NamedTuple: see OptionProblem in automations.engine.options.
    __slots__ = ("name", "default")

    def __init__(self, name: str, default: list[_Part] | None) -> None:
        self.name = name
        self.default = default   # `${NAME:-...}`: literal text, templates and references


_Part = str | _Template | Reference


class TemplateError(StepFailed):
    def __init__(self, message: str, path: KeyPath, written: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.written = written  # the faulty text as written, where it helps find it in the file


def _parse(text: str, start: int = 0, depth: int = 0) -> tuple[list[_Part], int]:
    """`text` from `start` as literal text and templates. Inside a default (depth > 0) the
    scan ends at the `}` closing it, whose index is returned (-1: never closed). As in bash,
    a plain `{` in a default does not nest; a `${...}` does."""
    parts: list[_Part] = []
    literal: list[str] = []
    special = _SPECIAL_NESTED if depth else _SPECIAL
    i = start
    while True:
        match = special.search(text, i)
        if match is None:
            literal.append(text[i:])
            break
        literal.append(text[i:match.start()])
        token = match.group()
        if token == "}":
            parts.extend(filter(None, ["".join(literal)]))
            return parts, match.start()
        if token == "$${":
            literal.append("${")
            i = match.end()
            continue
        if text.startswith(OPEN, match.start()):
            try:
                reference, i = parse_reference(text, match.start())
            except ReferenceSyntaxError as error:
                raise TemplateError(str(error), (), error.written) from None
            parts.extend(filter(None, ["".join(literal)]))
            literal = []
            parts.append(reference)
            continue
        template, end = _template(text, match.start(), depth)
        if template is None:  # not a template after all: `$` is literal text
            literal.append("$")
            i = match.start() + 1
            continue
        parts.extend(filter(None, ["".join(literal)]))
        literal = []
        parts.append(template)
        i = end
    parts.extend(filter(None, ["".join(literal)]))
    return parts, -1 if depth else len(text)


def _template(text: str, start: int, depth: int) -> tuple[_Template | None, int]:
    """The template starting at `text[start]` (`${`) and the index after it, or None."""
    name = _NAME.match(text, start + 2)
    if name is None:
        return None, start
    after = name.end()
    if text.startswith("}", after):
        return _Template(name.group(), None), after + 1
    if not text.startswith(":-", after):
        return None, start
    if depth >= MAX_NESTING:
        raise TemplateError(f"`${{...}}` defaults nested more than {MAX_NESTING} levels deep", ())
    default, end = _parse(text, after + 2, depth + 1)
    if end < 0:
        return None, start
    return _Template(name.group(), default), end + 1


def has_template(text: str) -> bool:
    """Whether `text` holds `${VAR}` or a reference (a TemplateError if one is malformed)."""
    return any(not isinstance(part, str) for part in _parse(text)[0])


def mark_templates(value: Any, path: KeyPath = ()) -> Any:
    """Load time: strings still holding `${...}` become TemplateStr, so checks on their
    final value wait until the step runs. A template nested too deeply raises TemplateError."""
    if isinstance(value, str):
        try:
            return TemplateStr(value) if "${" in value and has_template(value) else value
        except TemplateError as error:
            raise TemplateError(str(error), path, error.written) from None
    if isinstance(value, dict):
        return {k: mark_templates(v, path + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_templates(v, path + (i,)) for i, v in enumerate(value)]
    return value


class UnsetVariable(StepFailed):
    def __init__(self, name: str, path: KeyPath) -> None:
        super().__init__(f"${{{name}}} is not set (set it, or write ${{{name}:-default}})")
        self.path = path


def expand(value: Any, env: Mapping[str, str], path: KeyPath = (), unexpanded: list[KeyPath] | None = None,
           references: StepReferences | None = None) -> Any:
    """Run time: expand every string in `value` (recursively), except under the paths in
    `unexpanded` ("*" matches any key or index). An unset variable without a default is an
    error naming it, never a silent empty string. A default is expanded only when it is used,
    and may hold templates itself (`${A:-${B}}`), as in bash. References take their values
    from `references`; without it (a dry run) they stay as written, and a string holding one
    stays a TemplateStr."""
    if unexpanded and any(matches_path(pattern, path) for pattern in unexpanded):
        return _unescape(value, references, path)
    if isinstance(value, str):
        if "${" not in value:
            return value
        try:
            parts = _parse(value)[0]
            text = _substitute(parts, env, references)
        except (UnsetVariable, TemplateError, UnresolvedReference) as error:
            error.path = path
            raise
        if references is None and any(isinstance(part, Reference) for part in parts):
            return TemplateStr(text)
        return ExpandedStr(text)
    if isinstance(value, dict):
        return {k: expand(v, env, path + (k,), unexpanded, references) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env, path + (i,), unexpanded, references) for i, v in enumerate(value)]
    return value


def _unescape(value: Any, references: StepReferences | None, path: KeyPath) -> Any:
    """A value passed on as written: only the `$${` escape is undone, as everywhere else, and
    each reference becomes the variable holding its value (automations.engine.references)."""
    if isinstance(value, str):
        try:
            return pass_on(str(value), references.variable if references is not None else None)
        except UnresolvedReference as error:
            error.path = path
            raise
    if isinstance(value, dict):
        return {k: _unescape(v, references, path + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v, references, path + (i,)) for i, v in enumerate(value)]
    return value


def _substitute(parts: list[_Part], env: Mapping[str, str], references: StepReferences | None) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Reference):
            out.append(part.text if references is None else references.value(part))
        elif part.name in env and (env[part.name] != "" or part.default is None):
            out.append(env[part.name])
        elif part.default is not None:
            out.append(_substitute(part.default, env, references))
        else:
            raise UnsetVariable(part.name, ())
    return "".join(out)
