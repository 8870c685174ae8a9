"""`${VAR}` templates in option values: `${A:-${B}}` nests as in bash (issue 10), and bash
itself is the reference for what an expansion gives."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from automations.engine.config import load_config
from automations.engine.expand import MAX_NESTING, UnsetVariable, expand, has_template
from automations.errors import ConfigError

AS_BASH_DOES = [
    ("${A:-${B}}", {"B": "bee"}),
    ("${A:-${B}}", {"A": "ay", "B": "bee"}),
    ("${A:-${B}}", {"A": "", "B": "bee"}),
    ("${A:-${B}}", {"A": "ay"}),                     # an unused default is not expanded
    ("${A:-${B:-${C}}}", {"C": "sea"}),
    ("${A:-${B:-${C:-deep}}}", {}),
    ("${A:-x${B}y}", {"B": "-"}),
    ("pre ${A:-${B}} mid ${C} post", {"B": "b", "C": "c"}),
    ("${A:-{x}y}", {}),                               # a plain `{` does not nest
    ("${A:-a}b}", {}),
    ("${A:-}", {}),
    ("${A:-${B}}${C:-${D}}", {"B": "1", "D": "2"}),
    ("${A:-$HOME}", {"HOME": "/h"}),                 # `$HOME` is not ours to expand: bash would, we keep it
]


@pytest.mark.parametrize("template, env", AS_BASH_DOES, ids=[t for t, _ in AS_BASH_DOES])
def test_a_template_expands_as_bash_expands_it(template, env):
    bash = subprocess.run(["bash", "-c", f'printf %s "{template}"'], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, check=True).stdout

    ours = expand(template, env)

    if "$HOME" in template:
        assert ours == "$HOME" and bash == "/h"
    else:
        assert ours == bash


def test_a_nested_default_naming_an_unset_variable_is_an_error_naming_it():
    with pytest.raises(UnsetVariable, match=r"\$\{B\} is not set"):
        expand("${A:-${B}}", {})


def test_the_error_of_a_nested_default_names_the_options_path():
    with pytest.raises(UnsetVariable) as raised:
        expand({"token": {"file": "${A:-${B}}"}}, {})

    assert raised.value.path == ("token", "file")


def test_an_unclosed_template_stays_text_and_what_it_holds_still_expands():
    assert expand("${A:-${B}", {"B": "b"}) == "${A:-b"


def test_a_dollar_dollar_brace_in_a_default_is_a_literal_brace():
    assert expand("${A:-$${B}}", {"B": "b"}) == "${B}"


def test_a_nested_default_is_a_template():
    assert has_template("${A:-${B}}") and has_template("x ${A:-{y}}") and not has_template("$${A:-$${B}}")


def test_defaults_nested_too_deeply_are_refused_at_their_position(tmp_path: Path):
    deep = "${A:-" * (MAX_NESTING + 1) + "x" + "}" * (MAX_NESTING + 1)
    path = tmp_path / "automations.yaml"
    path.write_text(f"tasks:\n  boot:\n    env:\n      OK: '${{A:-${{B}}}}'\n      DEEP: '{deep}'\n"
                    f"    steps:\n      - run: 'true'\n        with: {{cwd: '{deep}'}}\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    message = f"`${{...}}` defaults nested more than {MAX_NESTING} levels deep"
    assert [str(p) for p in raised.value.problems] == [f"{path}:5:13: {message}", f"{path}:8:21: {message}"]
