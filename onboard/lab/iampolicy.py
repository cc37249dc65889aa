"""IAM policy evaluation for the lab: identity policies against real resource ARNs.

moto checks non-S3 actions against resource ``*`` only and does not substitute policy variables, so
``arn:aws:ssm:*:*:session/${aws:username}-*`` would never match anything. The lab evaluates every request
with this module instead (the session operations in :mod:`onboard.lab.ssmapi`, S3 copy sources in
:mod:`onboard.lab.api`, and every request moto answers, through :func:`install_into_moto`), the way AWS
does for one account's identity policies:

- an explicit ``Deny`` beats any ``Allow``; no matching ``Allow`` is an implicit deny;
- ``Action``/``NotAction`` match case-insensitively, ``Resource``/``NotResource`` case-sensitively, both
  with ``*`` and ``?`` wildcards;
- ``${aws:username}``, ``${aws:userid}``, ``${aws:PrincipalType}`` and the escapes ``${*}``, ``${?}``,
  ``${$}`` are substituted in resources.

``Condition`` blocks are evaluated as AWS documents it (IAM User Guide, "Condition operators" and
"Conditions with multiple context keys or values"): operators AND, keys within an operator AND, values of
one key OR (NOR for the negated operators); a key absent from the request makes a positive operator false
and a negated one true; ``...IfExists`` passes when the key is absent; ``Null`` tests presence; keys are
case-insensitive, and policy variables are substituted in values. The operators evaluated are the
``String*`` family, ``Bool`` and ``Null``; a statement using any other operator never applies in the lab
(a conditional Allow grants nothing, a conditional Deny denies nothing). The request context holds the
principal's ``aws:username``/``aws:userid``/``aws:PrincipalType``/``aws:PrincipalArn`` and whatever the
caller passes (the session operations pass the target instance's tags as ``ssm:resourceTag/<key>`` and
``aws:ResourceTag/<key>``).

Not modelled (documented lab limits): resource-based policies, permission boundaries, SCPs and session
policies.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote


class Decision(enum.Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class Principal:
    """Who is asking: an IAM user or an assumed role, and the values of its policy variables."""

    arn: str
    name: str
    user_id: str
    kind: str  # "User" or "AssumedRole"

    @property
    def variables(self) -> dict[str, str]:
        return {
            "aws:username": self.name,
            "aws:userid": self.user_id,
            "aws:principaltype": self.kind,
            "aws:principalarn": self.arn,
        }


#: A request's condition context: lower-case key -> its values.
Context = Mapping[str, Sequence[str]]


def evaluate(
    documents: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    principal: Principal,
    context: Context | None = None,
) -> Decision:
    """What ``documents`` (parsed policy JSON) say about ``principal`` doing ``action`` on ``resource``.

    ``context`` adds request-specific condition keys (any case) to the principal's own."""
    variables = principal.variables
    request = {key: [value] for key, value in variables.items()}
    request.update({key.lower(): list(values) for key, values in (context or {}).items()})
    allowed = False
    for document in documents:
        statements = document.get("Statement", [])
        if isinstance(statements, Mapping):
            statements = [statements]
        for statement in statements:
            if not _applies(statement, action, resource, variables):
                continue
            if "Condition" in statement and not _condition_holds(statement["Condition"], request, variables):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            if statement.get("Effect") == "Allow":
                allowed = True
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


def denial_message(principal: Principal, action: str, resource: str, decision: Decision) -> str:
    """AWS's wording for an AccessDenied on an identity policy."""
    if decision is Decision.EXPLICIT_DENY:
        why = "with an explicit deny in an identity-based policy"
    else:
        why = f"because no identity-based policy allows the {action} action"
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {why}"


def _applies(statement: Mapping[str, Any], action: str, resource: str, variables: Mapping[str, str]) -> bool:
    if "NotAction" in statement:
        if _matches_any(statement["NotAction"], action, fold_case=True):
            return False
    elif not _matches_any(statement.get("Action", []), action, fold_case=True):
        return False
    if "NotResource" in statement:
        return not _matches_any(_substituted(statement["NotResource"], variables), resource)
    return _matches_any(_substituted(statement.get("Resource", []), variables), resource)


def _substituted(patterns: str | list[str], variables: Mapping[str, str]) -> list[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    return [_VARIABLE.sub(lambda m: _variable_value(m.group(1), variables), p) for p in patterns]


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
#: Escapes AWS defines so that a policy can match a literal * ? or $; kept literal by _pattern.
_LITERALS = {"*": "\x00", "?": "\x01", "$": "$"}


def _variable_value(name: str, variables: Mapping[str, str]) -> str:
    if name in _LITERALS:
        return _LITERALS[name]
    # An unknown variable makes the element match nothing, as AWS does.
    return variables.get(name.lower(), "\x02unresolved\x02")


def _matches_any(patterns: str | list[str], value: str, *, fold_case: bool = False) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(_pattern(p, fold_case).match(value) for p in patterns)


@lru_cache(maxsize=4096)
def _pattern(pattern: str, fold_case: bool) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char == "\x00":
            parts.append(re.escape("*"))
        elif char == "\x01":
            parts.append(re.escape("?"))
        else:
            parts.append(re.escape(char))
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL if fold_case else re.DOTALL)


def _condition_holds(
    condition: Mapping[str, Any], request: Mapping[str, list[str]], variables: Mapping[str, str]
) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            return False
        for key, wanted in keys.items():
            if not _operator_holds(operator, request.get(key.lower()), _listed(wanted), variables):
                return False
    return True


def _listed(values: Any) -> list[str]:
    """Policy values as strings: JSON booleans and numbers are compared as IAM does, by their text."""
    items = values if isinstance(values, list) else [values]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


#: The String operators: (matches one value against one pattern, negated).
_STRING_OPERATORS = {
    "stringequals": (lambda value, pattern: value == pattern, False),
    "stringnotequals": (lambda value, pattern: value == pattern, True),
    "stringequalsignorecase": (lambda value, pattern: value.lower() == pattern.lower(), False),
    "stringnotequalsignorecase": (lambda value, pattern: value.lower() == pattern.lower(), True),
    "stringlike": (lambda value, pattern: bool(_pattern(pattern, False).match(value)), False),
    "stringnotlike": (lambda value, pattern: bool(_pattern(pattern, False).match(value)), True),
    "bool": (lambda value, pattern: value.lower() == pattern.lower(), False),
}


def _operator_holds(
    operator: str, present: list[str] | None, wanted: list[str], variables: Mapping[str, str]
) -> bool:
    name = operator.lower()
    if name == "null":
        # "true": the key must be absent; "false": it must be present.
        return (present is None) == (wanted[:1] == ["true"])
    if_exists = name.endswith("ifexists")
    if if_exists:
        name = name[: -len("ifexists")]
    if name not in _STRING_OPERATORS:
        return False  # an operator the lab does not evaluate: the statement never applies (see above)
    if present is None:
        return if_exists or _STRING_OPERATORS[name][1]
    match, negated = _STRING_OPERATORS[name]
    patterns = _substituted(wanted, variables)
    hit = any(match(value, pattern) for value in present for pattern in patterns)
    return not hit if negated else hit


# --- reading policies from moto's IAM backend -------------------------------------------------------


def user_policies(iam: Any, user_name: str) -> list[dict[str, Any]]:
    """Every identity policy that applies to ``user_name``: inline, attached, and its groups'."""
    user = iam.get_user(user_name)
    documents = [parse_document(doc) for doc in user.policies.values()]
    documents += [_default_version(policy) for policy in user.managed_policies.values()]
    for group in iam.get_groups_for_user(user_name):
        documents += [parse_document(doc) for doc in group.policies.values()]
        documents += [_default_version(policy) for policy in group.managed_policies.values()]
    return documents


def role_policies(iam: Any, role_name: str) -> list[dict[str, Any]]:
    role = iam.get_role(role_name)
    documents = [parse_document(doc) for doc in role.policies.values()]
    return documents + [_default_version(policy) for policy in role.managed_policies.values()]


def _default_version(policy: Any) -> dict[str, Any]:
    version = next(v for v in policy.versions if v.is_default)
    return parse_document(version.document)


def parse_document(document: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    return json.loads(unquote(document) if document.startswith("%7B") else document)


# --- moto's own checks, replaced ------------------------------------------------------------------


def install_into_moto() -> None:
    """Make moto authorise the requests it answers with :func:`evaluate` instead of its own evaluator.

    moto's request classes still authenticate (signature, key status); only the policy decision changes,
    so S3 keys under ``users/${aws:username}/`` and explicit denies work as on AWS.
    """
    from moto.iam import access_control

    def check_action_permitted(self, resource: str) -> None:
        from onboard.lab import requestlog

        requestlog.note(operation=self._action)
        if self._action == "sts:GetCallerIdentity":  # AWS always allows it
            return
        principal = principal_of(self._access_key)
        documents = [as_document(p) for p in self._access_key.collect_policies()]
        if evaluate(documents, self._action, resource, principal) is not Decision.ALLOWED:
            self._raise_access_denied()

    access_control.IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


def principal_of(access_key: Any) -> Principal:
    """The principal behind one of moto's access-key objects (an IAM user's or an assumed role's)."""
    arn = access_key.arn
    if ":assumed-role/" in arn:
        role_name = arn.split("/")[1]
        return Principal(arn=arn, name=role_name, user_id=access_key._access_key_id, kind="AssumedRole")
    name = arn.rsplit("/", 1)[1]
    return Principal(arn=arn, name=name, user_id=access_key._access_key_id, kind="User")


def as_document(policy: Any) -> dict[str, Any]:
    """A policy moto's access keys collect (inline JSON, a dict, a managed policy), as parsed JSON."""
    if isinstance(policy, (str, dict)) and not (isinstance(policy, dict) and "policy_document" in policy):
        return parse_document(policy)
    if isinstance(policy, dict):
        return parse_document(policy["policy_document"])
    return _default_version(policy)
