"""What the lab's HTTP layer answers from (:class:`LabState`): the world, its sessions, the faults in force,
where things are, and whether each instance's agent is online.

The layer (:mod:`onboard.lab.api`), the Session Manager operations (:mod:`onboard.lab.ssmapi`) and the
preferences document (:mod:`onboard.lab.preferences`) read it; the lab server (:mod:`onboard.lab.server`)
makes it and the faults change it. Not to be confused with :mod:`onboard.lab.state`, the lab's files.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from onboard.facts import SESSION_AGENT_ACTIONS
from onboard.lab.iampolicy import Decision, Principal, evaluate, role_policies
from onboard.lab.sessions import SessionRegistry
from onboard.lab.world import World


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
    #: Caller name -> how far the `clock-skew` fault moves the lab's clock for their requests.
    clock_offsets: dict[str, timedelta] = field(default_factory=dict)
    #: When the lab started (the last ping of an agent that was never online).
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def iam(self) -> Any:
        """moto's IAM backend for the lab's account."""
        from moto.iam.models import iam_backends

        return iam_backends[self.account]["aws"]

    @property
    def account(self) -> str:
        return self.world.account

    @property
    def region(self) -> str:
        return self.world.region

    def session_arn(self, session_id: str) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:session/{session_id}"

    def output_url(self, location: tuple[str, str] | None) -> str:
        """Where a session's transcript goes (path-style on the lab's own endpoint); "" when not logged."""
        return f"{self.endpoint_url}/{location[0]}/{location[1]}" if location else ""

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
        try:
            documents = role_policies(self.iam, role)
        except Exception:  # the role was deleted by hand: the agent cannot authenticate
            return False
        principal = Principal(
            arn=f"arn:aws:sts::{self.account}:assumed-role/{role}/{instance_id}",
            name=role,
            user_id=instance_id,
            kind="AssumedRole",
        )
        allowed = (evaluate(documents, action, "*", principal) for action in SESSION_AGENT_ACTIONS)
        return all(decision is Decision.ALLOWED for decision in allowed)
