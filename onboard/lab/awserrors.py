"""AWS's error answers, in the three shapes its protocols use, for the lab's HTTP layer.

- JSON services (``X-Amz-Target``, SSM): ``{"__type": code, "message": ...}`` and ``x-amzn-ErrorType``;
- query services (STS, IAM, EC2): ``<ErrorResponse><Error><Type>Sender</Type><Code>...``;
- S3: ``<Error><Code>...</Code><Message>...</Message>...<RequestId>...</Error>``, with the extra fields some
  errors carry (RequestTimeTooSkewed names RequestTime, ServerTime and MaxAllowedSkewMilliseconds).

botocore reads each of these into ``error.response["Error"]`` the way it reads AWS's own.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape, unescape

StartResponse = Callable[..., Any]


class Protocol(enum.Enum):
    """How a service shapes its errors (what botocore's parser for that service expects)."""

    JSON = "json"
    QUERY = "query"
    S3 = "s3"


@dataclass
class ApiError(Exception):
    """An AWS error answer: its code, message and HTTP status, and what else AWS puts in it."""

    code: str
    message: str
    status: int = 400
    #: More children of S3's <Error> element (RequestTime, ServerTime, ...).
    fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)


def respond(
    start_response: StartResponse,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


def error_response(start_response: StartResponse, error: ApiError, protocol: Protocol) -> list[bytes]:
    """``error`` as ``protocol``'s services answer it."""
    if protocol is Protocol.JSON:
        body = json.dumps({"__type": error.code, "message": error.message}).encode()
        return respond(
            start_response,
            error.status,
            body,
            "application/x-amz-json-1.1",
            [("x-amzn-ErrorType", error.code)],
        )
    request_id = secrets.token_hex(16)
    if protocol is Protocol.S3:
        children = "".join(
            f"<{name}>{escape(value)}</{name}>"
            for name, value in (("Code", error.code), ("Message", error.message), *error.fields.items())
        )
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error>{children}<RequestId>{request_id}</RequestId></Error>"
        )
    else:
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
            f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return respond(start_response, error.status, text.encode(), "text/xml")


def xml_error(body: bytes) -> tuple[str, str]:
    """The code and message of an XML error answer (moto's, in either XML shape)."""
    text = body.decode("utf-8", errors="replace")
    code = re.search(r"<Code>(.*?)</Code>", text, re.DOTALL)
    message = re.search(r"<Message>(.*?)</Message>", text, re.DOTALL)
    return (
        unescape(code.group(1)) if code else "UnknownError",
        unescape(message.group(1)) if message else text[:200],
    )


def error_code(body: bytes, headers: list[tuple[str, str]]) -> str:
    """The AWS error code of an error answer in any of the three shapes ("" when it names none)."""
    for name, value in headers:
        if name.lower() == "x-amzn-errortype":
            return value.split(":", 1)[0]
    stripped = body.lstrip()
    if stripped.startswith(b"<"):
        return xml_error(stripped)[0]
    try:
        answer = json.loads(stripped)
    except (ValueError, RecursionError):
        return ""
    code = answer.get("__type", "") if isinstance(answer, dict) else ""
    return str(code).rsplit("#", 1)[-1]
