"""Files the writer must refuse at once or handle in linear time, and secrets it must never show."""

from __future__ import annotations

import os
import textwrap
import time

import botocore.exceptions
import pytest
from fixtures_awsconfig import ACCESS_KEY_ID, SECRET_ACCESS_KEY, botocore_reads, botocore_session, write

from helpers import run_onboard
from onboard.awsconfig import ProfileSettings, apply_plan, aws_files, find_problems, plan_profile
from onboard.errors import OnboardError

SSM = ProfileSettings(region="eu-west-1", access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY)

NESTED_WITH_A_HEADER = (
    "[profile ssm]\nregion = eu-west-1\ns3 =\n  addressing_style = path\n  [profile work]\nregion2 = x\n"
)


def test_a_nested_block_botocore_cannot_parse_is_refused_before_writing():
    files = aws_files()
    write(files.config, NESTED_WITH_A_HEADER)
    # botocore itself refuses this file: the AWS CLI cannot run with it.
    with pytest.raises(botocore.exceptions.ConfigParseError):
        botocore_session(files, "ssm").get_scoped_config()
    with pytest.raises(OnboardError) as raised:
        plan_profile(SSM, files)
    message = raised.value.message
    assert f"{files.config}:5" in message and "s3" in message and "=" in message
    assert files.config.read_text() == NESTED_WITH_A_HEADER and not files.credentials.exists()
    errors = [p for p in find_problems(files) if p.severity == "error"]
    assert [(p.line, p.code) for p in errors] == [(5, "invalid-nested-line")]


def test_a_valid_nested_block_is_still_written_to():
    files = aws_files()
    write(files.config, "[profile ssm]\ns3 =\n  addressing_style = path\n\n  max_concurrent_requests = 4\n")
    apply_plan(plan_profile(SSM, files))
    assert botocore_reads(files, "ssm")[0]["s3"] == {
        "addressing_style": "path",
        "max_concurrent_requests": "4",
    }


def _quick(call, limit: float = 1.0):
    started = time.monotonic()
    try:
        call()
    finally:
        elapsed = time.monotonic() - started
    assert elapsed < limit, f"took {elapsed:.2f}s"


def _refused_quickly(match: str) -> OnboardError:
    with pytest.raises(OnboardError, match=match) as raised:
        _quick(lambda: plan_profile(SSM, aws_files()))
    return raised.value


def test_a_fifo_as_credentials_is_refused_at_once():
    files = aws_files()
    files.credentials.parent.mkdir()
    os.mkfifo(files.credentials)
    error = _refused_quickly("not a regular file")
    assert str(files.credentials) in error.message and "FIFO" in error.message


def test_config_linked_to_dev_zero_is_refused_at_once():
    files = aws_files()
    files.config.parent.mkdir()
    files.config.symlink_to("/dev/zero")
    error = _refused_quickly("not a regular file")
    assert str(files.config) in error.message


def test_a_symlink_loop_is_refused_at_once():
    files = aws_files()
    files.config.parent.mkdir()
    os.symlink(files.config.parent / "loop-b", files.config.parent / "loop-a")
    os.symlink(files.config.parent / "loop-a", files.config.parent / "loop-b")
    files.config.symlink_to(files.config.parent / "loop-a")
    error = _refused_quickly("symbolic links")
    assert str(files.config) in error.message


def test_an_aws_folder_that_is_a_file_is_refused_at_once():
    files = aws_files()
    files.config.parent.write_text("oops\n")
    error = _refused_quickly("is a file, not a folder")
    assert str(files.config.parent) in error.message


def test_setup_on_a_fifo_ends_with_a_message_not_a_hang(isolated_home):
    aws = isolated_home / ".aws"
    aws.mkdir()
    os.mkfifo(aws / "credentials")
    done = run_onboard("setup", "--no-plugin", "--no-aws-cli", "--region", "eu-west-1", "-y", timeout=30)
    assert done.exit_code != 0
    assert "not a regular file" in done.stderr and "internal error" not in done.stderr


def _profiles(count: int) -> str:
    return "".join(f"[profile p{n}]\nregion = eu-west-1\noutput = json\n\n" for n in range(count))


def test_a_50_mb_config_is_refused_at_once_naming_its_size():
    files = aws_files()
    write(files.config, _profiles(10) + "# " + "x" * 52_500_000 + "\n")
    error = _refused_quickly("50 MiB")
    assert str(files.config) in error.message and "at most 4 MiB" in error.message
    with pytest.raises(OnboardError, match="50 MiB"):
        _quick(lambda: find_problems(files))


def _plan_and_check_time(files, text: str) -> float:
    """CPU seconds (less disturbed by a busy machine than wall time) to plan, diff and inspect, best of 2."""
    write(files.config, text + "[profile ssm]\nregion = us-east-1\n")  # the profile at the very end
    times = []
    for _attempt in range(2):
        started = time.process_time()
        diff = plan_profile(SSM, files).changes[0].diff()
        find_problems(files)
        times.append(time.process_time() - started)
        assert "-region = us-east-1" in diff and "+region = eu-west-1" in diff
    return min(times)


def test_a_large_config_is_planned_in_linear_time():
    files = aws_files()
    small_time = _plan_and_check_time(files, _profiles(2_000))  # about 80 kB
    big_time = _plan_and_check_time(files, _profiles(20_000))  # about 800 kB
    # Ten times the file in at most twenty-five times the time: linear (a quadratic step would be 100x).
    assert big_time < max(small_time * 25, 2.0), (small_time, big_time)


COMMENTED = textwrap.dedent(
    f"""\
    [ssm]
    # old secret: {SECRET_ACCESS_KEY[::-1]}
    ; aws_secret_access_key = {SECRET_ACCESS_KEY[1:] + "Q"}
    aws_access_key_id = AKIAOTHEROTHEROTHER1
    """
)


def test_secrets_in_comments_are_masked_in_the_diff():
    files = aws_files()
    write(files.credentials, COMMENTED)
    diff = "".join(change.diff() for change in plan_profile(SSM, files).changes)
    assert SECRET_ACCESS_KEY[::-1] not in diff and SECRET_ACCESS_KEY[1:] + "Q" not in diff
    assert SECRET_ACCESS_KEY not in diff
    assert "# old secret: ****" in diff


def test_secrets_in_comments_are_masked_in_setup_json(isolated_home):
    aws = isolated_home / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(COMMENTED, encoding="utf-8")
    done = run_onboard(
        *("setup", "--no-plugin", "--no-aws-cli", "--region", "eu-west-1", "--access-key-id", ACCESS_KEY_ID),
        *("--dry-run", "--json"),
        env={"ONBOARD_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY},
    )
    assert done.exit_code == 0, done.stderr
    assert '"diff"' in done.stdout
    for secret in (SECRET_ACCESS_KEY, SECRET_ACCESS_KEY[::-1], SECRET_ACCESS_KEY[1:] + "Q"):
        assert secret not in done.stdout + done.stderr
