"""How the everyday commands reach AWS: the team file (when there is one), the profile, the endpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from onboard.awsclient import ClientSettings, clients
from onboard.team import DEFAULT_PROFILE, TeamFile, find_team


@dataclass(frozen=True)
class Reach:
    """The team file (None without one), the profile chosen and the settings every client is made with.

    One boto3 session serves every client of a command, and each service's client is made once: every
    new session reads botocore's data files again (the endpoints, each service's model), which cost a
    transfer (STS, S3 and SSM clients) more than a second.
    """

    team: TeamFile | None
    profile: str
    settings: ClientSettings
    _clients: Callable[[str], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_clients", clients(self.settings))

    @classmethod
    def create(cls, profile: str | None = None, team: str | None = None) -> Reach:
        """``--profile`` wins, then the team file's profile, then ``ssm`` (what setup writes)."""
        team_file = find_team(team)
        chosen = profile or (team_file.profile if team_file else DEFAULT_PROFILE)
        settings = ClientSettings(
            profile=chosen,
            region=team_file.region if team_file else None,
            endpoint_url=team_file.endpoint_url if team_file else None,
        )
        return cls(team_file, chosen, settings)

    def client(self, service: str) -> Any:
        return self._clients(service)


def error_code(error: Any) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_denied(error: Any) -> bool:
    return error_code(error) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403")
