"""Lab instances that look like EC2 instances: where sessions start, the Ubuntu flavour, and the sandbox
that keeps the lab's own files out of the learner's shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixtures_sessions import (
    JUPYTER,
    REDASH,
    SSM_PROMPT,
    UBUNTU_PROMPT,
    channel_lab,
    run_command,
    seen_path,
    start_channel_lab,
    stop_channel_lab,
)

from onboard.lab import sandbox

__all__ = ["channel_lab"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow

SANDBOXED = sandbox.isolation().sandboxed
#: Writing where ssm-user may not fails as on AWS, unless the lab runs as root without a sandbox.
PERMISSIONS_HOLD = SANDBOXED or os.geteuid() != 0


def _connected(lab, target: str, prompt: str):
    answer = lab.start_session(target=target)
    child = lab.spawn_plugin(answer, target=target)
    child.expect_exact(f"Starting session with SessionId: {answer['SessionId']}")
    child.expect_exact(prompt)
    return child


def test_an_ubuntu_instance_reproduces_the_write_ups_transcript(channel_lab):
    child = _connected(channel_lab, REDASH, UBUNTU_PROMPT)
    start = seen_path(channel_lab, REDASH, "/var/snap/amazon-ssm-agent/1480")
    assert run_command(child, "pwd", prompt=UBUNTU_PROMPT).strip() == start
    assert run_command(child, "whoami", prompt=UBUNTU_PROMPT).strip() == "ssm-user"
    assert run_command(child, 'echo "日本語も使える"', prompt=UBUNTU_PROMPT).strip() == "日本語も使える"
    if SANDBOXED:
        assert start == "/var/snap/amazon-ssm-agent/1480"


@pytest.mark.skipif(not PERMISSIONS_HOLD, reason="root on the host writes anywhere")
def test_writing_a_file_in_the_start_folder_is_permission_denied(channel_lab):
    child = _connected(channel_lab, REDASH, UBUNTU_PROMPT)
    assert "Permission denied" in run_command(child, "echo hello > notes.txt", prompt=UBUNTU_PROMPT)
    assert run_command(
        child, "cd ~ && echo hello > notes.txt && cat notes.txt", prompt=UBUNTU_PROMPT
    ).strip() == ("hello")
    assert (channel_lab.instances[REDASH].home_of("ssm-user") / "notes.txt").read_text() == "hello\n"


def test_sudo_on_ubuntu_shows_ubuntus_prompt(channel_lab):
    child = _connected(channel_lab, REDASH, UBUNTU_PROMPT)
    child.sendline("sudo su - redash")
    child.expect_exact("redash@")
    child.expect_exact(":~$ ")
    child.sendline("exit")
    child.expect_exact(UBUNTU_PROMPT)


def test_an_amazon_linux_session_starts_in_usr_bin(channel_lab):
    child = _connected(channel_lab, JUPYTER, SSM_PROMPT)
    assert run_command(child, "pwd").strip() == seen_path(channel_lab, JUPYTER, "/usr/bin")
    if PERMISSIONS_HOLD:  # the sandbox's /usr is the host's, read-only
        refused = run_command(child, "echo hello > notes.txt")
        assert "Permission denied" in refused or "Read-only file system" in refused


@pytest.mark.skipif(not SANDBOXED, reason="needs bubblewrap")
def test_the_sandbox_shows_the_instance_and_hides_the_labs_files(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "admin-secret").write_text("the lab's admin secret\n")
    lab = start_channel_lab(state / "instances")
    try:
        child = _connected(lab, JUPYTER, SSM_PROMPT)
        assert run_command(child, f"cat {state / 'admin-secret'}; ls {state}").count("No such file") == 2
        assert run_command(child, "ls /home").split() == ["analyst", "ssm-user"]
        assert (
            run_command(child, "id -un; hostname; cat /etc/hostname").split()
            == ["ssm-user"] + ["ip-10-0-1-23"] * 2
        )
        assert "Read-only file system" in run_command(child, "touch /usr/local/bin/planted")
        assert not Path("/usr/local/bin/planted").exists()
        assert run_command(child, "aws --version").startswith("aws-cli/")
    finally:
        stop_channel_lab(lab)


def test_without_a_sandbox_shells_run_in_the_instance_tree(tmp_path, monkeypatch):
    unsandboxed = sandbox._unsandboxed("bubblewrap is not installed")
    monkeypatch.setattr(sandbox, "isolation", lambda: unsandboxed)
    lab = start_channel_lab(tmp_path / "instances")
    try:
        child = _connected(lab, JUPYTER, SSM_PROMPT)
        root = lab.instances[JUPYTER].root
        assert run_command(child, "pwd; cd ~; pwd").split() == [f"{root}/usr/bin", f"{root}/home/ssm-user"]
        assert unsandboxed.describe()["mode"] == "host"
        assert "lab's state folder" in unsandboxed.detail
    finally:
        stop_channel_lab(lab)
