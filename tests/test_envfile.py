"""The env-file writer, read back by each format's real consumer: python-dotenv (defaults),
bash and dash (`set -a; . FILE`), Python's JSON parser, and docker's env-file rules.

The helpers at the top are also used by the secrets steps' end-to-end tests."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dotenv
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from automations.errors import StepFailed
from automations.files.envfile import (
    BASH_SPECIAL_NAMES,
    FORMATS,
    EnvFileWriter,
    env_format,
    read_env_file,
    write_env_file,
)

# -- the consumers ------------------------------------------------------------------------


def read_with_python_dotenv(path: Path) -> dict[str, str | None]:
    return dict(dotenv.dotenv_values(path))


def read_with_shell(path: Path, shell: str = "bash") -> dict[str, str]:
    """What `set -a; . FILE` exports, from a clean environment (no rc files, no BASH_ENV)."""
    argv = [shell, "--noprofile", "--norc", "-c"] if shell == "bash" else [shell, "-c"]
    proc = subprocess.run([*argv, 'set -a; . "$1" && env -0', shell, str(path)], env={"PATH": os.environ["PATH"]},
                          capture_output=True, check=True)
    pairs = (item.split(b"=", 1) for item in proc.stdout.split(b"\0") if item)
    return {k.decode(): v.decode("utf-8") for k, v in pairs}


def read_with_json(path: Path) -> dict[str, str]:
    return json.loads(path.read_bytes())


def read_with_docker_rules(path: Path) -> dict[str, str]:
    """docker's `--env-file` as documented (docs.docker.com, `docker run --env-file`) and as
    docker/cli's pkg/kvfile implements it: UTF-8; lines split at \\n, a trailing \\r dropped
    (bufio.ScanLines); leading space trimmed (unicode.IsSpace); `#` first is a comment;
    `NAME=value`, the name without spaces or tabs, the value taken literally, quotes and all."""
    values: dict[str, str] = {}
    for raw in path.read_bytes().decode("utf-8").split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        line = line.lstrip(GO_SPACE)
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        assert equals, f"a line without '=' takes its value from docker's own environment: {name!r}"
        assert name and " " not in name and "\t" not in name, f"docker rejects this name: {name!r}"
        values[name] = value
    return values


# Go's unicode.IsSpace, spelled out here rather than taken from the module under test.
GO_SPACE = "".join(chr(c) for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                                    0x2028, 0x2029, 0x202F, 0x205F, 0x3000))


class FakeDockerEngine:
    """Just enough of the Docker Engine API for the real `docker` CLI to parse an env file
    and send the result: it records `Env` from POST /containers/create and answers with an
    error, so nothing is ever created (no daemon is needed)."""

    def __init__(self) -> None:
        engine = self
        self.created: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                for key, value in (("Content-Type", "application/json"), ("Api-Version", "1.43"), ("Ostype", "linux")):
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.reply(200, b"")

            def do_GET(self) -> None:
                self.reply(200, b"OK") if "/_ping" in self.path else self.reply(404, b'{"message": "not here"}')

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "/containers/create" in self.path:
                    engine.created.append(json.loads(body))
                self.reply(500, b'{"message": "fake engine: recorded"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return "tcp://%s:%d" % self.server.server_address[:2]

    def read(self, path: Path) -> dict[str, str]:
        """What `docker create --env-file PATH` would give the container."""
        before = len(self.created)
        proc = subprocess.run(["docker", "create", "--env-file", str(path), "example.invalid/image"],
                              env={"PATH": os.environ["PATH"], "DOCKER_HOST": self.host, "HOME": str(path.parent)},
                              capture_output=True, text=True, timeout=60)
        assert len(self.created) == before + 1, f"docker did not send the container: {proc.stderr}"
        return dict(item.split("=", 1) for item in self.created[-1]["Env"] or [])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def docker_cli() -> Iterator[FakeDockerEngine]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    engine = FakeDockerEngine()
    yield engine
    engine.close()


def subset(read: dict[str, str | None], keys: dict[str, str]) -> dict[str, str | None]:
    return {k: read.get(k) for k in keys}


# -- value strategies ---------------------------------------------------------------------

# The characters every consumer treats specially, and whole fragments that trip them up.
TRICKY = st.sampled_from(["'", '"', "\\", "$", "`", "${HOME}", "${", "}", "$HOME", "\n", "\r", "\t", " ",
                          "#", " #", "=", "!", "*", "~", ";", "&", "|", "\\n", "\\'", "'\\''", "\\\\",
                          "é", "日本", "\u2028", "\x0b", "\x0c", "\x1b", "export "])
PLAIN_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\0")
VALUES = st.lists(st.one_of(TRICKY, PLAIN_CHARS), max_size=12).map("".join)
# Names clear of the shell's own variables (PATH, PWD, ...): those have separate tests.
KEYS = st.from_regex(r"\AK_[A-Za-z0-9_]{0,8}\Z")
ENTRIES = st.dictionaries(KEYS, VALUES, min_size=1, max_size=6)

# The dotenv rule is the subtle one: it gets the most examples.
THOROUGH = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# The readers this file checks dotenv files with; the others are tests/test_envreaders.py's.
PYTHON_DOTENV_AND_BASH = ("python-dotenv", "bash")


def fresh(tmp_path: Path, name: str = ".env") -> Path:
    path = tmp_path / name
    if path.exists():
        path.unlink()
    return path


# -- the anchors' table, checked against the real consumers --------------------------------

@pytest.mark.parametrize(("line", "python_dotenv", "bash"), [
    ("K='a\\\\b'", "a\\b", "a\\\\b"),
    ('K="l1\\nl2"', "l1\nl2", "l1\\nl2"),
    ('K="p\\$ss"', "p\\$ss", "p$ss"),
    ('K="p$ss"', "p$ss", "p"),
    ("K='x${HOME}y'", "x/home/testy", "x${HOME}y"),
    ("K='I'\\''m'", None, "I'm"),
    ("K='l1\nl2'", "l1\nl2", "l1\nl2"),
    ('K="l1\nl2"', "l1\nl2", "l1\nl2"),
])
def test_python_dotenv_and_bash_read_these_lines_as_the_anchors_table_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, python_dotenv: str | None, bash: str) -> None:
    monkeypatch.setenv("HOME", "/home/test")
    path = tmp_path / ".env"
    path.write_text(line + "\n")
    assert read_with_python_dotenv(path).get("K") == python_dotenv
    assert read_with_shell(path)["K"] == bash


def test_single_quotes_suit_both_consumers_unless_the_value_has_a_quote_backslash_or_dollar_brace() -> None:
    fmt = env_format("dotenv", PYTHON_DOTENV_AND_BASH)
    assert fmt.render({"K": "p$ss w*rd \"x\" `y`"}) == "K='p$ss w*rd \"x\" `y`'\n"
    assert fmt.render({"K": "it's a \\ \"q\""}) == 'K="it\'s a \\\\ \\"q\\""\n'


@pytest.mark.parametrize("after", [chr(i) for i in range(1, 128) if chr(i) != "\r"] + [""])
def test_a_dollar_goes_in_double_quotes_exactly_when_both_consumers_leave_it_alone(tmp_path: Path, after: str) -> None:
    value = "it's $" + after  # the quote rules single quotes out
    path = tmp_path / ".env"
    path.write_text('K="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"\n')
    try:
        same = read_with_python_dotenv(path).get("K") == value == read_with_shell(path).get("K")
    except subprocess.CalledProcessError:
        same = False  # bash stopped at a bad substitution
    try:
        env_format("dotenv", PYTHON_DOTENV_AND_BASH).render({"K": value})
        written = True
    except StepFailed:
        written = False
    assert written == same


# -- dotenv: identical for python-dotenv and bash, or refused --------------------------------

@THOROUGH
@given(entries=ENTRIES)
def test_dotenv_values_read_back_identically_with_python_dotenv_and_bash(tmp_path: Path, entries: dict[str, str]) -> None:
    path = fresh(tmp_path)
    writable = {}
    for key, value in entries.items():
        try:
            env_format("dotenv", PYTHON_DOTENV_AND_BASH).check_value(key, value)
            env_format("dotenv", PYTHON_DOTENV_AND_BASH).encode(key, value)
        except StepFailed:
            continue
        writable[key] = value
    if not writable:
        return
    write_env_file(path, writable, readers=PYTHON_DOTENV_AND_BASH)
    assert subset(read_with_python_dotenv(path), writable) == writable
    assert subset(read_with_shell(path), writable) == writable
    assert read_env_file(path) == writable


@THOROUGH
@given(value=VALUES)
def test_a_refused_dotenv_value_reads_back_differently_in_one_consumer_whichever_quotes(
        tmp_path: Path, value: str) -> None:
    """The refusal is not over-eager: written in single quotes or in escaped double quotes,
    followed by another line, the value or that line comes back changed from python-dotenv
    or from bash."""
    try:
        env_format("dotenv", PYTHON_DOTENV_AND_BASH).render({"K": value})
        return
    except StepFailed as error:
        assert str(error).startswith("K: ") and "format: shell or format: json" in str(error)
    if "\0" in value:
        return  # no environment variable can hold NUL at all
    # Refused on purpose though this bash reads it back: whether `$é` starts a name depends
    # on the reader's locale (bash's isalpha).
    assume(not re.search(r"\$[^\x00-\x7f]", value))
    double = value.replace("\\", "\\\\").replace('"', '\\"')
    expected = {"K": value, "NEXT": "next"}
    for text in (f"K='{value}'\nNEXT='next'\n", f'K="{double}"\nNEXT=\'next\'\n'):
        path = fresh(tmp_path)
        path.write_bytes(text.encode())
        try:
            bash_values = subset(read_with_shell(path), expected)
        except subprocess.CalledProcessError:
            bash_values = None  # bash could not even read it
        assert (subset(read_with_python_dotenv(path), expected), bash_values) != (expected, expected)


def test_a_dotenv_value_with_a_quote_and_a_dollar_is_refused_naming_the_key_not_the_value(tmp_path: Path) -> None:
    with pytest.raises(StepFailed) as caught:
        write_env_file(tmp_path / ".env", {"DB_PASSWORD": "it's-$ecret-v4lue"})
    message = str(caught.value)
    assert "DB_PASSWORD" in message and "it's-$ecret-v4lue" not in message and "$ecret" not in message
    assert "format: shell" in message and "format: json" in message
    assert not (tmp_path / ".env").exists()


@pytest.mark.parametrize("value", ["x${HOME}", "a\rb", "nul\0byte"])
def test_dotenv_refuses_dollar_brace_carriage_return_and_nul(tmp_path: Path, value: str) -> None:
    with pytest.raises(StepFailed, match=r"^TOKEN: "):
        write_env_file(tmp_path / ".env", {"TOKEN": value})


# -- shell, json, docker ------------------------------------------------------------------

@FAST
@given(entries=ENTRIES)
def test_shell_values_read_back_identically_with_bash_and_dash(tmp_path: Path, entries: dict[str, str]) -> None:
    path = fresh(tmp_path)
    write_env_file(path, entries, fmt="shell")
    assert subset(read_with_shell(path, "bash"), entries) == entries
    assert subset(read_with_shell(path, "sh"), entries) == entries
    assert read_env_file(path, "shell") == entries


def test_shell_lines_are_exported_single_quoted_assignments() -> None:
    assert env_format("shell").render({"K": "it's $x"}) == "export K='it'\\''s $x'\n"


@FAST
@given(entries=st.dictionaries(KEYS, st.text(), min_size=1, max_size=6).filter(
    lambda d: all("\ud800" > c or c > "\udfff" for v in d.values() for c in v)))
def test_json_values_read_back_identically_with_a_json_parser(tmp_path: Path, entries: dict[str, str]) -> None:
    path = fresh(tmp_path, "env.json")
    write_env_file(path, entries, fmt="json")
    assert read_with_json(path) == entries


@FAST
@given(entries=st.dictionaries(KEYS, VALUES.filter(lambda v: "\n" not in v and "\r" not in v), min_size=1, max_size=6))
def test_docker_values_read_back_identically_under_dockers_env_file_rules(tmp_path: Path, entries: dict[str, str]) -> None:
    path = fresh(tmp_path, "docker.env")
    write_env_file(path, entries, fmt="docker")
    assert read_with_docker_rules(path) == entries
    assert read_env_file(path, "docker") == entries


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.dictionaries(KEYS, VALUES.filter(lambda v: "\n" not in v and "\r" not in v), min_size=1, max_size=6))
def test_docker_values_read_back_identically_with_the_docker_cli(
        tmp_path: Path, docker_cli: FakeDockerEngine, entries: dict[str, str]) -> None:
    path = fresh(tmp_path, "docker.env")
    write_env_file(path, entries, fmt="docker")
    assert docker_cli.read(path) == entries


def test_the_docker_cli_reads_quotes_as_part_of_the_value(tmp_path: Path, docker_cli: FakeDockerEngine) -> None:
    path = tmp_path / "docker.env"
    path.write_text("A='x'\nB=\"y\"\n  # comment\nC=a # not a comment\n")
    assert docker_cli.read(path) == {"A": "'x'", "B": '"y"', "C": "a # not a comment"}


def test_the_docker_cli_rejects_an_export_prefix(tmp_path: Path, docker_cli: FakeDockerEngine) -> None:
    path = tmp_path / "docker.env"
    path.write_text("export A=1\n")
    proc = subprocess.run(["docker", "create", "--env-file", str(path), "example.invalid/image"],
                          env={"PATH": os.environ["PATH"], "DOCKER_HOST": docker_cli.host, "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "whitespace" in proc.stderr


def test_docker_lines_are_unquoted() -> None:
    assert env_format("docker").render({"K": "'quoted' \"too\" $x"}) == "K='quoted' \"too\" $x\n"


@pytest.mark.parametrize("value", ["line1\nline2", "trailing\r"])
def test_docker_refuses_a_value_with_a_line_break_naming_the_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(StepFailed, match=r"^CERT: .*line break") as caught:
        write_env_file(tmp_path / "docker.env", {"CERT": value}, fmt="docker")
    assert "line1" not in str(caught.value)


def test_docker_refuses_a_line_longer_than_docker_reads(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match=r"^BIG: .*64 KiB"):
        write_env_file(tmp_path / "docker.env", {"BIG": "x" * 70000}, fmt="docker")


# -- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["1ABC", "DB-PASSWORD", "A B", "", "ÄB", "KEY\n"])
def test_a_key_outside_the_portable_pattern_is_refused_naming_it(tmp_path: Path, fmt: str, key: str) -> None:
    with pytest.raises(StepFailed, match="invalid variable name") as caught:
        write_env_file(tmp_path / "out", {"GOOD": "value", key: "secret-value"}, fmt=fmt)
    assert repr(key) in str(caught.value) and "secret-value" not in str(caught.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["dotenv", "shell"])
@pytest.mark.parametrize("key", sorted(BASH_SPECIAL_NAMES))
def test_names_bash_will_not_set_as_written_are_refused_for_files_bash_reads(tmp_path: Path, fmt: str, key: str) -> None:
    with pytest.raises(StepFailed, match=f"invalid variable name '{key}'"):
        write_env_file(tmp_path / "out", {key: "value"}, fmt=fmt)


@pytest.mark.parametrize("key", ["UID", "RANDOM", "SECONDS", "_"])
def test_bash_really_does_not_give_those_names_back(tmp_path: Path, key: str) -> None:
    path = tmp_path / ".env"
    path.write_text(f"{key}='value'\n")
    try:
        assert read_with_shell(path).get(key) != "value"
    except subprocess.CalledProcessError:
        pass  # bash refused the assignment outright (a read-only name)


# -- replace, merge, all-or-nothing, permissions --------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_replace_leaves_exactly_this_steps_keys(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "out"
    write_env_file(path, {"OLD": "1", "KEEP": "2"}, fmt=fmt)
    write_env_file(path, {"NEW": "3"}, fmt=fmt)
    assert read_env_file(path, fmt) == {"NEW": "3"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_merge_updates_these_keys_and_keeps_the_others(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "out"
    write_env_file(path, {"A": "1", "B": "2", "C": "3"}, fmt=fmt)
    write_env_file(path, {"B": "two", "D": "4"}, fmt=fmt, mode="merge")
    values = read_env_file(path, fmt)
    assert values == {"A": "1", "B": "two", "C": "3", "D": "4"}
    assert list(values) == ["A", "B", "C", "D"]


def test_merge_keeps_comments_and_hand_written_lines_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# my settings\nexport EDITOR=vim   # inline\n\nAPI_KEY=\"old\"\nURL=http://x/#frag\n")
    write_env_file(path, {"API_KEY": "new"}, mode="merge", readers=PYTHON_DOTENV_AND_BASH)  # node-dotenv cuts URL at #
    assert path.read_text() == "# my settings\nexport EDITOR=vim   # inline\n\nAPI_KEY='new'\nURL=http://x/#frag\n"
    assert read_with_python_dotenv(path) == {"EDITOR": "vim", "API_KEY": "new", "URL": "http://x/#frag"}


def test_json_merge_keeps_the_other_members_whatever_their_type(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text('{"PORT": 5432, "TAGS": ["a"], "TOKEN": "old"}')
    write_env_file(path, {"TOKEN": "new"}, fmt="json", mode="merge")
    assert read_with_json(path) == {"PORT": 5432, "TAGS": ["a"], "TOKEN": "new"}


def test_merge_replaces_a_duplicated_key_once_where_it_first_was(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("K='a'\nOTHER='o'\nK='b'\n")
    write_env_file(path, {"K": "new"}, mode="merge")
    assert path.read_text() == "K='new'\nOTHER='o'\n"


@pytest.mark.parametrize(("fmt", "last_line", "readers"), [
    ("dotenv", "OTHER='x'", (read_with_python_dotenv, read_with_shell)),
    ("dotenv", "OTHER=x  # a comment", (read_with_python_dotenv, read_with_shell)),
    ("shell", "export OTHER='x'", (read_with_shell,)),
    ("docker", "OTHER=x", (read_with_docker_rules,)),
])
def test_merge_into_a_file_without_a_final_newline_keeps_its_last_line_apart(
        tmp_path: Path, fmt: str, last_line: str, readers: tuple) -> None:
    # An editor may save the last line without a newline; an appended key must not join it.
    path = tmp_path / "out"
    path.write_text(last_line)
    write_env_file(path, {"NEW": "v"}, fmt=fmt, mode="merge")
    for read in readers:
        assert subset(read(path), {"OTHER": "x", "NEW": "v"}) == {"OTHER": "x", "NEW": "v"}, read.__name__


@FAST
@given(old=ENTRIES, new=ENTRIES, fmt=st.sampled_from(["dotenv", "shell"]))
def test_merge_reads_back_as_the_old_keys_updated_by_the_new_in_bash_and_python_dotenv(
        tmp_path: Path, old: dict[str, str], new: dict[str, str], fmt: str) -> None:
    def writable(entries: dict[str, str]) -> dict[str, str]:
        out = {}
        for key, value in entries.items():
            try:
                env_format(fmt).render({key: value})
            except StepFailed:
                continue
            out[key] = value
        return out

    old, new = writable(old), writable(new)
    path = fresh(tmp_path)
    write_env_file(path, old, fmt=fmt)
    write_env_file(path, new, fmt=fmt, mode="merge")
    expected = {**old, **new}
    assert subset(read_with_shell(path), expected) == expected
    if fmt == "dotenv":
        assert read_with_python_dotenv(path) == expected


@pytest.mark.parametrize(("fmt", "text", "line"), [
    ("dotenv", "A='ok'\nB='unterminated\n", 2),
    ("dotenv", "A='ok'\n\nB='x'trailing\n", 3),
    ("shell", "export A='ok'\nexport B=$(whoami)\n", 2),
    ("shell", "export A='ok'\necho hi\n", 2),
    ("json", "[1, 2]", None),
    ("json", "{\"A\": ", 1),
    ("docker", "A=1\nB C=2\n", 2),
])
def test_merge_into_a_file_it_cannot_read_fails_naming_the_line_and_leaves_it(
        tmp_path: Path, fmt: str, text: str, line: int | None) -> None:
    path = tmp_path / "out"
    path.write_text(text)
    with pytest.raises(StepFailed, match="cannot merge into") as caught:
        write_env_file(path, {"NEW": "v"}, fmt=fmt, mode="merge")
    if line is not None:
        assert f"line {line}" in str(caught.value)
    assert "use mode: replace" in str(caught.value)
    assert path.read_text() == text


def test_a_refused_value_leaves_the_previous_file_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    write_env_file(path, {"A": "old"})
    before = path.read_bytes()
    with pytest.raises(StepFailed, match="^B: "):
        write_env_file(path, {"A": "new", "B": "'${x}"})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".automations-tmp-")] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_file_is_private_even_when_the_old_one_was_not(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "out"
    path.write_text("")
    path.chmod(0o644)
    write_env_file(path, {"A": "1"}, fmt=fmt)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_directory_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / ".env"
    write_env_file(path, {"A": "1"})
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_unchanged_file_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    writer = EnvFileWriter(path)
    assert writer.write({"A": "1"}) is True
    inode = path.stat().st_ino
    assert writer.write({"A": "1"}) is False
    assert path.stat().st_ino == inode


@pytest.mark.parametrize("fmt", FORMATS)
def test_writing_the_same_values_again_makes_a_world_readable_file_private(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "out"
    write_env_file(path, {"A": "1"}, fmt=fmt)
    path.chmod(0o644)  # loosened by hand, or by a tool that rewrote it
    write_env_file(path, {"A": "1"}, fmt=fmt)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_env_file(path, fmt) == {"A": "1"}


def test_a_symlinked_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / ".env").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StepFailed, match="symbolic link"):
        write_env_file(tmp_path / ".env", {"A": "1"})
    assert (tmp_path / "elsewhere").read_text() == ""


@pytest.mark.parametrize(("fmt", "mode"), [("yaml", "replace"), ("dotenv", "append")])
def test_an_unknown_format_or_mode_is_refused(tmp_path: Path, fmt: str, mode: str) -> None:
    with pytest.raises(StepFailed, match="unknown env file"):
        write_env_file(tmp_path / ".env", {"A": "1"}, fmt=fmt, mode=mode)


# -- docker's and JSON's reading of an existing file, line by line ----------------------------------

def docker_entries(text: str) -> list[tuple[str | None, str | None]]:
    return [(entry.key, entry.value) for entry in env_format("docker").parse(text)]


def test_docker_lines_end_at_a_newline_with_a_carriage_return_dropped():
    assert docker_entries("A=1\r\nB=x\ry\r\nC=3") == [("A", "1"), ("B", "x\ry"), ("C", "3")]


def test_docker_drops_a_byte_order_mark_on_the_first_line_only():
    assert docker_entries("\ufeffA=1\n\ufeffB=2\n") == [("A", "1"), ("\ufeffB", "2")]


def test_docker_trims_the_left_of_a_line_as_go_does_not_as_python_does():
    # Go's unicode.IsSpace: no \x1c-\x1f, which Python's str.isspace counts as space.
    assert docker_entries(" \t\u3000A=1\n\x1fB=2\n") == [("A", "1"), ("\x1fB", "2")]


def test_docker_comments_and_blank_lines_are_kept_as_they_are():
    text = "# a comment\n\n   \nA=1\n#B=2\n"
    entries = env_format("docker").parse(text)
    assert [(e.key, e.value) for e in entries] == [(None, None), (None, None), (None, None), ("A", "1"), (None, None)]
    assert "".join(e.raw for e in entries) == text


def test_docker_a_name_alone_takes_its_value_from_dockers_environment():
    assert docker_entries("A\nB=\n") == [("A", None), ("B", "")]


def test_docker_names_are_taken_as_written():
    assert docker_entries("XA=1\n\tXB=2\n") == [("XA", "1"), ("XB", "2")]


@pytest.mark.parametrize("line", ["=1", "A B=1", "A\tB=1", "A =1", "A\t=1"])
def test_docker_refuses_a_line_without_a_name_or_with_a_space_or_tab_in_it(line):
    from automations.files.envfile import EnvFileSyntaxError

    with pytest.raises(EnvFileSyntaxError, match=r"^line 2: no variable name, or one with a space or tab$"):
        env_format("docker").parse(f"OK=1\n{line}\n")


def test_a_refused_value_names_the_format_and_what_to_use_instead():
    with pytest.raises(StepFailed) as refused:
        env_format("docker").check({"KEY": "two\nlines"})
    assert str(refused.value) == ("KEY: the value holds a line break, which docker's env-file format cannot hold; "
                                  "docker cannot write it (use format: dotenv, shell or json for it)")


def test_a_json_env_file_is_written_indented_keeping_non_ascii_as_it_is():
    assert env_format("json").render({"B": "é", "A": "1"}, '{"Z": "old"}') == \
        '{\n  "Z": "old",\n  "B": "é",\n  "A": "1"\n}\n'


def test_a_json_env_files_other_values_are_read_as_their_json():
    entries = env_format("json").parse('{"A": "x", "N": 1, "O": {"k": true}, "L": null}')
    assert [(e.key, e.value, e.raw) for e in entries] == [
        ("A", "x", ""), ("N", "1", ""), ("O", '{"k": true}', ""), ("L", "null", "")]


def test_a_json_env_file_that_is_not_an_object_is_refused_naming_what_it_holds():
    from automations.files.envfile import EnvFileSyntaxError

    with pytest.raises(EnvFileSyntaxError, match=r"^it holds a JSON list, not an object$"):
        env_format("json").parse("[1, 2]")


def test_a_readers_option_defaults_to_every_reader_and_refuses_none():
    from automations.engine.options import Options, convert, fields_of
    from automations.files.envfile import DEFAULT_READERS, readers_option

    class Local(Options):
        readers: list[str] = readers_option("who reads the file")

    value, problems = convert(Local, {}, load_time=False)
    assert problems == [] and value.readers == list(DEFAULT_READERS)
    assert value.readers is not convert(Local, {}, load_time=False)[0].readers  # a fresh list each time
    _, problems = convert(Local, {"readers": []}, load_time=False)
    assert [p.message for p in problems] == ["name at least one reader"]
    assert [f.help for f in fields_of(Local)] == ["who reads the file"]


def test_a_hand_written_line_a_reader_misreads_is_named_by_its_line(tmp_path):
    path = tmp_path / ".env"
    path.write_text('\n# hand-written\nA=1\nB="ends in backslash\\\\"\nC="c"\n')
    with pytest.raises(StepFailed, match=r"line 4: node-dotenv would read B differently"):
        write_env_file(path, {"TOKEN": "new"}, mode="merge")


# -- what a user meets at the edges: hand-written lines, messages, limits (issue 17) ---------

@pytest.mark.parametrize(("line", "value"), [
    ("A=\n", ""),                       # an empty value, not a missing one
    ("A= x\n", "x"),                    # space after `=` is not part of the value
    ("A=#x\n", "#x"),                   # `#` right after `=` is the value
    ("A= # a comment\n", ""),           # `#` after space is a comment
    ("A=x  \n", "x"),                   # trailing space dropped
    ("A=x # note\n", "x"),
    ("A='it\\'s'\n", "it's"),           # an escaped quote inside single quotes
    ("A='a\\\\b'\n", "a\\b"),
])
def test_hand_written_dotenv_lines_are_read_as_python_dotenv_reads_them(tmp_path: Path, line: str, value: str) -> None:
    path = tmp_path / ".env"
    path.write_text(line + "B=2\n")
    assert read_with_python_dotenv(path)["A"] == value
    assert read_env_file(path) == {"A": value, "B": "2"}
    # A merge checks its reading against python-dotenv's: it keeps the line, and the value.
    write_env_file(path, {"B": "3"}, mode="merge", readers=["python-dotenv"])
    assert read_with_python_dotenv(path) == {"A": value, "B": "3"}
    assert path.read_text().startswith(line)


@pytest.mark.parametrize(("fmt", "text"), [("dotenv", "A\nB=1\n"), ("docker", "A\nB=1\n")])
def test_a_name_without_a_value_is_not_a_value_of_the_file(tmp_path: Path, fmt: str, text: str) -> None:
    path = tmp_path / "env"
    path.write_text(text)
    assert read_env_file(path, fmt) == {"B": "1"}


@pytest.mark.parametrize(("fmt", "text", "line"), [
    ("dotenv", "A=1\n\n'unterminated\n", 3),
    ("shell", "\nexport A=1\nexport B=$HOME\n", 3),   # a leading blank line counts
    ("shell", "\n\nexport B=$HOME\n", 3),
])
def test_merge_into_a_line_the_format_cannot_read_names_the_line_and_the_format(
        tmp_path: Path, fmt: str, text: str, line: int) -> None:
    path = tmp_path / "env"
    path.write_text(text)
    with pytest.raises(StepFailed, match=rf": line {line}: cannot be read as {fmt} \(fix the file or use mode: replace\)$"):
        write_env_file(path, {"C": "1"}, fmt=fmt, mode="merge")
    assert path.read_text() == text


def test_a_shell_merge_keeps_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "env.sh"
    path.write_text("# set by hand\n\nexport A='1'  # note\n")
    write_env_file(path, {"B": "2"}, fmt="shell", mode="merge")
    assert path.read_text() == "# set by hand\n\nexport A='1'  # note\nexport B='2'\n"
    assert subset(read_with_shell(path), {"A": "1", "B": "2"}) == {"A": "1", "B": "2"}


def test_a_merge_names_the_line_of_the_users_file_not_of_the_merged_text(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    # A's second binding goes in the merge, so B moves up a line in the merged text.
    path.write_text('A=1\nA=2\nB="ends in backslash\\\\"\nC=' + "x" * 60 + "\n")
    with pytest.raises(StepFailed, match=r"line 3: node-dotenv would read B differently"):
        write_env_file(path, {"A": "x"}, mode="merge")


def test_an_unreadable_existing_file_is_named_without_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=\xff\n")
    with pytest.raises(StepFailed) as refused:
        write_env_file(path, {"B": "1"}, mode="merge")
    assert str(refused.value) == f"cannot merge into {path}: it is not UTF-8 text"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_value_that_is_not_text_is_refused_naming_the_key_and_the_type(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(StepFailed) as refused:
        write_env_file(tmp_path / "env", {"PORT": 8080}, fmt=fmt)  # type: ignore[dict-item]
    assert str(refused.value) == "PORT: the value is a int, not a string"
    with pytest.raises(StepFailed) as refused:
        write_env_file(tmp_path / "env", {"TEXT": "a\ud800b"}, fmt=fmt)
    assert str(refused.value) == "TEXT: the value is not valid Unicode text (it holds a lone surrogate)"
    assert not (tmp_path / "env").exists()


@pytest.mark.parametrize(("fmt", "instead"), [("dotenv", None), ("shell", "use format: json for it"),
                                             ("docker", "use format: dotenv, shell or json for it")])
def test_a_nul_is_refused_naming_the_key_the_format_and_what_to_use_instead(
        tmp_path: Path, fmt: str, instead: str | None) -> None:
    with pytest.raises(StepFailed) as refused:
        write_env_file(tmp_path / "env", {"KEY": "a\0b"}, fmt=fmt)
    if instead is not None:
        assert str(refused.value) == (f"KEY: the value holds a NUL character, which no environment variable can; "
                                      f"{fmt} cannot write it ({instead})")
    else:
        assert str(refused.value).startswith("KEY: ") and "a\0b" not in str(refused.value)


def test_docker_takes_a_line_of_64_kib_less_one_byte_and_no_more(tmp_path: Path) -> None:
    path = tmp_path / "docker.env"
    longest = "é" * ((65535 - len("KEY=")) // 2) + "x"  # counted in bytes, not characters
    assert len(f"KEY={longest}".encode()) == 65535
    write_env_file(path, {"KEY": longest}, fmt="docker")
    assert read_with_docker_rules(path) == {"KEY": longest}
    with pytest.raises(StepFailed) as refused:
        write_env_file(path, {"KEY": longest + "x"}, fmt="docker")
    assert str(refused.value) == ("KEY: the line would be longer than the 64 KiB docker reads; docker cannot write it "
                                  "(use format: dotenv, shell or json for it)")


def test_an_unknown_format_mode_or_reader_is_named_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(StepFailed) as refused:
        write_env_file(tmp_path / "env", {"A": "1"}, fmt="yaml")
    assert str(refused.value) == "unknown env file format 'yaml' (known: dotenv, shell, json, docker)"
    with pytest.raises(StepFailed) as refused:
        write_env_file(tmp_path / "env", {"A": "1"}, mode="append")
    assert str(refused.value) == "unknown env file mode 'append' (known: replace, merge)"
    with pytest.raises(StepFailed) as refused:
        write_env_file(tmp_path / "env", {"A": "1"}, readers=["bash", "zsh"])
    assert str(refused.value) == ("unknown dotenv reader 'zsh' (known: python-dotenv, node-dotenv, bash, godotenv, "
                                  "ruby-dotenv, direnv)")


def test_an_env_file_as_a_steps_variable_file(tmp_path: Path) -> None:
    from automations.files.envfile import EnvFile

    path = tmp_path / "out" / ".env"
    plain = EnvFile(path)  # dotenv, replace, the default readers
    assert (plain.kind, plain.name) == ("env-file", str(path))
    plain.check()
    assert plain.write({"A": "1", "B": "x y"}) is True
    assert read_with_python_dotenv(path) == {"A": "1", "B": "x y"}
    assert plain.write({"A": "1", "B": "x y"}) is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert plain.write({"A": "2"}) is True and read_with_python_dotenv(path) == {"A": "2"}

    shell = EnvFile(tmp_path / "env.sh", name="env.sh", fmt="shell", mode="merge")
    (tmp_path / "env.sh").write_text("export KEEP='k'\n")
    assert shell.name == "env.sh"
    assert shell.write({"A": "1"}) is True
    assert subset(read_with_shell(tmp_path / "env.sh"), {"KEEP": "k", "A": "1"}) == {"KEEP": "k", "A": "1"}

    picky = EnvFile(tmp_path / "p.env", readers=["python-dotenv"])
    picky.write({"A": "x\ry"})  # bash, a default reader, would not read a carriage return back
    assert read_with_python_dotenv(tmp_path / "p.env") == {"A": "x\ry"}
    with pytest.raises(StepFailed, match="drop bash from readers"):
        EnvFile(tmp_path / "d.env").write({"A": "x\ry"})

    (tmp_path / "file").write_text("")
    with pytest.raises(StepFailed, match="not a directory"):
        EnvFile(tmp_path / "file" / ".env").check()


def test_the_lazy_patterns_behave_as_the_compiled_ones() -> None:
    from automations.files.envfile import _LazyRegex

    lazy = _LazyRegex(r"b+", re.IGNORECASE)
    assert lazy.compiled is None  # nothing compiled before the first use
    assert lazy.match("Bba").group() == "Bb"
    assert lazy.match("aBb", 1).group() == "Bb" and lazy.match("aBb") is None
    assert lazy.fullmatch("aBB", 1) is not None and lazy.fullmatch("aBB") is None
    assert lazy.search("bxB", 1).start() == 2
    assert lazy.sub(lambda m: "-", "abBa") == "a-a"
    assert lazy.compiled is re.compile(r"b+", re.IGNORECASE)
    assert _LazyRegex("x").match("X") is None
    assert _LazyRegex("x+").match("xx").group() == "xx"  # no flags unless given


@pytest.mark.parametrize("fmt", ["dotenv", "shell", "docker"])
def test_a_binding_is_the_same_line_ending_in_a_newline_on_every_encoding(fmt: str) -> None:
    line_format = env_format(fmt)
    first = line_format.encode("A", "1")  # type: ignore[attr-defined]
    assert first.endswith("1'\n" if fmt != "docker" else "=1\n") and first.count("\n") == 1
    assert line_format.encode("A", "1") == first  # type: ignore[attr-defined]
