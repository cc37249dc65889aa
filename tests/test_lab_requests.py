"""What the lab checks on every request before answering it, as AWS does: the signing time, the body's size,
the signature before the body, and the shape of the input (malformed input gets AWS's JSON error, never an
HTML 500).

The codes, statuses and messages are AWS's own, as its services answer them (and as botocore, the AWS CLI
and doctor see them): SSM's JSON protocol answers InvalidSignatureException/400 "Signature expired: ... (... -
5 min.)"; STS and IAM answer SignatureDoesNotMatch/403 with the same wording and a 15-minute window; EC2
answers RequestExpired/400; S3 answers RequestTimeTooSkewed/403 with a 15-minute window.
"""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import datetime
import http.client
import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from fixtures_lab import lab, lab_server  # noqa: F401

from onboard.lab.client import signed_request

pytestmark = pytest.mark.slow


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


@pytest.fixture
def clock_off(monkeypatch: pytest.MonkeyPatch):
    """Sign this process's requests as a computer whose clock is ``minutes`` off (negative: behind)."""
    import botocore.auth

    def set_offset(minutes: float) -> None:
        offset = datetime.timedelta(minutes=minutes)

        def skewed_now(remove_tzinfo: bool = True) -> datetime.datetime:
            now = datetime.datetime.now(datetime.timezone.utc) + offset
            return now.replace(tzinfo=None) if remove_tzinfo else now

        monkeypatch.setattr(botocore.auth, "get_current_datetime", skewed_now)

    return set_offset


def test_requests_signed_too_long_ago_are_refused_with_each_services_own_answer(lab, clock_off):
    clock_off(-16)
    with pytest.raises(ClientError) as ssm:
        lab.client("ssm", "alice").describe_sessions(State="Active")
    code, message, status = error_of(ssm)
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("Signature expired: ") and "is now earlier than" in message
    assert message.endswith(" - 5 min.)")
    with pytest.raises(ClientError) as sts:
        lab.client("sts", "alice").get_caller_identity()
    code, message, status = error_of(sts)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert message.startswith("Signature expired: ") and message.endswith(" - 15 min.)")
    with pytest.raises(ClientError) as ec2:
        lab.client("ec2", "alice").describe_instances()
    assert error_of(ec2)[:3:2] == ("RequestExpired", 400)
    with pytest.raises(ClientError) as s3:
        lab.client("s3", "alice").list_objects_v2(Bucket="data-team-transfer", Prefix="users/alice/")
    code, message, status = error_of(s3)
    assert (code, status) == ("RequestTimeTooSkewed", 403)
    assert message == "The difference between the request time and the current time is too large."


def test_a_request_replayed_days_later_is_refused(lab, clock_off):
    clock_off(-8 * 24 * 60)
    with pytest.raises(ClientError) as old:
        lab.client("ssm", "bob").describe_instance_information()
    assert error_of(old)[0] == "InvalidSignatureException"


def test_requests_from_a_clock_ahead_are_not_yet_current(lab, clock_off):
    clock_off(+16)
    with pytest.raises(ClientError) as ssm:
        lab.client("ssm", "alice").describe_sessions(State="Active")
    code, message, _ = error_of(ssm)
    assert code == "InvalidSignatureException"
    assert message.startswith("Signature not yet current: ") and message.endswith(" + 5 min.)")


def test_a_clock_a_few_minutes_off_is_still_within_each_window(lab, clock_off):
    clock_off(-4)
    assert lab.client("ssm", "alice").describe_sessions(State="Active")["Sessions"] is not None
    clock_off(+12)
    assert lab.client("sts", "alice").get_caller_identity()["Arn"].endswith(":user/alice")
    assert "Contents" in lab.client("s3", "alice").list_objects_v2(
        Bucket="data-team-transfer", Prefix="shared/"
    )


def test_the_clock_skew_fault_makes_one_learners_clock_wrong_as_aws_sees_it(lab, tmp_path):
    from onboard.errors import OnboardError
    from onboard.identity import check_identity

    lab.fault("clock-skew", "carol")
    with pytest.raises(ClientError) as skewed:
        lab.client("sts", "carol").get_caller_identity()
    code, message, _ = error_of(skewed)
    assert code == "SignatureDoesNotMatch" and message.startswith("Signature expired")
    # The answer's Date is the clock AWS would have: doctor and setup can say how far off the learner is.
    assert lab.client("sts", "bob").get_caller_identity()["Arn"].endswith(":user/bob")
    env = lab.aws_env(tmp_path, "carol")
    import os

    saved = {name: os.environ.get(name) for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    os.environ.update({name: env[name] for name in saved})
    try:
        with pytest.raises(OnboardError) as explained:
            check_identity("ssm", endpoint_url=lab.endpoint_url, region=lab.region)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert "clock" in explained.value.message
    assert "behind" in explained.value.message
    lab.clear_faults()
    assert lab.client("sts", "carol").get_caller_identity()["Arn"].endswith(":user/carol")


# --- raw requests: what a client nobody here wrote may send ------------------------------------------


def raw(
    lab, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(lab.endpoint_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def ssm_call(lab, operation: str, body: bytes, user: str = "alice") -> tuple[int, dict[str, object]]:
    key_id, secret = lab.keys(user)
    status, answer = signed_request(
        lab.endpoint_url,
        "ssm",
        lab.region,
        key_id,
        secret,
        body=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"AmazonSSM.{operation}"},
    )
    return status, json.loads(answer)


def log_after(lab, offset: int) -> str:
    return lab.paths.log_file.read_bytes()[offset:].decode("utf-8", errors="replace")


@pytest.mark.parametrize(
    ("operation", "request_body", "code"),
    [
        ("DescribeSessions", {"State": "Active", "NextToken": 5}, "SerializationException"),
        ("DescribeSessions", {"State": "Active", "NextToken": "5"}, "InvalidNextToken"),
        ("DescribeSessions", {"State": "Active", "NextToken": "LTE="}, "InvalidNextToken"),
        ("DescribeSessions", {"State": "Active", "Filters": "junk"}, "SerializationException"),
        ("DescribeSessions", {"State": "Active", "Filters": [1, 2]}, "SerializationException"),
        (
            "DescribeSessions",
            {"State": "Active", "Filters": [{"key": 5, "value": []}]},
            "SerializationException",
        ),
        ("DescribeSessions", {"State": ["Active"]}, "SerializationException"),
        ("DescribeSessions", {"State": "Active", "MaxResults": "ten"}, "SerializationException"),
        ("DescribeInstanceInformation", {"Filters": {"Key": "x"}}, "SerializationException"),
        (
            "DescribeInstanceInformation",
            {"Filters": [{"Key": "PingStatus", "Values": [1]}]},
            "SerializationException",
        ),
        (
            "DescribeInstanceInformation",
            {"InstanceInformationFilterList": ["junk"]},
            "SerializationException",
        ),
        (
            "DescribeInstanceInformation",
            {"InstanceInformationFilterList": [{"key": "InstanceIds"}]},
            "ValidationException",
        ),
        (
            "StartSession",
            {"Target": "i-0a1b2c3d4e5f60001", "Parameters": {"command": [1, 2]}},
            "ValidationException",
        ),
        ("StartSession", {"Target": 7}, "SerializationException"),
    ],
)
def test_malformed_session_requests_get_aws_json_errors(lab, operation, request_body, code):
    offset = lab.paths.log_file.stat().st_size
    status, answer = ssm_call(lab, operation, json.dumps(request_body).encode())
    assert status == 400, answer
    assert answer["__type"] == code
    assert answer["message"]
    assert "Traceback" not in log_after(lab, offset)


@pytest.mark.parametrize("operation", ["DescribeSessions", "GetParameter"])
def test_a_deeply_nested_json_body_is_a_serialization_error(lab, operation):
    offset = lab.paths.log_file.stat().st_size
    status, answer = ssm_call(lab, operation, b"[" * 100_000 + b"]" * 100_000)
    assert (status, answer["__type"]) == (400, "SerializationException")
    status, answer = ssm_call(lab, operation, b"{not json")
    assert (status, answer["__type"]) == (400, "SerializationException")
    assert "Traceback" not in log_after(lab, offset)


def test_an_authorization_header_without_a_signed_date_is_incomplete(lab):
    key_id, _ = lab.keys("alice")
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/20260101/{lab.region}/ssm/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-target, Signature=" + "0" * 64
    )
    headers = {
        "Authorization": authorization,
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonSSM.DescribeSessions",
    }
    status, _, body = raw(lab, "POST", "/", headers, b'{"State": "Active"}')
    answer = json.loads(body)
    assert status == 400
    assert answer["__type"] == "IncompleteSignatureException"
    # Not signed: a date header that is present but left out of SignedHeaders counts for nothing.
    headers["X-Amz-Date"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    status, _, body = raw(lab, "POST", "/", headers, b'{"State": "Active"}')
    assert (status, json.loads(body)["__type"]) == (400, "IncompleteSignatureException")
    status, _, body = raw(
        lab,
        "GET",
        "/data-team-transfer?list-type=2",
        {"Authorization": authorization.replace("/ssm/", "/s3/")},
    )
    assert status in (400, 403) and b"<Code>" in body


def _send_headers_only(lab, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send a request's headers and none of the body it announces; the answer must come anyway."""
    parts = urlsplit(lab.endpoint_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"] + [
            f"{k}: {v}" for k, v in headers.items()
        ]
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        connection.sendall(b"x" * 65536)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, response.read()


def _signed_headers(
    lab, service: str, method: str, path: str, extra: dict[str, str], secret: str | None = None
) -> dict[str, str]:
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key_id, real_secret = lab.keys("alice")
    request = AWSRequest(method=method, url=lab.endpoint_url + path, headers=dict(extra))
    auth = S3SigV4Auth if service == "s3" else SigV4Auth
    auth(Credentials(key_id, secret or real_secret.reveal()), service, lab.region).add_auth(request)
    return dict(request.headers)


def test_a_huge_body_is_refused_before_it_is_read(lab):
    """800 MB announced by a caller who knows only an access key id: refused at once, nothing read."""
    headers = _signed_headers(
        lab,
        "ssm",
        "POST",
        "/",
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.DescribeSessions"},
        secret="w" * 40,
    )
    headers["Content-Length"] = str(800 * 1024 * 1024)
    started = time.monotonic()
    status, body = _send_headers_only(lab, "POST", "/", headers)
    assert time.monotonic() - started < 5
    assert status == 413
    assert json.loads(body)["__type"] == "RequestEntityTooLargeException"


def test_an_s3_upload_with_a_wrong_signature_is_refused_before_its_body_is_read(lab):
    path = "/data-team-transfer/users/alice/huge.bin"
    headers = _signed_headers(
        lab, "s3", "PUT", path, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}, secret="w" * 40
    )
    headers["Content-Length"] = str(800 * 1024 * 1024)
    started = time.monotonic()
    status, body = _send_headers_only(lab, "PUT", path, headers)
    assert time.monotonic() - started < 5
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body


def test_an_s3_upload_beyond_awss_single_put_limit_is_too_large(lab):
    path = "/data-team-transfer/users/alice/too-big.bin"
    headers = _signed_headers(lab, "s3", "PUT", path, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    headers["Content-Length"] = str(5 * 1024**3 + 1)
    status, body = _send_headers_only(lab, "PUT", path, headers)
    assert status == 400
    assert b"<Code>EntityTooLarge</Code>" in body


def test_the_lab_log_names_the_operation_the_caller_and_the_error(lab):
    offset = lab.paths.log_file.stat().st_size
    with pytest.raises(ClientError):
        lab.client("ssm", "carol").start_session(Target="i-0fedcba9876543210")
    with pytest.raises(ClientError):
        lab.client("s3", "carol").get_object(Bucket="data-team-transfer", Key="users/alice/none")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        written = log_after(lab, offset)
        if "GetObject" in written:
            break
        time.sleep(0.1)
    lines = written.splitlines()
    assert any(
        "ssm:StartSession" in line and "carol" in line and "AccessDeniedException" in line for line in lines
    ), written
    assert any("s3:GetObject" in line and "carol" in line and "AccessDenied" in line for line in lines), (
        written
    )


@pytest.mark.parametrize(
    ("operation", "request_body"),
    [("GetParameter", {"Name": 5}), ("GetParameters", {"Names": "x"}), ("NoSuchOperation", {})],
)
def test_ssm_input_of_the_wrong_shape_is_refused_before_moto_sees_it(lab, operation, request_body):
    offset = lab.paths.log_file.stat().st_size
    status, answer = ssm_call(lab, operation, json.dumps(request_body).encode(), user=lab.trainer)
    assert status == 400, answer
    assert answer["__type"] in ("SerializationException", "UnknownOperationException")
    assert "Traceback" not in log_after(lab, offset)


def test_input_moto_fails_on_gets_an_aws_shaped_error_never_an_html_page(lab):
    key_id, secret = lab.keys(lab.trainer)
    offset = lab.paths.log_file.stat().st_size
    status, body = signed_request(
        lab.endpoint_url,
        "ec2",
        lab.region,
        key_id,
        secret,
        body=b"Action=DescribeInstances&Version=2016-11-15&MaxResults=abc",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status >= 400
    assert body.startswith(b"<?xml") and b"<Code>" in body and b"<html" not in body
    assert "Traceback" not in log_after(lab, offset)
