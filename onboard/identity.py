"""Who do these keys belong to? STS GetCallerIdentity, with every failure explained in plain words.

:func:`check_identity` calls STS with a profile and returns the IAM identity (ARN, account, user name).
The ways it fails are the ways a new setup fails: a wrong or deleted access key id, a mistyped secret,
an expired session token, a computer clock that is off, a network that does not reach AWS. Each becomes
an :class:`IdentityError`: a :class:`Failure` kind and the AWS error code as fields (for code that acts on
them, such as doctor), and a message naming the cause and the fix (for people). Secrets never appear:
botocore's own messages are scrubbed, and onboard's never include them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

from onboard.awsclient import ClientSettings, client
from onboard.errors import EnvironmentProblem, OnboardError
from onboard.secrets import scrub, without_password

#: Seconds of difference from the server's clock beyond which AWS refuses signed requests (SigV4 allows
#: 5 minutes for some services, 15 for most); we warn well before that.
SKEW_WARNING_SECONDS = 60
SKEW_REFUSED_SECONDS = 5 * 60
DEFAULT_TIMEOUT = 10.0

# The error codes AWS answers when the request's signing time is too far from its clock, as the AWS SDKs
# list them (aws-sdk-js-v3 service-error-classification CLOCK_SKEW_ERROR_CODES; the .NET SDK's RetryPolicy
# splits them the same way). These three always mean the clock:
_SKEW_CODES = frozenset({"RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture"})
# These mean the clock only when the message says so ("Signature expired: ... is now earlier than ...",
# "Signature not yet current: ... is still later than ...") or the answer's Date shows it; otherwise the
# signature is wrong because the secret is (STS and query services say SignatureDoesNotMatch, JSON services
# such as SSM InvalidSignatureException, EC2 AuthFailure).
_SIGNATURE_CODES = frozenset({"SignatureDoesNotMatch", "InvalidSignatureException", "AuthFailure"})
_SKEW_MESSAGE = re.compile(r"Signature expired|Signature not yet current|too skewed|too large", re.IGNORECASE)


class Failure(str, Enum):
    """Why the identity check failed: what a caller acts on (the message says it to people)."""

    NO_KEYS = "no-keys"
    PARTIAL_KEYS = "partial-keys"
    #: The computer's clock is too far from AWS's: AWS refuses every signed request.
    CLOCK = "clock"
    UNKNOWN_KEY_ID = "unknown-key-id"
    WRONG_SECRET = "wrong-secret"  # noqa: S105 - a kind of failure, not a secret
    EXPIRED_TOKEN = "expired-token"  # noqa: S105
    INVALID_TOKEN = "invalid-token"  # noqa: S105
    DENIED = "denied"
    #: AWS refused with a code onboard has no explanation for.
    REFUSED = "refused"
    PROXY = "proxy"
    #: Something answered that is not AWS (a proxy's own refusal page, a web server): AWS never saw the keys.
    NOT_AWS = "not-aws"
    TLS = "tls"
    TIMEOUT = "timeout"
    DNS = "dns"
    UNREACHABLE = "unreachable"
    #: botocore failed in a way onboard has no explanation for.
    OTHER = "other"

    @property
    def network(self) -> bool:
        """Whether AWS was never reached (the keys are not to blame)."""
        return self in _NETWORK_FAILURES


_NETWORK_FAILURES = frozenset(
    {Failure.PROXY, Failure.NOT_AWS, Failure.TLS, Failure.TIMEOUT, Failure.DNS, Failure.UNREACHABLE}
)


class IdentityError(OnboardError):
    """The identity check failed: ``failure`` says why, ``code`` is AWS's error code when AWS answered.

    Make one with :func:`identity_error`, which picks :class:`IdentityUnreachable` when AWS was never reached.
    """

    def __init__(
        self,
        failure: Failure,
        message: str,
        hint: str,
        *,
        code: str | None = None,
        clock_skew: float | None = None,
    ):
        super().__init__(message, hint)
        self.failure = failure
        self.code = code
        #: Seconds AWS's clock is ahead of this computer's, from the refusal's Date header; None if unknown.
        self.clock_skew = clock_skew

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "failure": self.failure.value, "code": self.code}


class IdentityUnreachable(IdentityError, EnvironmentProblem):
    """AWS was never reached (proxy, TLS, time-out, DNS, connection): not the keys' fault (exit code 4)."""


def identity_error(
    failure: Failure, message: str, hint: str, *, code: str | None = None, clock_skew: float | None = None
) -> IdentityError:
    kind = IdentityUnreachable if failure.network else IdentityError
    return kind(failure, message, hint, code=code, clock_skew=clock_skew)


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
    sts: Any = None,
) -> Identity:
    """The identity behind ``profile``'s keys; an :class:`IdentityError` saying what is wrong and the fix.

    A profile that does not exist or config files that cannot be read are an OnboardError from
    :func:`onboard.awsclient.client`, before any call. ``sts``: a client of the caller's for the same
    profile, region and endpoint (else one is made with ``timeout``).
    """
    import botocore.exceptions
    import botocore.parsers

    settings = ClientSettings(
        profile=profile,
        region=region,
        endpoint_url=endpoint_url,
        connect_timeout=timeout,
        read_timeout=timeout,
    )
    sts = sts or client("sts", settings)
    endpoint = sts.meta.endpoint_url
    try:
        answer = sts.get_caller_identity()
    except botocore.exceptions.ClientError as refused:
        if getattr(refused, "operation_name", "") == "AssumeRole":
            raise _explain_refusal(
                refused, _source_profile(profile), endpoint, assuming_for=profile
            ) from None
        raise _explain_refusal(refused, profile, endpoint) from None
    except botocore.exceptions.NoCredentialsError:
        raise identity_error(
            Failure.NO_KEYS,
            f"the profile {profile or 'default'!r} has no access keys",
            "Run `onboard setup` to write the keys from your IAM credentials CSV.",
        ) from None
    except botocore.exceptions.PartialCredentialsError as partial:
        raise identity_error(
            Failure.PARTIAL_KEYS,
            f"the profile {profile or 'default'!r} has only part of its keys "
            f"({partial.kwargs.get('cred_var')} is missing)",
            "Run `onboard setup` again to write both the access key id and the secret access key.",
        ) from None
    except botocore.exceptions.BotoCoreError as failed:
        raise _explain_network(failed, endpoint, timeout) from None
    except botocore.parsers.ResponseParserError:
        raise _not_aws(endpoint) from None
    return identity_from_answer(answer)


def _not_aws(endpoint: str) -> IdentityError:
    """An answer botocore could not read as AWS's: whoever sent it, AWS did not judge the keys."""
    import botocore.utils

    proxy = botocore.utils.get_environ_proxies(endpoint).get(endpoint.split(":", 1)[0])
    if proxy:
        return identity_error(
            Failure.NOT_AWS,
            f"the proxy {without_password(proxy)} answered for {endpoint} itself (not an AWS answer)",
            "The proxy refuses this endpoint: ask your network team to allow it, or, for an endpoint on "
            "your own network (the practice lab), add its host to NO_PROXY.",
        )
    return identity_error(
        Failure.NOT_AWS,
        f"{endpoint} answered, but not as AWS does (the answer could not be read)",
        "Check the profile's endpoint_url (or the team file's endpoint): it must be AWS's or the lab's.",
    )


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
    if server_time.tzinfo is None:  # "-0000" (RFC 5322's "no zone information"): HTTP dates are in GMT
        server_time = server_time.replace(tzinfo=timezone.utc)
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


def _source_profile(profile: str | None) -> str | None:
    """The ``source_profile`` whose keys ``profile`` assumes its ``role_arn`` with (None: not found)."""
    import botocore.exceptions
    import botocore.session

    try:
        source = botocore.session.Session(profile=profile).get_scoped_config().get("source_profile")
    except botocore.exceptions.BotoCoreError:
        return None
    return str(source) if source else None


def _explain_refusal(
    refused: Any, profile: str | None, endpoint: str, *, assuming_for: str | None = None
) -> IdentityError:
    """What AWS's refusal means, for the keys of ``profile``.

    With ``assuming_for``, AWS refused AssumeRole: ``profile`` is then the source profile whose keys
    ``assuming_for``'s ``role_arn`` is assumed with, and the fix is in that profile.
    """
    error = refused.response.get("Error", {})
    code = error.get("Code", "")
    message = scrub(error.get("Message", ""))
    skew = _skew(refused.response.get("ResponseMetadata", {}))
    name = profile or "default"
    setup = f"onboard setup --profile {name}" if assuming_for is not None else "onboard setup"

    def failed(failure: Failure, said: str, hint: str) -> IdentityError:
        if assuming_for is not None:
            said = (
                f"{said}, so AssumeRole for the profile {assuming_for!r} failed (the source profile {name!r} "
                "signs it)"
            )
        return identity_error(failure, said, hint, code=code or None, clock_skew=skew)

    if is_clock_refusal(code, message, skew):
        how_far = f": it is {describe_skew(skew)}" if skew else ""
        return failed(
            Failure.CLOCK,
            f"AWS refused the request because this computer's clock is wrong{how_far} ({code})",
            clock_fix_hint(),
        )
    if code == "InvalidClientTokenId":
        return failed(
            Failure.UNKNOWN_KEY_ID,
            f"AWS does not know the access key id in the profile {name!r}: it is mistyped, deleted or "
            f"deactivated ({code})",
            "Check it against the IAM console (Security credentials > Access keys); if it is not listed as "
            f"Active, create a new key, download its CSV and run `{setup} --credentials-csv FILE`.",
        )
    if code in _SIGNATURE_CODES:
        return failed(
            Failure.WRONG_SECRET,
            f"the secret access key in the profile {name!r} does not match its access key id ({code})",
            f"The secret was mistyped or belongs to another key: run `{setup} --credentials-csv FILE` "
            "with the CSV downloaded when the key was created (or paste the secret again). AWS shows a "
            "secret only once; if it is lost, create a new access key.",
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"):
        return failed(
            Failure.EXPIRED_TOKEN,
            f"the session token in the profile {name!r} has expired ({code})",
            "Temporary keys (ASIA...) last hours at most: get fresh ones, or use your IAM user's long-term "
            f"access key (AKIA...) with `{setup}`.",
        )
    if code in ("InvalidToken", "UnrecognizedClientException"):
        return failed(
            Failure.INVALID_TOKEN,
            f"the session token in the profile {name!r} is not valid for these keys ({code})",
            "Temporary keys (ASIA...) need the session token issued with them; long-term keys (AKIA...) need "
            f"none: remove aws_session_token from the profile with `{setup}`.",
        )
    if code in ("AccessDenied", "AccessDeniedException") and assuming_for is not None:
        return failed(
            Failure.DENIED,
            f"AWS denied the profile {name!r} the role of the profile {assuming_for!r} ({code}: {message})",
            "The role's trust policy must name the source profile's user, and that user needs "
            "sts:AssumeRole on the role: ask your AWS administrator.",
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        return failed(
            Failure.DENIED,
            f"AWS denied the identity check for the profile {name!r} ({code}: {message})",
            "GetCallerIdentity needs no permission, so a policy explicitly denies it (an SCP or a "
            "permissions boundary): ask your AWS administrator.",
        )
    return failed(
        Failure.REFUSED,
        f"AWS refused the identity check at {endpoint} ({code or 'error'}: {message})",
        "Run `onboard doctor` for a full check of your setup.",
    )


def is_clock_refusal(code: str, message: str, skew: float | None) -> bool:
    """Whether AWS refused a signed request because of this computer's clock (see _SKEW_CODES)."""
    if code in _SKEW_CODES:
        return True
    if code not in _SIGNATURE_CODES:
        return False
    return bool(_SKEW_MESSAGE.search(message)) or (skew is not None and abs(skew) >= SKEW_REFUSED_SECONDS)


def _explain_network(failed: Any, endpoint: str, timeout: float) -> IdentityError:
    import botocore.exceptions as bce

    cause = _root_cause(failed)
    if isinstance(failed, bce.ProxyConnectionError):
        return identity_error(
            Failure.PROXY,
            f"the proxy {failed.kwargs.get('proxy_url', '')} refused the connection to {endpoint}",
            "Check HTTPS_PROXY / HTTP_PROXY (and NO_PROXY) in your environment, or ask your network team for "
            "the right proxy address.",
        )
    if isinstance(failed, bce.SSLError):
        return identity_error(
            Failure.TLS,
            f"the TLS connection to {endpoint} could not be verified ({scrub(str(cause))})",
            "A company proxy that inspects TLS needs its CA certificate: set AWS_CA_BUNDLE to that PEM file "
            "(ask your network team for it).",
        )
    if isinstance(failed, (bce.ConnectTimeoutError, bce.ReadTimeoutError)):
        return identity_error(
            Failure.TIMEOUT,
            f"{endpoint} did not answer within {timeout:g} seconds",
            "Check your network connection, VPN or proxy (HTTPS_PROXY), and that the firewall lets HTTPS "
            "out.",
        )
    if _is_name_resolution_failure(cause):
        return identity_error(
            Failure.DNS,
            f"the name of {endpoint} could not be resolved (DNS)",
            "Check your network connection and DNS; for a region, check its name (e.g. eu-west-1).",
        )
    if isinstance(failed, (bce.EndpointConnectionError, bce.ConnectionClosedError, bce.HTTPClientError)):
        return identity_error(
            Failure.UNREACHABLE,
            f"could not connect to {endpoint}: {scrub(str(cause))}",
            "Check your network connection and proxy settings; for the practice lab, start it with "
            "`onboard lab up`.",
        )
    return identity_error(
        Failure.OTHER,
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
