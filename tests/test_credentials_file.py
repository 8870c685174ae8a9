"""Editing the AWS shared credentials and config files: only the target section's keys
change, every other byte stays; what we write, botocore reads."""
from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from pathlib import Path

import pytest

from automations.errors import StepFailed
from automations.files import credentials_file
from automations.files.credentials_file import (
    STATIC_KEYS,
    CredentialCache,
    SharedAwsFiles,
    config_section,
    read_section,
    update_section,
)

HAND_WRITTEN = """\
# my credentials, do not lose this comment
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = default-secret

; the profile aws-login owns
[dev]
aws_access_key_id = OLDKEY
note = keep me
s3 =
    max_concurrent_requests = 20
aws_secret_access_key=old-secret

[other]
aws_access_key_id = AKIAOTHER
"""


def test_replaces_the_keys_of_the_section_in_place():
    text = update_section(HAND_WRITTEN, "dev", {"aws_access_key_id": "NEW", "aws_secret_access_key": "new-secret"})

    assert text == HAND_WRITTEN.replace("aws_access_key_id = OLDKEY", "aws_access_key_id = NEW").replace(
        "aws_secret_access_key=old-secret", "aws_secret_access_key = new-secret")


def test_adds_missing_keys_after_the_sections_last_key_before_the_blank_line():
    text = update_section(HAND_WRITTEN, "dev", {"aws_session_token": "tok"})

    assert text == HAND_WRITTEN.replace("aws_secret_access_key=old-secret\n",
                                        "aws_secret_access_key=old-secret\naws_session_token = tok\n")


def test_removes_a_key_and_its_indented_continuation_lines():
    text = update_section(HAND_WRITTEN, "dev", {"s3": None})

    assert text == HAND_WRITTEN.replace("s3 =\n    max_concurrent_requests = 20\n", "")


def test_keys_match_case_insensitively_and_duplicates_collapse():
    text = update_section("[p]\nAWS_Access_Key_Id = A\naws_access_key_id = B\nx = 1\n", "p", {"aws_access_key_id": "C"})

    assert text == "[p]\naws_access_key_id = C\nx = 1\n"


def test_appends_a_missing_section_after_a_blank_line():
    text = update_section(HAND_WRITTEN, "new", {"aws_access_key_id": "K"})

    assert text == HAND_WRITTEN + "\n[new]\naws_access_key_id = K\n"


def test_a_file_without_a_final_newline_keeps_its_last_line():
    assert update_section("[a]\nx = 1", "a", {"y": "2"}) == "[a]\nx = 1\ny = 2\n"
    assert update_section("[a]\nx = 1", "b", {"y": "2"}) == "[a]\nx = 1\n\n[b]\ny = 2\n"
    assert update_section("[a]", "a", {"y": "2"}) == "[a]\ny = 2\n"


def test_an_empty_file_gets_just_the_section():
    assert update_section(None, "default", {"region": "eu-west-1"}) == "[default]\nregion = eu-west-1\n"


def test_removing_keys_of_a_missing_section_changes_nothing():
    assert update_section(HAND_WRITTEN, "absent", {"aws_access_key_id": None}) == HAND_WRITTEN


def test_section_headers_with_extra_spaces_still_match():
    text = update_section("[ profile   dev ]\nregion = a\n", "profile dev", {"region": "b"})

    assert text == "[ profile   dev ]\nregion = b\n"


def test_a_multi_line_value_is_refused():
    with pytest.raises(StepFailed, match="multi-line value for aws_session_token"):
        update_section("", "p", {"aws_session_token": "a\nb"})


def test_read_section_gives_lowercase_keys_and_stripped_values():
    assert read_section(HAND_WRITTEN, "dev") == {"aws_access_key_id": "OLDKEY", "note": "keep me", "s3": "",
                                                 "aws_secret_access_key": "old-secret"}
    assert read_section(HAND_WRITTEN, "absent") == {}


def test_config_sections_are_profile_prefixed_except_default():
    assert config_section("default") == "default"
    assert config_section("dev") == "profile dev"


# -- the two files on disk ---------------------------------------------------------------------

@pytest.fixture
def files_env(tmp_path: Path) -> dict[str, str]:
    return {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws" / "credentials"),
            "AWS_CONFIG_FILE": str(tmp_path / "aws" / "config"), "HOME": str(tmp_path)}


def test_update_creates_private_files_in_a_private_directory(files_env):
    SharedAwsFiles(files_env).update("dev", {"aws_access_key_id": "K"}, {"region": "eu-west-1"})

    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        assert stat.S_IMODE(os.stat(files_env[name]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(Path(files_env["AWS_CONFIG_FILE"]).parent).st_mode) == 0o700
    assert Path(files_env["AWS_CONFIG_FILE"]).read_text() == "[profile dev]\nregion = eu-west-1\n"


def test_botocore_reads_what_we_wrote(files_env, monkeypatch):
    import botocore.session

    path = Path(files_env["AWS_SHARED_CREDENTIALS_FILE"])
    path.parent.mkdir()
    path.write_text(HAND_WRITTEN)
    SharedAwsFiles(files_env).update("dev", {"aws_access_key_id": "ASIANEW", "aws_secret_access_key": "s+/=",
                                             "aws_session_token": "t+/="}, {"region": "eu-west-1"})
    for name, value in files_env.items():
        monkeypatch.setenv(name, value)

    session = botocore.session.Session(profile="dev")
    credentials = session.get_credentials()

    assert (credentials.access_key, credentials.secret_key, credentials.token) == ("ASIANEW", "s+/=", "t+/=")
    assert session.get_config_variable("region") == "eu-west-1"
    assert botocore.session.Session(profile="default").get_credentials().access_key == "AKIADEFAULT"


def test_an_unchanged_file_is_not_rewritten(files_env):
    files = SharedAwsFiles(files_env)
    files.update("dev", {"aws_access_key_id": "K"}, {})
    before = os.stat(files_env["AWS_SHARED_CREDENTIALS_FILE"]).st_ino

    files.update("dev", {"aws_access_key_id": "K"}, {})

    assert os.stat(files_env["AWS_SHARED_CREDENTIALS_FILE"]).st_ino == before


def test_a_symlinked_config_file_has_its_target_replaced_and_stays_a_link(files_env, tmp_path):
    target = tmp_path / "dotfiles" / "aws-config"
    target.parent.mkdir()
    target.write_text("[default]\nregion = us-east-1\n")
    target.chmod(0o644)
    link = Path(files_env["AWS_CONFIG_FILE"])
    link.parent.mkdir()
    link.symlink_to(target)

    SharedAwsFiles(files_env).update("dev", {"aws_access_key_id": "K"}, {"region": "eu-west-1"})

    assert link.is_symlink() and link.resolve() == target
    assert target.read_text() == "[default]\nregion = us-east-1\n\n[profile dev]\nregion = eu-west-1\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644  # it holds no secrets: its mode stays


def test_a_symlinked_credentials_file_others_can_read_is_refused_and_left_alone(files_env, tmp_path):
    target = tmp_path / "target"
    target.write_text("[default]\n")
    target.chmod(0o644)
    Path(files_env["AWS_SHARED_CREDENTIALS_FILE"]).parent.mkdir()
    Path(files_env["AWS_SHARED_CREDENTIALS_FILE"]).symlink_to(target)

    with pytest.raises(StepFailed, match="symbolic link"):
        SharedAwsFiles(files_env).update("dev", {"aws_access_key_id": "K"}, {"region": "eu-west-1"})

    assert target.read_text() == "[default]\n"


def test_a_symlinked_credentials_file_to_a_private_file_of_ours_is_written_through(files_env, tmp_path):
    target = tmp_path / "target"
    target.write_text("[default]\n")
    target.chmod(0o600)
    link = Path(files_env["AWS_SHARED_CREDENTIALS_FILE"])
    link.parent.mkdir()
    link.symlink_to(target)

    SharedAwsFiles(files_env).update("dev", {"aws_access_key_id": "K"}, {})

    assert link.is_symlink()
    assert target.read_text() == "[default]\n\n[dev]\naws_access_key_id = K\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_a_credentials_file_others_can_read_is_made_private_even_when_unchanged(files_env):
    files = SharedAwsFiles(files_env)
    files.update("dev", {"aws_access_key_id": "K"}, {})
    os.chmod(files_env["AWS_SHARED_CREDENTIALS_FILE"], 0o644)

    files.update("dev", {"aws_access_key_id": "K"}, {})

    assert stat.S_IMODE(os.stat(files_env["AWS_SHARED_CREDENTIALS_FILE"]).st_mode) == 0o600


def test_the_same_file_for_credentials_and_config_does_not_deadlock(tmp_path):
    both = str(tmp_path / "aws" / "both")
    files = SharedAwsFiles({"AWS_SHARED_CREDENTIALS_FILE": both, "AWS_CONFIG_FILE": both})

    files.update("dev", {"aws_access_key_id": "K"}, {"region": "r"})

    assert "aws_access_key_id = K" in Path(both).read_text()


def test_read_gives_both_files_sections(files_env):
    files = SharedAwsFiles(files_env)
    files.update("dev", {"aws_access_key_id": "K"}, {"region": "eu-west-1"})

    profile = files.read("dev")

    assert profile.credentials == {"aws_access_key_id": "K"}
    assert profile.config == {"region": "eu-west-1"}


# -- a crash between the two files ------------------------------------------------------------------

STATIC = {"aws_access_key_id": "AKIASTATIC", "aws_secret_access_key": "static-secret",
          "aws_session_token": "static-token"}
NO_STATIC: dict[str, str | None] = {key: None for key in STATIC_KEYS}
PROCESS = shlex.join([sys.executable, "-c", "print(%r)" % json.dumps(
    {"Version": 1, "AccessKeyId": "AKIAPROCESS", "SecretAccessKey": "process-secret",
     "SessionToken": "process-token", "Expiration": "2099-01-01T00:00:00Z"})])


class Crash(BaseException):
    """The process dies here (SIGKILL, power loss): nothing after runs."""


def botocore_access_key(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, profile: str) -> str | None:
    import botocore.session

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    found = botocore.session.Session(profile=profile).get_credentials()
    return found.access_key if found is not None else None


# aws-login's two switches: `credentials: process` after `file`, and back.
SWITCHES = {
    "to process": ((STATIC, {}), (NO_STATIC, {"credential_process": PROCESS}), "AKIAPROCESS"),
    "to static keys": (({}, {"credential_process": PROCESS}), (STATIC, {"credential_process": None}), "AKIASTATIC"),
}


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_crash_between_the_two_files_leaves_the_profile_with_credentials(files_env, monkeypatch, switch):
    # Static keys in the credentials file win over a credential_process in the config file,
    # so the file that gives the profile its new source must be replaced first; replacing
    # the other first, a crash in between would leave the profile with neither.
    (old_keys, old_config), (new_keys, new_config), _ = SWITCHES[switch]
    files = SharedAwsFiles(files_env)
    files.update("dev", old_keys, old_config)
    writes = 0
    real_write = credentials_file.write_atomic

    def crashing_after_the_first_file(path, data, **options):
        nonlocal writes
        writes += 1
        if writes == 2:
            raise Crash
        real_write(path, data, **options)

    monkeypatch.setattr(credentials_file, "write_atomic", crashing_after_the_first_file)
    with pytest.raises(Crash):
        files.update("dev", new_keys, new_config)

    assert botocore_access_key(files_env, monkeypatch, "dev") in ("AKIASTATIC", "AKIAPROCESS")


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_switch_of_credential_source_is_what_botocore_then_uses(files_env, monkeypatch, switch):
    (old_keys, old_config), (new_keys, new_config), expected = SWITCHES[switch]
    files = SharedAwsFiles(files_env)
    files.update("dev", old_keys, old_config)

    files.update("dev", new_keys, new_config)

    assert botocore_access_key(files_env, monkeypatch, "dev") == expected


# -- the credential-process cache ------------------------------------------------------------------

def test_the_cache_lives_under_xdg_cache_home_and_is_private(tmp_path):
    cache = CredentialCache.for_step({"XDG_CACHE_HOME": str(tmp_path)}, Path("/a/automations.yaml"), "login", "aws")
    entry = {"RoleArn": "arn:r", "AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T",
             "Expiration": "2030-01-01T00:00:00Z"}

    cache.write(entry)

    assert cache.path.parent == tmp_path / "automations"
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600
    assert cache.read("arn:r") == entry
    assert cache.read("arn:another-role") is None


def test_each_step_has_its_own_cache_entry(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    paths = {CredentialCache.for_step(env, Path(c), t, s).path
             for c, t, s in [("/a.yaml", "t", None), ("/a.yaml", "t", "x"), ("/a.yaml", "u", None), ("/b.yaml", "t", None)]}

    assert len(paths) == 4


def test_a_cache_file_others_can_read_is_not_believed(tmp_path):
    cache = CredentialCache.for_step({"XDG_CACHE_HOME": str(tmp_path)}, Path("/a/automations.yaml"), "login", "aws")
    cache.write({"RoleArn": "arn:r", "AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T",
                 "Expiration": "2030-01-01T00:00:00Z"})
    cache.path.chmod(0o640)

    assert cache.read("arn:r") is None


def test_a_cache_directory_others_can_write_is_refused(tmp_path):
    cache = CredentialCache.for_step({"XDG_CACHE_HOME": str(tmp_path)}, Path("/a/automations.yaml"), "login", "aws")
    cache.path.parent.mkdir()
    cache.path.parent.chmod(0o777)

    with pytest.raises(StepFailed, match="can be changed by other users"):
        cache.write({"RoleArn": "arn:r"})


# -- where the files are, and how sections are read -------------------------------------------

def test_without_aws_variables_the_files_are_in_the_home_aws_directory(monkeypatch, tmp_path):
    from automations.files.credentials_file import cache_dir, config_path, credentials_path

    monkeypatch.setenv("HOME", str(tmp_path))
    assert credentials_path({}) == tmp_path / ".aws" / "credentials"
    assert config_path({}) == tmp_path / ".aws" / "config"
    assert cache_dir({}) == tmp_path / ".cache" / "automations"
    assert cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/automations")


def test_an_indented_bracket_line_is_part_of_a_value_not_a_section():
    text = "[default]\nregion = eu-west-1\ns3 =\n [not a section]\nfoo = bar\n"
    assert read_section(text, "default") == {"region": "eu-west-1", "s3": "", "foo": "bar"}
    assert read_section(text, "not a section") == {}


def test_reading_a_section_takes_nothing_from_the_one_before():
    text = "[first]\nonly_here = 1\n[second]\nkey = 2\n"
    assert read_section(text, "second") == {"key": "2"}


def test_a_value_holding_equals_signs_and_colons_is_read_whole():
    text = "[p]\naws_secret_access_key = abc=def:ghi==\nurl: https://x:8080/a=b\n"
    assert read_section(text, "p") == {"aws_secret_access_key": "abc=def:ghi==", "url": "https://x:8080/a=b"}


def test_a_replaced_key_takes_its_continuation_lines_with_it_however_indented():
    text = "[p]\ns3 =\n addressing_style = path\n\tmax_concurrent_requests = 2\nregion = x\n"
    assert update_section(text, "p", {"s3": "gone"}) == "[p]\ns3 = gone\nregion = x\n"


def test_a_value_with_a_carriage_return_is_refused():
    with pytest.raises(StepFailed, match="refusing to write a multi-line value for aws_session_token"):
        update_section("", "default", {"aws_session_token": "abc\rdef"})


def test_a_profile_read_from_missing_files_is_named_and_empty(tmp_path):
    files = SharedAwsFiles({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "c"), "AWS_CONFIG_FILE": str(tmp_path / "k")})
    profile = files.read("dev")
    assert (profile.name, profile.credentials, profile.config) == ("dev", {}, {})


# -- modes -------------------------------------------------------------------------------------------

def shared_files(tmp_path: Path) -> SharedAwsFiles:
    return SharedAwsFiles({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
                           "AWS_CONFIG_FILE": str(tmp_path / "config")})


@pytest.mark.parametrize(("before", "after"), [(0o644, 0o600), (0o757, 0o700), (0o600, 0o600)])
def test_a_credentials_file_is_made_private_keeping_the_owners_bits(tmp_path, before, after):
    (tmp_path / "credentials").write_text("[default]\n")
    (tmp_path / "credentials").chmod(before)
    shared_files(tmp_path).make_credentials_private()
    assert stat.S_IMODE((tmp_path / "credentials").stat().st_mode) == after


def test_a_credentials_file_that_cannot_be_made_private_says_why(tmp_path):
    (tmp_path / "file").write_text("x")
    files = SharedAwsFiles({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "file" / "credentials")})
    with pytest.raises(StepFailed) as refused:
        files.make_credentials_private()
    assert str(refused.value) == f"cannot make {tmp_path / 'file' / 'credentials'} private: Not a directory"


@pytest.mark.parametrize(("before", "after"), [(0o666, 0o644), (0o777, 0o755), (0o640, 0o640)])
def test_the_config_file_keeps_its_mode_less_others_write_bits(tmp_path, before, after):
    (tmp_path / "config").write_text("[default]\nregion = x\n")
    (tmp_path / "config").chmod(before)
    shared_files(tmp_path).update("default", {}, {"region": "eu-west-1"})
    assert stat.S_IMODE((tmp_path / "config").stat().st_mode) == after


def test_a_credentials_link_to_a_file_others_can_read_is_refused_saying_why(tmp_path):
    target = tmp_path / "dotfiles-credentials"
    target.write_text("")
    target.chmod(0o644)
    (tmp_path / "credentials").symlink_to(target)
    with pytest.raises(StepFailed) as refused:
        shared_files(tmp_path).update("default", {"aws_access_key_id": "AKIA"}, {})
    assert str(refused.value) == (f"{tmp_path / 'credentials'} is a symbolic link to {target}, which is not a private "
                                  "file of yours (0600); refusing to write secrets through it")


# -- the credential-process cache ----------------------------------------------------------------------

def test_steps_with_other_ids_have_other_entries_and_no_id_is_the_empty_id(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    paths = {CredentialCache.for_step(env, tmp_path / "automations.yaml", "login", step).path
             for step in ("a", "b", None)}
    assert len(paths) == 3
    assert CredentialCache.for_step(env, tmp_path / "automations.yaml", "login", None).path == \
        CredentialCache.for_step(env, tmp_path / "automations.yaml", "login", "").path


def test_the_cache_can_be_locked_for_a_refresh(tmp_path):
    cache = CredentialCache(tmp_path / "cache" / "entry.json")
    with cache.locked():
        cache.write({"AccessKeyId": "A"})
    assert json.loads(cache.path.read_text()) == {"AccessKeyId": "A"}


def test_a_cache_in_a_directory_others_can_change_is_refused_naming_the_cache(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(StepFailed, match=f"^refusing to keep the credential-process cache in {shared}: "):
        CredentialCache(shared / "entry.json").write({"AccessKeyId": "A"})


def test_remaining_seconds_count_to_the_expiration():
    from datetime import datetime, timedelta, timezone

    from automations.files.credentials_file import remaining_seconds

    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert remaining_seconds(now + timedelta(seconds=90), now) == 90.0
    assert remaining_seconds(now - timedelta(seconds=5), now) == -5.0
    assert remaining_seconds(None, now) == 0.0
    assert 3500 < remaining_seconds(datetime.now(timezone.utc) + timedelta(hours=1)) <= 3600
