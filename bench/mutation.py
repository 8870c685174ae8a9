"""Mutation testing of the core modules (issue 17): do the fast tests notice a plausible bug?

mutmut (3.x) changes one small thing at a time in a module (a comparison, a constant, an
argument, a call) and runs the tests that reach the changed function; a mutant that no test
notices "survived". Each module is tested only against its own fast test files (MODULES
below), so a run takes minutes, not hours, on 2 cores:

    .venv/bin/pip install -e '.[mutation]'
    .venv/bin/python bench/mutation.py                      # every module, smallest first
    .venv/bin/python bench/mutation.py redaction retry      # some of them
    .venv/bin/python bench/mutation.py --list               # the modules and their tests

It works on a copy of the repository per module (in --workdir, default a temporary
directory that is kept, so that `mutmut show NAME` run inside it shows a mutant), under
`nice -n 15`, one mutant at a time unless --jobs says more. The report (bench/results/
mutation/MODULE.txt, one per module, unless --report names another directory) gives the kill rate per module: killed /
(mutants - equivalent), where the equivalent mutants (no observable change) are listed,
each with why, in bench/mutation_equivalent.md. A mutant that hangs the tests into mutmut's
timeout counts as killed: a user would notice. A mutant that no selected test reaches ("no
tests") counts as a survivor.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_LIST = ROOT / "bench" / "mutation_equivalent.md"

# Module -> (its file, the fast test files that specify it). Smallest modules first.
MODULES: dict[str, tuple[str, list[str]]] = {
    "keys": ("automations/engine/keys.py", ["tests/test_engine_keys.py"]),
    "envnames": ("automations/files/envnames.py", ["tests/test_envnames.py"]),
    "redaction": ("automations/redaction.py", ["tests/test_redaction.py", "tests/test_masked_stream.py"]),
    "retry": ("automations/retry.py", ["tests/test_retry.py", "tests/test_engine_keys.py"]),
    "verify": ("automations/oidc/verify.py", ["tests/test_oidc.py"]),
    "sts": ("automations/aws/sts.py", ["tests/test_sts.py", "tests/test_aws_login_units.py", "tests/test_aws_answers.py"]),
    "login": ("automations/aws/login.py", ["tests/test_login_snapshot.py", "tests/test_aws_login_units.py",
                                          "tests/test_aws_login.py", "tests/test_credential_process.py",
                                          "tests/test_aws_assume_role.py"]),  # role chaining (ChainedRoleLogin)
    "atomicfile": ("automations/files/atomicfile.py", ["tests/test_atomicfile.py", "tests/test_credentials_file.py"]),
    "credentials_file": ("automations/files/credentials_file.py", ["tests/test_credentials_file.py"]),
    # The runner's own in-process specification only: test_runner.py's signal and timeout
    # trials run `automations` as a child process (not credited) or wait whole seconds.
    "runner": ("automations/engine/runner.py", ["tests/test_runner_in_process.py"]),
    "config": ("automations/engine/config.py", ["tests/test_config_steps.py", "tests/test_config_errors.py",
                                                "tests/test_config_limits.py",
                                                "tests/test_engine_keys.py", "tests/test_task_scope.py",
                                                "tests/test_expand.py", "tests/test_step_outputs.py"]),
    # The claims checks: oidc/claims.py once split out of oidc/sources.py (issue 13); a module
    # that does not exist is skipped.
    "claims": ("automations/oidc/claims.py", ["tests/test_tokens.py", "tests/test_oidc.py", "tests/test_trust.py"]),
    "sources": ("automations/oidc/sources.py", ["tests/test_tokens.py", "tests/test_token_command.py"]),
    "options": ("automations/engine/options.py", ["tests/test_options.py", "tests/test_schema.py",
                                                  "tests/test_engine_keys.py", "tests/test_config_errors.py",
                                                  "tests/test_task_scope.py", "tests/test_expand.py",
                                                  "tests/test_plugins.py"]),
    "envfile": ("automations/files/envfile.py", ["tests/test_envfile.py"]),
}

# Files the tests read besides the package and the tests themselves.
ALSO_COPY = ["README.md", "ARCHITECTURE.md", "automations.yaml", "examples"]
KILLED, SURVIVED, NO_TESTS = "killed", "survived", "no tests"
# mutmut's exit codes (mutmut/__main__.py, status_by_exit_code): 1 and 3 a failing test,
# timeouts (36, SIGXCPU, SIGKILL) a mutant that hangs: noticed. 0 survived, 33 and 5 no tests.
STATUS_BY_EXIT_CODE = {1: KILLED, 3: KILLED, 36: KILLED, 24: KILLED, -24: KILLED, 152: KILLED, 255: KILLED,
                       -9: KILLED, 0: SURVIVED, 33: NO_TESTS, 5: NO_TESTS, None: "not tested yet"}


def equivalent_mutants() -> dict[str, str]:
    """Mutant name -> why it is equivalent, from bench/mutation_equivalent.md (`- `name`: why`)."""
    if not EQUIVALENT_LIST.exists():
        return {}
    found = re.findall(r"^- `([^`]+)`: (.+)$", EQUIVALENT_LIST.read_text(), flags=re.M)
    return dict(found)


def prepare(workdir: Path, module: str) -> None:
    """A fresh copy of the repository with mutmut set to mutate `module` only."""
    source, tests = MODULES[module]
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in ["automations", "tasks", "tests", *ALSO_COPY]:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, workdir / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, workdir / name)
    settings = {
        "source_paths": ["automations", "tasks"],
        "only_mutate": [source],
        "also_copy": ALSO_COPY,
        # One process (no xdist: mutmut runs the tests in a fork of itself), no cache.
        "pytest_add_cli_args": ["-o", "addopts=", "-p", "no:xdist", "-p", "no:cacheprovider", "-q"],
        "pytest_add_cli_args_test_selection": tests,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    text = (ROOT / "pyproject.toml").read_text()
    (workdir / "pyproject.toml").write_text(text + "\n".join(lines) + "\n")


def results(workdir: Path, module: str) -> dict[str, str]:
    """Mutant name -> killed / survived / no tests, from mutmut's record of the run."""
    source, _ = MODULES[module]
    meta = json.loads((workdir / "mutants" / f"{source}.meta").read_text())
    return {name: STATUS_BY_EXIT_CODE.get(code, f"exit code {code}")
            for name, code in meta["exit_code_by_key"].items()}


def run_module(module: str, workdir: Path, jobs: int, mutmut: str, resume: bool = False,
               retest: bool = False) -> tuple[dict[str, str], float]:
    names: list[str] = []
    earlier = 0.0
    if retest:
        names, earlier = survivors_to_retest(module, workdir)
    elif not (resume and (workdir / "mutants").is_dir()):
        prepare(workdir, module)
    started = time.monotonic()
    log = workdir / ("mutmut-retest.log" if retest else "mutmut.log")
    with open(log, "w") as out:
        done = subprocess.run(["nice", "-n", "15", mutmut, "run", "--max-children", str(jobs), *names],
                              cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    elapsed = earlier + time.monotonic() - started
    meta = workdir / "mutants" / f"{MODULES[module][0]}.meta"
    if meta.exists() and not json.loads(meta.read_text())["exit_code_by_key"]:
        return {}, elapsed  # nothing to mutate: mutmut mutates function bodies, not declarations
    if done.returncode != 0 or not meta.exists():
        raise SystemExit(f"{module}: mutmut failed (exit code {done.returncode}); see {log}")
    return results(workdir, module), elapsed


def survivors_to_retest(module: str, workdir: Path) -> tuple[list[str], float]:
    """For --retest: the copy's tests replaced by today's, and the mutants its run did not kill
    and that are not listed as equivalent (the killed ones stay killed: tests were added, the
    module is unchanged); also how long that run took."""
    source, _ = MODULES[module]
    if not (workdir / "mutants").is_dir():
        raise SystemExit(f"{module}: no earlier run in {workdir} to retest")
    if (workdir / source).read_text() != (ROOT / source).read_text():
        raise SystemExit(f"{module}: {source} changed since the run in {workdir}: run it afresh")
    pyproject = (workdir / "pyproject.toml").read_text()
    if json.dumps(MODULES[module][1]) not in pyproject:
        # mutmut would reset every result when its test selection changes
        raise SystemExit(f"{module}: its test files (MODULES) changed since the run in {workdir}: run it afresh")
    shutil.rmtree(workdir / "tests")
    shutil.copytree(ROOT / "tests", workdir / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    earlier = (workdir / "mutmut.log").stat().st_mtime - (workdir / "pyproject.toml").stat().st_mtime
    started, log = workdir / "retest-started", workdir / "mutmut-retest.log"
    if started.exists() and log.exists():  # an earlier retest, stopped or finished
        earlier += max(0.0, log.stat().st_mtime - started.stat().st_mtime)
    started.touch()
    equivalent = equivalent_mutants()  # no test can kill them: not tested again
    not_killed = sorted(name for name, status in results(workdir, module).items()
                        if status != KILLED and name not in equivalent)
    return not_killed, earlier


def summarise(module: str, found: dict[str, str], elapsed: float, equivalent: dict[str, str]) -> tuple[str, list[str]]:
    if not found:
        return f"{module:<17} {MODULES[module][0]:<40} no mutants: no function bodies (declarations only)", []
    killed = sum(status == KILLED for status in found.values())
    equivalent_here = {name for name in found if name in equivalent and found[name] != KILLED}
    # An equivalent mutant that a test kills is not equivalent: the list is wrong.
    wrongly_listed = sorted(name for name in found if name in equivalent and found[name] == KILLED)
    counted = len(found) - len(equivalent_here)
    rate = 100.0 * killed / counted if counted else 100.0
    survivors = sorted(name for name, status in found.items() if status != KILLED and name not in equivalent)
    line = (f"{module:<17} {MODULES[module][0]:<40} mutants {len(found):>4}  equivalent {len(equivalent_here):>3}  "
            f"killed {killed:>4}  kill rate {rate:5.1f} %  time {elapsed / 60:4.1f} min")
    details = [f"  {name}: {found[name]}" for name in survivors]
    details += [f"  {name}: killed, but listed as equivalent" for name in wrongly_listed]
    return line, details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)} (default: all)")
    parser.add_argument("--list", action="store_true", help="show the modules and their test files")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--resume", action="store_true",
                        help="go on with an interrupted run in --workdir (mutmut keeps each result as it comes)")
    parser.add_argument("--retest", action="store_true",
                        help="in --workdir's copy of a finished run: test the mutants it did not kill again, "
                             "against the tests as they are now (the module and MODULES unchanged)")
    parser.add_argument("--workdir", type=Path, help="where the copies go (default: a new temporary directory)")
    parser.add_argument("--report", type=Path, default=ROOT / "bench" / "results" / "mutation",
                        help="directory of the reports, one file per module")
    parser.add_argument("--table", action="store_true", help="print the reports as a markdown table (for BENCHMARKS.md)")
    parser.add_argument("--collect", action="store_true",
                        help="write the reports of the modules' runs in --workdir as they stand (a run stopped "
                             "early counts only the mutants it tested)")
    args = parser.parse_args(argv)
    if args.retest and args.workdir is None:
        parser.error("--retest needs --workdir")
    if args.table:
        print_table(args.report)
        return 0
    if args.list:
        for module, (source, tests) in MODULES.items():
            print(f"{module:<17} {source:<40} {' '.join(tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    if args.collect:
        if args.workdir is None:
            parser.error("--collect needs --workdir")
        args.report.mkdir(parents=True, exist_ok=True)
        for module in args.modules or list(MODULES):
            if (args.workdir / module / "mutants").is_dir():
                collect(module, args.workdir / module, args.report, equivalent_mutants())
        return 0
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if mutmut is None:
        raise SystemExit("mutmut is not installed: .venv/bin/pip install -e '.[mutation]'")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="automations-mutation-"))
    equivalent = equivalent_mutants()
    args.report.mkdir(parents=True, exist_ok=True)
    for module in args.modules or list(MODULES):
        if not (ROOT / MODULES[module][0]).exists():
            print(f"{module}: {MODULES[module][0]} does not exist here; skipped", flush=True)
            continue
        # The module is copied when its turn comes: the commit and the load of that moment.
        heading = (f"# bench/mutation.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                   f"commit {_commit()}, nproc {os.cpu_count()}, load {os.getloadavg()[0]:.1f}, jobs {args.jobs}")
        found, elapsed = run_module(module, workdir / module, args.jobs, mutmut, args.resume, args.retest)
        line, details = summarise(module, found, elapsed, equivalent)
        if args.retest:
            heading = heading.replace("bench/mutation.py,", "bench/mutation.py --retest (the run's survivors tested again),")
        print(line, *details, sep="\n", flush=True)
        (args.report / f"{module}.txt").write_text("\n".join([heading, line, *details]) + "\n")
    print(f"reports: {args.report}/; copies (for `mutmut show NAME` inside one): {workdir}")
    return 0


def collect(module: str, workdir: Path, reports: Path, equivalent: dict[str, str]) -> None:
    found = results(workdir, module)
    tested = {name: status for name, status in found.items() if status != "not tested yet"}
    # From the copy (prepare() writes pyproject.toml last) to mutmut's last word.
    elapsed = (workdir / "mutmut.log").stat().st_mtime - (workdir / "pyproject.toml").stat().st_mtime
    line, details = summarise(module, tested, elapsed, equivalent)
    if len(tested) < len(found):
        line += f"  (partial: {len(tested)} of {len(found)} mutants tested)"
    heading = (f"# bench/mutation.py --collect, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"commit {_commit()}, nproc {os.cpu_count()}, load {os.getloadavg()[0]:.1f}, jobs ?")
    (reports / f"{module}.txt").write_text("\n".join([heading, line, *details]) + "\n")
    print(line, *details, sep="\n")


def print_table(reports: Path) -> None:
    print("| module | file | mutants | equivalent | killed | kill rate | survivors | time | run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for module, (source, _) in MODULES.items():
        report = reports / f"{module}.txt"
        if not report.exists():
            continue
        heading, line, *details = report.read_text().splitlines()
        run = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC, commit (\S+),.* jobs (\S+)", heading)
        numbers = re.search(r"mutants +(\d+) +equivalent +(\d+) +killed +(\d+) +kill rate +([\d.]+) % +time +([\d.]+) min", line)
        when = f"{run.group(1)}, {run.group(2)}, jobs {run.group(3)}" if run else ""
        if "--retest" in heading:
            when += "; survivors retested"
        partial = re.search(r"partial: (\d+) of (\d+)", line)
        if partial:
            when += f"; stopped after {partial.group(1)} of {partial.group(2)}"
        if numbers is None:
            print(f"| {module} | `{source}` | 0 | | | | | | {when} |")
            continue
        mutants, equivalent, killed, rate, minutes = numbers.groups()
        survivors = sum(1 for d in details if not d.endswith("listed as equivalent"))
        print(f"| {module} | `{source}` | {mutants} | {equivalent} | {killed} | **{rate} %** | {survivors} | "
              f"{minutes} min | {when} |")


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
