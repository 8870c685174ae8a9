"""One redactor serves everything that prints: a value a step registers as secret is `***`
in every line of output and log, at every verbosity, in error messages and exception text
(tracebacks included) and in `run` step output."""
from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
from support.cli import run_cli

from automations.redaction import MASK, Redactor

SECRET = "s3cr3t-Value-9f8e7d"

LEAKY_PLUGIN = '''
from automations.engine.options import Options, option
from automations.engine.step import Step, StepFailed, StepResult


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


def masked(text: str, *values: str) -> str:
    """`text` through a redactor knowing `values`."""
    redactor = Redactor()
    for value in values:
        redactor.add(value)
    return redactor.redact(text)


def test_longer_secrets_are_masked_whole_when_one_contains_another():
    assert masked("x abcdefgh y abcd", "abcd", "abcdefgh") == f"x {MASK} y {MASK}"


def test_each_line_of_a_multiline_secret_is_masked_on_its_own():
    assert masked("line: MIIEvQIBADANBgkq", "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----") == f"line: {MASK}"


def test_a_short_line_of_a_multiline_secret_is_not_masked_on_its_own():
    # `{` and `}` of a pretty-printed JSON secret are no secret; masking them would mangle everything.
    assert masked("if x { y }", '{\n  "password": "hunter2-and-more"\n}') == "if x { y }"


@pytest.mark.parametrize("value", ["7", "ab", "5432", "short!"])
def test_a_short_value_is_masked_where_it_stands_alone(value):
    assert masked(f"{value} ({value}) ={value}; {value}", value) == f"{MASK} ({MASK}) ={MASK}; {MASK}"


def test_a_short_value_next_to_a_letter_or_digit_is_left_alone():
    # `null` registered must not print `nullable` as `***able`, nor 5432 turn 154321 into noise.
    assert masked("nullable 154321 null:5432", "null", "5432") == f"nullable 154321 {MASK}:{MASK}"


def test_a_short_value_inside_a_variable_name_is_left_alone():
    # A one-letter secret `K` must not turn the key `K_B` of an error message into `***_B`.
    assert masked("K_B: bad value; _K K", "K") == f"K_B: bad value; _K {MASK}"


def test_a_value_of_eight_characters_or_more_is_masked_anywhere():
    assert masked("xhunter22y", "hunter22") == f"x{MASK}y"


@pytest.mark.parametrize("encode", [
    lambda v: json.dumps(v)[1:-1],
    lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    lambda v: urllib.parse.quote(v, safe=""),
    lambda v: urllib.parse.quote_plus(v),
    lambda v: base64.b64encode(v.encode()).decode(),
    lambda v: base64.urlsafe_b64encode(v.encode()).decode(),
], ids=["json", "json-unicode", "url", "url-plus", "base64", "base64url"])
def test_the_encoded_forms_of_a_value_are_masked(encode):
    redactor = Redactor()
    value = 'p\u00e4ss "w\\rd"\t\U0001f511 ok?/+'
    redactor.add(value)
    assert redactor.redact(f"<{encode(value)}>") in (f"<{MASK}>", f"<{MASK}=>", f"<{MASK}==>")


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["base64", "base64url"])
# The second value's base64 has `+` and `/`, its base64url `-` and `_`.
@pytest.mark.parametrize("value", ["a-secret-of-some-length", "~~~secret-value~~~???"])
def test_a_value_inside_a_larger_base64_blob_is_masked_at_any_alignment(offset, encode, value):
    # The one or two characters a value shares with its neighbours' bytes stay; the rest goes.
    redactor = Redactor()
    redactor.add(value)
    blob = encode(b"head"[:offset] + value.encode() + b"tail").decode()
    redacted = redactor.redact(blob)
    assert MASK in redacted and len(redacted.replace(MASK, "")) <= 12


def test_anything_shaped_like_a_jwt_is_masked_unregistered():
    redactor = Redactor()
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvdGhlciJ9.c2lnbmF0dXJl-_x"
    assert redactor.redact(f"token={jwt}; done") == f"token={MASK}; done"


def test_structured_values_are_redacted_before_they_are_serialised():
    redactor = Redactor()
    redactor.add('quote " and backslash \\')
    record = {"line": 'quote " and backslash \\!', 'quote " and backslash \\': [1, None, True, 'x']}
    assert redactor.redact_value(record) == {"line": f"{MASK}!", MASK: [1, None, True, "x"]}


def test_many_long_values_are_all_masked_longest_first():
    redactor = Redactor()
    values = [f"value-{i:05d}-" + "x" * (i % 50) for i in range(2000)]
    for value in values:
        redactor.add(value)
    line = " ".join(values[::97])
    assert redactor.redact(line) == " ".join([MASK] * len(values[::97]))


def test_a_value_far_longer_than_the_matched_prefix_is_masked_whole_and_only_whole():
    redactor = Redactor()
    big = "B" * 30 + "-" + "y" * 70_000
    redactor.add(big)
    assert redactor.redact(f"<{big}>") == f"<{MASK}>"
    assert redactor.redact(f"<{big[:-1]}>") == f"<{big[:-1]}>"


def test_a_short_registered_value_is_known_as_short():
    redactor = Redactor()
    redactor.add("5432")
    redactor.add("long-enough")
    assert redactor.is_short(" 5432\n") and not redactor.is_short("long-enough") and not redactor.is_short("9")


def test_a_secret_given_as_bytes_is_masked():
    assert masked("key=bytes-secret-1", b"bytes-secret-1") == f"key={MASK}"


def test_a_secret_of_bytes_that_are_not_utf8_is_masked_as_it_would_print():
    # Decoded with replacement characters, as a program printing those bytes leniently shows them.
    assert masked("key=\ufffdsecret-bytes", b"\xffsecret-bytes") == f"key={MASK}"


def test_a_secret_holding_a_lone_surrogate_is_masked():
    # os.environ and file names carry undecodable bytes as lone surrogates (surrogateescape).
    value = "env-\udcff-secret"
    assert masked(f"value={value}", value) == f"value={MASK}"


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_an_empty_or_blank_secret_masks_nothing(blank):
    assert masked("nothing to hide -- here ()", blank) == "nothing to hide -- here ()"


def test_a_line_of_eight_characters_of_a_multiline_secret_is_masked_on_its_own():
    assert masked("line: abcdefgh", "-----BEGIN KEY-----\nabcdefgh\n-----END KEY-----") == f"line: {MASK}"


def test_a_value_of_eight_characters_is_not_short():
    redactor = Redactor()
    redactor.add("8-chars!")
    redactor.add("7chars!")
    assert not redactor.is_short("8-chars!") and redactor.is_short("7chars!")


def test_a_value_of_seven_characters_is_masked_only_where_it_stands_alone():
    text = "xabcdefg abcdefgx _abcdefg abcdefg_ (abcdefg) 1abcdefg abcdefg"
    assert masked(text, "abcdefg") == f"xabcdefg abcdefgx _abcdefg abcdefg_ ({MASK}) 1abcdefg {MASK}"
    assert masked("abcdefg", "abcdefg") == MASK


@pytest.mark.parametrize("width", range(9))
def test_a_value_is_masked_at_every_position_up_to_the_end_of_the_text(width):
    pad = "-" * width
    assert masked(f"{pad}hunter22", "hunter22") == f"{pad}{MASK}"
    assert masked(f"{pad}hunter22{pad}", "hunter22") == f"{pad}{MASK}{pad}"


def test_of_two_short_values_starting_at_one_place_the_longer_is_masked():
    # `ab` and `ab-c` both stand alone at the start of `ab-c`: the whole of `ab-c` goes.
    assert masked("x ab-c y", "ab", "ab-c") == f"x {MASK} y"


def test_two_secrets_side_by_side_are_masked_one_by_one():
    assert masked("hunter22letmein!", "hunter22", "letmein!") == MASK + MASK


def test_a_value_ending_an_unpadded_base64url_blob_is_masked_to_the_last_character():
    # JWT segments and URLs drop the `=` padding: the value's last characters must still go.
    redactor = Redactor()
    value = "a-secret-of-some-length"
    redactor.add(value)
    blob = base64.urlsafe_b64encode(b"hea" + value.encode()).decode().rstrip("=")
    assert redactor.redact(blob) == f"aGVh{MASK}"


def test_any_other_value_in_a_structure_is_redacted_as_the_text_it_prints_as():
    from pathlib import PurePosixPath

    redactor = Redactor()
    redactor.add("secret-dir-name")
    assert redactor.redact_value({"path": PurePosixPath("/x/secret-dir-name/y")}) == {"path": f"/x/{MASK}/y"}
