"""The instance's cleanup after an interrupted transfer, run by real bash over real processes and files.

On AWS the agent SIGKILLs a terminated session's command and the ``aws s3 cp`` it started lives on,
still writing the transfer's hidden file (the lab's sandbox kills it with the command, so the lab cannot
show this): the cleanup must stop that process, by the transfer's ID, before removing the files, and
leave every other transfer alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from onboard.everyday import relay

pytestmark = pytest.mark.skipif(not shutil.which("pkill"), reason="needs procps (pkill)")

_WRITER = "import sys, time\nwhile True:\n    open(sys.argv[1], 'ab').write(b'x')\n    time.sleep(0.02)\n"


def _orphan_cp(home, transfer_id: str) -> subprocess.Popen:
    """A process with the command line of the relay's ``aws s3 cp``, writing the hidden file as it does."""
    part = f"./{relay.PART_PREFIX}{transfer_id}"
    uri = f"s3://bucket/users/alice/onboard-relay/{transfer_id}/data.bin"
    return subprocess.Popen([sys.executable, "-c", _WRITER, part, uri], cwd=home)


def _run_cleanup(home, transfer_id: str, remote: str) -> subprocess.CompletedProcess:
    script = relay.cleanup_script(remote, "data.bin", transfer_id)
    return subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _wait_for(path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists()


@pytest.mark.parametrize("remote", ["data.bin", ".", "~"])
def test_cleanup_stops_the_orphaned_copy_and_removes_only_its_files(tmp_path, remote):
    interrupted, other = uuid.uuid4().hex, uuid.uuid4().hex
    orphan, bystander = _orphan_cp(tmp_path, interrupted), _orphan_cp(tmp_path, other)
    part = tmp_path / f"{relay.PART_PREFIX}{interrupted}"
    cli_temporary = tmp_path / f"{relay.PART_PREFIX}{interrupted}.3fA9c2E1"  # the AWS CLI's own
    cli_temporary.write_bytes(b"half")
    other_part = tmp_path / f"{relay.PART_PREFIX}{other}"
    try:
        _wait_for(part)
        _wait_for(other_part)
        done = _run_cleanup(tmp_path, interrupted, remote)
        assert done.returncode == 0, done.stderr
        assert relay.parse_report(done.stdout) == relay.Report(True, ("cleaned",))
        assert orphan.wait(timeout=10) != 0
        time.sleep(0.2)  # had it lived on, it would have written the file again by now
        assert not part.exists()
        assert not cli_temporary.exists()
        assert bystander.poll() is None
        assert other_part.exists()
    finally:
        for process in (orphan, bystander):
            process.kill()
            process.wait()


# The AWS CLI on Ctrl-C (SIGINT): s3transfer cancels the transfer and its failure cleanup aborts the
# multipart upload (CreateMultipartUploadTask registers abort_multipart_upload); SIGTERM and SIGKILL end
# Python at once, leaving the parts in the bucket.
_UPLOADER = (
    "import signal, sys, time\n"
    "def aborted(*_):\n"
    "    open(sys.argv[1], 'w').write('AbortMultipartUpload')\n"
    "    sys.exit(1)\n"
    "signal.signal(signal.SIGINT, aborted)\n"
    "open(sys.argv[1] + '.started', 'w').close()\n"
    "while True:\n"
    "    time.sleep(0.02)\n"
)


def test_cleanup_lets_the_orphaned_upload_abort_itself(tmp_path):
    """transfer get cut short: the instance's AWS CLI is uploading the relay object; stopped as Ctrl-C
    stops it, it aborts its multipart upload (killed outright, its parts would stay in the bucket)."""
    transfer_id = uuid.uuid4().hex
    marker = tmp_path / "abort-called"
    uri = f"s3://bucket/users/alice/onboard-relay/{transfer_id}/data.bin"
    uploader = subprocess.Popen([sys.executable, "-c", _UPLOADER, str(marker), uri], cwd=tmp_path)
    try:
        _wait_for(tmp_path / "abort-called.started")
        done = _run_cleanup(tmp_path, transfer_id, "data.bin")
        assert done.returncode == 0, done.stderr
        assert uploader.wait(timeout=10) != 0
        assert marker.read_text() == "AbortMultipartUpload"
    finally:
        uploader.kill()
        uploader.wait()


def test_cleanup_with_nothing_left_is_quiet(tmp_path):
    done = _run_cleanup(tmp_path, uuid.uuid4().hex, "missing/folder/data.bin")
    assert done.returncode == 0, done.stderr
    assert relay.parse_report(done.stdout) == relay.Report(True, ("cleaned",))


def test_cleanup_scripts_never_hold_the_id_whole():
    transfer_id = uuid.uuid4().hex
    assert transfer_id not in relay.cleanup_script("data.bin", "data.bin", transfer_id)


def test_a_transfer_id_must_be_hex():
    with pytest.raises(ValueError, match="not a transfer id"):
        relay.cleanup_script("x", "x", "abc; rm -rf /")


# ------------------------------------------------------------------------------------ the receiving end
# A stand-in for the instance's AWS CLI (the lab tests run the real one): prints the object or fails.
_FAKE_AWS = """#!/bin/sh
if [ -n "${FAIL:-}" ]; then
  echo "An error occurred (AccessDenied) when calling the GetObject operation" >&2; exit 1
fi
printf 'daily nonce\\n'
"""


#: Amazon Linux 2's OpenSSL (1.0.2) names no algorithm in what it prints; this one's (3.x) does.
_OPENSSL_1 = """#!/bin/sh
set -- $(sha256sum)
echo "(stdin)= $1"
"""
#: What the receiving script runs besides the AWS CLI: an instance without OpenSSL has these only.
_INSTANCE_TOOLS = (
    "basename",
    "cat",
    "chmod",
    "cut",
    "dirname",
    "find",
    "id",
    "mv",
    "rm",
    "sha256sum",
    "tee",
    "tr",
)


def _receive(
    tmp_path, sha256: str, hasher: str = "openssl", remote: str = "daily.txt", **env: str
) -> subprocess.CompletedProcess:
    """The receiving script over the stand-in AWS CLI; ``hasher``: the instance's OpenSSL (this machine's,
    3.x), ``openssl-1`` (Amazon Linux 2's) or ``sha256sum`` (no OpenSSL on the instance)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(_FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"
    if hasher == "openssl-1":
        (bin_dir / "openssl").write_text(_OPENSSL_1)
        (bin_dir / "openssl").chmod(0o755)
    elif hasher == "sha256sum":
        for tool in _INSTANCE_TOOLS:
            (bin_dir / tool).symlink_to(shutil.which(tool))
        path = str(bin_dir)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    script = relay.receive_script("s3://b/k/daily.txt", remote, "daily.txt", sha256, uuid.uuid4().hex)
    return subprocess.run(
        [shutil.which("bash"), "-c", script],
        env={**os.environ, "HOME": str(home), "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _left(tmp_path) -> list[str]:
    return sorted(path.name for path in (tmp_path / "home").iterdir())


@pytest.mark.parametrize("hasher", ["openssl", "openssl-1", "sha256sum"])
def test_the_file_is_checked_as_it_streams_in_and_renamed_into_place(tmp_path, hasher):
    import hashlib

    digest = hashlib.sha256(b"daily nonce\n").hexdigest()
    done = _receive(tmp_path, digest, hasher)
    report = relay.parse_report(done.stdout)
    assert report is not None and report.ok, done.stdout + done.stderr
    assert report.fields[0] == digest
    assert _left(tmp_path) == ["daily.txt"]
    assert (tmp_path / "home" / "daily.txt").read_bytes() == b"daily nonce\n"


@pytest.mark.parametrize("hasher", ["openssl", "sha256sum"])
def test_a_damaged_file_is_never_renamed(tmp_path, hasher):
    done = _receive(tmp_path, "0" * 64, hasher)
    report = relay.parse_report(done.stdout)
    assert report is not None and not report.ok and report.fields[0] == "checksum"
    assert _left(tmp_path) == []


def test_the_aws_clis_error_is_reported_and_nothing_is_left(tmp_path):
    done = _receive(tmp_path, "0" * 64, FAIL="1")
    report = relay.parse_report(done.stdout)
    assert report is not None and not report.ok
    assert report.fields[0] == "s3" and "AccessDenied" in report.fields[1]
    assert _left(tmp_path) == []


def test_a_folder_named_with_a_slash_that_is_not_there_is_named_in_the_message(tmp_path):
    # "jupyter:reports/2026/" names a folder to put the file in: it is that folder that is missing
    done = _receive(tmp_path, "0" * 64, remote="reports/2026/")
    assert relay.parse_report(done.stdout) == relay.Report(False, ("no-such-directory", "./reports/2026"))
    assert _left(tmp_path) == []
