"""The Session Manager operations the lab answers itself (moto has none of them).

StartSession, ResumeSession, TerminateSession, DescribeSessions, DescribeInstanceInformation and
GetConnectionStatus, authorised with :mod:`onboard.lab.iampolicy` against the real instance, document and
session ARNs, and answered from the :class:`~onboard.lab.sessions.SessionRegistry`.

Each request is first parsed and checked against the operation's input shape (:mod:`onboard.lab.jsoninput`).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from onboard.iamnames import document_arn
from onboard.lab.awserrors import ApiError
from onboard.lab.iampolicy import (
    Context,
    Decision,
    Principal,
    denial_message,
    evaluate,
    role_policies,
    user_policies,
)
from onboard.lab.jsoninput import check_shape, parse_json_body
from onboard.lab.preferences import settings_for
from onboard.lab.sessions import (
    DEFAULT_DOCUMENT,
    DOCUMENTS,
    HISTORY_STATUSES,
    PORT_DOCUMENTS,
    InvalidSessionParameters,
    LabSession,
    check_parameters,
)
from onboard.lab.world import WorldInstance
from onboard.team import INSTANCE_ID

if TYPE_CHECKING:
    from onboard.lab.labstate import LabState

SESSION_OPERATIONS = (
    "StartSession",
    "ResumeSession",
    "TerminateSession",
    "DescribeSessions",
    "DescribeInstanceInformation",
    "GetConnectionStatus",
)


def _tag_context(lab: LabState, instance_id: str) -> Context:
    """The instance's tags as the condition keys StartSession is evaluated with (AWS's Session Manager
    docs: ``ssm:resourceTag/<key>``; ``aws:ResourceTag/<key>`` is the global form)."""
    from moto.ec2.models import ec2_backends

    try:
        instance = ec2_backends[lab.account][lab.region].get_instance(instance_id)
    except Exception:  # not an EC2 instance of the lab: no tags to match
        return {}
    context: dict[str, list[str]] = {}
    for tag in instance.get_tags():
        for prefix in ("ssm:resourcetag/", "aws:resourcetag/"):
            context[prefix + tag["key"].lower()] = [tag["value"]]
    return context


class SessionOperations:
    """The operations, for one lab: ``handle(operation, principal, body)`` gives the JSON answer."""

    def __init__(self, lab: LabState):
        self.lab = lab

    def handle(self, operation: str, principal: Principal, body: bytes) -> bytes:
        request = parse_json_body(body)
        check_shape(operation, request)
        handler = getattr(self, "_op_" + operation)
        return json.dumps(handler(principal, request), default=json_default).encode()

    def _authorize(
        self, principal: Principal, action: str, resource: str, context: Context | None = None
    ) -> None:
        iam = self.lab.iam
        if principal.kind == "User":
            documents = user_policies(iam, principal.name)
        else:
            documents = role_policies(iam, principal.name)
        decision = evaluate(documents, action, resource, principal, context)
        if decision is not Decision.ALLOWED:
            raise ApiError(
                "AccessDeniedException", denial_message(principal, action, resource, decision), 400
            )

    def _op_StartSession(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        target = _required(request, "Target")
        document = request.get("DocumentName")
        self._authorize(
            principal, "ssm:StartSession", self._instance_arn(target), _tag_context(self.lab, target)
        )
        if document is not None:
            self._authorize(
                principal, "ssm:StartSession", document_arn(self.lab.region, self.lab.account, document)
            )
            if document not in DOCUMENTS:
                raise ApiError("InvalidDocument", f"Document with name {document} does not exist.")
        if not self.lab.agent_online(target):
            raise ApiError("TargetNotConnected", f"{target} is not connected.")
        try:
            parameters = check_parameters(document or DEFAULT_DOCUMENT, request.get("Parameters") or {})
        except InvalidSessionParameters as err:
            raise ApiError(err.code, str(err)) from None
        session_id = f"{principal.name}-{secrets.token_hex(9)[:17]}"
        settings = settings_for(self.lab, principal, session_id)
        # The agent logs shell sessions only: its port plugin (agent/session/plugins/port) writes no log.
        log_location = None if document in PORT_DOCUMENTS else settings.log_location
        session = LabSession(
            session_id=session_id,
            owner_arn=principal.arn,
            owner_name=principal.name,
            target=target,
            document_name=document or DEFAULT_DOCUMENT,
            parameters=parameters,
            reason=request.get("Reason"),
            output_url={
                "S3OutputUrl": self.lab.output_url(log_location),
                "CloudWatchOutputUrl": "",
            },
            run_as=settings.run_as,
            idle_minutes=settings.idle_minutes,
            log_location=log_location,
        )
        self.lab.registry.add(session)
        return self._stream_answer(session_id)

    def _op_ResumeSession(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        session_id = _required(request, "SessionId")
        self._authorize(principal, "ssm:ResumeSession", self.lab.session_arn(session_id))
        session = self.lab.registry.get(session_id)
        if session is None or not session.is_active:
            raise ApiError(
                "DoesNotExistException", f"Session with id {session_id} does not exist or is not active."
            )
        return self._stream_answer(session_id)

    def _stream_answer(self, session_id: str) -> dict[str, Any]:
        token = self.lab.registry.issue_token(session_id)
        if self.lab.stream_url is not None:
            url = self.lab.stream_url(session_id)
        else:
            url = (
                self.lab.endpoint_url.replace("http://", "ws://")
                + f"/v1/data-channel/{session_id}?role=publish_subscribe"
            )
        return {"SessionId": session_id, "TokenValue": token.reveal(), "StreamUrl": url}

    def _op_TerminateSession(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        session_id = _required(request, "SessionId")
        self._authorize(principal, "ssm:TerminateSession", self.lab.session_arn(session_id))
        # AWS answers success for an unknown or already ended session too.
        self.lab.registry.request_termination(session_id)
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
            for s in self.lab.registry.all()
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
            (item["key"], item["valueSet"]) for item in request.get("InstanceInformationFilterList") or []
        ] + [(item["Key"], item["Values"]) for item in request.get("Filters") or []]
        agents = self.lab.agents
        infos = [
            self._instance_information(spec)
            for spec in self.lab.world.instances
            if agents is None
            or not agents.knows(spec.instance_id)
            or agents.get(spec.instance_id).ever_registered
        ]
        for key, values in filters:
            if key == "InstanceIds":
                bad = [v for v in values if not INSTANCE_ID.fullmatch(v.removeprefix("m"))]
                if bad:
                    raise ApiError("InvalidInstanceId", f"Instance id {bad[0]} is not valid.")
            infos = [info for info in infos if _information_matches(info, key, values)]
        page, next_token = _page(infos, request, limit_range=(5, 50), default=50)
        return {"InstanceInformationList": page, **({"NextToken": next_token} if next_token else {})}

    def _instance_information(self, spec: WorldInstance) -> dict[str, Any]:
        online = self.lab.agent_online(spec.instance_id)
        agents = self.lab.agents
        agent = (
            agents.get(spec.instance_id) if agents is not None and agents.knows(spec.instance_id) else None
        )
        return {
            "InstanceId": spec.instance_id,
            "PingStatus": "Online" if online else "ConnectionLost",
            "LastPingDateTime": datetime.now(timezone.utc) if online else self.lab.started,
            "AgentVersion": (agent.version if agent is not None else None) or spec.agent_version,
            "IsLatestVersion": False,
            "PlatformType": spec.platform_type,
            "PlatformName": spec.platform,
            "PlatformVersion": spec.platform_version,
            "ResourceType": "EC2Instance",
            "IPAddress": spec.private_ip,
            "ComputerName": f"{spec.hostname}.{self.lab.region}.compute.internal",
            "IamRole": self.lab.roles.get(spec.instance_id, ""),
            "AssociationStatus": "Success",
            "SourceId": spec.instance_id,
            "SourceType": "AWS::EC2::Instance",
            "Name": spec.alias,
        }

    def _op_GetConnectionStatus(self, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
        target = _required(request, "Target")
        self._authorize(principal, "ssm:GetConnectionStatus", self._instance_arn(target))
        return {
            "Target": target,
            "Status": "connected" if self.lab.agent_online(target) else "notconnected",
        }

    def _instance_arn(self, target: str) -> str:
        return f"arn:aws:ec2:{self.lab.region}:{self.lab.account}:instance/{target}"


def _required(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value null at '{name[0].lower() + name[1:]}' failed to satisfy "
            "constraint: Member must not be null",
        )
    return value


def json_default(value: Any) -> Any:
    """Dates as AWS's JSON protocol sends them: seconds since the epoch."""
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


def _session_filter(item: dict[str, str]) -> Callable[[LabSession], bool]:
    """One DescribeSessions filter (key InvokedAfter|InvokedBefore|Target|Owner|Status|SessionId)."""
    key, value = item["key"], item["value"]
    if not value:
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
            start = -1
        if not 0 <= start <= len(items):
            raise ApiError("InvalidNextToken", "The specified token is not valid.")
    end = start + limit
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], next_token
