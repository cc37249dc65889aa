"""`onboard lab` as a user runs it: up, status, env, fault, reset, down, crash recovery, two users' labs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import run_onboard
from onboard.errors import ExitCode
from onboard.lab.state import LabPaths, read_credentials_csv
from onboard.team import load_team

pytestmark = pytest.mark.slow


def state_dir(home: Path) -> Path:
    return home / ".local" / "state" / "onboard" / "lab"


@pytest.fixture
def started_pids():
    """Lab pids a test started; any still alive at the end is killed (a failed test leaves no server)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def lab_up(started_pids, *args: str, env: dict[str, str] | None = None) -> dict:
    ran = run_onboard("lab", "up", "--detach", "--json", *args, env=env)
    assert ran.exit_code == 0, ran.output
    data = ran.json()["data"]
    started_pids.append(data["pid"])
    return data


def listening_addresses(pid: int) -> set[str]:
    """The local addresses of every TCP socket ``pid`` listens on, from /proc (no psutil)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    addresses = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address_hex = local.split(":")[0]
                assert len(address_hex) == width
                addresses.add(_decode(address_hex))
    return addresses


def _decode(address_hex: str) -> str:
    import ipaddress

    raw = bytes.fromhex(address_hex)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc")
def test_a_lab_comes_up_writes_its_files_and_goes_down(isolated_home, started_pids):
    data = lab_up(started_pids, "--learners", "ann,ben")
    paths = LabPaths(state_dir(isolated_home))
    assert data["endpoint_url"].startswith("http://127.0.0.1:")
    assert data["world"]["learners"] == ["ann", "ben"]

    # Nothing listens beyond the loopback interface.
    addresses = listening_addresses(data["pid"])
    assert addresses and addresses <= {"127.0.0.1"}

    # One IAM-console-style CSV per learner and trainer, readable by the owner only.
    secrets = []
    for user in ("ann", "ben", "trainer"):
        csv_path = paths.credentials_csv(user)
        assert stat.S_IMODE(csv_path.stat().st_mode) == 0o600
        assert csv_path.read_text().splitlines()[0] == "Access key ID,Secret access key"
        secrets.append(read_credentials_csv(csv_path)[1].reveal())
    state_text = paths.state_file.read_text()
    assert not any(secret in state_text for secret in secrets)
    assert not any(secret in json.dumps(data) for secret in secrets)
    assert not any(secret in (paths.log_file.read_text()) for secret in secrets)

    # The team file matches the world and is one that onboard.team reads.
    team = load_team(paths.team_file)
    assert team.endpoint_url == data["endpoint_url"]
    assert team.profile == "ssm"
    assert [i.alias for i in team.instances] == ["jupyter", "airflow", "redash"]
    assert team.transfer.bucket == "data-team-transfer"
    assert team.session_logs.bucket == "data-team-session-logs"
    assert team.lessons.target_user == "analyst"

    # The sandboxed ~/.aws exists and is empty: the wizard fills it.
    assert paths.aws_dir.is_dir() and list(paths.aws_dir.iterdir()) == []

    status = run_onboard("lab", "status", "--json")
    assert status.exit_code == 0
    assert status.json()["data"]["pid"] == data["pid"]
    text = run_onboard("lab", "status")
    assert data["endpoint_url"] in text.stdout and "ann, ben" in text.stdout

    again = run_onboard("lab", "up", "--detach")
    assert again.exit_code == 4
    assert "already running" in again.stderr

    # `lab env` points a shell at the lab's own ~/.aws and bin, never the real ones.
    script = 'eval "$(onboard lab env --shell bash)"; echo "$PATH"; echo "$AWS_CONFIG_FILE"; '
    script += 'echo "$AWS_ENDPOINT_URL"'
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    shown = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    path, config, endpoint = shown.stdout.splitlines()
    assert path.split(":")[0] == str(paths.bin_dir)
    assert config == str(paths.aws_dir / "config")
    assert endpoint == data["endpoint_url"]
    assert not (isolated_home / ".aws").exists()

    # Faults: unknown names and targets are explained, the list names them all.
    unknown = run_onboard("lab", "fault", "disk-full")
    assert unknown.exit_code == ExitCode.USAGE and "agent-offline" in unknown.stderr
    wrong_target = run_onboard("lab", "fault", "agent-offline", "webserver")
    assert wrong_target.exit_code == ExitCode.USAGE and "jupyter" in wrong_target.stderr
    listed = run_onboard("lab", "fault", "list", "--json")
    assert {f["name"] for f in listed.json()["data"]["faults"]} == {
        "agent-offline",
        "role-without-ssm-policy",
        "agent-not-restarted",
        "key-deactivated",
        "no-start-session",
        "bucket-missing",
        "clock-skew",
    }

    down = run_onboard("lab", "down")
    assert down.exit_code == 0, down.output
    assert "Stopped" in down.stdout
    after = run_onboard("lab", "status")
    assert after.exit_code == 4
    assert "No practice lab is running" in after.stdout


def test_reset_reseeds_the_world_and_keeps_the_keys(isolated_home, started_pids):
    # A full class: 30 learners, each with a working key of their own.
    class_list = ["ann", *(f"learner{n:02d}" for n in range(2, 31))]
    data = lab_up(started_pids, "--learners", ",".join(class_list))
    paths = LabPaths(state_dir(isolated_home))
    assert data["world"]["learners"] == class_list
    last = _client(data, paths, "learner30", "sts").get_caller_identity()
    assert last["Arn"].endswith(":user/learner30")
    key_before = read_credentials_csv(paths.credentials_csv("ann"))
    ssm = _client(data, paths, "ann", "ssm")
    session_id = ssm.start_session(Target=data["world"]["instances"]["jupyter"])["SessionId"]
    s3 = _client(data, paths, "ann", "s3")
    s3.put_object(Bucket="data-team-transfer", Key="users/ann/before-reset.txt", Body=b"x")
    faulted = run_onboard("lab", "fault", "agent-offline", "jupyter")
    assert faulted.exit_code == 0 and "TargetNotConnected" in faulted.stdout

    reset = run_onboard("lab", "reset", "--json")
    assert reset.exit_code == 0, reset.output
    assert reset.json()["data"]["endpoint_url"] == data["endpoint_url"]
    assert reset.json()["data"]["faults"] == []
    assert read_credentials_csv(paths.credentials_csv("ann")) == key_before
    # Same key still works; the old session and object are gone with the old world.
    for state in ("Active", "History"):
        assert (
            ssm.describe_sessions(State=state, Filters=[{"key": "SessionId", "value": session_id}])[
                "Sessions"
            ]
            == []
        )
    assert s3.list_objects_v2(Bucket="data-team-transfer", Prefix="users/ann/").get("KeyCount") == 0
    assert ssm.get_connection_status(Target=data["world"]["instances"]["jupyter"])["Status"] == "connected"
    assert run_onboard("lab", "down").exit_code == 0


def test_a_killed_lab_is_detected_and_a_new_one_starts(isolated_home, started_pids):
    data = lab_up(started_pids)
    os.kill(data["pid"], signal.SIGKILL)
    _wait_unlocked(LabPaths(state_dir(isolated_home)))
    status = run_onboard("lab", "status", "--json")
    assert status.exit_code == 4
    assert status.json()["data"] == {
        "running": False,
        "state_dir": str(state_dir(isolated_home)),
        "cleaned_stale_state": True,
    }
    # The user's own AWS settings (a profile the lab does not know, real keys) do not reach the lab.
    second = lab_up(
        started_pids,
        "--learners",
        "bea",
        env={"AWS_PROFILE": "production", "AWS_ACCESS_KEY_ID": "AKIAREALKEY"},
    )
    assert second["pid"] != data["pid"]
    # alice is not in this class: her old key file is gone with her.
    credentials = LabPaths(state_dir(isolated_home)).credentials_dir
    assert sorted(p.name for p in credentials.iterdir()) == [
        "bea_accessKeys.csv",
        "lab-admin_accessKeys.csv",
        "trainer_accessKeys.csv",
    ]
    assert run_onboard("lab", "status").exit_code == 0
    # A lab that no longer accepts its admin secret (the file was replaced) is still stopped, by SIGTERM.
    LabPaths(state_dir(isolated_home)).admin_secret_file.write_text("not-the-one")
    down = run_onboard("lab", "down", "--json")
    assert down.exit_code == 0, down.output
    assert down.json()["data"]["how"] == "terminated"
    assert run_onboard("lab", "status").exit_code == 4


def test_a_lab_started_in_a_folder_holding_an_onboard_package_runs_the_installed_one(
    isolated_home, started_pids, tmp_path
):
    # `python -m` puts the working folder first on the import path: the lab must not run what is there.
    folder = tmp_path / "a-checkout"
    (folder / "onboard").mkdir(parents=True)
    (folder / "onboard" / "__init__.py").write_text("raise SystemExit('a planted onboard package ran')\n")
    installed = Path(sys.executable).with_name("onboard")  # the console script, as a user runs it
    done = subprocess.run(
        [str(installed), "lab", "up", "--detach", "--json"],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    started_pids.append(json.loads(done.stdout)["data"]["pid"])
    assert "planted" not in LabPaths(state_dir(isolated_home)).log_file.read_text()
    assert run_onboard("lab", "down").exit_code == 0


def test_two_users_labs_never_share_state(tmp_path, started_pids):
    homes = [tmp_path / "u1", tmp_path / "u2"]
    envs = []
    for home in homes:
        home.mkdir()
        envs.append(
            {
                "HOME": str(home),
                "XDG_STATE_HOME": str(home / ".local" / "state"),
                "XDG_DATA_HOME": str(home / "data"),
            }
        )
    labs = [lab_up(started_pids, "--learners", "ann", env=env) for env in envs]
    assert labs[0]["endpoint_url"] != labs[1]["endpoint_url"]
    assert labs[0]["state_dir"] != labs[1]["state_dir"]
    assert all(Path(lab["state_dir"]).is_relative_to(home) for lab, home in zip(labs, homes, strict=True))
    paths = [LabPaths(Path(lab["state_dir"])) for lab in labs]
    keys = [read_credentials_csv(p.credentials_csv("ann")) for p in paths]
    assert keys[0][0] != keys[1][0]
    # Lab 1's key means nothing to lab 2.
    from botocore.exceptions import ClientError

    stranger = _client(labs[1], paths[0], "ann", "sts")
    with pytest.raises(ClientError) as refused:
        stranger.get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    for env in envs:
        assert run_onboard("lab", "down", env=env).exit_code == 0


def test_exports_are_quoted_for_every_shell():
    from onboard.lab.exports import render_exports

    variables = {"AWS_CONFIG_FILE": "/tmp/it's here/config", "PATH": "ignored"}
    assert render_exports(variables, "bash", "/b in") == (
        "export AWS_CONFIG_FILE='/tmp/it'\"'\"'s here/config'\nexport PATH='/b in':\"$PATH\"\n"
    )
    assert (
        render_exports(variables, "fish", "/b")
        == "set -gx AWS_CONFIG_FILE '/tmp/it\\'s here/config'\nset -gx PATH '/b' $PATH\n"
    )
    assert render_exports(variables, "powershell", "C:\\b") == (
        "$env:AWS_CONFIG_FILE = '/tmp/it''s here/config'\n"
        "$env:PATH = 'C:\\b' + [IO.Path]::PathSeparator + $env:PATH\n"
    )


def test_a_trainers_world_file_shapes_the_lab(isolated_home, started_pids, tmp_path):
    world = tmp_path / "lab.toml"
    written = run_onboard("lab", "init-world", str(world))
    assert written.exit_code == 0
    assert run_onboard("lab", "init-world", str(world)).exit_code == 2  # never overwritten
    text = (
        world.read_text()
        .replace('team = "data-team"', 'team = "bi-team"')
        .replace('learners = ["alice"]', 'learners = ["kim", "lee"]')
    )
    world.write_text(text)
    data = lab_up(started_pids, "--world", str(world))
    assert data["world"]["team"] == "bi-team"
    assert data["world"]["learners"] == ["kim", "lee"]
    assert load_team(LabPaths(state_dir(isolated_home)).team_file).team == "bi-team"
    assert run_onboard("lab", "down").exit_code == 0


def test_a_broken_world_file_is_explained_before_anything_starts(tmp_path):
    good = tmp_path / "good.toml"
    assert run_onboard("lab", "init-world", str(good)).exit_code == 0
    world = tmp_path / "lab.toml"
    world.write_text(good.read_text().replace("\nregion =", "\nregoin ="))
    ran = run_onboard("lab", "up", "--detach", "--world", str(world))
    assert ran.exit_code == 2
    assert "unknown key `regoin`" in ran.stderr
    assert "Did you mean `region`?" in ran.stderr
    too_many = run_onboard("lab", "up", "--detach", "--learners", ",".join(f"l{i}" for i in range(31)))
    assert too_many.exit_code == 2
    assert "at most 30" in too_many.stderr


def test_commands_that_need_a_lab_say_how_to_start_one():
    for args in (("status",), ("down",), ("reset",), ("env",), ("fault", "agent-offline")):
        ran = run_onboard("lab", *args)
        assert ran.exit_code == 4, args
        assert "onboard lab up" in ran.output


def _client(data: dict, paths: LabPaths, user: str, service: str):
    import boto3
    from botocore.config import Config

    key_id, secret = read_credentials_csv(paths.credentials_csv(user))
    session = boto3.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret.reveal(), region_name=data["world"]["region"]
    )
    return session.client(
        service, endpoint_url=data["endpoint_url"], config=Config(retries={"max_attempts": 1})
    )


def _wait_unlocked(paths: LabPaths, timeout: float = 5) -> None:
    from onboard.lab.state import lock_is_held

    deadline = time.monotonic() + timeout
    while lock_is_held(paths) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_system_plugin_mode_checks_the_installed_plugin_first(isolated_home, started_pids, tmp_path):
    bare_path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    missing = run_onboard("lab", "up", "--detach", "--plugin", "system", env={"PATH": bare_path})
    assert missing.exit_code == 4
    assert "No session-manager-plugin is on PATH" in missing.stderr

    # An installed official plugin of a version that accepts the lab's ws:// stream URL (its --version only).
    bin_dir = tmp_path / "system-bin"
    bin_dir.mkdir()
    fake = bin_dir / "session-manager-plugin"
    fake.write_text("#!/bin/sh\necho 1.2.677.0\n")
    fake.chmod(0o755)
    data = lab_up(started_pids, "--plugin", "system", env={"PATH": f"{bin_dir}{os.pathsep}{bare_path}"})
    assert data["system_plugin"]["version"] == "1.2.677.0"
    assert data["plugin"] == {"mode": "system"}
    paths = LabPaths(state_dir(isolated_home))
    assert load_team(paths.team_file).plugin is None
    # The lab's own plugin (from an earlier lab-mode setup) must not shadow AWS's: its folder comes last.
    env = run_onboard("lab", "env", "--shell", "bash", env={"PATH": f"{bin_dir}{os.pathsep}{bare_path}"})
    assert env.exit_code == 0, env.output
    assert f'export PATH="$PATH":{paths.bin_dir}' in env.stdout
    assert f"export PATH={paths.bin_dir}:" not in env.stdout
    # Plugin downloads go to the lab, never to AWS's site (the lab serves none in this mode).
    assert (
        f"export ONBOARD_PLUGIN_DOWNLOAD_URL={data['endpoint_url']}/_onboard/downloads/plugin/" in env.stdout
    )
    assert run_onboard("lab", "down").exit_code == 0


def test_a_foreground_lab_serves_a_lab_shell_and_stops_on_ctrl_c(isolated_home, started_pids):
    import pexpect

    foreground = subprocess.Popen(
        [sys.executable, "-m", "onboard", "lab", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in foreground.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop the lab." in line:
                break
        banner = "".join(lines)
        assert "Practice lab at http://127.0.0.1:" in banner, banner
        paths = LabPaths(state_dir(isolated_home))
        state = json.loads(paths.state_file.read_text())
        started_pids.append(state["pid"])
        assert state["pid"] == foreground.pid

        shell = pexpect.spawn(
            sys.executable,
            ["-m", "onboard", "lab", "shell"],
            env={**os.environ, "SHELL": "/bin/sh", "PS1": "lab$ "},
            encoding="utf-8",
            timeout=30,
        )
        shell.expect_exact("lab$ ")
        shell.sendline('echo "endpoint=$AWS_ENDPOINT_URL bin=${PATH%%:*}"')
        shell.expect(r"endpoint=(http\S+) bin=(/\S+)")
        assert shell.match.group(1) == state["endpoint_url"]
        assert shell.match.group(2) == str(paths.bin_dir)
        shell.sendline("exit 3")
        shell.expect(pexpect.EOF)
        shell.close()
        assert shell.exitstatus == 3

        foreground.send_signal(signal.SIGINT)
        assert foreground.wait(timeout=30) == 0
        assert not paths.state_file.exists()
        assert run_onboard("lab", "status").exit_code == 4
    finally:
        if foreground.poll() is None:
            foreground.kill()
        foreground.stdout.close()


@contextlib.contextmanager
def _a_port_held_by_another_program():
    """A loopback port that something else listens on for the whole block (the kernel picks it, so no other
    lab of this run, or of anybody's on the machine, can hold or release it meanwhile)."""
    import socket

    squatter = socket.socket()
    try:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        yield squatter.getsockname()[1]
    finally:
        squatter.close()


def test_a_busy_port_makes_the_lab_take_the_next_candidate():
    # The lab tries its last port, then 4566, then any (onboard.lab.server): the step past a busy one.
    from werkzeug.serving import WSGIRequestHandler, make_server

    from onboard.lab.httpserver import bind, request_handler

    with _a_port_held_by_another_program() as busy:
        handler = request_handler(WSGIRequestHandler)
        server = bind(lambda environ, respond: [], [busy, 0], handler, make_server)
        try:
            assert server.server_port not in (busy, 0)
        finally:
            server.server_close()


def test_a_lab_whose_last_port_is_taken_moves_and_says_where_it_was(started_pids, isolated_home):
    from onboard.lab.state import remember_port

    paths = LabPaths(state_dir(isolated_home))
    with _a_port_held_by_another_program() as busy:
        remember_port(paths, busy)
        ran = run_onboard("lab", "up", "--detach")
        status = run_onboard("lab", "status", "--json")
        if status.exit_code == 0:
            started_pids.append(status.json()["data"]["pid"])
        try:
            assert ran.exit_code == 0, ran.output
            assert f"the last lab listened at http://127.0.0.1:{busy}" in " ".join(ran.output.split())
            endpoint = status.json()["data"]["endpoint_url"]
            assert not endpoint.endswith(f":{busy}")
        finally:
            assert run_onboard("lab", "down").exit_code == 0
    # the next lab tries the port this one moved to first: profiles written for it stay valid
    assert paths.port_file.read_text().strip() == endpoint.rsplit(":", 1)[1]


def test_the_readmes_fault_table_is_the_catalogue():
    """One list of faults: the README's table says what onboard.labfaults says, row for row."""
    import re

    from helpers import REPO
    from onboard.lab.faults import FAULTS
    from onboard.labfaults import CATALOGUE

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `onboard lab fault`", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+) \|$", section, flags=re.M)
    assert rows == [(fault.usage, fault.user_sees) for fault in CATALOGUE]
    assert list(FAULTS) == [fault.name for fault in CATALOGUE]


def test_a_restarted_lab_keeps_its_port_and_keys_and_says_how_to_follow_a_move(isolated_home, started_pids):
    import socket

    first = lab_up(started_pids)
    paths = LabPaths(state_dir(isolated_home))
    key = read_credentials_csv(paths.credentials_csv("alice"))
    # What `onboard setup --team` writes from the lab's team file: the endpoint of this run.
    paths.aws_dir.mkdir(parents=True, exist_ok=True)
    (paths.aws_dir / "config").write_text(
        f"[profile ssm]\nregion = ap-northeast-1\nendpoint_url = {first['endpoint_url']}\n", encoding="utf-8"
    )
    credentials = paths.aws_dir / "credentials"
    credentials.write_text(
        f"[ssm]\naws_access_key_id = {key[0]}\naws_secret_access_key = {key[1].reveal()}\n", encoding="utf-8"
    )
    credentials.chmod(0o600)
    assert run_onboard("lab", "down").exit_code == 0

    again = run_onboard("lab", "up", "--detach", "--json")
    assert again.exit_code == 0, again.output
    started_pids.append(again.json()["data"]["pid"])
    assert again.json()["data"]["endpoint_url"] == first["endpoint_url"]
    assert read_credentials_csv(paths.credentials_csv("alice")) == key
    env = run_onboard("lab", "env", "--shell", "bash")
    assert env.exit_code == 0 and "endpoint_url" not in env.stderr
    assert run_onboard("lab", "down").exit_code == 0

    # Something else took the port meanwhile: the lab moves, and says what fixes the written profile.
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the lab's connections may linger
    blocker.bind(("127.0.0.1", first["port"]))
    blocker.listen()
    try:
        moved = run_onboard("lab", "up", "--detach", "--json")
        assert moved.exit_code == 0, moved.output
        data = moved.json()["data"]
        started_pids.append(data["pid"])
        assert data["endpoint_url"] != first["endpoint_url"]
        assert data["moved_from"] == first["endpoint_url"]
        env = run_onboard("lab", "env", "--shell", "bash")
        assert env.exit_code == 0
        fix = f"aws configure set endpoint_url {data['endpoint_url']} --profile ssm"
        assert first["endpoint_url"] in env.stderr and fix in env.stderr
        assert fix not in env.stdout  # what `eval` runs stays the exports only
        aws = Path(sys.executable).with_name("aws")
        exports = {
            "AWS_CONFIG_FILE": str(paths.aws_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(paths.aws_dir / "credentials"),
        }
        # The old port answers nothing now: doctor, finding it unreachable, names the same fix.
        blocker.close()
        doctor = run_onboard("doctor", "--profile", "ssm", env=exports, timeout=120)
        assert fix in doctor.stdout.replace("\n", " ") or fix in doctor.stderr, doctor.output
        subprocess.run([str(aws), *fix.split()[1:]], env={**os.environ, **exports}, check=True, timeout=60)
        assert "endpoint_url" not in run_onboard("lab", "env").stderr
    finally:
        blocker.close()
    assert run_onboard("lab", "down").exit_code == 0


def test_a_lab_comes_up_and_answers_for_a_user_behind_a_proxy(isolated_home, started_pids):
    # A proxy that cannot reach this machine's loopback (here: nothing listens there). The lab's readiness,
    # warm-up and admin calls went through it: `lab up` waited 60 s and failed, for everyone behind a proxy.
    from fixtures_moto import closed_port

    proxy = f"http://127.0.0.1:{closed_port()}"
    behind = {name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    data = lab_up(started_pids, env=behind)
    status = run_onboard("lab", "status", "--json", env=behind)
    assert status.exit_code == 0, status.output
    assert status.json()["data"]["endpoint_url"] == data["endpoint_url"]
    # And a lab shell's AWS CLI and boto3 reach the lab directly, the user's own NO_PROXY kept.
    exports = run_onboard("lab", "env", "--shell", "bash", env={**behind, "NO_PROXY": "intranet.example"})
    assert "export NO_PROXY=intranet.example,127.0.0.1,localhost" in exports.stdout
    assert "export no_proxy=intranet.example,127.0.0.1,localhost" in exports.stdout
