"""`onboard forward` against the practice lab: the instance's page through the tunnel, two tunnels at once,
a taken local port, Ctrl-C; and the real AWS CLI forwarding through the lab with the same plugin."""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import urllib.request

import pexpect
import pytest
from fixtures_everyday import learner_env
from fixtures_lab import AWS_CLI, lab, lab_server

from helpers import run_onboard
from onboard.everyday.forward import free_port, port_is_free

__all__ = ["lab", "lab_server"]

pytestmark = pytest.mark.slow


def _get(port: int, path: str = "/") -> tuple[dict[str, str], bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as answer:
        return dict(answer.headers), answer.read()


@pytest.fixture
def spawn(lab, tmp_path):
    children: list[pexpect.spawn] = []
    env = learner_env(lab, tmp_path)

    def start(program: str, *args: str) -> pexpect.spawn:
        child = pexpect.spawn(
            program, list(args), env=env, encoding="utf-8", codec_errors="replace", timeout=60
        )
        children.append(child)
        return child

    yield start
    for child in children:
        child.close(force=True)


def _forward(spawn, *args: str) -> pexpect.spawn:
    child = spawn(sys.executable, "-m", "onboard", "forward", *args)
    child.logfile_read = io.StringIO()  # everything it printed, for the tests that read it back
    child.expect(r"Starting session with SessionId: (\S+)")
    child.session_id = child.match.group(1)
    child.expect("Waiting for connections")
    return child


def test_forward_jupyter_serves_the_instances_page_and_ctrl_c_closes_it(lab, spawn):
    port = free_port()
    child = _forward(spawn, "jupyter", "--local-port", str(port))
    headers, body = _get(port)
    assert headers["X-Onboard-Instance"] == lab.instances["jupyter"]
    assert f"jupyter on jupyter ({lab.instances['jupyter']})" in body.decode()
    child.sendcontrol("c")
    child.expect("Exiting session with sessionId")
    child.expect("Forwarding stopped.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    seen = lab.wait_for_session(child.session_id, "Terminated")
    assert seen["DocumentName"] == "AWS-StartPortForwardingSession"
    assert port_is_free(port)


def test_the_url_is_printed_for_a_team_application(lab, spawn):
    port = free_port()
    child = _forward(spawn, "redash", "redash", "--local-port", str(port))
    assert f"Open redash: http://localhost:{port}/" in child.logfile_read.getvalue()
    _, body = _get(port)
    assert f"redash on redash ({lab.instances['redash']})" in body.decode()
    child.sendcontrol("c")
    child.expect(pexpect.EOF)


def test_two_tunnels_at_once(lab, spawn):
    first, second = free_port(), free_port()
    jupyter = _forward(spawn, "jupyter", "--local-port", str(first))
    airflow = _forward(spawn, "airflow", "8080", "--local-port", str(second))
    for _ in range(3):
        assert _get(first)[0]["X-Onboard-Application"] == "jupyter"
        assert _get(second)[0]["X-Onboard-Application"] == "airflow"
    _, big = _get(second, "/blob/3000000")
    assert len(big) == 3_000_000
    for child in (jupyter, airflow):
        child.sendcontrol("c")
        child.expect(pexpect.EOF)


def test_a_taken_local_port_is_said_with_a_free_one_offered(lab, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = run_onboard("forward", "jupyter", "--local-port", str(port), env=learner_env(lab, tmp_path))
    assert ran.exit_code == 2
    assert f"the local port {port} is taken by another program" in ran.stderr
    offered = int(ran.stderr.rsplit("--local-port ", 1)[1].split()[0])
    assert offered != port and port_is_free(offered)
    assert "Starting session" not in ran.output


def test_an_unknown_application_lists_the_hosts_applications(lab, tmp_path):
    ran = run_onboard("forward", "airflow", "jupyter", env=learner_env(lab, tmp_path))
    assert ran.exit_code == 2
    assert "has no application 'jupyter'; its applications: airflow (8080)" in ran.stderr


def test_a_port_nothing_listens_on_closes_the_connection(lab, spawn):
    port = free_port()
    child = _forward(spawn, "jupyter", "9999", "--local-port", str(port))
    with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
        _get(port)
    child.sendcontrol("c")
    child.expect(pexpect.EOF)


def test_ctrl_c_the_moment_the_tunnel_waits_closes_it(lab, spawn):
    """Ctrl-C reaches the plugin as soon as it says it waits for connections: its handlers are in place
    before the handshake can complete (the AWS CLI and onboard start it with SIGINT ignored, so a Ctrl-C
    before them was lost and the tunnel never closed). Several times: the window was a few milliseconds."""
    for _ in range(8):
        child = _forward(spawn, "jupyter", "9999", "--local-port", str(free_port()))
        child.sendcontrol("c")
        child.expect("Forwarding stopped", timeout=15)
        child.expect(pexpect.EOF)


def test_the_aws_cli_forwards_through_the_lab_with_the_plugin(lab, spawn):
    port = free_port()
    child = spawn(
        str(AWS_CLI),
        "ssm", "start-session", "--profile", "ssm", "--target", lab.instances["airflow"],
        "--document-name", "AWS-StartPortForwardingSession",
        "--parameters", f"portNumber=8080,localPortNumber={port}",
    )  # fmt: skip
    child.expect(f"Port {port} opened for sessionId")
    headers, _ = _get(port)
    assert headers["X-Onboard-Instance"] == lab.instances["airflow"]
    child.sendcontrol("c")
    child.expect("Exiting session with sessionId")
    with contextlib.suppress(pexpect.EOF):
        child.expect(pexpect.EOF)
