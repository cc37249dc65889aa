"""The lab's HTTP layer: the Session Manager API answered here, everything else forwarded to moto.

One WSGI application on one port. Requests with ``X-Amz-Target: AmazonSSM.<op>`` for the session
operations (StartSession, ResumeSession, TerminateSession, DescribeSessions, DescribeInstanceInformation,
GetConnectionStatus) are authenticated (SigV4, through moto's own request classes), authorised with
:mod:`onboard.lab.iampolicy` against the real instance, document and session ARNs, and answered from the
:class:`~onboard.lab.sessions.SessionRegistry`. Everything else goes to moto's server application in the
same process. On the way:

- requests without a signature, or signed with an unknown or deactivated key, are refused;
- moto's XML errors for JSON-protocol services are rewritten to AWS's JSON shape
  (``{"__type": ..., "message": ...}``);
- ``/moto-api/`` is not reachable (it would let anyone reset the lab);
- ``/_onboard/health`` answers unauthenticated, ``/_onboard/admin/...`` only with the lab's admin secret,
  and ``/_onboard/downloads/plugin/`` serves the lab's plugin bundles.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from onboard.iamnames import document_arn
from onboard.lab.iampolicy import (
    Context,
    Decision,
    Principal,
    denial_message,
    evaluate,
    role_policies,
    user_policies,
)
from onboard.lab.sessions import (
    DEFAULT_DOCUMENT,
    HISTORY_STATUSES,
    InvalidSessionParameters,
    LabSession,
    SessionRegistry,
    check_parameters,
)
from onboard.lab.world import World

SESSION_OPERATIONS = (
    "StartSession",
    "ResumeSession",
    "TerminateSession",
    "DescribeSessions",
    "DescribeInstanceInformation",
    "GetConnectionStatus",
)
DOCUMENTS = ("SSM-SessionManagerRunShell", "AWS-StartInteractiveCommand", "AWS-StartNonInteractiveCommand")
#: What the agent on an instance must be allowed to do to register and open sessions.
AGENT_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:OpenDataChannel",
)
ADMIN_HEADER = "HTTP_X_ONBOARD_LAB_SECRET"
_INSTANCE_ID = re.compile(r"^(i|mi)-[0-9a-f]{8,17}$")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ApiError(Exception):
    """An AWS error answer: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class LabState:
    """What the layer needs to answer: the world, its sessions, the faults in force, and where things are."""

    world: World
    registry: SessionRegistry
    #: instance id -> IAM role name of its instance profile.
    roles: dict[str, str]
    endpoint_url: str
    #: session id -> its data-channel URL; None while no data channel runs (then the URL leads nowhere).
    stream_url: Callable[[str], str] | None = None
    #: Instances whose agent the `agent-offline` fault stopped.
    offline: set[str] = field(default_factory=set)
    admin_secret: str = ""
    downloads_dir: Path | None = None
    #: Admin operations (faults, reset, shutdown, status), name -> handler(body) -> JSON-ready answer.
    admin_handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=dict)
    lab_id: str = field(default_factory=lambda: secrets.token_hex(8))
    #: The instances' SSM agents (onboard.lab.agent.AgentFleet); None: every role-allowed agent is Online.
    agents: Any = None

    @property
    def account(self) -> str:
        return self.world.account

    @property
    def region(self) -> str:
        return self.world.region

    def session_arn(self, session_id: str) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:session/{session_id}"

    def output_url(self, session_id: str) -> str:
        """Where a session's transcript goes: the log bucket, path-style on the lab's own endpoint."""
        return f"{self.endpoint_url}/{self.world.log_bucket}/{self.log_key(session_id)}"

    def log_key(self, session_id: str) -> str:
        return f"{self.world.log_prefix}{session_id}.log"

    def agent_online(self, instance_id: str) -> bool:
        """Online: the agent runs, registered when it started, and its role still lets it (lab/agent.py)."""
        if instance_id in self.offline:
            return False
        if self.agents is not None and self.agents.knows(instance_id):
            return bool(self.agents.online(instance_id))
        return self.role_allows_agent(instance_id)

    def role_allows_agent(self, instance_id: str) -> bool:
        """Whether the role of the instance's profile lets its agent register (the seed's instance policy)."""
        from onboard.lab.agent import instance_role

        role = instance_role(self.account, self.region, instance_id)
        if role is None:
            return False
        iam = _iam(self.account)
        try:
            documents = role_policies(iam, role)
        except Exception:  # the role was deleted by hand: the agent cannot authenticate
            return False
        principal = Principal(
            arn=f"arn:aws:sts::{self.account}:assumed-role/{role}/{instance_id}",
            name=role,
            user_id=instance_id,
            kind="AssumedRole",
        )
        return all(
            evaluate(documents, action, "*", principal) is Decision.ALLOWED for action in AGENT_ACTIONS
        )


def _tag_context(state: LabState, instance_id: str) -> Context:
    """The instance's tags as the condition keys StartSession is evaluated with (AWS's Session Manager
    docs: ``ssm:resourceTag/<key>``; ``aws:ResourceTag/<key>`` is the global form)."""
    from moto.ec2.models import ec2_backends

    try:
        instance = ec2_backends[state.account][state.region].get_instance(instance_id)
    except Exception:  # not an EC2 instance of the lab: no tags to match
        return {}
    context: dict[str, list[str]] = {}
    for tag in instance.get_tags():
        for prefix in ("ssm:resourcetag/", "aws:resourcetag/"):
            context[prefix + tag["key"].lower()] = [tag["value"]]
    return context


def _iam(account: str):
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


class LabApplication:
    """The WSGI application: see the module docstring."""

    def __init__(self, state: LabState, moto_app: WSGIApp):
        self.state = state
        self.moto_app = moto_app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_onboard/"):
            return self._onboard(path, environ, start_response)
        if path.startswith("/moto-api"):
            return _respond(start_response, 404, b"Not Found", "text/plain")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        is_json = bool(target)
        try:
            self._refuse_unauthenticated(environ, is_json)
            if target.startswith("AmazonSSM.") and target[len("AmazonSSM.") :] in SESSION_OPERATIONS:
                return self._session_operation(target[len("AmazonSSM.") :], environ, start_response)
        except ApiError as error:
            return _error_response(start_response, error, as_json=is_json or target.startswith("AmazonSSM."))
        if is_json:
            return self._forward_json(environ, start_response)
        return self.moto_app(environ, start_response)

    # --- authentication ------------------------------------------------------------------------------

    def _refuse_unauthenticated(self, environ: dict[str, Any], is_json: bool) -> None:
        """No signature, or a key that does not exist or is deactivated: refuse before moto sees it."""
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        match = _CREDENTIAL.search(authorization)
        if not authorization:
            query = environ.get("QUERY_STRING", "")
            if "X-Amz-Signature=" in query or "Signature=" in query:
                # moto cannot check a signature carried in the query string, so the lab takes none.
                raise ApiError(
                    "AccessDenied",
                    "The practice lab does not accept presigned URLs; copy files with `aws s3 cp`.",
                    403,
                )
            if is_json:
                raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 400)
            raise ApiError("AccessDenied", "Access Denied: the lab answers signed requests only.", 403)
        if not match:
            raise ApiError(
                "IncompleteSignature", "Authorization header requires 'Credential' parameter.", 400
            )
        key_id = match.group(1)
        key = _iam(self.state.account).access_keys.get(key_id)
        if key is None and key_id.startswith("ASIA"):
            return  # an instance role's temporary credentials: moto's STS backend checks them
        if key is None or key.status != "Active":
            if is_json:
                raise ApiError(
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                    400,
                )
            raise ApiError(
                "InvalidClientTokenId", "The security token included in the request is invalid.", 403
            )

    def _authenticate(self, operation: str, environ: dict[str, Any], body: bytes) -> Principal:
        """Check the SigV4 signature with moto's request machinery; return who signed."""
        from moto.core.exceptions import HTTPException
        from moto.iam.access_control import IAMRequest
        from werkzeug.datastructures import EnvironHeaders

        from onboard.lab.iampolicy import principal_of

        headers = EnvironHeaders(environ)
        try:
            request = IAMRequest(
                account_id=self.state.account,
                method=environ.get("REQUEST_METHOD", "POST"),
                path=environ.get("RAW_URI") or environ.get("PATH_INFO", "/"),
                data={},
                body=body,
                headers=headers,  # type: ignore[arg-type]  # a Mapping, as moto reads it
                action=operation,
            )
            request.check_signature()
        except HTTPException as error:
            code = getattr(error, "error_type", "UnrecognizedClientException")
            if code == "InvalidClientTokenId":
                code = "UnrecognizedClientException"
            raise ApiError(
                code, getattr(error, "message", str(error)), 400 if code != "SignatureDoesNotMatch" else 403
            ) from None
        return principal_of(request._access_key)

    def _authorize(
        self, principal: Principal, action: str, resource: str, context: Context | None = None
    ) -> None:
        iam = _iam(self.state.account)
        if principal.kind == "User":
            documents = user_policies(iam, principal.name)
        else:
            documents = role_policies(iam, principal.name)
        decision = evaluate(documents, action, resource, principal, context)
        if decision is not Decision.ALLOWED:
            raise ApiError(
                "AccessDeniedException", denial_message(principal, action, resource, decision), 400
            )

    # --- the session operations ----------------------------------------------------------------------

    def _session_operation(self, operation: str, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        body = _read_body(environ)
        principal = self._authenticate(operation, environ, body)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise ApiError("SerializationException", "The request body is not valid JSON.") from None
        if not isinstance(request, dict):
            raise ApiError("SerializationException", "The request body must be a JSON object.")
        handler = getattr(self, "_op_" + operation)
        answer = handler(principal, request)
        return _respond(
            start_response,
            200,
            json.dumps(answer, default=_json_default).encode(),
            "application/x-amz-json-1.1",
        )

    def _op_StartSession(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        target = _required(request, "Target")
        document = request.get("DocumentName")
        self._authorize(
            principal, "ssm:StartSession", self._instance_arn(target), _tag_context(self.state, target)
        )
        if document is not None:
            self._authorize(
                principal, "ssm:StartSession", document_arn(self.state.region, self.state.account, document)
            )
            if document not in DOCUMENTS:
                raise ApiError("InvalidDocument", f"Document with name {document} does not exist.")
        if not self.state.agent_online(target):
            raise ApiError("TargetNotConnected", f"{target} is not connected.")
        try:
            parameters = check_parameters(document or DEFAULT_DOCUMENT, request.get("Parameters") or {})
        except InvalidSessionParameters as err:
            raise ApiError(err.code, str(err)) from None
        session_id = f"{principal.name}-{secrets.token_hex(9)[:17]}"
        session = LabSession(
            session_id=session_id,
            owner_arn=principal.arn,
            owner_name=principal.name,
            target=target,
            document_name=document or DEFAULT_DOCUMENT,
            parameters=parameters,
            reason=request.get("Reason"),
            output_url={"S3OutputUrl": self.state.output_url(session_id), "CloudWatchOutputUrl": ""},
        )
        self.state.registry.add(session)
        return self._stream_answer(session_id)

    def _op_ResumeSession(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        session_id = _required(request, "SessionId")
        self._authorize(principal, "ssm:ResumeSession", self.state.session_arn(session_id))
        session = self.state.registry.get(session_id)
        if session is None or not session.is_active:
            raise ApiError(
                "DoesNotExistException", f"Session with id {session_id} does not exist or is not active."
            )
        return self._stream_answer(session_id)

    def _stream_answer(self, session_id: str) -> dict[str, Any]:
        token = self.state.registry.issue_token(session_id)
        if self.state.stream_url is not None:
            url = self.state.stream_url(session_id)
        else:
            url = (
                self.state.endpoint_url.replace("http://", "ws://")
                + f"/v1/data-channel/{session_id}?role=publish_subscribe"
            )
        return {"SessionId": session_id, "TokenValue": token.reveal(), "StreamUrl": url}

    def _op_TerminateSession(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        session_id = _required(request, "SessionId")
        self._authorize(principal, "ssm:TerminateSession", self.state.session_arn(session_id))
        # AWS answers success for an unknown or already ended session too.
        self.state.registry.request_termination(session_id)
        return {"SessionId": session_id}

    def _op_DescribeSessions(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        self._authorize(principal, "ssm:DescribeSessions", "*")
        state = _required(request, "State")
        if state not in ("Active", "History"):
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value '{state}' at 'state' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Active, History]",
            )
        matches = [_session_filter(f) for f in request.get("Filters") or []]
        sessions = [
            s
            for s in self.state.registry.all()
            if (s.status in HISTORY_STATUSES) == (state == "History") and all(match(s) for match in matches)
        ]
        sessions.sort(key=lambda s: s.start_date, reverse=True)
        page, next_token = _page(sessions, request, limit_range=(1, 200), default=20)
        return {
            "Sessions": [_describe_session(s) for s in page],
            **({"NextToken": next_token} if next_token else {}),
        }

    def _op_DescribeInstanceInformation(
        self, principal: Principal, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._authorize(principal, "ssm:DescribeInstanceInformation", "*")
        filters = [
            (item.get("key"), item.get("valueSet") or [])
            for item in request.get("InstanceInformationFilterList") or []
        ] + [(item.get("Key"), item.get("Values") or []) for item in request.get("Filters") or []]
        infos = [
            self._instance_information(spec)
            for spec in self.state.world.instances
            if self.state.agents is None
            or not self.state.agents.knows(spec.instance_id)
            or self.state.agents.get(spec.instance_id).ever_registered
        ]
        for key, values in filters:
            if key == "InstanceIds":
                bad = [v for v in values if not _INSTANCE_ID.match(v)]
                if bad:
                    raise ApiError("InvalidInstanceId", f"Instance id {bad[0]} is not valid.")
            infos = [info for info in infos if _information_matches(info, key, values)]
        page, next_token = _page(infos, request, limit_range=(5, 50), default=50)
        return {"InstanceInformationList": page, **({"NextToken": next_token} if next_token else {})}

    def _instance_information(self, spec) -> dict[str, Any]:
        online = self.state.agent_online(spec.instance_id)
        agents = self.state.agents
        agent = (
            agents.get(spec.instance_id) if agents is not None and agents.knows(spec.instance_id) else None
        )
        return {
            "InstanceId": spec.instance_id,
            "PingStatus": "Online" if online else "ConnectionLost",
            "LastPingDateTime": datetime.now(timezone.utc) if online else self._started,
            "AgentVersion": (agent.version if agent is not None else None) or spec.agent_version,
            "IsLatestVersion": False,
            "PlatformType": spec.platform_type,
            "PlatformName": spec.platform,
            "PlatformVersion": spec.platform_version,
            "ResourceType": "EC2Instance",
            "IPAddress": spec.private_ip,
            "ComputerName": f"{spec.hostname}.{self.state.region}.compute.internal",
            "IamRole": self.state.roles.get(spec.instance_id, ""),
            "AssociationStatus": "Success",
            "SourceId": spec.instance_id,
            "SourceType": "AWS::EC2::Instance",
            "Name": spec.alias,
        }

    _started = datetime.now(timezone.utc)

    def _op_GetConnectionStatus(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        target = _required(request, "Target")
        self._authorize(principal, "ssm:GetConnectionStatus", self._instance_arn(target))
        return {
            "Target": target,
            "Status": "connected" if self.state.agent_online(target) else "notconnected",
        }

    def _instance_arn(self, target: str) -> str:
        return f"arn:aws:ec2:{self.state.region}:{self.state.account}:instance/{target}"

    # --- forwarding ------------------------------------------------------------------------------------

    def _forward_json(self, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        """Forward to moto; an XML error it gives a JSON-protocol client becomes AWS's JSON shape."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self.moto_app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        status = int(captured["status"].split()[0])
        if status >= 400 and body.lstrip().startswith(b"<"):
            code, message = _xml_error(body)
            if code == "InvalidClientTokenId":
                code = "UnrecognizedClientException"
            if code == "AccessDenied":
                code = "AccessDeniedException"
            return _error_response(start_response, ApiError(code, message, status), as_json=True)
        start_response(captured["status"], captured["headers"])
        return [body]

    # --- /_onboard/ --------------------------------------------------------------------------------------

    def _onboard(self, path: str, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        if path == "/_onboard/health":
            return _respond(
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
                return _respond(
                    start_response,
                    403,
                    b'{"error": "the lab admin secret is missing or wrong"}',
                    "application/json",
                )
            handler = self.state.admin_handlers.get(path[len("/_onboard/admin/") :])
            if handler is None:
                return _respond(
                    start_response, 404, b'{"error": "no such admin operation"}', "application/json"
                )
            try:
                request = json.loads(_read_body(environ) or b"{}")
                with self._lock:
                    answer = handler(request)
            except Exception as error:  # an admin error is reported to the admin client, never hidden
                from onboard.errors import OnboardError

                message = (
                    error.message if isinstance(error, OnboardError) else f"{type(error).__name__}: {error}"
                )
                hint = error.hint if isinstance(error, OnboardError) else None
                return _respond(
                    start_response,
                    400,
                    json.dumps({"error": message, "hint": hint}).encode(),
                    "application/json",
                )
            return _respond(
                start_response, 200, json.dumps(answer, default=_json_default).encode(), "application/json"
            )
        return _respond(start_response, 404, b"Not Found", "text/plain")

    def _download(self, relative: str, start_response) -> Iterable[bytes]:
        root = self.state.downloads_dir
        if root is None:
            return _respond(start_response, 404, b"The lab serves no plugin downloads.", "text/plain")
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
            return _respond(start_response, 404, b"Not Found", "text/plain")
        return _respond(start_response, 200, candidate.read_bytes(), "application/octet-stream")


# --- helpers ---------------------------------------------------------------------------------------------


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _respond(
    start_response, status: int, body: bytes, content_type: str, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    from http import HTTPStatus

    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


def _error_response(start_response, error: ApiError, *, as_json: bool) -> list[bytes]:
    if as_json:
        body = json.dumps({"__type": error.code, "message": error.message}).encode()
        return _respond(
            start_response,
            error.status,
            body,
            "application/x-amz-json-1.1",
            [("x-amzn-ErrorType", error.code)],
        )
    from xml.sax.saxutils import escape

    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
        f"<Code>{escape(error.code)}</Code>"
        f"<Message>{escape(error.message)}</Message></Error><RequestId>{secrets.token_hex(16)}</RequestId></ErrorResponse>"
    ).encode()
    return _respond(start_response, error.status, body, "text/xml")


def _xml_error(body: bytes) -> tuple[str, str]:
    """The code and message of one of moto's XML errors."""
    from xml.sax.saxutils import unescape

    text = body.decode("utf-8", errors="replace")
    code = re.search(r"<Code>(.*?)</Code>", text, re.DOTALL)
    message = re.search(r"<Message>(.*?)</Message>", text, re.DOTALL)
    return (
        unescape(code.group(1)) if code else "UnknownError",
        unescape(message.group(1)) if message else text[:200],
    )


def _required(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value null at '{name[0].lower() + name[1:]}' failed to satisfy "
            "constraint: Member must not be null",
        )
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def _describe_session(session: LabSession) -> dict[str, Any]:
    described: dict[str, Any] = {
        "SessionId": session.session_id,
        "Target": session.target,
        "Status": session.status,
        "StartDate": session.start_date,
        "DocumentName": session.document_name,
        "Owner": session.owner_arn,
        "OutputUrl": session.output_url,
        "MaxSessionDuration": str(session.max_session_minutes),
    }
    if session.end_date is not None:
        described["EndDate"] = session.end_date
    if session.reason:
        described["Reason"] = session.reason
    return described


_SESSION_STATUSES = ("Connected", "Connecting", "Disconnected", "Terminated", "Terminating", "Failed")


def _session_filter(item: Any) -> Callable[[LabSession], bool]:
    """One DescribeSessions filter (key InvokedAfter|InvokedBefore|Target|Owner|Status|SessionId)."""
    key = item.get("key") if isinstance(item, dict) else None
    value = item.get("value") if isinstance(item, dict) else None
    if not isinstance(value, str) or not value:
        raise ApiError("ValidationException", f"Filter {key} needs a value.")
    if key in ("InvokedAfter", "InvokedBefore"):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(
                "ValidationException",
                f"Filter {key} value {value!r} is not a date like 2018-08-29T00:00:00Z.",
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if key == "InvokedAfter":
            return lambda s: s.start_date >= moment
        return lambda s: s.start_date <= moment
    if key == "Target":
        return lambda s: s.target == value
    if key == "Owner":
        return lambda s: value in (s.owner_arn, s.owner_name)
    if key == "Status":
        if value not in _SESSION_STATUSES:
            raise ApiError(
                "ValidationException",
                f"Status filter value {value!r} is not one of {', '.join(_SESSION_STATUSES)}.",
            )
        return lambda s: s.status == value
    if key == "SessionId":
        return lambda s: s.session_id == value
    raise ApiError(
        "InvalidFilterKey",
        f"The filter key {key} is not valid. "
        "Use InvokedAfter, InvokedBefore, Target, Owner, Status or SessionId.",
    )


_INFORMATION_KEYS = {
    "InstanceIds": "InstanceId",
    "AgentVersion": "AgentVersion",
    "PingStatus": "PingStatus",
    "PlatformTypes": "PlatformType",
    "PlatformType": "PlatformType",
    "ResourceType": "ResourceType",
    "IamRole": "IamRole",
    "AssociationStatus": "AssociationStatus",
}


def _information_matches(info: dict[str, Any], key: str | None, values: list[str]) -> bool:
    if key and key.startswith("tag:"):
        return key == "tag:Name" and info["Name"] in values
    field_name = _INFORMATION_KEYS.get(key or "")
    if field_name is None:
        raise ApiError("InvalidInstanceInformationFilterValue", f"The filter key {key} is not valid.")
    return info[field_name] in values


def _page(
    items: list[Any], request: dict[str, Any], *, limit_range: tuple[int, int], default: int
) -> tuple[list[Any], str | None]:
    limit = request.get("MaxResults", default)
    if not isinstance(limit, int) or not limit_range[0] <= limit <= limit_range[1]:
        raise ApiError(
            "ValidationException", f"MaxResults must be between {limit_range[0]} and {limit_range[1]}."
        )
    start = 0
    token = request.get("NextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except ValueError:
            raise ApiError("InvalidNextToken", "The specified token is not valid.") from None
    end = start + limit
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], next_token
