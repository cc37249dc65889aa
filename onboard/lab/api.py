"""The lab's HTTP layer: every AWS request checked as AWS checks it, the Session Manager API answered here,
everything else forwarded to moto.

One WSGI application on one port. For each AWS request:

- without a signature: refused (presigned URLs too: moto cannot check a signature in a query string);
- with one: :func:`onboard.lab.requestcheck.check_request` checks it the way AWS does (complete
  Authorization header, known and active key, signing time within the service's window, body size, the
  signature itself, the S3 signature before the body is read);
- S3 copies (CopyObject, UploadPartCopy) need ``s3:GetObject`` on the copy source as on AWS (moto
  authorises only the destination);
- ``X-Amz-Target: AmazonSSM.<op>`` for the session operations goes to :mod:`onboard.lab.ssmapi`; other
  JSON-protocol requests must be JSON (else AWS's SerializationException) and moto's XML errors for them are
  rewritten to AWS's JSON shape (``{"__type": ..., "message": ...}``);
- ``/moto-api/`` is not reachable (it would let anyone reset the lab);
- ``/_onboard/health`` answers unauthenticated, ``/_onboard/admin/...`` only with the lab's admin secret,
  and ``/_onboard/downloads/plugin/`` serves the lab's plugin bundles.

Each request's operation, caller and error code go to the lab log (:mod:`onboard.lab.requestlog`).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from onboard.lab import cloudformation, requestlog
from onboard.lab.awserrors import (
    ApiError,
    Protocol,
    StartResponse,
    error_code,
    error_response,
    respond,
    xml_error,
)
from onboard.lab.iampolicy import Decision, as_document, evaluate, principal_of
from onboard.lab.jsoninput import check_shape, parse_json_body
from onboard.lab.labstate import LabState
from onboard.lab.requestcheck import Checked, check_request
from onboard.lab.ssmapi import SESSION_OPERATIONS, SessionOperations, json_default

log = logging.getLogger("onboard.lab")

ADMIN_HEADER = "HTTP_X_ONBOARD_LAB_SECRET"
#: Admin requests are small JSON objects.
MAX_ADMIN_BODY = 64 * 1024

WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class LabApplication:
    """The WSGI application: see the module docstring."""

    def __init__(self, state: LabState, moto_app: WSGIApp):
        self.state = state
        self.moto_app = moto_app
        self.sessions = SessionOperations(state)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        requestlog.begin()
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_onboard/"):
            return self._onboard(path, environ, start_response)
        if path.startswith("/moto-api"):
            return respond(start_response, 404, b"Not Found", "text/plain")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        protocol = Protocol.JSON if target else Protocol.QUERY
        operation = target.split(".", 1)[-1] if target else ""
        try:
            if not environ.get("HTTP_AUTHORIZATION"):
                raise _unsigned(environ, protocol)
            checked = check_request(environ, self.state.account, self.state.clock_offsets)
            protocol = checked.protocol
            requestlog.note(caller=checked.name, operation=_operation_name(checked, operation))
            if protocol is Protocol.S3:
                self._authorize_copy_source(environ, checked)
            elif checked.service == "cloudformation":
                answered = self._cloudformation(checked, environ, start_response)
                if answered is not None:
                    return answered
            elif target.startswith("AmazonSSM.") and operation in SESSION_OPERATIONS:
                answer = self.sessions.handle(
                    operation, principal_of(checked.access_key), checked.body or b""
                )
                return respond(start_response, 200, answer, "application/x-amz-json-1.1")
            elif protocol is Protocol.JSON:
                # moto answers an HTML 500 for what is not JSON, or not of the operation's shape.
                request = parse_json_body(checked.body or b"")
                if target.startswith("AmazonSSM."):
                    check_shape(operation, request)
        except ApiError as error:
            requestlog.note(code=error.code)
            return error_response(start_response, error, protocol)
        except Exception as error:  # a lab bug: AWS's internal error, and one line in the log
            return _failed(start_response, protocol, operation, error)
        try:
            if protocol is Protocol.JSON:
                return self._forward_json(environ, start_response)
            forwarded = self._forward(environ, start_response, protocol)
            if checked.service == "cloudformation":
                with self._lock:
                    cloudformation.after_stack_request(self.state.account, self.state.region)
            return forwarded
        except Exception as error:  # moto failed on input AWS would refuse with a clearer error
            return _failed(start_response, protocol, operation, error)

    # --- S3 copies ----------------------------------------------------------------------------------------

    def _authorize_copy_source(self, environ: dict[str, Any], checked: Checked) -> None:
        """CopyObject and UploadPartCopy read the source: AWS requires s3:GetObject on it (moto does not)."""
        source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
        if not source or environ.get("REQUEST_METHOD") != "PUT":
            return
        parsed = urlparse(source)
        bucket, _, key = unquote(parsed.path).lstrip("/").partition("/")
        version = parse_qs(parsed.query).get("versionId")
        action = "s3:GetObjectVersion" if version else "s3:GetObject"
        principal = principal_of(checked.access_key)
        documents = [as_document(policy) for policy in checked.access_key.collect_policies()]
        if evaluate(documents, action, f"arn:aws:s3:::{bucket}/{key}", principal) is not Decision.ALLOWED:
            requestlog.note(operation=f"{action} (copy source)")
            raise ApiError("AccessDenied", "Access Denied", 403)

    # --- CloudFormation -------------------------------------------------------------------------------

    def _cloudformation(
        self, checked: Checked, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """DeleteStack run as CloudFormation runs it (onboard/lab/cloudformation.py), once the caller may."""
        action, params = cloudformation.operation_of(checked.body)
        if action == "ExecuteChangeSet":
            return self._execute_change_set(environ, start_response, params.get("StackName", ""))
        if action != "DeleteStack":
            return None
        name = params.get("StackName", "")
        stack_arn = f"arn:aws:cloudformation:{self.state.region}:{self.state.account}:stack/{name}/*"
        documents = [as_document(policy) for policy in checked.access_key.collect_policies()]
        principal = principal_of(checked.access_key)
        if evaluate(documents, "cloudformation:DeleteStack", stack_arn, principal) is not Decision.ALLOWED:
            return None  # moto refuses it, as AWS does
        with self._lock:
            answered = cloudformation.delete_stack(self.state.account, self.state.region, name)
        if not answered:
            return None
        return respond(start_response, 200, cloudformation.accepted("DeleteStack"), "text/xml")

    def _execute_change_set(
        self, environ: dict[str, Any], start_response: StartResponse, stack: str
    ) -> Iterable[bytes]:
        """Forward ExecuteChangeSet; a resource's failure becomes CloudFormation's rollback (roll_back)."""
        held: dict[str, Any] = {}

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            held["status"], held["headers"] = status, headers
            return lambda data: None

        body = _drain(self._forward(environ, hold, Protocol.QUERY))
        with self._lock:
            cloudformation.after_stack_request(self.state.account, self.state.region)
            failed = int(held["status"].split()[0]) >= 400
            if failed and cloudformation.roll_back(
                self.state.account, self.state.region, stack, *xml_error(body)
            ):
                requestlog.note(code="rolled back")
                return respond(start_response, 200, cloudformation.accepted("ExecuteChangeSet"), "text/xml")
        start_response(held["status"], held["headers"])
        return [body]

    # --- forwarding ------------------------------------------------------------------------------------

    def _forward(
        self, environ: dict[str, Any], start_response: StartResponse, protocol: Protocol
    ) -> Iterable[bytes]:
        """Hand the request to moto; an error answer's code goes to the log, and moto's own HTML page for
        what it failed on becomes the service's internal error (never an HTML page)."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self.moto_app(environ, capture)
        status = int(captured.get("status", "200").split()[0])
        if status < 400:
            start_response(captured["status"], captured["headers"])
            return chunks
        body = _drain(chunks)
        if _is_html(body):
            return error_response(start_response, _internal_error(protocol), protocol)
        requestlog.note(code=error_code(body, captured["headers"]))
        start_response(captured["status"], captured["headers"])
        return [body]

    def _forward_json(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Forward to moto; an XML error it gives a JSON-protocol client becomes AWS's JSON shape."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = _drain(self.moto_app(environ, capture))
        status = int(captured["status"].split()[0])
        if status >= 400 and _is_html(body):
            return error_response(start_response, _internal_error(Protocol.JSON), Protocol.JSON)
        if status >= 400 and body.lstrip().startswith(b"<"):
            code, message = xml_error(body)
            code = {
                "InvalidClientTokenId": "UnrecognizedClientException",
                "AccessDenied": "AccessDeniedException",
            }.get(code, code)
            requestlog.note(code=code)
            return error_response(start_response, ApiError(code, message, status), Protocol.JSON)
        if status >= 400:
            requestlog.note(code=error_code(body, captured["headers"]))
        start_response(captured["status"], captured["headers"])
        return [body]

    # --- /_onboard/ --------------------------------------------------------------------------------------

    def _onboard(self, path: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if path == "/_onboard/health":
            return respond(
                start_response,
                200,
                json.dumps({"ok": True, "lab_id": self.state.lab_id}).encode(),
                "application/json",
            )
        if path.startswith("/_onboard/downloads/plugin/"):
            return self._download(path[len("/_onboard/downloads/plugin/") :], start_response)
        if path.startswith("/_onboard/admin/"):
            given = environ.get(ADMIN_HEADER, "")
            if not self.state.admin_secret or not hmac.compare_digest(
                given.encode(), self.state.admin_secret.encode()
            ):
                return respond(
                    start_response,
                    403,
                    b'{"error": "the lab admin secret is missing or wrong"}',
                    "application/json",
                )
            handler = self.state.admin_handlers.get(path[len("/_onboard/admin/") :])
            if handler is None:
                return respond(
                    start_response, 404, b'{"error": "no such admin operation"}', "application/json"
                )
            try:
                request = json.loads(_admin_body(environ) or b"{}")
                with self._lock:
                    answer = handler(request)
            except Exception as error:  # an admin error is reported to the admin client, never hidden
                from onboard.errors import OnboardError

                message = (
                    error.message if isinstance(error, OnboardError) else f"{type(error).__name__}: {error}"
                )
                hint = error.hint if isinstance(error, OnboardError) else None
                # The exit code travels too: a name the lab does not know is a usage error at the client.
                code = int(error.exit_code) if isinstance(error, OnboardError) else 1
                return respond(
                    start_response,
                    400,
                    json.dumps({"error": message, "hint": hint, "exit_code": code}).encode(),
                    "application/json",
                )
            return respond(
                start_response, 200, json.dumps(answer, default=json_default).encode(), "application/json"
            )
        return respond(start_response, 404, b"Not Found", "text/plain")

    def _download(self, relative: str, start_response: StartResponse) -> Iterable[bytes]:
        root = self.state.downloads_dir
        if root is None:
            return respond(start_response, 404, b"The lab serves no plugin downloads.", "text/plain")
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
            return respond(start_response, 404, b"Not Found", "text/plain")
        return respond(start_response, 200, candidate.read_bytes(), "application/octet-stream")


# --- helpers ---------------------------------------------------------------------------------------------


def _unsigned(environ: dict[str, Any], protocol: Protocol) -> ApiError:
    """The refusal of a request without an Authorization header."""
    query = environ.get("QUERY_STRING", "")
    if "X-Amz-Signature=" in query or "Signature=" in query:
        # moto cannot check a signature carried in the query string, so the lab takes none.
        return ApiError(
            "AccessDenied",
            "The practice lab does not accept presigned URLs; copy files with `aws s3 cp`.",
            403,
        )
    if protocol is Protocol.JSON:
        return ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 400)
    return ApiError("AccessDenied", "Access Denied: the lab answers signed requests only.", 403)


def _operation_name(checked: Checked, operation: str) -> str:
    """service:Operation for the log, where the request names it before moto answers (JSON and query)."""
    if not operation and checked.body:
        operation = parse_qs(checked.body.decode("utf-8", errors="replace")).get("Action", [""])[0]
    return f"{checked.service}:{operation}" if operation else checked.service


def _failed(
    start_response: StartResponse, protocol: Protocol, operation: str, error: Exception
) -> list[bytes]:
    """AWS's internal error for a request the lab or moto failed on; one line in the log, no traceback."""
    log.error("the lab failed on %s: %s", operation or "a request", type(error).__name__)
    return error_response(start_response, _internal_error(protocol), protocol)


def _is_html(body: bytes) -> bool:
    """werkzeug's error page: what moto answers when it fails on a request (its traceback is in the log)."""
    return body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))


def _internal_error(protocol: Protocol) -> ApiError:
    """What each protocol's services answer when they fail on a request."""
    requestlog.note(code="InternalError (moto failed on the request)")
    if protocol is Protocol.S3:
        return ApiError("InternalError", "We encountered an internal error. Please try again.", 500)
    if protocol is Protocol.JSON:
        return ApiError("InternalServerError", "The practice lab could not answer this request.", 500)
    return ApiError("InternalFailure", "The request processing has failed because of an unknown error.", 500)


def _drain(chunks: Iterable[bytes]) -> bytes:
    try:
        return b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def _admin_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_ADMIN_BODY:
        raise ValueError(f"an admin request of {length} bytes; at most {MAX_ADMIN_BODY}")
    return environ["wsgi.input"].read(length) if length > 0 else b""
