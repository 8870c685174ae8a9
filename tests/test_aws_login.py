"""aws-login end to end: the `automations` command (in process), STS served by moto over
real HTTP through a recording, fault-injecting proxy, files read back by the AWS CLI, boto3
and python-dotenv. moto accepts any token and any role, so what it does not check (the
token's shape, expiry and audience; our retries; what we write) is checked here."""
from __future__ import annotations

import calendar
import configparser
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.cli import BIN_DIR, Result, run_cli
from support.jwts import make_token
from support.proxy import FaultProxy

from automations.cli.main import main

ROLE = "arn:aws:iam::111122223333:role/dev-role"
ASSUME = "AssumeRoleWithWebIdentity"
FAST_RETRY = "{attempts: 6, initialDelay: 0.01, maxDelay: 0.05}"

PROBE_STEP = '''
from dataclasses import dataclass
import json
from automations.api import Step, StepResult
from automations.aws.clients import aws_sessions

@dataclass
class ProbeOptions:
    pass

class ProbeStep(Step[ProbeOptions]):
    """Prints what a later AWS step of the same run sees: the outputs and the identity."""
    name = "probe"
    Options = ProbeOptions

    def run(self, ctx):
        identity = aws_sessions(ctx).client("sts").get_caller_identity()
        ctx.log.output("PROBE " + json.dumps({"outputs": dict(ctx.outputs["aws"]), "arn": identity["Arn"]}))
        return StepResult.ok()
'''


@pytest.fixture
def sts(aws_env: dict[str, str], moto_endpoint: str):
    """The proxy in front of moto; `aws_env` points at it."""
    with FaultProxy(moto_endpoint) as proxy:
        aws_env["AWS_ENDPOINT_URL"] = proxy.url
        yield proxy


@pytest.fixture
def token(tmp_path: Path) -> str:
    value = make_token()
    (tmp_path / "token").write_text(value + "\n")
    return value


def login_config(write_config, *, options: str = "", profile: str = "dev", extra_steps: str = "",
                 retry: str = FAST_RETRY, task: str = "login", name: str = "automations.yaml") -> Path:
    with_lines = textwrap.indent(textwrap.dedent(options).strip(), " " * 10)
    text = f"""
tasks:
  {task}:
    steps:
      - uses: aws-login
        id: aws
        retry: {retry}
        with:
          roleArn: {ROLE}
          token: {{file: token}}
          profile: {profile}
{with_lines}
{extra_steps}"""
    return write_config(text, name)


def login(config: Path, env: dict[str, str], *args: str, task: str = "login"):
    return run_cli("-c", str(config), *args, "run", task, env=env)


def credentials(env: dict[str, str]) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read(env["AWS_SHARED_CREDENTIALS_FILE"])
    return parser


def aws_config(env: dict[str, str]) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read(env["AWS_CONFIG_FILE"])
    return parser


# -- the happy path ------------------------------------------------------------------------

def test_writes_the_assumed_role_credentials_into_the_profile(write_config, sts, aws_env, token):
    result = login(login_config(write_config, options="region: eu-west-1"), aws_env)

    assert result.code == 0, result.output
    assert "changed" in result.stdout
    profile = credentials(aws_env)["dev"]
    assert profile["aws_access_key_id"].startswith("ASIA")
    assert profile["aws_secret_access_key"] and profile["aws_session_token"]
    assert aws_config(aws_env)["profile dev"]["region"] == "eu-west-1"
    assert sts.count(ASSUME) == 1


def test_records_the_expiry_as_x_security_token_expires(write_config, sts, aws_env, token):
    before = time.time()
    login(login_config(write_config, options="durationSeconds: 7200"), aws_env)

    expires = credentials(aws_env)["dev"]["x_security_token_expires"]
    moment = calendar.timegm(time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ"))
    assert expires.endswith("Z")
    assert before + 7200 - 5 <= moment <= time.time() + 7200 + 5


def test_sends_the_token_in_the_request_body_of_an_unsigned_call(write_config, sts, aws_env, token):
    login(login_config(write_config, options="durationSeconds: 1800"), aws_env)

    [call] = sts.calls(ASSUME)
    form = call.form()
    assert form["WebIdentityToken"] == token
    assert token not in call.path
    assert "authorization" not in call.headers  # needs no AWS credentials at all
    assert form["RoleArn"] == ROLE
    assert form["DurationSeconds"] == "1800"


def test_session_name_is_the_environment_id_and_the_time(write_config, sts, aws_env, token):
    login(login_config(write_config), aws_env)

    name = sts.calls(ASSUME)[0].form()["RoleSessionName"]
    environment, _, stamp = name.rpartition("-")
    assert environment == "019527e4-8a41-7c5d-9e3b-3c1e5f6a7b8c"
    assert abs(int(stamp) - time.time()) < 300


def test_sends_the_session_policy_and_policy_arns(write_config, sts, aws_env, token):
    options = """
        policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
        policyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]
    """
    result = login(login_config(write_config, options=options), aws_env)

    assert result.code == 0, result.output
    form = sts.calls(ASSUME)[0].form()
    assert json.loads(form["Policy"])["Statement"][0]["Action"] == "s3:GetObject"
    assert form["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_role_arn_defaults_to_the_AWS_ROLE_ARN_variable(write_config, sts, aws_env, token):
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {token: {file: token}}
    """)
    aws_env["AWS_ROLE_ARN"] = "arn:aws:iam::444455556666:role/from-env"

    result = login(config, aws_env)

    assert result.code == 0, result.output
    assert sts.calls(ASSUME)[0].form()["RoleArn"] == "arn:aws:iam::444455556666:role/from-env"
    assert "default" in credentials(aws_env)


def test_works_when_aws_profile_names_the_profile_not_written_yet(write_config, sts, aws_env, token):
    aws_env["AWS_PROFILE"] = "dev"

    result = login(login_config(write_config, options="verify: true"), aws_env)

    assert result.code == 0, result.output
    assert "dev" in credentials(aws_env)


def test_without_any_role_arn_says_how_to_give_one(write_config, sts, aws_env, token):
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with: {token: {file: token}}
    """)

    result = login(config, aws_env)

    assert result.code == 1
    assert "roleArn" in result.output and "$AWS_ROLE_ARN" in result.output
    assert sts.count() == 0


def test_a_malformed_role_arn_is_reported_at_its_position_by_validate(write_config, aws_env):
    config = write_config("""
        tasks:
          login:
            steps:
              - uses: aws-login
                with:
                  roleArn: arn:aws:iam::12345:role/short-account
    """)

    result = run_cli("-c", str(config), "validate", env=aws_env)

    assert result.code == 2
    assert "automations.yaml:6:20: aws-login: with.roleArn: 'arn:aws:iam::12345:role/short-account' is not a role ARN" in result.stderr
    assert "Traceback" not in result.output


def test_the_aws_cli_reads_the_profile_we_wrote(write_config, sts, aws_env, token):
    login(login_config(write_config, options="region: us-east-1"), aws_env)

    proc = subprocess.run([str(BIN_DIR / "aws"), "sts", "get-caller-identity", "--profile", "dev", "--output", "json"],
                          env=aws_env, capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Arn"].startswith("arn:aws:sts::111122223333:assumed-role/dev-role/")


def test_later_steps_of_the_run_get_the_credentials_and_outputs(write_config, sts, aws_env, token, tmp_path):
    (tmp_path / "probe_step.py").write_text(PROBE_STEP)
    config = login_config(write_config, extra_steps="      - uses: probe\n")
    config.write_text("plugins: [probe_step:ProbeStep]\n" + config.read_text())

    result = login(config, aws_env)

    assert result.code == 0, result.output
    probe = json.loads(result.stdout.split("PROBE ", 1)[1].splitlines()[0])
    assert probe["outputs"]["profile"] == "dev"
    assert probe["outputs"]["accountId"] == "111122223333"
    assert probe["arn"] == probe["outputs"]["assumedRoleArn"]
    assert probe["outputs"]["expiration"] == credentials(aws_env)["dev"]["x_security_token_expires"]


# -- the files -------------------------------------------------------------------------------

def test_other_profiles_comments_and_blank_lines_stay_byte_for_byte(write_config, sts, aws_env, token):
    original = ("# managed by hand\n[default]\naws_access_key_id = AKIAKEEPME\naws_secret_access_key = keep\n\n"
                "; the profile we replace\n[dev]\naws_access_key_id = OLD\nregion_note = x\n\n[other]\nkey = value\n")
    config_original = "[profile other]\nregion = ap-south-1\n# trailing comment\n"
    path = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    path.parent.mkdir(mode=0o700)
    path.write_text(original)
    Path(aws_env["AWS_CONFIG_FILE"]).write_text(config_original)

    login(login_config(write_config, options="region: eu-west-1"), aws_env)

    text = path.read_text()
    head, _, rest = text.partition("[dev]\n")
    assert head == original.partition("[dev]\n")[0]
    assert rest.endswith("\n\n[other]\nkey = value\n")
    assert "region_note = x\n" in rest and "OLD" not in rest
    assert Path(aws_env["AWS_CONFIG_FILE"]).read_text().startswith(config_original)


def test_files_are_private(write_config, sts, aws_env, token):
    login(login_config(write_config, options="region: eu-west-1"), aws_env)

    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        assert stat.S_IMODE(os.stat(aws_env[name]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(Path(aws_env["AWS_CONFIG_FILE"]).parent).st_mode) == 0o700


def test_a_symlinked_credentials_file_is_refused(write_config, sts, aws_env, token, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("")
    path = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    path.parent.mkdir(mode=0o700)
    path.symlink_to(target)

    result = login(login_config(write_config), aws_env)

    assert result.code == 1
    assert "symbolic link" in result.output
    assert target.read_text() == ""


def test_env_file_gets_the_credentials_and_region(write_config, sts, aws_env, token, tmp_path):
    from dotenv import dotenv_values

    login(login_config(write_config, options="region: eu-west-1\nenvFile: aws.env"), aws_env)

    values = dotenv_values(tmp_path / "aws.env")
    profile = credentials(aws_env)["dev"]
    assert values == {"AWS_ACCESS_KEY_ID": profile["aws_access_key_id"],
                      "AWS_SECRET_ACCESS_KEY": profile["aws_secret_access_key"],
                      "AWS_SESSION_TOKEN": profile["aws_session_token"],
                      "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert stat.S_IMODE(os.stat(tmp_path / "aws.env").st_mode) == 0o600


@pytest.mark.parametrize(("readers", "code"), [(None, 1), ("[python-dotenv, bash]", 0)])
def test_env_file_merge_checks_the_file_with_the_steps_readers(write_config, sts, aws_env, token, tmp_path,
                                                               readers, code):
    (tmp_path / "aws.env").write_text("# mine\nURL=http://x/#frag\n")  # node-dotenv cuts the URL at '#'
    options = "envFile: aws.env" + (f"\nreaders: {readers}" if readers else "")
    result = login(login_config(write_config, options=options), aws_env)
    assert result.code == code, result.output
    if code:
        assert "line 2" in result.output and "node-dotenv" in result.output
        assert (tmp_path / "aws.env").read_text() == "# mine\nURL=http://x/#frag\n"
    else:
        assert "AWS_SESSION_TOKEN=" in (tmp_path / "aws.env").read_text()


# -- tokens refused before any call -----------------------------------------------------------

@pytest.mark.parametrize("bad_token, message", [
    (make_token(exp=int(time.time()) - 600, iat=int(time.time()) - 4200, nbf=None), "expired at"),
    ("not-a-jwt", "not a JWT"),
    (make_token(aud="https://someone-else"), "audience"),
    (make_token(nbf=int(time.time()) + 3000), "not valid before"),
])
def test_a_token_that_must_fail_is_refused_without_calling_sts(write_config, sts, aws_env, tmp_path, bad_token, message):
    (tmp_path / "token").write_text(bad_token)

    result = login(login_config(write_config), aws_env)

    assert result.code == 1
    assert message in result.output
    assert sts.count() == 0
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_the_expired_message_says_when(write_config, sts, aws_env, tmp_path):
    (tmp_path / "token").write_text(make_token(exp=1_700_000_000, iat=1_699_996_400, nbf=None))

    result = login(login_config(write_config), aws_env)

    assert "expired at 2023-11-14T22:13:20Z" in result.output


# -- retries: exact STS call counts -----------------------------------------------------------

@pytest.mark.parametrize("status, code", [
    (400, "IDPCommunicationError"),
    (400, "InvalidIdentityToken"),
    (400, "ExpiredTokenException"),
    (400, "Throttling"),
    (400, "ThrottlingException"),
    (400, "RequestLimitExceeded"),
    (500, "InternalFailure"),
    (503, "ServiceUnavailable"),
])
def test_a_transient_error_is_retried_until_sts_answers(write_config, sts, aws_env, token, status, code):
    sts.fail(action=ASSUME, times=2, status=status, code=code)

    result = login(login_config(write_config), aws_env)

    assert result.code == 0, result.output
    assert sts.count(ASSUME) == 3
    assert result.stderr.count(f"STS {code}") == 2  # one warning per failed attempt
    assert "dev" in credentials(aws_env)


def test_a_dropped_connection_is_retried(write_config, sts, aws_env, token):
    sts.fail(action=ASSUME, times=2, drop=True)

    result = login(login_config(write_config), aws_env)

    assert result.code == 0, result.output
    assert sts.count(ASSUME) == 3


@pytest.mark.parametrize("status, code", [
    (403, "AccessDenied"),
    (403, "IDPRejectedClaim"),
    (400, "ValidationError"),
    (400, "MalformedPolicyDocument"),
    (400, "PackedPolicyTooLarge"),
    (403, "RegionDisabledException"),
    (400, "SomethingNobodyListed"),
])
def test_a_fatal_error_is_not_retried(write_config, sts, aws_env, token, status, code):
    sts.fail(action=ASSUME, times=5, status=status, code=code)

    result = login(login_config(write_config), aws_env)

    assert result.code == 1
    assert sts.count(ASSUME) == 1
    assert code in result.output
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_retries_stop_after_the_configured_attempts(write_config, sts, aws_env, token):
    sts.fail(action=ASSUME, times=100, code="Throttling")

    result = login(login_config(write_config, retry="{attempts: 3, initialDelay: 0.01, maxDelay: 0.05}"), aws_env)

    assert result.code == 1
    assert sts.count(ASSUME) == 3
    assert "Throttling" in result.stdout.splitlines()[-3]


def test_each_attempt_fetches_a_new_token(write_config, sts, aws_env, tmp_path):
    # The command writes a fresh token per call and counts its calls.
    (tmp_path / "fetch_token.py").write_text(textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from support.jwts import make_token
        with open("calls", "a") as calls:
            calls.write("call\\n")
        print(make_token())
    """))
    config = login_config(write_config).read_text().replace(
        "token: {file: token}", f"token: {{command: '{sys.executable} fetch_token.py {Path(__file__).parent}'}}")
    (tmp_path / "automations.yaml").write_text(config)
    sts.fail(action=ASSUME, times=2, code="InvalidIdentityToken")

    result = login(tmp_path / "automations.yaml", aws_env)

    assert result.code == 0, result.output
    assert (tmp_path / "calls").read_text().count("call") == 3
    sent = [c.form()["WebIdentityToken"] for c in sts.calls(ASSUME)]
    assert len(set(sent)) == 3


def test_a_token_command_that_is_not_ready_yet_is_retried(write_config, sts, aws_env, tmp_path, token):
    # Fails twice (as a CLI not yet logged in would), then prints the token.
    (tmp_path / "flaky.sh").write_text(
        'echo x >> tries\n[ "$(wc -l < tries)" -ge 3 ] || { echo "not ready" >&2; exit 1; }\ncat token\n')
    config = login_config(write_config).read_text().replace("token: {file: token}", "token: {command: sh flaky.sh}")
    (tmp_path / "automations.yaml").write_text(config)

    result = login(tmp_path / "automations.yaml", aws_env)

    assert result.code == 0, result.output
    assert result.stderr.count("sh flaky.sh` failed (exit code 1); its output is not shown") == 2
    assert "not ready" not in result.output  # what a token command prints is never shown
    assert sts.count(ASSUME) == 1


def test_access_denied_shows_the_claims_and_how_to_inspect_them(write_config, sts, aws_env, token):
    sts.fail(action=ASSUME, status=403, code="AccessDenied", message="Not authorized to perform sts:AssumeRoleWithWebIdentity")

    result = login(login_config(write_config), aws_env)

    assert result.code == 1
    assert "trust policy" in result.output
    assert '"sub": "org:0191e223-1c3b-7388-aa66-7b4b3b1a6c38/prj:' in result.output
    shown = result.output.split("the token's claims: ", 1)[1].split("; compare them with", 1)[0]
    claims = json.loads(shown)
    assert "sts.amazonaws.com" in claims["aud"]  # the order: test_a_refusal_by_the_trust_policy_names_the_tokens_claims_sorted
    assert "automations token --task login --decode" in result.output
    assert token.rsplit(".", 1)[1] not in result.output  # the signature
    assert "Traceback" not in result.output


def test_credentials_for_an_account_not_allowed_are_not_written(write_config, sts, aws_env, token):
    result = login(login_config(write_config, options="allowedAccountIds: ['999988887777']"), aws_env)

    assert result.code == 1
    assert "111122223333" in result.output and "allowedAccountIds" in result.output
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_an_allowed_account_given_as_a_yaml_number_is_accepted(write_config, sts, aws_env, token):
    result = login(login_config(write_config, options="allowedAccountIds: [111122223333]"), aws_env)

    assert result.code == 0, result.output


def test_verify_checks_the_new_credentials_with_get_caller_identity(write_config, sts, aws_env, token):
    sts.fail(action="GetCallerIdentity", times=1, status=403, code="InvalidClientTokenId")

    result = login(login_config(write_config, options="verify: true"), aws_env, "-v")

    assert result.code == 0, result.output
    assert sts.count("GetCallerIdentity") == 2  # IAM's eventual consistency: retried briefly
    assert sts.count(ASSUME) == 1
    assert "verified: arn:aws:sts::111122223333:assumed-role/dev-role/" in result.stdout


# -- reruns ---------------------------------------------------------------------------------------

def test_a_rerun_while_the_credentials_are_valid_makes_no_sts_call(write_config, sts, aws_env, token):
    config = login_config(write_config)
    login(config, aws_env)
    before = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).read_bytes()

    result = login(config, aws_env)

    assert result.code == 0, result.output
    assert "skipped" in result.stdout and "valid until" in result.stdout
    assert sts.count(ASSUME) == 1
    assert Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).read_bytes() == before


def test_at_v_a_login_says_where_it_wrote_and_a_skipped_rerun_says_nothing_was(write_config, sts, aws_env, token):
    config = login_config(write_config)
    files = f"{aws_env['AWS_SHARED_CREDENTIALS_FILE']} and {aws_env['AWS_CONFIG_FILE']}"

    first = login(config, aws_env, "-v")
    rerun = login(config, aws_env, "-v")

    assert first.code == 0 and rerun.code == 0, first.output + rerun.output
    assert f"wrote profile 'dev' to {files}" in first.output
    assert "skipped" in rerun.stdout and "wrote profile" not in rerun.output

def test_a_skipped_rerun_still_provides_the_outputs_and_credentials(write_config, sts, aws_env, token, tmp_path):
    (tmp_path / "probe_step.py").write_text(PROBE_STEP)
    config = login_config(write_config, extra_steps="      - uses: probe\n")
    config.write_text("plugins: [probe_step:ProbeStep]\n" + config.read_text())
    first = json.loads(login(config, aws_env).stdout.split("PROBE ", 1)[1].splitlines()[0])

    second = login(config, aws_env)

    assert "skipped" in second.stdout
    assert json.loads(second.stdout.split("PROBE ", 1)[1].splitlines()[0]) == first


def test_force_assumes_the_role_again(write_config, sts, aws_env, token):
    config = login_config(write_config)
    login(config, aws_env)

    result = run_cli("-c", str(config), "run", "--force", "login", env=aws_env)

    assert result.code == 0, result.output
    assert "changed" in result.stdout
    assert sts.count(ASSUME) == 2


def test_credentials_closer_to_expiry_than_min_remaining_are_renewed(write_config, sts, aws_env, token):
    login(login_config(write_config, options="durationSeconds: 900\nminRemaining: 600"), aws_env)
    # Those credentials are valid for 900 s: a rerun asking for more than that renews them.
    config = login_config(write_config, options="durationSeconds: 3600\nminRemaining: 1200")

    result = login(config, aws_env)

    assert "changed" in result.stdout
    assert sts.count(ASSUME) == 2


def test_a_changed_role_is_never_answered_with_the_old_credentials(write_config, sts, aws_env, token):
    config = login_config(write_config)
    login(config, aws_env)
    config.write_text(config.read_text().replace("role/dev-role", "role/other-role"))

    result = login(config, aws_env)

    assert "changed" in result.stdout
    assert sts.count(ASSUME) == 2
    assert "/other-role/" in credentials(aws_env)["dev"]["x_automations_assumed_role_arn"]


@pytest.fixture
def login_in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`automations -c CONFIG run login` in this process, with `env` as its whole environment."""
    def run(config: Path, env: dict[str, str], task: str = "login") -> Result:
        with monkeypatch.context() as patch:
            for name in list(os.environ):
                if name not in env:
                    patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            patch.chdir(config.parent)
            sigterm = signal.getsignal(signal.SIGTERM)  # main() makes SIGTERM stop a run
            try:
                code = main(["-c", str(config), "run", task])
            finally:
                signal.signal(signal.SIGTERM, sigterm)
        printed = capsys.readouterr()
        return Result(code, printed.out, printed.err)
    return run


def test_a_changed_region_is_written_by_a_rerun(write_config, sts, aws_env, token, login_in_process):
    config = login_config(write_config, options="region: eu-west-1")
    assert login_in_process(config, aws_env).code == 0
    login_config(write_config, options="region: eu-central-1")

    result = login_in_process(config, aws_env)

    assert result.code == 0, result.output
    assert "skipped" not in result.stdout
    assert aws_config(aws_env)["profile dev"]["region"] == "eu-central-1"


def test_credentials_without_an_expiry_are_not_taken_as_valid_forever(write_config, sts, aws_env, token,
                                                                        login_in_process):
    config = login_config(write_config)
    assert login_in_process(config, aws_env).code == 0
    path = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith("x_security_token_expires")))

    result = login_in_process(config, aws_env)

    assert result.code == 0, result.output
    assert "changed" in result.stdout
    assert sts.count(ASSUME) == 2
    assert credentials(aws_env)["dev"]["x_security_token_expires"]


# -- secrets never printed ------------------------------------------------------------------------

def test_no_secret_reaches_any_output_at_the_highest_verbosity(write_config, sts, aws_env, token, tmp_path):
    (tmp_path / "probe_step.py").write_text(PROBE_STEP)
    config = login_config(write_config, options="verify: true\nenvFile: aws.env",
                          extra_steps="      - run: cat aws.env; cat $AWS_SHARED_CREDENTIALS_FILE; cat token\n")
    config.write_text("plugins: [probe_step:ProbeStep]\n" + config.read_text())
    sts.fail(action=ASSUME, times=1, code="Throttling")

    # --force on the second run: a skipped step never fetches (so never learns) the token.
    runs = [login(config, aws_env, "-vv"), run_cli("-c", str(config), "-vv", "--output", "json", "run", "--force", "login", env=aws_env)]

    profile = credentials(aws_env)["dev"]
    secrets = [token, profile["aws_secret_access_key"], profile["aws_session_token"]]
    for result in runs:
        assert result.code == 0, result.output
        assert "***" in result.stdout  # the run step did print them: masked
        for secret in secrets:
            assert secret not in result.output


def test_no_secret_in_the_output_of_a_failure_at_the_highest_verbosity(write_config, sts, aws_env, token):
    sts.fail(action=ASSUME, status=403, code="AccessDenied")

    result = login(login_config(write_config), aws_env, "-vv")

    assert result.code == 1
    assert token not in result.output
    assert token.split(".")[1] not in result.output  # not even the encoded claims
