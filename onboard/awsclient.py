"""Where onboard's commands make their AWS sessions and clients, and botocore's list of regions.

setup, lessons, hosts, connect, transfer and the trainer's commands make their AWS calls through
:func:`client` (or :func:`session`): the profile, the region and the endpoint (the practice lab's, a team
file's, or ``AWS_ENDPOINT_URL``) are resolved here the same way for every command, with short timeouts and a
bounded retry so that a wrong proxy or an unreachable endpoint fails within seconds instead of minutes.
Proxies (HTTPS_PROXY/NO_PROXY) and AWS_CA_BUNDLE are honoured the way botocore honours them, because
botocore itself does the work.

Two callers make their own clients, on purpose: ``onboard doctor``
(:class:`onboard.doctor.context.DoctorContext`) uses one botocore session for the whole run, with a single
attempt and the run's time limit per check, because boto3's resource layer would cost a healthy run a good
share of its time and a check must fail rather than retry; the lab's plugin
(:mod:`onboard.labplugin.client`) is the program the AWS CLI runs, and calls ResumeSession and
TerminateSession with the profile and region the AWS CLI hands it, as AWS's plugin does. Code that only
reads the AWS files through botocore (a profile's ``source_profile``, its settings) makes no call and needs
no client.

boto3 and botocore are imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from onboard.errors import OnboardError, UsageError
from onboard.longlived import long_lived

if TYPE_CHECKING:
    import boto3
    import botocore.session
    from botocore.config import Config

    from onboard.team import TeamFile

#: Seconds to wait for a TCP/TLS connection, and for each response.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
#: Attempts in total (the first one included); AWS_MAX_ATTEMPTS in the environment wins, as in botocore.
MAX_ATTEMPTS = 3

ENDPOINT_ENV = "AWS_ENDPOINT_URL"


@dataclass(frozen=True)
class ClientSettings:
    """How to reach AWS: which profile, region and endpoint, and how patiently."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    #: The CA bundle the endpoint is verified with (a team file's ca_bundle: a class lab's CA); None: what
    #: botocore would use (AWS_CA_BUNDLE, the profile's ca_bundle, the system's).
    ca_bundle: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    max_attempts: int | None = None

    @classmethod
    def for_team(cls, team: TeamFile, profile: str | None, **options: Any) -> ClientSettings:
        """The team file's region and endpoint, verified with its CA bundle when it names one."""
        bundle = str(team.ca_bundle) if team.ca_bundle is not None else None
        return cls(
            profile=profile, region=team.region, endpoint_url=team.endpoint_url, ca_bundle=bundle, **options
        )

    def resolved_endpoint(self) -> str | None:
        """The endpoint given, else ``AWS_ENDPOINT_URL``; None means AWS's own endpoints."""
        return self.endpoint_url or os.environ.get(ENDPOINT_ENV) or None

    def botocore_config(self) -> Config:
        from botocore.config import Config

        attempts = self.max_attempts
        if attempts is None:
            attempts = _env_int("AWS_MAX_ATTEMPTS", MAX_ATTEMPTS)
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": max(1, attempts)},
        )


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return default


def session(settings: ClientSettings) -> boto3.Session:
    """A boto3 session for ``settings.profile``; a missing profile is an OnboardError, not a traceback."""
    import boto3

    return boto3.Session(botocore_session=core_session(settings))


def core_session(settings: ClientSettings) -> botocore.session.Session:
    """The botocore session under :func:`session` (profile and region set, both AWS files read now, so
    that a missing profile or a broken file is an OnboardError here rather than a traceback later)."""
    with long_lived():
        import botocore.exceptions
        import botocore.session

        made = botocore.session.Session(profile=settings.profile)
    if settings.region:
        made.set_config_variable("region", settings.region)
    try:
        made.get_scoped_config()
    except botocore.exceptions.ProfileNotFound as missing:
        raise OnboardError(
            f"the AWS profile {settings.profile!r} is not in your AWS config or credentials file",
            "Run `onboard setup` to write it, or name another profile with --profile.",
        ) from missing
    except botocore.exceptions.BotoCoreError as broken:  # ConfigParseError and friends
        from onboard.secrets import scrub

        raise OnboardError(
            f"the AWS configuration files cannot be read: {scrub(str(broken))}",
            "Run `onboard doctor` to find the broken line.",
        ) from broken
    return made


def client(
    service: str, settings: ClientSettings, *, from_session: botocore.session.Session | None = None
) -> Any:
    """A client for ``service`` with the settings' profile, region, endpoint and timeouts (made from
    ``from_session``, a :func:`core_session` of the same settings, when given: one session's clients share
    botocore's parsed data files).

    botocore makes it: what boto3 adds to a client is S3's managed transfers (``upload_file``,
    ``download_file``), so only an S3 client is made with boto3's handlers; the others do without
    importing boto3 and s3transfer (~40 ms of a command's start).
    """
    with long_lived():
        core = from_session or core_session(settings)
        if service == "s3":
            import boto3

            boto3.Session(botocore_session=core)  # registers boto3's handlers on the session
        return core.create_client(
            service,
            region_name=settings.region,
            endpoint_url=settings.resolved_endpoint(),
            config=settings.botocore_config(),
            verify=settings.ca_bundle,
        )


def clients(settings: ClientSettings) -> Callable[[str], Any]:
    """Clients of one session, one per service, made on first use: for commands that call several
    services (a session per client loads botocore's data and the credentials again, seconds in all).

    Safe from several threads: a botocore session must not make two clients at once, so they are made
    under one lock (the clients themselves are thread-safe)."""
    import threading

    made: dict[str, Any] = {}
    shared: list[botocore.session.Session] = []
    lock = threading.Lock()

    def get(service: str) -> Any:
        with lock:
            if service not in made:
                if not shared:
                    shared.append(core_session(settings))
                made[service] = client(service, settings, from_session=shared[0])
            return made[service]

    return get


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Every region botocore knows, in every partition (aws, aws-cn, aws-us-gov, ...).

    botocore's partitions.json (a few KB) lists every partition's regions; endpoints.json lists the same
    regions (or fewer) but is over a megabyte and costs a command's start half a second to parse, so it is
    read only by an older botocore that lacks partitions.json.
    """
    with long_lived():
        from botocore.exceptions import DataNotFoundError
        from botocore.loaders import create_loader

        loader = create_loader()
        try:
            data = loader.load_data("partitions")
        except DataNotFoundError:
            data = loader.load_data("endpoints")
    regions = {region for partition in data.get("partitions", []) for region in partition.get("regions", {})}
    # "aws-global" and friends name a partition's global endpoint, not a region users choose.
    return frozenset(region for region in regions if not region.endswith("-global"))


def check_region(region: str, *, where: str = "the region") -> str:
    """``region`` stripped, if botocore knows it; else a UsageError suggesting the closest names."""
    cleaned = region.strip()
    if cleaned in known_regions():
        return cleaned
    close = difflib.get_close_matches(cleaned.lower(), sorted(known_regions()), n=3, cutoff=0.6)
    # Equally close names in their natural order (eu-west-1 before eu-west-3).
    close.sort(key=lambda name: (-difflib.SequenceMatcher(None, cleaned.lower(), name).ratio(), name))
    suggestion = f" Did you mean {', '.join(close)}?" if close else ""
    raise UsageError(
        f"{where} {region!r} is not an AWS region.{suggestion}",
        "Use a region code such as eu-west-1 or ap-northeast-1 (the AWS console shows it top right).",
    )
