"""The input of AWS's JSON-protocol operations, checked as AWS's front end checks it first.

:func:`parse_json_body` refuses what is not JSON, and JSON nested absurdly deep, before parsing it (a
100,000-deep body would otherwise exhaust the parser's recursion); :func:`check_shape` checks a request
against the operation's input shape in botocore's SSM service model: a member of the wrong type
(``NextToken: 5``, ``Filters: "junk"``) is a ``SerializationException``, a missing required member a
``ValidationException``; unknown members are ignored, as AWS ignores them.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from onboard.lab.awserrors import ApiError
from onboard.session.protocol import nests_deeper_than

#: JSON nesting beyond this is refused before parsing (AWS's parsers refuse deep input too).
MAX_JSON_DEPTH = 64


def parse_json_body(body: bytes) -> Any:
    """A JSON request body, or AWS's SerializationException for one that is not JSON (or nested absurdly)."""
    if nests_deeper_than(body, MAX_JSON_DEPTH):
        raise ApiError(
            "SerializationException", f"The request body nests deeper than {MAX_JSON_DEPTH} levels."
        )
    try:
        return json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise ApiError("SerializationException", "The request body is not valid JSON.") from None


@cache
def _input_shape(operation: str) -> Any:
    from botocore.model import OperationNotFoundError

    from onboard.lab.motoboot import botocore_session

    # moto's session has parsed SSM's model already (for its region list): read it from there.
    model = botocore_session().get_service_model("ssm")
    try:
        return model.operation_model(operation).input_shape
    except OperationNotFoundError:
        raise ApiError("UnknownOperationException", f"The operation {operation!r} is not known.") from None


def check_shape(operation: str, request: Any) -> None:
    """Refuse input that does not fit the operation's shape, with the error AWS's front end gives."""
    from botocore.validate import ParamValidator

    if not isinstance(request, dict):
        raise ApiError("SerializationException", "Start of structure or map found where not expected.")
    report = ParamValidator().validate(request, _input_shape(operation))
    # StartSession's Parameters are checked by the sessions module, which the data channel shares.
    errors = [
        error
        for error in report._errors
        if error[0] != "unknown field" and not error[1].lstrip(".").startswith("Parameters")
    ]
    errors = [(reason, name.lstrip("."), details) for reason, name, details in errors]
    for reason, name, details in errors:
        if reason in ("invalid type", "invalid type for document"):
            raise ApiError(
                "SerializationException", f"{name}: {details.get('param')!r} is not of the expected type."
            )
    for reason, name, details in errors:
        member = details.get("required_name") or name
        member = member[:1].lower() + member[1:]
        if reason == "missing required field":
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
                "Member must not be null",
            )
        raise ApiError(
            "ValidationException", f"1 validation error detected: {name} failed to satisfy its constraint."
        )
