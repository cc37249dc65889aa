"""What every verifier shares: the verdict, the evidence it rests on, the context, the base class.

A lesson's ``check`` block declares verifiers as data (``kind = "session_started"`` plus fields); each
kind is a :class:`Verifier` subclass (in :mod:`.sessions`, :mod:`.files`, :mod:`.computer`) whose
:meth:`Verifier.run` returns a :class:`Verdict`: pass or fail, what was seen, a fix hint, and the
:class:`Evidence` it rests on (session ids, object keys with their ETag and version, times) so that a
trainer can look each piece up again in AWS without trusting the learner's record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from onboard.errors import OnboardError
from onboard.secrets import scrub

#: Clocks of this computer and AWS differ a little; a session "after the step began" may start this early.
CLOCK_SLACK = timedelta(seconds=5)
#: How long a verifier waits for AWS to catch up (a session moving to History, its log being written).
SETTLE_SECONDS = 6.0


@dataclass(frozen=True)
class Evidence:
    """One thing AWS (or this computer) recorded that a verdict rests on, with what it takes to find it again.

    ``kind`` is ``session`` (``ref`` a session id), ``session_log`` or ``s3_object`` (``ref`` an
    ``s3://`` URL, with the object's ETag and version id), or, for what only this computer can show,
    ``local_file``, ``command``, ``profile``, ``plugin`` and ``identity`` (an ARN, from STS).
    """

    kind: str
    ref: str
    at: str | None = None
    etag: str | None = None
    version: str | None = None
    detail: str | None = None

    #: Kinds that a trainer can look up again in AWS (the rest only the learner's computer showed).
    IN_AWS: ClassVar[frozenset[str]] = frozenset({"session", "session_log", "s3_object", "identity"})

    def to_dict(self) -> dict[str, str]:
        data = {"kind": self.kind, "ref": self.ref}
        for name in ("at", "etag", "version", "detail"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        fields = ("kind", "ref", "at", "etag", "version", "detail")
        return cls(**{name: str(data[name]) for name in fields if data.get(name) is not None})


@dataclass
class Verdict:
    """One check's result: what it looked for, whether it passed, what it saw, and how to fix it."""

    check: str
    passed: bool
    evidence: str
    hint: str = ""
    children: list[Verdict] = field(default_factory=list)
    #: The check could not look (AWS out of reach, no answer in time): not the learner's fault.
    unavailable: bool = False
    #: What the verdict rests on (for a pass: what the progress record keeps).
    found: list[Evidence] = field(default_factory=list)

    def all_found(self) -> list[Evidence]:
        """This verdict's evidence and its children's."""
        return [*self.found, *(item for child in self.children for item in child.all_found())]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"check": self.check, "passed": self.passed, "evidence": self.evidence}
        if self.unavailable:
            data["unavailable"] = True
        data["hint"] = None if self.passed else self.hint or None
        if self.found:
            data["found"] = [item.to_dict() for item in self.found]
        if self.children:
            data["children"] = [child.to_dict() for child in self.children]
        return data


@dataclass
class CheckContext:
    """What verifiers need: how to reach AWS as the learner, when the step began, its nonce, the deadline."""

    settings: Any  # onboard.awsclient.ClientSettings
    began_at: datetime
    nonce: str
    workdir: Path
    arn: str | None = None
    user: str | None = None
    deadline: float = field(default_factory=lambda: time.monotonic() + 20)
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str) -> Any:
        from onboard.awsclient import session

        with self._lock:
            if service not in self._clients:
                boto_session = session(self.settings)
                # Service models are static data: one loader for the whole process saves reading and
                # decoding them (half a second for ssm and s3) on every check the tour or a script runs.
                boto_session._session.register_component("data_loader", _model_loader())
                self._clients[service] = boto_session.client(
                    service,
                    region_name=self.settings.region,
                    endpoint_url=self.settings.resolved_endpoint(),
                    config=self.settings.botocore_config(),
                )
            return self._clients[service]

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def settle(
        self, attempt: Callable[[], Any], done: Callable[[Any], bool], seconds: float = SETTLE_SECONDS
    ):
        """Call ``attempt`` until ``done(result)`` or ``seconds`` (within the deadline) have passed."""
        stop = time.monotonic() + min(seconds, max(self.remaining() - 1, 0))
        result = attempt()
        while not done(result) and time.monotonic() < stop:
            time.sleep(0.2)
            result = attempt()
        return result


@lru_cache(maxsize=1)
def _model_loader() -> Any:
    from botocore.loaders import create_loader

    return create_loader()


class Verifier:
    """One kind of check. Subclasses name their ``kind``, fields, and implement :meth:`run`."""

    kind: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, data: dict[str, Any]):
        self.data = data

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def run(self, context: CheckContext) -> Verdict:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


def aws_failure(check: str, error: Exception) -> Verdict:
    """A verdict for an AWS call that failed: the service's words, scrubbed, and what to try."""
    import botocore.exceptions

    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "Error")
        message = error.response.get("Error", {}).get("Message", "")
        hint = "Run `onboard doctor` to find out what is wrong with your access."
        if "AccessDenied" in code:
            hint = "Your IAM policy does not allow this look; ask your trainer (the check needs it)."
        return Verdict(check, False, scrub(f"AWS answered {code}: {message}"), hint)
    if isinstance(error, OnboardError):
        return Verdict(check, False, scrub(error.message), error.hint or "")
    return Verdict(
        check,
        False,
        scrub(f"AWS could not be reached: {error}"),
        "Check your network (and proxy), then run the check again; `onboard doctor` can help.",
        unavailable=True,
    )


def aws_errors() -> tuple[type[Exception], ...]:
    import botocore.exceptions

    return (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, OnboardError)


def clock(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%H:%M:%S UTC")


def iso(moment: datetime) -> str:
    """A time as evidence keeps it: UTC, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
