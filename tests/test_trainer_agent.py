"""The lab's SSM agents register as amazon-ssm-agent does: with the role as it was when the agent started."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from fixtures_lab import lab, lab_server  # noqa: F401

from onboard.cli import main


def ping(lab, instance_id: str) -> str | None:  # noqa: F811
    """PingStatus as the trainer sees it; None when the instance is not a managed node at all."""
    listed = lab.client("ssm", lab.trainer).describe_instance_information()["InstanceInformationList"]
    return next((i["PingStatus"] for i in listed if i["InstanceId"] == instance_id), None)


def start_refused(lab, instance_id: str) -> str:  # noqa: F811
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        lab.client("ssm", "lab-admin").start_session(Target=instance_id)
    return refused.value.response["Error"]["Code"]


@pytest.fixture
def lab_cli(lab, monkeypatch):  # noqa: F811
    """`onboard lab ...` commands reach the fixture's lab (its state folder)."""
    monkeypatch.setenv("XDG_STATE_HOME", lab.env["XDG_STATE_HOME"])
    return lab


def run(capsys, *args: str) -> tuple[int, dict]:
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_policy_attached_after_the_agent_started_needs_a_restart(lab_cli, capsys):
    lab = lab_cli  # noqa: F811
    jupyter = lab.instances["jupyter"]
    assert ping(lab, jupyter) == "Online"
    lab.fault("agent-not-restarted", "jupyter")
    # The role is right again (the seed's policy is attached), but the agent registered before it was.
    iam = lab.client("iam", "lab-admin")
    attached = iam.list_attached_role_policies(RoleName="jupyter-ssm-role")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["policy-for-ec2-server"]
    assert ping(lab, jupyter) == "ConnectionLost"
    assert start_refused(lab, jupyter) == "TargetNotConnected"
    code, body = run(capsys, "lab", "instance", "restart-agent", "jupyter")
    assert code == 0 and body["data"]["online"] is True
    assert ping(lab, jupyter) == "Online"
    session_id = lab.client("ssm", "lab-admin").start_session(Target=jupyter)["SessionId"]
    lab.client("ssm", "lab-admin").terminate_session(SessionId=session_id)


def test_a_reboot_restarts_the_agent(lab):  # noqa: F811
    airflow = lab.instances["airflow"]
    lab.fault("agent-not-restarted", "airflow")
    assert ping(lab, airflow) == "ConnectionLost"
    lab.client("ec2", "lab-admin").reboot_instances(InstanceIds=[airflow])
    assert ping(lab, airflow) == "Online"


def test_taking_the_policy_away_stops_a_running_agent_at_once(lab):  # noqa: F811
    redash = lab.instances["redash"]
    lab.fault("role-without-ssm-policy", "redash")
    assert ping(lab, redash) == "ConnectionLost"
    lab.clear_faults()
    # Given back while the agent still runs and is registered: it answers again.
    assert ping(lab, redash) == "Online"


def launch(lab, image: str, profile: str | None, name: str) -> str:  # noqa: F811
    ec2 = lab.client("ec2", "lab-admin")
    extra = {"IamInstanceProfile": {"Name": profile}} if profile else {}
    reservation = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
        **extra,
    )
    return reservation["Instances"][0]["InstanceId"]


def test_a_server_added_at_run_time_with_a_profile_registers_and_takes_sessions(lab):  # noqa: F811
    from onboard.lab.agent import LAB_AMI

    instance_id = launch(lab, LAB_AMI, "jupyter-ssm-profile", "added")
    try:
        assert ping(lab, instance_id) == "Online"
        ssm = lab.client("ssm", "lab-admin")
        session_id = ssm.start_session(Target=instance_id)["SessionId"]
        ssm.terminate_session(SessionId=session_id)
    finally:
        lab.client("ec2", "lab-admin").terminate_instances(InstanceIds=[instance_id])
    assert ping(lab, instance_id) is None  # terminated: no longer a managed node


def test_a_server_without_a_profile_never_shows_up(lab):  # noqa: F811
    from onboard.lab.agent import LAB_AMI

    instance_id = launch(lab, LAB_AMI, None, "no-profile")
    try:
        assert ping(lab, instance_id) is None
        assert start_refused(lab, instance_id) == "TargetNotConnected"
    finally:
        lab.client("ec2", "lab-admin").terminate_instances(InstanceIds=[instance_id])


def test_a_community_image_has_no_agent_until_one_is_installed(lab_cli, capsys):
    from onboard.lab.agent import COMMUNITY_AMI, INSTALLED_VERSION

    lab = lab_cli  # noqa: F811
    instance_id = launch(lab, COMMUNITY_AMI, "jupyter-ssm-profile", "community")
    try:
        assert ping(lab, instance_id) is None
        code, body = run(capsys, "lab", "instance", "restart-agent", instance_id)
        assert code == 0 and body["data"]["agent"] == "not installed"  # nothing to restart
        code, body = run(capsys, "lab", "instance", "install-agent", "community")
        assert code == 0 and body["data"]["online"] is True
        listed = lab.client("ssm", lab.trainer).describe_instance_information()["InstanceInformationList"]
        info = next(i for i in listed if i["InstanceId"] == instance_id)
        assert info["PingStatus"] == "Online" and info["AgentVersion"] == INSTALLED_VERSION
    finally:
        lab.client("ec2", "lab-admin").terminate_instances(InstanceIds=[instance_id])


def test_an_unknown_instance_is_a_clear_error(lab_cli, capsys):
    code, body = run(capsys, "lab", "instance", "restart-agent", "nosuch")
    assert code != 0 and "no instance 'nosuch'" in body["error"]["message"]


def test_a_role_without_every_session_action_never_registers(lab):  # noqa: F811
    """AWS's minimal instance permissions for Session Manager are five actions; a role that grants the
    control channel but not the data channel's CreateDataChannel does not make a reachable node."""
    from onboard.facts import SESSION_AGENT_ACTIONS
    from onboard.lab.agent import LAB_AMI

    iam = lab.client("iam", "lab-admin")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    short = [a for a in SESSION_AGENT_ACTIONS if a != "ssmmessages:CreateDataChannel"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": short, "Resource": "*"}]}
    iam.create_role(RoleName="short-agent-role", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="short-agent-role", PolicyName="agent", PolicyDocument=json.dumps(policy))
    iam.create_instance_profile(InstanceProfileName="short-agent-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="short-agent-profile", RoleName="short-agent-role")
    instance_id = launch(lab, LAB_AMI, "short-agent-profile", "short")
    try:
        assert ping(lab, instance_id) is None
    finally:
        lab.client("ec2", "lab-admin").terminate_instances(InstanceIds=[instance_id])
        iam.remove_role_from_instance_profile(
            InstanceProfileName="short-agent-profile", RoleName="short-agent-role"
        )
        iam.delete_instance_profile(InstanceProfileName="short-agent-profile")
        iam.delete_role_policy(RoleName="short-agent-role", PolicyName="agent")
        iam.delete_role(RoleName="short-agent-role")
