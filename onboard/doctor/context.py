"""What every check reads: the options, the environment, the team file, and AWS clients made once.

Checks run in threads at the same time, so everything shared is computed once under a lock
(:meth:`DoctorContext.memo`); a botocore session is not safe to share while making clients, so clients are
made under that lock too and then shared (botocore clients are thread-safe).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from onboard.doctor.model import DEFAULT_TIMEOUT, Finding
from onboard.facts import DEFAULT_PROFILE, MANAGED_NODE_ID
from onboard.longlived import long_lived

if TYPE_CHECKING:
    from onboard.awsconfig.files import AwsFiles
    from onboard.identity import Identity
    from onboard.team import TeamFile

T = TypeVar("T")


@dataclass(frozen=True)
class DoctorOptions:
    #: The profile to check (default: the team file's, else "ssm", the one the lessons use).
    profile: str | None = None
    #: Who chose ``profile``, as the report says it ("--profile" when None).
    profile_chosen_by: str | None = None
    #: The team file (default: $ONBOARD_TEAM).
    team: str | None = None
    #: Instance aliases or ids to check (default: every instance in the team file).
    targets: tuple[str, ...] = ()
    #: Seconds each check may take.
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Target:
    alias: str
    id: str

    def label(self) -> str:
        return self.id if self.alias == self.id else f"{self.alias} ({self.id})"


@dataclass
class DoctorContext:
    options: DoctorOptions
    environ: Mapping[str, str]
    team: TeamFile | None
    profile: str
    #: Why this profile: "--profile", "the team file", or "the default".
    profile_source: str
    targets: tuple[Target, ...]
    #: Findings so far, by check id (the runner fills it; a check reads those it depends on).
    findings: dict[str, Finding] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _key_locks: dict[str, threading.Lock] = field(default_factory=dict)

    @classmethod
    def create(cls, options: DoctorOptions, environ: Mapping[str, str] | None = None) -> DoctorContext:
        """The context for ``options``; a UsageError for a bad team file or an unknown --target."""
        from onboard.team import find_team

        environ = dict(os.environ if environ is None else environ)
        team = find_team(options.team)
        if options.profile:
            profile, source = options.profile, options.profile_chosen_by or "--profile"
        elif team is not None:
            profile, source = team.profile, f"the team file {team.path}"
        else:
            profile, source = DEFAULT_PROFILE, "the default (the lessons' profile)"
        return cls(options, environ, team, profile, source, _targets(options.targets, team))

    def finding(self, check_id: str) -> Finding:
        """The finding of a check this one depends on (so it has finished)."""
        return self.findings[check_id]

    @property
    def timeout(self) -> float:
        return self.options.timeout

    @property
    def lab_sandbox(self) -> Path | None:
        """The practice lab's sandbox in a lab shell (`onboard lab env` names it): fixes stay inside it."""
        named = self.environ.get("ONBOARD_LAB_SANDBOX")
        return Path(named) if named else None

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once for the whole run, whichever check asks first; the others wait for it.

        An exception is remembered too, and raised again to every check that asks.
        """
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._memo:
                try:
                    self._memo[key] = (True, compute())
                except Exception as error:
                    self._memo[key] = (False, error)
        succeeded, value = self._memo[key]
        if not succeeded:
            raise value
        return value

    def files(self) -> AwsFiles:
        from onboard.awsconfig.files import aws_files

        return self.memo("files", lambda: aws_files(self.environ))

    def session(self) -> Any:
        """A botocore session for the profile, named explicitly, as ``aws ... --profile NAME`` does.

        botocore itself, as the AWS CLI uses it: boto3 would add its resource layer and s3transfer, a
        good share of a healthy run's time, for nothing doctor uses.
        """

        def make() -> Any:
            from onboard.errors import OnboardError
            from onboard.secrets import scrub

            with long_lived():
                import botocore.exceptions
                import botocore.session

                made = botocore.session.Session(profile=self.profile)
            try:
                made.get_scoped_config()  # reads both files now, so a broken one is reported here
            except botocore.exceptions.ProfileNotFound:
                raise OnboardError(
                    f"the AWS profile {self.profile!r} is not in your AWS config or credentials file",
                    "Run `onboard setup` to write it, or name another profile with --profile.",
                ) from None
            except botocore.exceptions.BotoCoreError as broken:
                raise OnboardError(
                    f"the AWS configuration files cannot be read: {scrub(str(broken))}",
                    "See 'Files parse' above for the line to fix.",
                ) from None
            return made

        return self.memo("session", make)

    def credentials(self) -> Any:
        """The profile's keys as botocore resolves them (None: none), loaded once for the whole run.

        botocore's session is not safe to load credentials from two threads at once: each may build its own
        resolver, and an assume-role provider loaded twice sees its source profile as already visited
        (InfiniteLoopConfigError). So the load happens under the lock clients are made under.
        """

        def load() -> Any:
            with self._lock:
                return self.session().get_credentials()

        return self.memo("credentials", load)

    def profile_region(self) -> str | None:
        """The region the AWS CLI uses with this profile (AWS_DEFAULT_REGION first), if any."""
        return self.session().get_config_variable("region")

    def region(self) -> str | None:
        """The region the AWS CLI uses with this profile, else the team file's (to keep checking)."""
        return self.profile_region() or (self.team.region if self.team else None)

    def identity(self) -> Identity:
        """Who the profile's keys belong to (STS GetCallerIdentity), asked once per run.

        Asked with this run's session (a second session would load botocore's data again); when AWS
        refuses, :func:`onboard.identity.check_identity` asks once more and explains the refusal in plain
        words (wrong key, wrong secret, expired token, clock).
        """
        import botocore.exceptions
        import botocore.parsers

        from onboard.identity import check_identity, identity_from_answer

        def ask() -> Identity:
            try:
                answer = self.client("sts").get_caller_identity()
            except (
                botocore.exceptions.ClientError,
                botocore.exceptions.CredentialRetrievalError,
                # An answer that is not AWS's (a proxy's page): not a BotoCoreError.
                botocore.parsers.ResponseParserError,
            ):
                return check_identity(self.profile, region=self.region(), timeout=self.timeout)
            except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
                return check_identity(self.profile, region=self.region(), timeout=self.timeout)
            return identity_from_answer(answer)

        return self.memo("identity", ask)

    def warm_up(self) -> None:
        """Start the slow shared work (the session, a client, the STS call) while the first checks run.

        Most of a healthy run is spent loading botocore's data and waiting on subprocesses; doing both at once
        shortens it. What fails here fails again, reported, in the check that needs it; a check that is
        skipped never looks (daemon threads: a hung call holds nothing up).
        """
        for work in (lambda: self.client("ssm"), self.identity):
            threading.Thread(target=_quietly, args=(work,), name="doctor-warm-up", daemon=True).start()

    def client(self, service: str, *, timeout: float | None = None) -> Any:
        """A botocore client that tries once, with this run's time limit (a check fails rather than hangs)."""
        limit = timeout or self.timeout

        def make() -> Any:
            from botocore.config import Config

            config = Config(
                connect_timeout=min(limit, 5.0),
                read_timeout=limit,
                retries={"mode": "standard", "total_max_attempts": 1},
            )
            self.credentials()  # once, first (or its error raised): create_client would load them itself
            with self._lock, long_lived():  # a session must not make two clients at once
                return self.session().create_client(service, region_name=self.region(), config=config)

        return self.memo(f"client:{service}:{limit}", make)


def _quietly(work: Callable[[], object]) -> None:
    # A failure is remembered by memo(), and the check that needs the result reports it.
    with contextlib.suppress(Exception):
        work()


def _targets(named: tuple[str, ...], team: TeamFile | None) -> tuple[Target, ...]:
    if not named:
        return tuple(Target(i.alias, i.id) for i in team.instances) if team else ()
    targets = []
    for name in named:
        if team is not None and not name.startswith("i-"):
            instance = team.instance(name)  # UsageError naming the known aliases
            targets.append(Target(instance.alias, instance.id))
        elif team is not None and any(i.id == name for i in team.instances):
            instance = team.instance(name)
            targets.append(Target(instance.alias, instance.id))
        else:
            _require_instance_id(name)
            targets.append(Target(name, name))
    return tuple(targets)


def _require_instance_id(name: str) -> None:
    from onboard.errors import UsageError

    if not MANAGED_NODE_ID.fullmatch(name):
        raise UsageError(
            f"--target {name!r} is not an instance id",
            "Give an instance id such as i-0123456789abcdef0, or an alias from the team file (--team).",
        )
