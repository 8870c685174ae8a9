"""The options of a step that writes an env file (`EnvFileOptions`, `readers_option`) and
the names they accept: formats, modes, dotenv readers, variable names.

Apart from automations.files.envfile, which writes the files, so that a configuration loads
without it: `automations list` and `validate` import the step modules to check their
options, and must stay fast (bench/cli_start.py).
"""
from __future__ import annotations

from typing import Any, Literal, get_args

from automations.engine.options import Options, option

FormatName = Literal["dotenv", "shell", "json", "docker"]
ReaderName = Literal["python-dotenv", "node-dotenv", "bash", "godotenv", "ruby-dotenv", "direnv"]
READERS: tuple[str, ...] = get_args(ReaderName)
DEFAULT_READERS: tuple[str, ...] = ("python-dotenv", "node-dotenv", "bash")
WriteMode = Literal["replace", "merge"]
FORMATS: tuple[str, ...] = get_args(FormatName)
MODES: tuple[str, ...] = get_args(WriteMode)
# A variable name every reader and shell takes.
VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def _some_reader(readers: list[str]) -> str | None:
    return None if readers else "name at least one reader"


def readers_option(help: str) -> Any:
    """The `readers:` option of a step that writes a dotenv file."""
    return option(default_factory=lambda: list(DEFAULT_READERS), check=_some_reader, help=help)


# The outputs of every step that writes an env file (automations.aws.secrets.write_variables).
ENV_FILE_OUTPUTS = {
    "file": "the env file written (absolute path; none under `automations exec`, which writes no file)",
    "variables": "the names of the variables written (a JSON list in a reference)",
}


class EnvFileOptions(Options):
    """The options every step that writes an env file shares."""

    file: str = option(help="the env file to write (relative to the directory of automations.yaml)")
    format: FormatName = option("dotenv", help="dotenv (every program in `readers` reads it the same), "
                                               "shell (export KEY='...'), json (one object), docker (--env-file)")
    readers: list[ReaderName] = readers_option("dotenv only: the programs that must read the file back exactly "
                                               "(python-dotenv, node-dotenv, bash, godotenv, ruby-dotenv, direnv)")
    mode: WriteMode = option("replace", help="replace: the file holds exactly these keys; merge: these keys "
                                             "updated, the file's other keys kept")
    profile: str | None = option(None, help="AWS profile (default: the one aws-login used earlier in this run, "
                                            "else the AWS SDK's default chain)")
    region: str | None = option(None, help="AWS region (default: the profile's or the environment's)")
    refresh_every: int | None = option(None, key="refreshEvery", minimum=1,
                                       help="seconds: `automations watch` fetches the values again this often "
                                            "(the file is rewritten only when one changed); default: never")
