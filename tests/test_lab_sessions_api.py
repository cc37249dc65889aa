"""StartSession's parameters and DescribeSessions' session limit as AWS answers them, in the real lab."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from fixtures_lab import lab, lab_server  # noqa: F401

from onboard.lab import sandbox
from onboard.lab.sessions import MAX_SESSION_MINUTES

pytestmark = pytest.mark.slow


def _unvalidated_ssm(lab):
    """An SSM client that sends what it is given: botocore would refuse non-string parameters itself."""
    config = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})
    return lab.session("alice").client("ssm", endpoint_url=lab.endpoint_url, config=config)


@pytest.mark.parametrize("parameters", [{"command": [1, 2]}, {"command": [None]}, {"command": [["ls"]]}])
def test_non_string_command_parameters_are_a_validation_exception(lab, parameters):
    with pytest.raises(ClientError) as refused:
        _unvalidated_ssm(lab).start_session(
            Target=lab.instances["jupyter"],
            DocumentName="AWS-StartNonInteractiveCommand",
            Parameters=parameters,
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "parameters" in refused.value.response["Error"]["Message"]


def test_a_command_document_without_its_command_is_refused(lab):
    with pytest.raises(ClientError) as refused:
        lab.client("ssm").start_session(
            Target=lab.instances["jupyter"], DocumentName="AWS-StartNonInteractiveCommand"
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameters"


def test_max_session_duration_is_the_labs_limit_in_minutes(lab):
    ssm = lab.client("ssm")
    session_id = ssm.start_session(Target=lab.instances["jupyter"])["SessionId"]
    try:
        described = lab.describe_session(session_id)
        assert described["MaxSessionDuration"] == str(MAX_SESSION_MINUTES) == "1440"
    finally:
        ssm.terminate_session(SessionId=session_id)


def test_lab_status_says_how_instance_shells_are_isolated(lab):
    from onboard.lab import control

    isolation = control.status(lab.paths)["isolation"]
    assert isolation == sandbox.isolation().describe()
    assert isolation["mode"] in ("sandbox", "host") and isolation["detail"]


def test_port_sessions_have_no_session_log_as_on_aws(lab):
    """The agent's port plugin (agent/session/plugins/port) writes no session log, unlike its shell plugin:
    DescribeSessions names no S3 output for a port session, and the lab stores none."""
    ssm = lab.client("ssm")
    started = ssm.start_session(
        Target=lab.instances["jupyter"],
        DocumentName="AWS-StartPortForwardingSession",
        Parameters={"portNumber": ["8888"], "localPortNumber": ["0"]},
    )
    ssm.terminate_session(SessionId=started["SessionId"])
    ended = ssm.describe_sessions(State="History")["Sessions"]
    port = next(s for s in ended if s["SessionId"] == started["SessionId"])
    assert port.get("OutputUrl", {}).get("S3OutputUrl", "") == ""
    shell = ssm.start_session(Target=lab.instances["jupyter"])
    ssm.terminate_session(SessionId=shell["SessionId"])
    ended = ssm.describe_sessions(State="History")["Sessions"]
    assert next(s for s in ended if s["SessionId"] == shell["SessionId"])["OutputUrl"]["S3OutputUrl"]
