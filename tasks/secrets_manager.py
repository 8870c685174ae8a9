"""`secrets-manager`: Secrets Manager secrets into one env file.

The story of one run: read every listed secret with as few calls as AWS allows (batches of
20, concurrently; one by one if the role may not batch), each value registered with the
redactor as it arrives; fail naming every missing secret at once (an `optional` one is only
a warning); turn each secret into variables (the whole value, chosen keys of a JSON secret,
or all of its keys under a prefix); and write the file only once all of that worked: in one
atomic step, 0600, or not at all.

boto3, botocore and the reading code are imported only when the step runs.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from automations.api import OptionError, Options, Step, StepContext, StepFailed, StepResult, option
from automations.aws.declarations import AWS_RETRY, CURRENT_STAGE
from automations.files.envfile_options import ENV_FILE_OUTPUTS, VARIABLE_NAME, EnvFileOptions
from automations.wording import plural

if TYPE_CHECKING:
    from automations.aws.secrets import SecretRef, SecretsManagerReader, SecretValue, Variable

ALL_KEYS = "*"


def _variable_name_problem(name: str) -> str | None:
    return None if re.fullmatch(VARIABLE_NAME, name) else f"{name!r} is not a variable name (^[A-Za-z_][A-Za-z0-9_]*$)"


class SecretEntry(Options):
    id: str = option(pattern=r"\S.*", help="the secret's name or ARN")
    env: str | None = option(None, check=_variable_name_problem, help="the variable for the whole value")
    keys: dict[str, str] | Literal["*"] | None = option(
        None, help="{VAR: jsonKey, ...} (a dotted path reaches nested keys), or '*' for every top-level key")
    prefix: str = option("", pattern=r"[A-Za-z_][A-Za-z0-9_]*|", help="with keys: '*', put before every variable name")
    version_stage: str = option(CURRENT_STAGE, key="versionStage", help="the version stage to read")
    optional: bool = option(False, help="a missing secret is a warning, not a failure")

    def validate(self) -> None:
        if (self.env is None) == (self.keys is None):
            raise OptionError("id", "give either `env:` (the whole value) or `keys:` (keys of a JSON secret)")
        if self.prefix and self.keys != ALL_KEYS:
            raise OptionError("prefix", "`prefix` goes with `keys: '*'`")
        if isinstance(self.keys, dict):
            for name, json_key in self.keys.items():
                problem = _variable_name_problem(name)
                if problem:
                    raise OptionError(("keys", name), problem)
                if not json_key:
                    raise OptionError(("keys", name), "the JSON key is empty")

    @property
    def ref(self) -> SecretRef:
        from automations.aws.secrets import SecretRef

        return SecretRef(self.id, self.version_stage)

    def describe(self) -> list[str]:
        """Where each variable comes from, without fetching anything."""
        stage = "" if self.version_stage == CURRENT_STAGE else f" ({self.version_stage})"
        optional = " (optional)" if self.optional else ""
        where = f"secret {self.id}{stage}{optional}"
        if self.env is not None:
            return [f"{self.env} <- {where}"]
        if self.keys == ALL_KEYS:
            return [f"{self.prefix}* <- every top-level key of {where}"]
        assert isinstance(self.keys, dict)
        return [f"{name} <- {where} key {json_key}" for name, json_key in self.keys.items()]


class SecretsManagerOptions(EnvFileOptions):
    secrets: list[SecretEntry] = option(check=lambda v: None if v else "list at least one secret",
                                        help="the secrets: {id, env} | {id, keys: {VAR: key}} | {id, keys: '*', prefix}")


class SecretsManagerStep(Step[SecretsManagerOptions]):
    name = "secrets-manager"
    Options = SecretsManagerOptions
    summary = "Write Secrets Manager secrets (whole, chosen JSON keys, or all keys) into an env file"
    # Throttling passes: BatchGetSecretValue allows 100 calls/s per region, shared by every
    # environment booting at once; a retry asks only for the batches that failed.
    retry_policy = AWS_RETRY  # throttled and transient: automations/aws/declarations.py
    outputs = ENV_FILE_OUTPUTS
    _reader: SecretsManagerReader | None = None

    def run(self, ctx: StepContext) -> StepResult:
        from automations.aws.secrets import SecretsManagerReader, aws_client, write_variables

        options = self.options
        if self._reader is None:  # kept across attempts: a retry asks only for what is missing
            self._reader = SecretsManagerReader(aws_client(ctx, "secretsmanager", options), ctx.secret,
                                                cancelled=ctx.cancelled)
        read = self._reader.read(e.ref for e in options.secrets)
        if read.fell_back:
            ctx.log.info("BatchGetSecretValue is not allowed for these credentials; read the secrets "
                         "one by one with GetSecretValue")
        ctx.log.debug("secretsmanager calls: " + ", ".join(f"{op} x{n}" for op, n in sorted(read.calls.items())))
        self._check_missing(ctx, set(read.missing))
        variables = []
        for index, entry in enumerate(options.secrets):
            value = read.values.get(entry.ref)
            if value is not None:
                variables.extend(self._variables(ctx, index, entry, value))
        found = len({e.ref for e in options.secrets if e.ref in read.values})
        return write_variables(ctx, options, variables, plural(found, "secret"))

    def _check_missing(self, ctx: StepContext, missing: set[SecretRef]) -> None:
        required = [e for e in self.options.secrets if e.ref in missing and not e.optional]
        for entry in self.options.secrets:
            if entry.ref in missing and entry.optional:
                ctx.log.warning(f"optional secret {entry.id} not found; its variables are left out")
        ids = list(dict.fromkeys(e.id for e in required))
        if ids:
            raise StepFailed(f"secret{'s' if len(ids) > 1 else ''} not found: {', '.join(ids)}")

    def _variables(self, ctx: StepContext, index: int, entry: SecretEntry, value: SecretValue) -> list[Variable]:
        from automations.aws.secrets import (
            Variable,
            is_missing,
            json_lookup,
            json_object,
            json_text,
            secret_parts,
            variable_name,
        )
        from automations.files.envnames import derived_name_problem

        where = f"secrets[{index}] ({entry.id})"
        if entry.env is not None:
            return [Variable(entry.env, value.text(), f"{where} whole value")]
        data = json_object(entry.id, value.string)
        if entry.keys == ALL_KEYS:
            pairs = [(variable_name(k, entry.prefix), v, k) for k, v in data.items()]
        else:
            assert isinstance(entry.keys, dict)
            pairs = []
            for name, json_key in entry.keys.items():
                found = json_lookup(data, json_key)
                if is_missing(found):
                    raise StepFailed(f"secret {entry.id} has no key {json_key!r} (for {name})")
                pairs.append((name, found, json_key))
        variables = []
        for name, found, json_key in pairs:
            if entry.keys == ALL_KEYS:  # the secret chose the name (names in `keys: {NAME: key}` are checked at load)
                problem = derived_name_problem(name, f"secret {entry.id} key {json_key!r}",
                                               "name the variable in `keys:` or set a `prefix`")
                if problem:
                    raise StepFailed(problem)
            text = json_text(found)
            for part in secret_parts(found):  # only what is written: see secret_parts
                ctx.secret(part)
            variables.append(Variable(name, text, f"{where} key {json_key!r}"))
        return variables

    def error_class(self, error: BaseException) -> str | None:
        from automations.aws.clients import aws_error_class

        return super().error_class(error) or aws_error_class(error)

    def describe(self) -> list[str]:
        options = self.options
        lines = [f"write {options.file} ({options.format}, {options.mode}) from Secrets Manager"
                 + (f" (profile {options.profile})" if options.profile else "")
                 + (f" (region {options.region})" if options.region else "")]
        for entry in options.secrets:
            lines.extend(f"  {line}" for line in entry.describe())
        if options.refresh_every is not None:
            lines.append(f"  (fetched again every {options.refresh_every}s by `automations watch`)")
        return lines
