"""`onboard trainer provision` and `deprovision` with a class of 30, against the lab (moto's CloudFormation
behind the lab's layer): plan, apply, a re-run that changes nothing, kits the wizard imports, learners kept
apart, and a deprovision that leaves nothing. Two module-scoped labs: one where the class is planned and
applied once (the tests read those runs' answers, and change nothing of the class), one where it is applied
and then deprovisioned; so each test passes alone, in any order, and on any xdist worker."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from fixtures_lab import RunningLab, start_lab, stop_lab

from helpers import Ran, run_onboard
from onboard.awsconfig import read_credentials_csv
from onboard.errors import ExitCode
from onboard.sessionprefs import DOCUMENT_NAME
from onboard.team import Location, dump_team, load_team

pytestmark = pytest.mark.slow

CLASS_SIZE = 30
STACK = "onboard-class-lab-class"
BUCKET = "lab-class-transfer"


@dataclass
class Classroom:
    lab: RunningLab
    root: Path
    team: Path
    class_csv: Path
    kits: Path
    env: dict[str, str]
    names: tuple[str, ...]
    runs: list[Ran]

    def trainer(self, *args: str) -> Ran:
        ran = run_onboard(
            "trainer", *args, "--team", str(self.team), env=self.env, timeout=120, cwd=self.root
        )
        self.runs.append(ran)
        return ran

    def client(self, service: str, user: str = "lab-admin"):
        return self.lab.client(service, user)

    def learner_client(self, service: str, name: str):
        key = read_credentials_csv(self.kits / name / f"{name}_accessKeys.csv")
        session = boto3.Session(
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key.reveal(),
            region_name=self.lab.region,
        )
        return session.client(service, endpoint_url=self.lab.endpoint_url)

    def secrets(self) -> list[str]:
        found = []
        for csv in self.kits.glob("*/*_accessKeys.csv"):
            found.append(read_credentials_csv(csv).secret_access_key.reveal())
        return found


def _classroom(root: Path) -> Classroom:
    """A lab of its own (no seeded learners), a fresh account's view: no session preferences saved yet,
    and a team file whose transfer bucket does not exist; the trainer's profile as AWS_PROFILE."""
    lab = start_lab(root / "lab", learners=())
    try:
        lab.client("ssm", "lab-admin").delete_document(Name=DOCUMENT_NAME)
        team = load_team(lab.team_file)
        team_file = root / "class" / "team.toml"
        team_file.parent.mkdir()
        team_file.write_text(
            dump_team(replace(team, path=team_file, team="lab-class", transfer=Location(BUCKET, "users/"))),
            encoding="utf-8",
        )
        names = tuple(f"learner{number:02d}" for number in range(1, CLASS_SIZE + 1))
        class_csv = root / "class" / "class.csv"
        class_csv.write_text(
            "name,display_name,email\n"
            + "".join(f"{name},Learner {name[-2:]},{name}@example.com\n" for name in names),
            encoding="utf-8",
        )
        env = lab.aws_env(root / "trainer-home", user=lab.trainer, profile="trainer")
        env["AWS_PROFILE"] = "trainer"
        env.pop("AWS_ENDPOINT_URL", None)  # the team file names the lab's endpoint
    except BaseException:
        stop_lab(lab)
        raise
    return Classroom(lab, root, team_file, class_csv, root / "kits", env, names, [])


@dataclass
class Provisioned:
    """A class planned, then applied: what each run answered and what the account held after the plan."""

    classroom: Classroom
    plan: Ran
    plan_text: Ran
    #: After planning: whether the stack exists, the class's users, whether the kits folder exists.
    stack_after_plan: str
    users_after_plan: set[str]
    kits_after_plan: bool
    apply: Ran


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provisioned]:
    """One lab where the class is planned (JSON, then text) and applied once; the tests read the runs'
    answers and the account. Tests on it change nothing of the class (re-runs that are meant to change
    nothing, a learner's own objects), so they pass in any order and alone."""
    classroom = _classroom(tmp_path_factory.mktemp("provision"))
    try:
        kits = ("--kits", str(classroom.kits))
        plan = classroom.trainer("provision", "--class", str(classroom.class_csv), *kits, "--json")
        try:
            classroom.client("cloudformation").describe_stacks(StackName=STACK)
            stack = "exists"
        except botocore.exceptions.ClientError as error:
            stack = str(error)
        users, kits_made = _users(classroom), classroom.kits.exists()
        plan_text = classroom.trainer("provision", "--class", str(classroom.class_csv))
        applied = classroom.trainer(
            "provision", "--class", str(classroom.class_csv), *kits, "--apply", "--json"
        )
        yield Provisioned(classroom, plan, plan_text, stack, users, kits_made, applied)
    finally:
        stop_lab(classroom.lab)


@dataclass
class Deprovisioned:
    classroom: Classroom
    #: The learners' access key ids before the class was removed.
    keys: set[str]
    removed: Ran
    again: Ran


@pytest.fixture(scope="module")
def deprovisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deprovisioned]:
    """A lab of its own where the class is applied, used (a learner's file, record and session log), then
    deprovisioned, and deprovisioned again."""
    classroom = _classroom(tmp_path_factory.mktemp("deprovision"))
    try:
        applied = classroom.trainer(
            "provision", "--class", str(classroom.class_csv), "--kits", str(classroom.kits), "--apply"
        )
        assert applied.exit_code == 0, applied.output
        iam = classroom.client("iam")
        keys = {
            key["AccessKeyId"]
            for name in classroom.names
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        }
        logs = load_team(classroom.team).session_logs
        me = classroom.learner_client("s3", "learner02")
        me.put_object(Bucket=BUCKET, Key="users/learner02/notes.txt", Body=b"mine")
        me.put_object(Bucket=BUCKET, Key="onboard/progress/learner02.json", Body=b"{}")
        log_key = f"{logs.prefix}learner02-0123456789abcdef0.log"
        classroom.client("s3").put_object(Bucket=logs.bucket, Key=log_key, Body=b"$ ls")
        removed = classroom.trainer("deprovision", "--yes", "--json")
        again = classroom.trainer("deprovision")
        yield Deprovisioned(classroom, keys, removed, again)
    finally:
        stop_lab(classroom.lab)


def _users(classroom: Classroom) -> set[str]:
    iam = classroom.client("iam")
    return {user["UserName"] for page in iam.get_paginator("list_users").paginate() for user in page["Users"]}


def _denied(call) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    return False


def test_the_plan_lists_every_resource_and_changes_nothing(provisioned):
    classroom = provisioned.classroom
    ran = provisioned.plan
    assert ran.exit_code == 0, ran.output
    data = ran.json()["data"]
    assert data["stack"] == STACK
    changes = data["change_set"]["changes"]
    assert {change["action"] for change in changes} == {"Add"}
    by_type: dict[str, int] = {}
    for change in changes:
        by_type[change["type"]] = by_type.get(change["type"], 0) + 1
    assert by_type == {
        "AWS::IAM::User": CLASS_SIZE,
        "AWS::IAM::ManagedPolicy": 2,
        "AWS::IAM::Role": 1,
        "AWS::IAM::InstanceProfile": 1,
        "AWS::S3::Bucket": 1,
        "AWS::SSM::Document": 1,
    }
    # The session-log bucket exists already (outside the stack): it is kept, not made.
    assert any("exists outside the stack" in kept for kept in data["kept"])
    assert data["change_set"]["fate"].startswith("deleted")
    assert data["learners"] == []
    # Planning left nothing: no stack (not even the review one), no user, no kit.
    assert "does not exist" in provisioned.stack_after_plan
    assert not provisioned.users_after_plan & set(classroom.names)
    assert not provisioned.kits_after_plan

    text = provisioned.plan_text
    assert text.exit_code == 0, text.output
    assert "38 to create, 0 to change, 0 to remove" not in text.stdout  # 36 resources, said as a count
    assert "36 to create, 0 to change, 0 to remove." in text.stdout
    assert "learner07" in text.stdout and "AWS::SSM::Document" in text.stdout


def test_apply_creates_the_stack_then_a_key_and_a_private_kit_per_learner(provisioned):
    classroom = provisioned.classroom
    ran = provisioned.apply
    assert ran.exit_code == 0, ran.output
    data = ran.json()["data"]
    assert data["applied"] and data["stack_status"] == "CREATE_COMPLETE"
    assert [learner["key"] for learner in data["learners"]] == ["created"] * CLASS_SIZE
    assert set(classroom.names) <= _users(classroom)
    iam = classroom.client("iam")
    account = classroom.lab.account
    attached = iam.list_attached_user_policies(UserName="learner05")["AttachedPolicies"]
    assert [policy["PolicyName"] for policy in attached] == [f"{STACK}-learner"]
    role = iam.list_attached_role_policies(RoleName=f"{STACK}-instance")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in role] == [f"arn:aws:iam::{account}:policy/{STACK}-instance"]
    profile = iam.get_instance_profile(InstanceProfileName=f"{STACK}-instance")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"{STACK}-instance"]
    classroom.client("s3").head_bucket(Bucket=BUCKET)
    # The stack's Session document answers as AWS's do (moto alone answers DescribeDocument with a 500).
    described = classroom.client("ssm").describe_document(Name=DOCUMENT_NAME)["Document"]
    assert described["DocumentType"] == "Session"
    content = json.loads(classroom.client("ssm").get_document(Name=DOCUMENT_NAME)["Content"])
    assert content["inputs"]["s3BucketName"] == load_team(classroom.team).session_logs.bucket

    for name in classroom.names:
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        assert len(keys) == 1
        folder = classroom.kits / name
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in folder.iterdir())
        assert read_credentials_csv(folder / f"{name}_accessKeys.csv").access_key_id == keys[0]["AccessKeyId"]
        assert (classroom.kits / f"{name}.zip").is_file()
    kit_team = load_team(classroom.kits / "learner01" / "team.toml")
    assert kit_team.lessons.publish is True
    assert kit_team.transfer == Location(BUCKET, "users/")


def test_a_rerun_changes_nothing_and_makes_no_new_keys(provisioned):
    classroom = provisioned.classroom
    iam = classroom.client("iam")
    before = {
        name: iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["AccessKeyId"]
        for name in classroom.names
    }
    ran = classroom.trainer(
        "provision", "--class", str(classroom.class_csv), "--kits", str(classroom.kits), "--apply", "--json"
    )
    assert ran.exit_code == 0, ran.output
    data = ran.json()["data"]
    assert data["no_changes"] is True and data["change_set"]["changes"] == []
    assert [learner["key"] for learner in data["learners"]] == ["has-kit"] * CLASS_SIZE
    after = {
        name: [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]]
        for name in classroom.names
    }
    assert after == {name: [key] for name, key in before.items()}
    text = classroom.trainer("provision", "--class", str(classroom.class_csv), "--kits", str(classroom.kits))
    assert "Nothing changes: the stack already matches the class." in text.stdout


def test_a_learner_with_a_key_and_no_kit_is_told_how_to_rotate(provisioned, tmp_path):
    classroom = provisioned.classroom
    ran = classroom.trainer(
        "provision", "--class", str(classroom.class_csv), "--kits", str(tmp_path / "elsewhere"), "--apply"
    )
    assert ran.exit_code == 0, ran.output
    assert "learner03 has a key and no kit" in ran.stdout
    assert "aws iam delete-access-key --user-name learner03" in ran.stdout
    assert not list((tmp_path / "elsewhere").glob("*/*.csv")), "no new key was made for anyone"


def test_a_kit_is_imported_by_the_wizard_unattended_and_is_that_learner(provisioned, isolated_home):
    classroom = provisioned.classroom
    kit = classroom.kits / "learner07"
    ran = run_onboard(
        "setup",
        "--team",
        str(kit / "team.toml"),
        "--credentials-csv",
        str(kit / "learner07_accessKeys.csv"),
        "--no-aws-cli",
        "--yes",
        "--json",
    )
    assert ran.exit_code == 0, ran.output
    assert ran.json()["data"]["identity"]["arn"] == f"arn:aws:iam::{classroom.lab.account}:user/learner07"
    assert not any(secret in ran.output for secret in classroom.secrets())


def test_a_learner_cannot_read_another_learners_prefix_record_or_logs(provisioned):
    classroom = provisioned.classroom
    team = load_team(classroom.team)
    logs = team.session_logs
    admin = classroom.client("s3")
    admin.put_object(Bucket=BUCKET, Key="users/learner02/notes.txt", Body=b"mine")
    admin.put_object(Bucket=BUCKET, Key="onboard/progress/learner02.json", Body=b"{}")
    admin.put_object(Bucket=logs.bucket, Key=f"{logs.prefix}learner02-0123456789abcdef0.log", Body=b"$ ls")
    me = classroom.learner_client("s3", "learner01")
    me.put_object(Bucket=BUCKET, Key="users/learner01/hello.txt", Body=b"hello")  # my own prefix: allowed
    assert me.get_object(Bucket=BUCKET, Key="users/learner01/hello.txt")["Body"].read() == b"hello"
    assert _denied(lambda: me.get_object(Bucket=BUCKET, Key="users/learner02/notes.txt"))
    assert _denied(lambda: me.put_object(Bucket=BUCKET, Key="users/learner02/notes.txt", Body=b"x"))
    assert _denied(lambda: me.get_object(Bucket=BUCKET, Key="onboard/progress/learner02.json"))
    assert _denied(lambda: me.put_object(Bucket=BUCKET, Key="onboard/progress/learner02.json", Body=b"{}"))
    assert _denied(
        lambda: me.get_object(Bucket=logs.bucket, Key=f"{logs.prefix}learner02-0123456789abcdef0.log")
    )
    me.put_object(Bucket=BUCKET, Key="onboard/progress/learner01.json", Body=b"{}")  # my own record: allowed


def test_an_interrupted_upload_is_aborted_by_its_learner_or_by_the_buckets_rule(provisioned):
    classroom = provisioned.classroom
    me = classroom.learner_client("s3", "learner01")
    began = me.create_multipart_upload(Bucket=BUCKET, Key="users/learner01/cut-short.bin")
    me.abort_multipart_upload(Bucket=BUCKET, Key="users/learner01/cut-short.bin", UploadId=began["UploadId"])
    other = classroom.client("s3").create_multipart_upload(Bucket=BUCKET, Key="users/learner02/big.bin")
    assert _denied(
        lambda: me.abort_multipart_upload(
            Bucket=BUCKET, Key="users/learner02/big.bin", UploadId=other["UploadId"]
        )
    )
    # What no client aborted (a killed process, a lost laptop), S3 removes a day after it began.
    rules = classroom.client("s3").get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert [rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] for rule in rules] == [1]
    classroom.client("s3").abort_multipart_upload(
        Bucket=BUCKET, Key="users/learner02/big.bin", UploadId=other["UploadId"]
    )


def test_the_template_is_printed_and_holds_no_key(provisioned):
    classroom = provisioned.classroom
    ran = classroom.trainer("provision", "--class", str(classroom.class_csv), "--template")
    assert ran.exit_code == 0, ran.output
    template = json.loads(ran.stdout)
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert "AWS::IAM::AccessKey" not in types
    assert "Outputs" not in template
    stored = classroom.client("cloudformation").get_template(StackName=STACK)["TemplateBody"]
    for text in (ran.stdout, json.dumps(stored)):
        assert not any(secret in text for secret in classroom.secrets())


@pytest.mark.parametrize(
    ("learners", "says"),
    [
        ("bob,bob-x", "begins with 'bob' followed by '-'"),
        ("amy,AMY", "named twice"),
        ("amy,b@d/name", "not a valid IAM user name"),
    ],
)
def test_a_bad_set_of_names_is_refused_with_the_reason(provisioned, learners, says):
    ran = provisioned.classroom.trainer("provision", "--learners", learners)
    assert ran.exit_code == ExitCode.USAGE
    assert says in ran.output


def test_deprovision_asks_and_refuses_unattended_without_yes(provisioned):
    classroom = provisioned.classroom
    ran = classroom.trainer("deprovision")
    assert ran.exit_code == ExitCode.USAGE
    assert "confirm with --yes" in ran.output
    assert classroom.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]


def test_deprovision_leaves_nothing_of_the_class(deprovisioned):
    classroom = deprovisioned.classroom
    ran = deprovisioned.removed
    assert ran.exit_code == 0, ran.output
    data = ran.json()["data"]
    assert data["clean"] is True and data["leftovers"] == []
    assert len(data["keys_deleted"]) == CLASS_SIZE and set(data["keys_deleted"]) == deprovisioned.keys
    assert data["stack_status"] == "DELETE_COMPLETE"
    iam = classroom.client("iam")
    assert not _users(classroom) & set(classroom.names)
    local = {p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]}
    assert not {f"{STACK}-learner", f"{STACK}-instance"} & local
    assert f"{STACK}-instance" not in {role["RoleName"] for role in iam.list_roles()["Roles"]}
    assert not [
        p
        for p in iam.list_instance_profiles()["InstanceProfiles"]
        if p["InstanceProfileName"].startswith(STACK)
    ]
    with pytest.raises(botocore.exceptions.ClientError):
        classroom.client("s3").head_bucket(Bucket=BUCKET)
    logs = load_team(classroom.team).session_logs
    left = classroom.client("s3").list_objects_v2(Bucket=logs.bucket, Prefix=f"{logs.prefix}learner02-")
    assert left.get("KeyCount", 0) == 0
    again = deprovisioned.again
    assert again.exit_code == 0 and "nothing of the class to remove" in again.stdout


@pytest.mark.parametrize("scenario", ["provisioned", "deprovisioned"])
def test_no_secret_was_ever_printed(request, scenario):
    classroom = request.getfixturevalue(scenario).classroom
    secrets = classroom.secrets()
    assert len(secrets) == CLASS_SIZE
    assert classroom.runs, "the scenario ran the trainer's commands"
    for ran in classroom.runs:
        assert not any(secret in ran.output for secret in secrets)
