"""Talking to a running lab from another process: signed AWS requests and the admin endpoint.

``onboard lab status|down|reset|fault`` use :class:`AdminClient` (requests carry the lab's admin secret,
read from its 0600 file); the server's warm-up and the tests use :func:`signed_request`. A class lab
serves HTTPS with a certificate from its own CA: callers pass ``tls``, a context that trusts that CA
(:meth:`onboard.lab.tls.LabTls.client_context`).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from onboard.errors import EnvironmentProblem, ExitCode, OnboardError, UsageError
from onboard.secrets import Secret

ADMIN_HEADER = "X-Onboard-Lab-Secret"


def signed_request(
    endpoint_url: str,
    service: str,
    region: str,
    access_key_id: str,
    secret_access_key: Secret,
    *,
    method: str = "POST",
    path: str = "/",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """Send one SigV4-signed request to the lab; return the status and body (errors included)."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=endpoint_url + path, data=body, headers=dict(headers or {}))
    auth_class = S3SigV4Auth if service == "s3" else SigV4Auth
    auth_class(Credentials(access_key_id, secret_access_key.reveal()), service, region).add_auth(request)
    prepared = request.prepare()
    outgoing = urllib.request.Request(  # noqa: S310 - the lab's endpoint
        prepared.url, data=body or None, method=method, headers=dict(prepared.headers)
    )
    return _send(outgoing, timeout, tls)


def _send(
    request: urllib.request.Request, timeout: float, tls: ssl.SSLContext | None = None
) -> tuple[int, bytes]:
    # Straight to the lab, never through HTTP(S)_PROXY: the lab runs on this machine (its state file is
    # here), and a proxy that cannot reach this machine's loopback made `onboard lab up` wait 60 s and fail
    # for everyone behind one.
    direct = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=tls)
    )
    try:
        # Only ever the lab's own URLs, built above.
        with direct.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class AdminClient:
    """The running lab's admin endpoint (/_onboard/admin/...)."""

    endpoint_url: str
    secret: str
    timeout: float = 30
    #: Trusts a class lab's CA (None: a plain-HTTP lab).
    tls: ssl.SSLContext | None = None

    def call(self, operation: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the lab's endpoint
            f"{self.endpoint_url}/_onboard/admin/{operation}",
            data=json.dumps(payload or {}).encode(),
            method="POST",
            headers={ADMIN_HEADER: self.secret, "Content-Type": "application/json"},
        )
        try:
            status, body = _send(request, self.timeout, self.tls)
        except OSError as error:
            raise EnvironmentProblem(
                f"the lab at {self.endpoint_url} does not answer: {getattr(error, 'reason', error)}",
                "Check it with `onboard lab status`; start it with `onboard lab up --detach`.",
            ) from None
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            answer = {"error": body.decode(errors="replace")[:200]}
        if status != 200:
            refused = f"the lab refused {operation}: {answer.get('error')}"
            if answer.get("exit_code") == ExitCode.USAGE:  # the lab judged the request's arguments
                raise UsageError(refused, answer.get("hint"))
            raise OnboardError(refused, answer.get("hint"))
        return answer


def health(endpoint_url: str, timeout: float = 2, tls: ssl.SSLContext | None = None) -> dict[str, Any] | None:
    """The lab's health answer, or None when nothing (or something else) answers there."""
    try:
        request = urllib.request.Request(f"{endpoint_url}/_onboard/health")  # noqa: S310 - the lab's
        status, body = _send(request, timeout, tls)
        return json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        return None
