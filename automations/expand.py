"""`${VAR}` and `${VAR:-default}` in string values, expanded from the environment when a step
runs. Nothing else is templated; `$${` stands for a literal `${`.

Options declared `expand=False` (a `run` step's command) are not expanded here, only
their `$${` becomes `${`: the shell they are handed to expands the same syntax from the same
environment, so a secret kept in an environment variable never lands on the child's argv.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from automations.errors import StepFailed
from automations.options import ExpandedStr, TemplateStr

_TEMPLATE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def has_template(text: str) -> bool:
    return any(m.group(0) != "$${" for m in _TEMPLATE.finditer(text))


def mark_templates(value: Any) -> Any:
    """Load time: strings still holding `${...}` become TemplateStr, so checks on their
    final value wait until the step runs."""
    if isinstance(value, str):
        return TemplateStr(value) if "${" in value and has_template(value) else value
    if isinstance(value, dict):
        return {k: mark_templates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_templates(v) for v in value]
    return value


class UnsetVariable(StepFailed):
    def __init__(self, name: str, path: tuple) -> None:
        super().__init__(f"${{{name}}} is not set (set it, or write ${{{name}:-default}})")
        self.path = path


def expand(value: Any, env: Mapping[str, str], path: tuple = (), unexpanded: list[tuple] | None = None) -> Any:
    """Run time: expand every string in `value` (recursively), except under the paths in
    `unexpanded` ("*" matches any key or index). An unset variable without a default is an
    error naming it, never a silent empty string."""
    if unexpanded and any(_matches(pattern, path) for pattern in unexpanded):
        return _unescape(value)
    if isinstance(value, str):
        if "${" not in value:
            return value
        missing: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, default = match.group(1), match.group(2)
            if name in env and (env[name] != "" or default is None):
                return env[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        result = _TEMPLATE.sub(substitute, value)
        if missing:
            raise UnsetVariable(missing[0], path)
        return ExpandedStr(result)
    if isinstance(value, dict):
        return {k: expand(v, env, path + (k,), unexpanded) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env, path + (i,), unexpanded) for i, v in enumerate(value)]
    return value


def _matches(pattern: tuple, path: tuple) -> bool:
    return len(pattern) == len(path) and all(p == "*" or p == q for p, q in zip(pattern, path))


def _unescape(value: Any) -> Any:
    """A value passed on as written: only the `$${` escape is undone, as everywhere else."""
    if isinstance(value, str):
        return str(value).replace("$${", "${")
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value
