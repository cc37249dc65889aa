"""`onboard forward --remote-host` (a service behind the instance, reached from the instance as AWS's agent
reaches it) and `--open` (the browser opened on the URL once the tunnel answers)."""

from __future__ import annotations

import sys
import time
import urllib.error

import pexpect
import pytest
from fixtures_everyday import learner_env
from fixtures_lab import lab, lab_server
from test_forward_lab import _forward, _get, spawn

from onboard.everyday.forward import free_port

__all__ = ["lab", "lab_server", "spawn"]

pytestmark = pytest.mark.slow


def _stop(child: pexpect.spawn) -> None:
    child.sendcontrol("c")
    child.expect(pexpect.EOF)


@pytest.mark.parametrize("address", ["10.0.1.24", "ip-10-0-1-24.ap-northeast-1.compute.internal"])
def test_remote_host_reaches_a_server_behind_the_instance(lab, spawn, address):
    """From jupyter, airflow's web server at its private address (or private DNS name): the page says
    airflow's instance answered, and the session is the remote-host document."""
    port = free_port()
    child = _forward(spawn, "jupyter", "8080", "--remote-host", address, "--local-port", str(port))
    assert f"to {address}:8080 behind {lab.instances['jupyter']}" in child.logfile_read.getvalue()
    headers, body = _get(port)
    assert headers["X-Onboard-Instance"] == lab.instances["airflow"]
    assert f"airflow on airflow ({lab.instances['airflow']})" in body.decode()
    _stop(child)
    seen = lab.wait_for_session(child.session_id, "Terminated")
    assert seen["DocumentName"] == "AWS-StartPortForwardingSessionToRemoteHost"
    assert seen["Target"] == lab.instances["jupyter"]


def test_a_remote_host_that_is_not_there_refuses_the_connection(lab, spawn):
    port = free_port()
    child = _forward(spawn, "jupyter", "5432", "--remote-host", "db.internal", "--local-port", str(port))
    with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
        _get(port)
    _stop(child)


def test_open_starts_the_browser_on_the_url_once_the_tunnel_answers(lab, tmp_path):
    """Python's webbrowser runs $BROWSER with the URL; a script stands in for the browser and records it."""
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {opened}\n')
    browser.chmod(0o755)
    port = free_port()
    env = {**learner_env(lab, tmp_path), "BROWSER": str(browser)}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "onboard", "forward", "redash", "--local-port", str(port), "--open"],
        env=env,
        encoding="utf-8",
        timeout=60,
    )
    try:
        child.expect("Waiting for connections")
        deadline = time.monotonic() + 30
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert opened.read_text().splitlines() == [f"http://localhost:{port}/"]
        _stop(child)
    finally:
        child.close(force=True)


def test_an_instance_answers_to_its_private_address_and_dns_names(tmp_path):
    from onboard.lab.sessions import LabInstance
    from onboard.secrets import Secret

    def instance(region: str) -> LabInstance:
        return LabInstance(
            "i-1",
            "db",
            [],
            tmp_path,
            region,
            "http://127.0.0.1:1",
            "AKIA",
            Secret("x"),
            hostname="ip-10-0-2-7",
            private_ip="10.0.2.7",
        )

    assert instance("us-east-1").answers_to("ip-10-0-2-7.ec2.internal")
    assert instance("eu-west-1").answers_to("IP-10-0-2-7.eu-west-1.compute.internal.")
    assert instance("eu-west-1").answers_to("10.0.2.7") and instance("eu-west-1").answers_to("ip-10-0-2-7")
    assert not instance("eu-west-1").answers_to("ip-10-0-2-7.ec2.internal")
    assert not instance("eu-west-1").answers_to("10.0.2.70")
