"""Leak scan: end-to-end scenarios at -vv with known secret values, a known token and the
keys STS handed out. Scanned: stdout, stderr, every file the run left under the state
directory (history, logs), and the argv of every process between pytest and the spies, captured by a
spy in the token command and in a run step while the secrets are held. Zero hits. The same
for `automations exec`, whose COMMAND prints every form of every secret and runs the spy (in
process, and as a process whose own argv the spy sees).

The scan searches decoded output, the way an outsider would read it: every line that is JSON
(JSON output, history records) is parsed and every string in it searched, as well as the raw
text. It searches for each secret and for the forms GitHub Actions masks too: JSON-escaped,
URL-encoded and base64 (at the three alignments a value can have inside a larger base64 blob).
The secret values hold `"`, `\\`, a tab, `€` and an emoji, the characters JSON escapes.

Files whose job is to hold secrets (the credentials file, the env file, the credential
cache) are not scanned; what they hold is what the other suites check.
"""
from __future__ import annotations

import base64
import configparser
import json
import os
import urllib.parse
from pathlib import Path

import boto3
import pytest
from support.cli import run_cli, run_process
from support.jwts import make_token
from support.reliability import ASSUME, BATCH, FAST_RETRY, ROLE, decoded, printable_forms, seed_secrets, unique_prefix
from support.watch import WatchInProcess, watch_in_process

# The argv of the spy and of every process above it up to this pytest process (SPY_STOP), one
# per line: what `ps` shows anyone on the machine. In process (run_cli, the watcher) pytest is
# the automations process, so that is the shells between; with run_process, automations too.
SPY = ('pid=$$; while [ "$pid" -gt 1 ] && [ "$pid" != "$SPY_STOP" ]; do tr "\\0" " " < /proc/$pid/cmdline; echo; '
       'pid=$(awk \'{print $4}\' /proc/$pid/stat); done >> "$SPY_LOG"')
SECRET_VALUES = {"PLAIN": "plain-s3cret-VALUE-0001", "QUOTES": "it's \"quoted\" s3cret-0002",
                 "JSON_PASSWORD": "json-\"s3cret\"\\-0003", "BACKSLASH": "back\\slash\\n-s3cret-0004",
                 "TAB": "tab\tseparated-s3cret-0005", "EURO": "€uro-s3cret-0006-caf\u00e9",
                 "EMOJI": "emoji-\U0001f511-s3cret-0007"}
# Every printable form of each secret, printed by a `run` step child: what a program that
# JSON-encodes, URL-encodes or base64-encodes a value it was given would print.
PRINT_FORMS = """python3 -c '
import base64, json, os, urllib.parse
for name in ("PLAIN", "QUOTES", "JSON_PASSWORD", "BACKSLASH", "TAB", "EURO", "EMOJI"):
    value = os.environ[name]
    print("json", json.dumps({"v": value}), json.dumps(value, ensure_ascii=False))
    print("url", urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value))
    for prefix in (b"", b"x", b"xy"):
        blob = prefix + value.encode() + b"tail"
        print("base64", base64.b64encode(blob).decode(), base64.urlsafe_b64encode(blob).decode())
'
"""


@pytest.fixture
def scenario(tmp_path: Path, aws_env: dict[str, str], moto_endpoint: str):
    """A project whose token command and run step spy on every process's argv."""
    prefix = unique_prefix()
    plain = {name: value for name, value in SECRET_VALUES.items() if name != "JSON_PASSWORD"}
    seed_secrets(moto_endpoint, {**{f"{prefix}/{name.lower()}": value for name, value in plain.items()},
                                 f"{prefix}/json": {"password": SECRET_VALUES["JSON_PASSWORD"], "user": "app"}})
    token = make_token()
    (tmp_path / "token").write_text(token)
    (tmp_path / "spy.sh").write_text(SPY + "\n")
    (tmp_path / "spy-token.sh").write_text(SPY + "\ncat token\n")
    aws_env["SPY_LOG"] = str(tmp_path / "argv.log")
    aws_env["SPY_STOP"] = str(os.getpid())  # pytest: in process also the automations run

    def write(extra_step: str = "", json_entry: str = "{id: %s/json, keys: {JSON_PASSWORD: password}}") -> Path:
        config = tmp_path / "automations.yaml"
        entries = "".join(f"            - {{id: {prefix}/{name.lower()}, env: {name}}}\n" for name in plain)
        config.write_text(f"""\
tasks:
  boot:
    steps:
      - uses: aws-login
        retry: {FAST_RETRY}
        with:
          roleArn: {ROLE}
          token: {{command: sh spy-token.sh}}
          profile: dev
          region: us-east-1
      - uses: secrets-manager
        retry: {FAST_RETRY}
        with:
          file: .env
          format: shell
          secrets:
{entries}            - {json_entry % prefix}
{extra_step}""")
        return config

    return token, write


def known_secrets(token: str, env: dict[str, str]) -> list[str]:
    found = [token, token.rsplit(".", 1)[-1], *SECRET_VALUES.values()]
    credentials = configparser.RawConfigParser()
    credentials.read(env["AWS_SHARED_CREDENTIALS_FILE"])
    for profile in ("dev", "prod"):
        if credentials.has_option(profile, "aws_session_token"):
            found += [credentials[profile]["aws_secret_access_key"], credentials[profile]["aws_session_token"]]
    return found


def scanned_text(result, tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    argv_log = tmp_path / "argv.log"
    texts["argv of every process"] = argv_log.read_text() if argv_log.exists() else ""
    for path in Path(env["XDG_STATE_HOME"]).rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    return texts


def leaks(texts: dict[str, str], secrets: list[str]) -> list[tuple[str, str]]:
    """(where, the secret's first characters) for every form of a secret found."""
    forms = {form: secret for secret in secrets for form in printable_forms(secret)}
    return sorted({(where, forms[form][:6] + "...") for where, text in texts.items() for string in decoded(text)
                   for form in forms if form in string})


def assert_no_leak(result, token: str, tmp_path: Path, env: dict[str, str]) -> None:
    assert leaks(scanned_text(result, tmp_path, env), known_secrets(token, env)) == []


def test_the_scan_finds_every_form_of_a_secret_in_decoded_json():
    secret = SECRET_VALUES["QUOTES"]
    blob = base64.b64encode(b"xy" + secret.encode() + b"!").decode()
    for printed in (json.dumps({"line": f"say {secret}"}), json.dumps({"line": json.dumps(secret)}),
                    f"url {urllib.parse.quote(secret, safe='')}", json.dumps({"line": blob})):
        assert leaks({"stdout": printed}, [secret]) == [("stdout", "it's \"...")], printed


RUN_STEP = """\
      - uses: run
        with:
          command: |
            sh spy.sh
            . ./.env
            echo "the run step prints $PLAIN and $JSON_PASSWORD"
            sh -c 'echo "a child prints $QUOTES"'
            echo "and the others: $BACKSLASH $TAB $EURO $EMOJI"
""" + "".join("            " + line + "\n" for line in PRINT_FORMS.splitlines())


def test_a_successful_run_with_a_step_printing_the_secrets_leaks_nothing(sts, aws_env, scenario, tmp_path):
    token, write = scenario
    result = run_cli("-vv", "-c", str(write(RUN_STEP)), "run", "boot", cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.output
    assert "the run step prints" in result.stdout and "a child prints" in result.stdout  # redacted
    assert (tmp_path / "argv.log").read_text().count("spy") >= 2  # both spies ran
    assert_no_leak(result, token, tmp_path, aws_env)


def test_json_output_leaks_nothing(sts, aws_env, scenario, tmp_path):
    token, write = scenario
    result = run_cli("-vv", "--output", "json", "-c", str(write(RUN_STEP)), "run", "boot", cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.output
    assert_no_leak(result, token, tmp_path, aws_env)


def test_json_output_of_secrets_json_escapes_leaks_nothing(sts, aws_env, scenario, tmp_path):
    # Each value printed as it is: JSON output escapes `"`, `\\`, the tab and (ensure_ascii)
    # the non-ASCII characters, so a redactor matching only the raw text would miss them.
    token, write = scenario
    raw_only = RUN_STEP.split("            sh spy.sh")[0] + "            . ./.env\n" + "".join(
        f'            echo "{name} is ${name}"\n' for name in SECRET_VALUES)
    result = run_cli("--output", "json", "-c", str(write(raw_only)), "run", "boot", cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"PLAIN is ***", "TAB is ***", "EMOJI is ***"} <= {e.get("line") for e in lines}
    assert_no_leak(result, token, tmp_path, aws_env)


def test_retries_with_tracebacks_leak_nothing(sts, aws_env, scenario, tmp_path):
    token, write = scenario
    sts.fail(action=ASSUME, times=2, code="InvalidIdentityToken")
    sts.fail(action=BATCH, times=2, status=500, code="InternalServiceError")

    result = run_cli("-vv", "-c", str(write(RUN_STEP)), "run", "boot", cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.output
    assert result.stderr.count("retrying") == 4
    assert_no_leak(result, token, tmp_path, aws_env)


def test_a_token_command_failing_after_printing_the_token_to_stderr_leaks_nothing(sts, aws_env, scenario,
                                                                                    tmp_path):
    token, write = scenario
    (tmp_path / "spy-token.sh").write_text(SPY + "\necho \"debug: token $(cat token)\" >&2\ncat token\nexit 1\n")

    result = run_cli("-vv", "-c", str(write()), "run", "boot", cwd=tmp_path, env=aws_env)

    assert result.code == 1
    assert "failed (exit code 1); its output is not shown" in result.stdout
    assert_no_leak(result, token, tmp_path, aws_env)


def test_a_jwt_nobody_registered_is_masked_wherever_it_is_printed(sts, aws_env, scenario, tmp_path):
    token, write = scenario
    aws_env["SOMEONE_ELSES_TOKEN"] = other = make_token(sub="someone-else")
    printing = RUN_STEP.split("            sh spy.sh")[0] + '            echo "a token: $SOMEONE_ELSES_TOKEN"\n'

    for output in ("text", "json"):
        result = run_cli("--output", output, "-c", str(write(printing)), "run", "boot", cwd=tmp_path, env=aws_env)

        assert result.code == 0, result.output
        assert "a token: ***" in result.stdout
        assert leaks(scanned_text(result, tmp_path, aws_env), [other]) == []


def test_an_access_denied_login_shows_the_claims_but_not_the_token(sts, aws_env, scenario, tmp_path):
    token, write = scenario
    sts.fail(action=ASSUME, times=1, status=403, code="AccessDenied")

    result = run_cli("-vv", "-c", str(write()), "run", "boot", cwd=tmp_path, env=aws_env)

    assert result.code == 1
    assert '"sub"' in result.stdout  # the claims are shown
    assert_no_leak(result, token, tmp_path, aws_env)


def test_a_secret_that_is_not_the_json_asked_for_fails_without_its_value(sts, aws_env, scenario, tmp_path):
    token, write = scenario
    # keys of a plain (non-JSON) secret: the error names the secret, the traceback is shown at -vv.
    result = run_cli("-vv", "-c", str(write(json_entry="{id: %s/plain, keys: {X: password}}")), "run", "boot",
                     cwd=tmp_path, env=aws_env)

    assert result.code == 1
    assert "is not JSON" in result.stdout
    assert "Traceback" in result.output
    assert_no_leak(result, token, tmp_path, aws_env)


def test_the_credential_process_says_nothing_secret_on_stderr(sts, aws_env, tmp_path):
    token = make_token()
    (tmp_path / "token").write_text(token)
    (tmp_path / "automations.yaml").write_text(f"""\
tasks:
  boot:
    steps:
      - uses: aws-login
        retry: {FAST_RETRY}
        with:
          roleArn: {ROLE}
          token: {{file: token}}
          credentials: process
""")
    login = run_cli("-c", str(tmp_path / "automations.yaml"), "run", "boot", env=aws_env)
    assert login.code == 0, login.output
    [cache] = (Path(aws_env["XDG_CACHE_HOME"]) / "automations").glob("aws-credentials-*.json")
    entry = json.loads(cache.read_text())
    cache.write_text(json.dumps({**entry, "Expiration": "2000-01-01T00:00:00Z"}))  # the call refreshes
    sts.fail(action=ASSUME, times=1, code="IDPCommunicationError")

    result = run_cli("-vv", "-c", str(tmp_path / "automations.yaml"), "aws", "credential-process", "--task", "boot",
                     cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.stderr
    issued = json.loads(result.stdout)  # stdout is the credentials, by contract
    secrets = [token, issued["SecretAccessKey"], issued["SessionToken"]]
    assert [s[:6] for s in secrets if s in result.stderr] == []


CHAINED_STEP = """\
      - uses: aws-assume-role
        retry: %s
        with: {roleArn: 'arn:aws:iam::444455556666:role/deploy', profile: prod, envFile: prod.env}
""" % FAST_RETRY


def test_role_chaining_with_retries_at_debug_level_leaks_nothing(sts, aws_env, scenario, tmp_path):
    token, write = scenario
    sts.fail(action="AssumeRole", times=2, status=500, code="InternalFailure")
    printing = CHAINED_STEP + RUN_STEP.replace(". ./.env", ". ./.env; . ./prod.env").replace(
        "and the others: $BACKSLASH", "and the others: $AWS_SECRET_ACCESS_KEY $AWS_SESSION_TOKEN $BACKSLASH")

    for output in ("text", "json"):
        result = run_cli("-vv", "--output", output, "-c", str(write(printing)), "run", "--force", "boot",
                         cwd=tmp_path, env=aws_env)

        assert result.code == 0, result.output
        assert_no_leak(result, token, tmp_path, aws_env)
    assert sts.count("AssumeRole") == 4


def test_the_chained_credential_process_says_nothing_secret_on_stderr(sts, aws_env, tmp_path):
    token = make_token()
    (tmp_path / "token").write_text(token)
    (tmp_path / "automations.yaml").write_text(f"""\
tasks:
  boot:
    steps:
      - uses: aws-login
        retry: {FAST_RETRY}
        with: {{roleArn: '{ROLE}', token: {{file: token}}, credentials: process, profile: dev}}
      - uses: aws-assume-role
        retry: {FAST_RETRY}
        with: {{roleArn: 'arn:aws:iam::444455556666:role/deploy', profile: prod, credentials: process}}
""")
    login = run_cli("-c", str(tmp_path / "automations.yaml"), "run", "boot", env=aws_env)
    assert login.code == 0, login.output
    caches = list((Path(aws_env["XDG_CACHE_HOME"]) / "automations").glob("aws-credentials-*.json"))
    held = []
    for cache in caches:  # both expire: the call refreshes the login, then the chained role
        entry = json.loads(cache.read_text())
        held += [entry["SecretAccessKey"], entry["SessionToken"]]
        cache.write_text(json.dumps({**entry, "Expiration": "2000-01-01T00:00:00Z"}))
        if entry["Refresh"].get("kind"):
            chained = cache
    sts.fail(action=ASSUME, times=1, code="IDPCommunicationError")
    sts.fail(action="AssumeRole", times=1, status=503, code="ServiceUnavailable")

    result = run_cli("-vv", "aws", "credential-process", "--cache", str(chained), cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.stderr
    assert result.stderr.count("retrying") == 2
    issued = json.loads(result.stdout)
    secrets = [token, issued["SecretAccessKey"], issued["SessionToken"], *held]
    for cache in caches:
        entry = json.loads(cache.read_text())
        secrets += [entry["SecretAccessKey"], entry["SessionToken"]]
    assert leaks({"stderr": result.stderr}, secrets) == []


# A value only the command knows, registered with `::add-mask::`, handed on as an output and
# read back through references (issue 14): shown at -vv, in the JSON `step` event, in the
# history, and on no argv (the spy runs while the reference's value is in the environment).
MINTED = "minted-\"s3cret\"-\u20ac-0008"
OUTPUT_STEPS = """\
      - id: mint
        run: |
          value=$(cat minted)
          echo "::add-mask::$value"
          echo "token=$value" >> "$AUTOMATIONS_OUTPUT"
          echo "minted $value"
      - uses: run
        with:
          command: |
            sh spy.sh
            echo "read back ${{ steps.mint.outputs.token }}"
            printf '%s' "${{ steps.mint.outputs.token }}" | base64
"""


@pytest.mark.parametrize("output", ["text", "json"])
def test_an_output_masked_with_add_mask_and_read_by_reference_leaks_nothing(sts, aws_env, scenario, tmp_path,
                                                                            output):
    token, write = scenario
    (tmp_path / "minted").write_text(MINTED)

    result = run_cli("-vv", "--output", output, "-c", str(write(OUTPUT_STEPS)), "run", "boot", cwd=tmp_path,
                     env=aws_env)

    assert result.code == 0, result.output
    assert "read back ***" in result.stdout and "minted ***" in result.stdout
    assert ("mint: outputs: token=***" if output == "text" else '"outputs": {"token": "***"}') in result.stdout
    assert "${AUTOMATIONS_REF_1}" in (tmp_path / "argv.log").read_text()  # the spy saw the command
    assert leaks(scanned_text(result, tmp_path, aws_env), [*known_secrets(token, aws_env), MINTED]) == []


# -- exec: the same secrets in COMMAND's environment ------------------------------------------

EXEC_COMMAND = """sh spy.sh
echo "COMMAND prints $PLAIN and $JSON_PASSWORD"
sh -c 'echo "a child of COMMAND prints $QUOTES" >&2'
echo "and the others: $BACKSLASH $TAB $EURO $EMOJI $AWS_SECRET_ACCESS_KEY $AWS_SESSION_TOKEN"
python3 -c 'import os; open("keys", "w").write(os.environ["AWS_SECRET_ACCESS_KEY"] + "\\n" + os.environ["AWS_SESSION_TOKEN"])'
""" + PRINT_FORMS


@pytest.mark.parametrize(("output", "run"), [("text", run_cli), ("json", run_cli), ("text", run_process)])
def test_exec_with_a_command_printing_the_secrets_leaks_nothing(sts, aws_env, scenario, tmp_path, output, run):
    # As a process too: the argv of `automations` itself is then among those the spy sees.
    token, write = scenario
    result = run("-vv", "--output", output, "-c", str(write()), "exec", "boot", "--", "sh", "-c", EXEC_COMMAND,
                 cwd=tmp_path, env=aws_env)

    assert result.code == 0, result.output
    assert "COMMAND prints ***" in result.stdout and "a child of COMMAND prints ***" in result.stderr
    assert (tmp_path / "argv.log").read_text().count("spy") >= 2  # the token command's spy and COMMAND's
    assert run is run_cli or "exec boot -- sh -c" in (tmp_path / "argv.log").read_text()
    assert not (tmp_path / ".env").exists() and not Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"]).exists()
    issued = (tmp_path / "keys").read_text().split("\n")  # written by COMMAND: not in a scanned place
    assert len(issued) == 2 and all(issued)
    assert leaks(scanned_text(result, tmp_path, aws_env), known_secrets(token, aws_env) + issued) == []


ON_CHANGE = "        onChange: |\n" + "".join(
    "          " + line + "\n"
    for line in ["sh spy.sh", ". ./.env", 'echo "onChange prints $PLAIN and $JSON_PASSWORD"', *PRINT_FORMS.splitlines()])


@pytest.mark.parametrize("output", ["text", "json"])
def test_watch_output_state_and_history_leak_nothing(sts, aws_env, scenario, tmp_path, moto_endpoint, output):
    # The credentials renewed every 4 s, the secrets fetched every second, a changed secret
    # printed in every form by onChange: stdout, the state file and the history hold none of them.
    token, write = scenario
    config = write(RUN_STEP)
    text = config.read_text().replace("          profile: dev\n",
                                      "          profile: dev\n          durationSeconds: 900\n"
                                      "          minRemaining: 896\n")
    text = text.replace("          format: shell\n", "          format: shell\n          refreshEvery: 1\n")
    text = text.replace(f"      - uses: secrets-manager\n        retry: {FAST_RETRY}\n",
                        f"      - uses: secrets-manager\n        retry: {FAST_RETRY}\n{ON_CHANGE}")
    config.write_text(text)
    plain_id = next(line.split("id: ")[1].split(",")[0] for line in text.splitlines() if "env: PLAIN}" in line)
    changed = "plain-s3cret-CHANGED-0008"
    first_keys: list[str] = []

    def drive(watch: WatchInProcess) -> None:
        first_keys.extend(known_secrets(token, aws_env)[-2:])
        boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing",
                     ).put_secret_value(SecretId=plain_id, SecretString=changed)

        watch.wait_for(lambda: "onChange prints" in watch.output, "the onChange command", 40)
        watch.wait_for(lambda: sts.count(ASSUME) >= 2, "renewed credentials", 40)
        watch.wait_for(lambda: known_secrets(token, aws_env)[-2:] != first_keys, "renewed credentials in the file")

    result = watch_in_process(config, aws_env, drive, "-vv", "--output", output, "boot")

    assert result.code == 0, result.output
    assert (tmp_path / "argv.log").read_text().count("spy") >= 3  # the token command's, run step's, onChange's
    assert leaks(scanned_text(result, tmp_path, aws_env), known_secrets(token, aws_env) + first_keys + [changed]) == []
