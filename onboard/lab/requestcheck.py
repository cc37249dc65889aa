"""What AWS checks on every signed request before it reads or answers it, done the same way for the lab.

:func:`check_request` runs before moto or the lab's Session Manager layer sees a request:

1. the ``Authorization`` header is complete (``Credential``, ``SignedHeaders``, ``Signature``) and signs a
   date (``X-Amz-Date``, or ``Date``), else ``IncompleteSignature``;
2. the access key exists and is active;
3. the signing time is within the service's window of the lab's clock (as the caller's clock would be seen
   with the ``clock-skew`` fault in force);
4. the announced body is within AWS's size limit, refused before a byte of it is read;
5. the signature is right: for S3 from the headers alone (``X-Amz-Content-SHA256`` carries the payload's
   hash), so a wrong signature never makes the lab read the body; for the other services from the body,
   which is read (at most the cap) and put back for moto.

Each refusal is the one the service gives (looked up in AWS's answers as botocore, the AWS CLI and the
SDK issue trackers show them):

=========  ===============================  ======  =========================================================
service    code                             status  message / window
=========  ===============================  ======  =========================================================
JSON/SSM   InvalidSignatureException        400     "Signature expired: T is now earlier than L (N - 5 min.)"
STS, IAM   SignatureDoesNotMatch            403     the same wording, 15 minutes
EC2        RequestExpired                   400     "Request has expired.", 15 minutes
S3         RequestTimeTooSkewed             403     "The difference between the request time and the current
                                                    time is too large.", 15 minutes (900000 ms)
=========  ===============================  ======  =========================================================

A wrong secret is ``InvalidSignatureException``/400 on JSON services, ``SignatureDoesNotMatch``/403 on S3,
STS and IAM, and ``AuthFailure`` on EC2.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from onboard.lab import requestlog
from onboard.lab.awserrors import ApiError, Protocol

#: botocore's SigV4 timestamp format (X-Amz-Date).
SIGV4_TIME = "%Y%m%dT%H%M%SZ"
#: Bodies of JSON and query requests: API Gateway's documented 10 MB payload limit, the largest AWS names
#: for an API call; no SSM, STS, IAM or EC2 request comes near it.
MAX_API_BODY = 10 * 1024 * 1024
#: S3's limit for one PUT (larger objects go up in parts): 5 GiB.
MAX_S3_PUT = 5 * 1024**3
_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")

_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_S3_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


@dataclass(frozen=True)
class Authorization:
    """The parts of a SigV4 ``Authorization`` header."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True)
class Checked:
    """A request that passed every check: who signed it, for which service, and its body."""

    #: The IAM user's name, or the role's for an instance's temporary keys.
    name: str
    #: moto's IAMUserAccessKey or AssumedRoleAccessKey (its policies, for authorising).
    access_key: Any
    service: str
    protocol: Protocol
    #: The body of a JSON or query request; None for S3, whose body moto reads after the checks.
    body: bytes | None


def protocol_of(service: str, environ: dict[str, Any]) -> Protocol:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return Protocol.JSON
    return Protocol.S3 if service == "s3" else Protocol.QUERY


def parse_authorization(header: str, protocol: Protocol) -> Authorization:
    fields = dict(_FIELD.findall(header))
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise _incomplete(f"Authorization header requires '{name}' parameter.", protocol)
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete(
            "Credential should be scoped to a valid region, service and aws4_request terminator.", protocol
        )
    return Authorization(
        access_key_id=scope[0],
        scope_date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=tuple(fields["SignedHeaders"].lower().split(";")),
        signature=fields["Signature"],
    )


def _incomplete(message: str, protocol: Protocol) -> ApiError:
    if protocol is Protocol.S3:
        return ApiError("AuthorizationHeaderMalformed", message, 400)
    code = "IncompleteSignatureException" if protocol is Protocol.JSON else "IncompleteSignature"
    return ApiError(code, message, 400 if protocol is Protocol.JSON else 403)


def signing_time(environ: dict[str, Any], auth: Authorization, protocol: Protocol) -> datetime:
    """When the caller says it signed: the signed X-Amz-Date, or the signed Date header."""
    stamp = environ.get("HTTP_X_AMZ_DATE") if "x-amz-date" in auth.signed_headers else None
    try:
        if stamp:
            return datetime.strptime(stamp, SIGV4_TIME).replace(tzinfo=timezone.utc)
        date = environ.get("HTTP_DATE") if "date" in auth.signed_headers else None
        if date:
            return parsedate_to_datetime(date).astimezone(timezone.utc)
    except (ValueError, TypeError):
        pass
    if protocol is Protocol.S3:
        raise ApiError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403)
    raise _incomplete(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", protocol
    )


def check_time(signed: datetime, now: datetime, service: str, protocol: Protocol) -> None:
    """Refuse a signing time outside the service's window, with that service's answer.

    ``now`` is the lab's clock as the caller is seen (the ``clock-skew`` fault moves it); the server dates
    the answer by that clock too (:func:`onboard.lab.requestlog.clock_offset`), as AWS's Date header shows
    AWS's clock, so that doctor can say how far off the caller is.
    """
    minutes = 5 if protocol is Protocol.JSON else 15
    window = timedelta(minutes=minutes)
    if abs(signed - now) <= window:
        return
    if protocol is Protocol.S3:
        raise ApiError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
            fields={
                "RequestTime": format_datetime(signed, usegmt=True),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "MaxAllowedSkewMilliseconds": str(minutes * 60 * 1000),
            },
        )
    if service == "ec2":
        raise ApiError("RequestExpired", "Request has expired.", 400)
    if signed < now:
        message = (
            f"Signature expired: {signed:{SIGV4_TIME}} is now earlier than {now - window:{SIGV4_TIME}} "
            f"({now:{SIGV4_TIME}} - {minutes} min.)"
        )
    else:
        message = (
            f"Signature not yet current: {signed:{SIGV4_TIME}} is still later than "
            f"{now + window:{SIGV4_TIME}} ({now:{SIGV4_TIME}} + {minutes} min.)"
        )
    if protocol is Protocol.JSON:
        raise ApiError("InvalidSignatureException", message, 400)
    raise ApiError("SignatureDoesNotMatch", message, 403)


def body_length(environ: dict[str, Any]) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def check_size(environ: dict[str, Any], protocol: Protocol) -> None:
    """Refuse, before reading it, a body larger than AWS takes."""
    length = body_length(environ)
    if length is None or length < 0:
        raise ApiError(
            "InvalidArgument" if protocol is Protocol.S3 else "ValidationException", "Bad Content-Length."
        )
    if protocol is Protocol.S3:
        if length > MAX_S3_PUT:
            raise ApiError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400)
        return
    if length > MAX_API_BODY:
        code = "RequestEntityTooLargeException" if protocol is Protocol.JSON else "RequestEntityTooLarge"
        raise ApiError(code, f"Request body of {length} bytes is larger than {MAX_API_BODY} bytes.", 413)


def read_body(environ: dict[str, Any], protocol: Protocol) -> bytes:
    """The body of a JSON or query request (its size checked by :func:`check_size`), put back for moto."""
    length = body_length(environ) or 0
    stream = environ["wsgi.input"]
    body = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def credentials_of(account: str, auth: Authorization, environ: dict[str, Any], protocol: Protocol) -> Any:
    """moto's access key object for the signer (an IAM user's key or an instance role's temporary one)."""
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
    from werkzeug.datastructures import EnvironHeaders

    try:
        # moto looks the session token up by its header name; EnvironHeaders finds it in any case.
        headers: Any = EnvironHeaders(environ)
        return create_access_key(account, "aws", auth.access_key_id, headers)
    except CreateAccessKeyFailure as failure:
        raise _unknown_key(protocol, failure.reason) from None


def _unknown_key(protocol: Protocol, reason: str = "InvalidId") -> ApiError:
    """What each protocol answers for an access key it does not know (or that is not active)."""
    if protocol is Protocol.S3:
        if reason == "InvalidToken":
            return ApiError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        return ApiError(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
        )
    if protocol is Protocol.JSON:
        return ApiError(
            "UnrecognizedClientException", "The security token included in the request is invalid.", 400
        )
    return ApiError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)


def check_signature(
    environ: dict[str, Any], auth: Authorization, access_key: Any, body: bytes | None, protocol: Protocol
) -> None:
    """Recompute the SigV4 signature with botocore's signer and compare; ``body`` None: S3's header hash."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from werkzeug.datastructures import EnvironHeaders

    headers = EnvironHeaders(environ)
    signed = {name: headers.get(name, "") for name in auth.signed_headers}
    if protocol is Protocol.S3 and not headers.get("X-Amz-Content-SHA256"):
        raise ApiError(
            "InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400
        )
    signer_class = S3SigV4Auth if protocol is Protocol.S3 else SigV4Auth
    signer = signer_class(access_key.create_credentials(), auth.service, auth.region)
    path = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    announced = headers.get("X-Amz-Content-SHA256")
    if protocol is not Protocol.S3 and announced and announced != hashlib.sha256(body or b"").hexdigest():
        raise ApiError(
            "InvalidSignatureException" if protocol is Protocol.JSON else "SignatureDoesNotMatch",
            _SIGNATURE_MISMATCH,
            400 if protocol is Protocol.JSON else 403,
        )
    request = AWSRequest(
        method=environ.get("REQUEST_METHOD", "GET"), url=path, data=body or b"", headers=signed
    )
    stamp = environ.get("HTTP_X_AMZ_DATE") or signing_time(environ, auth, protocol).strftime(SIGV4_TIME)
    request.context["timestamp"] = stamp
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if stamp[:8] == auth.scope_date and hmac.compare_digest(expected, auth.signature):
        return
    if protocol is Protocol.S3:
        raise ApiError("SignatureDoesNotMatch", _S3_SIGNATURE_MISMATCH, 403)
    if protocol is Protocol.JSON:
        raise ApiError("InvalidSignatureException", _SIGNATURE_MISMATCH, 400)
    if auth.service == "ec2":
        raise ApiError("AuthFailure", "AWS was not able to validate the provided access credentials", 401)
    raise ApiError("SignatureDoesNotMatch", _SIGNATURE_MISMATCH, 403)


def check_request(environ: dict[str, Any], account: str, clock_offsets: dict[str, timedelta]) -> Checked:
    """Run every check above on a request that carries an Authorization header; who signed it.

    ``clock_offsets`` maps a caller's name to how far the ``clock-skew`` fault moves the lab's clock for
    them. JSON and query bodies are read (within the cap) and put back in ``environ`` for what follows.
    """
    from onboard.lab.iampolicy import principal_of

    header = environ.get("HTTP_AUTHORIZATION", "")
    guess = Protocol.JSON if environ.get("HTTP_X_AMZ_TARGET") else Protocol.QUERY
    auth = parse_authorization(header, guess)
    protocol = protocol_of(auth.service, environ)
    access_key = credentials_of(account, auth, environ, protocol)
    _check_active(account, auth.access_key_id, protocol)
    name = principal_of(access_key).name
    offset = clock_offsets.get(name, timedelta())
    requestlog.note(clock_offset=offset.total_seconds())
    now = datetime.now(timezone.utc) + offset
    check_time(signing_time(environ, auth, protocol), now, auth.service, protocol)
    check_size(environ, protocol)
    body = None if protocol is Protocol.S3 else read_body(environ, protocol)
    check_signature(environ, auth, access_key, body, protocol)
    return Checked(name=name, access_key=access_key, service=auth.service, protocol=protocol, body=body)


def _check_active(account: str, access_key_id: str, protocol: Protocol) -> None:
    from moto.iam.models import iam_backends

    key = iam_backends[account]["aws"].access_keys.get(access_key_id)
    if key is not None and key.status != "Active":
        raise _unknown_key(protocol)
