"""aws-assume-role end to end: an aws-login into a hub account, then AssumeRole into a `deploy`
role of a second account, against moto over real HTTP (through the recording proxy), read back
by the real AWS CLI. moto does not enforce AWS's one-hour limit on chained sessions, nor check
that a role may assume another: those are checked here, or by us."""
from __future__ import annotations

import configparser
import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.cli import run_cli
from support.jwts import make_token

HUB_ROLE = "arn:aws:iam::111122223333:role/hub"
DEPLOY_ROLE = "arn:aws:iam::444455556666:role/deploy"
STAGING_ROLE = "arn:aws:iam::777788889999:role/deploy"
FAST_RETRY = "{attempts: 4, initialDelay: 0.01, maxDelay: 0.05}"
AWS_CLI = str(Path(sys.executable).parent / "aws")


@pytest.fixture
def token(tmp_path: Path) -> str:
    value = make_token()
    (tmp_path / "token").write_text(value + "\n")
    return value


def chain_config(write_config, *, login: str = "", chained: str = "", more_tasks: str = "") -> Path:
    """Task `login` (aws-login into the hub, profile `hub`), task `prod` (depends on it:
    aws-assume-role into the `deploy` role of a second account, profile `prod`)."""
    login_lines = textwrap.indent(textwrap.dedent(login).strip(), " " * 10)
    chained_lines = textwrap.indent(textwrap.dedent(chained).strip(), " " * 10)
    return write_config(f"""
tasks:
  login:
    steps:
      - uses: aws-login
        retry: {FAST_RETRY}
        with:
          roleArn: {HUB_ROLE}
          token: {{file: token}}
          profile: hub
          region: us-east-1
{login_lines}
  prod:
    dependsOn: [login]
    steps:
      - uses: aws-assume-role
        id: prod
        retry: {FAST_RETRY}
        with:
          roleArn: {DEPLOY_ROLE}
          profile: prod
          region: us-east-1
{chained_lines}
{more_tasks}""")


def run(config: Path, env: dict[str, str], *args: str, task: str = "prod"):
    return run_cli("-c", str(config), *args, "run", task, env=env)


def aws_cli_identity(env: dict[str, str], profile: str) -> dict[str, str]:
    """What the real AWS CLI says the profile is."""
    proc = subprocess.run([AWS_CLI, "--profile", profile, "sts", "get-caller-identity", "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def ini(path: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser


def assume_calls(sts) -> list[dict[str, str]]:
    return [call.form() for call in sts.calls("AssumeRole")]


# -- the happy path ------------------------------------------------------------------------

def test_the_aws_cli_sees_the_assumed_deploy_role_with_file_credentials(write_config, sts, aws_env, token):
    result = run(chain_config(write_config), aws_env)

    assert result.code == 0, result.output
    identity = aws_cli_identity(aws_env, "prod")
    assert identity["Account"] == "444455556666"
    assert identity["Arn"].startswith("arn:aws:sts::444455556666:assumed-role/deploy/")
    profile = ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"])["prod"]
    assert profile["x_automations_role_arn"] == DEPLOY_ROLE
    assert profile["aws_access_key_id"] != ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"])["hub"]["aws_access_key_id"]
    assert sts.count("AssumeRoleWithWebIdentity") == 1 and sts.count("AssumeRole") == 1


def test_assume_role_is_signed_with_the_logins_credentials(write_config, sts, aws_env, token):
    run(chain_config(write_config, chained="externalId: partner-4711"), aws_env)

    [call] = sts.calls("AssumeRole")
    hub_key = ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"])["hub"]["aws_access_key_id"]
    assert f"Credential={hub_key}/" in call.headers["authorization"]
    form = call.form()
    assert form["RoleArn"] == DEPLOY_ROLE and form["ExternalId"] == "partner-4711"
    assert form["DurationSeconds"] == "3600"


def test_the_session_name_is_the_logins_so_the_audit_trail_leads_back(write_config, sts, aws_env, token):
    run(chain_config(write_config), aws_env)

    login_name = sts.calls("AssumeRoleWithWebIdentity")[0].form()["RoleSessionName"]
    assert assume_calls(sts)[0]["RoleSessionName"] == login_name


def test_the_aws_cli_sees_the_deploy_role_through_the_credential_process(write_config, sts, aws_env, token):
    config = chain_config(write_config, login="credentials: process", chained="credentials: process")

    result = run(config, aws_env)

    assert result.code == 0, result.output
    line = ini(aws_env["AWS_CONFIG_FILE"])["profile prod"]["credential_process"]
    assert shlex.split(line)[1:6] == ["-I", "-m", "automations", "aws", "credential-process"]
    assert "prod" not in ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).sections()
    identity = aws_cli_identity(aws_env, "prod")
    assert identity["Arn"].startswith("arn:aws:sts::444455556666:assumed-role/deploy/")
    assert sts.count("AssumeRole") == 1  # primed by the step: the CLI's call used the cache


def expire(cache: Path) -> None:
    entry = json.loads(cache.read_text())
    cache.write_text(json.dumps({**entry, "Expiration": "2000-01-01T00:00:00Z"}))


def caches(env: dict[str, str]) -> dict[str, Path]:
    """The credential-process caches, by the step they belong to."""
    found = {}
    for path in (Path(env["XDG_CACHE_HOME"]) / "automations").glob("aws-credentials-*.json"):
        found["chained" if json.loads(path.read_text())["Refresh"].get("kind") else "login"] = path
    return found


def test_the_credential_process_refreshes_the_login_first_when_both_expire(write_config, sts, aws_env, token):
    config = chain_config(write_config, login="credentials: process", chained="credentials: process")
    assert run(config, aws_env).code == 0
    found = caches(aws_env)
    old_login_key = json.loads(found["login"].read_text())["AccessKeyId"]
    expire(found["login"])
    expire(found["chained"])

    identity = aws_cli_identity(aws_env, "prod")

    assert identity["Arn"].startswith("arn:aws:sts::444455556666:assumed-role/deploy/")
    assert sts.count("AssumeRoleWithWebIdentity") == 2 and sts.count("AssumeRole") == 2
    new_login_key = json.loads(found["login"].read_text())["AccessKeyId"]
    assert new_login_key != old_login_key
    assert f"Credential={new_login_key}/" in sts.calls("AssumeRole")[-1].headers["authorization"]


def test_the_credential_process_reuses_a_valid_login(write_config, sts, aws_env, token):
    config = chain_config(write_config, login="credentials: process", chained="credentials: process")
    assert run(config, aws_env).code == 0
    expire(caches(aws_env)["chained"])

    aws_cli_identity(aws_env, "prod")

    assert sts.count("AssumeRoleWithWebIdentity") == 1 and sts.count("AssumeRole") == 2


def test_a_chained_process_profile_from_a_file_login_reads_the_source_profile(write_config, sts, aws_env, token):
    config = chain_config(write_config, chained="credentials: process")

    result = run(config, aws_env)
    expire(caches(aws_env)["chained"])

    assert result.code == 0, result.output
    assert "holds static credentials" in result.stderr
    assert aws_cli_identity(aws_env, "prod")["Account"] == "444455556666"
    hub_key = ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"])["hub"]["aws_access_key_id"]
    assert f"Credential={hub_key}/" in sts.calls("AssumeRole")[-1].headers["authorization"]


def test_source_profile_names_credentials_already_on_disk(write_config, sts, aws_env, token):
    assert run(chain_config(write_config), aws_env, task="login").code == 0
    config = write_config(f"""
        tasks:
          prod:
            steps:
              - uses: aws-assume-role
                with: {{roleArn: {DEPLOY_ROLE}, profile: prod, sourceProfile: hub}}
    """, "other.yaml")

    result = run(config, aws_env)

    assert result.code == 0, result.output
    assert aws_cli_identity(aws_env, "prod")["Account"] == "444455556666"


def test_without_a_login_in_the_run_it_says_where_to_start_from(write_config, sts, aws_env, token):
    config = write_config(f"""
        tasks:
          prod:
            steps:
              - uses: aws-assume-role
                with: {{roleArn: {DEPLOY_ROLE}, profile: prod}}
    """)

    result = run(config, aws_env)

    assert result.code == 1
    assert "sourceProfile" in result.stdout and "dependsOn" in result.stdout
    assert sts.count() == 0


@pytest.mark.parametrize(("profile_lines", "message"), [
    ("", "profile 'hub' has no credentials (log in first)"),
    ("credential_process = false", "cannot read the credentials of profile 'hub': "),
])
def test_a_source_profile_without_usable_credentials_is_named_and_nothing_is_asked(write_config, sts, aws_env,
                                                                                   profile_lines, message):
    Path(aws_env["AWS_CONFIG_FILE"]).parent.mkdir(parents=True, exist_ok=True)
    Path(aws_env["AWS_CONFIG_FILE"]).write_text(f"[profile hub]\nregion = us-east-1\n{profile_lines}\n")
    config = write_config(f"""
        tasks:
          prod:
            steps:
              - uses: aws-assume-role
                with: {{roleArn: {DEPLOY_ROLE}, profile: prod, sourceProfile: hub}}
    """)

    result = run(config, aws_env)

    assert result.code == 1
    assert "prod | aws-assume-role: failed" in result.stdout and message in result.stdout, result.output
    assert sts.count() == 0
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_keys_read_from_a_source_profile_are_secrets_from_then_on(tmp_path, monkeypatch):
    from automations.aws.login import profile_credentials
    from automations.redaction import REDACTOR

    credentials = tmp_path / "credentials"
    credentials.write_text("[hub]\naws_access_key_id = AKIAHUB\naws_secret_access_key = hub-secret-key-7f3a\n"
                           "aws_session_token = hub-session-token-9c2e\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    source = profile_credentials("hub")

    assert (source.credentials.access_key_id, source.assumed_role_arn) == ("AKIAHUB", None)
    shown = REDACTOR.redact("key hub-secret-key-7f3a token hub-session-token-9c2e")
    assert "hub-secret-key-7f3a" not in shown and "hub-session-token-9c2e" not in shown

def test_a_chained_login_tells_every_secret_it_holds_the_moment_it_holds_it(sts, aws_env):
    from automations.aws.clients import AwsCredentials
    from automations.aws.login import ChainedRoleLogin, SourceCredentials

    login = ChainedRoleLogin(source={"profile": "hub"}, config="c", task="prod", role_arn=DEPLOY_ROLE,
                             duration_seconds=900)
    told: list[str | None] = []
    logged: list[str] = []
    source = SourceCredentials(AwsCredentials("AKIASOURCE", "source-secret-key", "source-session-token"))

    assumed = login.assume_role(aws_env, source, secret=told.append, log=logged.append)

    assert {"source-secret-key", "source-session-token", assumed.credentials.secret_access_key,
            assumed.credentials.session_token} <= set(told)
    session = sts.calls("AssumeRole")[0].form()["RoleSessionName"]
    assert session.startswith("automations-")
    assert logged == [f"assuming {DEPLOY_ROLE} as {session}"]  # a source that is no role session: no more


def test_a_chained_login_says_whose_credentials_it_assumes_the_role_with(sts, aws_env):
    from automations.aws.clients import AwsCredentials
    from automations.aws.login import ChainedRoleLogin, SourceCredentials

    login = ChainedRoleLogin(source={"profile": "hub"}, config="c", task="prod", role_arn=DEPLOY_ROLE,
                             duration_seconds=900)
    hub = "arn:aws:sts::111122223333:assumed-role/hub/env-9-1800000000"
    logged: list[str] = []

    login.assume_role(aws_env, SourceCredentials(AwsCredentials("AKIASOURCE", "s", "t"), hub), log=logged.append)

    assert logged == [f"assuming {DEPLOY_ROLE} as env-9-1800000000 with the credentials of {hub}"]


def test_a_chained_login_ends_at_once_when_cancelled(sts, aws_env):
    import threading
    import time

    from automations.aws.clients import AwsCredentials
    from automations.aws.login import ChainedRoleLogin, SourceCredentials
    from automations.errors import Cancelled

    login = ChainedRoleLogin(source={"profile": "hub"}, config="c", task="prod", role_arn=DEPLOY_ROLE,
                             duration_seconds=900)
    sts.fail("AssumeRole", delay=30)
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    started = time.monotonic()

    with pytest.raises(Cancelled):
        login.assume_role(aws_env, SourceCredentials(AwsCredentials("AKIASOURCE", "s", "t")), cancelled=cancelled)
    assert time.monotonic() - started < 10

def test_a_chained_session_is_named_after_the_source_session_else_after_the_time():
    from automations.aws.login import chained_session_name

    assert chained_session_name("arn:aws:sts::111122223333:assumed-role/hub/env-9-1800000000") == "env-9-1800000000"
    assert chained_session_name(None, now=1800000000.5) == "automations-1800000000"
    assert chained_session_name("arn:aws:iam::111122223333:user/alice", now=7) == "automations-7"
    assert chained_session_name("arn:aws:iam::111122223333:user/alice").startswith("automations-1")


# -- reruns, outputs, refresh --------------------------------------------------------------

def test_a_rerun_while_valid_makes_no_call(write_config, sts, aws_env, token):
    config = chain_config(write_config)
    run(config, aws_env)

    result = run(config, aws_env)

    assert result.code == 0, result.output
    assert "valid until" in result.stdout
    assert sts.count("AssumeRole") == 1 and sts.count("AssumeRoleWithWebIdentity") == 1


PROBE_STEP = """
import json
from automations.api import Options, Step, StepResult
from automations.aws.clients import aws_sessions

class ProbeStep(Step[Options]):
    name = "probe"
    Options = Options

    def run(self, ctx):
        sessions = aws_sessions(ctx)
        seen = {profile or "default": sessions.client("sts", profile=profile).get_caller_identity()["Arn"]
                for profile in ("prod", None)}
        ctx.log.output("PROBE " + json.dumps(seen))
        return StepResult.ok()
"""


def test_a_later_step_uses_the_chained_profile_from_memory_and_the_login_by_default(write_config, sts, aws_env,
                                                                                    token, tmp_path):
    (tmp_path / "probe_step.py").write_text(PROBE_STEP)
    probe = "  probe:\n    dependsOn: [prod]\n    steps:\n      - uses: probe\n"
    config = chain_config(write_config, more_tasks=probe)
    config.write_text("plugins: [probe_step:ProbeStep]\n" + config.read_text())
    Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).parent.mkdir(parents=True, exist_ok=True)

    result = run(config, aws_env, task="probe")

    assert result.code == 0, result.output
    seen = json.loads(result.stdout.split("PROBE ", 1)[1].splitlines()[0])
    assert seen["prod"].startswith("arn:aws:sts::444455556666:assumed-role/deploy/")
    assert seen["default"].startswith("arn:aws:sts::111122223333:assumed-role/hub/")


class _Log:
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...
    def output(self, line: str) -> None: ...


@pytest.mark.parametrize(("credentials", "env_file", "refreshes"), [
    ("file", None, True), ("process", None, False), ("process", "prod.env", True)])
def test_the_result_asks_a_watcher_to_refresh_minremaining_before_expiry(credentials, env_file, refreshes, sts,
                                                                         aws_env, tmp_path, monkeypatch):
    """File credentials and envFile expire: a watcher reruns the step `minRemaining` before;
    a credential_process refreshes itself."""
    from automations.aws.clients import AwsCredentials, AwsSessions
    from automations.engine.step import RunServices, StepContext
    from automations.timefmt import parse_utc
    from tasks.aws_assume_role import AwsAssumeRoleOptions, AwsAssumeRoleStep

    for name, value in aws_env.items():
        monkeypatch.setenv(name, value)
    services = RunServices()
    services.get(AwsSessions).remember("hub", AwsCredentials("AKIAHUBSOURCE", "testing", None), "us-east-1", task="t")
    ctx = StepContext(task="t", step_id="prod", log=_Log(), env=aws_env, outputs={}, services=services,
                      config_path=tmp_path / "automations.yaml")
    options = AwsAssumeRoleOptions(role_arn=DEPLOY_ROLE, profile="prod", min_remaining=600,
                                   credentials=credentials, env_file=env_file)

    result = AwsAssumeRoleStep(options).run(ctx)

    assert result.status == "changed"
    expires = parse_utc(result.outputs["expiration"])
    assert expires is not None
    # (the outputs round the expiry to the second)
    assert result.refresh_at == (pytest.approx(expires.timestamp() - 600, abs=1) if refreshes else None)
    assert "Credential=AKIAHUBSOURCE/" in sts.calls("AssumeRole")[0].headers["authorization"]


# -- checks --------------------------------------------------------------------------------

def test_duration_over_an_hour_is_refused_at_its_line_and_column(write_config, sts, aws_env, token):
    config = chain_config(write_config, chained="durationSeconds: 7200")

    result = run(config, aws_env)

    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    text = config.read_text().splitlines()
    row = next(i for i, t in enumerate(text, 1) if "durationSeconds: 7200" in t)
    column = text[row - 1].index("7200") + 1
    assert line.startswith(f"{config}:{row}:{column}: ")
    assert "durationSeconds" in line and "at most 3600" in line and "chained" in line
    assert sts.count() == 0
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_source_profile_may_not_be_the_profile_written(write_config, aws_env):
    config = write_config(f"""
        tasks:
          prod:
            steps:
              - uses: aws-assume-role
                with: {{roleArn: {DEPLOY_ROLE}, profile: prod, sourceProfile: prod}}
    """)

    result = run_cli("-c", str(config), "validate", env=aws_env)

    assert result.code == 2
    assert "sourceProfile" in result.stderr and ":5:" in result.stderr


def test_an_account_not_allowed_is_refused_and_nothing_is_written(write_config, sts, aws_env, token, tmp_path):
    config = chain_config(write_config, chained="allowedAccountIds: ['999999999999']\nenvFile: prod.env")

    result = run(config, aws_env)

    assert result.code == 1
    assert "444455556666" in result.stdout and "allowedAccountIds" in result.stdout
    assert "prod" not in ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).sections()
    assert "profile prod" not in ini(aws_env["AWS_CONFIG_FILE"]).sections()
    assert not (tmp_path / "prod.env").exists()


def test_an_access_denied_says_what_the_two_roles_need(write_config, sts, aws_env, token):
    sts.fail(action="AssumeRole", times=4, status=403, code="AccessDenied")

    result = run(chain_config(write_config), aws_env)

    assert result.code == 1
    assert sts.count("AssumeRole") == 1
    assert "sts:AssumeRole" in result.stdout and "--chain-to" in result.stdout
    assert "prod" not in ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).sections()


def test_an_env_file_gets_the_chained_credentials(write_config, sts, aws_env, token, tmp_path):
    from dotenv import dotenv_values

    result = run(chain_config(write_config, chained="envFile: prod.env"), aws_env)

    assert result.code == 0, result.output
    values = dotenv_values(tmp_path / "prod.env")
    assert values["AWS_ACCESS_KEY_ID"] == ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"])["prod"]["aws_access_key_id"]
    assert values["AWS_REGION"] == "us-east-1"


# -- several profiles in one run -----------------------------------------------------------

def test_several_chained_profiles_are_written_concurrently_in_one_run(write_config, sts, aws_env, token):
    staging = f"""
  staging:
    dependsOn: [login]
    steps:
      - uses: aws-assume-role
        retry: {FAST_RETRY}
        with:
          roleArn: {STAGING_ROLE}
          profile: staging
  all:
    dependsOn: [prod, staging]
    steps:
      - uses: run
        with: {{command: "true"}}
"""
    # Each AssumeRole answer is held back 3 s: one after the other, they would arrive 3 s apart.
    sts.fail(action="AssumeRole", times=2, delay=3.0)

    result = run(chain_config(write_config, more_tasks=staging), aws_env, task="all")

    assert result.code == 0, result.output
    assert aws_cli_identity(aws_env, "prod")["Account"] == "444455556666"
    assert aws_cli_identity(aws_env, "staging")["Account"] == "777788889999"
    assert set(ini(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).sections()) == {"hub", "prod", "staging"}
    first, second = sorted(call.at for call in sts.calls("AssumeRole"))
    assert second - first < 3.0  # the second was sent while the first was still waiting
    assert os.stat(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).st_mode & 0o077 == 0


def test_a_login_and_a_chained_step_of_one_task_keep_separate_caches(write_config, sts, aws_env, token, tmp_path):
    config = write_config(f"""
        tasks:
          boot:
            steps:
              - uses: aws-login
                with: {{roleArn: '{HUB_ROLE}', token: {{file: token}}, profile: hub, credentials: process}}
              - uses: aws-assume-role
                with: {{roleArn: '{DEPLOY_ROLE}', profile: prod, credentials: process}}
    """)

    result = run(config, aws_env, task="boot")

    assert result.code == 0, result.output
    assert set(caches(aws_env)) == {"login", "chained"}
    assert aws_cli_identity(aws_env, "hub")["Account"] == "111122223333"
    assert aws_cli_identity(aws_env, "prod")["Account"] == "444455556666"
    by_task = run_cli("-c", str(config), "aws", "credential-process", "--task", "boot", env=aws_env)
    assert by_task.code == 0, by_task.stderr
    assert json.loads(by_task.stdout)["AccessKeyId"] == json.loads(caches(aws_env)["login"].read_text())["AccessKeyId"]


def test_a_later_task_reads_the_chained_account_through_an_output_reference(write_config, sts, aws_env, token):
    probe = """
  probe:
    dependsOn: [prod]
    steps:
      - run: echo "deploying to ${{ tasks.prod.steps.prod.outputs.accountId }} as ${{ tasks.prod.steps.prod.outputs.assumedRoleArn }}"
"""
    result = run(chain_config(write_config, more_tasks=probe), aws_env, task="probe")

    assert result.code == 0, result.output
    assert "deploying to 444455556666 as arn:aws:sts::444455556666:assumed-role/deploy/" in result.stdout


def test_status_shows_when_the_chained_credentials_expire(write_config, sts, aws_env, token):
    config = chain_config(write_config)
    assert run(config, aws_env).code == 0

    result = run_cli("-c", str(config), "status", env=aws_env)

    assert result.code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if "profile prod:" in line]
    assert "valid for 59m" in line or "valid for 1h" in line
    assert "(task prod)" in line


# -- where a chained step starts from (AwsSessions.source_for) --------------------------------

def _sessions(*remembered: tuple[str, str, bool]):
    from automations.aws.clients import AwsCredentials, AwsSessions

    sessions = AwsSessions()
    for profile, task, chained in remembered:
        sessions.remember(profile, AwsCredentials(f"AKIA{profile}", "s", "t"), None, task=task, chained=chained)
    return sessions


def test_the_source_is_the_login_of_the_steps_own_task_first():
    sessions = _sessions(("dev", "login", False), ("ops", "prod", False))

    assert sessions.source_for("prod").profile == "ops"


def test_the_source_is_the_runs_only_login_not_a_chained_role():
    sessions = _sessions(("hub", "login", False), ("prod", "prod", True))

    assert sessions.source_for("prod").profile == "hub"
    assert sessions.source_for("staging").profile == "hub"


def test_several_logins_in_other_tasks_are_ambiguous():
    from automations.errors import StepFailed

    sessions = _sessions(("dev", "a", False), ("ops", "b", False))

    with pytest.raises(StepFailed, match="'dev', 'ops'.*sourceProfile"):
        sessions.source_for("prod")


def test_without_a_login_the_last_chained_role_of_the_task_is_the_source():
    sessions = _sessions(("prod", "t", True), ("prod-admin", "t", True), ("other", "u", True))

    assert sessions.source_for("t").profile == "prod-admin"


def test_a_chained_profile_or_a_renewal_never_becomes_the_default_profile():
    from automations.aws.clients import AwsCredentials

    sessions = _sessions(("dev", "a", False), ("ops", "b", False), ("prod", "c", True))
    sessions.remember("dev", AwsCredentials("AKIArenewed", "s", "t"), None, task="a")  # a watcher's renewal

    profile, remembered = sessions._remembered(None)
    assert profile == "ops"


def test_dry_run_says_where_the_chained_step_starts_from(write_config, aws_env, token):
    config = chain_config(write_config, chained="credentials: process\nenvFile: prod.env")

    result = run_cli("-c", str(config), "run", "--dry-run", "prod", env=aws_env)

    assert result.code == 0, result.output
    assert f"assume {DEPLOY_ROLE} with the credentials of this run's aws-login" in result.stdout
    assert "write profile 'prod' (a credential_process)" in result.stdout and "prod.env" in result.stdout
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_exec_gives_the_command_the_chained_credentials_and_writes_no_profile(write_config, sts, aws_env, token,
                                                                               tmp_path):
    config = chain_config(write_config)

    result = run_cli("-c", str(config), "exec", "prod", "--", AWS_CLI, "sts", "get-caller-identity",
                     "--output", "json", cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.output
    assert json.loads(result.stdout)["Arn"].startswith("arn:aws:sts::444455556666:assumed-role/deploy/")
    assert not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_without_a_region_it_chains_in_the_region_of_the_login(write_config, sts, aws_env, token, tmp_path):
    from dotenv import dotenv_values

    del aws_env["AWS_DEFAULT_REGION"]
    config = chain_config(write_config, login="region: eu-west-1", chained="envFile: prod.env")
    config.write_text(config.read_text().replace("          region: us-east-1\n", ""))

    result = run(config, aws_env)

    assert result.code == 0, result.output
    assert "/eu-west-1/sts/" in sts.calls("AssumeRole")[0].headers["authorization"]
    assert dotenv_values(tmp_path / "prod.env")["AWS_REGION"] == "eu-west-1"


def test_a_process_rerun_while_valid_makes_no_call(write_config, sts, aws_env, token):
    config = chain_config(write_config, login="credentials: process", chained="credentials: process")
    assert run(config, aws_env).code == 0

    result = run(config, aws_env)

    assert result.code == 0, result.output
    assert result.stdout.count("valid until") == 2
    assert sts.count("AssumeRole") == 1 and sts.count("AssumeRoleWithWebIdentity") == 1
