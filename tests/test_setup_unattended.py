"""`onboard setup` run unattended, end to end: flags and a team file in, ~/.aws files and an ARN out."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_moto import (  # noqa: F401
    access_key_csv,
    authenticated_user,
    aws_files,
    moto_server,
    read_profile,
    setup_args,
)

from helpers import run_onboard
from onboard.errors import ExitCode


def everything_printed(ran) -> str:
    return ran.stdout + ran.stderr


def test_an_unattended_run_writes_both_files_and_shows_the_arn(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "--yes")
    )
    assert ran.exit_code == 0, ran.output
    assert authenticated_user.arn in ran.stdout
    assert "Done: profile ssm is set up and works." in ran.stdout
    profile = read_profile("ssm")
    assert profile["region"] == "eu-west-1"
    assert profile["output"] == "json"
    assert profile["endpoint_url"] == moto_server.url
    assert profile["aws_access_key_id"] == authenticated_user.access_key_id
    assert profile["aws_secret_access_key"] == authenticated_user.secret_access_key
    assert (isolated_home / ".aws" / "credentials").stat().st_mode & 0o777 == 0o600
    assert authenticated_user.secret_access_key not in everything_printed(ran)
    # The real AWS CLI uses the new profile as it is.
    aws = Path(sys.executable).parent / "aws"
    done = subprocess.run(
        [str(aws), "sts", "get-caller-identity", "--profile", "ssm", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Arn"] == authenticated_user.arn


def test_a_second_run_with_the_same_answers_changes_nothing(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    csv = access_key_csv(tmp_path, authenticated_user)
    args = setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "--yes")
    assert run_onboard(*args).exit_code == 0
    before = aws_files(isolated_home)
    listing = sorted(os.listdir(isolated_home / ".aws"))
    again = run_onboard(*args)
    assert again.exit_code == 0, again.output
    assert "Nothing to change" in again.stdout
    assert "Nothing changed: profile ssm was already set up, and works." in again.stdout
    assert authenticated_user.arn in again.stdout
    assert aws_files(isolated_home) == before
    assert sorted(os.listdir(isolated_home / ".aws")) == listing  # no new backup either


def test_a_rerun_without_keys_keeps_the_profiles_keys(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    csv = access_key_csv(tmp_path, authenticated_user)
    assert (
        run_onboard(
            *setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "-y")
        ).exit_code
        == 0
    )
    before = aws_files(isolated_home)
    ran = run_onboard(*setup_args(moto_server.url, "--yes", "--json"))
    assert ran.exit_code == 0, ran.output
    body = ran.json()
    assert body["data"]["keys"] == {"action": "kept"}
    assert body["data"]["region"] == "eu-west-1"  # taken from the profile, as no flag or team said otherwise
    assert body["data"]["identity"]["arn"] == authenticated_user.arn
    assert aws_files(isolated_home) == before


def test_the_secret_from_standard_input(isolated_home, moto_server, authenticated_user):
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "ap-northeast-1", "--profile", "team-ssm"),
        "--access-key-id",
        authenticated_user.access_key_id,
        "--secret-access-key-stdin",
        "--json",
        input=authenticated_user.secret_access_key + "\n",
    )
    assert ran.exit_code == 0, ran.output
    body = ran.json()
    assert body["command"] == "setup"
    assert body["data"]["identity"] == {
        "ok": True,
        "arn": authenticated_user.arn,
        "account": "123456789012",
        "user_name": "alice",
    }
    assert body["data"]["changed"] is True
    assert read_profile("team-ssm")["aws_secret_access_key"] == authenticated_user.secret_access_key
    assert authenticated_user.secret_access_key not in everything_printed(ran)


def test_a_region_in_the_environment_that_overrides_the_profile_is_pointed_out(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "--json"),
        env={"AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert ran.exit_code == 0, ran.output
    assert any("AWS_DEFAULT_REGION=us-east-1" in warning for warning in ran.json()["warnings"])


def test_the_secret_from_the_environment_with_stray_spaces(isolated_home, moto_server, authenticated_user):
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-1", "--yes"),
        "--access-key-id",
        f" {authenticated_user.access_key_id} ",
        env={"ONBOARD_SECRET_ACCESS_KEY": authenticated_user.secret_access_key + " \t"},
    )
    assert ran.exit_code == 0, ran.output
    assert "whitespace" in ran.output
    assert read_profile("ssm")["aws_access_key_id"] == authenticated_user.access_key_id
    assert authenticated_user.secret_access_key not in everything_printed(ran)


def test_an_unreachable_endpoint_does_not_blame_the_keys(isolated_home, tmp_path, authenticated_user):
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(*setup_args(endpoint, "--region", "eu-west-1", "--credentials-csv", str(csv), "--yes"))
    assert ran.exit_code == ExitCode.ENVIRONMENT
    assert f"could not connect to {endpoint}" in ran.stdout
    assert "run setup again once AWS can be reached" in ran.stdout
    assert "right keys" not in ran.stdout


def test_a_wrong_secret_is_explained_the_files_kept_and_the_exit_non_zero(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    wrong = authenticated_user.secret_access_key[::-1]
    csv = access_key_csv(tmp_path, authenticated_user, secret=wrong)
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "--yes")
    )
    assert ran.exit_code == ExitCode.FAILURE
    assert "does not match its access key id (SignatureDoesNotMatch)" in ran.stdout
    assert "run setup again with the right keys" in ran.stdout
    assert "Setup is not finished" in ran.stdout
    # Decision (documented in onboard.setup.wizard): the files stay written, so the fix is one re-run.
    assert read_profile("ssm")["aws_access_key_id"] == authenticated_user.access_key_id
    printed = everything_printed(ran)
    assert wrong not in printed and authenticated_user.secret_access_key not in printed

    fixed = access_key_csv(tmp_path, authenticated_user)
    rerun = run_onboard(*setup_args(moto_server.url, "--credentials-csv", str(fixed), "--yes", "--json"))
    assert rerun.exit_code == 0, rerun.output
    assert rerun.json()["data"]["identity"]["arn"] == authenticated_user.arn


def test_an_unknown_key_id_is_explained_in_json(isolated_home, moto_server, authenticated_user):
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-1", "--json"),
        "--access-key-id",
        "AKIAZZZZZZZZZZZZZZZZ",
        env={"ONBOARD_SECRET_ACCESS_KEY": authenticated_user.secret_access_key},
    )
    assert ran.exit_code == ExitCode.FAILURE
    body = ran.json()
    assert body["ok"] is False
    assert body["data"]["identity"]["ok"] is False
    assert "InvalidClientTokenId" in body["data"]["identity"]["error"]["message"]
    assert authenticated_user.secret_access_key not in everything_printed(ran)


@pytest.mark.parametrize(
    ("args", "missing_flag"),
    [
        (["--credentials-csv", "{csv}"], "--region"),
        (["--region", "eu-west-1"], "--credentials-csv"),
    ],
)
def test_a_missing_answer_with_yes_names_the_flag(
    isolated_home, tmp_path, moto_server, authenticated_user, args, missing_flag
):
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(*setup_args(moto_server.url, *[a.format(csv=csv) for a in args], "--yes"))
    assert ran.exit_code == ExitCode.USAGE
    assert missing_flag in ran.stderr
    assert aws_files(isolated_home) == {"config": None, "credentials": None}


def test_a_secret_is_never_a_command_line_value(isolated_home, moto_server):
    ran = run_onboard(*setup_args(moto_server.url, "--secret-access-key", "x" * 40, "--yes"))
    assert ran.exit_code == ExitCode.USAGE
    assert "No such option" in ran.stderr
    assert "x" * 40 not in ran.output


def test_a_bad_region_suggests_the_right_one(isolated_home, tmp_path, moto_server, authenticated_user):
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-l", "--credentials-csv", str(csv), "-y")
    )
    assert ran.exit_code == ExitCode.USAGE
    assert "'eu-west-l' is not an AWS region" in ran.stderr
    assert "eu-west-1" in ran.stderr


def test_a_dry_run_shows_the_diff_with_the_secret_masked_and_writes_nothing(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        *setup_args(
            moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "--dry-run", "-y"
        )
    )
    assert ran.exit_code == 0, ran.output
    assert "+[profile ssm]" in ran.stdout
    assert f"+aws_access_key_id = {authenticated_user.access_key_id}" in ran.stdout
    assert "Dry run: nothing was written." in ran.stdout
    assert authenticated_user.secret_access_key not in everything_printed(ran)
    assert aws_files(isolated_home) == {"config": None, "credentials": None}


def test_the_team_file_fills_in_profile_region_and_endpoint(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    team = tmp_path / "team.toml"
    team.write_text(
        f'version = 1\nteam = "data-team"\nregion = "ap-northeast-1"\nprofile = "data-ssm"\n\n'
        f'[endpoint]\nurl = "{moto_server.url}"\n\n'
        '[lessons]\nselect = ["connect"]\n\n'
        '[[instances]]\nalias = "jupyter"\nid = "i-0123456789abcdef0"\n',
        encoding="utf-8",
    )
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        "setup",
        "--no-plugin",
        "--no-aws-cli",
        "--credentials-csv",
        str(csv),
        "--yes",
        env={"ONBOARD_TEAM": str(team)},
    )
    assert ran.exit_code == 0, ran.output
    profile = read_profile("data-ssm")
    assert (profile["region"], profile["endpoint_url"]) == ("ap-northeast-1", moto_server.url)
    assert "onboard lesson start connect --profile data-ssm" in ran.stdout
    assert "onboard doctor --profile data-ssm" in ran.stdout
    assert "aws ssm start-session --target i-0123456789abcdef0 --profile data-ssm" in ran.stdout


def test_a_broken_team_file_stops_before_anything_is_written(isolated_home, tmp_path, moto_server):
    team = tmp_path / "team.toml"
    team.write_text('version = 1\nteam = "t"\nregoin = "eu-west-1"\n', encoding="utf-8")
    ran = run_onboard(*setup_args(moto_server.url, "--team", str(team), "--yes"))
    assert ran.exit_code == ExitCode.USAGE
    assert "Did you mean 'region'?" in ran.stderr
    assert aws_files(isolated_home) == {"config": None, "credentials": None}


def test_an_sso_profile_is_replaced_only_when_confirmed(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    aws = isolated_home / ".aws"
    aws.mkdir()
    sso = "[profile ssm]\nsso_start_url = https://example.awsapps.com/start\nregion = eu-west-1\n"
    (aws / "config").write_text(sso, encoding="utf-8")
    csv = access_key_csv(tmp_path, authenticated_user)
    args = setup_args(moto_server.url, "--credentials-csv", str(csv))

    refused = run_onboard(*args, "--json")
    assert refused.exit_code == ExitCode.USAGE
    assert "--yes" in refused.json()["error"]["hint"]
    assert (aws / "config").read_text(encoding="utf-8") == sso

    replaced = run_onboard(*args, "--yes")
    assert replaced.exit_code == 0, replaced.output
    assert "sso_start_url" in replaced.stdout  # said what changed
    backups = [p for p in aws.iterdir() if p.name.startswith("config") and p.name != "config"]
    assert any(p.read_text(encoding="utf-8") == sso for p in backups if p.is_file())


def test_an_ambiguous_config_file_is_named_and_left_alone(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    aws = isolated_home / ".aws"
    aws.mkdir()
    # botocore would silently use the second section: the writer refuses to guess.
    broken = b"[profile ssm]\nregion = eu-west-1\n\n[profile  ssm]\noutput = text\n"
    (aws / "config").write_bytes(broken)
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "--yes")
    )
    assert ran.exit_code == ExitCode.FAILURE
    assert str(aws / "config") in ran.stderr
    assert "line 4" in ran.stderr
    assert (aws / "config").read_bytes() == broken
    assert not (aws / "credentials").exists()


def test_a_byte_order_mark_is_removed_only_with_consent(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    aws = isolated_home / ".aws"
    aws.mkdir()
    # Every aws command fails on a BOM (ConfigParseError); a Windows editor adds one silently.
    with_bom = b"\xef\xbb\xbf[default]\nregion = us-east-1\n"
    (aws / "config").write_bytes(with_bom)
    csv = access_key_csv(tmp_path, authenticated_user)
    args = setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv))

    refused = run_onboard(*args, "--json")
    assert refused.exit_code == ExitCode.USAGE
    error = refused.json()["error"]
    assert f"{aws / 'config'}, line 1" in error["message"]
    assert "byte-order mark" in error["message"]
    assert "--yes" in error["hint"]
    assert (aws / "config").read_bytes() == with_bom

    agreed = run_onboard(*args, "--yes")
    assert agreed.exit_code == 0, agreed.output
    assert (aws / "config").read_bytes().startswith(b"[default]\nregion = us-east-1\n")
    assert read_profile("ssm")["region"] == "eu-west-1"


def test_debug_tracebacks_do_not_show_the_secret(isolated_home, moto_server, authenticated_user):
    almost = authenticated_user.secret_access_key[:-1]  # 39 characters: refused before anything is written
    ran = run_onboard(
        "--debug",
        *setup_args(moto_server.url, "--region", "eu-west-1", "--yes"),
        "--access-key-id",
        authenticated_user.access_key_id,
        env={"ONBOARD_SECRET_ACCESS_KEY": almost},
    )
    assert ran.exit_code == ExitCode.USAGE
    assert "Traceback" in ran.stderr
    assert "39 characters" in ran.stderr
    assert almost not in ran.output
    assert aws_files(isolated_home) == {"config": None, "credentials": None}


def test_a_readable_credentials_file_and_an_open_aws_folder_are_tightened_and_said(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    aws = isolated_home / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[dev]\naws_access_key_id = AKIAOTHEROTHEROTHER1\n", encoding="utf-8")
    os.chmod(aws / "credentials", 0o644)
    os.chmod(aws, 0o777)  # noqa: S103 - the mistake under test
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "--yes")
    )
    assert ran.exit_code == 0, ran.output
    assert (aws / "credentials").stat().st_mode & 0o777 == 0o600
    assert aws.stat().st_mode & 0o777 == 0o700
    flat = " ".join(ran.stdout.split())
    assert f"{aws / 'credentials'} was readable by other users" in flat and "now 0600" in flat
    assert f"{aws} could be changed by other users" in flat and "now 0700" in flat
