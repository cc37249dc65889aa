"""`onboard transfer put|get` through the lab's transfer bucket: 50 MB both ways, every error path."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
from fixtures_everyday import ADMIN, learner_env
from fixtures_lab import lab, lab_server

from helpers import run_onboard

__all__ = ["lab", "lab_server"]

pytestmark = pytest.mark.slow

SIZE = 50 * 1000 * 1000


def _home_on(lab, alias: str, user: str):
    return lab.paths.instances_dir / lab.instances[alias] / "home" / user


def _relay_objects(lab) -> list[str]:
    bucket = lab.state.world.transfer_bucket
    listed = lab.client("s3", ADMIN).list_objects_v2(Bucket=bucket, Prefix="users/alice/onboard-relay/")
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "data-50mb.bin"
    path.write_bytes(os.urandom(SIZE))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("as_user", [None, "analyst"])
def test_50_mb_both_ways_with_checksums(lab, tmp_path, big_file, as_user):
    source, digest = big_file
    env = learner_env(lab, tmp_path)
    name = f"roundtrip-{as_user or 'ssm-user'}.bin"
    user_args = ["--as", as_user] if as_user else []
    put = run_onboard(
        "transfer", "put", str(source), f"jupyter:{name}", *user_args, "--json", env=env, timeout=300
    )
    assert put.exit_code == 0, put.output
    assert put.json()["data"]["sha256"] == digest
    landed = _home_on(lab, "jupyter", as_user or "ssm-user") / name
    assert _sha256(landed) == digest
    assert not [p for p in landed.parent.iterdir() if p.name.startswith(".onboard-transfer")]
    assert _relay_objects(lab) == []

    back = tmp_path / "back.bin"
    get = run_onboard("transfer", "get", f"jupyter:{name}", str(back), *user_args, env=env, timeout=300)
    assert get.exit_code == 0, get.output
    assert f"SHA-256 {digest} checked at both ends" in get.stdout
    assert _sha256(back) == digest
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".back")) == []
    assert _relay_objects(lab) == []
    landed.unlink()


def test_get_into_a_folder_keeps_the_name(lab, tmp_path):
    home = _home_on(lab, "airflow", "analyst")
    (home / "notes.txt").write_text("from airflow\n")
    ran = run_onboard(
        "transfer",
        "get",
        "airflow:notes.txt",
        str(tmp_path),
        "--as",
        "analyst",
        env=learner_env(lab, tmp_path),
    )
    assert ran.exit_code == 0, ran.output
    assert (tmp_path / "notes.txt").read_text() == "from airflow\n"


def test_no_such_local_file(lab, tmp_path):
    ran = run_onboard(
        "transfer", "put", str(tmp_path / "nope.csv"), "jupyter:", env=learner_env(lab, tmp_path)
    )
    assert ran.exit_code == 2
    assert "nope.csv does not exist" in ran.stderr


def test_no_such_path_on_the_instance_leaves_nothing_locally(lab, tmp_path):
    target = tmp_path / "out.csv"
    ran = run_onboard(
        "transfer", "get", "jupyter:missing/report.csv", str(target), env=learner_env(lab, tmp_path)
    )
    assert ran.exit_code == 1
    assert f"{lab.instances['jupyter']}:missing/report.csv does not exist" in ran.stderr
    assert list(tmp_path.glob("*out.csv*")) == []
    assert _relay_objects(lab) == []


def _put_small(lab, tmp_path, remote: str, timeout: float = 60):
    source = tmp_path / "small.txt"
    source.write_text("x")
    return run_onboard(
        "transfer", "put", str(source), remote, env=learner_env(lab, tmp_path), timeout=timeout
    )


@pytest.mark.parametrize(
    ("remote", "said"),
    [
        ("jupyter:no/such/dir/small.txt", "the folder ./no/such/dir does not exist"),
        # /proc takes no new files, whoever asks (mode bits would not stop a lab running as root).
        ("jupyter:/proc/small.txt", "no permission on i-0a1b2c3d4e5f60001 to use /proc"),
    ],
)
def test_a_destination_the_instance_cannot_write(lab, tmp_path, remote, said):
    ran = _put_small(lab, tmp_path, remote)
    assert ran.exit_code == 1
    assert said in ran.stderr
    assert _relay_objects(lab) == []


def test_bucket_missing(lab, tmp_path):
    lab.fault("bucket-missing")
    ran = _put_small(lab, tmp_path, "jupyter:")
    assert ran.exit_code == 1
    assert "the transfer bucket data-team-transfer does not exist" in ran.stderr
    assert not (_home_on(lab, "jupyter", "ssm-user") / "small.txt").exists()


def test_instance_offline(lab, tmp_path):
    lab.fault("agent-offline", "redash")
    ran = _put_small(lab, tmp_path, "redash:", timeout=120)
    assert ran.exit_code == 1
    assert "Session Manager cannot reach" in ran.stderr
    assert _relay_objects(lab) == []
    assert not (_home_on(lab, "redash", "ssm-user") / "small.txt").exists()


def _put_in_background(lab, tmp_path, source, remote: str) -> subprocess.Popen:
    """`onboard transfer put` as its own process, to be interrupted as Ctrl-C would (SIGINT)."""
    return subprocess.Popen(
        [sys.executable, "-m", "onboard", "transfer", "put", str(source), remote],
        env={**os.environ, **learner_env(lab, tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_interrupted_halfway_leaves_no_partial_file_and_no_relay_object(lab, tmp_path, big_file):
    source, _ = big_file
    process = _put_in_background(lab, tmp_path, source, "airflow:interrupted.bin")
    home = _home_on(lab, "airflow", "ssm-user")

    def partial_files() -> list[str]:
        return [p.name for p in home.iterdir() if p.name.startswith(".onboard-transfer")]

    def bytes_arrived() -> bool:
        with contextlib.suppress(FileNotFoundError):
            return any(p.stat().st_size > 0 for p in home.iterdir() if p.name.startswith(".onboard-transfer"))
        return False

    # Halfway: the instance's AWS CLI is writing the file (a fixed wait raced a fast machine, where the
    # whole transfer was over before the interrupt).
    deadline = time.monotonic() + 90
    while not bytes_arrived() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bytes_arrived(), "the instance's download never started"
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert "Interrupted." in errors

    # Ending the session SIGKILLs the relay script (as AWS's agent does), so its own trap never runs:
    # onboard has cleaned up on the instance in a session of its own before it exits.
    assert not (home / "interrupted.bin").exists()
    assert partial_files() == []
    assert _relay_objects(lab) == []


def _unfinished_uploads(lab) -> list[str]:
    """Multipart uploads begun and never completed nor aborted: invisible in a listing, billed by S3."""
    bucket = lab.state.world.transfer_bucket
    listed = lab.client("s3", ADMIN).list_multipart_uploads(Bucket=bucket, Prefix="users/alice/")
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def test_interrupted_during_the_upload_leaves_no_unfinished_multipart_upload(lab, tmp_path):
    # Large enough that the upload lasts long enough to be seen and interrupted (50 MB can be up before a
    # listing shows it); sparse, so it costs no time to write.
    source = tmp_path / "data-200mb.bin"
    with source.open("wb") as handle:
        handle.truncate(200 * 1000 * 1000)
    assert _unfinished_uploads(lab) == []
    process = _put_in_background(lab, tmp_path, source, "airflow:cut-short.bin")
    # Ctrl-C while the parts are going up: the multipart upload has begun (S3 lists it) and not ended.
    deadline = time.monotonic() + 90
    while not _unfinished_uploads(lab) and process.poll() is None and time.monotonic() < deadline:
        pass
    assert _unfinished_uploads(lab), "the multipart upload never began"
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert "Interrupted." in errors
    assert _unfinished_uploads(lab) == []
    assert _relay_objects(lab) == []
    assert not (_home_on(lab, "airflow", "ssm-user") / "cut-short.bin").exists()


def test_a_transfer_removes_what_an_abandoned_one_left_in_its_folder(lab, tmp_path):
    home = _home_on(lab, "airflow", "ssm-user")
    abandoned = home / ".onboard-transfer.0123456789abcdef"
    abandoned.write_bytes(b"half a file")
    hour_and_a_half_ago = time.time() - 90 * 60
    os.utime(abandoned, (hour_and_a_half_ago, hour_and_a_half_ago))
    in_progress = home / ".onboard-transfer.fedcba9876543210"  # another transfer, writing it now
    in_progress.write_bytes(b"being written")
    try:
        ran = _put_small(lab, tmp_path, "airflow:")
        assert ran.exit_code == 0, ran.output
        assert not abandoned.exists()
        assert in_progress.exists()
    finally:
        for path in (abandoned, in_progress, home / "small.txt"):
            path.unlink(missing_ok=True)


#: AWS's plugin, for what it does with its input (session-manager-plugin, shellsession_unix.go
#: handleKeyboardInput and session.go Execute): it reads stdin for the whole session, sending what it reads
#: to the instance, and when stdin ends (EOF) it ends, printing "Cannot perform start session: EOF", whatever
#: the instance's command still had to say. The lab's plugin waits for the server instead, so this stand-in
#: (the official binary is not built here) runs it with an input that ends when the stand-in's own ends.
_PLUGIN_ENDING_AT_EOF = """#!{python}
import os, subprocess, sys, threading
command = [sys.executable, "-m", "onboard.labplugin", *sys.argv[1:]]
if sys.argv[1:] == ["--version"]:
    os.execv(sys.executable, command)
plugin = subprocess.Popen(command, stdin=subprocess.PIPE)
threading.Thread(target=lambda: os._exit(plugin.wait()), daemon=True).start()
while data := os.read(0, 1024):
    plugin.stdin.write(data)
    plugin.stdin.flush()
print("Cannot perform start session: EOF", flush=True)
plugin.kill()
os._exit(0)
"""


def test_transfer_works_with_a_plugin_that_ends_when_its_input_does(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    strict = tmp_path / "strict-plugin"
    strict.mkdir()
    plugin = strict / "session-manager-plugin"
    plugin.write_text(_PLUGIN_ENDING_AT_EOF.format(python=sys.executable))
    plugin.chmod(0o755)
    env["PATH"] = os.pathsep.join([str(strict), env["PATH"]])
    source = tmp_path / "notes.txt"
    source.write_text("both ways\n")
    put = run_onboard("transfer", "put", str(source), "jupyter:notes.txt", env=env)
    assert put.exit_code == 0, put.output
    landed = _home_on(lab, "jupyter", "ssm-user") / "notes.txt"
    try:
        assert landed.read_text() == "both ways\n"
        back = tmp_path / "back.txt"
        got = run_onboard("transfer", "get", "jupyter:notes.txt", str(back), env=env)
        assert got.exit_code == 0, got.output
        assert back.read_text() == "both ways\n"
    finally:
        landed.unlink(missing_ok=True)
    assert _relay_objects(lab) == []


def test_bad_remote_argument(lab, tmp_path):
    ran = run_onboard("transfer", "get", "just-a-path", env=learner_env(lab, tmp_path))
    assert ran.exit_code == 2
    assert "'just-a-path' is not HOST:PATH" in ran.stderr
