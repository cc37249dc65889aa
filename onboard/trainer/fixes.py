"""The safe repairs check-account offers: attach a generated policy, create or update the preferences.

Each is a doctor :class:`~onboard.doctor.model.Fix`. They only add: a managed policy named after
``onboard trainer policy``'s output (created, or given a new default version), attached to a role or to
users; the preferences document created, or given a new default version with the team's log location
(the other settings kept as they were). Nothing is deleted and nothing on an instance is touched.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from onboard.doctor.model import Fix, FixResult
from onboard.errors import OnboardError
from onboard.sessionprefs import DOCUMENT_NAME, SessionPreferences
from onboard.trainer.policy import Policy, generate

if TYPE_CHECKING:
    from onboard.trainer.facts import AccountFacts

#: Managed policies keep at most five versions (IAM's limit).
_MAX_VERSIONS = 5


def attach_instance_policy(facts: AccountFacts, role: str) -> Fix:
    def apply() -> FixResult:
        policy = generate(facts.inputs).instance
        with _aws(f"attaching {policy.name} to {role}"):
            arn = _ensure_policy(facts, policy)
            facts.client("iam").attach_role_policy(RoleName=role, PolicyArn=arn)
        return FixResult(
            f"attached {policy.name} to the role {role}",
            then="restart the agent on the instance (sudo systemctl restart amazon-ssm-agent) or reboot it",
        )

    return Fix(
        f"attach-instance-policy:{role}", f"attach the generated instance policy to the role {role}", apply
    )


def attach_learner_policy(facts: AccountFacts, learners: list[str]) -> Fix:
    def apply() -> FixResult:
        policy = generate(replace(facts.inputs, learners=tuple(facts.learners()))).learner
        with _aws(f"attaching {policy.name} to the learners"):
            arn = _ensure_policy(facts, policy)
            iam = facts.client("iam")
            for learner in learners:
                iam.attach_user_policy(UserName=learner, PolicyArn=arn)
        return FixResult(f"attached {policy.name} to {', '.join(learners)}")

    return Fix(
        "attach-learner-policy",
        f"attach the generated learner policy to {', '.join(learners)}",
        apply,
    )


def write_preferences(facts: AccountFacts, current: SessionPreferences | None) -> Fix:
    from onboard.trainer.template import team_preferences

    wanted = team_preferences(facts.team.session_logs, current)
    where = f"s3://{wanted.s3_bucket}/{wanted.log_prefix()}" if wanted.s3_bucket else "no S3 logging"
    verb = "create" if current is None else "update"

    def apply() -> FixResult:
        ssm = facts.client("ssm")
        content = json.dumps(wanted.content())
        with _aws("writing the session preferences"):
            if current is None:
                ssm.create_document(
                    Name=DOCUMENT_NAME, Content=content, DocumentType="Session", DocumentFormat="JSON"
                )
                return FixResult(f"created {DOCUMENT_NAME}: logs to {where}, encrypted")
            try:
                version = ssm.update_document(Name=DOCUMENT_NAME, Content=content, DocumentVersion="$LATEST")
                number = version["DocumentDescription"]["DocumentVersion"]
            except ssm.exceptions.DuplicateDocumentContent:  # an older version says exactly this: use it
                number = _version_with(ssm, content)
            ssm.update_document_default_version(Name=DOCUMENT_NAME, DocumentVersion=number)
        return FixResult(f"{DOCUMENT_NAME} version {number} is now in force: logs to {where}, encrypted")

    return Fix(
        "write-preferences", f"{verb} the session preferences: logs to {where}, encryption required", apply
    )


def _version_with(ssm: Any, content: str) -> str:
    """The version of the preferences document holding ``content`` (versions are numbered 1 to latest)."""
    wanted = json.loads(content)
    latest = int(ssm.describe_document(Name=DOCUMENT_NAME)["Document"]["LatestVersion"])
    for number in range(latest, 0, -1):
        held = ssm.get_document(Name=DOCUMENT_NAME, DocumentVersion=str(number))["Content"]
        if json.loads(held) == wanted:
            return str(number)
    raise OnboardError(
        f"{DOCUMENT_NAME} refused the new content as a duplicate, yet no version holds it",
        "Update the preferences in the console (Session Manager > Preferences).",
    )


@contextlib.contextmanager
def _aws(doing: str) -> Iterator[None]:
    """AWS's refusal as an OnboardError (the fix is then reported failed, with AWS's words)."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.ClientError as error:
        detail = error.response.get("Error", {})
        raise OnboardError(
            f"{doing} failed: {detail.get('Code')}: {detail.get('Message')}",
            "The trainer's keys need IAM write access (iam:CreatePolicy, iam:Attach*Policy) and "
            "ssm:CreateDocument/UpdateDocument for --fix.",
        ) from None


def _ensure_policy(facts: AccountFacts, policy: Policy) -> str:
    """The ARN of the managed policy ``policy.name``, created or brought up to date."""
    iam = facts.client("iam")
    document = json.dumps(policy.document())
    arn = f"arn:aws:iam::{facts.account_id()}:policy/{policy.name}"
    try:
        iam.get_policy(PolicyArn=arn)
    except iam.exceptions.NoSuchEntityException:
        iam.create_policy(PolicyName=policy.name, PolicyDocument=document, Description=policy.description)
        return arn
    versions: list[dict[str, Any]] = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= _MAX_VERSIONS:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
    return arn
