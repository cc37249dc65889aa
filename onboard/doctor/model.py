"""What a check is and what it finds: the vocabulary every part of doctor shares.

A :class:`Check` is a small unit (id, group, title, the checks it depends on, a time limit, and a
function of the :class:`~onboard.doctor.context.DoctorContext`); running it gives one :class:`Finding`.
A finding may carry a :class:`Fix`: something ``onboard doctor --fix`` can do about it, after asking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onboard.doctor.context import DoctorContext


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"
    ERROR = "error"

    @property
    def passed(self) -> bool:
        """Whether checks that depend on this one can run (a warning does not stop them)."""
        return self in (Status.OK, Status.WARN)


class Group(str, Enum):
    """The groups of checks, in the order the report shows them (the value is the name people read)."""

    TOOLS = "Tools"
    CONFIG = "Config files"
    CREDENTIALS = "Credentials"
    NETWORK = "Network"
    PERMISSIONS = "Permissions"
    TARGETS = "Targets"
    #: The trainer's account checks (onboard trainer check-account), on the same model and runner.
    INSTANCES = "Instances"
    ACCOUNT = "Account"


#: Doctor's own groups, in the order the report shows them (the trainer's checks have the last two).
GROUPS = tuple(group for group in Group if group not in (Group.INSTANCES, Group.ACCOUNT))


@dataclass(frozen=True)
class Fix:
    """A repair ``--fix`` offers: ``describe`` is the question asked; ``apply`` does it and says what it did.

    ``apply`` returns a :class:`FixResult`; it raises an OnboardError when it cannot do it (nothing is
    half-done: every file is written atomically after a backup).
    """

    id: str
    describe: str
    apply: Callable[[], FixResult]


@dataclass(frozen=True)
class FixResult:
    done: str
    #: Backups written before changing anything (files, a plugin copy set aside).
    backups: tuple[str, ...] = ()
    #: What the user still has to do, if anything (open a new terminal, ...).
    then: str | None = None


@dataclass(frozen=True)
class Finding:
    """The result of one check. ``check_id``, ``group`` and ``title`` are filled in by the runner."""

    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    #: The exact next command (or action) that repairs it.
    next: str | None = None
    doc: str | None = None
    fix: Fix | None = None
    #: Facts for checks that depend on this one (never a secret); shown in --json.
    data: dict[str, Any] = field(default_factory=dict)
    check_id: str = ""
    #: None until the runner places it (every finding in a report has its check's group).
    group: Group | None = None
    title: str = ""
    seconds: float = 0.0

    def placed(self, check: Check, seconds: float) -> Finding:
        return replace(self, check_id=check.id, group=check.group, title=check.title, seconds=seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "group": self.group.value if self.group is not None else None,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "next": self.next,
            "doc": self.doc,
            "fix": {"id": self.fix.id, "describe": self.fix.describe} if self.fix else None,
            "data": self.data,
            "seconds": round(self.seconds, 3),
        }


def ok(summary: str, *evidence: str, **extra: Any) -> Finding:
    return Finding(Status.OK, summary, tuple(evidence), **extra)


def warn(summary: str, *evidence: str, **extra: Any) -> Finding:
    return Finding(Status.WARN, summary, tuple(evidence), **extra)


def fail(summary: str, *evidence: str, **extra: Any) -> Finding:
    return Finding(Status.FAIL, summary, tuple(evidence), **extra)


def skipped(summary: str, *evidence: str, **extra: Any) -> Finding:
    return Finding(Status.SKIPPED, summary, tuple(evidence), **extra)


#: Seconds a check may take unless it says otherwise (``--timeout`` replaces it).
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Check:
    """One check. ``group`` may be given by name ("Tools"): a name that is no :class:`Group` is refused."""

    id: str
    group: Group
    title: str
    run: Callable[[DoctorContext], Finding]
    depends_on: tuple[str, ...] = ()
    #: Its own time limit in seconds; None: the run's (``--timeout``).
    timeout: float | None = None

    def __post_init__(self) -> None:
        try:
            group = Group(self.group)
        except ValueError:
            names = ", ".join(repr(g.value) for g in Group)
            raise ValueError(
                f"check {self.id!r} names the unknown group {self.group!r}; groups: {names}"
            ) from None
        object.__setattr__(self, "group", group)
