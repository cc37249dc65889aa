"""One lab for the whole room: a class lab on 127.0.0.2 over TLS, learners connecting through their kits.

Each learner does what the kit's WELCOME.txt says: `onboard setup` unattended with the kit's team file and
key CSV, then the real AWS CLI (a subprocess that verifies the lab's certificate against the kit's CA)
and a real session through the lab's plugin over wss, in which they type. A client without the CA is
refused, and doctor says why.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pexpect
import pytest
from fixtures_classlab import ADDRESS, ClassLab, class_lab_fixture
from websockets.sync.client import connect

from helpers import run_onboard
from onboard.errors import ExitCode
from onboard.lab.tls import TlsFiles, ca_fingerprint_of, ensure_tls
from onboard.labplugin.launcher import write_launcher

pytestmark = pytest.mark.slow

AWS_CLI = Path(sys.executable).with_name("aws")
LEARNERS = [("ann", "Ann Martin"), ("ben", ""), ("cat", "Cat Ng")]
SSM_PROMPT = "sh-4.2$ "


classlab = class_lab_fixture(LEARNERS)


def _kit_copy(classlab: ClassLab, name: str, where: Path) -> Path:
    """The learner's kit as they receive it: the zip, unzipped somewhere of their own."""
    with zipfile.ZipFile(classlab.kits / f"{name}.zip") as archive:
        archive.extractall(where)
    return where / name


def _aws(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AWS_CLI), *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def _setup_from_kit(kit: Path, name: str) -> dict:
    ran = run_onboard(
        "setup",
        "--team",
        str(kit / "team.toml"),
        "--credentials-csv",
        str(kit / f"{name}_accessKeys.csv"),
        "--no-plugin",
        "--no-aws-cli",
        "--yes",
        "--json",
        cwd=kit,
    )
    assert ran.exit_code == 0, ran.output
    return ran.json()["data"]


def test_the_lab_serves_https_on_the_class_address(classlab):
    assert classlab.endpoint_url.startswith(f"https://{ADDRESS}:")
    assert classlab.learners == tuple(name for name, _ in LEARNERS)


def test_each_kit_holds_its_learners_key_and_no_one_elses(classlab):
    secrets = {user: classlab.keys(user)[1].reveal() for user in [*classlab.learners, classlab.trainer]}
    secrets["lab-admin"] = classlab.keys("lab-admin")[1].reveal()
    admin_secret = (classlab.paths.root / "admin-secret").read_text().strip()
    ca_key = (classlab.ca_file.parent / "ca-key.pem").read_text()
    for name, shown in LEARNERS:
        kit = classlab.kit(name)
        assert kit.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in kit.iterdir()) == sorted(
            ["team.toml", f"{name}_accessKeys.csv", "WELCOME.txt", "ca.pem"]
        )
        with zipfile.ZipFile(classlab.kits / f"{name}.zip") as archive:
            zipped = {entry.filename: archive.read(entry) for entry in archive.infolist()}
        contents = [p.read_bytes() for p in kit.iterdir()] + list(zipped.values())
        for path in [*kit.iterdir(), classlab.kits / f"{name}.zip"]:
            assert path.stat().st_mode & 0o777 == 0o600, path
        blob = b"\n".join(contents).decode()
        assert secrets[name] in blob
        for other, secret in secrets.items():
            if other != name:
                assert secret not in blob, f"{name}'s kit holds {other}'s secret"
        assert admin_secret not in blob
        assert "PRIVATE KEY" not in blob and ca_key not in blob
        assert (kit / "ca.pem").read_bytes() == classlab.ca_file.read_bytes()
        team = (kit / "team.toml").read_text()
        assert 'ca_bundle = "ca.pem"' in team
        assert f'url = "{classlab.endpoint_url}"' in team
        assert "publish = true" in team
        assert "[plugin]" not in team  # the lab's plugin launcher runs the trainer's own Python
        assert (shown or name) in (kit / "WELCOME.txt").read_text()


def test_a_learner_sets_up_from_the_kit_and_the_aws_cli_verifies_the_lab(classlab, tmp_path, isolated_home):
    kit = _kit_copy(classlab, "ann", tmp_path / "downloads")
    data = _setup_from_kit(kit, "ann")
    assert data["identity"]["arn"] == f"arn:aws:iam::{classlab.account}:user/ann"

    config = (isolated_home / ".aws" / "config").read_text()
    bundle = Path(
        next(line for line in config.splitlines() if line.startswith("ca_bundle = ")).split(" = ")[1]
    )
    assert bundle.is_relative_to(Path(os.environ["XDG_DATA_HOME"]) / "onboard")
    assert bundle.read_bytes() == classlab.ca_file.read_bytes()
    assert bundle.stat().st_mode & 0o777 == 0o600 and bundle.parent.stat().st_mode & 0o777 == 0o700

    # The learner tidies up the kit: the profile keeps working, its CA is onboard's own copy.
    shutil.rmtree(tmp_path / "downloads")
    done = _aws("sts", "get-caller-identity", "--profile", "ssm")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Arn"] == data["identity"]["arn"]

    checked = run_onboard("doctor", "--profile", "ssm", "--json")
    findings = {f["id"]: f for f in checked.json()["data"]["findings"]}
    assert findings["network.ca-bundle"]["status"] == "ok", findings["network.ca-bundle"]
    assert str(bundle) in findings["network.ca-bundle"]["summary"]
    assert findings["network.endpoints"]["status"] == "ok", findings["network.endpoints"]
    assert "TLS" in " ".join(findings["network.endpoints"]["evidence"])

    # A company's AWS_CA_BUNDLE beats the profile's ca_bundle (botocore's order): doctor says so.
    company = ensure_tls(TlsFiles(tmp_path / "company"), "127.0.0.9").files.ca_cert
    overridden = run_onboard("doctor", "--profile", "ssm", "--json", env={"AWS_CA_BUNDLE": str(company)})
    findings = {f["id"]: f for f in overridden.json()["data"]["findings"]}
    assert findings["network.ca-bundle"]["status"] == "warn", findings["network.ca-bundle"]
    assert f"overrides the ca_bundle of profile ssm ({bundle})" in findings["network.ca-bundle"]["summary"]
    assert findings["network.endpoints"]["status"] == "fail"

    # Setting up again from the same kit changes nothing.
    kit = _kit_copy(classlab, "ann", tmp_path / "again")
    assert _setup_from_kit(kit, "ann")["changed"] is False


def test_a_learner_types_in_a_session_over_wss(classlab, tmp_path, isolated_home):
    kit = _kit_copy(classlab, "ben", tmp_path / "kit")
    _setup_from_kit(kit, "ben")
    bin_dir = write_launcher(tmp_path / "bin").parent  # the lab's own plugin on the learner's PATH
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    jupyter = classlab.instances["jupyter"]
    child = pexpect.spawn(
        str(AWS_CLI),
        ["ssm", "start-session", "--target", jupyter, "--profile", "ssm"],
        env=env,
        encoding="utf-8",
        timeout=60,
    )
    try:
        child.expect_exact("Starting session with SessionId: ben-")
        child.expect_exact(SSM_PROMPT)
        child.sendline("echo typed-$((6 * 7)); whoami")
        child.expect_exact("typed-42")
        child.expect_exact("ssm-user")
        child.expect_exact(SSM_PROMPT)
        # aws on the instance reaches the class lab's https endpoint too (it trusts the lab's CA).
        child.sendline("aws sts get-caller-identity --query Arn --output text")
        child.expect(r"assumed-role/jupyter-ssm-role/")
        child.expect_exact(SSM_PROMPT)
        child.sendline("exit")
        child.expect_exact("Exiting session with sessionId: ben-")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    sessions = classlab.client("ssm", classlab.trainer).describe_sessions(
        State="History", Filters=[{"key": "Owner", "value": f"arn:aws:iam::{classlab.account}:user/ben"}]
    )["Sessions"]
    assert sessions, "the session is in ben's history"


def test_a_client_without_the_ca_is_refused_and_doctor_names_it(classlab, isolated_home):
    key_id, secret = classlab.keys("cat")
    aws = isolated_home / ".aws"
    aws.mkdir()
    (aws / "config").write_text(
        f"[profile ssm]\nregion = {classlab.region}\nendpoint_url = {classlab.endpoint_url}\n"
    )
    (aws / "credentials").write_text(
        f"[ssm]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret.reveal()}\n"
    )
    (aws / "credentials").chmod(0o600)
    refused = _aws("sts", "get-caller-identity", "--profile", "ssm")
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr

    checked = run_onboard("doctor", "--profile", "ssm", "--json")
    assert checked.exit_code == ExitCode.FAILURE, checked.output
    findings = {f["id"]: f for f in checked.json()["data"]["findings"]}
    endpoints = findings["network.endpoints"]
    assert endpoints["status"] == "fail"
    assert "certificate is not trusted" in endpoints["summary"]
    assert "ca.pem" in endpoints["next"] and "ca_bundle" in endpoints["next"]
    assert secret.reveal() not in checked.output


def test_lab_status_shows_the_class_lab(classlab):
    ran = run_onboard("lab", "status", "--json", env=classlab.env)
    assert ran.exit_code == 0, ran.output
    shown = ran.json()["data"]["class_lab"]
    assert shown["address"] == ADDRESS
    assert shown["learners"] == len(LEARNERS)
    assert shown["kits_dir"] == str(classlab.kits)
    assert shown["ca_fingerprint"] == ca_fingerprint_of(classlab.ca_file)
    text = run_onboard("lab", "status", env=classlab.env)
    assert f"class lab on {ADDRESS} over TLS: {len(LEARNERS)} learners" in text.stdout
    assert str(classlab.kits) in text.stdout
    # The trainer's own shell pointed at the class lab trusts its CA too.
    exports = run_onboard("lab", "env", "--shell", "bash", env=classlab.env)
    assert f"export AWS_CA_BUNDLE={classlab.ca_file}" in exports.stdout


def test_a_client_that_never_shakes_hands_holds_up_no_one(classlab):
    """TLS handshakes run in each connection's own thread: a silent client does not stop the others."""
    from urllib.parse import urlsplit

    from onboard.lab.client import health
    from onboard.lab.control import client_tls

    address = urlsplit(classlab.endpoint_url)
    with socket.create_connection((address.hostname, address.port), timeout=5):
        started = time.monotonic()
        answer = health(
            classlab.endpoint_url, timeout=5, tls=client_tls(classlab.paths, classlab.endpoint_url)
        )
        assert answer is not None and time.monotonic() - started < 3


def test_the_data_channel_is_refused_without_the_ca(classlab):
    from onboard.labplugin.trust import stream_tls_context

    ssm = classlab.client("ssm", "cat")
    answer = ssm.start_session(Target=classlab.instances["airflow"])
    assert answer["StreamUrl"].startswith(f"wss://{ADDRESS}:")
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            connect(answer["StreamUrl"], ssl=stream_tls_context(""), open_timeout=10, proxy=None)
    finally:
        ssm.terminate_session(SessionId=answer["SessionId"])


def test_the_trainer_report_reads_the_class_lab_with_its_team_files_ca(classlab, isolated_home):
    """The trainer's own profile names no CA: the lab's team file's ca_bundle is what verifies the lab."""
    key_id, secret = classlab.keys(classlab.trainer)
    aws = isolated_home / ".aws"
    aws.mkdir()
    (aws / "config").write_text(f"[profile trainer]\nregion = {classlab.region}\n")
    (aws / "credentials").write_text(
        f"[trainer]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret.reveal()}\n"
    )
    (aws / "credentials").chmod(0o600)
    ran = run_onboard(
        "trainer",
        "report",
        "--team",
        str(classlab.team_file),
        "--learners",
        ",".join(classlab.learners),
        "--profile",
        "trainer",
        "--json",
    )
    assert ran.exit_code == 0, ran.output
    assert "CERTIFICATE_VERIFY_FAILED" not in ran.output
    assert secret.reveal() not in ran.output
