"""The team file: loading, validation errors a trainer can act on, and writing it back."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboard.errors import ExitCode, UsageError
from onboard.team import (
    Instance,
    LessonSettings,
    Location,
    PluginSource,
    TeamFile,
    TeamFileError,
    dump_team,
    find_team,
    load_team,
)

FULL = """\
version = 1
team = "data-team"
region = "ap-northeast-1"
profile = "ssm"                                 # optional, default "ssm"

[plugin]
download_url = "http://127.0.0.1:4566/_onboard/downloads/plugin/"
signing_key = "lab-signing-key.asc"
signing_key_fingerprint = "7959 6371 24CE 093A D501 D47A 2C4D 4AFF 6F67 57EE"

[endpoint]
url = "http://127.0.0.1:4566"

[transfer]
bucket = "data-team-transfer"
prefix = "users/"

[session_logs]
bucket = "data-team-session-logs"
prefix = "sessions"

[lessons]
dir = "lessons"
select = ["ready", "connect", "sudo", "transfer"]
target_user = "analyst"
publish = false

[[instances]]
alias = "jupyter"
id = "i-0123456789abcdef0"
name = "jupyter"
users = ["analyst"]

[[instances]]
alias = "db"
id = "i-01234567"
"""

MINIMAL = 'version = 1\nteam = "t"\nregion = "eu-west-1"\n'


def write(tmp_path: Path, text: str, name: str = "team.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (tmp_path / "lab-signing-key.asc").write_text("key", encoding="utf-8")
    return path


def test_the_documented_example_loads_with_every_setting(tmp_path):
    team = load_team(write(tmp_path, FULL))
    assert team.team == "data-team"
    assert team.region == "ap-northeast-1"
    assert team.profile == "ssm"
    assert team.plugin == PluginSource(
        download_url="http://127.0.0.1:4566/_onboard/downloads/plugin/",
        signing_key=(tmp_path / "lab-signing-key.asc").resolve(),
        signing_key_fingerprint="7959637124CE093AD501D47A2C4D4AFF6F6757EE",
    )
    assert team.endpoint_url == "http://127.0.0.1:4566"
    assert team.transfer == Location("data-team-transfer", "users/")
    assert team.transfer.user_prefix("alice") == "users/alice/"
    # A prefix without its final slash would glue the user name onto it: onboard adds the slash.
    assert team.session_logs == Location("data-team-session-logs", "sessions/")
    assert team.lessons == LessonSettings(
        dir=(tmp_path / "lessons").resolve(),
        select=("ready", "connect", "sudo", "transfer"),
        target_user="analyst",
        publish=False,
    )
    assert team.instance("jupyter") == Instance("jupyter", "i-0123456789abcdef0", "jupyter", ("analyst",))
    assert team.instance("i-01234567").alias == "db"


def test_a_minimal_team_file_takes_the_defaults(tmp_path):
    team = load_team(write(tmp_path, MINIMAL))
    assert team.profile == "ssm"
    assert team.plugin is None and team.endpoint_url is None and team.transfer is None
    assert team.lessons == LessonSettings()
    assert team.instances == ()


def test_an_unknown_instance_names_the_known_ones(tmp_path):
    team = load_team(write(tmp_path, FULL))
    with pytest.raises(UsageError) as raised:
        team.instance("jupiter")
    assert "Did you mean 'jupyter'?" in raised.value.message
    assert "jupyter (i-0123456789abcdef0)" in raised.value.hint


@pytest.mark.parametrize(
    ("edit", "where", "problem"),
    [
        (
            ('region = "ap-northeast-1"', 'region = "ap-northeast-l"'),
            "region",
            "Did you mean ap-northeast-1, ap-northeast-2, ap-northeast-3?",
        ),
        (('region = "ap-northeast-1"', 'region = "mars-1"'), "region", "is not an AWS region"),
        (('profile = "ssm"', 'profile = "my profile"'), "profile", "is not valid"),
        (('team = "data-team"', "team = 3"), "team", "expected a string"),
        (("version = 1", "version = 2"), "version", "format version 2 is not supported"),
        (('id = "i-0123456789abcdef0"', 'id = "i-0123"'), "id", "is not valid"),
        (('id = "i-01234567"', 'id = "i-0123456789abcdef0"'), "id", "listed twice"),
        (('alias = "db"', 'alias = "jupyter"'), "alias", "used twice"),
        (('bucket = "data-team-transfer"', 'bucket = "Data_Team"'), "[transfer] bucket", "not a valid S3"),
        (('bucket = "data-team-transfer"', 'bucket = "192.168.1.1"'), "[transfer] bucket", "not a valid S3"),
        (('bucket = "data-team-transfer"', 'bucket = "a..b"'), "[transfer] bucket", "not a valid S3"),
        (('prefix = "users/"', 'prefix = "/users/"'), "[transfer] prefix", "not a key prefix"),
        (('url = "http://127.0.0.1:4566"', 'url = "127.0.0.1:4566"'), "[endpoint] url", "not an http(s) URL"),
        (('users = ["analyst"]', 'users = ["Analyst!"]'), "users", "not a list of OS user names"),
        (("publish = false", 'publish = "no"'), "[lessons] publish", "expected true or false"),
        (('select = ["ready",', 'select = ["ready", "ready",'), "[lessons] select", "listed twice"),
        (
            ('signing_key_fingerprint = "7959', 'signing_key_fingerprint = "XX59'),
            "fingerprint",
            "40 hexadecimal",
        ),
        (
            ('signing_key = "lab-signing-key.asc"', 'signing_key = "gone.asc"'),
            "signing_key",
            "does not exist",
        ),
        (('signing_key = "lab-signing-key.asc"\n', ""), "[plugin]", "go together"),
    ],
)
def test_each_bad_value_is_named_with_its_key_and_a_fix(tmp_path, edit, where, problem):
    old, new = edit
    assert old in FULL
    path = write(tmp_path, FULL.replace(old, new, 1))
    with pytest.raises(TeamFileError) as raised:
        load_team(path)
    error = raised.value
    assert str(path) in error.message
    assert where in error.message
    assert problem in error.message + (error.hint or "")
    assert error.hint
    assert error.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ('regoin = "eu-west-1"\n', "'region'"),
        ('[transfer]\nbucket = "b-1"\nprefx = "u/"\n', "'prefix'"),
        ('[[instances]]\nalias = "a"\nid = "i-01234567"\nuser = ["x"]\n', "'users'"),
    ],
)
def test_unknown_keys_are_refused_with_a_did_you_mean(tmp_path, typo, suggestion):
    path = write(tmp_path, MINIMAL + typo)
    with pytest.raises(TeamFileError) as raised:
        load_team(path)
    assert "unknown key" in raised.value.message
    assert f"Did you mean {suggestion}?" in raised.value.hint


def test_a_missing_required_key_is_named(tmp_path):
    with pytest.raises(TeamFileError) as raised:
        load_team(write(tmp_path, 'version = 1\nteam = "t"\n'))
    assert "'region' is missing" in raised.value.message


def test_broken_toml_names_the_line(tmp_path):
    with pytest.raises(TeamFileError) as raised:
        load_team(write(tmp_path, MINIMAL + "profile = ssm\n"))
    assert "not valid TOML" in raised.value.message
    assert "line 4" in raised.value.message


def test_a_missing_file_says_who_named_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ONBOARD_TEAM", str(tmp_path / "nope.toml"))
    with pytest.raises(TeamFileError) as raised:
        find_team()
    assert "nope.toml (named by $ONBOARD_TEAM) does not exist" in raised.value.message


def test_find_team_prefers_the_explicit_path_then_the_environment(tmp_path, monkeypatch):
    assert find_team() is None
    env_file = write(tmp_path, MINIMAL.replace('"t"', '"from-env"'), "env.toml")
    explicit = write(tmp_path, MINIMAL.replace('"t"', '"explicit"'), "explicit.toml")
    monkeypatch.setenv("ONBOARD_TEAM", str(env_file))
    assert find_team().team == "from-env"
    assert find_team(explicit).team == "explicit"


def test_a_byte_order_mark_from_a_windows_editor_is_accepted(tmp_path):
    path = tmp_path / "team.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_team(path).region == "eu-west-1"


def test_dump_writes_back_what_load_reads(tmp_path):
    team = load_team(write(tmp_path, FULL))
    again = tmp_path / "again.toml"
    again.write_text(dump_team(team), encoding="utf-8")
    assert load_team(again) == TeamFile(**{**team.__dict__, "path": again})
    # Paths inside the team file's folder stay relative, so the folder can be handed out as a whole.
    assert 'signing_key = "lab-signing-key.asc"' in dump_team(team)


_names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@st.composite
def teams(draw, folder: Path) -> TeamFile:
    instances = draw(
        st.lists(
            st.builds(
                Instance,
                alias=_names,
                id=st.from_regex(r"i-[0-9a-f]{17}", fullmatch=True),
                name=st.none()
                | st.text(min_size=1, max_size=20).filter(
                    lambda s: s.strip() and "\n" not in s and "\r" not in s
                ),
                users=st.lists(st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True), max_size=3).map(
                    tuple
                ),
            ),
            max_size=3,
            unique_by=(lambda i: i.alias, lambda i: i.id),
        )
    )
    return TeamFile(
        path=folder / "team.toml",
        version=1,
        team=draw(_names),
        region=draw(st.sampled_from(["eu-west-1", "ap-northeast-1", "us-gov-west-1"])),
        profile=draw(st.sampled_from(["ssm", "lab.ssm", "team_ssm"])),
        endpoint_url=draw(st.none() | st.just("http://127.0.0.1:4566")),
        transfer=draw(
            st.none()
            | st.builds(
                Location,
                bucket=_names.map(lambda n: n + "-bkt"),
                prefix=st.sampled_from(["", "users/", "a/b/"]),
            )
        ),
        lessons=draw(
            st.builds(
                LessonSettings,
                select=st.lists(_names, unique=True, max_size=3).map(tuple),
                target_user=st.none() | st.just("analyst"),
                publish=st.booleans(),
            )
        ),
        instances=tuple(instances),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_valid_team_round_trips_through_dump_and_load(tmp_path, data):
    team = data.draw(teams(tmp_path))
    team.path.write_text(dump_team(team), encoding="utf-8")
    assert load_team(team.path) == team


def test_the_trusted_signing_key_must_have_the_pinned_fingerprint(tmp_path):
    from onboard.lab.signing import SigningKey

    key = SigningKey.generate("lab <lab@example.invalid>")
    (tmp_path / "lab-signing-key.asc").write_bytes(key.public_key_armored())
    text = FULL.split("\n[endpoint]")[0].replace(
        "7959 6371 24CE 093A D501 D47A 2C4D 4AFF 6F67 57EE", key.fingerprint
    )
    path = tmp_path / "team.toml"
    path.write_text(text, encoding="utf-8")
    assert {k.primary_fingerprint for k in load_team(path).plugin.trusted_keys()} == {key.fingerprint}

    other = SigningKey.generate("someone else <x@example.invalid>")
    (tmp_path / "lab-signing-key.asc").write_bytes(other.public_key_armored())
    with pytest.raises(TeamFileError) as raised:
        load_team(path).plugin.trusted_keys()
    assert "does not have the pinned fingerprint" in raised.value.message


# --- hostile team files -------------------------------------------------------------------------------

MINIMAL = 'version = 1\nteam = "t"\nregion = "eu-west-1"\n'


def test_deep_nesting_is_a_clear_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "team.toml"
    path.write_text(MINIMAL + "x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(TeamFileError, match="nested too deeply") as raised:
        load_team(path)
    assert str(path) in raised.value.message


def test_a_fifo_as_the_team_file_is_refused_at_once(tmp_path):
    import os
    import time

    path = tmp_path / "team.toml"
    os.mkfifo(path)
    started = time.monotonic()
    with pytest.raises(TeamFileError, match="not a regular file"):
        load_team(path)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ('profile = ".."', "profile"),
        ('profile = "."', "profile"),
        ('profile = "' + "p" * 300 + '"', "profile"),
        ('team = "' + "t" * 5000 + '"', "team"),
    ],
)
def test_names_that_would_be_paths_or_too_long_are_refused(tmp_path, line, where):
    key = line.split(" ", 1)[0]
    text = "\n".join(part for part in MINIMAL.splitlines() if not part.startswith(key)) + "\n" + line + "\n"
    path = tmp_path / "team.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TeamFileError) as raised:
        load_team(path)
    assert where in raised.value.message and len(raised.value.message) < 400


@pytest.mark.parametrize("prefix", ["../", "users/../others/", "./", "a\\\\b/", "users//x/"])
def test_a_transfer_prefix_that_climbs_or_is_odd_is_refused(tmp_path, prefix):
    path = tmp_path / "team.toml"
    path.write_text(
        MINIMAL + f'\n[transfer]\nbucket = "team-transfer"\nprefix = "{prefix}"\n', encoding="utf-8"
    )
    with pytest.raises(TeamFileError, match=r"\[transfer\] prefix"):
        load_team(path)


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("http://127.0.0.1:4566", True),
        ("http://localhost:4566", True),
        ("http://[::1]:4566", True),
        ("https://ssm.eu-west-1.amazonaws.com", True),
        ("https://s3.cn-north-1.amazonaws.com.cn", True),
        ("https://sts.eu-west-1.api.aws", True),
        ("https://aws.example.com", False),
        ("https://amazonaws.com.evil.example", False),
        ("http://ssm.eu-west-1.amazonaws.com", False),  # not https: anyone on the path can answer
        ("http://10.0.0.5:4566", False),
    ],
)
def test_which_endpoints_need_the_users_confirmation(url, trusted):
    from onboard.team import endpoint_is_trusted

    assert endpoint_is_trusted(url) is trusted


@pytest.mark.parametrize("command", [("lesson", "list"), ("lesson", "reset", "ready")])
def test_lesson_commands_validate_the_team_file_as_every_command_does(tmp_path, command):
    from helpers import run_onboard

    path = tmp_path / "team.toml"
    path.write_text('version = 1\nteam = "' + "t" * 5000 + '"\nregion = "eu-west-1"\n', encoding="utf-8")
    ran = run_onboard(*command, "--team", str(path))
    assert ran.exit_code == ExitCode.USAGE, ran.output
    assert f"{path}: team:" in ran.stderr and "Traceback" not in ran.output
