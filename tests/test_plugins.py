"""Step types are plugins: entry points of installed distributions (the built-ins too), or
classes listed under `plugins:`. Nothing is imported that the user did not name."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.cli import Result, process_state, run_cli, run_process
from support.shared import built_once

GREET_PLUGIN = '''
from __future__ import annotations
from automations.engine.options import Options, option
from automations.engine.step import Step, StepContext, StepResult


class GreetOptions(Options):
    who: str = option(help="whom to greet")
    times: int = option(1, minimum=1, maximum=3)


class GreetStep(Step[GreetOptions]):
    name = "greet"
    Options = GreetOptions
    summary = "Greets"

    def run(self, ctx: StepContext) -> StepResult:
        for _ in range(self.options.times):
            ctx.log.output(f"hello {self.options.who}")
        return StepResult.changed(greeted=self.options.who)
'''


def build_distribution(root: Path, name: str, module: str, source: str,
                       entry_points: dict[str, str]) -> tuple[Path, subprocess.Popen[bytes]]:
    """Install a tiny distribution with `automations.steps` entry points into its own
    directory (put on PYTHONPATH), the way pip installs any plugin: the directory, and the
    pip process installing it (several install at once)."""
    project = root / f"src-{name}"
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text(textwrap.dedent(source))
    eps = "\n".join(f'{k} = "{v}"' for k, v in entry_points.items())
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{name}"
        version = "1.2.3"
        [project.entry-points."automations.steps"]
    """) + eps + "\n")
    target = root / f"site-{name}"
    pip = subprocess.Popen([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(project)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return target, pip


PLUGIN_SITES = {  # name: (distribution, module, source, entry points)
    "greet": ("automations-greet", "automations_greet", GREET_PLUGIN, {"greet": "automations_greet:GreetStep"}),
    "broken": ("automations-broken", "automations_broken", "import does_not_exist_anywhere\n",
               {"broken": "automations_broken:Nope"}),
    "rival": ("automations-rival", "automations_rival", GREET_PLUGIN, {"greet": "automations_rival:GreetStep"}),
}


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> dict[str, Path]:
    """The three distributions, installed once for the whole session (all workers)."""
    def install(root: Path) -> None:
        installing = [build_distribution(root, *spec) for spec in PLUGIN_SITES.values()]
        for _, pip in installing:
            output = pip.communicate(timeout=300)[0]
            assert pip.returncode == 0, output.decode(errors="replace")

    root = built_once(tmp_path_factory, "plugins", install)
    return {name: root / f"site-{distribution}" for name, (distribution, *_) in PLUGIN_SITES.items()}


def with_path(env: dict[str, str], *dirs: Path) -> dict[str, str]:
    return {**env, "PYTHONPATH": ":".join(str(d) for d in dirs)}


def run_installed(*args: str, sites: tuple[Path, ...], cwd: Path, env: dict[str, str]) -> Result:
    """`main(argv)` in process with the plugin `sites` installed: first on sys.path, where
    PYTHONPATH puts them in a process of its own (PYTHONPATH itself changes nothing in a
    running interpreter). Afterwards sys.path, and the modules imported from the sites, are
    as before."""
    with process_state():
        sys.path[:0] = [str(site) for site in sites]
        return run_cli(*args, cwd=cwd, env=with_path(env, *sites))


def test_an_installed_plugin_runs_from_yaml(write_config, base_env, plugin_site):
    # As a process: PYTHONPATH, read at interpreter start, is how the installed plugin is found.
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: greet
                with: {who: world, times: 2}
    """)
    result = run_process("run", "hello", cwd=config.parent, env=with_path(base_env, plugin_site["greet"]))
    assert result.code == 0, result.output
    assert result.stdout.count("hello | hello world") == 2
    assert "greet: changed" in result.stdout


def test_a_plugins_options_are_validated_at_load_time(write_config, base_env, plugin_site):
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: greet
                with: {who: world, times: 9}
    """)
    result = run_installed("validate", sites=(plugin_site["greet"],), cwd=config.parent, env=base_env)
    assert result.code == 2
    assert "automations.yaml:5:35: greet: with.times: 9 is out of range: must be at least 1 and at most 3" in result.stderr


def test_steps_lists_plugins_with_their_distribution_and_options(write_config, base_env, plugin_site):
    write_config("tasks: {a: {command: 'true'}}\n")
    result = run_installed("steps", sites=(plugin_site["greet"],),
                           cwd=write_config("tasks: {a: {command: 'true'}}\n").parent, env=base_env)
    assert result.code == 0, result.output
    assert "greet  (automations-greet 1.2.3: automations_greet:GreetStep)" in result.stdout
    assert "who: string (required)  whom to greet" in result.stdout
    assert "run  (automations " in result.stdout


def test_a_plugin_that_fails_to_import_is_named_with_its_distribution(write_config, base_env, plugin_site):
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: broken
    """)
    result = run_installed("validate", sites=(plugin_site["broken"],), cwd=config.parent, env=base_env)
    assert result.code == 2
    assert ("automations.yaml:4:15: step plugin 'broken' from automations-broken 1.2.3 failed to import: "
            "ModuleNotFoundError: No module named 'does_not_exist_anywhere'") in result.stderr
    assert "Traceback" not in result.output


def test_with_vv_a_plugin_that_fails_to_import_shows_the_import_traceback(write_config, base_env, plugin_site):
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: broken
    """)
    result = run_installed("-vv", "validate", sites=(plugin_site["broken"],), cwd=config.parent, env=base_env)
    assert result.code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert 'automations_broken/__init__.py", line 1' in result.stderr
    assert "ModuleNotFoundError: No module named 'does_not_exist_anywhere'" in result.stderr


def test_with_vv_steps_shows_the_traceback_of_a_plugin_that_fails_to_import(base_env, plugin_site, tmp_path):
    result = run_installed("-vv", "steps", sites=(plugin_site["broken"],), cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert 'automations_broken/__init__.py", line 1' in result.stderr


def test_a_broken_plugin_that_is_not_used_does_not_matter(write_config, base_env, plugin_site):
    config = write_config("tasks: {a: {command: echo fine}}\n")
    result = run_installed("run", "a", sites=(plugin_site["broken"],), cwd=config.parent, env=base_env)
    assert result.code == 0, result.output


def test_two_plugins_claiming_one_name_is_an_error(write_config, base_env, plugin_site):
    config = write_config("""
        tasks:
          hello:
            steps:
              - uses: greet
                with: {who: world}
    """)
    result = run_installed("validate", sites=(plugin_site["greet"], plugin_site["rival"]), cwd=config.parent,
                           env=base_env)
    assert result.code == 2
    assert "step type 'greet' is claimed by more than one plugin" in result.stderr
    assert "automations-greet 1.2.3" in result.stderr and "automations-rival 1.2.3" in result.stderr


def test_version_shows_every_distribution_claiming_one_step_name(base_env, plugin_site, tmp_path):
    result = run_installed("--version", sites=(plugin_site["greet"], plugin_site["rival"]), cwd=tmp_path,
                           env=base_env)
    assert result.code == 0
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("  step greet:")]
    assert "claimed by 2 distributions" in line
    assert "automations-greet 1.2.3 (automations_greet:GreetStep)" in line
    assert "automations-rival 1.2.3 (automations_rival:GreetStep)" in line


def test_version_json_lists_the_claims_of_a_contested_step_name(base_env, plugin_site, tmp_path):
    import json

    result = run_installed("--output", "json", "--version", sites=(plugin_site["greet"], plugin_site["rival"]),
                           cwd=tmp_path, env=base_env)
    event = json.loads(result.stdout)
    assert sorted(event["conflicts"]["greet"]) == ["automations-greet 1.2.3 (automations_greet:GreetStep)",
                                                   "automations-rival 1.2.3 (automations_rival:GreetStep)"]
    assert "run" not in event["conflicts"]


LISTED_PLUGIN = '''
from automations.api import Options, Step, StepResult

class NoOptions(Options):
    pass

class WarmCache(Step[NoOptions]):
    name = "warm-cache"
    Options = NoOptions

    def run(self, ctx):
        ctx.log.output("cache warmed")
        return StepResult.ok()
'''


def test_a_listed_plugin_is_imported_from_the_config_directory(write_config, base_env, tmp_path):
    (tmp_path / "mycompany").mkdir()
    (tmp_path / "mycompany" / "__init__.py").write_text("")
    (tmp_path / "mycompany" / "steps.py").write_text(LISTED_PLUGIN)
    write_config("""
        plugins: [mycompany.steps:WarmCache]
        tasks:
          warm:
            steps:
              - uses: warm-cache
    """)
    result = run_cli("run", "warm", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    assert "warm | cache warmed" in result.stdout


def test_a_module_that_is_not_listed_is_never_imported(write_config, base_env, tmp_path):
    (tmp_path / "sneaky.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n" + LISTED_PLUGIN)
    write_config("""
        tasks:
          warm:
            steps:
              - uses: warm-cache
    """)
    result = run_cli("run", "warm", cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert "unknown step type 'warm-cache'" in result.stderr
    assert not (tmp_path / "imported").exists()


def test_a_listed_plugin_that_cannot_be_imported_is_reported_at_its_entry(write_config, base_env, tmp_path):
    write_config("""
        plugins:
          - nowhere.steps:Thing
        tasks:
          a: {command: 'true'}
    """)
    result = run_cli("validate", cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert ("automations.yaml:2:5: plugin 'nowhere.steps:Thing' listed in automations.yaml failed to import: "
            "ModuleNotFoundError") in result.stderr


def test_a_listed_plugin_cannot_take_a_built_in_name(write_config, base_env, tmp_path):
    (tmp_path / "mine.py").write_text(LISTED_PLUGIN.replace('"warm-cache"', '"run"'))
    write_config("""
        plugins: [mine:WarmCache]
        tasks:
          a: {command: 'true'}
    """)
    result = run_cli("validate", cwd=tmp_path, env=base_env)
    assert result.code == 2
    assert "claims the step name 'run', already provided by automations" in result.stderr


SHADOW = "raise SystemExit('the tasks.py of the working directory was imported')\n"


def test_a_tasks_py_in_the_working_directory_does_not_shadow_the_built_ins(write_config, base_env, tmp_path):
    (tmp_path / "tasks.py").write_text(SHADOW)
    write_config("tasks: {a: {command: echo built-in run step}}\n")
    result = run_cli("run", "a", cwd=tmp_path, env=base_env)
    assert result.code == 0, result.output
    assert "built-in run step" in result.stdout


def test_python_m_automations_with_a_tasks_py_beside_it_still_works(write_config, base_env, tmp_path):
    # `python -m` puts the working directory first on sys.path: the classic shadowing case.
    (tmp_path / "tasks.py").write_text(SHADOW)
    write_config("tasks: {a: {command: echo built-in run step}}\n")
    proc = subprocess.run([sys.executable, "-m", "automations", "run", "a"], cwd=tmp_path, env=base_env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "built-in run step" in proc.stdout


# -- the entry-point cache says which distribution declares a name, never which module -----

EVIL_STEP = '''
open(__file__ + ".imported", "w").write("imported")
from automations.api import Step
class EvilStep(Step):
    name = "run"
'''


def entry_point_caches(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_CACHE_HOME"]) / "automations").glob("entry-points-*.txt"))


def python_m(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automations", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_an_edited_entry_point_cache_row_never_names_a_module(write_config, base_env, tmp_path):
    write_config("tasks: {a: {command: 'true'}}\n")
    (tmp_path / "evil.py").write_text(EVIL_STEP)
    assert python_m("validate", cwd=tmp_path, env=base_env).returncode == 0
    for cache in entry_point_caches(base_env):
        cache.write_text(cache.read_text().replace("tasks.run:RunStep", "evil:EvilStep"))

    proc = python_m("validate", cwd=tmp_path, env=base_env)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "evil.py.imported").exists()
    assert all("evil:EvilStep" not in cache.read_text() for cache in entry_point_caches(base_env))  # rewritten


def test_a_distribution_planted_in_the_working_directory_is_not_installed(write_config, base_env, tmp_path):
    write_config("tasks: {a: {command: 'true'}}\n")
    (tmp_path / "evil.py").write_text(EVIL_STEP)
    planted = tmp_path / "evil-1.0.dist-info"
    planted.mkdir()
    (planted / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    (planted / "entry_points.txt").write_text("[automations.steps]\nevil = evil:EvilStep\n")

    proc = python_m("steps", cwd=tmp_path, env=base_env)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "evil" not in proc.stdout
    assert not (tmp_path / "evil.py.imported").exists()


def test_no_entry_point_cache_is_kept_in_a_directory_others_can_write(write_config, base_env):
    config = write_config("tasks: {a: {command: 'true'}}\n")
    cache_dir = Path(base_env["XDG_CACHE_HOME"]) / "automations"
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(0o777)

    result = run_cli("validate", cwd=config.parent, env=base_env)

    assert result.code == 0, result.output
    assert entry_point_caches(base_env) == []


def test_a_newer_release_earlier_on_the_path_hides_the_older_ones_steps(base_env, tmp_path):
    # As importlib.metadata.entry_points() decides: the first `shadow` on the path is the one
    # installed, and it no longer declares the step the older release did.
    newer, older = tmp_path / "newer-site", tmp_path / "older-site"
    declared = "[automations.steps]\nshadow = shadow_step:GreetStep\n"
    for site, version, entry_points in ((newer, "2.0", ""), (older, "1.0", declared)):
        info = site / f"shadow-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: shadow\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(entry_points)
    (older / "shadow_step.py").write_text(GREET_PLUGIN.replace('name = "greet"', 'name = "shadow"'))

    hidden = run_installed("steps", sites=(newer, older), cwd=tmp_path, env=base_env)
    shown = run_installed("steps", sites=(older,), cwd=tmp_path, env=base_env)

    assert hidden.code == 0 and shown.code == 0, hidden.output + shown.output
    assert "shadow" in shown.stdout  # the older release alone does declare it
    assert "shadow" not in hidden.stdout
