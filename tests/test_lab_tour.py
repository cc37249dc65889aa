"""`onboard lab tour`, the main job, run as a user runs it (`python -m onboard lab tour`) in the test's home.

The tour starts the user's practice lab (or reuses a running one), runs `onboard setup` into the lab's
sandbox, and has a scripted learner play lessons 1 to 4 and 7 through the real AWS CLI and the lab's plugin in
pseudo-terminals. These tests check what the user sees and what is left behind: every step's verdict,
the score, the exit code, the lab stopped (or left as found), no secret printed, and the user's own
~/.aws, bin and data folders untouched.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from helpers import run_onboard
from onboard.errors import ExitCode
from onboard.lab import control
from onboard.lab.seed import ADMIN_USER
from onboard.lab.state import LabPaths, read_credentials_csv, read_state
from onboard.lab.status import LabStatus, SessionCounts
from onboard.lab.world import load_world
from onboard.tour.sandbox import TourLab, environment_applied, sandbox_environment

TOUR_TIMEOUT = 280
# The tour's own limit is TOUR_TIMEOUT (the subprocess's); the suite's 120 s default would cut a tour
# that is slow only because the machine is busy.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(TOUR_TIMEOUT + 40)]
#: Graded steps per lesson (lesson 2's third step is a demonstration, without points).
STEPS = {"ready": 3, "connect": 2, "sudo": 2, "transfer": 2, "daily": 3}


def _secrets(paths: LabPaths, learner: str) -> list[str]:
    """The learner's secret access key and the lab admin's (the tour uses it to grant log access)."""
    return [read_credentials_csv(paths.credentials_csv(user))[1].reveal() for user in (learner, ADMIN_USER)]


def _answers(endpoint_url: str) -> bool:
    address = urlsplit(endpoint_url)
    try:
        with socket.create_connection((address.hostname, address.port), timeout=1):
            return True
    except OSError:
        return False


def _untouched(home: Path) -> None:
    """Nothing in the user's home but the lab's state folder: no ~/.aws, bin, data or shell history."""
    lab = LabPaths.for_user().root
    left = sorted(str(path.relative_to(home)) for path in home.rglob("*") if not path.is_relative_to(lab))
    assert left == [".local", ".local/state", ".local/state/onboard"]


def test_the_tour_sets_up_the_lab_sandbox_and_every_step_passes(isolated_home: Path):
    ran = run_onboard("lab", "tour", timeout=TOUR_TIMEOUT)
    assert ran.exit_code == ExitCode.OK, ran.output
    out = ran.stdout

    sections = ["1. The practice lab", "2. onboard setup", "3. Lessons 1 to 4 and 7", "4. Score"]
    places = [out.index(title) for title in sections]
    assert places == sorted(places)
    assert "Started a practice lab at http://127.0.0.1:" in out
    # setup fetched the plugin from the lab, checked the lab's signature, put it in the lab's bin folder
    assert "downloaded from the lab and installed at <lab>/sandbox/bin/session-manager-plugin" in out
    assert "signature checked (gpg, key " in out
    assert "Profile ssm (region " in out and "written to <lab>/sandbox/home/.aws/config" in out
    assert "AWS (the lab) knows the keys as arn:aws:iam::123456789012:user/alice" in out
    # each step's verdict with its evidence, lesson by lesson, then the score
    assert out.count("  PASS  step ") == sum(STEPS.values()) and "FAIL" not in out
    assert "PASS  step 2/3: End a session from outside" in out
    assert "Switch to analyst and come back" in out and "{{" not in out  # titles filled from the team file
    assert "typed: aws ssm start-session --target i-" in out
    assert "shows each command at a prompt" in out  # the session log proved `whoami` printed ssm-user
    assert "ended while its shell waited at a prompt" in out  # ended from outside, not by exit
    assert "uploaded in session alice-" in out  # lesson 4's round trip went through the server
    assert "Total: 160/160 points; 12 of 12 checked steps passed" in out
    assert "Every step passed." in out

    paths = LabPaths.for_user()
    assert "The lab the tour started is stopped" in out
    assert control.find_running(paths) is None
    key_id, _ = read_credentials_csv(paths.credentials_csv("alice"))
    assert f"aws_access_key_id = {key_id}" in (paths.aws_dir / "credentials").read_text()
    assert (paths.bin_dir / "session-manager-plugin").exists()
    _untouched(isolated_home)
    for secret in _secrets(paths, "alice"):
        assert secret not in ran.output


def test_a_running_lab_is_reused_and_a_fault_fails_the_step_it_breaks(isolated_home: Path):
    paths = LabPaths.for_user()
    state = control.start_detached(paths, learners=["dana", "erin"])
    try:
        wrong = run_onboard("lab", "tour", "--learner", "zed")
        assert wrong.exit_code == ExitCode.USAGE
        assert "has no learner 'zed' (its learners: dana, erin)" in wrong.stderr

        control.fault(paths, "bucket-missing", None)
        ran = run_onboard("lab", "tour", "--json", timeout=TOUR_TIMEOUT)
        assert ran.exit_code == ExitCode.FAILURE, ran.output
        body = ran.json()
        assert body["command"] == "lab.tour" and body["ok"] is False
        data = body["data"]
        lab = data["lab"]
        assert (lab["started"], lab["ending"], lab["learner"]) == (False, "reused", "dana")
        assert [fault["name"] for fault in lab["faults"]] == ["bucket-missing"]

        # Lessons 1 to 3 pass; the upload of lesson 4 fails, named with what the check saw, and so does
        # lesson 7's onboard transfer (after its connect step passed).
        assert [lesson["passed"] for lesson in data["lessons"]] == [True, True, True, False, False]
        assert [failure["where"] for failure in data["failed"]] == [
            "lesson transfer, step 1: From your computer to the bucket",
            "lesson daily, step 2: Move a file both ways",
        ]
        assert "does not exist" in data["failed"][0]["checks"][0]["evidence"]
        transfer = data["lessons"][3]
        assert transfer["not_reached"] == ["To the server, changed, and back"]
        assert data["lessons"][4]["not_reached"] == ["Open Jupyter through a tunnel"]
        assert data["score"] == {
            "points": 90,
            "max_points": 160,
            "steps_passed": 8,
            "steps_checked": 10,
            "steps_not_reached": 2,
        }
        for lesson in data["lessons"]:
            for step in lesson["steps"]:
                assert not step["graded"] or step["verdicts"]
                assert all("evidence" in check for check in step["verdicts"])
        assert data["setup"]["identity"] == "arn:aws:iam::123456789012:user/dana"

        # The user's lab keeps running, as the tour found it.
        assert control.find_running(paths) is not None and _answers(state.endpoint_url)

        # Another fault, as a newcomer reads it: the agent of jupyter goes offline, so every step that
        # opens a session fails (lessons 2 and 3, the second half of 4, and 7), each named, with what the
        # learner's terminal showed; the tour goes on past each failure.
        control.clear_faults(paths)
        jupyter = state.world.instances["jupyter"]
        control.fault(paths, "agent-offline", "jupyter")
        text = run_onboard("lab", "tour", timeout=TOUR_TIMEOUT)
        assert text.exit_code == ExitCode.FAILURE, text.output
        out = text.stdout
        assert f"Fault in force: agent-offline on {jupyter}" in out
        assert out.count("  PASS  step ") == 4 and out.count("  FAIL  step ") == 4
        assert "FAIL  step 1/3: Start a session and look around" in out
        assert (
            f"| An error occurred (TargetNotConnected) when calling the StartSession operation: {jupyter}"
            in out
        )
        failed = out[out.index("  Failed (4):") :]
        named = [line.strip() for line in failed.splitlines() if line.startswith("    lesson ")]
        assert [line.partition(":")[0] for line in named] == [
            "lesson connect, step 1",
            "lesson sudo, step 1",
            "lesson transfer, step 2",
            "lesson daily, step 1",
        ]
        assert named[0].endswith(": Start a session and look around")
        assert f"Session Manager cannot reach {jupyter}" in out  # onboard connect's own explanation
        assert "Your lab keeps running at" in out
        _untouched(isolated_home)
        for secret in _secrets(paths, "dana"):
            assert secret not in ran.output and secret not in text.output
    finally:
        control.stop(paths)


def test_ctrl_c_stops_the_lab_the_tour_started_and_exits_130(isolated_home: Path):
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-m", "onboard", "lab", "tour", "--keep"],  # --keep is for a tour that ends, not one interrupted
        env=dict(os.environ),
        encoding="utf-8",
        timeout=TOUR_TIMEOUT / 2,
        dimensions=(40, 200),
    )
    try:
        child.expect_exact("Lesson 1: Ready to go")
        paths = LabPaths.for_user()
        running = read_state(paths)
        assert running is not None
        endpoint = running.endpoint_url
        assert _answers(endpoint)
        child.sendintr()  # Ctrl-C at the terminal: SIGINT to the tour and what runs in its foreground
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert child.exitstatus == ExitCode.INTERRUPTED, child.before
    assert "Interrupted. The lab the tour started is stopped" in child.before
    assert control.find_running(paths) is None
    assert not _answers(endpoint)
    _untouched(isolated_home)


def test_ctrl_c_while_the_lab_starts_stops_it_too(isolated_home: Path):
    import pexpect

    from onboard.lab.state import lock_is_held

    paths = LabPaths.for_user()
    child = pexpect.spawn(
        sys.executable, ["-m", "onboard", "lab", "tour"], env=dict(os.environ), encoding="utf-8", timeout=60
    )
    try:
        deadline = time.monotonic() + 60
        # The lab's server process runs (it holds the lock and wrote its pid), and is not ready yet.
        while not (lock_is_held(paths) and paths.pid_file.exists()):
            assert time.monotonic() < deadline, child.before
            time.sleep(0.02)
        starting = read_state(paths)
        assert starting is None or not starting.ready
        pid = int(paths.pid_file.read_text(encoding="ascii"))
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == ExitCode.INTERRUPTED, child.before
    assert "Interrupted while the lab was starting: it is stopped." in child.before
    assert not lock_is_held(paths) and control.find_running(paths) is None
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_a_lab_that_dies_during_the_tour_fails_it_and_is_reported(isolated_home: Path):
    import pexpect

    child = pexpect.spawn(
        sys.executable, ["-m", "onboard", "lab", "tour"], env=dict(os.environ), encoding="utf-8", timeout=120
    )
    try:
        child.expect_exact("Lesson 4: Move files through S3")
        paths = LabPaths.for_user()
        running = read_state(paths)
        assert running is not None
        os.kill(running.pid, signal.SIGKILL)  # the lab crashes mid-tour
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == ExitCode.FAILURE, child.before
    out = child.before
    assert "FAIL  step 1/2: From your computer to the bucket" in out
    assert "The lab stopped during the tour; its log is <lab>/server.log." in out
    assert "Traceback" not in out and control.find_running(paths) is None


def test_the_sandbox_environment_leaves_the_users_aws_settings_and_folders_out(tmp_path: Path):
    paths = LabPaths(tmp_path / "state" / "lab")
    state = LabStatus(
        pid=4242,
        lab_id="0011223344556677",
        endpoint_url="http://127.0.0.1:4599",
        port=4599,
        data_channel_port=4600,
        started_at=1790000000.0,
        state_dir=str(paths.root),
        team_file=str(paths.team_file),
        credentials={},
        world=load_world().summary(),
        faults=(),
        sessions=SessionCounts(active=0, total=0),
    )
    lab = TourLab(paths, state, started=True, learner="alice")
    users = {
        "PATH": "/usr/bin:/bin",
        "AWS_PROFILE": "production",
        "AWS_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "AKIAREALUSERKEY00001",
        "HTTPS_PROXY": "http://proxy.example:3128",
        "LANG": "C.UTF-8",
    }
    env = sandbox_environment(lab, users)

    assert not {"AWS_PROFILE", "AWS_REGION", "AWS_ACCESS_KEY_ID"} & set(env)
    assert env["AWS_CONFIG_FILE"] == str(paths.aws_dir / "config")
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == str(paths.aws_dir / "credentials")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
    assert env["ONBOARD_TEAM"] == str(paths.team_file) and env["ONBOARD_BIN_DIR"] == str(paths.bin_dir)
    # the lab's plugin first, then onboard's own interpreter folder (aws, onboard), then the user's PATH
    assert env["PATH"].split(os.pathsep) == [
        str(paths.bin_dir),
        str(Path(sys.executable).parent),
        "/usr/bin",
        "/bin",
    ]
    assert Path(env["XDG_DATA_HOME"]).is_relative_to(paths.sandbox_home)
    assert Path(env["XDG_CACHE_HOME"]).is_relative_to(paths.sandbox_home)
    assert Path(env["XDG_STATE_HOME"]).is_relative_to(paths.sandbox_home)  # onboard's locks too
    assert "127.0.0.1" in env["NO_PROXY"].split(",")
    assert env["HISTFILE"] == str(paths.sandbox_home / ".bash_history")
    assert env["LANG"] == "C.UTF-8"

    before = dict(os.environ)
    with environment_applied(env):
        assert os.environ["AWS_CONFIG_FILE"] == env["AWS_CONFIG_FILE"] and "AWS_PROFILE" not in os.environ
    assert dict(os.environ) == before
