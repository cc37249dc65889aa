"""`onboard setup` against what a newcomer meets: a team file pointing elsewhere, other setups at once,
an AWS CLI v1, a proxy that blocks the plugin download."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bundles import GOOD_VERSION, blocking_proxy, bundle_server, plugin_site, test_signing_key  # noqa: F401
from fixtures_moto import access_key_csv, authenticated_user, aws_files, moto_server, read_profile, setup_args  # noqa: F401
from test_setup_plugin import write_team

from helpers import run_onboard
from onboard.errors import ExitCode


def team_with_endpoint(tmp_path, url: str):
    team = tmp_path / "team.toml"
    team.write_text(
        f'version = 1\nteam = "data-team"\nregion = "eu-west-1"\n\n[endpoint]\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return team


def test_a_team_endpoint_that_is_not_aws_is_shown_and_needs_confirmation(
    isolated_home, tmp_path, authenticated_user
):
    team = team_with_endpoint(tmp_path, "https://aws-mirror.example")
    csv = access_key_csv(tmp_path, authenticated_user)
    args = ("setup", "--no-plugin", "--no-aws-cli", "--team", str(team), "--credentials-csv", str(csv))
    refused = run_onboard(*args, "--yes")
    assert refused.exit_code == ExitCode.USAGE, refused.output
    assert "https://aws-mirror.example" in refused.stdout  # shown in the plan
    assert "https://aws-mirror.example" in refused.stderr and "--endpoint-url" in refused.stderr
    assert aws_files(isolated_home) == {"config": None, "credentials": None}


def test_a_team_endpoint_confirmed_with_the_flag_is_written(isolated_home, tmp_path, authenticated_user):
    team = team_with_endpoint(tmp_path, "https://aws-mirror.example")
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        "setup",
        "--no-plugin",
        "--no-aws-cli",
        "--team",
        str(team),
        "--credentials-csv",
        str(csv),
        "--endpoint-url",
        "https://aws-mirror.example",
        "--dry-run",
        "--yes",
    )
    assert ran.exit_code == 0, ran.output
    assert "+endpoint_url = https://aws-mirror.example" in ran.stdout


def test_a_loopback_team_endpoint_needs_no_confirmation(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    team = team_with_endpoint(tmp_path, moto_server.url)
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        "setup", "--no-plugin", "--no-aws-cli", "--team", str(team), "--credentials-csv", str(csv), "--yes"
    )
    assert ran.exit_code == 0, ran.output
    assert moto_server.url in ran.stdout
    assert read_profile("ssm")["endpoint_url"] == moto_server.url


def test_five_setups_at_once_each_confirm_their_own_key(isolated_home, tmp_path, moto_server):
    users = [moto_server.create_user(f"learner{number}") for number in range(5)]
    moto_server.enable_auth()
    runs = []
    for user in users:
        csv = access_key_csv(tmp_path, user)
        command = [sys.executable, "-m", "onboard", *setup_args(moto_server.url, "--region", "eu-west-1")]
        command += ["--credentials-csv", str(csv), "--yes", "--json"]
        runs.append(
            (user, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        )
    confirmed = 0
    for user, process in runs:
        stdout, stderr = process.communicate(timeout=120)
        assert "internal error" not in stderr.lower(), stderr
        arns = set(re.findall(r"arn:aws:iam::\d+:user/\w+", stdout))
        if process.returncode == 0:
            assert arns == {user.arn}, (user.arn, stdout)
            confirmed += 1
        else:
            assert "Another program changed" in stdout + stderr, stdout + stderr
            assert not (arns - {user.arn}), (user.arn, stdout)
    # The last writer's key stays in the profile, and its run confirmed it.
    assert confirmed >= 1
    final = read_profile("ssm")["aws_access_key_id"]
    assert final in {user.access_key_id for user in users}


def test_the_output_menu_offers_only_what_aws_cli_v1_prints(
    isolated_home, tmp_path, moto_server, authenticated_user
):
    # The test environment's `aws` is AWS CLI v1 (the awscli package), which has no yaml output.
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        *setup_args(moto_server.url, "--region", "eu-west-1", "--credentials-csv", str(csv), "--yes"),
        "--output",
        "yaml",
        env={"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")},
    )
    assert ran.exit_code == ExitCode.USAGE, ran.output
    assert "yaml" in ran.stderr and "AWS CLI v1" in ran.stderr and "json, text, table" in ran.stderr
    assert aws_files(isolated_home) == {"config": None, "credentials": None}


def test_a_blocked_plugin_download_still_writes_the_profile_and_says_what_is_left(
    isolated_home, tmp_path, moto_server, authenticated_user, blocking_proxy
):
    csv = access_key_csv(tmp_path, authenticated_user)
    ran = run_onboard(
        "setup",
        "--plugin",
        "--no-aws-cli",
        "--download-url",
        "https://plugin-mirror.example/",
        "--endpoint-url",
        moto_server.url,
        "--region",
        "eu-west-1",
        "--credentials-csv",
        str(csv),
        "--yes",
        env={"HTTPS_PROXY": blocking_proxy, "HTTP_PROXY": blocking_proxy, "NO_PROXY": "127.0.0.1,localhost"},
        timeout=120,
    )
    assert ran.exit_code != 0, ran.output
    assert read_profile("ssm")["aws_access_key_id"] == authenticated_user.access_key_id
    assert "You are " + authenticated_user.arn in ran.stdout  # the keys were checked, and work
    last = " ".join(ran.stdout.strip().splitlines()[-3:])
    assert "plugin" in last and "onboard plugin install" in last
    assert "keys" not in last.replace("keys work", "")


def test_behind_a_proxy_that_blocks_everything_setup_ends_with_the_one_command_that_finishes(
    isolated_home, tmp_path, moto_server, authenticated_user, plugin_site, test_signing_key, blocking_proxy
):
    # The proxy refuses the team mirror's download and answers the identity check itself (a 403 page, no
    # AWS answer): neither says anything about the keys.
    team = write_team(
        tmp_path, site_url=plugin_site.base, endpoint=moto_server.url, pinned_key=test_signing_key
    )
    csv = access_key_csv(tmp_path, authenticated_user)
    args = ["setup", "--team", str(team), "--no-aws-cli"]
    ran = run_onboard(
        *args,
        "--credentials-csv",
        str(csv),
        "--yes",
        env={"HTTPS_PROXY": blocking_proxy, "HTTP_PROXY": blocking_proxy},
    )
    assert ran.exit_code not in (ExitCode.OK, ExitCode.USAGE), ran.output
    assert "internal error" not in ran.output
    assert read_profile("ssm")["aws_access_key_id"] == authenticated_user.access_key_id
    closing = ran.stdout[ran.stdout.rindex("Setup is not finished") :]
    assert "Session Manager plugin" in closing and "keys could not be checked" in closing, closing
    assert "did not work" not in closing and "right keys" not in closing
    assert blocking_proxy in closing
    finish = closing.strip().splitlines()[-1].strip()
    assert finish.startswith("onboard setup "), closing

    # Once the network lets it through, that one command finishes both, and asks for nothing.
    words = finish.split()[1:]
    done = run_onboard(*words)
    assert done.exit_code == 0, done.output
    assert f"Version {GOOD_VERSION} installed" in done.stdout
    assert "You are " + authenticated_user.arn in done.stdout


class _HeldForwarder(BaseHTTPRequestHandler):
    """Forwards each request to moto unchanged (Host header included, so signatures hold) once released."""

    release: threading.Event
    target: tuple[str, int]

    def do_POST(self) -> None:
        import http.client

        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.release.wait(60)
        upstream = http.client.HTTPConnection(*self.target, timeout=30)
        upstream.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            upstream.putheader(name, value)
        upstream.endheaders(body)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_a_profile_rewritten_during_the_identity_check_is_not_called_done(
    isolated_home, tmp_path, moto_server
):
    import time
    from urllib.parse import urlsplit

    first, second = moto_server.create_user("first"), moto_server.create_user("second")
    moto_server.enable_auth()
    moto = urlsplit(moto_server.url)
    release = threading.Event()
    handler = type("Held", (_HeldForwarder,), {"release": release, "target": (moto.hostname, moto.port)})
    held = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=held.serve_forever, daemon=True).start()
    try:
        # The first setup writes its key, then waits in its identity check...
        command = [
            sys.executable,
            "-m",
            "onboard",
            "setup",
            "--no-plugin",
            "--no-aws-cli",
            "--region",
            "eu-west-1",
        ]
        slow = subprocess.Popen(
            [
                *command,
                *("--endpoint-url", f"http://127.0.0.1:{held.server_address[1]}"),
                *("--credentials-csv", str(access_key_csv(tmp_path, first)), "--yes"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        credentials = isolated_home / ".aws" / "credentials"
        deadline = time.monotonic() + 60
        while first.access_key_id not in (credentials.read_text() if credentials.exists() else ""):
            assert time.monotonic() < deadline and slow.poll() is None, slow.communicate()
            time.sleep(0.1)
        # ...while a second setup writes another key into the same profile and finishes.
        fast = run_onboard(
            *setup_args(moto_server.url, "--region", "eu-west-1"),
            *("--credentials-csv", str(access_key_csv(tmp_path, second)), "--yes"),
        )
        assert fast.exit_code == 0 and second.arn in fast.stdout, fast.output
        release.set()
        stdout, stderr = slow.communicate(timeout=60)
    finally:
        release.set()
        held.shutdown()
        held.server_close()
    assert slow.returncode != 0, stdout + stderr
    assert "Done:" not in stdout, stdout
    assert "Another program changed profile ssm" in " ".join(stdout.split()), stdout + stderr
    assert read_profile("ssm")["aws_access_key_id"] == second.access_key_id
