"""`onboard trainer check-account` in the lab: a clean account passes, each fault is named, --fix repairs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fixtures_lab import lab, lab_server  # noqa: F401

from onboard.cli import main
from onboard.lab.agent import COMMUNITY_AMI, LAB_AMI
from onboard.team import Instance, dump_team, load_team


@pytest.fixture
def trainer(lab, monkeypatch, tmp_path):  # noqa: F811
    """Point AWS_PROFILE at the lab's trainer (read access); ``as_admin()`` switches to the lab's admin."""

    def use(user: str) -> None:
        env = lab.aws_env(tmp_path / f"aws-{user}", user=user, profile=user)
        for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
            monkeypatch.setenv(name, env[name])
        monkeypatch.setenv("AWS_PROFILE", user)

    use(lab.trainer)
    return use


@pytest.fixture(autouse=True)
def generated_policies_removed(lab):  # noqa: F811
    """--fix creates and attaches onboard-learner and onboard-instance: take both away after each test."""
    yield
    iam = lab.client("iam", "lab-admin")
    for name in ("onboard-learner", "onboard-instance"):
        arn = f"arn:aws:iam::{lab.account}:policy/{name}"
        try:
            entities = iam.list_entities_for_policy(PolicyArn=arn)
        except iam.exceptions.NoSuchEntityException:
            continue
        for user in entities["PolicyUsers"]:
            iam.detach_user_policy(UserName=user["UserName"], PolicyArn=arn)
        for role in entities["PolicyRoles"]:
            iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
        delete_policy(iam, arn)


def check(capsys, team: Path, *args: str) -> tuple[int, dict]:
    code = main(["trainer", "check-account", "--team", str(team), "--group", "ssm-users", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def finding(body: dict, check_id: str) -> dict:
    return next(f for f in body["data"]["findings"] if f["id"] == check_id)


def failed(body: dict) -> set[str]:
    return {f["id"] for f in body["data"]["findings"] if f["status"] in ("fail", "error")}


def team_with(lab, tmp_path: Path, *extra: tuple[str, str]) -> Path:  # noqa: F811
    """The lab's team file with extra instances (alias, id) added."""
    team = load_team(lab.team_file)
    from dataclasses import replace

    grown = replace(
        team,
        path=tmp_path / "team.toml",
        instances=(*team.instances, *(Instance(alias=a, id=i) for a, i in extra)),
    )
    (tmp_path / "team.toml").write_text(dump_team(grown), encoding="utf-8")
    return tmp_path / "team.toml"


def launch(lab, image: str = LAB_AMI, profile: str | None = None) -> str:  # noqa: F811
    extra = {"IamInstanceProfile": {"Name": profile}} if profile else {}
    answer = lab.client("ec2", "lab-admin").run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", **extra
    )
    return answer["Instances"][0]["InstanceId"]


def test_a_clean_account_passes(lab, trainer, capsys):  # noqa: F811
    code, body = check(capsys, lab.team_file)
    assert code == 0, failed(body)
    assert (body["data"]["profile"], body["data"]["profile_source"]) == (lab.trainer, "AWS_PROFILE")
    assert finding(body, "instance.agent.jupyter")["summary"].startswith("Online, agent ")
    assert "ssm-user" in " ".join(
        finding(body, "account.preferences")["evidence"]
    )  # Run As off: the trade-off
    assert finding(body, "account.learners")["data"]["learners"] == list(lab.learners)


def test_the_trap_is_named_when_the_role_is_right_but_the_agent_was_not_restarted(lab, trainer, capsys):  # noqa: F811
    lab.fault("agent-not-restarted", "jupyter")
    code, body = check(capsys, lab.team_file)
    assert code == 1 and failed(body) == {"instance.agent.jupyter"}
    agent = finding(body, "instance.agent.jupyter")
    assert "started before the policy was attached" in agent["summary"]
    assert "ConnectionLost" in agent["summary"]  # it registered once, at boot: AWS still lists it
    assert "sudo systemctl restart amazon-ssm-agent" in agent["next"]
    assert "sudo snap restart amazon-ssm-agent" in agent["next"]
    assert finding(body, "instance.role.jupyter")["status"] == "ok"


def test_no_instance_profile_and_a_missing_agent_are_named(lab, trainer, capsys, tmp_path):  # noqa: F811
    bare = launch(lab)
    community = launch(lab, COMMUNITY_AMI, "airflow-ssm-profile")
    try:
        team = team_with(lab, tmp_path, ("bare", bare), ("community", community))
        code, body = check(capsys, team)
        assert code == 1
        assert failed(body) == {"instance.profile.bare", "instance.agent.community", "account.learners"}
        # Servers added after the learner policy was written are out of the learners' reach too.
        assert "ssm:StartSession on bare" in finding(body, "account.learners")["data"]["lacking"]["alice"]
        assert "no instance profile" in finding(body, "instance.profile.bare")["summary"]
        assert "associate-iam-instance-profile" in finding(body, "instance.profile.bare")["next"]
        missing = finding(body, "instance.agent.community")
        assert "no agent" in missing["summary"] and "yum install" in missing["next"]
        assert "snap install amazon-ssm-agent" in missing["next"]
    finally:
        lab.client("ec2", "lab-admin").terminate_instances(InstanceIds=[bare, community])


@pytest.fixture
def weak_role(lab):  # noqa: F811
    """An instance profile whose role lacks ssmmessages (the agent cannot open its channels)."""
    iam = lab.client("iam", "lab-admin")
    name = f"tca{uuid.uuid4().hex[:6]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    weak = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ssm:UpdateInstanceInformation", "ec2messages:*"], "Resource": "*"}
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="too-little", PolicyDocument=json.dumps(weak))
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    yield name
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=name)
    iam.delete_instance_profile(InstanceProfileName=name)
    iam.delete_role_policy(RoleName=name, PolicyName="too-little")
    iam.delete_role(RoleName=name)


def delete_policy(iam, arn: str) -> None:
    """Remove a policy check-account's --fix made (with its older versions), so the next test starts clean."""
    try:
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    except iam.exceptions.NoSuchEntityException:
        return
    for version in versions:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=arn)


def test_a_role_missing_ssmmessages_is_fixed_then_the_restart_is_asked(
    lab,  # noqa: F811
    trainer,
    capsys,
    tmp_path,
    weak_role,
):
    instance = launch(lab, LAB_AMI, weak_role)
    try:
        team = team_with(lab, tmp_path, ("weak", instance))
        code, body = check(capsys, team)
        role = finding(body, "instance.role.weak")
        assert code == 1 and role["status"] == "fail"
        assert "ssmmessages:CreateControlChannel" in role["summary"] and role["fix"]
        trainer("lab-admin")
        code, body = check(capsys, team, "--fix")
        assert finding(body, "instance.role.weak")["status"] == "ok", finding(body, "instance.role.weak")[
            "summary"
        ]
        assert any("onboard-instance" in fix["done"] for fix in body["data"]["fixes"])
        # The policy is right now, but the agent registered before it: the trap, by name.
        assert "started before the policy was attached" in finding(body, "instance.agent.weak")["summary"]
        lab.client("ec2", "lab-admin").reboot_instances(InstanceIds=[instance])
        code, body = check(capsys, team)
        assert finding(body, "instance.agent.weak")["status"] == "ok"
    finally:
        lab.client("ec2", "lab-admin").terminate_instances(InstanceIds=[instance])


@pytest.fixture
def preferences_restored(lab):  # noqa: F811
    ssm = lab.client("ssm", "lab-admin")
    version = ssm.get_document(Name="SSM-SessionManagerRunShell")["DocumentVersion"]
    yield ssm
    ssm.update_document_default_version(Name="SSM-SessionManagerRunShell", DocumentVersion=version)


def test_logging_off_is_named_and_fixed(lab, trainer, capsys, preferences_restored):  # noqa: F811
    ssm = preferences_restored
    content = json.loads(ssm.get_document(Name="SSM-SessionManagerRunShell")["Content"])
    content["inputs"]["s3BucketName"] = ""
    content["description"] = f"logging off {uuid.uuid4().hex}"
    new = ssm.update_document(
        Name="SSM-SessionManagerRunShell", Content=json.dumps(content), DocumentVersion="$LATEST"
    )
    ssm.update_document_default_version(
        Name="SSM-SessionManagerRunShell", DocumentVersion=new["DocumentDescription"]["DocumentVersion"]
    )
    code, body = check(capsys, lab.team_file)
    assert code == 1 and failed(body) == {"account.preferences"}
    assert "session logs go to nowhere" in finding(body, "account.preferences")["summary"]
    trainer("lab-admin")
    code, body = check(capsys, lab.team_file, "--fix")
    assert code == 0, (
        [f["done"] for f in body["data"].get("fixes", [])],
        [f["summary"] for f in body["data"]["findings"] if f["status"] != "ok"],
    )
    assert body["data"]["plan"] == [
        {
            "check": "session preferences",
            "fix": "update the session preferences: logs to s3://data-team-session-logs/sessions/, "
            "encryption required",
        }
    ]


def test_a_missing_bucket_is_named(lab, trainer, capsys):  # noqa: F811
    lab.fault("bucket-missing")
    code, body = check(capsys, lab.team_file)
    assert code == 1 and failed(body) == {"account.buckets"}
    assert (
        "the transfer bucket data-team-transfer does not exist" in finding(body, "account.buckets")["summary"]
    )


def test_a_learner_without_the_policy_is_named_and_given_it(lab, trainer, capsys):  # noqa: F811
    lab.fault("no-start-session", "alice")
    code, body = check(capsys, lab.team_file, "--learners", "alice,bob")
    learners = finding(body, "account.learners")
    assert code == 1 and failed(body) == {"account.learners"}
    assert list(learners["data"]["lacking"]) == ["alice"]
    assert "ssm:StartSession on jupyter" in learners["data"]["lacking"]["alice"]
    trainer("lab-admin")
    code, body = check(capsys, lab.team_file, "--learners", "alice,bob", "--fix")
    assert code == 0, failed(body)
    attached = lab.client("iam", "lab-admin").list_attached_user_policies(UserName="alice")[
        "AttachedPolicies"
    ]
    assert "onboard-learner" in [p["PolicyName"] for p in attached]


def test_a_clashing_class_is_refused_with_the_reason(lab, trainer, capsys):  # noqa: F811
    code, body = check(capsys, lab.team_file, "--learners", "alice,alice-2")
    learners = finding(body, "account.learners")
    assert code == 1 and "'alice-2' begins with 'alice'" in learners["summary"]


def test_the_text_report_names_the_trainers_command(lab, trainer, capsys):  # noqa: F811
    lab.fault("agent-offline", "redash")
    code = main(["trainer", "check-account", "--team", str(lab.team_file)])
    text = capsys.readouterr().out
    assert code == 1
    assert text.startswith("onboard trainer check-account: profile trainer")
    assert "redash: registered and Online" in text and "ConnectionLost" in text
