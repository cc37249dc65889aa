"""Plugin bundles in the real formats, and a local download site laid out like AWS's, with fault modes.

The bundles hold a small stand-in ``session-manager-plugin`` (a shell script that prints its version)
and are signed with a test key passed to the installer in place of AWS's. The server binds 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from onboard.lab import downloads

GOOD_VERSION = "1.2.764.0"
OLD_VERSION = "1.2.0.0"


def stand_in_plugin(version: str = GOOD_VERSION, *, marker: str = "stand-in") -> bytes:
    """A POSIX executable behaving like the plugin where it matters here: ``--version`` prints the version."""
    return (
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo {version}; exit 0; fi\n'
        f'echo "{marker} session-manager-plugin {version}: $*"\n'
    ).encode()


def stand_in_awscli(version: str = "2.15.0") -> bytes:
    """An ``aws`` that answers ``--version`` like the real one."""
    return (
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then\n'
        f'  echo "aws-cli/{version} Python/3.11.6 Linux/6.1 exe/x86_64"; exit 0\n'
        "fi\n"
        'echo "stand-in aws: $*"\n'
    ).encode()


# The stand-in for AWS CLI v2's ``aws/install``: the same options and the same folder layout.
AWSCLI_INSTALL_SCRIPT = """#!/bin/sh
set -e
here=$(cd "$(dirname "$0")" && pwd)
install_dir=/usr/local/aws-cli
bin_dir=/usr/local/bin
update=no
while [ $# -gt 0 ]; do
  case "$1" in
    -i|--install-dir) install_dir=$2; shift 2 ;;
    -b|--bin-dir) bin_dir=$2; shift 2 ;;
    -u|--update) update=yes; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
version=$("$here/dist/aws" --version | cut -d' ' -f1 | cut -d/ -f2)
if [ -e "$install_dir/v2/current" ] && [ "$update" = no ]; then
  echo "Found preexisting AWS CLI installation: $install_dir/v2/current." >&2
  echo "Please rerun install script with --update flag." >&2
  exit 1
fi
mkdir -p "$install_dir/v2/$version/bin" "$bin_dir"
rm -rf "$install_dir/v2/$version/dist"
cp -R "$here/dist" "$install_dir/v2/$version/dist"
ln -sfn ../dist/aws "$install_dir/v2/$version/bin/aws"
ln -sfn "$version" "$install_dir/v2/current"
ln -sfn "$install_dir/v2/current/bin/aws" "$bin_dir/aws"
echo "You can now run: $bin_dir/aws --version"
"""


def write_awscli_zip(dest: Path, version: str = "2.15.0") -> Path:
    """``awscli-exe-linux-<arch>.zip`` as AWS lays it out: ``aws/install``, ``aws/dist/aws``, README."""
    entries = [
        ("aws/install", AWSCLI_INSTALL_SCRIPT.encode(), 0o755),
        ("aws/dist/aws", stand_in_awscli(version), 0o755),
        ("aws/README.md", b"AWS CLI v2\n", 0o644),
    ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, data)
    return dest


def broken_plugin() -> bytes:
    """An executable that cannot report a version (crashes), as a damaged download would."""
    return b"#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n"


@dataclass
class Fault:
    """How the server misbehaves for one path."""

    #: "truncate" (half the body, then close), "stall" (headers and a few bytes, then silence),
    #: "error" (HTTP ``status``), "missing" (404), "drip" (the real length announced, then one byte
    #: every ``interval`` seconds), "endless" (no length announced, bytes until the client hangs up).
    mode: str
    status: int = 500
    interval: float = 0.2
    #: How many requests the fault applies to (then the real file is served); None: every request.
    times: int | None = None


@dataclass
class BundleSite:
    """The state shared by the server's handlers: the served root, faults, and a request log."""

    root: Path
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault_for(self, path: str) -> Fault | None:
        with self.lock:
            fault = self.faults.get(path)
            if fault is None:
                return None
            if fault.times is not None:
                if fault.times <= 0:
                    return None
                fault.times -= 1
            return fault


class _SiteHandler(BaseHTTPRequestHandler):
    site: BundleSite
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.site.requests.append(path)
        fault = self.site.fault_for(path)
        file = (self.site.root / path.lstrip("/")).resolve()
        inside = file.is_relative_to(self.site.root.resolve())
        if (fault and fault.mode == "missing") or not inside or not file.is_file():
            self._answer(404, b"Not Found")
            return
        if fault and fault.mode == "error":
            self._answer(fault.status, b"Server error")
            return
        if fault and fault.mode == "endless":
            self._endless()
            return
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault and fault.mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault and fault.mode == "stall":
            self.wfile.write(body[:16])
            self.wfile.flush()
            self.site.stop.wait(30)
            self.close_connection = True
            return
        if fault and fault.mode == "drip":
            for byte in body:
                if self.site.stop.wait(fault.interval) or not self._send(bytes([byte])):
                    break
            self.close_connection = True
            return
        self.wfile.write(body)

    def _endless(self) -> None:
        """A body without a length, 64 KiB at a time, until the client hangs up (or the server stops)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"\0" * 65536
        while not self.site.stop.is_set() and self._send(chunk):
            pass

    def _send(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client hung up
            return False
        return True

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 (optionally TLS), started and stopped by the caller."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}/"

    def start(self) -> LocalServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class BundleServer(LocalServer):
    """Serves ``root`` (laid out as ``plugin/<latest|version>/<folder>/<file>``) with per-path faults."""

    def __init__(self, root: Path, tls: ssl.SSLContext | None = None):
        self.site = BundleSite(root)
        handler = type("Handler", (_SiteHandler,), {"site": self.site})
        super().__init__(handler, tls)

    @property
    def base(self) -> str:
        """The download base to pass as --download-url."""
        return self.url + "plugin/"

    def fault(self, relative: str, mode: str, **options: object) -> None:
        """Make ``plugin/<relative>`` misbehave (see :class:`Fault`)."""
        self.site.faults[f"/plugin/{relative}"] = Fault(mode, **options)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.site.stop.set()
        super().stop()


class _ProxyHandler(BaseHTTPRequestHandler):
    """A forward proxy for plain-HTTP GETs with absolute URIs (what urllib sends through HTTP_PROXY)."""

    proxied: list[str]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        target = urlsplit(self.path)
        self.proxied.append(self.path)
        connection = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=10)
        try:
            connection.request("GET", target.path or "/")
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        self.send_response(answer.status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Via", "1.1 test-proxy")
        self.end_headers()
        self.wfile.write(body)


class ForwardProxy(LocalServer):
    def __init__(self) -> None:
        self.proxied: list[str] = []
        handler = type("Handler", (_ProxyHandler,), {"proxied": self.proxied})
        super().__init__(handler)


class _BlockingProxyHandler(BaseHTTPRequestHandler):
    """A corporate proxy that refuses everything: tunnels (CONNECT) and plain-HTTP requests alike."""

    def _refuse(self) -> None:
        self.send_response(403, "Forbidden by policy")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_CONNECT = do_GET = do_HEAD = do_POST = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 (a certificate from a fresh CA, as a class lab makes them), and
    the CA's PEM file that clients trust."""
    from onboard.lab.tls import TlsFiles, ensure_tls

    tls = ensure_tls(TlsFiles(folder), "127.0.0.1")
    return tls.server_context(), tls.files.ca_cert


def publish(
    root: Path, signing_key, version: str = GOOD_VERSION, executable: bytes | None = None, **options
) -> list[Path]:
    """Publish a signed plugin download tree under ``root/plugin`` (see downloads.publish_tree)."""
    return downloads.publish_tree(
        root / "plugin", executable or stand_in_plugin(version), version, signing_key, **options
    )


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_signing_key():
    """An OpenPGP key standing in for AWS's (ECDSA nistp256, as AWS's is)."""
    from onboard.lab.signing import SigningKey

    return SigningKey.generate("onboard tests <tests@example.invalid>")


@pytest.fixture(scope="session")
def other_signing_key():
    """A second key nobody trusts, to make bad signatures."""
    from onboard.lab.signing import SigningKey

    return SigningKey.generate("someone else <mallory@example.invalid>")


@pytest.fixture
def trusted_keys(test_signing_key):
    """The test key as the installer's extra trusted keys."""
    from onboard.pgp import load_public_keys

    return load_public_keys(test_signing_key.public_key_armored())


@pytest.fixture
def bundle_server(tmp_path: Path) -> Iterator[BundleServer]:
    """An empty download site on 127.0.0.1; publish into ``server.site.root / "plugin"``."""
    root = tmp_path / "site"
    root.mkdir()
    server = BundleServer(root).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def plugin_site(bundle_server: BundleServer, test_signing_key) -> BundleServer:
    """The download site with a signed 1.2.764.0 in every format (latest and 1.2.764.0)."""
    publish(bundle_server.site.root, test_signing_key)
    return bundle_server


@pytest.fixture
def blocking_proxy() -> Iterator[str]:
    """The URL of a proxy on 127.0.0.1 that refuses every request (see _BlockingProxyHandler)."""
    proxy = LocalServer(_BlockingProxyHandler).start()
    try:
        yield proxy.url.rstrip("/")
    finally:
        proxy.stop()
