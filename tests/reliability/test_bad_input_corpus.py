"""Bad-input corpus: every file under `corpus/` is an automations.yaml that must fail, run
through the CLI. Each gets exactly one error line, with its location, the right exit code,
no traceback, and no file changed (everything under the test's directory and HOME is
compared byte for byte and mode for mode, the run history and empty lock files aside).

A case is a small YAML file whose leading comments say how to run it and what to expect:

    # args: run boot                 the command line after `automations -c automations.yaml`
    # exit: 1                        the exit code
    # error: boot | aws-login: failed (...): the token is not a JWT (...)
    #                                the whole error line; `...` stands for anything
    # token: expired                 ./token: valid | expired | not-yet-valid | wrong-audience |
    #                                nested-payload | over-64-kib | TEXT
    # env: NAME=VALUE                added to the environment
    # secret: NAME=VALUE             created in the moto server (AWS credentials: moto's test keys)
    # file: PATH=CONTENT             a file that exists before the run (\\n for line breaks)
    # symlink: PATH -> TARGET        a symbolic link that exists before the run

PATHs are relative to the case's directory; HOME is `home/` in it. Exit 2 is a usage or
configuration error (reported before anything runs); exit 1 a step that failed.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from support.cli import run_cli
from support.jwts import make_token, raw_token
from support.reliability import snapshot

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.yaml"))
TIMING = re.compile(r"\(\d+(\.\d+)?s\)")


@dataclass
class Case:
    path: Path
    args: list[str] = field(default_factory=list)
    exit: int = 2
    error: str = ""
    token: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Case:
        case = cls(path)
        for line in path.read_text().splitlines():
            match = re.fullmatch(r"# (\w+): (.*)", line)
            if not match:
                break
            key, value = match.groups()
            if key == "args":
                case.args = value.split()
            elif key == "exit":
                case.exit = int(value)
            elif key == "error":
                case.error = value
            elif key == "token":
                case.token = value
            elif key in ("env", "secret", "file"):
                name, _, text = value.partition("=")
                {"env": case.env, "secret": case.secrets, "file": case.files}[key][name.strip()] = \
                    text.strip().replace("\\n", "\n")
            elif key == "symlink":
                link, _, target = value.partition(" -> ")
                case.symlinks[link.strip()] = target.strip()
            else:
                raise ValueError(f"{path.name}: unknown directive {key!r}")
        assert case.args and case.error, f"{path.name}: needs `# args:` and `# error:`"
        return case

    def matches(self, line: str) -> bool:
        pattern = ".*?".join(re.escape(part) for part in self.error.split("..."))
        return re.fullmatch(pattern, TIMING.sub("(...)", line)) is not None


def token_text(kind: str) -> str:
    now = int(time.time())
    return {
        "valid": lambda: make_token(),
        "expired": lambda: make_token(exp=1_700_000_000, iat=1_699_996_400, nbf=None),
        "not-yet-valid": lambda: make_token(nbf=now + 3000),
        "wrong-audience": lambda: make_token(aud="https://someone-else.example"),
        "over-64-kib": lambda: make_token() + "A" * 64 * 1024,
        "nested-payload": lambda: raw_token('{"aud":"sts.amazonaws.com","x":' + "[" * 5000 + "]" * 5000 + "}"),
    }.get(kind, lambda: kind)()


def seed(endpoint: str, secrets: dict[str, str]) -> None:
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    for name, value in secrets.items():
        try:
            client.create_secret(Name=name, SecretString=value)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=name, SecretString=value)


def test_the_corpus_has_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_input_gets_one_located_error_line_and_changes_nothing(path, aws_env, moto_endpoint, tmp_path):
    case = Case.load(path)
    (tmp_path / "automations.yaml").write_text(path.read_text())
    if case.token is not None:
        (tmp_path / "token").write_text(token_text(case.token))
    for name, text in case.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for link, target in case.symlinks.items():
        (tmp_path / link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, tmp_path / link)
    seed(moto_endpoint, case.secrets)
    env = {**aws_env, **case.env}
    before = snapshot(tmp_path, ignore=(".cache", ".state"))

    result = run_cli("-c", "automations.yaml", *case.args, cwd=tmp_path, env=env)

    assert result.code == case.exit, result.output
    error_lines = [line for line in result.output.splitlines() if case.matches(line)]
    assert len(error_lines) == 1, f"expected one line like\n  {case.error}\ngot:\n{result.output}"
    if case.exit == 2:  # a configuration error is all that is printed
        assert result.stdout == "" and result.stderr.count("\n") == 1, result.output
    else:               # the step's failure is the only failure line
        assert sum(": failed (" in line for line in result.output.splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert snapshot(tmp_path, ignore=(".cache", ".state")) == before
