"""Who do these keys belong to? STS GetCallerIdentity, with every failure explained in plain words.

:func:`check_identity` calls STS with a profile and returns the IAM identity (ARN, account, user name).
The ways it fails are the ways a new setup fails: a wrong or deleted access key id, a mistyped secret,
an expired session token, a computer clock that is off, a network that does not reach AWS. Each becomes
an :class:`~onboard.errors.OnboardError` naming the cause and the fix. Secrets never appear: botocore's
own messages are scrubbed, and onboard's never include them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from onboard.awsclient import ClientSettings, client
from onboard.errors import EnvironmentProblem, OnboardError
from onboard.secrets import scrub

#: Seconds of difference from the server's clock beyond which AWS refuses signed requests (SigV4 allows
#: 5 minutes for some services, 15 for most); we warn well before that.
SKEW_WARNING_SECONDS = 60
SKEW_REFUSED_SECONDS = 5 * 60
DEFAULT_TIMEOUT = 10.0

# Error codes AWS answers when the request's signing time is too far from its clock.
_SKEW_CODES = {"RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture"}
_SKEW_MESSAGE = re.compile(r"Signature expired|Signature not yet current|too skewed", re.IGNORECASE)


@dataclass(frozen=True)
class Identity:
    arn: str
    account: str
    user_id: str
    #: The IAM user name for an IAM user's keys (``${aws:username}``); None for roles and root.
    user_name: str | None
    #: Seconds the server's clock is ahead of this computer's (negative: behind); None if unknown.
    clock_skew: float | None = None

    @property
    def kind(self) -> str:
        """ "user", "assumed-role", "root", "federated-user", ... as the ARN says."""
        resource = self.arn.split(":", 5)[-1]
        return "root" if resource == "root" else resource.split("/", 1)[0]


def check_identity(
    profile: str | None,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Identity:
    """The identity behind ``profile``'s keys; an OnboardError saying what is wrong and how to fix it."""
    import botocore.exceptions

    settings = ClientSettings(
        profile=profile,
        region=region,
        endpoint_url=endpoint_url,
        connect_timeout=timeout,
        read_timeout=timeout,
    )
    sts = client("sts", settings)
    endpoint = sts.meta.endpoint_url
    try:
        answer = sts.get_caller_identity()
    except botocore.exceptions.ClientError as refused:
        raise _explain_refusal(refused, profile, endpoint) from None
    except botocore.exceptions.NoCredentialsError:
        raise OnboardError(
            f"the profile {profile or 'default'!r} has no access keys",
            "Run `onboard setup` to write the keys from your IAM credentials CSV.",
        ) from None
    except botocore.exceptions.PartialCredentialsError as partial:
        raise OnboardError(
            f"the profile {profile or 'default'!r} has only part of its keys "
            f"({partial.kwargs.get('cred_var')} is missing)",
            "Run `onboard setup` again to write both the access key id and the secret access key.",
        ) from None
    except botocore.exceptions.BotoCoreError as failed:
        raise _explain_network(failed, endpoint, timeout) from None
    return identity_from_answer(answer)


def identity_from_answer(answer: dict[str, Any]) -> Identity:
    arn = answer["Arn"]
    resource = arn.split(":", 5)[-1]
    user_name = resource.rsplit("/", 1)[-1] if resource.startswith("user/") else None
    return Identity(
        arn=arn,
        account=answer["Account"],
        user_id=answer["UserId"],
        user_name=user_name,
        clock_skew=_skew(answer.get("ResponseMetadata", {})),
    )


def _skew(metadata: dict[str, Any]) -> float | None:
    """Server clock minus ours, from the response's Date header (whole seconds; small values are noise)."""
    date = metadata.get("HTTPHeaders", {}).get("date")
    if not date:
        return None
    try:
        server_time = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    skew = (server_time - datetime.now(timezone.utc)).total_seconds()
    # The Date header has a one-second resolution and the request takes time: below 2 s is agreement.
    return 0.0 if abs(skew) < 2 else skew


def describe_skew(seconds: float) -> str:
    """ "7 minutes behind" / "2 hours 5 minutes ahead": how this computer's clock compares with AWS's."""
    direction = "behind" if seconds > 0 else "ahead of"
    remaining = round(abs(seconds))
    if remaining >= 120:  # the Date header is truncated to the second: beyond two minutes, say minutes
        remaining = round(remaining / 60) * 60
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return f"{' '.join(parts[:2]) or '0 seconds'} {direction} AWS's clock"


def clock_fix_hint() -> str:
    return (
        "Sync your clock: Windows: Settings > Time & language > Date & time > Sync now; macOS: System "
        "Settings > General > Date & Time > Set time automatically; Linux: `sudo timedatectl set-ntp true`. "
        "Also check the time zone. Then run the command again."
    )


def _explain_refusal(refused: Any, profile: str | None, endpoint: str) -> OnboardError:
    error = refused.response.get("Error", {})
    code = error.get("Code", "")
    message = scrub(error.get("Message", ""))
    skew = _skew(refused.response.get("ResponseMetadata", {}))
    name = profile or "default"
    if (
        code in _SKEW_CODES
        or _SKEW_MESSAGE.search(message)
        or (
            code in ("SignatureDoesNotMatch", "InvalidSignatureException")
            and skew is not None
            and abs(skew) >= SKEW_REFUSED_SECONDS
        )
    ):
        how_far = f": it is {describe_skew(skew)}" if skew else ""
        return OnboardError(
            f"AWS refused the request because this computer's clock is wrong{how_far} ({code})",
            clock_fix_hint(),
        )
    if code == "InvalidClientTokenId":
        return OnboardError(
            f"AWS does not know the access key id in the profile {name!r}: it is mistyped, deleted or "
            f"deactivated ({code})",
            "Check it against the IAM console (Security credentials > Access keys); if it is not listed as "
            "Active, create a new key, download its CSV and run `onboard setup --credentials-csv FILE`.",
        )
    if code == "SignatureDoesNotMatch":
        return OnboardError(
            f"the secret access key in the profile {name!r} does not match its access key id ({code})",
            "The secret was mistyped or belongs to another key: run `onboard setup --credentials-csv FILE` "
            "with the CSV downloaded when the key was created (or paste the secret again). AWS shows a "
            "secret only once; if it is lost, create a new access key.",
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"):
        return OnboardError(
            f"the session token in the profile {name!r} has expired ({code})",
            "Temporary keys (ASIA...) last hours at most: get fresh ones, or use your IAM user's long-term "
            "access key (AKIA...) with `onboard setup`.",
        )
    if code == "InvalidToken" or code == "UnrecognizedClientException":
        return OnboardError(
            f"the session token in the profile {name!r} is not valid for these keys ({code})",
            "Temporary keys (ASIA...) need the session token issued with them; long-term keys (AKIA...) need "
            "none: remove aws_session_token from the profile with `onboard setup`.",
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        return OnboardError(
            f"AWS denied the identity check for the profile {name!r} ({code}: {message})",
            "GetCallerIdentity needs no permission, so a policy explicitly denies it (an SCP or a "
            "permissions boundary): ask your AWS administrator.",
        )
    return OnboardError(
        f"AWS refused the identity check at {endpoint} ({code or 'error'}: {message})",
        "Run `onboard doctor` for a full check of your setup.",
    )


def _explain_network(failed: Any, endpoint: str, timeout: float) -> OnboardError:
    import botocore.exceptions as bce

    cause = _root_cause(failed)
    if isinstance(failed, bce.ProxyConnectionError):
        return EnvironmentProblem(
            f"the proxy {failed.kwargs.get('proxy_url', '')} refused the connection to {endpoint}",
            "Check HTTPS_PROXY / HTTP_PROXY (and NO_PROXY) in your environment, or ask your network team for "
            "the right proxy address.",
        )
    if isinstance(failed, bce.SSLError):
        return EnvironmentProblem(
            f"the TLS connection to {endpoint} could not be verified ({scrub(str(cause))})",
            "A company proxy that inspects TLS needs its CA certificate: set AWS_CA_BUNDLE to that PEM file "
            "(ask your network team for it).",
        )
    if isinstance(failed, (bce.ConnectTimeoutError, bce.ReadTimeoutError)):
        return EnvironmentProblem(
            f"{endpoint} did not answer within {timeout:g} seconds",
            "Check your network connection, VPN or proxy (HTTPS_PROXY), and that the firewall lets HTTPS "
            "out.",
        )
    if _is_name_resolution_failure(cause):
        return EnvironmentProblem(
            f"the name of {endpoint} could not be resolved (DNS)",
            "Check your network connection and DNS; for a region, check its name (e.g. eu-west-1).",
        )
    if isinstance(failed, (bce.EndpointConnectionError, bce.ConnectionClosedError, bce.HTTPClientError)):
        return EnvironmentProblem(
            f"could not connect to {endpoint}: {scrub(str(cause))}",
            "Check your network connection and proxy settings; for the practice lab, start it with "
            "`onboard lab up`.",
        )
    return OnboardError(
        f"the identity check against {endpoint} failed: {scrub(str(failed))}",
        "Run `onboard doctor` for a full check of your setup.",
    )


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception botocore wrapped (urllib3's, or the socket's)."""
    inner = getattr(error, "kwargs", {}).get("error") or error.__cause__ or error.__context__
    seen = {id(error)}
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
        inner = getattr(error, "kwargs", {}).get("error") if hasattr(error, "kwargs") else None
        inner = inner or error.__cause__ or error.__context__
    return error


def _is_name_resolution_failure(error: BaseException) -> bool:
    import socket

    if isinstance(error, socket.gaierror):
        return True
    return type(error).__name__ == "NameResolutionError" or "Name or service not known" in str(error)
