"""What check-account reads from the account, each fact asked once per run and shared by the checks.

Few, wide calls keep a class-sized account fast: one DescribeInstances for the team's instances, one
DescribeInstanceInformation, and IAM's GetAccountAuthorizationDetails (every user, group, role and
policy with its documents) instead of a dozen calls per learner. Policies are evaluated with onboard's
own evaluator (:mod:`onboard.lab.iampolicy`, which implements AWS's identity-policy rules) when IAM's
SimulatePrincipalPolicy is not allowed or not available.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onboard.doctor.context import DoctorContext
from onboard.errors import OnboardError
from onboard.team import TeamFile
from onboard.trainer.policy import PolicyInputs


@dataclass(frozen=True)
class Principal:
    """An IAM user or role with every identity policy that applies to it (parsed documents)."""

    kind: str  # "User" or "Role"
    name: str
    arn: str
    policies: tuple[dict[str, Any], ...]
    #: Names of the managed policies attached (directly or through a group).
    attached: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Authorization:
    """GetAccountAuthorizationDetails, indexed."""

    users: Mapping[str, Principal]
    roles: Mapping[str, Principal]
    #: instance profile ARN -> role name
    profile_roles: Mapping[str, str]
    #: group name -> member user names
    group_members: Mapping[str, tuple[str, ...]]
    #: managed policy name -> ARN
    policy_arns: Mapping[str, str]


class AccountFacts:
    """The account as the trainer's keys see it; every method asks AWS at most once per run."""

    def __init__(
        self,
        ctx: DoctorContext,
        team: TeamFile,
        inputs: PolicyInputs,
        *,
        learners: tuple[str, ...] = (),
        group: str | None = None,
    ):
        self.ctx = ctx
        self.team = team
        self.inputs = inputs
        self._learners = learners
        self.group = group

    def learners(self) -> tuple[str, ...]:
        """The learners named (--learners), else the members of the learners' IAM group (--group)."""
        if self._learners or self.group is None:
            return self._learners
        return self.authorization().group_members.get(self.group, ())

    def learner_needs(self, name: str) -> list[tuple[str, str, str, dict[str, list[str]]]]:
        """(label, action, resource, condition context) of what one learner must be allowed."""
        from onboard.iamnames import document_arn

        region, account = self.region(), self.account_id()
        needs = []
        for instance in self.team.instances:
            described = self.instances().get(instance.id, {})
            tags = {f"ssm:resourcetag/{t['Key']}": [t["Value"]] for t in described.get("Tags", [])}
            arn = f"arn:aws:ec2:{region}:{account}:instance/{instance.id}"
            needs.append((f"ssm:StartSession on {instance.alias}", "ssm:StartSession", arn, tags))
        document = document_arn(region, account, "AWS-StartInteractiveCommand")
        own_session = f"arn:aws:ssm:{region}:{account}:session/{name}-0123456789abcdef0"
        transfer = self.inputs.transfer
        own_object = f"arn:aws:s3:::{transfer.bucket}/{transfer.prefix}{name}/probe.txt"
        needs += [
            ("ssm:StartSession on AWS-StartInteractiveCommand", "ssm:StartSession", document, {}),
            ("ssm:TerminateSession on own sessions", "ssm:TerminateSession", own_session, {}),
            ("ssm:DescribeInstanceInformation", "ssm:DescribeInstanceInformation", "*", {}),
            ("s3:PutObject in own folder", "s3:PutObject", own_object, {}),
        ]
        return needs

    def account_id(self) -> str:
        """--account, else the account of the IAM ARNs already read (no STS client or call), else STS."""
        if self.inputs.account:
            return self.inputs.account
        authorization = self.authorization()
        for principal in (*authorization.roles.values(), *authorization.users.values()):
            return principal.arn.split(":")[4]
        return self.ctx.identity().account

    def region(self) -> str:
        return self.team.region

    def client(self, service: str) -> Any:
        return self.ctx.client(service)

    def instances(self) -> Mapping[str, dict[str, Any]]:
        """instance id -> DescribeInstances' description, for the team's instances that exist."""

        def ask() -> dict[str, dict[str, Any]]:
            ec2 = self.client("ec2")
            ids = [i.id for i in self.team.instances]
            found: dict[str, dict[str, Any]] = {}
            pages = ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "instance-id", "Values": ids}]
            )
            for page in pages:
                for reservation in page["Reservations"]:
                    for instance in reservation["Instances"]:
                        found[instance["InstanceId"]] = instance
            return found

        return self.ctx.memo("trainer:instances", ask)

    def managed_nodes(self) -> Mapping[str, dict[str, Any]]:
        """instance id -> DescribeInstanceInformation's entry: only instances that registered."""

        def ask() -> dict[str, dict[str, Any]]:
            ssm = self.client("ssm")
            nodes: dict[str, dict[str, Any]] = {}
            for page in ssm.get_paginator("describe_instance_information").paginate():
                for info in page["InstanceInformationList"]:
                    nodes[info["InstanceId"]] = info
            return nodes

        return self.ctx.memo("trainer:nodes", ask)

    def authorization(self) -> Authorization:
        return self.ctx.memo("trainer:authorization", self._read_authorization)

    def _read_authorization(self) -> Authorization:
        from onboard.lab.iampolicy import parse_document

        iam = self.client("iam")
        users: list[dict[str, Any]] = []
        groups: list[dict[str, Any]] = []
        roles: list[dict[str, Any]] = []
        policies: list[dict[str, Any]] = []
        for page in iam.get_paginator("get_account_authorization_details").paginate():
            users += page.get("UserDetailList", [])
            groups += page.get("GroupDetailList", [])
            roles += page.get("RoleDetailList", [])
            policies += page.get("Policies", [])
        managed = {
            p["Arn"]: [parse_document(v["Document"]) for v in p["PolicyVersionList"] if v["IsDefaultVersion"]]
            for p in policies
        }

        def documents(inline: list[dict[str, Any]], attached: list[dict[str, Any]]) -> list[dict[str, Any]]:
            found = [parse_document(item["PolicyDocument"]) for item in inline]
            for item in attached:
                found += managed.get(item["PolicyArn"]) or self._managed_policy(item["PolicyArn"])
            return found

        group_docs = {
            g["GroupName"]: documents(g.get("GroupPolicyList", []), g.get("AttachedManagedPolicies", []))
            for g in groups
        }
        group_attached = {
            g["GroupName"]: [a["PolicyName"] for a in g.get("AttachedManagedPolicies", [])] for g in groups
        }
        indexed_users = {}
        members: dict[str, list[str]] = {g["GroupName"]: [] for g in groups}
        for user in users:
            docs = documents(user.get("UserPolicyList", []), user.get("AttachedManagedPolicies", []))
            attached = [a["PolicyName"] for a in user.get("AttachedManagedPolicies", [])]
            for group in user.get("GroupList", []):
                docs += group_docs.get(group, [])
                attached += group_attached.get(group, [])
                members.setdefault(group, []).append(user["UserName"])
            indexed_users[user["UserName"]] = Principal(
                "User",
                user["UserName"],
                user["Arn"],
                tuple(docs),
                tuple(attached),
                {t["Key"]: t["Value"] for t in user.get("Tags", [])},
                tuple(user.get("GroupList", [])),
            )
        indexed_roles, profile_roles = {}, {}
        for role in roles:
            docs = documents(role.get("RolePolicyList", []), role.get("AttachedManagedPolicies", []))
            indexed_roles[role["RoleName"]] = Principal(
                "Role",
                role["RoleName"],
                role["Arn"],
                tuple(docs),
                tuple(a["PolicyName"] for a in role.get("AttachedManagedPolicies", [])),
                {t["Key"]: t["Value"] for t in role.get("Tags", [])},
            )
            for profile in role.get("InstanceProfileList", []):
                profile_roles[profile["Arn"]] = role["RoleName"]
        return Authorization(
            users=indexed_users,
            roles=indexed_roles,
            profile_roles=profile_roles,
            group_members={name: tuple(names) for name, names in members.items()},
            policy_arns={p.get("PolicyName") or p["Arn"].rsplit("/", 1)[-1]: p["Arn"] for p in policies},
        )

    def _managed_policy(self, arn: str) -> list[dict[str, Any]]:
        """An AWS-managed policy the account details left out: read it by ARN."""
        from onboard.lab.iampolicy import parse_document

        iam = self.client("iam")
        try:
            policy = iam.get_policy(PolicyArn=arn)["Policy"]
        except iam.exceptions.NoSuchEntityException:  # an attachment left dangling grants nothing
            return []
        version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        return [parse_document(version["PolicyVersion"]["Document"])]

    def simulate(
        self, principal: Principal, actions: list[str], resources: list[str]
    ) -> dict[str, bool] | None:
        """IAM's own verdict per action (SimulatePrincipalPolicy), or None where IAM does not give one."""
        try:
            answer = self.client("iam").simulate_principal_policy(
                PolicySourceArn=principal.arn, ActionNames=actions, ResourceArns=resources
            )
        except Exception:  # refused, or an endpoint without the API (the lab answers 500): read instead
            return None
        return {r["EvalActionName"]: r["EvalDecision"] == "allowed" for r in answer["EvaluationResults"]}

    def preferences_document(self) -> str | None:
        """The content of SSM-SessionManagerRunShell, or None when the account has none."""
        import botocore.exceptions

        from onboard.sessionprefs import DOCUMENT_NAME

        def ask() -> str | None:
            try:
                return str(self.client("ssm").get_document(Name=DOCUMENT_NAME)["Content"])
            except botocore.exceptions.ClientError as error:
                if error.response["Error"]["Code"] in ("InvalidDocument", "DocumentNotFound"):
                    return None
                raise _refused("ssm:GetDocument", error) from None

        return self.ctx.memo("trainer:preferences", ask)


def _refused(action: str, error: Any) -> OnboardError:
    code = error.response.get("Error", {}).get("Code", "?")
    return OnboardError(
        f"{action} was refused: {code}",
        "check-account needs the trainer's read access (ec2:Describe*, ssm:Describe*/Get*, iam:Get*/List*, "
        "s3:ListBucket/GetEncryptionConfiguration).",
    )
