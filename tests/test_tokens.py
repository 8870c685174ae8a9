"""Token sources and the checks a token passes before anyone sends it to STS."""
from __future__ import annotations

import json
import os
import re
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.jwts import AUDIENCE, make_token, raw_token

from automations.cli.commands.token import task_login
from automations.engine.config import load_config
from automations.errors import Cancelled, FatalError, StepFailed
from automations.oidc.claims import InvalidToken, check_token, decode_unverified
from automations.oidc.sources import (
    MAX_TOKEN_BYTES,
    CommandTokenSource,
    DefaultTokenChain,
    EnvTokenSource,
    FileTokenSource,
    GitHubActionsTokenSource,
    TokenNotReady,
    TokenSource,
    TokenUnavailable,
    WebIdentityTokenFileSource,
)

NOW = 1_800_000_000


def executable(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# -- pre-flight checks ----------------------------------------------------------------------

def test_a_valid_token_gives_its_claims():
    token = make_token(iat=NOW, nbf=NOW, exp=NOW + 3600)

    claims = check_token(token, AUDIENCE, now=NOW + 10)

    assert claims["sub"].startswith("org:")


def test_an_expired_token_is_refused_saying_when_it_expired():
    token = make_token(iat=NOW - 3600, nbf=NOW - 3600, exp=NOW)

    with pytest.raises(InvalidToken, match=r"expired at 2027-01-15T08:00:00Z \(10m ago\)"):
        check_token(token, AUDIENCE, now=NOW + 600)


def test_a_token_not_yet_valid_is_refused():
    token = make_token(iat=NOW + 600, nbf=NOW + 600, exp=NOW + 4200)

    with pytest.raises(InvalidToken, match="not valid before 2027-01-15T08:10:00Z"):
        check_token(token, AUDIENCE, now=NOW)


def test_a_little_clock_difference_is_tolerated():
    token = make_token(iat=NOW + 20, nbf=NOW + 20, exp=NOW + 3600)

    assert check_token(token, AUDIENCE, now=NOW)


def test_a_token_for_another_audience_is_refused_naming_both():
    token = make_token(aud=["api://other"], iat=NOW, nbf=NOW, exp=NOW + 3600)

    with pytest.raises(InvalidToken, match=r"\['api://other'\] does not contain 'sts.amazonaws.com'"):
        check_token(token, AUDIENCE, now=NOW)


def test_a_single_string_audience_is_accepted():
    token = make_token(aud=AUDIENCE, iat=NOW, nbf=NOW, exp=NOW + 3600)

    assert check_token(token, AUDIENCE, now=NOW)["aud"] == AUDIENCE


def test_a_token_without_an_audience_is_refused():
    token = make_token(aud=None, iat=NOW, nbf=NOW, exp=NOW + 3600)

    with pytest.raises(InvalidToken, match=r"^the token has no audience \(aud\); STS needs 'sts.amazonaws.com'"):
        check_token(token, AUDIENCE, now=NOW)


@pytest.mark.parametrize("text", ["", "ghp_notajwt", "a.b", "a.b.c", "x" * 30 + "." + "y" * 30 + ".zz"])
def test_something_that_is_not_a_jwt_is_refused_without_echoing_it(text):
    with pytest.raises(InvalidToken, match="not a JWT") as raised:
        decode_unverified(text)

    assert not text or text not in str(raised.value)


def test_decode_gives_the_header_and_the_claims_unverified():
    header, claims = decode_unverified(make_token(sub="org:x/prj:y/env:z"))

    assert header["alg"] == "RS256" and header["kid"] == "test-key-1"
    assert claims["sub"] == "org:x/prj:y/env:z"


def test_a_non_numeric_expiry_is_refused():
    with pytest.raises(InvalidToken, match="'exp' claim is not a number"):
        check_token(make_token(exp="tomorrow"), AUDIENCE)


# -- hostile payloads: one clear refusal each, never a crash or a pass ------------------------

_VALID = '"iss":"https://app.gitpod.io","aud":"sts.amazonaws.com","sub":"org:o/prj:p/env:e"'
HOSTILE_PAYLOADS = {
    "exp NaN": ('{' + _VALID + ',"exp":NaN}', "holds NaN or Infinity, which JSON does not allow"),
    "exp Infinity": ('{' + _VALID + ',"exp":Infinity}', "holds NaN or Infinity"),
    "exp -Infinity": ('{' + _VALID + ',"exp":-Infinity}', "holds NaN or Infinity"),
    "exp 1e400": ('{' + _VALID + ',"exp":1e400}', "'exp' claim is not a time between the years 1 and 9999"),
    "exp -1e400": ('{' + _VALID + ',"exp":-1e400}', "'exp' claim is not a time between"),
    "exp past year 9999": ('{' + _VALID + ',"exp":1e15}', "'exp' claim is not a time between"),
    "exp 5000 digits": ('{' + _VALID + ',"exp":' + "9" * 5000 + '}', "not a JWT"),
    "exp a string": ('{' + _VALID + ',"exp":"1800000000"}', "'exp' claim is not a number"),
    "exp a bool": ('{' + _VALID + ',"exp":true}', "'exp' claim is not a number"),
    "exp a list": ('{' + _VALID + ',"exp":[1]}', "'exp' claim is not a number"),
    "nbf NaN": ('{' + _VALID + ',"nbf":NaN}', "holds NaN or Infinity"),
    "nbf -1e400": ('{' + _VALID + ',"nbf":-1e400}', "'nbf' claim is not a time between"),
    "iat an object": ('{' + _VALID + ',"iat":{}}', "'iat' claim is not a number"),
    "aud a number": ('{"iss":"https://app.gitpod.io","aud":5}', "'aud' claim is not a string or a list of strings"),
    "aud an object": ('{"iss":"https://app.gitpod.io","aud":{"sts.amazonaws.com":1}}', "'aud' claim is not a string"),
    "aud null": ('{"iss":"https://app.gitpod.io","aud":null}', "'aud' claim is not a string"),
    "aud a list of lists": ('{"iss":"https://app.gitpod.io","aud":[["sts.amazonaws.com"]]}', "'aud' claim is not a string"),
    "iss a list": ('{"iss":["https://app.gitpod.io"],"aud":"sts.amazonaws.com"}', "'iss' claim is not a string"),
    "sub a number": ('{' + _VALID.replace('"sub":"org:o/prj:p/env:e"', '"sub":7') + '}', "'sub' claim is not a string"),
    "nested 100000 deep": ('{' + _VALID + ',"x":' + "[" * 100_000 + "]" * 100_000 + '}', "nested more than 32 levels deep"),
    "nested 500 deep": ('{' + _VALID + ',"x":' + "[" * 500 + "]" * 500 + '}', "nested more than 32 levels deep"),
    "nested objects": ('{' + _VALID + ',"x":' + '{"a":' * 40 + '1' + '}' * 40 + '}', "nested more than 32 levels deep"),
}


@pytest.mark.parametrize("payload, message", HOSTILE_PAYLOADS.values(), ids=HOSTILE_PAYLOADS.keys())
def test_a_hostile_payload_is_refused_with_one_clear_reason(payload, message):
    with pytest.raises(InvalidToken) as raised:
        check_token(raw_token(payload), AUDIENCE, now=NOW)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 300


@pytest.mark.parametrize("header, message", [
    ('{"alg":NaN}', "holds NaN or Infinity"),
    ('{"alg":["RS256"]}', "header 'alg' is not a string"),
    ('{"alg":"RS256","kid":{"a":1}}', "header 'kid' is not a string"),
    ("[" * 50_000 + "]" * 50_000, "header is nested more than 32 levels deep"),
])
def test_a_hostile_header_is_refused_with_one_clear_reason(header, message):
    with pytest.raises(InvalidToken, match=re.escape(message)):
        decode_unverified(raw_token('{' + _VALID + '}', header=header))


def test_nesting_up_to_the_limit_is_accepted():
    claims = decode_unverified(raw_token('{' + _VALID + ',"x":' + "[" * 31 + "]" * 31 + '}'))[1]

    assert isinstance(claims["x"], list)


def test_a_long_audience_list_is_shown_shortened():
    audiences = [f"api://{'x' * 500}{i}" for i in range(10_000)]
    token = make_token(aud=audiences, iat=NOW, nbf=NOW, exp=NOW + 3600)

    with pytest.raises(InvalidToken) as raised:
        check_token(token, AUDIENCE, now=NOW)

    assert "(10000 in all)" in str(raised.value) and len(str(raised.value)) < 600


# -- sources ------------------------------------------------------------------------------------

def test_command_source_returns_the_commands_stdout_stripped(tmp_path):
    script = executable(tmp_path, "print-token", 'printf "  abc.def.ghi\\n\\n"')

    assert CommandTokenSource([str(script)]).fetch({"PATH": os.defpath}) == "abc.def.ghi"


def test_command_source_gets_the_environment_it_is_given(tmp_path):
    script = executable(tmp_path, "print-token", 'echo "$MY_TOKEN"')

    assert CommandTokenSource([str(script)]).fetch({"MY_TOKEN": "from.the.env", "PATH": os.defpath}) == "from.the.env"


def test_command_source_runs_without_a_shell(tmp_path):
    script = executable(tmp_path, "echo-args", 'echo "$#:$1"')

    assert CommandTokenSource([str(script), "a b;c"]).fetch({"PATH": os.defpath}) == "1:a b;c"


def test_a_missing_command_is_not_ready_yet():
    with pytest.raises(TokenNotReady, match="not found on PATH"):
        CommandTokenSource(["no-such-token-cli"]).fetch({"PATH": "/nonexistent"})


def test_a_failing_command_is_not_ready_yet_and_says_why(tmp_path):
    script = executable(tmp_path, "fail", 'echo "starting up" >&2; echo "not logged in" >&2; exit 3')

    with pytest.raises(TokenNotReady, match=r"failed \(exit code 3\); its output is not shown"):
        CommandTokenSource([str(script)]).fetch({"PATH": os.defpath})


def test_a_failing_command_never_shows_what_it_printed(tmp_path):
    # Debug modes print the token to stderr; a token is a secret before it is read.
    token = make_token()
    script = executable(tmp_path, "fail", f'echo "debug: got {token}" >&2; echo "{token}"; exit 1')

    with pytest.raises(TokenNotReady) as raised:
        CommandTokenSource([str(script)]).fetch({"PATH": os.defpath})

    assert "debug" not in str(raised.value) and token.split(".")[2] not in str(raised.value)


def test_a_command_printing_without_end_is_stopped_at_64_kib(tmp_path):
    script = executable(tmp_path, "endless", "exec yes eyJhbGciOiJIUzI1NiJ9")

    with pytest.raises(InvalidToken, match="printed more than 64 KiB, which is no token; stopped it"):
        CommandTokenSource([str(script)], timeout=60).fetch({"PATH": os.defpath})


def test_a_token_of_64_kib_is_read_whole(tmp_path):
    script = executable(tmp_path, "big", f"head -c {MAX_TOKEN_BYTES} /dev/zero | tr '\\0' x")

    assert len(CommandTokenSource([str(script)]).fetch({"PATH": os.defpath})) == MAX_TOKEN_BYTES


def test_the_token_of_a_command_that_leaves_a_child_holding_its_output_is_read_when_it_exits(tmp_path):
    script = executable(tmp_path, "forks", "echo a.b.c; sleep 30 &")

    started = time.monotonic()
    assert CommandTokenSource([str(script)], timeout=20).fetch({"PATH": os.defpath}) == "a.b.c"
    assert time.monotonic() - started < 15  # not the child's 30 s, nor the timeout


def test_a_token_file_over_64_kib_is_refused_unread(tmp_path):
    (tmp_path / "t").write_bytes(b"x" * (MAX_TOKEN_BYTES + 1))

    with pytest.raises(InvalidToken, match=r"holds more than 64 KiB, which is no token"):
        FileTokenSource(tmp_path / "t").fetch({})


def test_a_token_variable_over_64_kib_is_refused():
    with pytest.raises(InvalidToken, match=r"\$OIDC_TOKEN holds more than 64 KiB"):
        EnvTokenSource("OIDC_TOKEN").fetch({"OIDC_TOKEN": "x" * (MAX_TOKEN_BYTES + 1)})


def test_a_command_printing_nothing_is_not_ready_yet(tmp_path):
    script = executable(tmp_path, "silent", "exit 0")

    with pytest.raises(TokenNotReady, match="printed no token"):
        CommandTokenSource([str(script)]).fetch({"PATH": os.defpath})


def test_a_hanging_command_times_out_as_not_ready(tmp_path):
    script = executable(tmp_path, "hang", "exec sleep 30")

    with pytest.raises(TokenNotReady, match="timed out after 0.3s"):
        CommandTokenSource([str(script)], timeout=0.3).fetch({"PATH": os.defpath})


def test_a_cancelled_run_stops_the_command(tmp_path):
    script = executable(tmp_path, "hang", "exec sleep 30")
    cancelled = threading.Event()
    cancelled.set()

    with pytest.raises(Cancelled):
        CommandTokenSource([str(script)], timeout=30).fetch({"PATH": os.defpath}, cancelled)


def test_file_source_reads_the_file_stripped(tmp_path):
    (tmp_path / "t").write_text("abc.def.ghi\n")

    assert FileTokenSource(tmp_path / "t").fetch({}) == "abc.def.ghi"


def test_a_missing_or_empty_token_file_is_not_ready_yet(tmp_path):
    (tmp_path / "empty").write_text("\n")

    with pytest.raises(TokenNotReady, match="does not exist"):
        FileTokenSource(tmp_path / "missing").fetch({})
    with pytest.raises(TokenNotReady, match="is empty"):
        FileTokenSource(tmp_path / "empty").fetch({})


def test_env_source_reads_the_variable():
    assert EnvTokenSource("OIDC_TOKEN").fetch({"OIDC_TOKEN": "a.b.c\n"}) == "a.b.c"


def test_an_unset_env_variable_is_a_fatal_error():
    with pytest.raises(StepFailed, match=r"\$OIDC_TOKEN is not set") as raised:
        EnvTokenSource("OIDC_TOKEN").fetch({})

    assert not isinstance(raised.value, TokenNotReady)


class _ActionsEndpoint(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        body = json.dumps({"value": "gh.actions.token"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def actions_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ActionsEndpoint)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    _ActionsEndpoint.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0"
    server.shutdown()
    server.server_close()


def test_github_actions_source_asks_for_the_audience_with_the_bearer_token(actions_endpoint):
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": actions_endpoint, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-secret"}

    token = GitHubActionsTokenSource("sts.amazonaws.com").fetch(env)

    assert token == "gh.actions.token"
    [(path, authorization)] = _ActionsEndpoint.seen
    assert path == "/token?api-version=2.0&audience=sts.amazonaws.com"
    assert authorization == "bearer runner-secret"


def test_an_unreachable_actions_endpoint_is_not_ready_yet():
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"}

    with pytest.raises(TokenNotReady):
        GitHubActionsTokenSource("sts.amazonaws.com", timeout=2).fetch(env)


# -- the default chain --------------------------------------------------------------------------

def test_the_chain_prefers_the_gitpod_cli_and_asks_for_the_audience(tmp_path):
    executable(tmp_path, "gitpod", 'echo "gitpod:$*"')
    executable(tmp_path, "gp", 'echo "gp:$*"')

    token = DefaultTokenChain("my-aud").fetch({"PATH": str(tmp_path), "AWS_WEB_IDENTITY_TOKEN_FILE": "/x"})

    assert token == "gitpod:idp token --audience my-aud"


def test_the_chain_falls_back_to_the_gp_cli(tmp_path):
    executable(tmp_path, "gp", 'echo "gp:$*"')

    assert DefaultTokenChain("my-aud").fetch({"PATH": str(tmp_path)}) == "gp:idp token --audience my-aud"


def test_the_chain_falls_back_to_the_web_identity_token_file(tmp_path):
    (tmp_path / "token").write_text("file.token.value")
    env = {"PATH": str(tmp_path / "empty"), "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token")}

    assert DefaultTokenChain("a").fetch(env) == "file.token.value"


def test_the_chain_falls_back_to_github_actions(actions_endpoint, tmp_path):
    env = {"PATH": str(tmp_path), "ACTIONS_ID_TOKEN_REQUEST_URL": actions_endpoint,
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"}

    assert DefaultTokenChain("a").fetch(env) == "gh.actions.token"


def test_with_no_source_the_chain_says_everything_it_tried(tmp_path):
    with pytest.raises(TokenUnavailable) as raised:
        DefaultTokenChain("a").fetch({"PATH": str(tmp_path)})

    message = str(raised.value)
    for tried in ("gitpod idp token", "gp idp token", "$AWS_WEB_IDENTITY_TOKEN_FILE", "ACTIONS_ID_TOKEN_REQUEST_URL"):
        assert tried in message
    assert not isinstance(raised.value, TokenNotReady)


def test_every_source_meets_the_token_source_interface():
    for source in (CommandTokenSource(["x"]), FileTokenSource(Path("x")), EnvTokenSource("X"),
                   WebIdentityTokenFileSource(), GitHubActionsTokenSource("a"), DefaultTokenChain("a")):
        assert isinstance(source, TokenSource)
        assert isinstance(source.describe, str) and str(source) == source.describe


# -- a task's token source -------------------------------------------------------------------------

def test_the_token_source_of_the_only_task_with_aws_login(write_config, tmp_path):
    (tmp_path / "token").write_text("from.the.file")
    config = load_config(write_config("""
        tasks:
          build: {command: make}
          login:
            steps:
              - uses: aws-login
                with: {roleArn: "${AWS_ROLE_ARN}", token: {file: token}}
    """))

    source = task_login(config, environ={}).source

    assert source.fetch({}) == "from.the.file"


def test_the_audience_given_reaches_the_default_chain(write_config, tmp_path):
    executable(tmp_path, "gitpod", 'echo "$*"')
    config = load_config(write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {audience: step-aud}
    """))

    assert task_login(config).source.fetch({"PATH": str(tmp_path)}) == "idp token --audience step-aud"
    assert task_login(config, audience="cli-aud").source.fetch({"PATH": str(tmp_path)}) == \
        "idp token --audience cli-aud"


def test_several_tasks_with_aws_login_ask_for_task(write_config):
    config = load_config(write_config("""
        tasks:
          one: {steps: [{uses: aws-login}]}
          two: {steps: [{uses: aws-login}]}
    """))

    with pytest.raises(FatalError, match="choose one with --task"):
        task_login(config)
    assert task_login(config, "two")


def test_a_task_without_aws_login_is_a_clear_error(write_config):
    config = load_config(write_config("""
        tasks:
          build: {command: make}
    """))

    with pytest.raises(FatalError, match="no task .* has an aws-login step"):
        task_login(config)
    with pytest.raises(FatalError, match="task 'build' has no aws-login step"):
        task_login(config, "build")


def test_a_token_option_naming_an_unset_variable_is_a_clear_error(write_config):
    config = load_config(write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {token: {env: "${WHICH_VAR}"}}
    """))

    with pytest.raises(FatalError, match=r"\$\{WHICH_VAR\} is not set"):
        task_login(config, environ={})


def test_a_fifo_at_the_token_file_path_is_refused_at_once(tmp_path):
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            FileTokenSource(fifo).fetch({})
        except BaseException as error:  # noqa: BLE001 - the test inspects what was raised
            outcome.append(error)

    reader = threading.Thread(target=fetch, daemon=True)
    reader.start()
    reader.join(10)  # generous: refusing takes microseconds; before, the open blocked forever
    assert not reader.is_alive(), "reading a FIFO token file blocked"
    [error] = outcome
    assert isinstance(error, StepFailed) and "FIFO" in str(error) and "not a regular file" in str(error)


# -- the claims checks at their edges -------------------------------------------------------------

def test_a_token_expiring_at_this_very_second_has_expired():
    with pytest.raises(InvalidToken, match=r"^the token expired at .* \(0s ago\); fetch a new one$"):
        check_token(make_token(iat=NOW - 60, nbf=NOW - 60, exp=NOW), AUDIENCE, now=NOW)


def test_a_token_valid_from_within_the_clock_skew_is_accepted_and_later_is_not():
    from automations.oidc.claims import CLOCK_SKEW_SECONDS

    check_token(make_token(iat=NOW, nbf=NOW + CLOCK_SKEW_SECONDS, exp=NOW + 3600), AUDIENCE, now=NOW)
    with pytest.raises(InvalidToken, match=r"^the token is not valid before .* \(in 2m\); is this machine's clock right\?$"):
        check_token(make_token(iat=NOW, nbf=NOW + 120, exp=NOW + 3600), AUDIENCE, now=NOW)


def test_without_a_time_given_the_clock_decides(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: float(NOW + 7200))
    with pytest.raises(InvalidToken, match="expired"):
        check_token(make_token(iat=NOW, nbf=NOW, exp=NOW + 3600), AUDIENCE)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_each_time_claim_must_be_a_number(claim):
    with pytest.raises(InvalidToken, match=f"^the token's '{claim}' claim is not a number$"):
        decode_unverified(make_token(**{claim: "soon"}))


def test_a_long_list_of_audiences_is_shown_short():
    many = ["a" * 120, "b", "c", "d"]
    with pytest.raises(InvalidToken) as raised:
        check_token(make_token(aud=many, iat=NOW, nbf=NOW, exp=NOW + 3600), AUDIENCE, now=NOW)
    assert str(raised.value) == (f"the token's audience ['{'a' * 97}...', 'b', 'c', ... (4 in all)] does not contain "
                                 f"{AUDIENCE!r} (request the token with --audience {AUDIENCE})")
    with pytest.raises(InvalidToken) as raised:
        check_token(make_token(aud=["a" * 100, "b", "c"], iat=NOW, nbf=NOW, exp=NOW + 3600), AUDIENCE, now=NOW)
    assert f"['{'a' * 100}', 'b', 'c'] does not contain" in str(raised.value)


# -- what the user reads when a token is refused, word for word --------------------------------

@pytest.mark.parametrize("token, message", [
    ("a.b", "the token is not a JWT (expected three dot-separated parts, got 2)"),
    ("a.b.c.d", "the token is not a JWT (expected three dot-separated parts, got 4)"),
    ("nodots", "the token is not a JWT (expected three dot-separated parts, got 1)"),
    (raw_token('{' + _VALID + '}', header='["RS256"]'), "the token is not a JWT (its header is not a JSON object)"),
    (raw_token('"just a string"'), "the token is not a JWT (its payload is not a JSON object)"),
    (raw_token('{' + _VALID + '}').split(".")[0] + ".!!!!.sig", "the token is not a JWT (its payload is not base64url-encoded JSON)"),
    (raw_token('{' + _VALID + '}', header='{"alg":"RS256","typ":1}'), "the token's header 'typ' is not a string"),
    (raw_token('{"aud":7}'), "the token's 'aud' claim is not a string or a list of strings"),
    (raw_token('{' + _VALID + ',"exp":NaN}'), "the token is not a JWT (its payload holds NaN or Infinity, which JSON does not allow)"),
])
def test_a_refused_token_says_exactly_why(token, message):
    with pytest.raises(InvalidToken) as raised:
        decode_unverified(token)

    assert str(raised.value) == message


def test_a_token_with_a_stray_character_inside_is_refused_not_read_around():
    # A token pasted with a line break or a space in it is not the token the issuer signed.
    header, payload, signature = raw_token('{' + _VALID + '}').split(".")
    for stray in ("\n", " ", "!", "=", "\n" * 4, " " * 4, "!" * 4):   # 4: the padding still adds up
        broken = f"{header}.{payload[:8]}{stray}{payload[8:]}.{signature}"
        with pytest.raises(InvalidToken, match=r"its payload is not base64url-encoded JSON"):
            decode_unverified(broken)


def test_a_payload_whose_base64url_holds_dash_and_underscore_is_read():
    # "~~~" encodes to "fn5-", "???" to "Pz8_": the two characters base64url has and base64 has not.
    token = raw_token('{' + _VALID + ',"x":"~~~???"}')
    payload = token.split(".")[1]
    assert "-" in payload and "_" in payload

    assert decode_unverified(token)[1]["x"] == "~~~???"


def test_the_first_and_the_last_second_a_date_can_show_are_accepted_and_no_further():
    first, last = -62_135_596_800, 253_402_300_799   # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z
    assert decode_unverified(raw_token('{' + _VALID + f',"nbf":{first},"exp":{last}' + '}'))[1]["exp"] == last
    for claim, value in (("nbf", first - 1), ("exp", last + 1)):
        with pytest.raises(InvalidToken, match=f"^the token's '{claim}' claim is not a time between the years 1 and 9999$"):
            decode_unverified(raw_token('{' + _VALID + f',"{claim}":{value}' + '}'))


def test_a_token_valid_from_later_says_how_long_to_wait():
    with pytest.raises(InvalidToken) as raised:
        check_token(make_token(iat=NOW, nbf=NOW + 5400, exp=NOW + 7200), AUDIENCE, now=NOW)

    assert str(raised.value) == ("the token is not valid before 2027-01-15T09:30:00Z (in 1h30m); "
                                 "is this machine's clock right?")
