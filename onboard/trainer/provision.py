"""`onboard trainer provision`: the class's stack planned as a change set, applied, then keys and kits.

1. The class (a class list CSV or ``--learners``) and the team file give the stack's resources
   (:mod:`onboard.trainer.template`); what the account already has outside the stack (the transfer or
   session-log bucket, the session preferences document) is left out of it and named in the plan, and a
   learner whose IAM user exists outside the stack is refused before anything is made.
2. The plan is a change set (:mod:`onboard.trainer.stack`). Without ``--apply`` it is shown, then deleted
   (with the empty REVIEW_IN_PROGRESS stack a first plan makes), so planning leaves nothing in the account.
3. ``--apply`` executes it and waits; a failure is CloudFormation's rollback, reported with the failed
   resources' reasons from the stack's events.
4. Then, through the IAM API and never through the stack, each learner without an access key gets one,
   and a kit (:func:`onboard.classroom.write_kit`). A learner who has a key but no kit is reported: a secret
   cannot be read back, so the way out is a new key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from onboard.classroom import (
    CA_FILE,
    TEAM_FILE,
    ClassList,
    class_from_names,
    key_csv_name,
    read_class_list,
    write_kit,
)
from onboard.errors import OnboardError, UsageError
from onboard.secrets import Secret
from onboard.sessionprefs import DOCUMENT_NAME
from onboard.team import TeamFile, dump_team
from onboard.trainer.stack import (
    PERMISSIONS,
    ChangeSet,
    Progress,
    StackOutcome,
    aws_call,
    create_change_set,
    discard,
    execute,
    iam_user_names,
    stack_resources,
    stack_status,
)
from onboard.trainer.template import ClassResources, class_resources, template_text

#: The named IAM resources need CAPABILITY_NAMED_IAM (CloudFormation refuses the change set without it).
CAPABILITIES = ("CAPABILITY_NAMED_IAM",)
#: CreateChangeSet's TemplateBody limit; larger templates go through S3 (TemplateURL).
MAX_TEMPLATE_BODY = 51_200


class KeyState(str, Enum):
    CREATED = "created"
    #: A key exists, and the kit in the kits folder holds it.
    HAS_KIT = "has-kit"
    #: A key exists and no kit here holds it: the secret cannot be read back.
    NO_KIT = "no-kit"


@dataclass(frozen=True)
class LearnerKey:
    name: str
    state: KeyState
    #: The learner's access key ids (never the secrets).
    access_key_ids: tuple[str, ...]
    kit: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.state.value,
            "access_key_ids": list(self.access_key_ids),
            "kit": str(self.kit) if self.kit else None,
            "fix": self.fix,
        }

    @property
    def fix(self) -> str | None:
        if self.state is not KeyState.NO_KIT:
            return None
        keys = " ".join(self.access_key_ids)
        return (
            f"the secret of {keys} cannot be read back: delete it "
            f"(aws iam delete-access-key --user-name {self.name} --access-key-id {self.access_key_ids[0]}) "
            "and run provision --apply again, which makes a new key and kit"
        )


@dataclass(frozen=True)
class ProvisionResult:
    stack: str
    change_set: ChangeSet
    #: What the account has outside the stack and the stack leaves as it is.
    kept: tuple[str, ...]
    applied: bool
    outcome: StackOutcome | None
    keys: tuple[LearnerKey, ...]
    kits_dir: Path

    @property
    def change_set_fate(self) -> str:
        if self.change_set.empty:
            return "deleted (it changed nothing)"
        return "executed" if self.applied else "deleted (nothing was changed; run with --apply)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "change_set": {
                "name": self.change_set.name,
                "type": self.change_set.kind,
                "fate": self.change_set_fate,
                "changes": [change.to_dict() for change in self.change_set.changes],
            },
            "no_changes": self.change_set.empty,
            "kept": list(self.kept),
            "applied": self.applied,
            "stack_status": self.outcome.status if self.outcome else None,
            "learners": [key.to_dict() for key in self.keys],
            "kits_dir": str(self.kits_dir),
        }


@dataclass(frozen=True)
class ProvisionOptions:
    team: TeamFile
    learners: ClassList
    clients: Callable[[str], Any]
    kits_dir: Path
    apply: bool = False


def class_of(class_csv: Path | None, learners: str | None) -> ClassList:
    """The class from ``--class FILE`` or ``--learners a,b,c`` (exactly one of them)."""
    if (class_csv is None) == (learners is None):
        raise UsageError(
            "name the class with --class FILE or --learners a,b,c (one of them)",
            "For example: onboard trainer provision --class class.csv",
        )
    if class_csv is not None:
        return read_class_list(class_csv)
    return class_from_names((learners or "").split(","))


def plan_resources(team: TeamFile, learners: ClassList, clients: Callable[[str], Any]) -> ClassResources:
    """The stack's resources, with what the account already has outside the stack left out."""
    from onboard.trainer.inputs import policy_inputs
    from onboard.trainer.template import stack_name

    stack = stack_name(team)
    cfn = clients("cloudformation")
    with aws_call("reading the account", PERMISSIONS):
        account = clients("sts").get_caller_identity()["Account"]
        owned = stack_resources(cfn, stack) if stack_status(cfn, stack) is not None else {}
        owned_names = {physical for _type, physical in owned.values()}
        inputs = policy_inputs(team, account=account, learners=",".join(learners.names))
        wanted = {location.bucket for location in (inputs.transfer, inputs.session_logs) if location}
        existing = frozenset(
            bucket for bucket in wanted - owned_names if _bucket_exists(clients("s3"), bucket)
        )
        keep_preferences = "SessionPreferences" not in owned and _document_exists(clients("ssm"))
        _refuse_foreign_users(clients("iam"), learners, owned_names, stack)
    return class_resources(
        team, learners, inputs, existing_buckets=existing, keep_preferences=keep_preferences
    )


def kept_outside(team: TeamFile, resources: ClassResources) -> tuple[str, ...]:
    """What the plan leaves as the account has it, in words."""
    kept = []
    for location in (team.transfer, team.session_logs):
        if location and location.bucket not in resources.buckets.values():
            kept.append(f"s3://{location.bucket} (exists outside the stack)")
    if resources.preferences is None:
        kept.append(f"{DOCUMENT_NAME} (exists outside the stack; check-account --fix keeps it right)")
    return tuple(dict.fromkeys(kept))


def provision(options: ProvisionOptions, progress: Progress) -> ProvisionResult:
    resources = plan_resources(options.team, options.learners, options.clients)
    body = template_text(resources)
    if len(body.encode("utf-8")) > MAX_TEMPLATE_BODY:
        raise UsageError(
            f"the template is {len(body.encode())} bytes; CloudFormation takes at most {MAX_TEMPLATE_BODY} "
            "in a request",
            "Split the class in two classes (two team files), or deploy the --template output from S3.",
        )
    cfn = options.clients("cloudformation")
    change_set = create_change_set(cfn, resources.stack, body, capabilities=CAPABILITIES)
    outcome = None
    if change_set.empty or not options.apply:
        discard(cfn, change_set)
    else:
        outcome = execute(cfn, change_set, progress)
        if not outcome.ok:
            reasons = "; ".join(outcome.failures) or "no resource said why"
            raise OnboardError(
                f"the stack {resources.stack} ended in {outcome.status}: {reasons}",
                "CloudFormation rolled back what it made. Fix the cause and run again; a stack in "
                "ROLLBACK_COMPLETE is removed with `onboard trainer deprovision`.",
            )
    keys: tuple[LearnerKey, ...] = ()
    if options.apply:
        keys = hand_out_keys(options, options.clients("iam"))
    return ProvisionResult(
        stack=resources.stack,
        change_set=change_set,
        kept=kept_outside(options.team, resources),
        applied=options.apply and not change_set.empty,
        outcome=outcome,
        keys=keys,
        kits_dir=options.kits_dir,
    )


def hand_out_keys(options: ProvisionOptions, iam: Any) -> tuple[LearnerKey, ...]:
    """A key and a kit for each learner who has no key; the others as they are."""
    handed = []
    # A class lab's own CA goes into each kit, and the kit's team file names it (ca_bundle = "ca.pem").
    ca_pem = options.team.ca_bundle.read_text(encoding="ascii") if options.team.ca_bundle else None
    for learner in options.learners.learners:
        with aws_call(f"reading {learner.name}'s access keys", PERMISSIONS):
            ids = tuple(
                key["AccessKeyId"] for key in iam.list_access_keys(UserName=learner.name)["AccessKeyMetadata"]
            )
        if ids:
            held = _kit_holding(options.kits_dir, learner.name, ids)
            handed.append(LearnerKey(learner.name, KeyState.HAS_KIT if held else KeyState.NO_KIT, ids, held))
            continue
        with aws_call(f"creating {learner.name}'s access key", PERMISSIONS):
            made = iam.create_access_key(UserName=learner.name)["AccessKey"]
        kit = write_kit(
            options.kits_dir,
            learner,
            team_text=kit_team_text(options.team, options.kits_dir / learner.name),
            access_key_id=made["AccessKeyId"],
            secret_access_key=Secret(made["SecretAccessKey"]),
            ca_bundle_pem=ca_pem,
        )
        handed.append(LearnerKey(learner.name, KeyState.CREATED, (made["AccessKeyId"],), kit.folder))
    return tuple(handed)


def kit_team_text(team: TeamFile, folder: Path) -> str:
    """The team file as a learner's kit holds it: progress published, so the trainer's report sees it."""
    ca_bundle = folder / CA_FILE if team.ca_bundle else None
    published = replace(team.lessons, publish=True)
    return dump_team(replace(team, path=folder / TEAM_FILE, lessons=published, ca_bundle=ca_bundle))


def _kit_holding(kits_dir: Path, name: str, key_ids: tuple[str, ...]) -> Path | None:
    """The kit folder whose key CSV holds one of ``key_ids``, if there is one."""
    from onboard.awsconfig import read_credentials_csv

    folder = kits_dir / name
    try:
        held = read_credentials_csv(folder / key_csv_name(name)).access_key_id
    except OnboardError:
        return None
    return folder if held in key_ids else None


def _bucket_exists(s3: Any, bucket: str) -> bool:
    import botocore.exceptions

    try:
        s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def _document_exists(ssm: Any) -> bool:
    import botocore.exceptions

    try:
        ssm.describe_document(Name=DOCUMENT_NAME)
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "InvalidDocument":
            return False
        raise
    return True


def _refuse_foreign_users(iam: Any, learners: ClassList, owned: set[str], stack: str) -> None:
    """A learner's user that exists outside the stack would fail the stack: say so before anything."""
    existing = {name.lower(): name for name in iam_user_names(iam)}
    owned_lower = {name.lower() for name in owned}
    for learner in learners.learners:
        found = existing.get(learner.name.lower())
        if found is not None and found.lower() not in owned_lower:
            raise UsageError(
                f"the IAM user {found!r} already exists outside the stack {stack} "
                "(IAM user names are the same regardless of case)",
                f"Give the learner another name in the class list, or delete the user {found} first.",
            )
