"""``onboard trainer policy --validate``: IAM Access Analyzer's ValidatePolicy on the generated policies.

ValidatePolicy checks a policy against IAM's grammar and AWS's best practices and answers findings of four
kinds (ERROR, SECURITY_WARNING, WARNING, SUGGESTION). It is an AWS service call (free, needs
``access-analyzer:ValidatePolicy``); the practice lab has no Access Analyzer, so against the lab's endpoint
the result says so instead: there, the proof is that the lab's own IAM evaluates these very documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from onboard.awsclient import ClientSettings
from onboard.errors import OnboardError
from onboard.trainer.policy import Policy

LAB_CANNOT = (
    "the practice lab has no IAM Access Analyzer, so the policies were not validated there; the lab's own "
    "IAM evaluates exactly these documents (its tests prove one allowed and one denied call per statement). "
    "Run --validate against a real account to see Access Analyzer's findings."
)


@dataclass(frozen=True)
class ValidationFinding:
    policy: str
    #: ERROR, SECURITY_WARNING, WARNING or SUGGESTION.
    kind: str
    code: str
    details: str
    #: Where in the document: the statement's index and Sid, when Access Analyzer names one.
    where: str
    learn_more: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "kind": self.kind,
            "code": self.code,
            "details": self.details,
            "where": self.where,
            "learn_more": self.learn_more,
        }


@dataclass(frozen=True)
class Validation:
    #: False when no validation could run (the lab); then ``note`` says why.
    ran: bool
    findings: tuple[ValidationFinding, ...] = ()
    note: str | None = None

    @property
    def has_errors(self) -> bool:
        return any(f.kind in ("ERROR", "SECURITY_WARNING") for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"ran": self.ran, "findings": [f.to_dict() for f in self.findings], "note": self.note}


def validate(policies: tuple[Policy, ...], settings: ClientSettings, *, in_lab: bool) -> Validation:
    """Access Analyzer's findings for each policy, or why there are none."""
    if in_lab:
        return Validation(ran=False, note=LAB_CANNOT)
    import botocore.exceptions

    from onboard.awsclient import client

    analyzer = client("accessanalyzer", settings)
    findings: list[ValidationFinding] = []
    for policy in policies:
        document = policy.document()
        try:
            pages = analyzer.get_paginator("validate_policy").paginate(
                policyDocument=json.dumps(document), policyType="IDENTITY_POLICY"
            )
            answers = [finding for page in pages for finding in page.get("findings", [])]
        except botocore.exceptions.ClientError as refused:
            error = refused.response.get("Error", {})
            raise OnboardError(
                f"IAM Access Analyzer refused ValidatePolicy: {error.get('Code')}: {error.get('Message')}",
                "The trainer's keys need access-analyzer:ValidatePolicy (it reads nothing in the account).",
            ) from None
        except botocore.exceptions.BotoCoreError as unreachable:
            raise OnboardError(
                f"IAM Access Analyzer could not be reached: {unreachable}",
                "Check the network and the region, then run again.",
            ) from None
        findings += [_finding(policy, document, answer) for answer in answers]
    return Validation(ran=True, findings=tuple(findings))


def _finding(policy: Policy, document: dict[str, Any], answer: dict[str, Any]) -> ValidationFinding:
    where = "the policy"
    for location in answer.get("locations", []):
        path = location.get("path", [])
        if len(path) >= 2 and path[0].get("value") == "Statement" and "index" in path[1]:
            index = path[1]["index"]
            sid = document["Statement"][index].get("Sid", "") if index < len(document["Statement"]) else ""
            where = f"statement {index} ({sid})" if sid else f"statement {index}"
            break
    return ValidationFinding(
        policy=policy.name,
        kind=answer.get("findingType", "?"),
        code=answer.get("issueCode", "?"),
        details=answer.get("findingDetails", ""),
        where=where,
        learn_more=answer.get("learnMoreLink"),
    )
