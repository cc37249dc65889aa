"""The lab's Session Manager API through boto3: every operation, every filter, every denial."""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from fixtures_lab import lab, lab_server  # noqa: F401

pytestmark = pytest.mark.slow


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_learner_starts_a_session_on_a_lab_instance(lab):
    ssm = lab.client("ssm", "alice")
    started = ssm.start_session(Target=lab.instances["jupyter"])
    assert started["SessionId"].startswith("alice-")
    assert len(started["SessionId"].split("-", 1)[1]) == 17
    assert started["StreamUrl"].startswith("ws://127.0.0.1:")
    assert started["TokenValue"]
    active = ssm.describe_sessions(
        State="Active", Filters=[{"key": "SessionId", "value": started["SessionId"]}]
    )
    [session] = active["Sessions"]
    assert session["Target"] == lab.instances["jupyter"]
    assert session["Owner"] == f"arn:aws:iam::{lab.account}:user/alice"
    assert session["OutputUrl"]["S3OutputUrl"].endswith(f"/{started['SessionId']}.log")
    ssm.terminate_session(SessionId=started["SessionId"])
    ended = lab.wait_for_session(started["SessionId"], "Terminated")
    assert "EndDate" in ended


def test_terminating_another_learners_session_is_denied(lab):
    bobs = lab.client("ssm", "bob").start_session(Target=lab.instances["airflow"])["SessionId"]
    with pytest.raises(ClientError) as denied:
        lab.client("ssm", "alice").terminate_session(SessionId=bobs)
    code, message = error_of(denied)
    assert code == "AccessDeniedException"
    assert (
        f"User: arn:aws:iam::{lab.account}:user/alice is not authorized to perform: ssm:TerminateSession"
        in message
    )
    assert f"arn:aws:ssm:{lab.region}:{lab.account}:session/{bobs}" in message
    assert lab.describe_session(bobs)["Status"] != "Terminated"
    lab.client("ssm", "bob").terminate_session(SessionId=bobs)
    lab.wait_for_session(bobs, "Terminated")


def test_starting_a_session_on_an_instance_outside_the_policy_is_denied(lab):
    stranger = "i-0fedcba9876543210"
    with pytest.raises(ClientError) as denied:
        lab.client("ssm", "carol").start_session(Target=stranger)
    code, message = error_of(denied)
    assert code == "AccessDeniedException"
    assert "ssm:StartSession" in message
    assert f"arn:aws:ec2:{lab.region}:{lab.account}:instance/{stranger}" in message
    assert "because no identity-based policy allows the ssm:StartSession action" in message


def test_a_session_on_an_unknown_instance_is_not_connected_for_someone_allowed(lab):
    with pytest.raises(ClientError) as refused:
        lab.client("ssm", lab.trainer).start_session(Target="i-0fedcba9876543210")
    assert error_of(refused) == ("TargetNotConnected", "i-0fedcba9876543210 is not connected.")


def test_documents_are_checked_and_unknown_ones_refused(lab):
    ssm = lab.client("ssm", "alice")
    started = ssm.start_session(
        Target=lab.instances["jupyter"],
        DocumentName="AWS-StartInteractiveCommand",
        Parameters={"command": ["whoami"]},
        Reason="lesson",
    )
    session = lab.describe_session(started["SessionId"])
    assert session["DocumentName"] == "AWS-StartInteractiveCommand"
    assert session["Reason"] == "lesson"
    ssm.terminate_session(SessionId=started["SessionId"])
    with pytest.raises(ClientError) as denied:
        ssm.start_session(Target=lab.instances["jupyter"], DocumentName="AWS-RunShellScript")
    code, message = error_of(denied)
    assert code == "AccessDeniedException"
    assert f"arn:aws:ssm:{lab.region}::document/AWS-RunShellScript" in message
    with pytest.raises(ClientError) as missing:
        lab.client("ssm", lab.trainer).start_session(
            Target=lab.instances["jupyter"], DocumentName="No-Such-Doc"
        )
    assert error_of(missing)[0] == "InvalidDocument"
    with pytest.raises(ClientError) as no_command:
        ssm.start_session(Target=lab.instances["jupyter"], DocumentName="AWS-StartInteractiveCommand")
    assert error_of(no_command)[0] == "InvalidParameters"


def test_resume_gives_a_new_token_for_an_active_own_session_only(lab):
    alice = lab.client("ssm", "alice")
    started = alice.start_session(Target=lab.instances["redash"])
    resumed = alice.resume_session(SessionId=started["SessionId"])
    assert resumed["SessionId"] == started["SessionId"]
    assert resumed["TokenValue"] and resumed["TokenValue"] != started["TokenValue"]
    assert resumed["StreamUrl"].endswith(f"/{started['SessionId']}?role=publish_subscribe")
    with pytest.raises(ClientError) as denied:
        lab.client("ssm", "bob").resume_session(SessionId=started["SessionId"])
    assert error_of(denied)[0] == "AccessDeniedException"
    alice.terminate_session(SessionId=started["SessionId"])
    lab.wait_for_session(started["SessionId"], "Terminated")
    with pytest.raises(ClientError) as ended:
        alice.resume_session(SessionId=started["SessionId"])
    assert error_of(ended)[0] == "DoesNotExistException"


def test_terminating_an_unknown_own_session_succeeds_as_on_aws(lab):
    answer = lab.client("ssm", "alice").terminate_session(SessionId="alice-0123456789abcdef0")
    assert answer["SessionId"] == "alice-0123456789abcdef0"


def test_describe_sessions_filters_and_pages(lab):
    trainer = lab.client("ssm", lab.trainer)
    carol = lab.client("ssm", "carol")
    ids = [carol.start_session(Target=lab.instances["airflow"])["SessionId"] for _ in range(3)]
    carol_arn = f"arn:aws:iam::{lab.account}:user/carol"
    by_owner = trainer.describe_sessions(State="Active", Filters=[{"key": "Owner", "value": carol_arn}])
    assert {s["SessionId"] for s in by_owner["Sessions"]} >= set(ids)
    assert all(s["Owner"] == carol_arn for s in by_owner["Sessions"])
    by_target = trainer.describe_sessions(
        State="Active", Filters=[{"key": "Target", "value": lab.instances["airflow"]}]
    )
    assert set(ids) <= {s["SessionId"] for s in by_target["Sessions"]}
    assert all(s["Target"] == lab.instances["airflow"] for s in by_target["Sessions"])
    first = trainer.describe_sessions(
        State="Active", MaxResults=1, Filters=[{"key": "Owner", "value": carol_arn}]
    )
    assert len(first["Sessions"]) == 1 and first["NextToken"]
    second = trainer.describe_sessions(
        State="Active",
        MaxResults=1,
        NextToken=first["NextToken"],
        Filters=[{"key": "Owner", "value": carol_arn}],
    )
    assert second["Sessions"][0]["SessionId"] != first["Sessions"][0]["SessionId"]
    future = trainer.describe_sessions(
        State="Active", Filters=[{"key": "InvokedAfter", "value": "2100-01-01T00:00:00Z"}]
    )
    assert future["Sessions"] == []
    past = trainer.describe_sessions(
        State="Active", Filters=[{"key": "InvokedBefore", "value": "2000-01-01T00:00:00Z"}]
    )
    assert past["Sessions"] == []
    connecting = trainer.describe_sessions(State="Active", Filters=[{"key": "Status", "value": "Connecting"}])
    assert set(ids) <= {s["SessionId"] for s in connecting["Sessions"]}
    for session_id in ids:
        carol.terminate_session(SessionId=session_id)
    history = trainer.describe_sessions(State="History", Filters=[{"key": "Owner", "value": carol_arn}])
    assert set(ids) <= {s["SessionId"] for s in history["Sessions"]}
    assert all(s["Status"] == "Terminated" for s in history["Sessions"])
    with pytest.raises(ClientError) as bad_key:
        trainer.describe_sessions(State="Active", Filters=[{"key": "Colour", "value": "blue"}])
    assert error_of(bad_key)[0] == "InvalidFilterKey"


def test_describe_instance_information_shows_every_agent_online(lab):
    ssm = lab.client("ssm", "alice")
    infos = ssm.describe_instance_information()["InstanceInformationList"]
    assert {i["InstanceId"] for i in infos} == set(lab.instances.values())
    jupyter = next(i for i in infos if i["InstanceId"] == lab.instances["jupyter"])
    assert jupyter["PingStatus"] == "Online"
    assert jupyter["PlatformType"] == "Linux"
    assert jupyter["PlatformName"] == "Amazon Linux"
    assert jupyter["AgentVersion"]
    assert jupyter["IamRole"] == "jupyter-ssm-role"
    only = ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [lab.instances["redash"]]}]
    )["InstanceInformationList"]
    assert [i["InstanceId"] for i in only] == [lab.instances["redash"]]
    by_ping = ssm.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}])
    assert by_ping["InstanceInformationList"] == []
    with pytest.raises(ClientError) as invalid:
        ssm.describe_instance_information(
            InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": ["web-1"]}]
        )
    assert error_of(invalid)[0] == "InvalidInstanceId"


def test_the_agent_offline_fault_shows_everywhere_and_clears(lab):
    jupyter = lab.instances["jupyter"]
    ssm = lab.client("ssm", "alice")
    assert ssm.get_connection_status(Target=jupyter)["Status"] == "connected"
    lab.fault("agent-offline", "jupyter")
    assert ssm.get_connection_status(Target=jupyter)["Status"] == "notconnected"
    info = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [jupyter]}])
    assert info["InstanceInformationList"][0]["PingStatus"] == "ConnectionLost"
    with pytest.raises(ClientError) as refused:
        ssm.start_session(Target=jupyter)
    assert error_of(refused) == ("TargetNotConnected", f"{jupyter} is not connected.")
    lab.clear_faults()
    assert ssm.get_connection_status(Target=jupyter)["Status"] == "connected"


def test_the_role_fault_takes_the_agent_offline_through_iam(lab):
    airflow = lab.instances["airflow"]
    lab.fault("role-without-ssm-policy", airflow)
    iam = lab.client("iam", lab.trainer)
    attached = iam.list_attached_role_policies(RoleName="airflow-ssm-role")["AttachedPolicies"]
    assert "policy-for-ec2-server" not in [p["PolicyName"] for p in attached]
    ssm = lab.client("ssm", "alice")
    assert ssm.get_connection_status(Target=airflow)["Status"] == "notconnected"
    lab.clear_faults()
    assert ssm.get_connection_status(Target=airflow)["Status"] == "connected"
    attached = iam.list_attached_role_policies(RoleName="airflow-ssm-role")["AttachedPolicies"]
    assert "policy-for-ec2-server" in [p["PolicyName"] for p in attached]


def test_no_start_session_fault_denies_only_starting(lab):
    lab.fault("no-start-session", "bob")
    bob = lab.client("ssm", "bob")
    with pytest.raises(ClientError) as denied:
        bob.start_session(Target=lab.instances["jupyter"])
    code, message = error_of(denied)
    assert code == "AccessDeniedException"
    assert "user/bob is not authorized to perform: ssm:StartSession" in message
    assert bob.describe_instance_information()["InstanceInformationList"]
    lab.clear_faults()
    started = bob.start_session(Target=lab.instances["jupyter"])
    bob.terminate_session(SessionId=started["SessionId"])


def test_a_deactivated_key_is_refused_everywhere(lab):
    lab.fault("key-deactivated", "carol")
    with pytest.raises(ClientError) as ssm_refused:
        lab.client("ssm", "carol").describe_instance_information()
    assert error_of(ssm_refused)[0] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as sts_refused:
        lab.client("sts", "carol").get_caller_identity()
    assert error_of(sts_refused)[0] == "InvalidClientTokenId"
    lab.clear_faults()
    assert lab.client("sts", "carol").get_caller_identity()["Arn"].endswith(":user/carol")


def test_unknown_keys_wrong_secrets_and_unsigned_requests_are_refused(lab):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    def client(service, key_id, secret, **config):
        return boto3.Session(
            aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=lab.region
        ).client(service, endpoint_url=lab.endpoint_url, config=Config(retries={"max_attempts": 1}, **config))

    with pytest.raises(ClientError) as unknown:
        client("ssm", "AKIAIOSFODNN7EXAMPLE", "x" * 40).describe_sessions(State="Active")
    assert error_of(unknown)[0] == "UnrecognizedClientException"
    key_id, _ = lab.keys("alice")
    with pytest.raises(ClientError) as wrong_secret:
        client("ssm", key_id, "y" * 40).describe_sessions(State="Active")
    # AWS's JSON services answer a wrong secret with InvalidSignatureException and 400, not S3's 403.
    assert error_of(wrong_secret)[0] == "InvalidSignatureException"
    assert wrong_secret.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as wrong_secret_sts:
        client("sts", key_id, "y" * 40).get_caller_identity()
    assert error_of(wrong_secret_sts)[0] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as unsigned:
        client("ssm", "a", "b", signature_version=UNSIGNED).describe_sessions(State="Active")
    assert error_of(unsigned)[0] == "MissingAuthenticationTokenException"
    with pytest.raises(ClientError) as unsigned_ec2:
        client("ec2", "a", "b", signature_version=UNSIGNED).describe_instances()
    assert error_of(unsigned_ec2)[0] == "AccessDenied"


def test_moto_denials_for_json_services_come_back_as_json(lab):
    with pytest.raises(ClientError) as denied:
        lab.client("ssm", "alice").get_parameter(Name="/team/secret")
    code, message = error_of(denied)
    assert code == "AccessDeniedException"
    assert "ssm:GetParameter" in message
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)


def test_the_moto_api_is_not_reachable(lab):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{lab.endpoint_url}/moto-api/reset", method="POST"))
    assert refused.value.code == 404


def test_learners_use_their_own_prefix_of_the_transfer_bucket_only(lab):
    bucket = "data-team-transfer"
    alice = lab.client("s3", "alice")
    alice.put_object(Bucket=bucket, Key="users/alice/notes.txt", Body=b"mine")
    assert alice.get_object(Bucket=bucket, Key="users/alice/notes.txt")["Body"].read() == b"mine"
    assert alice.get_object(Bucket=bucket, Key="shared/welcome.txt")["Body"].read().startswith(b"Welcome")
    with pytest.raises(ClientError) as denied:
        alice.put_object(Bucket=bucket, Key="users/bob/notes.txt", Body=b"not mine")
    assert error_of(denied)[0] == "AccessDenied"
    with pytest.raises(ClientError) as log_denied:
        alice.list_objects_v2(Bucket="data-team-session-logs")
    assert error_of(log_denied)[0] == "AccessDenied"
    alice.delete_object(Bucket=bucket, Key="users/alice/notes.txt")


def test_copying_needs_read_permission_on_the_source_as_on_aws(lab):
    """CopyObject and UploadPartCopy read the source: AWS requires s3:GetObject on it, not only PutObject."""
    bucket = "data-team-transfer"
    alice, bob = lab.client("s3", "alice"), lab.client("s3", "bob")
    alice.put_object(Bucket=bucket, Key="users/alice/private.txt", Body=b"alice's own")
    alice.put_object(Bucket=bucket, Key="onboard/progress/alice.json", Body=b'{"done": 3}')
    try:
        for source in ("users/alice/private.txt", "onboard/progress/alice.json"):
            with pytest.raises(ClientError) as denied:
                bob.copy_object(
                    Bucket=bucket, Key="users/bob/stolen", CopySource={"Bucket": bucket, "Key": source}
                )
            assert error_of(denied)[0] == "AccessDenied"
            upload = bob.create_multipart_upload(Bucket=bucket, Key="users/bob/stolen-parts")
            try:
                with pytest.raises(ClientError) as part_denied:
                    bob.upload_part_copy(
                        Bucket=bucket,
                        Key="users/bob/stolen-parts",
                        UploadId=upload["UploadId"],
                        PartNumber=1,
                        CopySource=f"{bucket}/{source}",
                    )
                assert error_of(part_denied)[0] == "AccessDenied"
            finally:
                lab.client("s3", lab.trainer).abort_multipart_upload(
                    Bucket=bucket, Key="users/bob/stolen-parts", UploadId=upload["UploadId"]
                )
        with pytest.raises(ClientError) as missing:
            bob.get_object(Bucket=bucket, Key="users/bob/stolen")
        assert error_of(missing)[0] in ("NoSuchKey", "AccessDenied")
        # What bob may read, he may copy into his own prefix.
        bob.copy_object(Bucket=bucket, Key="users/bob/welcome.txt", CopySource=f"{bucket}/shared/welcome.txt")
        assert (
            bob.get_object(Bucket=bucket, Key="users/bob/welcome.txt")["Body"].read().startswith(b"Welcome")
        )
        bob.delete_object(Bucket=bucket, Key="users/bob/welcome.txt")
    finally:
        alice.delete_object(Bucket=bucket, Key="users/alice/private.txt")
        lab.client("s3", lab.trainer).delete_object(Bucket=bucket, Key="onboard/progress/alice.json")


def test_the_bucket_missing_fault_keeps_the_objects_for_later(lab):
    alice = lab.client("s3", "alice")
    alice.put_object(Bucket="data-team-transfer", Key="users/alice/keep.txt", Body=b"keep")
    lab.fault("bucket-missing")
    with pytest.raises(ClientError) as missing:
        alice.get_object(Bucket="data-team-transfer", Key="users/alice/keep.txt")
    assert error_of(missing)[0] == "NoSuchBucket"
    lab.clear_faults()
    assert alice.get_object(Bucket="data-team-transfer", Key="users/alice/keep.txt")["Body"].read() == b"keep"
    alice.delete_object(Bucket="data-team-transfer", Key="users/alice/keep.txt")


def test_the_caller_identity_and_instances_are_the_worlds(lab):
    identity = lab.client("sts", "bob").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{lab.account}:user/bob"
    reservations = lab.client("ec2", "bob").describe_instances()["Reservations"]
    names = {
        tag["Value"]: instance["InstanceId"]
        for reservation in reservations
        for instance in reservation["Instances"]
        for tag in instance.get("Tags", [])
        if tag["Key"] == "Name"
    }
    assert names == lab.instances


def test_the_lab_serves_its_plugin_signed_by_the_key_its_team_file_pins(lab):
    import urllib.request

    from onboard.pgp import verify_detached
    from onboard.team import load_team

    team = load_team(lab.team_file)
    assert team.plugin.download_url == f"{lab.endpoint_url}/_onboard/downloads/plugin/"
    keys = team.plugin.trusted_keys()  # the pinned primary key and its signing subkey

    def fetch(path: str) -> bytes:
        with urllib.request.urlopen(team.plugin.download_url + path) as response:
            return response.read()

    for path in (
        "latest/ubuntu_64bit/session-manager-plugin.deb",
        "1.2.764.0/linux_64bit/session-manager-plugin.rpm",
    ):
        bundle = fetch(path)
        signed = verify_detached(bundle, fetch(path + ".sig"), keys)
        assert signed.primary_fingerprint == team.plugin.signing_key_fingerprint
    assert fetch("latest/mac/sessionmanager-bundle.zip")[:2] == b"PK"


def test_the_download_site_serves_nothing_outside_its_folder(lab):
    import urllib.error
    import urllib.request

    for path in ("../../admin-secret", "..%2f..%2fadmin-secret", "latest/nothing-here.zip"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{lab.endpoint_url}/_onboard/downloads/plugin/{path}")
        assert missing.value.code == 404


def test_the_admin_endpoint_wants_the_labs_secret(lab):
    from onboard.errors import OnboardError
    from onboard.lab.client import AdminClient

    for secret in ("", "not-the-secret"):
        with pytest.raises(OnboardError) as refused:
            AdminClient(lab.endpoint_url, secret).call("status")
        assert "admin secret is missing or wrong" in refused.value.message
    assert lab.admin.call("status")["endpoint_url"] == lab.endpoint_url


def test_presigned_urls_are_refused_with_the_way_that_works(lab):
    import urllib.error
    import urllib.request

    s3 = lab.client("s3", "alice")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "data-team-transfer", "Key": "shared/welcome.txt"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url)
    assert refused.value.code == 403
    assert b"does not accept presigned URLs" in refused.value.read()


def test_transcripts_mask_every_secret_the_lab_knows(lab):
    """A learner's shell can print any key of the lab (the admin secret, the trainer's and every learner's
    keys): the transcript in S3 masks each one, not only the instance role's."""
    import json
    import os
    import sys

    import pexpect
    from fixtures_sessions import plugin_arguments

    from onboard.lab.state import admin_secret

    secrets = [
        admin_secret(lab.paths) or "",
        *(lab.keys(user)[1].reveal() for user in (lab.trainer, *lab.learners)),
    ]
    assert all(secrets)
    answer = lab.client("ssm", "alice").start_session(Target=lab.instances["jupyter"])
    child = pexpect.spawn(
        sys.executable,
        ["-m", "onboard.labplugin", *plugin_arguments(lab.instances["jupyter"], lab.endpoint_url)],
        env=dict(os.environ, AWS_SSM_START_SESSION_RESPONSE=json.dumps(answer)),
        encoding="utf-8",
        timeout=20,
    )
    try:
        child.expect(r"\$ ")
        child.sendline("echo " + " ".join(secrets))
        child.expect(r"\$ ")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    lab.wait_for_session(answer["SessionId"], "Terminated")
    log = (
        lab.client("s3", lab.trainer)
        .get_object(Bucket="data-team-session-logs", Key=f"sessions/{answer['SessionId']}.log")["Body"]
        .read()
        .decode()
    )
    assert "echo " in log
    for secret in secrets:
        assert secret not in log
