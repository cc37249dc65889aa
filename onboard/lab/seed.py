"""Seeding the lab's world into moto's backends: IAM people and policies, EC2 instances, S3 buckets.

Seeding writes straight into moto's in-process backends (no HTTP round trips), which is what keeps a class
of 30 learners well under a second. The policies (:mod:`onboard.lab.policies`) are the seed article's (the
user policy on the IAM group, the instance policy on each instance's role) plus the read-only extras the
lessons and doctor need.
Access keys are kept stable across restarts and resets: pass the keys a previous run issued as
``known_keys`` and the same ones are installed again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from onboard.facts import bucket_lifecycle
from onboard.lab.agent import LAB_AMI
from onboard.lab.cloudformation import lifecycle_rules
from onboard.lab.policies import (
    ADMIN_POLICY,
    ASSUME_BY_EC2,
    EXTRAS_POLICY,
    INSTANCE_POLICY,
    TRAINER_POLICY,
    USER_POLICY,
    extras_policy,
    instance_policy,
    instance_transfer_policy,
    trainer_policy,
    user_policy,
)
from onboard.lab.sessions import LabInstance
from onboard.lab.world import World, WorldInstance
from onboard.secrets import Secret

PARTITION = "aws"
ADMIN_USER = "lab-admin"


@dataclass(frozen=True)
class AccessKeyPair:
    user: str
    access_key_id: str
    secret_access_key: Secret


@dataclass
class SeededWorld:
    world: World
    #: IAM user name -> its access key (admin, trainer, each learner).
    keys: dict[str, AccessKeyPair]
    instances: dict[str, LabInstance] = field(default_factory=dict)
    #: instance id -> the name of its role (for the agent's health and the role fault).
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def learners(self) -> tuple[str, ...]:
        return self.world.learners


def seed(
    world: World,
    *,
    instances_root: Path,
    endpoint_url: str,
    known_keys: Mapping[str, AccessKeyPair] | None = None,
    ca_bundle: Path | None = None,
) -> SeededWorld:
    """Create ``world`` in moto's (empty) backends, and each instance's folder tree in ``instances_root``.

    ``ca_bundle``: the class lab's CA, which ``aws`` on the instances trusts for ``endpoint_url``."""
    from moto.iam.models import iam_backends

    iam = iam_backends[world.account][PARTITION]
    known_keys = known_keys or {}
    keys: dict[str, AccessKeyPair] = {}

    def create_user(name: str) -> None:
        iam.create_user(world.region, name)
        keys[name] = _install_key(iam, name, known_keys.get(name))

    create_user(ADMIN_USER)
    iam.put_user_policy(ADMIN_USER, "administrator", json.dumps(ADMIN_POLICY))
    create_user(world.trainer)
    trainer_arn = _managed_policy(iam, TRAINER_POLICY, trainer_policy(world), "What the lab's trainer may do")
    iam.attach_user_policy(trainer_arn, world.trainer)

    iam.create_group(world.group)
    for name, document, description in (
        (USER_POLICY, user_policy(world), "Session Manager for the team (the seed article's policy)"),
        (
            EXTRAS_POLICY,
            extras_policy(world),
            "Read-only looks and the transfer bucket, for lessons and doctor",
        ),
    ):
        iam.attach_group_policy(_managed_policy(iam, name, document, description), world.group)
    for learner in world.learners:
        create_user(learner)
        iam.add_user_to_group(world.group, learner)

    seeded = SeededWorld(world=world, keys=keys)
    _seed_buckets(world)
    _seed_instances(world, iam, seeded, instances_root, endpoint_url, ca_bundle)
    return seeded


def _managed_policy(iam, name: str, document: dict, description: str) -> str:
    policy = iam.create_policy(
        description=description, path="/", policy_document=json.dumps(document), policy_name=name, tags=[]
    )
    return policy.arn


def _install_key(iam, user: str, known: AccessKeyPair | None) -> AccessKeyPair:
    key = iam.create_access_key(user)
    if known is not None:
        # Re-issue the key a previous run handed out, so set-up profiles keep working after a restart.
        del iam.access_keys[key.access_key_id]
        key.access_key_id = known.access_key_id
        key.secret_access_key = known.secret_access_key.reveal()
        iam.access_keys[key.access_key_id] = key
    return AccessKeyPair(user, key.access_key_id, Secret(key.secret_access_key))


def _seed_buckets(world: World) -> None:
    from moto.s3.models import s3_backends

    s3 = s3_backends[world.account][PARTITION]
    for bucket in (world.transfer_bucket, world.log_bucket):
        s3.create_bucket(bucket, world.region)
        # As a provisioned class's buckets (onboard.trainer.template): unfinished uploads go after a day.
        s3.put_bucket_lifecycle_configuration(bucket, lifecycle_rules(bucket_lifecycle()))
    s3.put_object(
        world.transfer_bucket,
        f"{world.shared_prefix}welcome.txt",
        b"Welcome to the practice lab. Copy this file to your instance with aws s3 cp.\n",
    )


def _seed_instances(
    world: World,
    iam,
    seeded: SeededWorld,
    instances_root: Path,
    endpoint_url: str,
    ca_bundle: Path | None,
) -> None:
    from moto.ec2.models import ec2_backends
    from moto.ec2.models import instances as ec2_instances

    ec2 = ec2_backends[world.account][world.region]
    ssm_policy_arn = _managed_policy(iam, INSTANCE_POLICY, instance_policy(), "What the SSM agent needs")
    transfer_policy = json.dumps(instance_transfer_policy(world))
    real_random_id = ec2_instances.random_instance_id
    try:
        for spec in world.instances:
            role_name = f"{spec.alias}-ssm-role"
            role = iam.create_role(
                role_name, json.dumps(ASSUME_BY_EC2), "/", None, f"The {spec.alias} server's role", [], None
            )
            iam.attach_role_policy(ssm_policy_arn, role_name)
            iam.put_role_policy(role_name, "transfer-bucket", transfer_policy)
            iam.create_instance_profile(f"{spec.alias}-ssm-profile", "/", [role_name])
            # moto draws instance ids at random; the world fixes them so the team file stays valid.
            ec2_instances.random_instance_id = lambda instance_id=spec.instance_id: instance_id  # type: ignore[misc]
            ec2.run_instances(
                LAB_AMI,
                1,
                None,
                [],
                instance_type="t3.medium",
                is_instance_type_default=False,
                private_ip=spec.private_ip,
                tags={"instance": {"Name": spec.alias}},
            )
            ec2.associate_iam_instance_profile(
                spec.instance_id, iam_instance_profile_name=f"{spec.alias}-ssm-profile"
            )
            seeded.roles[spec.instance_id] = role_name
            seeded.instances[spec.instance_id] = lab_instance(
                world,
                spec,
                role.arn,
                instances_root=instances_root,
                endpoint_url=endpoint_url,
                ca_bundle=ca_bundle,
            )
    finally:
        ec2_instances.random_instance_id = real_random_id


def lab_instance(
    world: World,
    spec: WorldInstance,
    role_arn: str | None,
    *,
    instances_root: Path,
    endpoint_url: str,
    ca_bundle: Path | None = None,
) -> LabInstance:
    """What the data channel needs of one instance: its fresh folder tree and its role's credentials
    (none without a role: the agent cannot register then, so no session reaches it)."""
    from moto.sts.models import sts_backends

    key_id, secret, token = "", Secret(""), None
    if role_arn is not None:
        sts = sts_backends[world.account][PARTITION]
        credentials = sts.assume_role(world.region, spec.instance_id, role_arn, "", 43200, "")
        key_id, secret = credentials.access_key_id, Secret(credentials.secret_access_key)
        token = Secret(credentials.session_token)
    root = instances_root / spec.instance_id
    _fresh_tree(root, ("ssm-user", *spec.users))
    return LabInstance(
        instance_id=spec.instance_id,
        name=spec.alias,
        users=list(spec.users),
        root=root,
        region=world.region,
        endpoint_url=endpoint_url,
        ca_bundle=ca_bundle,
        role_access_key_id=key_id,
        role_secret_access_key=secret,
        role_session_token=token,
        platform_name=spec.platform,
        hostname=spec.hostname,
        private_ip=spec.private_ip,
        services=spec.services,
        agent_version=spec.agent_version,
    )


def _fresh_tree(root: Path, users: tuple[str, ...]) -> None:
    if root.exists():
        shutil.rmtree(root)
    for user in users:
        (root / "home" / user).mkdir(parents=True, mode=0o755)
