"""`onboard setup` on a real terminal: pexpect answers each questionary screen, as a person would."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import os
import sys

import pexpect
import pytest
from bundles import bundle_server, plugin_site, test_signing_key  # noqa: F401
from fixtures_moto import access_key_csv, authenticated_user, aws_files, moto_server, read_profile  # noqa: F401

from onboard.errors import ExitCode

DOWN = "\x1b[B"
#: PATH with the test environment's own `aws` (the awscli package: AWS CLI v1) first.
AWS_CLI_V1_PATH = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
ENTER = "\r"


def spawn_setup(
    *args: str, flags: tuple[str, ...] = ("--no-plugin", "--no-aws-cli"), **env: str
) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "onboard", "setup", *flags, *args],
        env=dict(os.environ, TERM="xterm-256color", **env),
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 160),
    )
    return child


def finish(child: pexpect.spawn) -> tuple[str, int]:
    child.expect(pexpect.EOF)
    child.close()
    return child.before, child.exitstatus


@pytest.fixture
def transcript():
    children: list[pexpect.spawn] = []
    yield children
    for child in children:  # a failed expect must not leave the wizard running
        if child.isalive():
            child.terminate(force=True)


def test_a_new_user_answers_every_screen(
    isolated_home, tmp_path, moto_server, authenticated_user, transcript
):
    csv = access_key_csv(tmp_path, authenticated_user)
    # With the AWS CLI v1 of the test environment on PATH: it prints json, text and table, never yaml.
    child = spawn_setup("--endpoint-url", moto_server.url, PATH=AWS_CLI_V1_PATH)
    transcript.append(child)
    child.expect("This computer")
    child.expect("Profile name")
    child.send(ENTER)  # the default: ssm
    child.expect("AWS region")
    child.send("eu-west-1" + ENTER)
    child.expect("Output format")
    child.expect("table")
    assert "text" in child.before and "yaml" not in child.before
    child.send(DOWN + ENTER)  # json -> text
    child.expect("Where are your access keys")
    child.send(ENTER)  # from the CSV
    child.expect("Path of the credentials CSV")
    child.send(str(csv))
    child.send(ENTER)
    child.expect(r"\+\[profile ssm\]")
    child.expect("Write these changes")
    child.send("y")
    child.expect("You are " + authenticated_user.arn)
    output, status = finish(child)
    assert status == 0, output
    assert "Done: profile ssm is set up and works." in output
    profile = read_profile("ssm")
    assert (profile["region"], profile["output"]) == ("eu-west-1", "text")
    assert profile["aws_secret_access_key"] == authenticated_user.secret_access_key


def test_the_plugin_and_aws_cli_screens_with_a_team_file(
    isolated_home, tmp_path, moto_server, authenticated_user, plugin_site, test_signing_key, transcript
):
    (tmp_path / "lab.asc").write_bytes(test_signing_key.public_key_armored())
    team = tmp_path / "team.toml"
    team.write_text(
        'version = 1\nteam = "t"\nregion = "ap-northeast-1"\nprofile = "team-ssm"\n\n'
        f'[plugin]\ndownload_url = "{plugin_site.base}"\nsigning_key = "lab.asc"\n'
        f'signing_key_fingerprint = "{test_signing_key.fingerprint}"\n\n'
        f'[endpoint]\nurl = "{moto_server.url}"\n',
        encoding="utf-8",
    )
    csv = access_key_csv(tmp_path, authenticated_user)
    # A PATH without any aws command, as on a fresh laptop.
    path = os.pathsep.join(
        folder
        for folder in os.environ["PATH"].split(os.pathsep)
        if not os.path.exists(os.path.join(folder, "aws"))
    )
    child = spawn_setup("--team", str(team), flags=(), PATH=path)
    transcript.append(child)
    child.expect("Install the Session Manager plugin now")
    child.send("y")
    child.expect("signature checked")
    child.expect("Install AWS CLI v2 for you")
    child.send("n")
    child.expect("Install AWS CLI v2 for Linux")  # the manual steps instead
    child.expect("Profile name")
    child.send(ENTER)  # the team's: team-ssm
    child.expect("AWS region")
    child.send(ENTER)  # the team's: ap-northeast-1
    child.expect("Output format")
    child.send(ENTER)
    child.expect("Where are your access keys")
    child.send(ENTER)
    child.expect("Path of the credentials CSV")
    child.send(str(csv) + ENTER)
    child.expect("Write these changes")
    child.send("y")
    child.expect("You are " + authenticated_user.arn)
    output, status = finish(child)
    assert status == 0, output
    assert read_profile("team-ssm")["region"] == "ap-northeast-1"
    assert (isolated_home / ".local" / "bin" / "session-manager-plugin").exists()


def test_typed_keys_are_checked_and_asked_again(isolated_home, moto_server, authenticated_user, transcript):
    child = spawn_setup("--endpoint-url", moto_server.url, "--region", "eu-west-1", "--output", "json")
    transcript.append(child)
    child.expect("Profile name")
    child.send(ENTER)
    child.expect("Where are your access keys")
    child.send(DOWN + ENTER)  # type them
    child.expect("Access key ID")
    child.send(authenticated_user.access_key_id + ENTER)
    child.expect("Secret access key")
    child.send("too-short" + ENTER)
    child.expect("9 characters long")  # said, and asked again
    child.expect("Access key ID")
    child.send(authenticated_user.access_key_id + ENTER)
    child.expect("Secret access key")
    child.send(authenticated_user.secret_access_key + ENTER)
    child.expect("Write these changes")
    child.send("y")
    child.expect("You are " + authenticated_user.arn)
    output, status = finish(child)
    assert status == 0
    # The password prompt masks what is typed: the secret never reaches the screen.
    assert authenticated_user.secret_access_key not in output


def test_ctrl_c_mid_wizard_leaves_the_files_untouched(isolated_home, tmp_path, moto_server, transcript):
    aws = isolated_home / ".aws"
    aws.mkdir()
    (aws / "config").write_text("[default]\nregion = us-east-1\n", encoding="utf-8")
    before = aws_files(isolated_home)
    child = spawn_setup("--endpoint-url", moto_server.url)
    transcript.append(child)
    child.expect("Profile name")
    child.send(ENTER)
    child.expect("AWS region")
    child.sendintr()
    output, status = finish(child)
    assert status == ExitCode.INTERRUPTED
    assert "Interrupted." in output
    assert "Traceback" not in output
    assert aws_files(isolated_home) == before
    assert sorted(p.name for p in aws.iterdir()) == ["config"]


def test_ctrl_c_at_the_final_confirmation_writes_nothing(
    isolated_home, tmp_path, moto_server, authenticated_user, transcript
):
    csv = access_key_csv(tmp_path, authenticated_user)
    child = spawn_setup(
        "--endpoint-url", moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv)
    )
    transcript.append(child)
    child.expect("Profile name")
    child.send(ENTER)
    child.expect("Output format")
    child.send(ENTER)
    child.expect("Write these changes")
    child.sendintr()
    output, status = finish(child)
    assert status == ExitCode.INTERRUPTED, output
    assert aws_files(isolated_home) == {"config": None, "credentials": None}


def test_a_team_endpoint_that_is_not_aws_is_asked_about_and_no_means_nothing_is_written(
    isolated_home, tmp_path, authenticated_user, transcript
):
    team = tmp_path / "team.toml"
    team.write_text(
        'version = 1\nteam = "t"\nregion = "eu-west-1"\n\n[endpoint]\nurl = "https://aws-mirror.example"\n',
        encoding="utf-8",
    )
    csv = access_key_csv(tmp_path, authenticated_user)
    child = spawn_setup("--team", str(team), "--credentials-csv", str(csv), "--output", "json")
    transcript.append(child)
    child.expect("Endpoint: the team file sends every AWS call of the profile to https://aws-mirror.example")
    child.expect("Profile name")
    child.send(ENTER)
    child.expect("AWS region")
    child.send(ENTER)
    child.expect("instead of AWS")
    child.expect("Send this profile's AWS calls to that endpoint")
    child.send("n")
    output, status = finish(child)
    assert status == ExitCode.USAGE, output
    assert "--endpoint-url https://aws-mirror.example" in output
    assert aws_files(isolated_home) == {"config": None, "credentials": None}
