"""Platform detection, tested as data: machine facts in, platform and download target out."""

from __future__ import annotations

import platform as host_platform
from pathlib import Path

import pytest

from onboard.errors import EnvironmentProblem, ExitCode
from onboard.platform import Platform, PlatformFacts, detect, parse_os_release
from onboard.plugin.catalog import bundles_for, choose_bundle

# os-release files as the distributions ship them (trimmed of URLs).
UBUNTU_2204 = """\
PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"""
DEBIAN_12 = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""
MINT_21 = """\
NAME="Linux Mint"
VERSION="21.3 (Virginia)"
ID=linuxmint
ID_LIKE="ubuntu debian"
PRETTY_NAME="Linux Mint 21.3"
VERSION_ID="21.3"
"""
AMAZON_2023 = """\
NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023.5.20240805"
ANSI_COLOR="0;33"
"""
RHEL_9 = """\
NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
"""
ROCKY_9 = """\
NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
"""
ALMA_9 = """\
NAME="AlmaLinux"
VERSION="9.4 (Seafoam Ocelot)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"
"""
FEDORA_40 = """\
NAME="Fedora Linux"
VERSION="40 (Workstation Edition)"
ID=fedora
VERSION_ID=40
PRETTY_NAME="Fedora Linux 40 (Workstation Edition)"
"""
OPENSUSE_LEAP = """\
NAME="openSUSE Leap"
VERSION="15.5"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.5"
PRETTY_NAME="openSUSE Leap 15.5"
"""
ARCH = """\
NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
"""
ALPINE = """\
NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.2
PRETTY_NAME="Alpine Linux v3.20"
"""
WSL_KERNEL = (
    "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1) "
    "(gcc (GCC) 11.2.0, GNU ld (GNU Binutils) 2.37) #1 SMP Fri Mar 29 23:14:13 UTC 2024\n"
)
NATIVE_KERNEL = "Linux version 6.8.0-40-generic (buildd@lcy02-amd64-075) (gcc 13.2.0) #40-Ubuntu SMP\n"

# (facts, os, arch, package format, rosetta, description, rootless download, system download)
# fmt: off
CASES = [
    pytest.param(
        PlatformFacts("Darwin", "x86_64", sysctl_arm64=None),
        "macos", "x86_64", None, False, "macOS on Intel (x86_64)",
        "mac/sessionmanager-bundle.zip", "mac/sessionmanager-bundle.zip",
        id="macos-intel",
    ),
    pytest.param(
        PlatformFacts("Darwin", "x86_64", sysctl_arm64="0\n"),
        "macos", "x86_64", None, False, "macOS on Intel (x86_64)",
        "mac/sessionmanager-bundle.zip", "mac/sessionmanager-bundle.zip",
        id="macos-intel-sysctl-0",
    ),
    pytest.param(
        PlatformFacts("Darwin", "arm64", sysctl_arm64="1\n"),
        "macos", "arm64", None, False, "macOS on Apple Silicon (arm64)",
        "mac_arm64/sessionmanager-bundle.zip", "mac_arm64/sessionmanager-bundle.zip",
        id="macos-apple-silicon",
    ),
    pytest.param(
        PlatformFacts("Darwin", "x86_64", sysctl_arm64="1\n"),
        "macos", "arm64", None, True, "macOS on Apple Silicon (arm64; Python runs under Rosetta)",
        "mac_arm64/sessionmanager-bundle.zip", "mac_arm64/sessionmanager-bundle.zip",
        id="macos-rosetta",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", UBUNTU_2204, proc_version=NATIVE_KERNEL),
        "linux", "x86_64", "deb", False, "Ubuntu 22.04.4 LTS (x86_64)",
        "ubuntu_64bit/session-manager-plugin.deb", "ubuntu_64bit/session-manager-plugin.deb",
        id="ubuntu-x86_64",
    ),
    pytest.param(
        PlatformFacts("Linux", "aarch64", DEBIAN_12),
        "linux", "arm64", "deb", False, "Debian GNU/Linux 12 (bookworm) (arm64)",
        "ubuntu_arm64/session-manager-plugin.deb", "ubuntu_arm64/session-manager-plugin.deb",
        id="debian-arm64",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", MINT_21),
        "linux", "x86_64", "deb", False, "Linux Mint 21.3 (x86_64)",
        "ubuntu_64bit/session-manager-plugin.deb", "ubuntu_64bit/session-manager-plugin.deb",
        id="mint-via-id-like",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", AMAZON_2023),
        "linux", "x86_64", "rpm", False, "Amazon Linux 2023.5.20240805 (x86_64)",
        "linux_64bit/session-manager-plugin.rpm", "linux_64bit/session-manager-plugin.rpm",
        id="amazon-linux-x86_64",
    ),
    pytest.param(
        PlatformFacts("Linux", "aarch64", AMAZON_2023),
        "linux", "arm64", "rpm", False, "Amazon Linux 2023.5.20240805 (arm64)",
        "linux_arm64/session-manager-plugin.rpm", "linux_arm64/session-manager-plugin.rpm",
        id="amazon-linux-arm64",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", RHEL_9),
        "linux", "x86_64", "rpm", False, "Red Hat Enterprise Linux 9.4 (Plow) (x86_64)",
        "linux_64bit/session-manager-plugin.rpm", "linux_64bit/session-manager-plugin.rpm",
        id="rhel",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", ROCKY_9),
        "linux", "x86_64", "rpm", False, "Rocky Linux 9.3 (Blue Onyx) (x86_64)",
        "linux_64bit/session-manager-plugin.rpm", "linux_64bit/session-manager-plugin.rpm",
        id="rocky",
    ),
    pytest.param(
        PlatformFacts("Linux", "aarch64", ALMA_9),
        "linux", "arm64", "rpm", False, "AlmaLinux 9.4 (Seafoam Ocelot) (arm64)",
        "linux_arm64/session-manager-plugin.rpm", "linux_arm64/session-manager-plugin.rpm",
        id="almalinux-arm64",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", FEDORA_40),
        "linux", "x86_64", "rpm", False, "Fedora Linux 40 (Workstation Edition) (x86_64)",
        "linux_64bit/session-manager-plugin.rpm", "linux_64bit/session-manager-plugin.rpm",
        id="fedora",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", OPENSUSE_LEAP),
        "linux", "x86_64", "rpm", False, "openSUSE Leap 15.5 (x86_64)",
        "linux_64bit/session-manager-plugin.rpm", "linux_64bit/session-manager-plugin.rpm",
        id="opensuse-via-id-like",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", ARCH),
        "linux", "x86_64", "deb-payload", False, "Arch Linux (x86_64)",
        "ubuntu_64bit/session-manager-plugin.deb", None,
        id="arch-deb-payload",
    ),
    pytest.param(
        PlatformFacts("Linux", "aarch64", ALPINE),
        "linux", "arm64", "deb-payload", False, "Alpine Linux v3.20 (arm64)",
        "ubuntu_arm64/session-manager-plugin.deb", None,
        id="alpine-arm64-deb-payload",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", None),
        "linux", "x86_64", "deb-payload", False, "Linux (x86_64)",
        "ubuntu_64bit/session-manager-plugin.deb", None,
        id="linux-without-os-release",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", UBUNTU_2204, proc_version=WSL_KERNEL),
        "wsl", "x86_64", "deb", False, "Ubuntu 22.04.4 LTS on WSL (x86_64)",
        "ubuntu_64bit/session-manager-plugin.deb", "ubuntu_64bit/session-manager-plugin.deb",
        id="wsl-ubuntu",
    ),
    pytest.param(
        PlatformFacts("Linux", "x86_64", AMAZON_2023, proc_version="Linux version 4.4.0-19041-Microsoft"),
        "wsl", "x86_64", "rpm", False, "Amazon Linux 2023.5.20240805 on WSL (x86_64)",
        "linux_64bit/session-manager-plugin.rpm", "linux_64bit/session-manager-plugin.rpm",
        id="wsl1-amazon-linux",
    ),
    pytest.param(
        PlatformFacts("Windows", "AMD64"),
        "windows", "x86_64", None, False, "Windows (x86_64)",
        "windows/SessionManagerPlugin.zip", "windows/SessionManagerPluginSetup.exe",
        id="windows-x86_64",
    ),
    pytest.param(
        PlatformFacts("Windows", "ARM64"),
        "windows", "arm64", None, False, "Windows (arm64)",
        "windows/SessionManagerPlugin.zip", "windows/SessionManagerPluginSetup.exe",
        id="windows-arm64-emulated",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("facts", "os_name", "arch", "package_format", "rosetta", "description", "rootless", "system"), CASES
)
def test_facts_map_to_platform_and_download(
    facts, os_name, arch, package_format, rosetta, description, rootless, system
):
    detected = detect(facts)
    assert (detected.os, detected.arch, detected.package_format, detected.rosetta) == (
        os_name,
        arch,
        package_format,
        rosetta,
    )
    assert detected.describe() == description
    assert choose_bundle(detected).path == rootless
    if system is None:
        with pytest.raises(EnvironmentProblem, match="no system-wide package route"):
            choose_bundle(detected, system=True)
    else:
        assert choose_bundle(detected, system=True).path == system


def test_every_row_of_the_download_table_is_reached():
    # Section 4 of the protocol reference: every published bundle must be the choice of some platform.
    table = {
        "mac/sessionmanager-bundle.zip",
        "mac_arm64/sessionmanager-bundle.zip",
        "mac/session-manager-plugin.pkg",
        "mac_arm64/session-manager-plugin.pkg",
        "ubuntu_64bit/session-manager-plugin.deb",
        "ubuntu_arm64/session-manager-plugin.deb",
        "linux_64bit/session-manager-plugin.rpm",
        "linux_arm64/session-manager-plugin.rpm",
        "windows/SessionManagerPluginSetup.exe",
        "windows/SessionManagerPlugin.zip",
    }
    reached = {bundle.path for case in CASES for bundle in bundles_for(detect(case.values[0]))}
    assert reached == table


def test_distribution_details_come_from_os_release():
    detected = detect(PlatformFacts("Linux", "x86_64", ROCKY_9, usr_local_writable=True, sudo_available=True))
    assert detected.distro_id == "rocky"
    assert detected.distro_like == ("rhel", "centos", "fedora")
    assert detected.distro_name == "Rocky Linux 9.3 (Blue Onyx)"
    assert detected.usr_local_writable and detected.sudo_available


def test_name_and_version_stand_in_for_a_missing_pretty_name():
    detected = detect(PlatformFacts("Linux", "x86_64", 'NAME="Gentoo"\nID=gentoo\nVERSION_ID=2.15\n'))
    assert detected.describe() == "Gentoo 2.15 (x86_64)"
    assert detected.package_format == "deb-payload"


def test_os_release_parsing_follows_shell_quoting():
    parsed = parse_os_release(
        '# comment\n\nNAME=\'Odd Linux\'\nPRETTY_NAME="Odd \\"quoted\\" 1"\nID=odd\nBROKEN="unbalanced\n'
    )
    assert parsed == {
        "NAME": "Odd Linux",
        "PRETTY_NAME": 'Odd "quoted" 1',
        "ID": "odd",
        "BROKEN": "unbalanced",
    }


@pytest.mark.parametrize(
    ("facts", "detected_text"),
    [
        pytest.param(PlatformFacts("Linux", "i686", UBUNTU_2204), "Linux on i686", id="linux-32bit"),
        pytest.param(PlatformFacts("Linux", "armv7l", DEBIAN_12), "Linux on armv7l", id="raspberry-32bit"),
        pytest.param(PlatformFacts("Linux", "ppc64le", RHEL_9), "Linux on ppc64le", id="power"),
        pytest.param(PlatformFacts("Windows", "x86"), "Windows on x86", id="windows-32bit"),
        pytest.param(PlatformFacts("FreeBSD", "amd64"), "FreeBSD (amd64)", id="freebsd"),
        pytest.param(PlatformFacts("OpenBSD", "arm64"), "OpenBSD (arm64)", id="openbsd"),
        pytest.param(PlatformFacts("CYGWIN_NT-10.0", "x86_64"), "CYGWIN_NT-10.0 (x86_64)", id="cygwin"),
    ],
)
def test_unsupported_combinations_name_what_was_detected_and_what_is_supported(facts, detected_text):
    with pytest.raises(EnvironmentProblem) as raised:
        detect(facts)
    error = raised.value
    assert detected_text in error.message
    assert "macOS" in error.message and "Linux" in error.message and "Windows" in error.message
    assert error.hint
    assert error.exit_code == ExitCode.ENVIRONMENT


def test_to_dict_is_json_ready():
    data = detect(PlatformFacts("Linux", "aarch64", MINT_21)).to_dict()
    assert data["distro_like"] == ["ubuntu", "debian"]
    assert data["description"] == "Linux Mint 21.3 (arm64)"
    assert data["package_format"] == "deb"


def test_gather_reads_this_machine():
    facts = PlatformFacts.gather()
    assert facts.system == host_platform.system()
    assert facts.machine == host_platform.machine()
    if facts.system == "Linux":
        os_release = Path("/etc/os-release")
        if os_release.exists():
            assert facts.os_release == os_release.read_text(encoding="utf-8", errors="replace")
        assert facts.proc_version == Path("/proc/version").read_text(encoding="utf-8", errors="replace")
    # This machine runs the test suite, so it must be one of the supported platforms.
    assert isinstance(detect(), Platform)
