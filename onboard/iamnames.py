"""IAM user names as IAM checks them, and the learner sets the own-session policy cannot keep apart.

Session Manager names a session ``<IAM user name>-<random id>``, and the learner policy lets each learner
end and resume ``session/${aws:username}-*``. So if one learner is called ``bob`` and another ``bob-x``,
``bob``'s policy matches ``bob-x-0123...``: bob can end bob-x's sessions. :func:`check_learner_names`
refuses such a set (and names IAM would refuse) before any policy or user is made from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from onboard.errors import UsageError

#: IAM's own rule for user names (CreateUser): 1 to 64 of letters, digits and ``+=,.@_-``.
IAM_USER_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")


def check_learner_names(names: Iterable[str], *, where: str = "the learner names") -> tuple[str, ...]:
    """``names`` as given, once each; a UsageError for a name IAM refuses, a repeat, or a prefix clash."""
    checked = tuple(names)
    seen: dict[str, str] = {}
    for name in checked:
        if not IAM_USER_NAME.fullmatch(name):
            raise UsageError(
                f"{where}: {name!r} is not a valid IAM user name",
                "IAM user names are 1 to 64 letters, digits and +=,.@_- characters.",
            )
        # IAM user names are unique regardless of case: "Bob" and "bob" cannot both exist.
        if name.lower() in seen:
            raise UsageError(f"{where}: {name!r} is named twice", "Name each learner once.")
        seen[name.lower()] = name
    for name in checked:
        for other in checked:
            if other != name and other.startswith(name + "-"):
                raise UsageError(
                    f"{where}: {other!r} begins with {name!r} followed by '-', so the own-session "
                    f"rule session/${{aws:username}}-* would let {name} end and resume {other}'s sessions",
                    f"Rename one of them so that neither name is the other's followed by '-' "
                    f"(for example {other.replace('-', '.', 1)!r}).",
                )
    return checked


def document_arn(region: str, account: str, name: str) -> str:
    """The ARN StartSession is authorised against for session document ``name``.

    AWS-owned documents (``AWS-...``) have no account in their ARN; the others, such as the session
    preferences document SSM-SessionManagerRunShell, belong to the account."""
    owner = "" if name.startswith("AWS-") else account
    return f"arn:aws:ssm:{region}:{owner}:document/{name}"
