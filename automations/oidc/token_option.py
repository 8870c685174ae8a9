"""The `token:` option of a step that needs the environment's OIDC token (aws-login): where
the token comes from, as the user writes it. automations.oidc.sources turns it into a
`TokenSource`.

Apart from the sources so that a configuration loads without them: `automations list` and
`validate` import the step modules to check their options, and must stay fast
(bench/cli_start.py).
"""
from __future__ import annotations

from automations.engine.options import OptionError, Options, option

DEFAULT_AUDIENCE = "sts.amazonaws.com"
DEFAULT_COMMAND_TIMEOUT = 20.0


class CommandTokenOption(Options):
    command: str = option(help="a command printing the token on stdout; split like a shell would, run without one",
                          argv=True)
    timeout: float = option(DEFAULT_COMMAND_TIMEOUT, minimum=0.1, help="seconds before the command counts as failed (retried)")

    def validate(self) -> None:
        if not isinstance(self.command, str) or "${" in self.command:
            return
        try:
            import shlex  # imported where used: validating stays fast

            argv = shlex.split(self.command)
        except ValueError as error:
            raise OptionError("command", f"cannot split the command: {error}") from None
        if not argv:
            raise OptionError("command", "the command is empty")


class FileTokenOption(Options):
    file: str = option(help="a file holding the token (relative paths: from the automations.yaml's directory)")


class EnvTokenOption(Options):
    env: str = option(pattern=r"[A-Za-z_][A-Za-z0-9_]*", help="an environment variable holding the token")


TokenOption = CommandTokenOption | FileTokenOption | EnvTokenOption
