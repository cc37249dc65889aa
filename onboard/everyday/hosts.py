"""The instances a profile can reach, and which one ALIAS|NAME|ID means.

What Session Manager knows (``DescribeInstanceInformation``: ping status, platform, agent version) is
joined with what EC2 knows (``DescribeInstances``: the Name tag, the instance state) and with the aliases
of the team file and of the user's own aliases file. A name is resolved in that order: an alias, an
instance id, a Name tag. A Name tag several instances share is never settled silently (aws-gate takes the
last match): a person picks one, and an unattended run fails listing the candidates. Only instances that
Session Manager reports Online can be chosen; the others are listed with the reason.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from onboard.errors import OnboardError, UsageError
from onboard.everyday.reach import Reach, is_denied
from onboard.team import INSTANCE_ID

ONLINE = "Online"
#: Our own ping status for an instance EC2 has and Session Manager does not.
NOT_REGISTERED = "NotRegistered"


@dataclass(frozen=True)
class Host:
    instance_id: str
    #: Its Name tag (None without one, or when EC2 cannot be asked).
    name: str | None
    #: Team-file and user aliases for it.
    aliases: tuple[str, ...] = ()
    #: Session Manager's PingStatus (Online, ConnectionLost, Inactive) or NotRegistered.
    ping_status: str = NOT_REGISTERED
    platform: str | None = None
    agent_version: str | None = None
    #: EC2's state (running, stopped, ...), when known.
    state: str | None = None

    @property
    def reachable(self) -> bool:
        return self.ping_status == ONLINE

    @property
    def why_unreachable(self) -> str | None:
        """Why Session Manager cannot open a session to it, in words; None when it can."""
        if self.reachable:
            return None
        if self.state and self.state != "running":
            return f"the instance is {self.state}"
        if self.ping_status == NOT_REGISTERED:
            return "its SSM agent has never registered (agent not running, or the role lacks the SSM policy)"
        if self.ping_status == "ConnectionLost":
            return "its SSM agent stopped answering (agent stopped, network, or the role lost its SSM policy)"
        return f"Session Manager reports it {self.ping_status}"

    @property
    def label(self) -> str:
        names = [*self.aliases, *([self.name] if self.name and self.name not in self.aliases else [])]
        return f"{' / '.join(names)} ({self.instance_id})" if names else self.instance_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.instance_id,
            "name": self.name,
            "aliases": list(self.aliases),
            "ping_status": self.ping_status,
            "platform": self.platform,
            "agent_version": self.agent_version,
            "state": self.state,
            "reachable": self.reachable,
            "why_unreachable": self.why_unreachable,
        }


@dataclass(frozen=True)
class HostList:
    hosts: tuple[Host, ...]
    #: Things the listing could not see (EC2 refused: no Name tags), said beside the table.
    notes: tuple[str, ...] = ()
    #: alias -> instance id (team file first, then the user's own).
    aliases: dict[str, str] = field(default_factory=dict)

    def by_id(self, instance_id: str) -> Host | None:
        return next((host for host in self.hosts if host.instance_id == instance_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"hosts": [host.to_dict() for host in self.hosts], "notes": list(self.notes)}


#: Picks one of the reachable candidates; the unreachable ones are shown beside them. None: nobody to ask.
Chooser = Callable[[str, Sequence[Host], Sequence[Host]], Host]


class AmbiguousHost(UsageError):
    """A name matches several instances and nobody is there to pick one."""


def all_aliases(reach: Reach, user_aliases: dict[str, str]) -> dict[str, str]:
    team = {i.alias: i.id for i in reach.team.instances} if reach.team else {}
    return {**user_aliases, **team}


def list_hosts(reach: Reach, user_aliases: dict[str, str]) -> HostList:
    """Every instance Session Manager or EC2 shows this profile, with its aliases."""
    aliases = all_aliases(reach, user_aliases)
    managed = _instance_information(reach)
    described, notes = _ec2_instances(reach)
    ids = list(dict.fromkeys([*managed, *described]))
    hosts = []
    for instance_id in ids:
        info = managed.get(instance_id, {})
        name, state = described.get(instance_id, (None, None))
        hosts.append(
            Host(
                instance_id=instance_id,
                name=name or info.get("Name") or None,
                aliases=tuple(alias for alias, target in aliases.items() if target == instance_id),
                ping_status=info.get("PingStatus", NOT_REGISTERED),
                platform=" ".join(filter(None, (info.get("PlatformName"), info.get("PlatformVersion"))))
                or None,
                agent_version=info.get("AgentVersion"),
                state=state,
            )
        )
    hosts.sort(key=lambda host: (host.aliases == (), host.name or "~", host.instance_id))
    return HostList(tuple(hosts), tuple(notes), aliases)


def _instance_information(reach: Reach) -> dict[str, dict[str, Any]]:
    import botocore.exceptions

    ssm = reach.client("ssm")
    found: dict[str, dict[str, Any]] = {}
    try:
        for page in ssm.get_paginator("describe_instance_information").paginate():
            for info in page.get("InstanceInformationList", []):
                found[info["InstanceId"]] = info
    except botocore.exceptions.ClientError as refused:
        if is_denied(refused):
            raise OnboardError(
                f"the profile {reach.profile!r} may not list Session Manager's instances "
                "(ssm:DescribeInstanceInformation is denied)",
                "Ask your trainer for the team's user policy, or name the instance id directly; "
                "`onboard doctor` shows what the profile may do.",
            ) from None
        raise _unreachable(reach, refused) from None
    except botocore.exceptions.BotoCoreError as failed:
        raise _unreachable(reach, failed) from None
    return found


def _ec2_instances(reach: Reach) -> tuple[dict[str, tuple[str | None, str | None]], list[str]]:
    """instance id -> (Name tag, state) from EC2; a note instead when EC2 refuses."""
    import botocore.exceptions

    found: dict[str, tuple[str | None, str | None]] = {}
    try:
        for page in reach.client("ec2").get_paginator("describe_instances").paginate():
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    tags = {t.get("Key"): t.get("Value") for t in instance.get("Tags") or []}
                    state = (instance.get("State") or {}).get("Name")
                    if state == "terminated":
                        continue
                    found[instance["InstanceId"]] = (tags.get("Name"), state)
    except botocore.exceptions.ClientError as refused:
        if not is_denied(refused):
            raise _unreachable(reach, refused) from None
        return {}, ["Name tags are not shown: the profile may not call ec2:DescribeInstances."]
    except botocore.exceptions.BotoCoreError as failed:
        raise _unreachable(reach, failed) from None
    return found, []


def _unreachable(reach: Reach, error: Exception) -> OnboardError:
    from onboard.secrets import scrub

    return OnboardError(
        f"could not list instances with the profile {reach.profile!r}: {scrub(str(error))}",
        "Run `onboard doctor` to see what is wrong with the profile or the network.",
    )


# ------------------------------------------------------------------------------------------- resolving


def find_target(reach: Reach, user_aliases: dict[str, str], query: str | None, choose: Chooser | None) -> str:
    """The instance id ``query`` means. An alias or an id needs no listing (StartSession itself says when
    the instance is not connected); a Name tag, or no query at all, is looked up and may need a choice."""
    aliases = all_aliases(reach, user_aliases)
    if query in aliases:
        return aliases[query]
    if query is not None and INSTANCE_ID.fullmatch(query):
        return query
    return resolve(list_hosts(reach, user_aliases), query, choose).instance_id


def resolve(listing: HostList, query: str | None, choose: Chooser | None) -> Host:
    """The one reachable host ``query`` (an alias, an id or a Name tag; None: any) means."""
    if query is None:
        return _pick(
            "Which instance?", list(listing.hosts), choose, "Name one: onboard connect ALIAS|NAME|ID."
        )
    if query in listing.aliases:
        instance_id = listing.aliases[query]
        return _only(listing.by_id(instance_id), query, f"the alias {query!r} names {instance_id}, but")
    if INSTANCE_ID.fullmatch(query):
        return _only(listing.by_id(query), query, f"{query}:")
    named = [host for host in listing.hosts if host.name == query]
    if not named:
        known = sorted({*listing.aliases, *(h.name for h in listing.hosts if h.name)})
        close = difflib.get_close_matches(query, known, n=1)
        raise UsageError(
            f"no instance is called {query!r} (no alias, instance id or Name tag matches)"
            + (f". Did you mean {close[0]!r}?" if close else ""),
            "See the instances this profile reaches: onboard hosts.",
        )
    if len(named) == 1:
        return _only(named[0], query, f"{query!r} ({named[0].instance_id}):")
    return _pick(
        f"{len(named)} instances are called {query!r}; which one?",
        named,
        choose,
        f"Give the instance id, or an alias: onboard hosts alias NAME {named[0].instance_id}.",
    )


def _only(host: Host | None, query: str, prefix: str) -> Host:
    if host is None:
        raise OnboardError(
            f"{prefix} this profile sees no such instance in Session Manager or EC2",
            "Check the region and profile (onboard hosts lists what they reach), or ask your trainer.",
        )
    if not host.reachable:
        raise OnboardError(
            f"{prefix} cannot be reached: {host.why_unreachable}",
            f"Run `onboard doctor --target {host.instance_id}` for the details and the fix.",
        )
    return host


def _pick(question: str, candidates: list[Host], choose: Chooser | None, hint: str) -> Host:
    reachable = [host for host in candidates if host.reachable]
    others = [host for host in candidates if not host.reachable]
    listed = "; ".join(
        f"{host.label} {host.ping_status}" + (f" ({host.why_unreachable})" if not host.reachable else "")
        for host in candidates
    )
    if not reachable:
        raise OnboardError(
            f"no instance to choose from can be reached: {listed or 'none'}",
            "Run `onboard doctor` to see why.",
        )
    if choose is None:
        raise AmbiguousHost(
            f"{question.rstrip('?')}: nothing chosen in an unattended run. Candidates: {listed}", hint
        )
    return choose(question, reachable, others)
