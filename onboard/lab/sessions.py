"""The lab's sessions: the contract between the API layer and the data-channel server.

The API layer (StartSession, ResumeSession, TerminateSession, DescribeSessions) creates and ends
:class:`LabSession` records in a :class:`SessionRegistry`; the data-channel server redeems the
single-use stream tokens the registry issues, runs the shell on the :class:`LabInstance`, and reports
the end of the session (with its transcript) back to the registry. Everything here is thread-safe:
the API layer runs in WSGI worker threads, the data channel in an asyncio loop.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from onboard.secrets import Secret

#: Session statuses as DescribeSessions reports them.
ACTIVE_STATUSES = ("Connecting", "Connected", "Disconnected", "Terminating")
HISTORY_STATUSES = ("Terminated", "Failed")

DEFAULT_DOCUMENT = "SSM-SessionManagerRunShell"
INTERACTIVE_COMMAND = "AWS-StartInteractiveCommand"
NON_INTERACTIVE_COMMAND = "AWS-StartNonInteractiveCommand"
PORT_DOCUMENT = "AWS-StartPortForwardingSession"
REMOTE_HOST_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
PORT_DOCUMENTS = (PORT_DOCUMENT, REMOTE_HOST_DOCUMENT)
DOCUMENTS = (DEFAULT_DOCUMENT, INTERACTIVE_COMMAND, NON_INTERACTIVE_COMMAND, *PORT_DOCUMENTS)
#: AWS's port documents' allowedPattern for portNumber (1-65535) and localPortNumber (0-65535).
_PORT = re.compile(r"[0-9]{1,5}")

#: The lab's maximum session duration: AWS's longest setting, 24 hours. DescribeSessions gives it in
#: minutes, as a string ("1440"), as AWS does.
MAX_SESSION_MINUTES = 24 * 60


class InvalidSessionParameters(ValueError):
    """StartSession parameters a document cannot take; ``code`` is the error code AWS answers with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_parameters(document: str, parameters: object) -> dict[str, list[str]]:
    """The StartSession ``Parameters`` of ``document``, checked as AWS checks them: a map of names to
    lists of strings (else ValidationException), with ``command`` for the command documents (else
    InvalidParameters). The data channel checks again before it runs anything."""
    if not isinstance(parameters, dict) or not all(
        isinstance(name, str) and isinstance(values, list) and all(isinstance(v, str) for v in values)
        for name, values in parameters.items()
    ):
        raise InvalidSessionParameters(
            "ValidationException",
            "1 validation error detected: Value at 'parameters' failed to satisfy constraint: "
            "Member must be a map of parameter names to lists of strings.",
        )
    if document in (INTERACTIVE_COMMAND, NON_INTERACTIVE_COMMAND) and not "".join(
        parameters.get("command") or []
    ):
        raise InvalidSessionParameters(
            "InvalidParameters", f"Document {document} requires parameter command."
        )
    if document in PORT_DOCUMENTS:
        _check_ports(document, parameters)
    return parameters


def _check_ports(document: str, parameters: dict[str, list[str]]) -> None:
    for name, lowest in (("portNumber", 1), ("localPortNumber", 0)):
        for value in parameters.get(name) or []:
            if not _PORT.fullmatch(value) or not lowest <= int(value) <= 65535:
                raise InvalidSessionParameters(
                    "InvalidParameters",
                    f'Parameter "{name}" "{value}" failed to satisfy constraint: a port, {lowest} to 65535.',
                )
    if document == REMOTE_HOST_DOCUMENT and not "".join(parameters.get("host") or []):
        raise InvalidSessionParameters("InvalidParameters", f"Document {document} requires parameter host.")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class LabInstance:
    """One lab EC2 instance as the data channel needs it: who may be on it and where its world is."""

    instance_id: str
    name: str
    #: OS users that exist on the instance besides ssm-user (sudo can switch to them).
    users: list[str]
    #: The instance's folder tree: ``root / "home" / USER`` is each user's HOME.
    root: Path
    region: str
    #: The lab's API endpoint, for ``aws`` run on the instance.
    endpoint_url: str
    #: The instance role's lab credentials, for ``aws s3 cp`` on the instance.
    role_access_key_id: str
    role_secret_access_key: Secret
    #: Instance roles hand out temporary credentials (AWS_SESSION_TOKEN on the instance), as on EC2.
    role_session_token: Secret | None = None
    platform_name: str = "Amazon Linux"
    hostname: str = ""
    #: Its address in the lab's VPC: what a port session to a remote host behind another instance dials.
    private_ip: str = ""
    #: Its web applications, (name, port): what a port session to it reaches (onboard.lab.ports).
    services: tuple[tuple[str, int], ...] = ()
    #: The version its SSM agent reports in each session's handshake (the plugin picks how it forwards
    #: ports from it), as in DescribeInstanceInformation.
    agent_version: str = "3.3.0.0"
    #: A class lab's CA certificate (its endpoint is https): what ``aws`` on the instance trusts.
    ca_bundle: Path | None = None

    def home_of(self, user: str) -> Path:
        return self.root / "home" / user

    def answers_to(self, host: str) -> bool:
        """Whether ``host`` names this instance in its VPC: its private address, or its host name
        (``ip-10-0-1-23``) alone or as a private DNS name (with ``.ec2.internal`` in us-east-1,
        ``.<region>.compute.internal`` elsewhere)."""
        domain = "ec2.internal" if self.region == "us-east-1" else f"{self.region}.compute.internal"
        names = {self.private_ip} | ({self.hostname, f"{self.hostname}.{domain}"} if self.hostname else set())
        return host.lower().rstrip(".") in names - {""}


@dataclass
class LabSession:
    session_id: str
    owner_arn: str
    #: The IAM user name of the owner (the ``${aws:username}`` of the session ARN).
    owner_name: str
    target: str
    document_name: str = DEFAULT_DOCUMENT
    parameters: dict[str, list[str]] = field(default_factory=dict)
    reason: str | None = None
    status: str = "Connecting"
    start_date: datetime = field(default_factory=utcnow)
    end_date: datetime | None = None
    #: Where the transcript goes: {"S3OutputUrl": "https://...", ...} as DescribeSessions shows it.
    output_url: dict[str, str] = field(default_factory=dict)
    max_session_minutes: int = MAX_SESSION_MINUTES
    #: What the session preferences decided when it started (onboard.lab.preferences): the OS user its
    #: shell runs as, the minutes without input that end it, and the S3 bucket and key of its transcript.
    run_as: str = "ssm-user"
    idle_minutes: int = 20
    log_location: tuple[str, str] | None = None
    #: Sequence numbers the data channel reached, so a resumed channel continues them.
    channel_state: dict[str, Any] = field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class SessionRegistry:
    """All sessions of one lab, and the stream tokens that open their data channels.

    Tokens are single-use and bound to one session: :meth:`issue_token` returns a fresh one (for
    StartSession and ResumeSession) and :meth:`redeem_token` consumes it. Only a hash of each token is
    kept, so not even a dump of the registry shows one.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._sessions: dict[str, LabSession] = {}
        self._token_hashes: dict[str, str] = {}  # sha256(token) -> session id
        self._terminate_listeners: list[Callable[[str], None]] = []
        self._end_listeners: list[Callable[[LabSession, bytes | None], None]] = []

    # --- the API layer's side -------------------------------------------------------------
    def add(self, session: LabSession) -> LabSession:
        with self._lock:
            if session.session_id in self._sessions:
                raise ValueError(f"duplicate session id {session.session_id}")
            self._sessions[session.session_id] = session
            return session

    def get(self, session_id: str) -> LabSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def all(self) -> list[LabSession]:
        with self._lock:
            return list(self._sessions.values())

    def forget_ended(self) -> None:
        """Drop every ended session (a lab reset starts a fresh history)."""
        with self._lock:
            self._sessions = {sid: s for sid, s in self._sessions.items() if s.is_active}

    def issue_token(self, session_id: str) -> Secret:
        """A new single-use stream token for ``session_id`` (earlier unredeemed ones stay valid)."""
        token = secrets.token_urlsafe(48)
        with self._lock:
            if session_id not in self._sessions:
                raise KeyError(session_id)
            self._token_hashes[_digest(token)] = session_id
        return Secret(token)

    def request_termination(self, session_id: str, status: str = "Terminated") -> LabSession | None:
        """Mark the session as terminating and tell the data channel to close it."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or not session.is_active:
                return session
            session.status = "Terminating"
            listeners = list(self._terminate_listeners)
        for listener in listeners:
            listener(session_id)
        # With no data channel holding it (never connected) nothing else will end it: end it now. A
        # channel whose socket dropped still holds the shell and its transcript: it ends the session.
        with self._lock:
            held = session.channel_state.get("attached") or session.channel_state.get("held")
            if session.status == "Terminating" and not held:
                self._finish(session, status)
        return session

    def on_terminate(self, listener: Callable[[str], None]) -> None:
        """The data channel registers here to hear of TerminateSession calls."""
        with self._lock:
            self._terminate_listeners.append(listener)

    def on_end(self, listener: Callable[[LabSession, bytes | None], None]) -> None:
        """The API layer registers here to store transcripts when a session ends."""
        with self._lock:
            self._end_listeners.append(listener)

    # --- the data channel's side ----------------------------------------------------------
    def redeem_token(self, token: str) -> LabSession | None:
        """The session a token opens, consuming the token; None if unknown, used or ended."""
        with self._lock:
            session_id = self._token_hashes.pop(_digest(token), None)
            if session_id is None:
                return None
            session = self._sessions.get(session_id)
            if session is None or not session.is_active:
                return None
            return session

    def mark_connected(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions[session_id]
            if session.status in ("Connecting", "Disconnected"):
                session.status = "Connected"
            session.channel_state["attached"] = True
            session.channel_state["held"] = True  # until mark_ended, across dropped sockets

    def mark_disconnected(self, session_id: str) -> None:
        """The socket dropped without the session ending: the client may resume."""
        with self._lock:
            session = self._sessions[session_id]
            session.channel_state["attached"] = False
            if session.status == "Connected":
                session.status = "Disconnected"

    def mark_ended(self, session_id: str, transcript: bytes | None, status: str = "Terminated") -> None:
        """The shell ended or the session was terminated: record it and hand over the transcript."""
        with self._lock:
            session = self._sessions[session_id]
            if not session.is_active:
                return
            session.channel_state["attached"] = False
            self._finish(session, status)
            listeners = list(self._end_listeners)
        for listener in listeners:
            listener(session, transcript)

    def _finish(self, session: LabSession, status: str) -> None:
        session.status = status
        session.end_date = utcnow()
        self._token_hashes = {h: sid for h, sid in self._token_hashes.items() if sid != session.session_id}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
