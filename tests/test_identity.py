"""The identity check: the IAM user behind a profile, and every way it fails explained with the fix."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

from datetime import timedelta

import pytest
from fixtures_moto import authenticated_user, aws_like_server, closed_port, moto_server, write_profile  # noqa: F401

from onboard.errors import ExitCode, OnboardError
from onboard.identity import Failure, Identity, IdentityError, check_identity, describe_skew


def test_the_keys_of_an_iam_user_give_its_arn(isolated_home, moto_server, authenticated_user):
    write_profile(isolated_home, "ssm", key=authenticated_user, endpoint_url=moto_server.url)
    identity = check_identity("ssm")
    assert identity.arn == authenticated_user.arn
    assert identity.user_name == "alice"
    assert identity.kind == "user"
    assert identity.account == "123456789012"
    assert identity.clock_skew == 0.0


def test_an_unknown_access_key_id_is_explained(isolated_home, moto_server, authenticated_user):
    write_profile(
        isolated_home,
        "ssm",
        access_key_id="AKIAAAAAAAAAAAAAAAAA",
        secret=authenticated_user.secret_access_key,
    )
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=moto_server.url)
    assert "does not know the access key id" in raised.value.message
    assert "InvalidClientTokenId" in raised.value.message
    assert "IAM console" in raised.value.hint
    assert authenticated_user.secret_access_key not in raised.value.message + raised.value.hint


def test_a_wrong_secret_is_explained_without_showing_it(isolated_home, moto_server, authenticated_user):
    wrong = authenticated_user.secret_access_key[::-1]
    write_profile(isolated_home, "ssm", access_key_id=authenticated_user.access_key_id, secret=wrong)
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=moto_server.url)
    text = f"{raised.value.message} {raised.value.hint} {raised.value!r}"
    assert "secret access key in the profile 'ssm' does not match" in text
    assert "--credentials-csv" in text
    assert wrong not in text and authenticated_user.secret_access_key not in text


def test_a_profile_without_keys_says_to_run_setup(isolated_home, moto_server):
    write_profile(isolated_home, "ssm")
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=moto_server.url)
    assert "has no access keys" in raised.value.message
    assert "onboard setup" in raised.value.hint


def test_a_missing_profile_is_named(isolated_home):
    with pytest.raises(OnboardError) as raised:
        check_identity("nope")
    assert "'nope' is not in your AWS config" in raised.value.message


@pytest.mark.parametrize(
    ("offset", "code", "message", "expected"),
    [
        # AWS's words when the request's signing time is more than 15 minutes old.
        (
            timedelta(minutes=42),
            "SignatureDoesNotMatch",
            "Signature expired: 20261128T090000Z is now earlier than 20261128T092700Z "
            "(20261128T094200Z - 15 min.)",
            "42 minutes behind AWS's clock",
        ),
        (
            timedelta(hours=-3, minutes=-5),
            "RequestExpired",
            "Request has expired.",
            "3 hours 5 minutes ahead of",
        ),
        # A plain SignatureDoesNotMatch, but the server's Date shows the clock far off: that is the cause.
        (
            timedelta(days=1),
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match",
            "1 day",
        ),
        # JSON-protocol services (SSM, ...) say it with InvalidSignatureException.
        (
            timedelta(minutes=20),
            "InvalidSignatureException",
            "Signature expired: 20261128T090000Z is now earlier than 20261128T090500Z "
            "(20261128T092000Z - 15 min.)",
            "20 minutes behind",
        ),
        # A clock ahead of AWS's: the signature is "not yet current".
        (
            timedelta(minutes=-30),
            "SignatureDoesNotMatch",
            "Signature not yet current: 20261128T100000Z is still later than 20261128T094500Z "
            "(20261128T093000Z + 15 min.)",
            "30 minutes ahead of",
        ),
        # S3's code.
        (
            timedelta(minutes=16),
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            "16 minutes behind",
        ),
        (timedelta(hours=-2), "RequestInTheFuture", "Request is not yet valid", "2 hours ahead of"),
        # EC2's code for a refused signature, with the server's Date far off.
        (
            timedelta(hours=5),
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
            "5 hours",
        ),
    ],
)
def test_a_wrong_clock_is_measured_from_the_servers_date(
    isolated_home, aws_like_server, offset, code, message, expected
):
    aws_like_server.answer.code = code
    aws_like_server.answer.message = message
    aws_like_server.answer.clock_offset = offset
    write_profile(isolated_home, "ssm", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="s" * 40)
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=aws_like_server.url)
    assert "clock is wrong" in raised.value.message
    assert expected in raised.value.message
    assert "timedatectl" in raised.value.hint
    assert isinstance(raised.value, IdentityError)
    assert (raised.value.failure, raised.value.code) == (Failure.CLOCK, code)
    assert abs(raised.value.clock_skew - offset.total_seconds()) < 5


@pytest.mark.parametrize(
    ("code", "message", "failure"),
    [
        ("SignatureDoesNotMatch", "The request signature we calculated does not match", Failure.WRONG_SECRET),
        (
            "InvalidSignatureException",
            "The request signature we calculated does not match",
            Failure.WRONG_SECRET,
        ),
        ("AuthFailure", "AWS was not able to validate the provided access credentials", Failure.WRONG_SECRET),
        (
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            Failure.UNKNOWN_KEY_ID,
        ),
        (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            Failure.INVALID_TOKEN,
        ),
        ("AccessDenied", "explicit deny in a service control policy", Failure.DENIED),
        ("Throttling", "Rate exceeded (mentions a clock)", Failure.REFUSED),
    ],
)
def test_a_refusal_with_the_clock_right_is_typed_by_the_aws_error_code(
    isolated_home, aws_like_server, code, message, failure
):
    # The words in the message never decide: a "clock" in an unrelated message is not a clock problem.
    aws_like_server.answer.code = code
    aws_like_server.answer.message = message
    write_profile(isolated_home, "ssm", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="s" * 40)
    with pytest.raises(IdentityError) as raised:
        check_identity("ssm", endpoint_url=aws_like_server.url)
    assert (raised.value.failure, raised.value.code) == (failure, code)
    assert raised.value.exit_code == ExitCode.FAILURE
    assert raised.value.to_dict()["failure"] == failure.value


def test_a_slightly_wrong_clock_is_reported_on_success(isolated_home, aws_like_server):
    aws_like_server.answer.status = 200
    aws_like_server.answer.clock_offset = timedelta(minutes=3)
    write_profile(isolated_home, "ssm", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="s" * 40)
    identity = check_identity("ssm", endpoint_url=aws_like_server.url)
    assert identity.user_name == "skewed"
    assert 170 < identity.clock_skew < 190


def test_an_expired_session_token_is_explained(isolated_home, aws_like_server):
    aws_like_server.answer.code = "ExpiredToken"
    aws_like_server.answer.message = "The security token included in the request is expired"
    token = "FwoGZXIvYXdzEXAMPLETOKEN" * 4
    write_profile(
        isolated_home, "ssm", access_key_id="ASIAIOSFODNN7EXAMPLE", secret="s" * 40, session_token=token
    )
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=aws_like_server.url)
    assert "session token in the profile 'ssm' has expired" in raised.value.message
    assert token not in str(raised.value.to_dict())


def test_a_refused_connection_names_the_endpoint(isolated_home):
    write_profile(isolated_home, "ssm", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="s" * 40)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=endpoint)
    assert raised.value.exit_code == ExitCode.ENVIRONMENT
    assert f"could not connect to {endpoint}" in raised.value.message
    assert raised.value.failure is Failure.UNREACHABLE and raised.value.code is None


def test_a_stalled_server_times_out_quickly(isolated_home, aws_like_server):
    aws_like_server.answer.stall_seconds = 30
    write_profile(isolated_home, "ssm", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="s" * 40)
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=aws_like_server.url, timeout=0.5)
    assert f"{aws_like_server.url} did not answer within 0.5 seconds" in raised.value.message


def test_a_refusing_proxy_is_named(isolated_home, monkeypatch, moto_server):
    proxy = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HTTP_PROXY", proxy)
    write_profile(isolated_home, "ssm", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="s" * 40)
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=moto_server.url)
    assert f"the proxy {proxy}" in raised.value.message
    assert "HTTPS_PROXY" in raised.value.hint


def test_tls_failures_point_at_aws_ca_bundle(isolated_home, moto_server):
    write_profile(isolated_home, "ssm", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="s" * 40)
    # moto speaks plain HTTP: a TLS handshake with it fails as one through a TLS-inspecting proxy does.
    with pytest.raises(OnboardError) as raised:
        check_identity("ssm", endpoint_url=moto_server.url.replace("http://", "https://"))
    assert "TLS connection" in raised.value.message
    assert "AWS_CA_BUNDLE" in raised.value.hint


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (420, "7 minutes behind"),
        (-3600, "1 hour ahead of"),
        (90061, "1 day 1 hour behind"),
        (1, "1 second behind"),
    ],
)
def test_describe_skew(seconds, words):
    assert describe_skew(seconds).startswith(words)


def test_identity_kinds():
    role = Identity("arn:aws:sts::1:assumed-role/Admin/bob", "1", "AROA:bob", None)
    root = Identity("arn:aws:iam::1:root", "1", "1", None)
    assert (role.kind, root.kind) == ("assumed-role", "root")


def test_aws_ca_bundle_is_honoured_for_a_tls_inspecting_proxy(isolated_home, tmp_path, monkeypatch):
    from bundles import self_signed_tls
    from fixtures_moto import serve_aws_like

    tls, certificate = self_signed_tls(tmp_path / "tls")
    write_profile(isolated_home, "ssm", access_key_id="AKIAIOSFODNN7EXAMPLE", secret="s" * 40)
    with serve_aws_like(tls) as server:
        server.answer.status = 200
        # A certificate the system does not trust: refused, with the way out named.
        with pytest.raises(OnboardError) as raised:
            check_identity("ssm", endpoint_url=server.url)
        assert "AWS_CA_BUNDLE" in raised.value.hint
        # The company's CA bundle, as botocore reads it: trusted.
        monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate))
        assert check_identity("ssm", endpoint_url=server.url).user_name == "skewed"


def test_aws_endpoint_url_in_the_environment_is_honoured(
    isolated_home, monkeypatch, moto_server, authenticated_user
):
    write_profile(isolated_home, "ssm", key=authenticated_user)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    assert check_identity("ssm").arn == authenticated_user.arn


def test_a_date_header_without_a_zone_is_read_as_gmt_not_an_internal_error() -> None:
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from onboard.identity import _skew

    ahead = datetime.now(timezone.utc) + timedelta(minutes=20)
    header = format_datetime(ahead.replace(tzinfo=None))  # "... -0000": a naive datetime when parsed back
    assert header.endswith("-0000")
    skew = _skew({"HTTPHeaders": {"date": header}})
    assert skew is not None and 19 * 60 < skew < 21 * 60
