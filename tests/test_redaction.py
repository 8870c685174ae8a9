"""One redactor serves everything that prints: a value a step registers as secret is `***`
in every line of output and log, at every verbosity, in error messages and exception text
(tracebacks included) and in `run` step output."""
from __future__ import annotations

import pytest

from automations.redaction import MASK, Redactor
from conftest import run_cli

SECRET = "s3cr3t-Value-9f8e7d"

LEAKY_PLUGIN = '''
from automations.options import Options, option
from automations.step import Step, StepFailed, StepResult


class LeakyOptions(Options):
    variable: str = option()
    failure: str = option("none")


class LeakyStep(Step[LeakyOptions]):
    """Registers a secret from the environment, then tries every way of printing it."""
    name = "leaky"
    Options = LeakyOptions

    def run(self, ctx):
        value = ctx.env[self.options.variable]
        ctx.secret(value)
        ctx.log.info(f"info {value}")
        ctx.log.debug(f"debug {value}")
        ctx.log.warning(f"warning {value}")
        ctx.log.output(f"output {value}")
        if self.options.failure == "step":
            raise StepFailed(f"failed with {value}")
        if self.options.failure == "bug":
            raise RuntimeError(f"unexpected {value}")
        return StepResult.ok(f"message {value}", value=value)
'''


@pytest.fixture
def leaky_config(write_config, tmp_path):
    (tmp_path / "leaky.py").write_text(LEAKY_PLUGIN)

    def make(failure: str) -> None:
        write_config(f"""
            plugins: [leaky:LeakyStep]
            tasks:
              leak:
                env: {{DERIVED: "prefix-${{MY_SECRET}}"}}
                steps:
                  - uses: leaky
                    with: {{variable: MY_SECRET, failure: {failure}}}
                  - run: echo "child $MY_SECRET"; echo "stderr $MY_SECRET" >&2; echo "derived $DERIVED"
        """)
    return make


@pytest.mark.parametrize("failure", ["none", "step", "bug"])
@pytest.mark.parametrize("verbosity", ["-q", "-v", "-vv"])
@pytest.mark.parametrize("output", ["text", "json"])
def test_a_registered_secret_never_reaches_any_output(leaky_config, base_env, tmp_path, failure, verbosity, output):
    leaky_config(failure)
    result = run_cli(verbosity, "--output", output, "run", "leak", cwd=tmp_path, env={**base_env, "MY_SECRET": SECRET})
    assert SECRET not in result.output
    assert result.code == (0 if failure == "none" else 1)


def test_at_debug_verbosity_the_masked_lines_are_all_there(leaky_config, base_env, tmp_path):
    leaky_config("none")
    result = run_cli("-vv", "run", "leak", cwd=tmp_path, env={**base_env, "MY_SECRET": SECRET})
    for line in ("info ***", "debug ***", "warning ***", "output ***", "message ***",
                 "child ***", "stderr ***", "derived prefix-***"):
        assert line in result.output, line


def test_the_traceback_of_a_step_bug_is_shown_at_debug_and_masked(leaky_config, base_env, tmp_path):
    leaky_config("bug")
    result = run_cli("-vv", "run", "leak", cwd=tmp_path, env={**base_env, "MY_SECRET": SECRET})
    assert "Traceback (most recent call last)" in result.output
    assert "RuntimeError: unexpected ***" in result.output


def test_without_debug_a_step_bug_is_one_line(leaky_config, base_env, tmp_path):
    leaky_config("bug")
    result = run_cli("run", "leak", cwd=tmp_path, env={**base_env, "MY_SECRET": SECRET})
    assert "Traceback" not in result.output
    assert "unexpected error: RuntimeError: unexpected *** (run with -vv for the traceback)" in result.stdout


def test_longer_secrets_are_masked_whole_when_one_contains_another():
    redactor = Redactor()
    redactor.add("abcd")
    redactor.add("abcdefgh")
    assert redactor.redact("x abcdefgh y abcd") == f"x {MASK} y {MASK}"


def test_each_line_of_a_multiline_secret_is_masked_on_its_own():
    redactor = Redactor()
    redactor.add("-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----")
    assert redactor.redact("line: MIIEvQIBADANBgkq") == f"line: {MASK}"


def test_very_short_values_are_not_masked():
    # Masking "ab" everywhere would hide nothing an attacker could not guess and ruin the output.
    redactor = Redactor()
    redactor.add("ab")
    assert redactor.redact("about") == "about"
