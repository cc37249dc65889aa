"""The SSM agent on each lab instance, registering the way amazon-ssm-agent does.

On EC2 the agent reads the instance profile's credentials when it starts and registers with Systems
Manager (``ssm:UpdateInstanceInformation``, then its ``ssmmessages`` control channel). What the lab copies:

- an instance is Online (DescribeInstanceInformation) and reachable by StartSession only while its agent is
  installed, running, and registered; it registers at start only if its instance profile's role allows the
  agent's actions at that moment;
- a policy attached to the role after the agent started has no effect until the agent restarts (the seed
  write-up's trap: ``sudo systemctl restart amazon-ssm-agent``, ``sudo snap restart amazon-ssm-agent`` on
  Ubuntu's snap, or a reboot); in the lab: ``onboard lab instance restart-agent ID`` or EC2 RebootInstances;
- a policy taken away stops a registered agent at once (its next UpdateInstanceInformation is refused and
  the instance goes ConnectionLost);
- an instance launched from a community image has no agent until one is installed
  (``onboard lab instance install-agent ID``: what ``sudo yum install -y amazon-ssm-agent`` or the snap does);
- instances launched at run time (EC2 RunInstances with an instance profile) boot their agent like the
  world's own.

Looked up in AWS's Systems Manager docs ("Troubleshooting managed node availability": the instance profile,
restarting the agent after changing it) and the seed write-up; the lab does not model the agent's own slow
retry of a failed registration (hours apart in recent agents), which is why a restart is the fix.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onboard.lab.server import LabServer

#: The image the lab launches from: an AWS AMI, amazon-ssm-agent preinstalled.
LAB_AMI = "ami-0f1a2b3c4d5e6f708"
#: A community image without the agent (the write-up's "community AMI").
COMMUNITY_AMI = "ami-0c0ffee000c0ffee0"
#: The agent version an install puts on an instance.
INSTALLED_VERSION = "3.3.1142.0"


class AgentState(str, enum.Enum):
    NOT_INSTALLED = "not installed"
    #: Running and registered: the instance is Online.
    REGISTERED = "registered"
    #: Running, but its registration was refused when it started (no or too small a role then).
    UNREGISTERED = "not registered"


@dataclass(frozen=True)
class Agent:
    instance_id: str
    state: AgentState
    version: str | None
    #: How many times the agent started (boot, restart, reboot, install).
    starts: int
    #: Whether it ever registered: Systems Manager lists only instances that did (ConnectionLost once
    #: they stop answering); one that never registered is not a managed node at all.
    ever_registered: bool = False


class AgentFleet:
    """The agents of every lab instance. ``role_allows`` says whether an instance's role lets its agent
    register now (the lab's own IAM decides)."""

    def __init__(self, role_allows: Callable[[str], bool]):
        self._role_allows = role_allows
        self._agents: dict[str, Agent] = {}
        self._lock = threading.Lock()

    def boot(self, instance_id: str, *, version: str | None) -> Agent:
        """The instance starts: an installed agent (``version`` not None) starts and tries to register."""
        if version is None:
            return self._set(Agent(instance_id, AgentState.NOT_INSTALLED, None, 0))
        return self._start(instance_id, version)

    def restart(self, instance_id: str) -> Agent:
        """``systemctl restart amazon-ssm-agent`` (or a reboot): register again with the role as it is now."""
        agent = self.get(instance_id)
        if agent.state is AgentState.NOT_INSTALLED:
            return agent
        return self._start(instance_id, agent.version or INSTALLED_VERSION)

    def install(self, instance_id: str) -> Agent:
        """Install the agent (a no-op when it is there) and start it."""
        agent = self.get(instance_id)
        if agent.state is not AgentState.NOT_INSTALLED:
            return agent
        return self._start(instance_id, INSTALLED_VERSION)

    def get(self, instance_id: str) -> Agent:
        with self._lock:
            agent = self._agents.get(instance_id)
        if agent is None:
            from onboard.errors import UsageError

            raise UsageError(
                f"no lab instance {instance_id}", "See the lab's instances with `onboard lab status`."
            )
        return agent

    def knows(self, instance_id: str) -> bool:
        with self._lock:
            return instance_id in self._agents

    def online(self, instance_id: str) -> bool:
        """Registered at its last start and still allowed (a policy taken away stops it at once)."""
        with self._lock:
            agent = self._agents.get(instance_id)
        return agent is not None and agent.state is AgentState.REGISTERED and self._role_allows(instance_id)

    def forget(self, instance_id: str) -> None:
        with self._lock:
            self._agents.pop(instance_id, None)

    def forget_all(self) -> None:
        with self._lock:
            self._agents.clear()

    def _start(self, instance_id: str, version: str) -> Agent:
        with self._lock:
            previous = self._agents.get(instance_id)
        state = AgentState.REGISTERED if self._role_allows(instance_id) else AgentState.UNREGISTERED
        ever = state is AgentState.REGISTERED or bool(previous and previous.ever_registered)
        return self._set(Agent(instance_id, state, version, (previous.starts if previous else 0) + 1, ever))

    def _set(self, agent: Agent) -> Agent:
        with self._lock:
            self._agents[agent.instance_id] = agent
        return agent


# --- wiring into the running lab ----------------------------------------------------------------------


def instance_role(account: str, region: str, instance_id: str) -> str | None:
    """The role of the instance profile associated with ``instance_id`` now (moto's EC2), if any."""
    from moto.ec2.models import ec2_backends

    association = ec2_backends[account][region].iam_instance_profile_associations.get(instance_id)
    if association is None or association.state != "associated":
        return None
    roles = association.iam_instance_profile.roles
    return roles[0].name if roles else None


def attach(server: LabServer) -> None:
    """Give the lab its agents: the fleet, the EC2 hooks (RunInstances, RebootInstances) and admin calls."""
    server.state.agents = AgentFleet(server.state.role_allows_agent)
    server.state.admin_handlers.update(
        {
            "agent/restart": lambda request: _agent_answer(server, request, AgentFleet.restart),
            "agent/install": lambda request: _agent_answer(server, request, AgentFleet.install),
        }
    )
    _install_into_moto(server)


def boot_world(server: LabServer) -> None:
    """The world's instances start (lab up, lab reset): each agent starts with the role as seeded."""
    server.state.world = server.world  # instances added at run time are gone after a reset
    fleet: AgentFleet = server.state.agents
    fleet.forget_all()
    for spec in server.world.instances:
        fleet.boot(spec.instance_id, version=spec.agent_version)


def _agent_answer(
    server: LabServer, request: dict[str, object], action: Callable[..., Agent]
) -> dict[str, object]:
    instance_id = _resolve(server, request.get("target"))
    agent = action(server.state.agents, instance_id)
    return {
        "instance": instance_id,
        "agent": agent.state.value,
        "version": agent.version,
        "online": server.state.agent_online(instance_id),
    }


def _resolve(server: LabServer, target: object) -> str:
    from onboard.errors import UsageError

    world = server.state.world
    for spec in world.instances:
        if target in (spec.alias, spec.instance_id):
            return spec.instance_id
    known = ", ".join(f"{i.alias} ({i.instance_id})" for i in world.instances)
    raise UsageError(f"the lab has no instance {target!r}", f"Name one of: {known}.")


def _install_into_moto(server: LabServer) -> None:
    """Patch moto's EC2 backend class so that launches and reboots reach the lab's agents."""
    from moto.ec2.models import EC2Backend

    original_run = getattr(EC2Backend.run_instances, "_onboard_original", EC2Backend.run_instances)
    original_reboot = getattr(EC2Backend.reboot_instances, "_onboard_original", EC2Backend.reboot_instances)
    original_terminate = getattr(
        EC2Backend.terminate_instances, "_onboard_original", EC2Backend.terminate_instances
    )

    original_associate = getattr(
        EC2Backend.associate_iam_instance_profile,
        "_onboard_original",
        EC2Backend.associate_iam_instance_profile,
    )
    #: Instances launched with a profile: moto associates it after RunInstances returns, so their agent
    #: boots at that association (on EC2 the profile is there when the instance first starts).
    booting: dict[str, str] = {}

    def run_instances(self: Any, image_id: str, *args: Any, **kwargs: Any) -> Any:
        reservation = original_run(self, image_id, *args, **kwargs)
        if self.account_id == server.world.account and self.region_name == server.world.region:
            with_profile = kwargs.get("iam_instance_profile_name") or kwargs.get("iam_instance_profile_arn")
            for instance in reservation.instances:
                if not _launched(server, instance):
                    continue
                if with_profile:
                    booting[instance.id] = image_id
                else:
                    _boot(server, instance.id, image_id)
        return reservation

    def associate_iam_instance_profile(self: Any, instance_id: str, *args: Any, **kwargs: Any) -> Any:
        association = original_associate(self, instance_id, *args, **kwargs)
        if instance_id in booting:
            _launched_with_role(server, instance_id)
            _boot(server, instance_id, booting.pop(instance_id))
        return association

    associate_iam_instance_profile._onboard_original = original_associate  # type: ignore[attr-defined]
    EC2Backend.associate_iam_instance_profile = associate_iam_instance_profile  # type: ignore[method-assign]

    def reboot_instances(self: Any, instance_ids: list[str]) -> Any:
        rebooted = original_reboot(self, instance_ids)
        fleet: AgentFleet = server.state.agents
        for instance in rebooted:
            if fleet.knows(instance.id):
                fleet.restart(instance.id)
        return rebooted

    def terminate_instances(self: Any, instance_ids: list[str]) -> Any:
        terminated = original_terminate(self, instance_ids)
        for instance, _ in terminated:
            _terminated(server, instance.id)
        return terminated

    terminate_instances._onboard_original = original_terminate  # type: ignore[attr-defined]
    EC2Backend.terminate_instances = terminate_instances  # type: ignore[method-assign]
    run_instances._onboard_original = original_run  # type: ignore[attr-defined]
    reboot_instances._onboard_original = original_reboot  # type: ignore[attr-defined]
    EC2Backend.run_instances = run_instances  # type: ignore[method-assign]
    EC2Backend.reboot_instances = reboot_instances  # type: ignore[method-assign]


def _launched(server: LabServer, instance: Any) -> bool:
    """A server the trainer added joins the world (DescribeInstanceInformation, sessions); False for one
    of the world's own, being seeded."""
    from dataclasses import replace

    from onboard.lab.seed import lab_instance
    from onboard.lab.world import WorldInstance

    world = server.state.world
    if any(spec.instance_id == instance.id for spec in world.instances):
        return False
    name = next((tag["value"] for tag in instance.get_tags() if tag["key"] == "Name"), instance.id)
    spec = WorldInstance(
        alias=name,
        instance_id=instance.id,
        users=(),
        agent_version=INSTALLED_VERSION,
        private_ip=instance.private_ip or "10.0.1.99",
    )
    server.instances[instance.id] = lab_instance(
        world,
        spec,
        None,
        instances_root=server.paths.instances_dir,
        endpoint_url=server.endpoint_url,
        ca_bundle=server.ca_bundle,
    )
    server.state.world = replace(world, instances=(*world.instances, spec))
    return True


def _launched_with_role(server: LabServer, instance_id: str) -> None:
    """Its profile is associated: the shells on it get the role's credentials, as from the instance's IMDS."""
    from dataclasses import replace

    from moto.sts.models import sts_backends

    from onboard.secrets import Secret

    world = server.state.world
    role = instance_role(world.account, world.region, instance_id)
    if role is None:
        return
    server.state.roles[instance_id] = role
    sts = sts_backends[world.account]["aws"]
    role_arn = f"arn:aws:iam::{world.account}:role/{role}"
    credentials = sts.assume_role(world.region, instance_id, role_arn, "", 43200, "")
    server.instances[instance_id] = replace(
        server.instances[instance_id],
        role_access_key_id=credentials.access_key_id,
        role_secret_access_key=Secret(credentials.secret_access_key),
        role_session_token=Secret(credentials.session_token),
    )


def _boot(server: LabServer, instance_id: str, image_id: str) -> None:
    server.state.agents.boot(instance_id, version=None if image_id == COMMUNITY_AMI else INSTALLED_VERSION)


def _terminated(server: LabServer, instance_id: str) -> None:
    """A terminated instance is deregistered: it leaves DescribeInstanceInformation and takes no sessions."""
    from dataclasses import replace

    world = server.state.world
    server.state.world = replace(
        world, instances=tuple(s for s in world.instances if s.instance_id != instance_id)
    )
    server.state.agents.forget(instance_id)
    server.instances.pop(instance_id, None)
