"""The class lab's pieces without a running lab: its CA and certificate, the listen address, the team
file's ca_bundle, what the lab's plugin trusts, and class mode refused without a sandbox."""

from __future__ import annotations

import datetime
import hashlib
import os
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from helpers import run_onboard
from onboard.errors import EnvironmentProblem, ExitCode, UsageError
from onboard.lab import sandbox
from onboard.lab.classmode import ClassMode, require_sandbox
from onboard.lab.tls import TlsFiles, ensure_tls, listen_address
from onboard.team import dump_team, load_team


def test_the_ca_is_made_once_and_the_server_certificate_names_the_address(tmp_path):
    files = TlsFiles(tmp_path / "tls")
    first = ensure_tls(files, "127.0.0.2")
    assert files.ca_key.stat().st_mode & 0o777 == 0o600
    assert files.server_key.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in files.ca_cert.read_text()
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.2"]
    assert server.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) < datetime.timedelta(
        days=398
    )

    # A restart keeps the CA (kits stay valid); a new address gets a new certificate from the same CA.
    again = ensure_tls(files, "127.0.0.2")
    assert again.ca_fingerprint == first.ca_fingerprint
    assert files.server_cert.read_bytes() == server.public_bytes(Encoding.PEM)
    moved = ensure_tls(files, "127.0.0.3")
    assert moved.ca_fingerprint == first.ca_fingerprint
    renewed = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    assert [
        str(ip)
        for ip in renewed.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.IPAddress)
    ] == ["127.0.0.3"]
    # The fingerprint shown: SHA-256 of the certificate's DER bytes (as openssl x509 -fingerprint prints).
    der = ssl.PEM_cert_to_DER_cert(files.ca_cert.read_text())
    assert first.ca_fingerprint == ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def _serve_once(context: ssl.SSLContext) -> tuple[int, threading.Thread]:
    """A TLS server on 127.0.0.2 that shakes hands with one client, for the client-side checks."""
    import socket

    listener = socket.create_server(("127.0.0.2", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        with listener:
            connection, _ = listener.accept()
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return port, thread


def _handshake(port: int, context: ssl.SSLContext) -> None:
    import socket

    with (
        socket.create_connection(("127.0.0.2", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.2"),
    ):
        pass


def test_the_certificate_verifies_with_the_ca_only(tmp_path):
    tls = ensure_tls(TlsFiles(tmp_path / "tls"), "127.0.0.2")
    port, thread = _serve_once(tls.server_context())
    _handshake(port, tls.client_context())
    thread.join(5)

    port, thread = _serve_once(tls.server_context())
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(port, ssl.create_default_context())  # the system's CAs do not know the lab's
    thread.join(5)


def test_the_lab_plugin_trusts_the_profile_ca_bundle_and_ssl_cert_file_as_aws_plugin_does(
    tmp_path, monkeypatch
):
    from onboard.labplugin.trust import stream_tls_context

    tls = ensure_tls(TlsFiles(tmp_path / "tls"), "127.0.0.2")
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "config").write_text(f"[profile ssm]\nregion = eu-west-1\nca_bundle = {tls.files.ca_cert}\n")
    (aws / "config-without").write_text("[profile ssm]\nregion = eu-west-1\n")

    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config-without"))
    port, thread = _serve_once(tls.server_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(port, stream_tls_context("ssm"))
    thread.join(5)

    # What a learner on AWS's plugin does on Linux (Go's system pool reads SSL_CERT_FILE): the lab's
    # plugin honours it the same way, through OpenSSL's default paths.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.files.ca_cert))
    port, thread = _serve_once(tls.server_context())
    _handshake(port, stream_tls_context("ssm"))
    thread.join(5)
    monkeypatch.delenv("SSL_CERT_FILE")

    # The kit's way: the profile's ca_bundle, which the AWS CLI used for StartSession.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    port, thread = _serve_once(tls.server_context())
    _handshake(port, stream_tls_context("ssm"))
    thread.join(5)


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("classroom.local", "not an IP address"),
        ("0.0.0.0", "not one address"),  # noqa: S104 - refused, never bound
        ("::", "not one address"),
    ],
)
def test_listen_wants_one_ip_address(given, why):
    with pytest.raises(UsageError, match=why):
        listen_address(given)


def test_a_non_loopback_address_is_served_with_a_warning():
    # Nothing listens here: the class is only described, never served on an outside address.
    outside = ClassMode.of("192.0.2.10", None, ["ann", "ben"])
    assert outside.exposed
    assert "anyone on that network" in (outside.exposure_warning() or "")
    assert ClassMode.of("127.0.0.2", None, ["ann"]).exposure_warning() is None


def test_class_mode_needs_a_sandbox(monkeypatch):
    monkeypatch.setattr(sandbox, "isolation", lambda: sandbox._unsandboxed("bubblewrap is not installed"))
    with pytest.raises(EnvironmentProblem, match="sandbox") as refused:
        require_sandbox()
    assert "apt-get install bubblewrap" in (refused.value.hint or "")


def test_lab_up_refuses_a_class_lab_without_bubblewrap(tmp_path):
    """bwrap is off PATH (the lab finds bubblewrap with PATH, as the sandbox tests simulate its absence):
    the class lab is refused before anything starts, with the reason and the fix."""
    classlist = tmp_path / "class.csv"
    classlist.write_text("name\nann\nben\n")
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    ran = run_onboard(
        "lab",
        "up",
        "--detach",
        "--class",
        str(classlist),
        "--listen",
        "127.0.0.2",
        env={"PATH": str(no_bwrap)},
    )
    assert ran.exit_code == ExitCode.ENVIRONMENT, ran.output
    assert "needs every learner's shells in a sandbox" in ran.output
    assert "bubblewrap" in ran.output
    assert not (Path(os.environ["XDG_STATE_HOME"]) / "onboard" / "lab" / "lab.json").exists()


def test_class_without_listen_and_class_with_learners_are_refused(tmp_path):
    classlist = tmp_path / "class.csv"
    classlist.write_text("name\nann\n")
    alone = run_onboard("lab", "up", "--detach", "--class", str(classlist))
    assert alone.exit_code == ExitCode.USAGE and "--listen" in alone.output
    both = run_onboard(
        "lab", "up", "--detach", "--class", str(classlist), "--learners", "a,b", "--listen", "127.0.0.2"
    )
    assert both.exit_code == ExitCode.USAGE and "--learners" in both.output


def test_team_file_ca_bundle_is_relative_to_the_team_file(tmp_path):
    tls = ensure_tls(TlsFiles(tmp_path / "tls"), "127.0.0.2")
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "ca.pem").write_bytes(tls.files.ca_cert.read_bytes())
    (kit / "team.toml").write_text(
        'version = 1\nteam = "t"\nregion = "eu-west-1"\nca_bundle = "ca.pem"\n\n[endpoint]\n'
        'url = "https://127.0.0.2:4566"\n'
    )
    team = load_team(kit / "team.toml")
    assert team.ca_bundle == (kit / "ca.pem").resolve()
    assert 'ca_bundle = "ca.pem"' in dump_team(team)

    (kit / "ca.pem").write_text("not a certificate\n")
    with pytest.raises(UsageError, match=r"ca_bundle.*no usable PEM certificate"):
        load_team(kit / "team.toml")
    (kit / "ca.pem").unlink()
    with pytest.raises(UsageError, match=r"ca_bundle.*does not exist"):
        load_team(kit / "team.toml")


def test_tls_module_imports_without_the_lab_running():
    # The setup side (learners' onboard) reads ca_bundle with the standard library only.
    code = "import onboard.setup.cabundle, onboard.team, sys; print('cryptography' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
