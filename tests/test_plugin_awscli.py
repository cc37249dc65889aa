"""The AWS CLI: detection of real and stand-in CLIs, the per-OS explanation, and the verified v2 install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bundles import BundleServer, stand_in_awscli, write_awscli_zip
from bundles import bundle_server as bundle_server
from bundles import test_signing_key as test_signing_key
from bundles import trusted_keys as trusted_keys

from onboard.errors import EnvironmentProblem, UsageError, VerificationError
from onboard.paths import AppDirs
from onboard.platform import Platform
from onboard.plugin.awscli import (
    AWS_CLI_KEY_FINGERPRINT,
    aws_cli_key,
    detect_awscli,
    explain_install,
    install_awscli,
)
from onboard.plugin.download import NetworkSettings

LINUX = Platform(os="linux", arch="x86_64", distro_id="debian", package_format="deb")
LINUX_ARM = Platform(os="linux", arch="arm64", distro_id="amzn", package_format="rpm")
MAC = Platform(os="macos", arch="arm64")
WINDOWS = Platform(os="windows", arch="x86_64")
QUICK = NetworkSettings(connect_timeout=2, read_timeout=2, retries=0, backoff=0)


def _tool(folder: Path, script: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "aws").write_bytes(script)
    (folder / "aws").chmod(0o755)
    return folder


@pytest.fixture
def awscli_site(bundle_server: BundleServer, test_signing_key) -> BundleServer:
    """The AWS CLI's download folder on the local site: both Linux zips with their signatures."""
    for arch in ("x86_64", "aarch64"):
        archive = write_awscli_zip(bundle_server.site.root / "awscli" / f"awscli-exe-linux-{arch}.zip")
        Path(f"{archive}.sig").write_bytes(test_signing_key.sign_detached(archive))
    return bundle_server


def test_the_embedded_aws_cli_key_matches_its_pin():
    key = aws_cli_key()
    assert key.fingerprint == AWS_CLI_KEY_FINGERPRINT
    assert key.user_ids == ("AWS CLI Team <aws-cli@amazon.com>",)


def test_detects_the_real_aws_cli_v1_from_the_venv():
    found = detect_awscli(str(Path(sys.executable).parent))
    assert found.usable and found.major == 1
    assert found.path == Path(sys.executable).parent / "aws"


def test_detects_v2_old_v1_missing_and_broken(tmp_path):
    v2 = detect_awscli(str(_tool(tmp_path / "v2", stand_in_awscli("2.15.0"))))
    assert (v2.usable, v2.version, v2.major) == (True, "2.15.0", 2)
    old = detect_awscli(str(_tool(tmp_path / "old", stand_in_awscli("1.16.0"))))
    assert not old.usable and "too old" in old.reason and "1.16.12" in old.reason
    recent_v1 = detect_awscli(str(_tool(tmp_path / "v1", stand_in_awscli("1.16.12"))))
    assert recent_v1.usable
    missing = detect_awscli(str(tmp_path / "empty"))
    assert (missing.usable, missing.path) == (False, None)
    broken = detect_awscli(str(_tool(tmp_path / "broken", b"#!/bin/sh\necho boom >&2\nexit 3\n")))
    assert not broken.usable and "boom" in broken.reason


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (LINUX, "awscli-exe-linux-x86_64.zip"),
        (LINUX_ARM, "awscli-exe-linux-aarch64.zip"),
        (MAC, "AWSCLIV2.pkg"),
        (WINDOWS, "AWSCLIV2.msi"),
    ],
)
def test_explanation_names_the_right_download(platform, expected):
    assert expected in explain_install(platform)


def _install_from(site: BundleServer, keys):
    return install_awscli(
        platform=LINUX,
        download_url=site.url + "awscli/",
        extra_trusted_keys=keys,
        progress=False,
        network=QUICK,
    )


def test_installs_v2_rootless_from_a_signed_zip(awscli_site, trusted_keys, test_signing_key):
    result = _install_from(awscli_site, trusted_keys)
    assert (result.version, result.verified_by) == ("2.15.0", "gpg")
    assert result.signature_key == test_signing_key.fingerprint
    assert result.link == AppDirs().bin / "aws"
    assert result.install_dir == AppDirs().data / "aws-cli"
    ran = subprocess.run([str(result.link), "--version"], capture_output=True, text=True, check=True)
    assert ran.stdout.startswith("aws-cli/2.15.0")
    assert detect_awscli(str(AppDirs().bin)).major == 2
    # A second run updates in place (AWS's script needs --update for that).
    again = _install_from(awscli_site, trusted_keys)
    assert again.version == "2.15.0"


def test_a_zip_not_signed_by_the_aws_cli_key_is_refused(awscli_site):
    with pytest.raises(VerificationError, match="not a trusted key"):
        _install_from(awscli_site, ())
    assert not (AppDirs().bin / "aws").exists()
    assert not (AppDirs().data / "aws-cli").exists()


def test_a_local_zip_needs_its_signature_beside_it(tmp_path):
    archive = write_awscli_zip(tmp_path / "awscliv2.zip")
    with pytest.raises(UsageError, match="no signature file"):
        install_awscli(platform=LINUX, bundle_file=archive, progress=False)


def test_a_local_zip_with_its_signature_installs(tmp_path, trusted_keys, test_signing_key):
    archive = write_awscli_zip(tmp_path / "awscliv2.zip", version="2.16.1")
    Path(f"{archive}.sig").write_bytes(test_signing_key.sign_detached(archive))
    result = install_awscli(
        platform=LINUX_ARM, bundle_file=archive, extra_trusted_keys=trusted_keys, bin_dir=tmp_path / "bin"
    )
    assert result.version == "2.16.1" and result.link == tmp_path / "bin" / "aws"


def test_windows_gets_the_manual_steps():
    with pytest.raises(EnvironmentProblem) as caught:
        install_awscli(platform=WINDOWS, progress=False)
    assert "msiexec" in caught.value.hint
