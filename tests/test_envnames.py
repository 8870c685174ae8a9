"""The names secret content may not choose (automations/files/envnames.py), as the README lists them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from automations.files.envnames import DANGEROUS_NAMES, dangerous_name_reader, derived_name_problem

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "BASH_ENV",
                                  "ENV", "PROMPT_COMMAND", "PS4", "IFS", "SHELLOPTS", "BASHOPTS", "PATH", "HOME",
                                  "CDPATH", "NODE_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PERL5OPT",
                                  "PERL5LIB", "RUBYOPT", "RUBYLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
                                  "JDK_JAVA_OPTIONS", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_CONFIG_COUNT",
                                  "GIT_CONFIG_KEY_0", "LESSOPEN", "EDITOR", "NPM_CONFIG_SCRIPT_SHELL"])
def test_a_name_that_runs_code_is_dangerous(name):
    assert dangerous_name_reader(name) is not None


@pytest.mark.parametrize("name", ["API_TOKEN", "DB_PASSWORD", "APP_LD_PRELOAD", "APP_PATH", "NODE_ENV", "GITHUB_TOKEN",
                                  "AWS_ACCESS_KEY_ID", "PATHS", "MY_HOME", "ENVIRONMENT", "HOME_DIR", "path"])
def test_an_ordinary_name_is_not(name):
    assert dangerous_name_reader(name) is None


def test_the_problem_names_the_source_and_the_fix_never_a_value():
    problem = derived_name_problem("LD_PRELOAD", "secret prod/app key 'ld_preload'", "set a `prefix`")

    assert problem == ("secret prod/app key 'ld_preload' makes the variable name 'LD_PRELOAD', read by the dynamic "
                       "loader, which secret content may not choose; set a `prefix`")
    assert derived_name_problem("APP_LD_PRELOAD", "secret prod/app key 'ld_preload'", "set a `prefix`") is None


def test_the_readme_lists_exactly_the_names_refused():
    section = README.split("**Names a secret may not choose.**", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`([A-Z_][A-Z0-9_]*\*?)`", section))
    listed |= {f"PS{i}" for i in range(1, 5)} if "`PS1`-`PS4`" in section else set()
    examples = {"BASH_ENV", "GIT_SSH_COMMAND", "GIT_CONFIG_*", "LD_PRELOAD", "APP_", "LD_", "PATH", "NODE_ENV",
                "NODE_OPTIONS", "AWS_*"}  # named in the prose, not entries of the list

    assert set(DANGEROUS_NAMES) - listed == set()
    assert listed - set(DANGEROUS_NAMES) <= examples
