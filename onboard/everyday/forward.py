"""``onboard forward``: a port on this computer that reaches a port on (or behind) an instance.

AWS-StartPortForwardingSession (or AWS-StartPortForwardingSessionToRemoteHost with ``--remote-host``,
for a database behind the instance) through the same StartSession-then-plugin path as ``connect``. The
team file names each host's web applications (``services = { jupyter = 8888 }``), so ``onboard forward
jupyter`` needs nothing else: the local port is the remote one unless taken, and the URL is printed (and
opened with ``--open`` once the tunnel answers). Ctrl-C reaches the plugin, which ends the session.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from onboard.errors import UsageError
from onboard.everyday.connect import SessionRequest, plugin_and_client, run_plugin, start_session
from onboard.everyday.reach import Reach

PORT_DOCUMENT = "AWS-StartPortForwardingSession"
REMOTE_HOST_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
#: How long --open waits for the tunnel to answer before giving up on the browser.
OPEN_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class Forward:
    instance_id: str
    remote_port: int
    local_port: int
    remote_host: str | None = None
    #: The application's name when the team file names it (then the URL is worth printing).
    service: str | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.local_port}/"

    def request(self) -> SessionRequest:
        parameters = {"portNumber": [str(self.remote_port)], "localPortNumber": [str(self.local_port)]}
        if self.remote_host:
            return SessionRequest(
                self.instance_id, REMOTE_HOST_DOCUMENT, {**parameters, "host": [self.remote_host]}
            )
        return SessionRequest(self.instance_id, PORT_DOCUMENT, parameters)


def services_of(reach: Reach, instance_id: str) -> dict[str, int]:
    if reach.team is None:
        return {}
    return next((dict(i.services) for i in reach.team.instances if i.id == instance_id), {})


def plan(
    reach: Reach,
    instance_id: str,
    host: str,
    service: str | None,
    local_port: int | None,
    remote_host: str | None,
) -> Forward:
    """Which ports: SERVICE (a team-file name or a port number), else the host's only application."""
    services = services_of(reach, instance_id)
    known = ", ".join(f"{name} ({port})" for name, port in services.items()) or "none in the team file"
    name: str | None
    if service is None:
        if len(services) != 1:
            raise UsageError(
                f"which port on {host}? Its web applications: {known}",
                f"Name one, or a port: onboard forward {host} 8888",
            )
        name, remote = next(iter(services.items()))
    elif service.isdigit():
        remote = int(service)
        name = next((n for n, p in services.items() if p == remote), None)
        if not 1 <= remote <= 65535:
            raise UsageError(f"{service} is not a port", "Ports are 1 to 65535.")
    elif service in services:
        name, remote = service, services[service]
    else:
        raise UsageError(
            f"{host} has no application {service!r}; its applications: {known}", "Or give the port number."
        )
    chosen = local_port if local_port is not None else remote
    if not port_is_free(chosen):
        raise UsageError(
            f"the local port {chosen} is taken by another program",
            f"Use a free one: onboard forward {host} {service or remote} --local-port {free_port()}",
        )
    return Forward(instance_id, remote, chosen, remote_host, name)


def port_is_free(port: int) -> bool:
    """Whether this computer can listen on localhost:PORT (as the plugin will: with SO_REUSEADDR, as Go's
    net.Listen sets it, so a closed tunnel's TIME_WAIT connections do not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def open_when_ready(url: str, port: int) -> None:
    """Open the browser on ``url`` once localhost:PORT accepts (in the background)."""

    def wait_then_open() -> None:
        import webbrowser

        deadline = time.monotonic() + OPEN_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    webbrowser.open(url)
                    return
            except OSError:
                time.sleep(0.2)

    threading.Thread(target=wait_then_open, name="open-browser", daemon=True).start()


def forward(reach: Reach, tunnel: Forward, *, open_browser: bool, say) -> int:
    """Run the tunnel until Ctrl-C (or the session ends); the plugin's exit code."""
    plugin, ssm = plugin_and_client(reach)
    request = tunnel.request()
    response = start_session(reach, ssm, request)
    where = (
        f"{tunnel.remote_host}:{tunnel.remote_port} behind"
        if tunnel.remote_host
        else f"port {tunnel.remote_port} on"
    )
    say(f"Forwarding localhost:{tunnel.local_port} to {where} {tunnel.instance_id}. Ctrl-C stops it.")
    if tunnel.service:
        say(f"Open {tunnel.service}: {tunnel.url}")
    if open_browser:
        open_when_ready(tunnel.url, tunnel.local_port)
    return run_plugin(reach, ssm, request, response, plugin)
