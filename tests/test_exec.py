"""`automations exec [TASK...] -- COMMAND`: the tasks run as `run` runs them, and the variables
their steps produce reach COMMAND's environment instead of a file (issue 14). Secrets come
from the moto server; where the process itself is the point (signals, the terminal, bytes
as they are written) the real command runs as a process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import boto3
import pytest
from support.cli import AUTOMATIONS, run_cli
from support.jwts import make_token

FAST_RETRY = "retry: {attempts: 4, initialDelay: 0.01, maxDelay: 0.05}"
ROLE = "arn:aws:iam::123456789012:role/dev-role"
DB_PASS = "db-Pa55word-for-exec-0042"
PY = sys.executable

# A step of a third party, importing only automations.api: it gives one variable, read from
# the variable named in `from:`, and says where it went.
GIVER = '''
from automations.api import EnvFile, Options, Step, StepResult, option

class GiveOptions(Options):
    name: str = option(help="the variable")
    source: str = option(key="from", help="the variable of ours holding the value")
    file: str = option(".env.given", help="where `run` keeps it")

class GiveStep(Step[GiveOptions]):
    name = "give"
    Options = GiveOptions

    def run(self, ctx):
        value = ctx.env[self.options.source]
        ctx.secret(value)
        delivery = ctx.deliver({self.options.name: value}, EnvFile(ctx.config_path.parent / self.options.file))
        return StepResult("changed" if delivery.changed else "ok", message=f"{self.options.name} {delivery.where}")
'''


@pytest.fixture
def secret_id(moto_endpoint: str) -> str:
    """DB_PASS as a secret of the moto server (which lives for the session: a name apart)."""
    name = f"x{uuid.uuid4().hex[:10]}/db"
    boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_secret(
        Name=name, SecretString=json.dumps({"password": DB_PASS, "user": "app"}))
    return name


@pytest.fixture
def env(aws_env: dict[str, str]) -> dict[str, str]:
    """moto's fake credentials through boto3's default chain (no aws-login involved)."""
    return {**aws_env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def project(tmp_path: Path, secret_id: str) -> Path:
    (tmp_path / "automations.yaml").write_text(textwrap.dedent(f"""\
        tasks:
          secrets:
            steps:
              - uses: secrets-manager
                {FAST_RETRY}
                with:
                  file: .env.secrets
                  secrets:
                    - {{id: {secret_id}, keys: {{DB_PASS: password, DB_USER: user}}}}
        """))
    return tmp_path


def files_under(*roots: Path) -> set[str]:
    return {str(path) for root in roots for path in root.rglob("*") if path.is_file()}


def outside_home(files: set[str], env: dict[str, str]) -> set[str]:
    """The project's files (the test's HOME is inside it: its state and cache are allowed)."""
    return {f for f in files if not f.startswith(env["HOME"] + os.sep)}


# -- the variables reach COMMAND, and no file -------------------------------------------------

def test_a_secret_reaches_command_and_no_env_file_is_written(project, env):
    before = files_under(project)
    result = run_cli("exec", "secrets", "--", PY, "-c", "import os; print(len(os.environ['DB_PASS']))",
                     cwd=project, env=env)

    assert result.code == 0, result.output
    assert result.stdout == f"{len(DB_PASS)}\n"
    assert not (project / ".env.secrets").exists()
    assert outside_home(files_under(project), env) == outside_home(before, env)
    assert not (Path(env["HOME"]) / ".aws").exists()


def test_run_still_writes_the_env_file(project, env):
    result = run_cli("run", "secrets", cwd=project, env=env)

    assert result.code == 0, result.output
    assert f"DB_PASS='{DB_PASS}'" in (project / ".env.secrets").read_text()


def test_what_command_prints_is_masked(project, env):
    result = run_cli("exec", "secrets", "--", "sh", "-c", 'echo "the password is $DB_PASS"; echo "$DB_PASS" >&2',
                     cwd=project, env=env)

    assert result.code == 0, result.output
    assert "the password is ***\n" in result.stdout
    assert "***\n" in result.stderr
    assert DB_PASS not in result.output


def test_command_owns_stdout_and_our_report_goes_to_stderr(project, env):
    result = run_cli("exec", "secrets", "--", "echo", "only this", cwd=project, env=env)

    assert result.stdout == "only this\n"
    assert "secrets | secrets-manager: ok" in result.stderr
    assert "2 variables from 1 secret in COMMAND's environment" in result.stderr


def test_command_gets_its_arguments_as_given_without_a_shell(project, env):
    args = ["$DB_PASS", "a b", "; touch pwned", "--", "-v", "*"]
    result = run_cli("exec", "secrets", "--", PY, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *args,
                     cwd=project, env=env)

    assert result.code == 0, result.output
    assert json.loads(result.stdout) == args
    assert not (project / "pwned").exists()


def test_command_exit_status_becomes_ours(project, env):
    assert run_cli("exec", "secrets", "--", "sh", "-c", "exit 7", cwd=project, env=env).code == 7


def test_a_command_killed_by_a_signal_exits_128_plus_the_signal(project, env):
    result = run_cli("exec", "secrets", "--", "sh", "-c", "kill -TERM $$", cwd=project, env=env)

    assert result.code == 128 + signal.SIGTERM


def test_a_command_not_found_exits_127_as_a_shell_would(project, env):
    result = run_cli("exec", "secrets", "--", "no-such-command-here", cwd=project, env=env)

    assert result.code == 127
    assert "no-such-command-here: command not found" in result.stderr


def test_a_command_that_is_not_executable_exits_126_as_a_shell_would(project, env):
    (project / "script").write_text("#!/bin/sh\necho ran\n")
    result = run_cli("exec", "secrets", "--", str(project / "script"), cwd=project, env=env)

    assert result.code == 126
    assert "permission denied" in result.stderr


def test_a_failing_task_does_not_start_command(project, env, tmp_path):
    text = (project / "automations.yaml").read_text().replace("/db", "/missing")
    (project / "automations.yaml").write_text(text)

    result = run_cli("exec", "secrets", "--", "touch", str(tmp_path / "started"), cwd=project, env=env)

    assert result.code == 1
    assert "not found" in result.stderr
    assert "COMMAND was not started" in result.stderr
    assert not (tmp_path / "started").exists()


def test_without_tasks_those_triggered_by_manual_run(project, env):
    with (project / "automations.yaml").open("a") as config:
        config.write("  at-start:\n    triggeredBy: [postEnvironmentStart]\n    command: echo START-RAN\n")

    result = run_cli("exec", "--", "sh", "-c", 'test -n "$DB_PASS" && echo given', cwd=project, env=env)

    assert result.code == 0, result.output
    assert result.stdout == "given\n"
    assert "START-RAN" not in result.output


def test_without_a_double_dash_it_says_how_to_call_it(project, env):
    result = run_cli("exec", "secrets", cwd=project, env=env)

    assert result.code == 2
    assert result.stderr.strip() == "error: give the command after --: automations exec [TASK...] -- COMMAND [ARGS...]"


def test_options_after_the_double_dash_are_commands(project, env):
    result = run_cli("exec", "secrets", "--", "echo", "-v", "--no-masking", "--", cwd=project, env=env)

    assert result.stdout == "-v --no-masking --\n"


def test_an_overridden_variable_is_named_at_verbose_and_its_value_never_shown(project, env):
    env["DB_USER"] = "someone-else-entirely"

    quiet = run_cli("exec", "secrets", "--", "true", cwd=project, env=env)
    verbose = run_cli("-v", "exec", "secrets", "--", PY, "-c", "import os; print(os.environ['DB_USER'] == 'app')",
                      cwd=project, env=env)

    assert "DB_USER" not in quiet.output
    assert verbose.stdout == "True\n"
    assert "warning: $DB_USER is set in this environment; COMMAND gets the value from task secrets instead" in verbose.stderr
    assert "someone-else-entirely" not in verbose.output
    assert "$DB_PASS is set" not in verbose.stderr  # not ours before
    assert "COMMAND gets 2 variables: DB_PASS, DB_USER" in verbose.stderr


def test_json_output_keeps_stdout_for_command(project, env):
    result = run_cli("--output", "json", "exec", "secrets", "--", "echo", "plain", cwd=project, env=env)

    assert result.stdout == "plain\n"
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"step", "task"} <= {event.get("event") for event in events}


def test_history_records_the_run_without_values(project, env):
    run_cli("exec", "secrets", "--", "sh", "-c", "echo $DB_PASS", cwd=project, env=env)

    logs = run_cli("logs", "secrets", cwd=project, env=env)
    assert "secrets-manager" in logs.output
    state = "".join(p.read_text(errors="replace") for p in Path(env["XDG_STATE_HOME"]).rglob("*") if p.is_file())
    assert state and DB_PASS not in state


# -- aws-login: credentials to COMMAND, no profile ----------------------------------------------

@pytest.fixture
def login_project(tmp_path: Path, aws_env: dict[str, str]) -> Path:
    (tmp_path / "token").write_text(make_token())
    (tmp_path / "automations.yaml").write_text(textwrap.dedent(f"""\
        tasks:
          login:
            steps:
              - uses: aws-login
                {FAST_RETRY}
                with:
                  roleArn: {ROLE}
                  token: {{file: token}}
                  profile: dev
                  region: eu-west-1
                  envFile: .env.aws
        """))
    return tmp_path


PRINT_AWS = ("import os, json; print(json.dumps({k: os.environ.get(k) for k in "
             "('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_PROFILE')}))")


def test_aws_login_gives_command_the_credentials_and_writes_no_profile(login_project, aws_env):
    # The real AWS CLI, reading only its environment, is who the credentials are for.
    result = run_cli("exec", "login", "--", "aws", "sts", "get-caller-identity", "--output", "json",
                     cwd=login_project, env=aws_env)

    assert result.code == 0, result.output
    assert json.loads(result.stdout)["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/dev-role/")
    aws_dir = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).parent
    assert not aws_dir.exists() or files_under(aws_dir) == set()
    assert not (login_project / ".env.aws").exists()


def test_aws_login_variables_are_the_four_an_sdk_reads(login_project, aws_env):
    result = run_cli("exec", "login", "--", PY, "-c", PRINT_AWS, cwd=login_project, env=aws_env)

    given = json.loads(result.stdout)
    assert given["AWS_ACCESS_KEY_ID"] and given["AWS_REGION"] == "eu-west-1"
    assert given["AWS_SECRET_ACCESS_KEY"] == given["AWS_SESSION_TOKEN"] == "***"  # masked on the way out
    assert given["AWS_PROFILE"] is None


def test_profile_files_writes_the_profile_and_points_command_at_it(login_project, aws_env):
    result = run_cli("exec", "--profile-files", "login", "--", PY, "-c", PRINT_AWS, cwd=login_project, env=aws_env)

    assert result.code == 0, result.output
    assert "[dev]" in Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).read_text()
    given = json.loads(result.stdout)
    assert given["AWS_PROFILE"] == "dev"
    # envFile's variables still go to COMMAND (and its file is not written): the keys win
    # over the profile for an SDK, as they would for a program reading .env.aws.
    assert given["AWS_ACCESS_KEY_ID"]
    assert not (login_project / ".env.aws").exists()


def test_a_skipped_login_still_gives_command_the_credentials(login_project, aws_env):
    assert run_cli("run", "login", cwd=login_project, env=aws_env).code == 0
    credentials = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    written = credentials.read_bytes(), credentials.stat().st_mtime_ns

    result = run_cli("exec", "login", "--", "aws", "sts", "get-caller-identity", "--output", "json",
                     cwd=login_project, env=aws_env)

    assert result.code == 0, result.output
    assert "login | aws-login: skipped" in result.stderr
    assert "assumed-role/dev-role" in result.stdout
    assert (credentials.read_bytes(), credentials.stat().st_mtime_ns) == written


# -- a third party's step delivers the same way --------------------------------------------------

@pytest.fixture
def giver(tmp_path: Path, base_env: dict[str, str]) -> Path:
    (tmp_path / "giver.py").write_text(GIVER)
    (tmp_path / "automations.yaml").write_text(textwrap.dedent("""\
        plugins: ["giver:GiveStep"]
        tasks:
          give:
            steps:
              - uses: give
                with: {name: GIVEN, from: VALUE}
        """))
    base_env["VALUE"] = "a-plugin-given-s3cret"
    return tmp_path


def test_a_plugin_step_delivers_to_its_file_in_run_and_to_command_in_exec(giver, base_env):
    ran = run_cli("run", "give", cwd=giver, env=base_env)
    assert ran.code == 0, ran.output
    assert f"GIVEN in {giver / '.env.given'}" in ran.stdout and (giver / ".env.given").exists()
    (giver / ".env.given").unlink()

    result = run_cli("exec", "give", "--", PY, "-c", "import os; print(os.environ['GIVEN'][::-1])",
                     cwd=giver, env=base_env)

    assert result.stdout == "terc3s-nevig-nigulp-a\n"
    assert "GIVEN in COMMAND's environment" in result.stderr
    assert not (giver / ".env.given").exists()


# -- the process: signals, the terminal, bytes as written -------------------------------------

def start(args: list[str], cwd: Path, env: dict[str, str], **kwargs) -> subprocess.Popen:
    assert AUTOMATIONS
    return subprocess.Popen([AUTOMATIONS, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


CHILD_WAITING_FOR_SIGNALS = """
import os, signal, sys, time
def got(signum, frame):
    print("got", signal.Signals(signum).name, flush=True)
    sys.exit(5)
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, got)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize("masking", [True, False])
def test_a_signal_sent_to_us_reaches_command(giver, base_env, signum, masking):
    process = start(["exec", "give", *([] if masking else ["--no-masking"]), "--", PY, "-c",
                     CHILD_WAITING_FOR_SIGNALS], giver, base_env)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert out == f"got {signal.Signals(signum).name}\n".encode()
    assert process.returncode == 5, err


def test_a_prompt_without_a_newline_appears_before_command_reads(giver, base_env):
    process = start(["exec", "give", "--", "sh", "-c", 'printf "Password: "; read answer; echo "thanks $answer"'],
                    giver, base_env, stdin=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.read(len(b"Password: ")) == b"Password: "
        process.stdin.write(b"joe\n")
        process.stdin.close()
        assert process.stdout.read() == b"thanks joe\n"
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


def test_binary_output_passes_through_unchanged(giver, base_env):
    blob = bytes(range(256)) * 3 + b"\xe2\x82"  # every byte, and a character cut short at the end
    write = f"import sys; sys.stdout.buffer.write({blob!r})"
    process = start(["exec", "give", "--", PY, "-c", write], giver, base_env)
    out, _ = process.communicate(timeout=60)

    assert out == blob


def test_a_secret_written_in_two_pieces_is_masked(giver, base_env):
    # The first half, a pause longer than the prompt wait, then the rest: the first read holds
    # half a secret, which must not be printed as it stands.
    write = ("import os, sys, time; v = os.environ['GIVEN']; sys.stdout.write('say ' + v[:9]); sys.stdout.flush(); "
             "time.sleep(0.5); print(v[9:] + ' done')")
    process = start(["exec", "give", "--", PY, "-c", write], giver, base_env)
    out, _ = process.communicate(timeout=60)

    assert out == b"say *** done\n"


def test_no_masking_hands_command_the_streams_as_they_are(giver, base_env):
    process = start(["exec", "give", "--no-masking", "--", "sh", "-c", 'echo "$GIVEN"'], giver, base_env)
    out, _ = process.communicate(timeout=60)

    assert out == b"a-plugin-given-s3cret\n"


def test_an_interrupted_run_does_not_start_command(tmp_path, base_env):
    (tmp_path / "automations.yaml").write_text("tasks:\n  slow:\n    command: echo started; sleep 30\n")
    process = start(["exec", "slow", "--", "touch", "started"], tmp_path, base_env)
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        while b"started" not in process.stderr.readline() and time.monotonic() < deadline:
            pass
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 130
    finally:
        process.kill()
    assert not (tmp_path / "started").exists()


def test_command_environment_of_a_process_is_private_to_its_user(giver, base_env):
    # What the README promises: /proc/PID/environ is readable by the user (and root) only.
    show = "import os; print(oct(os.stat(f'/proc/{os.getpid()}/environ').st_mode & 0o777))"
    process = start(["exec", "give", "--", PY, "-c", show], giver, base_env)
    out, _ = process.communicate(timeout=60)

    assert out == b"0o400\n"
    assert os.path.exists("/proc/self/environ")


def test_status_does_not_claim_a_profile_exec_never_wrote(login_project, aws_env):
    assert run_cli("exec", "login", "--", "true", cwd=login_project, env=aws_env).code == 0

    status = run_cli("status", cwd=login_project, env=aws_env)

    assert "login" in status.stdout and "profile dev" not in status.stdout


COUNTING_SIGINTS = """
import signal, sys, time
received = []
signal.signal(signal.SIGINT, lambda signum, frame: received.append(time.monotonic()))
print("ready", flush=True)
end = time.monotonic() + 20
while time.monotonic() < end and not (received and time.monotonic() > received[0] + 1):
    time.sleep(0.05)
print("sigints", len(received), flush=True)
"""


def read_until(fd: int, wanted: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        try:
            seen += os.read(fd, 1024)
        except OSError:  # the terminal closed
            break
    return seen


def test_ctrl_c_at_a_terminal_reaches_command_once(giver, base_env):
    # The terminal signals its whole foreground process group, COMMAND included: forwarding
    # that SIGINT too would hand COMMAND two for one Ctrl-C.
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()

    def take_the_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen([AUTOMATIONS or "automations", "exec", "give", "--", PY, "-c", COUNTING_SIGINTS],
                               cwd=giver, env=base_env, stdin=slave, stdout=slave, stderr=slave,
                               start_new_session=True, preexec_fn=take_the_terminal)
    os.close(slave)
    try:
        assert b"ready" in read_until(master, b"ready")
        os.write(master, b"\x03")
        assert b"sigints 1" in read_until(master, b"sigints")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        os.close(master)
