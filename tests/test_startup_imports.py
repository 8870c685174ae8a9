"""What the quick commands import. `automations list` and `validate` run at every shell start
and in editors, and must start about as fast as a bare YAML parse (bench/cli_start.py, at most
1.5x): each module costs time to find, read and run. Checking `with:` options imports every
step type the file uses, so a step module declares its options from light modules
(automations.aws.declarations, automations.oidc.token_option, automations.files.envfile_options)
and imports the AWS and OIDC code inside run().

The set is pinned: a module added to the start-up path fails here, and goes in the set below
only with a measurement that says it is worth its cost."""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from support.cli import run_process

# Every built-in step type, each with the options that once pulled in their domain's code.
EVERY_STEP_TYPE = """
    tasks:
      login:
        steps:
          - uses: aws-login
            with:
              roleArn: arn:aws:iam::123456789012:role/dev
              token: {command: gp idp token}
              envFile: .env.aws
          - uses: aws-assume-role
            with: {roleArn: "arn:aws:iam::210987654321:role/workload", profile: workload}
      secrets:
        dependsOn: [login]
        steps:
          - uses: secrets-manager
            with: {file: .env, secrets: [{id: app/dev, keys: "*"}]}
          - uses: ssm-parameters
            with: {file: .env.ssm, path: /app/dev/}
          - run: echo done
"""

# What `list` and `validate` may import beyond what `import yaml; yaml.safe_load(...)` does.
QUICK_COMMAND_IMPORTS = {
    # the standard library: the command line (argparse, and the gettext and locale it asks for
    # its messages), option types (typing), SIGTERM (signal), a token command's syntax (shlex)
    "argparse", "gettext", "locale", "_locale", "typing", "_typing", "typing.io", "typing.re", "signal", "shlex",
    # the CLI, the loader and the engine's declarations
    "automations", "automations.cli", "automations.cli.main", "automations.cli.commands",
    "automations.cli.commands.list", "automations.cli.commands.validate",
    "automations.engine", "automations.engine.config", "automations.engine.expand", "automations.engine.graph",
    "automations.engine.keys", "automations.engine.options", "automations.engine.plugins",
    "automations.engine.yamltree", "automations.engine.step", "automations.engine.report",
    "automations.engine.references",  # `${{ ...outputs... }}` checked at load
    "automations.engine.variables",  # the step API's delivery types (automations.engine.step)
    "automations.engine.report.base", "automations.engine.report.text",
    "automations.errors", "automations.redaction", "automations.retry", "automations.wording", "automations.api",
    "automations.files", "automations.files.atomicfile",  # the entry-point cache's checks
    # the step types, and what their options declare
    "tasks", "tasks.run", "tasks.aws_login", "tasks.aws_assume_role", "tasks.secrets_manager", "tasks.ssm_parameters",
    "automations.aws", "automations.aws.declarations", "automations.aws.role_credentials", "automations.oidc", "automations.oidc.token_option",
    "automations.files.envfile_options",
}

# sys.modules as the process ends, on stderr's last line (printed without importing anything).
AT_EXIT = "import atexit, sys; atexit.register(lambda: print(sorted(sys.modules), file=sys.stderr))"


def modules_at_exit(code: str, cwd: object, env: dict[str, str]) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", f"{AT_EXIT}\n{code}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return set(ast.literal_eval(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", ["list", "validate"])
def test_list_and_validate_import_no_module_beyond_the_pinned_set(write_config, base_env, command):
    config = write_config(EVERY_STEP_TYPE)
    bare_parse = modules_at_exit("import yaml; yaml.safe_load(open('automations.yaml'))", config.parent, base_env)

    run_command = f"from automations.cli.main import main; raise SystemExit(main([{command!r}]))"
    modules_at_exit(run_command, config.parent, base_env)  # the first run writes the entry-point cache

    imported = modules_at_exit(run_command, config.parent, base_env)

    assert {"tasks.aws_login", "tasks.aws_assume_role", "tasks.secrets_manager", "tasks.ssm_parameters"} <= imported
    assert sorted(imported - bare_parse - QUICK_COMMAND_IMPORTS) == []


@pytest.mark.parametrize("args", [["--help"], ["list"], ["validate"], ["steps"]])
def test_the_quick_commands_import_neither_boto3_nor_pyjwt(write_config, base_env, args):
    config = write_config("""
        tasks:
          a: {command: echo a}
    """)
    env = {**base_env, "PYTHONPROFILEIMPORTTIME": "1"}
    result = run_process(*args, cwd=config.parent, env=env)
    assert result.code == 0, result.output
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert "yaml" in imported or args == ["--help"]  # the import log is really there
    assert not imported & {"boto3", "botocore", "jwt"}
