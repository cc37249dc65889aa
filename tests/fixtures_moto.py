"""AWS on 127.0.0.1 for the tests: moto's real HTTP server, and small servers that answer as AWS does
when something is wrong that moto cannot reproduce (a skewed clock, an expired token, a stall); plus
the IAM console's credentials CSV and reading back the AWS files, for the identity and setup tests.

Import the fixtures explicitly: ``from fixtures_moto import moto_server``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class UserKey:
    user_name: str
    access_key_id: str
    secret_access_key: str
    arn: str


@dataclass
class MotoServer:
    url: str
    users: list[UserKey] = field(default_factory=list)

    def _post(self, path: str, body: bytes) -> bytes:
        request = urllib.request.Request(
            self.url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        # Straight to the loopback server: a test's HTTP_PROXY is still set when this fixture's teardown
        # resets moto, and urlopen's first use would also build the process's shared opener with it.
        with _DIRECT.open(request, timeout=10) as answer:
            return answer.read()

    def create_user(self, user_name: str = "alice") -> UserKey:
        """An IAM user with an access key, created through boto3 against the server."""
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        user = iam.create_user(UserName=user_name)["User"]
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        made = UserKey(user_name, key["AccessKeyId"], key["SecretAccessKey"], user["Arn"])
        self.users.append(made)
        return made

    def enable_auth(self) -> None:
        """From now on, moto checks every request's key and signature, as AWS does."""
        self._post("/moto-api/reset-auth", b"0")

    def reset(self) -> None:
        # moto keeps its state and its auth switch in this process: leave both as other tests expect them.
        self._post("/moto-api/reset-auth", b"inf")
        self._post("/moto-api/reset", b"")


@pytest.fixture
def moto_server() -> Iterator[MotoServer]:
    """moto's server on a free loopback port, auth off (create users first, then ``enable_auth()``)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto = MotoServer(url=f"http://{host}:{port}")
    try:
        yield moto
    finally:
        moto.reset()
        server.stop()


@pytest.fixture
def authenticated_user(moto_server: MotoServer) -> UserKey:
    """One IAM user with a real access key, and moto checking signatures from then on."""
    user = moto_server.create_user("alice")
    moto_server.enable_auth()
    return user


def write_profile(
    home: Path,
    profile: str,
    *,
    key: UserKey | None = None,
    access_key_id: str | None = None,
    secret: str | None = None,
    session_token: str | None = None,
    region: str = "eu-west-1",
    endpoint_url: str | None = None,
) -> None:
    """A plain ~/.aws pair for ``profile`` (the wizard's own writer is tested elsewhere)."""
    aws = home / ".aws"
    aws.mkdir(exist_ok=True)
    config = f"[profile {profile}]\nregion = {region}\n"
    if endpoint_url:
        config += f"endpoint_url = {endpoint_url}\n"
    credentials = f"[{profile}]\n"
    key_id = access_key_id or (key.access_key_id if key else None)
    secret = secret or (key.secret_access_key if key else None)
    if key_id:
        credentials += f"aws_access_key_id = {key_id}\n"
    if secret:
        credentials += f"aws_secret_access_key = {secret}\n"
    if session_token:
        credentials += f"aws_session_token = {session_token}\n"
    (aws / "config").write_text(config, encoding="utf-8")
    (aws / "credentials").write_text(credentials, encoding="utf-8")


def access_key_csv(folder: Path, key: UserKey, *, secret: str | None = None) -> Path:
    """The access-key CSV as the IAM console downloads it (a UTF-8 BOM, CRLF)."""
    path = folder / f"{key.user_name}_accessKeys.csv"
    body = f"Access key ID,Secret access key\r\n{key.access_key_id},{secret or key.secret_access_key}\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    return path


def aws_files(home: Path) -> dict[str, bytes | None]:
    """The bytes of ~/.aws/config and ~/.aws/credentials (None: missing)."""
    result: dict[str, bytes | None] = {}
    for name in ("config", "credentials"):
        path = home / ".aws" / name
        result[name] = path.read_bytes() if path.exists() else None
    return result


def read_profile(profile: str) -> dict[str, str]:
    """The profile as botocore reads it (config and credentials merged)."""
    import botocore.session

    return dict(botocore.session.Session().full_config["profiles"][profile])


def setup_args(moto_url: str, *extra: str) -> list[str]:
    """The flags every unattended test run shares: no plugin download, the local STS, no prompts."""
    return ["setup", "--no-plugin", "--no-aws-cli", "--endpoint-url", moto_url, *extra]


# --------------------------------------------------------------- what AWS says that moto cannot reproduce


@dataclass
class AwsAnswer:
    """How the fake endpoint answers: an STS error (or success) and how far its clock is off ours."""

    status: int = 403
    code: str = "SignatureDoesNotMatch"
    message: str = ""
    clock_offset: timedelta = timedelta(0)
    stall_seconds: float = 0.0


class _AwsLikeHandler(BaseHTTPRequestHandler):
    answer: AwsAnswer
    stop: threading.Event

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.answer.stall_seconds:
            self.stop.wait(self.answer.stall_seconds)
            return
        now = datetime.now(timezone.utc) + self.answer.clock_offset
        if self.answer.status == 200:
            body = (
                '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/skewed</Arn>"
                "<UserId>AIDAEXAMPLEEXAMPLE0001</UserId><Account>123456789012</Account>"
                "</GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
                "</GetCallerIdentityResponse>"
            )
        else:
            body = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                f"<Code>{self.answer.code}</Code><Message>{self.answer.message}</Message></Error>"
                "<RequestId>r-1</RequestId></ErrorResponse>"
            )
        data = body.encode()
        self.send_response_only(self.answer.status)
        self.send_header("Date", format_datetime(now, usegmt=True))
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "r-1")
        self.end_headers()
        self.wfile.write(data)


@dataclass
class AwsLikeServer:
    url: str
    answer: AwsAnswer


@contextlib.contextmanager
def serve_aws_like(tls: ssl.SSLContext | None = None) -> Iterator[AwsLikeServer]:
    """An endpoint answering STS as AWS would (over TLS with ``tls``); set ``.answer`` to choose what."""
    stop = threading.Event()
    answer = AwsAnswer()
    handler = type("Handler", (_AwsLikeHandler,), {"answer": answer, "stop": stop})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield AwsLikeServer(url=f"{scheme}://127.0.0.1:{server.server_address[1]}", answer=answer)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def aws_like_server() -> Iterator[AwsLikeServer]:
    """An endpoint answering STS as AWS would; set ``.answer`` to choose what it says."""
    with serve_aws_like() as server:
        yield server


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
