"""What a team file is: the typed result :func:`onboard.team.load_team` returns (see :mod:`onboard.team`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboard.errors import UsageError
from onboard.facts import DEFAULT_PROFILE, NAME

FORMAT_VERSION = 1

#: Instance aliases (the user's own aliases file follows the team file's rule).
ALIAS = NAME


class TeamFileError(UsageError):
    """The team file is missing, not TOML, or holds a value onboard cannot use."""


@dataclass(frozen=True)
class PluginSource:
    """Where the Session Manager plugin is downloaded from, and which extra key may sign it."""

    #: A mirror laid out like AWS's downloads (``<url>/latest/ubuntu_64bit/...``); None: AWS's own.
    download_url: str | None = None
    #: An extra trusted OpenPGP public key file (the practice lab's), besides AWS's own key.
    signing_key: Path | None = None
    #: That key's fingerprint, pinned: 40 upper-case hex digits, no spaces.
    signing_key_fingerprint: str | None = None

    def trusted_keys(self) -> list[Any]:
        """The extra key (and its subkeys) as ``onboard.pgp.PublicKey``s, refused unless it has the pin."""
        if self.signing_key is None:
            return []
        from onboard.pgp import load_public_keys

        try:
            data = self.signing_key.read_bytes()
        except OSError as unreadable:
            raise TeamFileError(
                f"the plugin signing key {self.signing_key} cannot be read: {unreadable.strerror}",
                "Put the key file your trainer gave you next to the team file.",
            ) from unreadable
        # The pin names the primary key; its signing subkeys are trusted with it.
        pinned = self.signing_key_fingerprint
        keys = [key for key in load_public_keys(data) if pinned in (key.fingerprint, key.primary_fingerprint)]
        if not keys:
            raise TeamFileError(
                f"the plugin signing key {self.signing_key} does not have the pinned fingerprint "
                f"{self.signing_key_fingerprint}",
                "Ask your trainer for the matching key file and team file; never edit the fingerprint "
                "to make it fit.",
            )
        return keys


@dataclass(frozen=True)
class Location:
    """An S3 bucket and a key prefix ("" or ending in "/")."""

    bucket: str
    prefix: str = ""

    def user_prefix(self, user_name: str) -> str:
        """The prefix one learner writes under: ``<prefix><user name>/``."""
        return f"{self.prefix}{user_name}/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class LessonSettings:
    """Which lessons a class runs, and as whom."""

    #: A trainer's own lessons folder (absolute once loaded); None: only the lessons shipped with onboard.
    dir: Path | None = None
    #: Lesson names in the order the class takes them; empty: all of them.
    select: tuple[str, ...] = ()
    #: The OS user lessons switch to with sudo.
    target_user: str | None = None
    #: Whether learners publish their progress for the trainer.
    publish: bool = False


@dataclass(frozen=True)
class Instance:
    alias: str
    id: str
    #: Its Name tag, when the trainer gave it.
    name: str | None = None
    #: OS users people switch to with sudo on it.
    users: tuple[str, ...] = ()
    #: The OS user `onboard connect` lands as on it (None: ssm-user, Session Manager's own).
    connect_as: str | None = None
    #: Its web applications: (name, port on the instance), for `onboard forward`.
    services: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class TeamFile:
    path: Path
    version: int
    team: str
    region: str
    profile: str = DEFAULT_PROFILE
    plugin: PluginSource | None = None
    endpoint_url: str | None = None
    #: The CA certificates (PEM) that endpoint_url's certificate is trusted with instead of the system's
    #: (a class lab's own CA); setup writes it into the profile as ``ca_bundle``.
    ca_bundle: Path | None = None
    transfer: Location | None = None
    session_logs: Location | None = None
    lessons: LessonSettings = field(default_factory=LessonSettings)
    instances: tuple[Instance, ...] = ()

    def instance(self, alias_or_id: str) -> Instance:
        """The instance with this alias or id; a UsageError listing the known aliases otherwise."""
        for candidate in self.instances:
            if alias_or_id in (candidate.alias, candidate.id):
                return candidate
        known = ", ".join(f"{i.alias} ({i.id})" for i in self.instances) or "none"
        close = difflib.get_close_matches(alias_or_id, [i.alias for i in self.instances], n=1)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(
            f"no instance {alias_or_id!r} in the team file {self.path}.{suggestion}",
            f"Instances in this team file: {known}.",
        )


def endpoint_is_trusted(url: str) -> bool:
    """Whether a team file's endpoint may be written without asking: AWS's own (over https), or loopback.

    Any other endpoint receives every AWS call the profile makes, signed with the user's keys.
    """
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        if ipaddress.ip_address(host).is_loopback:
            return True
    except ValueError:
        pass
    return parts.scheme == "https" and host.endswith(AWS_DOMAINS)


#: The domains AWS's public endpoints live under (commercial, China, the newer dual-stack names).
AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
