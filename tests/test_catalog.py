"""The download catalogue: official URLs, signatures, overridable base, version rules."""

from __future__ import annotations

import pytest

from onboard.errors import EnvironmentProblem, OnboardError, UsageError
from onboard.platform import Platform
from onboard.plugin.catalog import (
    DOWNLOAD_URL_ENV,
    MINIMUM_VERSION,
    OFFICIAL_BASE,
    binary_signature_url,
    bundle_url,
    bundles_for,
    choose_bundle,
    download_base,
    parse_version,
    signature_url,
    version_at_least,
)

UBUNTU_ARM = Platform(os="linux", arch="arm64", distro_id="ubuntu", package_format="deb")
AMAZON = Platform(os="linux", arch="x86_64", distro_id="amzn", package_format="rpm")
ARCH_LINUX = Platform(os="linux", arch="x86_64", distro_id="arch", package_format="deb-payload")
MAC_INTEL = Platform(os="macos", arch="x86_64")
WINDOWS = Platform(os="windows", arch="x86_64")


def test_official_urls_match_aws_download_site():
    deb = choose_bundle(UBUNTU_ARM)
    assert bundle_url(deb) == (
        "https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_arm64/session-manager-plugin.deb"
    )
    assert signature_url(deb) == (
        "https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_arm64/"
        "session-manager-plugin.deb.sig"
    )
    assert binary_signature_url(deb, version="1.2.764.0") == (
        "https://s3.amazonaws.com/session-manager-downloads/plugin/1.2.764.0/ubuntu_arm64/session-manager-plugin.sig"
    )
    assert deb.verified_by == "gpg" and deb.filename == "session-manager-plugin.deb"


def test_rpm_platforms_fall_back_to_the_deb_payload_rootless_only():
    rpm, deb = bundles_for(AMAZON)
    assert (rpm.kind, rpm.path, rpm.signature) == (
        "rpm",
        "linux_64bit/session-manager-plugin.rpm",
        "linux_64bit/session-manager-plugin.rpm.sig",
    )
    assert rpm.binary_signature == "linux_64bit/session-manager-plugin.sig"
    assert rpm.rootless and rpm.system
    assert deb.kind == "deb" and deb.rootless and not deb.system


def test_other_distributions_get_only_the_unpacked_deb():
    (deb,) = bundles_for(ARCH_LINUX)
    assert deb.path == "ubuntu_64bit/session-manager-plugin.deb" and not deb.system


@pytest.mark.parametrize("platform", [MAC_INTEL, WINDOWS], ids=["macos", "windows"])
def test_formats_without_a_gpg_signature_say_so(platform):
    for bundle in bundles_for(platform):
        assert bundle.signature is None
        assert signature_url(bundle) is None
        assert binary_signature_url(bundle) is None
        assert bundle.verified_by in (None, "pkgutil")


def test_macos_pkg_is_checked_by_pkgutil_and_needs_the_system_route():
    zip_bundle, pkg = bundles_for(MAC_INTEL)
    assert (zip_bundle.kind, zip_bundle.verified_by) == ("mac-zip", None)
    assert (pkg.kind, pkg.path, pkg.verified_by, pkg.rootless) == (
        "mac-pkg",
        "mac/session-manager-plugin.pkg",
        "pkgutil",
        False,
    )


def test_unknown_os_has_no_download():
    with pytest.raises(EnvironmentProblem):
        bundles_for(Platform(os="plan9", arch="x86_64"))


def test_download_base_prefers_explicit_then_environment_then_aws(monkeypatch):
    assert download_base() == OFFICIAL_BASE
    monkeypatch.setenv(DOWNLOAD_URL_ENV, "http://127.0.0.1:8123/mirror")
    assert download_base() == "http://127.0.0.1:8123/mirror/"
    assert (
        download_base("https://mirror.example.internal/plugin/") == "https://mirror.example.internal/plugin/"
    )
    deb = choose_bundle(UBUNTU_ARM)
    assert bundle_url(deb, version="1.2.764.0") == (
        "http://127.0.0.1:8123/mirror/1.2.764.0/ubuntu_arm64/session-manager-plugin.deb"
    )
    assert bundle_url(deb, base="file:///srv/plugin").startswith("file:///srv/plugin/latest/")


def test_blank_environment_variable_means_official(monkeypatch):
    monkeypatch.setenv(DOWNLOAD_URL_ENV, "  ")
    assert download_base() == OFFICIAL_BASE


@pytest.mark.parametrize(
    "bad", ["ftp://mirror/plugin", "mirror.internal/plugin", "http:///nohost", "C:\\plugins"]
)
def test_a_bad_base_is_a_usage_error_naming_its_source(bad, monkeypatch):
    with pytest.raises(UsageError, match="--download-url"):
        download_base(bad)
    monkeypatch.setenv(DOWNLOAD_URL_ENV, bad)
    with pytest.raises(UsageError, match=DOWNLOAD_URL_ENV) as raised:
        download_base()
    assert "http" in raised.value.hint


@pytest.mark.parametrize("bad", ["../../etc", "1.2.x", "v1.2.3", "", "latest/../x"])
def test_a_version_that_is_not_a_folder_name_is_refused(bad):
    with pytest.raises(UsageError, match="Not a plugin version"):
        bundle_url(choose_bundle(UBUNTU_ARM), version=bad)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("1.2.764.0", (1, 2, 764, 0)), ("1.2.707.0\n", (1, 2, 707, 0)), ("  10.0 ", (10, 0))],
)
def test_parse_version(text, parsed):
    assert parse_version(text) == parsed


@pytest.mark.parametrize("garbage", ["", "unknown", "1..2", "1.2.3-beta", "The plugin was installed"])
def test_parse_version_refuses_garbage(garbage):
    with pytest.raises(OnboardError, match="Not a version number"):
        parse_version(garbage)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (MINIMUM_VERSION, True),
        ("1.2.779.0", True),
        ("1.10.0.0", True),
        ("2", True),
        ("1.2.764", True),
        ("1.2.763.9", False),
        ("1.2.707.0", False),
        ("1.1.31.0", False),
    ],
)
def test_minimum_version(version, expected):
    assert version_at_least(version) is expected


def test_minimum_can_be_given():
    assert version_at_least("1.16.12", "1.16.12")
    assert not version_at_least("1.16.9", "1.16.12")
