"""Each rule of the ~/.aws writer, with botocore reading the result back as the AWS CLI would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_awsconfig import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    all_profiles_except,
    assert_no_secret,
    botocore_reads,
    write,
)

from onboard.awsconfig import AwsFiles, ProfileSettings, apply_plan, aws_files, plan_profile
from onboard.errors import EnvironmentProblem, OnboardError, UsageError

SSM = ProfileSettings(
    name="ssm",
    region="eu-west-1",
    output="json",
    access_key_id=ACCESS_KEY_ID,
    secret_access_key=SECRET_ACCESS_KEY,
)


def write_profile(settings: ProfileSettings, files: AwsFiles, **options):
    plan = plan_profile(settings, files, **options)
    apply_plan(plan)
    return plan


def assert_reads_back(files: AwsFiles, settings: ProfileSettings = SSM) -> None:
    config, credentials = botocore_reads(files, settings.name)
    for key, value in settings.config_values().items():
        assert config[key] == value
    token = settings.session_token.reveal() if settings.session_token else None
    assert credentials == (settings.access_key_id, settings.secret_access_key.reveal(), token)


def test_new_files_get_both_sections():
    files = aws_files()
    plan = write_profile(SSM, files)
    assert [change.created for change in plan.changes] == [True, True]
    assert files.config.read_text() == "[profile ssm]\nregion = eu-west-1\noutput = json\n"
    assert files.credentials.read_text() == (
        f"[ssm]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\n"
    )
    assert_reads_back(files)


OTHER_CONFIG = """\
# my settings
[default]
region = us-east-1
cli_pager =

[profile dev]
region=us-west-2
s3 =
    addressing_style = path
    signature_version = s3v4
; keep this

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

[services lab]
s3 =
  endpoint_url = http://127.0.0.1:4566

[preview]
cloudsearch = true
"""


def test_every_other_byte_is_kept():
    files = aws_files()
    write(files.config, OTHER_CONFIG)
    write(
        files.credentials, "[default]\naws_access_key_id = AKIAOTHEROTHEROTHER1\naws_secret_access_key = x\n"
    )
    before = all_profiles_except(files, "ssm")
    write_profile(SSM, files)
    assert files.config.read_text().startswith(OTHER_CONFIG)
    assert (
        files.config.read_text()[len(OTHER_CONFIG) :]
        == "\n[profile ssm]\nregion = eu-west-1\noutput = json\n"
    )
    assert all_profiles_except(files, "ssm") == before
    assert_reads_back(files)


@pytest.mark.parametrize(
    "header",
    ["[profile  ssm]", "  [profile ssm]", "[profile ssm] # my profile", '[profile "ssm"]', "[profile\tssm]"],
)
def test_headers_are_matched_as_botocore_reads_them(header):
    files = aws_files()
    # (An indented header is only a header where configparser cannot take it for a continuation line.)
    write(files.config, f"# mine\n{header}\nregion = us-west-2\n\n[default]\nregion = us-east-1\n")
    write_profile(SSM, files)
    text = files.config.read_text()
    assert text == f"# mine\n{header}\nregion = eu-west-1\noutput = json\n\n[default]\nregion = us-east-1\n"
    assert_reads_back(files)


def test_an_existing_key_is_replaced_on_its_own_line_keeping_its_spacing():
    files = aws_files()
    write(files.config, "[profile ssm]\nRegion=us-east-1\noutput   :   text\ncli_pager =\n")
    plan = write_profile(SSM, files)
    assert files.config.read_text() == "[profile ssm]\nRegion=eu-west-1\noutput   :   json\ncli_pager =\n"
    assert any(
        line.startswith("region in [profile ssm]") and "us-east-1 -> eu-west-1" in line
        for line in plan.replaced
    )
    assert_reads_back(files)


def test_a_missing_key_goes_at_the_end_of_its_section_before_blank_lines_and_comments():
    files = aws_files()
    write(
        files.config,
        "[profile ssm]\nregion = eu-west-1\n\n# work account\n[profile work]\nregion = us-east-1\n",
    )
    write_profile(SSM, files)
    assert files.config.read_text() == (
        "[profile ssm]\nregion = eu-west-1\noutput = json\n"
        "\n# work account\n[profile work]\nregion = us-east-1\n"
    )
    assert_reads_back(files)


def test_nested_sub_keys_in_the_profile_are_kept():
    files = aws_files()
    write(files.config, "[profile ssm]\ns3 =\n    addressing_style = path\n")
    write_profile(SSM, files)
    assert files.config.read_text() == (
        "[profile ssm]\ns3 =\n    addressing_style = path\nregion = eu-west-1\noutput = json\n"
    )
    config, _ = botocore_reads(files, "ssm")
    assert config["s3"] == {"addressing_style": "path"}
    assert_reads_back(files)


def test_a_file_without_a_final_newline_gets_one_before_the_new_section():
    files = aws_files()
    write(files.config, "[default]\nregion = us-east-1")
    write_profile(SSM, files)
    assert (
        files.config.read_text()
        == "[default]\nregion = us-east-1\n\n[profile ssm]\nregion = eu-west-1\noutput = json\n"
    )
    assert_reads_back(files)


def test_crlf_files_stay_crlf():
    files = aws_files()
    write(files.config, "[default]\r\nregion = us-east-1\r\n\r\n[profile ssm]\r\nregion = us-west-2\r\n")
    write(files.credentials, "[default]\r\naws_access_key_id = AKIAOTHEROTHEROTHER1\r\n")
    write_profile(SSM, files)
    for path in (files.config, files.credentials):
        data = path.read_bytes()
        assert data.count(b"\n") == data.count(b"\r\n"), data
    assert files.config.read_bytes().endswith(b"[profile ssm]\r\nregion = eu-west-1\r\noutput = json\r\n")
    assert_reads_back(files)


def _refused(files: AwsFiles, settings: ProfileSettings = SSM) -> OnboardError:
    before = {
        path: path.read_bytes() if path.exists() else None for path in (files.config, files.credentials)
    }
    with pytest.raises(OnboardError) as raised:
        plan_profile(settings, files)
    after = {path: path.read_bytes() if path.exists() else None for path in (files.config, files.credentials)}
    assert after == before
    return raised.value


def test_a_duplicate_section_is_refused_with_file_and_line():
    files = aws_files()
    write(files.config, "[profile ssm]\nregion = us-east-1\n\n[profile ssm]\noutput = text\n")
    error = _refused(files)
    assert f"{files.config}:4" in error.message
    assert "ConfigParseError" in error.message
    assert error.hint


def test_two_sections_botocore_reads_as_one_profile_are_refused():
    files = aws_files()
    write(files.config, "[profile ssm]\nregion = us-east-1\n\n[profile  ssm]\noutput = text\n")
    error = _refused(files)
    assert "line 1 [profile ssm]" in error.message and "line 4 [profile  ssm]" in error.message


def test_a_duplicate_key_elsewhere_is_refused():
    files = aws_files()
    write(files.credentials, "[dev]\naws_access_key_id = A\naws_access_key_id = B\n")
    error = _refused(files)
    assert f"{files.credentials}:3" in error.message


def test_a_bom_is_refused_unless_removal_is_allowed():
    files = aws_files()
    write(files.config, b"\xef\xbb\xbf[default]\nregion = us-east-1\n")
    error = _refused(files)
    assert f"{files.config}:1" in error.message and "byte-order mark" in error.message
    plan = write_profile(SSM, files, strip_bom=True)
    assert any("byte-order mark" in line for line in plan.replaced)
    assert files.config.read_bytes().startswith(b"[default]\n")
    assert_reads_back(files)
    assert botocore_reads(files, "default")[0]["region"] == "us-east-1"


def test_line_breaks_in_values_are_refused_without_echoing_the_secret():
    with pytest.raises(UsageError) as raised:
        ProfileSettings(
            access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY[:20] + "\n" + "x" * 19
        )
    assert "line break" in raised.value.message
    assert SECRET_ACCESS_KEY[:20] not in str(raised.value.to_dict())
    with pytest.raises(UsageError, match="line break"):
        ProfileSettings(extra_config={"endpoint_url": "http://127.0.0.1\r\n[profile evil]"})


def test_values_that_would_read_as_comments_are_refused():
    with pytest.raises(UsageError, match="looks like a comment"):
        ProfileSettings(extra_config={"endpoint_url": "http://127.0.0.1:4566 # the lab"})
    assert ProfileSettings(extra_config={"endpoint_url": "http://127.0.0.1:4566/#x"}).extra_config


@pytest.mark.parametrize("name", ["", "my profile", "ssm]", "ssm\n", "profile ssm", "ssm#1"])
def test_profile_names_are_letters_digits_dot_underscore_dash(name):
    with pytest.raises(UsageError, match="cannot be a profile name"):
        ProfileSettings(name=name)


def test_the_default_profile_is_written_as_default_and_never_as_profile_default():
    files = aws_files()
    settings = ProfileSettings(name="default", region="eu-west-1")
    write_profile(settings, files)
    assert files.config.read_text() == "[default]\nregion = eu-west-1\n"
    write(files.config, "[profile default]\nregion = us-east-1\n")
    assert "Rename [profile default] to [default]" in _refused(files, settings).hint
    write(files.config, "[default]\nregion = us-east-1\n[profile default]\nregion = us-west-2\n")
    assert "all define profile 'default'" in _refused(files, settings).message


def test_a_profile_holding_something_else_is_listed_before_it_is_replaced():
    files = aws_files()
    write(
        files.config,
        "[profile ssm]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Admin\n"
        "role_arn = arn:aws:iam::111122223333:role/x\nsource_profile = dev\ncli_pager =\n"
        "credential_process = /bin/false\n",
    )
    plan = plan_profile(SSM, files)
    listed = " | ".join(plan.replaced)
    for key in (
        "sso_session",
        "sso_account_id",
        "sso_role_name",
        "role_arn",
        "source_profile",
        "credential_process",
    ):
        assert f"{key} in [profile ssm]" in listed
    apply_plan(plan)
    assert files.config.read_text() == "[profile ssm]\ncli_pager =\nregion = eu-west-1\noutput = json\n"
    assert_reads_back(files)


def test_config_keys_in_the_credentials_section_are_removed_because_they_win():
    files = aws_files()
    write(files.credentials, "[ssm]\nregion = us-east-1\naws_session_token = OLDTOKEN\n")
    plan = write_profile(SSM, files)
    assert "region in [ssm] (credentials" in " | ".join(plan.replaced)
    assert "aws_session_token in [ssm]" in " | ".join(plan.replaced)
    assert "region" not in files.credentials.read_text()
    assert_reads_back(files)


def test_a_session_token_and_extra_config_are_written():
    files = aws_files()
    settings = ProfileSettings(
        name="lab",
        region="us-east-1",
        access_key_id="ASIA" + ACCESS_KEY_ID[4:],
        secret_access_key=SECRET_ACCESS_KEY,
        session_token=SESSION_TOKEN,
        extra_config={"endpoint_url": "http://127.0.0.1:4566"},
    )
    write_profile(settings, files)
    assert_reads_back(files, settings)
    assert botocore_reads(files, "lab")[0]["endpoint_url"] == "http://127.0.0.1:4566"


def test_writing_the_same_profile_twice_changes_nothing():
    files = aws_files()
    write(files.config, OTHER_CONFIG)
    write_profile(SSM, files)
    again = plan_profile(SSM, files)
    assert again.is_noop and again.changes == [] and again.replaced == []
    assert apply_plan(again) == []


def test_the_diff_and_every_message_mask_the_secrets():
    files = aws_files()
    write(
        files.credentials, f"[ssm]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {'z' * 40}\n"
    )
    settings = ProfileSettings(
        access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY, session_token=SESSION_TOKEN
    )
    plan = plan_profile(settings, files)
    diff = "".join(change.diff() for change in plan.changes)
    assert f"+aws_secret_access_key = ****{SECRET_ACCESS_KEY[-4:]}" in diff
    assert "-aws_secret_access_key = ****zzzz" in diff
    assert f"+aws_session_token = ****{SESSION_TOKEN[-4:]}" in diff
    assert "z" * 40 not in diff
    for text in (diff, repr(plan), repr(settings), str(plan.replaced), repr(plan.changes)):
        assert_no_secret(text)


def test_the_environment_chooses_the_files(tmp_path):
    environ = {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": "~/team/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/x/creds",
    }
    chosen = aws_files(environ)
    assert chosen.config == tmp_path / "team" / "config" and chosen.config_source == "AWS_CONFIG_FILE"
    assert (
        chosen.credentials == Path("/x/creds") and chosen.credentials_source == "AWS_SHARED_CREDENTIALS_FILE"
    )
    default = aws_files({"HOME": str(tmp_path)})
    assert (
        default.config == tmp_path / ".aws" / "config" and default.config_source == "default (~/.aws/config)"
    )
    assert default.credentials_source == "default (~/.aws/credentials)"
    with pytest.raises(EnvironmentProblem, match="AWS_CONFIG_FILE is set but empty"):
        aws_files({"HOME": str(tmp_path), "AWS_CONFIG_FILE": ""})


def test_one_file_for_both_is_refused(tmp_path):
    same = tmp_path / "aws"
    with pytest.raises(UsageError, match="the same file"):
        plan_profile(SSM, AwsFiles(same, same, "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"))


def test_the_real_aws_cli_reads_the_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "elsewhere" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "elsewhere" / "credentials"))
    write(tmp_path / "elsewhere" / "config", OTHER_CONFIG)
    write_profile(SSM, aws_files())
    aws = Path(sys.executable).parent / "aws"

    def configure_get(key: str) -> str:
        done = subprocess.run(
            [str(aws), "configure", "get", key, "--profile", "ssm"],
            capture_output=True,
            text=True,
            env=os.environ,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert configure_get("region") == "eu-west-1"
    assert configure_get("aws_access_key_id") == ACCESS_KEY_ID
    listed = subprocess.run(
        [str(aws), "configure", "list", "--profile", "ssm"], capture_output=True, text=True, env=os.environ
    )
    assert listed.returncode == 0, listed.stderr
    assert "shared-credentials-file" in listed.stdout and "eu-west-1" in listed.stdout
    assert_no_secret(listed.stdout)


def test_a_refused_file_holding_a_secret_is_not_quoted():
    files = aws_files()
    write(files.credentials, f"[dev]\naws_secret_access_key {SECRET_ACCESS_KEY}\n{SESSION_TOKEN}\n")
    error = _refused(files)
    assert f"{files.credentials}:2" in error.message
    assert_no_secret(f"{error.message} {error.hint} {error!r}")


def test_a_file_that_is_not_utf8_is_refused_with_its_line():
    files = aws_files()
    write(files.config, "[default]\nregion = us-east-1\n# caf\xe9\n".encode("latin-1"))
    error = _refused(files)
    assert f"{files.config}:3: not UTF-8" in error.message
