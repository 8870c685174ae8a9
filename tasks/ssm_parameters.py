"""`ssm-parameters`: SSM Parameter Store parameters into one env file.

The story of one run: read every parameter under `path` (recursively, decrypted, page by
page) and every one listed in `names` (ten a call, concurrently), each value registered with
the redactor as it arrives; fail naming every missing parameter at once (unless the step is
`optional`); name each variable after the parameter (its name below `path`, or its last
segment), upper-cased, sanitised, prefixed; write the file in one atomic step, 0600.

boto3, botocore and the reading code are imported only when the step runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from automations.api import OptionError, Step, StepContext, StepFailed, StepResult, option
from automations.aws.declarations import AWS_RETRY
from automations.files.envfile_options import ENV_FILE_OUTPUTS, EnvFileOptions
from automations.wording import plural

if TYPE_CHECKING:
    from automations.aws.secrets import ParameterStoreReader

PARAMETER_PATH = r"/[^\s]*"


class SsmParametersOptions(EnvFileOptions):
    path: str | None = option(None, pattern=PARAMETER_PATH,
                              help="every parameter under this path (recursive), e.g. /myapp/dev/")
    names: list[str] = option(default_factory=list, help="parameters by name (or ARN)")
    prefix: str = option("", pattern=r"[A-Za-z_][A-Za-z0-9_]*|", help="put before every variable name")
    optional: bool = option(False, help="missing parameters, or none under `path`, are a warning, not a failure")

    def validate(self) -> None:
        if self.path is None and not self.names:
            raise OptionError("path", "give `path:`, `names:` or both")
        for index, name in enumerate(self.names):
            if not name.strip():
                raise OptionError(("names", index), "empty parameter name")


class SsmParametersStep(Step[SsmParametersOptions]):
    name = "ssm-parameters"
    Options = SsmParametersOptions
    summary = "Write SSM Parameter Store parameters (by path and/or name, decrypted) into an env file"
    retry_policy = AWS_RETRY  # throttled and transient: automations/aws/declarations.py
    outputs = ENV_FILE_OUTPUTS
    _reader: ParameterStoreReader | None = None

    def run(self, ctx: StepContext) -> StepResult:
        from automations.aws.secrets import ParameterStoreReader, Variable, aws_client, write_variables
        from automations.files.envnames import derived_name_problem

        options = self.options
        if self._reader is None:  # kept across attempts: a retry asks only for what is missing
            self._reader = ParameterStoreReader(aws_client(ctx, "ssm", options), ctx.secret, cancelled=ctx.cancelled)
        paths = [options.path] if options.path else []
        read = self._reader.read(paths, options.names)
        ctx.log.debug("ssm calls: " + ", ".join(f"{op} x{n}" for op, n in sorted(read.calls.items())))
        self._check_missing(ctx, read.missing, bool(paths) and not read.under_path.get(options.path or ""))
        names = sorted(n for found in read.under_path.values() for n in found)
        names += [n for n in options.names if n in read.values and n not in names]
        variables = [Variable(self._variable_for(n), read.values[n], f"parameter {n}") for n in names]
        for variable in variables:  # every name here comes from a parameter's name
            problem = derived_name_problem(variable.name, variable.source, "set a `prefix`")
            if problem:
                raise StepFailed(problem)
        return write_variables(ctx, options, variables, plural(len(names), "parameter"))

    def _check_missing(self, ctx: StepContext, missing: list[str], empty_path: bool) -> None:
        problems = []
        if missing:
            problems.append(f"parameter{'s' if len(missing) > 1 else ''} not found: {', '.join(missing)}")
        if empty_path:
            problems.append(f"no parameters under {self.options.path}")
        if not problems:
            return
        if self.options.optional:
            for problem in problems:
                ctx.log.warning(problem)
            return
        raise StepFailed("; ".join(problems))

    def _variable_for(self, parameter: str) -> str:
        """The name below `path` if it is there, else the last segment (`arn:...:parameter/a/b` too)."""
        base = self.options.path
        if base and parameter.startswith(base.rstrip("/") + "/"):
            relative = parameter[len(base.rstrip("/")) + 1:]
        else:
            relative = parameter.rsplit("/", 1)[-1]
        from automations.aws.secrets import variable_name

        return variable_name(relative, self.options.prefix)

    def error_class(self, error: BaseException) -> str | None:
        from automations.aws.clients import aws_error_class

        return super().error_class(error) or aws_error_class(error)

    def describe(self) -> list[str]:
        options = self.options
        lines = [f"write {options.file} ({options.format}, {options.mode}) from SSM Parameter Store"
                 + (f" (profile {options.profile})" if options.profile else "")
                 + (f" (region {options.region})" if options.region else "")]
        if options.path:
            lines.append(f"  {options.prefix}* <- every parameter under {options.path} (recursive, decrypted)")
        for name in options.names:
            lines.append(f"  {self._variable_for(name)} <- parameter {name}")
        if options.optional:
            lines.append("  (optional: missing parameters are a warning)")
        if options.refresh_every is not None:
            lines.append(f"  (fetched again every {options.refresh_every}s by `automations watch`)")
        return lines
