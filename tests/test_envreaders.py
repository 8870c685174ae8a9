"""`format: dotenv` with `readers:`: every value written is read back identically by each
named reader, the real program (tests/support/dotenv_readers.py), and a value is refused only when
no way of writing it reads back the same with every one of them.

"No way of writing it" is argued without our reader models: the test tries every quoting
with every subset of backslash escapes of the characters in the value, each in a file of its
own where comments ending in each quote char and a binding follow it, and asks the real
readers."""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.cli import run_cli
from support.dotenv_readers import Readers

from automations.errors import StepFailed
from automations.files import envreaders
from automations.files.envfile import DEFAULT_READERS, READERS, EnvFileWriter, env_format, write_env_file

# Values built from the characters the readers treat specially, spaces, line breaks,
# non-ASCII text and backslash pairs.
FRAGMENTS = st.sampled_from(["'", '"', "\\", "$", "`", "{", "}", "#", "=", " ", "\t", "\n", "\r", "é", "日本", "\u2028",
                             "\xa0", "\\\\", "\\n", "\\'", '\\"', "\\$", "a", "Z9", "HOME", "${HOME}", "$HOME", " #"])
VALUES = st.lists(FRAGMENTS, max_size=8).map("".join)
VALUE_LISTS = st.lists(VALUES, min_size=1, max_size=16)

# AUTOMATIONS_READER_EXAMPLES=10 searches ten times longer (the suite runs the default).
SCALE = int(os.environ.get("AUTOMATIONS_READER_EXAMPLES", "1"))
PER_READER = settings(max_examples=25 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CROSS_FILE = settings(max_examples=20 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# What follows a value in the files of the "no form works" proof: a comment ending in each
# quote char (where a quote left open would close) and a binding.
TAIL = "#'\n#\"\n#`\nNEXT='next'\n"


@pytest.fixture(scope="session")
def readers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readers]:
    all_readers = Readers(tmp_path_factory.mktemp("reader-home"))
    yield all_readers
    all_readers.close()


def write(path: Path, values: list[str], reader_set: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """Write the values the writer accepts (keys K_0, K_1, ...); return them and the refused."""
    fmt = env_format("dotenv", reader_set)
    written, refused = {}, []
    for index, value in enumerate(values):
        try:
            fmt.check_value(f"K_{index}", value)
        except StepFailed as error:
            assert str(error).startswith(f"K_{index}: ") and "format: shell or format: json" in str(error)
            refused.append(value)
            continue
        written[f"K_{index}"] = value
    write_env_file(path, written, readers=reader_set)
    return written, refused


def read(readers: Readers, name: str, path: Path, keys: dict[str, str]) -> dict[str, str | None] | str:
    answer = readers.reader(name)(path)
    if "error" in answer:
        return f"{name} refused the file: {answer['error']}"
    return {key: answer["values"].get(key) for key in keys}


def candidate_forms(value: str) -> set[str]:
    """Every way to write `value`: bare, in single quotes (raw, or `'` and `\\` escaped), and
    in double quotes with each subset of backslash escapes of the characters it holds."""
    forms = {value, f"'{value}'", "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'", f'"{value}"'}
    escapable = [c for c in ("\\", '"', "$", "`", "\n", "\r", "'") if c in value]
    names = {"\n": "n", "\r": "r"}
    for size in range(len(escapable) + 1):
        for chosen in itertools.combinations(escapable, size):
            text = value
            for char in chosen:  # the backslash first (it is first in `escapable`)
                text = text.replace(char, "\\" + names.get(char, char))
            forms.add(f'"{text}"')
    return forms


def some_form_reads_back(readers: Readers, reader_set: tuple[str, ...], value: str, folder: Path) -> str | None:
    """A form of `value` every reader in `reader_set` reads back (with what follows it), or None."""
    expected = {"K": value, "NEXT": "next"}
    for number, form in enumerate(sorted(candidate_forms(value))):
        path = folder / f"form-{number}.env"
        path.write_bytes(f"K={form}\n{TAIL}".encode())
        if all(read(readers, name, path, expected) == expected for name in reader_set):
            return form
    return None


# -- per reader ---------------------------------------------------------------------------

@pytest.mark.parametrize("reader", READERS)
@PER_READER
@given(values=VALUE_LISTS)
def test_each_reader_reads_back_what_was_written_for_it_and_nothing_carries_what_was_refused(
        tmp_path: Path, readers: Readers, reader: str, values: list[str]) -> None:
    readers.require(reader)
    path = tmp_path / ".env"
    written, refused = write(path, values, (reader,))
    assert read(readers, reader, path, written) == written
    for value in refused:
        assert some_form_reads_back(readers, (reader,), value, tmp_path) is None


# -- the models the writer asks, against the real readers ------------------------------------

SHELL_OWN = {"PATH", "PWD", "OLDPWD", "SHLVL", "_"}  # what bash exports of its own
LINES = st.lists(st.tuples(st.sampled_from(["", "'", '"', "export ", "  "]), VALUES, st.sampled_from(["", "'", '"', " # c"])),
                 min_size=1, max_size=10)


@pytest.mark.parametrize("reader", READERS)
@PER_READER
@given(lines=LINES)
def test_what_a_model_says_a_reader_reads_the_reader_reads(
        tmp_path: Path, readers: Readers, reader: str, lines: list[tuple[str, str, str]]) -> None:
    """Hand-written lines too (a merge checks them with the models): wherever a model gives a
    value, the real reader reads that value, and it reads no variable the model does not."""
    readers.require(reader)
    text = "".join(f"{'export ' if before == 'export ' else ''}K_{i}={before.strip() if before != 'export ' else ''}"
                   f"{value}{after}\n" for i, (before, value, after) in enumerate(lines))
    path = tmp_path / ".env"
    path.write_bytes(text.encode())
    try:
        modelled = envreaders.model(reader).read(text)
    except envreaders.UnreadableFile:
        return  # the writer never writes, and a merge refuses, what a model cannot read
    answer = readers.reader(reader)(path)
    if "error" in answer:  # the reader refused the file: only where the model saw something run
        assert None in modelled.values(), answer
        return
    real = {k: v for k, v in answer["values"].items() if k not in SHELL_OWN}
    assert set(real) == set(modelled)
    assert {k: real[k] for k, v in modelled.items() if v is not None} == {k: v for k, v in modelled.items() if v is not None}


# -- many values in one file, every reader ------------------------------------------------

@pytest.mark.parametrize("reader_set", [DEFAULT_READERS, READERS], ids=["default-readers", "all-readers"])
@CROSS_FILE
@given(values=st.lists(VALUES, min_size=4, max_size=30))
@example(values=["'$é", "a", "b", "c"])  # once refused: `$é` was taken for a bash expansion
def test_a_file_of_many_values_reads_back_whole_with_every_named_reader(
        tmp_path: Path, readers: Readers, reader_set: tuple[str, ...], values: list[str]) -> None:
    for name in reader_set:
        readers.require(name)
    path = tmp_path / ".env"
    written, refused = write(path, values, reader_set)
    for name in reader_set:
        assert read(readers, name, path, written) == written, name
    for value in refused[:3]:
        assert some_form_reads_back(readers, reader_set, value, tmp_path) is None


# -- what the issue found, and the refusal message --------------------------------------------

@pytest.mark.parametrize("value", ["p4ss\\", "it's \"quoted\"", "-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n",
                                   "ab '\"\\$`#{} \n\té"])
def test_the_issues_values_are_read_back_by_every_named_reader_or_refused(
        tmp_path: Path, readers: Readers, value: str) -> None:
    for reader_set in (DEFAULT_READERS, ("python-dotenv", "bash"), ("node-dotenv", "godotenv"), READERS):
        for name in reader_set:
            readers.require(name)
        path = tmp_path / ".env"
        written, refused = write(path, [value, "after"], reader_set)
        assert "K_1" in written
        for name in reader_set:
            assert read(readers, name, path, written) == written, (reader_set, name)
        if refused:
            assert some_form_reads_back(readers, reader_set, value, tmp_path) is None


def test_a_refusal_names_the_key_and_the_reader_to_drop_never_the_value(tmp_path: Path) -> None:
    with pytest.raises(StepFailed) as caught:
        write_env_file(tmp_path / ".env", {"OK": "fine", "DB_PASS": "s3cr3t-ending-in\\"})
    message = str(caught.value)
    assert message.startswith("DB_PASS: ") and "s3cr3t" not in message
    assert "node-dotenv" in message and "drop" in message and "format: shell" in message
    assert not (tmp_path / ".env").exists()


def test_dropping_the_named_reader_lets_the_value_be_written(tmp_path: Path, readers: Readers) -> None:
    path = tmp_path / ".env"
    write_env_file(path, {"DB_PASS": "s3cr3t\\", "NEXT": "n"}, readers=["python-dotenv", "bash"])
    assert read(readers, "python-dotenv", path, {"DB_PASS": "", "NEXT": ""}) == {"DB_PASS": "s3cr3t\\", "NEXT": "n"}
    assert read(readers, "bash", path, {"DB_PASS": "", "NEXT": ""}) == {"DB_PASS": "s3cr3t\\", "NEXT": "n"}


def test_multi_line_values_go_in_escaped_double_quotes_for_ruby_and_direnv(tmp_path: Path, readers: Readers) -> None:
    pem = "-----BEGIN KEY-----\nMIIB\n-----END KEY-----"
    path = tmp_path / ".env"
    write_env_file(path, {"PEM": pem}, readers=["ruby-dotenv", "direnv", "godotenv", "node-dotenv", "python-dotenv"])
    assert path.read_text() == 'PEM="-----BEGIN KEY-----\\nMIIB\\n-----END KEY-----"\n'
    for name in ("ruby-dotenv", "direnv"):
        readers.require(name)
        assert read(readers, name, path, {"PEM": pem}) == {"PEM": pem}


def test_an_unknown_reader_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match="unknown dotenv reader 'dotenv-rs'"):
        write_env_file(tmp_path / ".env", {"A": "1"}, readers=["dotenv-rs"])


# -- the writer's models against themselves: the plain-value shortcut ------------------------

@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_the_single_quote_shortcut_takes_only_values_every_model_reads_back_so(value: str) -> None:
    if envreaders._PLAIN.fullmatch(value):
        for name in READERS:
            assert envreaders.reads_back(name, f"K='{value}'", "K", value), name


# -- merge ----------------------------------------------------------------------------------

def test_merge_reports_the_line_a_named_reader_would_read_differently(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    text = "# settings\nEDITOR=vim\nURL=http://x/#frag\n"
    path.write_text(text)
    with pytest.raises(StepFailed) as caught:
        write_env_file(path, {"TOKEN": "new"}, mode="merge")
    message = str(caught.value)
    assert "line 3" in message and "node-dotenv" in message and "URL" in message
    assert path.read_text() == text


def test_merge_accepts_the_same_line_when_no_named_reader_misreads_it(tmp_path: Path, readers: Readers) -> None:
    path = tmp_path / ".env"
    path.write_text("URL=http://x/#frag\n")
    write_env_file(path, {"TOKEN": "new"}, mode="merge", readers=["python-dotenv", "bash"])
    assert read(readers, "bash", path, {"URL": "", "TOKEN": ""}) == {"URL": "http://x/#frag", "TOKEN": "new"}


def test_merge_reports_a_hand_written_line_that_swallows_the_lines_after_it_for_one_reader(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nB=\"ends in backslash\\\\\"\nC=\"c\"\n")
    with pytest.raises(StepFailed, match=r"line 2: node-dotenv would read B differently"):
        write_env_file(path, {"TOKEN": "new"}, mode="merge")


@pytest.mark.parametrize("reader_set", [DEFAULT_READERS, READERS], ids=["default-readers", "all-readers"])
@CROSS_FILE
@given(old=st.lists(VALUES, min_size=1, max_size=8), new=st.lists(VALUES, min_size=1, max_size=8))
def test_merged_files_read_back_whole_with_every_named_reader(
        tmp_path: Path, readers: Readers, reader_set: tuple[str, ...], old: list[str], new: list[str]) -> None:
    for name in reader_set:
        readers.require(name)
    path = tmp_path / ".env"
    first, _ = write(path, old, reader_set)
    fmt = env_format("dotenv", reader_set)
    second = {}
    for index, value in enumerate(new):
        try:
            fmt.check_value(f"K_{index * 2}", value)
        except StepFailed:
            continue
        second[f"K_{index * 2}"] = value
    EnvFileWriter(path, "dotenv", "merge", reader_set).write(second)
    expected = {**first, **second}
    for name in reader_set:
        assert read(readers, name, path, expected) == expected, name


# -- the option -------------------------------------------------------------------------------

@pytest.mark.parametrize(("uses", "with_lines"), [
    ("secrets-manager", "file: .env\n                  secrets: [{id: x, env: X}]"),
    ("ssm-parameters", "file: .env\n                  names: [/x]"),
    ("aws-login", "roleArn: arn:aws:iam::123456789012:role/r\n                  envFile: .env"),
])
@pytest.mark.parametrize(("readers_line", "message"), [
    ("readers: [node-dotenv, dotenv-rs]", "dotenv-rs"),
    ("readers: []", "name at least one reader"),
])
def test_an_unknown_or_empty_readers_list_is_a_config_error_at_the_option(
        write_config, base_env, uses: str, with_lines: str, readers_line: str, message: str) -> None:
    config = write_config(f"""
        tasks:
          t:
            steps:
              - uses: {uses}
                with:
                  {with_lines}
                  {readers_line}
    """)
    result = run_cli("-c", str(config), "validate", cwd=config.parent, env=base_env)
    assert result.code == 2, result.output
    assert "automations.yaml:8:" in result.stderr and message in result.stderr and "Traceback" not in result.stderr


def test_every_reader_name_is_accepted_by_the_option(write_config, base_env) -> None:
    config = write_config(f"""
        tasks:
          t:
            steps:
              - uses: secrets-manager
                with:
                  file: .env
                  readers: [{", ".join(READERS)}]
                  secrets: [{{id: x, env: X}}]
    """)
    result = run_cli("-c", str(config), "validate", cwd=config.parent, env=base_env)
    assert result.code == 0, result.output
