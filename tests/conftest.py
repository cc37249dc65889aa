"""Test isolation: no test touches the real home directory, the real ~/.aws, or the internet.

Every test runs with HOME, USERPROFILE and the XDG folders pointing into its own temporary directory,
with every AWS_* and proxy variable removed, and with in-process sockets allowed to reach loopback
addresses only.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

_ISOLATED_PREFIXES = ("AWS_", "ONBOARD_", "XDG_")
_PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty home directory for each test, with every AWS_* variable cleared."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(_ISOLATED_PREFIXES) or name in _PROXY_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)  # as the OS makes it: platformdirs refuses any other, and falls back to /tmp
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    # boto3 and the AWS CLI would otherwise ask the instance metadata service (a non-loopback address)
    # for credentials and region when none are configured.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Fail fast rather than retrying for seconds against a local server that refuses.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    return home


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any in-process connection to an address that is not on this machine's loopback."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address) -> None:
        if isinstance(address, tuple) and not _is_loopback(str(address[0])):
            raise OSError(f"tests never leave this machine: refused a connection to {address[0]}")

    def connect(self, address):
        check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
