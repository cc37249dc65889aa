"""Which machine onboard runs on, in the terms the plugin downloads need.

Detection is split in two so that it can be tested as data: :class:`PlatformFacts` holds everything read
from the machine (uname, /etc/os-release, sysctl, /proc/version, permissions), and :func:`detect` turns
facts into a :class:`Platform` or explains why the combination is unsupported.
"""

from __future__ import annotations

import os
import platform as host_platform
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from onboard.errors import EnvironmentProblem

#: Linux distributions whose ID or ID_LIKE selects AWS's deb or rpm package.
DEB_FAMILY = frozenset({"debian", "ubuntu"})
RPM_FAMILY = frozenset(
    {"amzn", "rhel", "centos", "fedora", "rocky", "almalinux", "ol", "suse", "sles", "opensuse"}
)

#: platform.machine() spellings of the two architectures AWS builds the plugin for.
_ARCH_ALIASES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "arm64": "arm64",
    "aarch64": "arm64",
    "armv8l": "arm64",
}

#: What the plugin downloads cover, for the message shown on anything else.
SUPPORTED = (
    "macOS (Intel or Apple Silicon), Linux and WSL (x86_64 or arm64: deb, rpm or any distribution through "
    "the unpacked deb), Windows (x86_64, or arm64 through its x64 emulation)"
)

_OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")


@dataclass(frozen=True)
class PlatformFacts:
    """Everything :func:`detect` reads from the machine, so tests can give it as data."""

    #: platform.system(): "Darwin", "Linux", "Windows", "FreeBSD", ...
    system: str
    #: platform.machine(): "x86_64", "AMD64", "arm64", "aarch64", "i686", "armv7l", ...
    machine: str
    #: Text of /etc/os-release (Linux).
    os_release: str | None = None
    #: Output of ``sysctl -n hw.optional.arm64`` on macOS: "1" on Apple Silicon, even under Rosetta.
    sysctl_arm64: str | None = None
    #: Text of /proc/version: WSL's kernel says "microsoft" there.
    proc_version: str | None = None
    usr_local_writable: bool = False
    sudo_available: bool = False

    @classmethod
    def gather(cls) -> PlatformFacts:
        """Read the real machine: a few small files and, on macOS, one sysctl. No network."""
        system = host_platform.system()
        return cls(
            system=system,
            machine=host_platform.machine(),
            os_release=_first_readable(_OS_RELEASE_PATHS) if system == "Linux" else None,
            sysctl_arm64=_sysctl_arm64() if system == "Darwin" else None,
            proc_version=_first_readable(("/proc/version",)) if system == "Linux" else None,
            usr_local_writable=system != "Windows" and os.access("/usr/local", os.W_OK),
            sudo_available=shutil.which("sudo") is not None,
        )


@dataclass(frozen=True)
class Platform:
    """The detected platform, as the download catalogue and the installer use it."""

    #: "macos" | "linux" | "windows" | "wsl" (WSL is Linux for downloads).
    os: str
    #: The hardware: "x86_64" | "arm64" (Apple Silicon even when Python runs under Rosetta).
    arch: str
    #: Linux only: ID, ID_LIKE and PRETTY_NAME from /etc/os-release.
    distro_id: str | None = None
    distro_like: tuple[str, ...] = ()
    distro_name: str | None = None
    #: Linux only: "deb" (debian/ubuntu family), "rpm" (amzn/rhel/fedora/suse family), or "deb-payload"
    #: (any other distribution: the deb's files unpacked without root).
    package_format: str | None = None
    #: Python runs as x86_64 on Apple Silicon.
    rosetta: bool = False
    usr_local_writable: bool = False
    sudo_available: bool = False

    @property
    def is_linux(self) -> bool:
        """Linux or WSL: the Linux downloads apply."""
        return self.os in ("linux", "wsl")

    def describe(self) -> str:
        """One line for people: "macOS on Apple Silicon (arm64)", "Ubuntu 22.04.4 LTS (x86_64)"."""
        if self.os == "macos":
            if self.arch == "arm64":
                detail = "arm64; Python runs under Rosetta" if self.rosetta else "arm64"
                return f"macOS on Apple Silicon ({detail})"
            return "macOS on Intel (x86_64)"
        if self.os == "windows":
            return f"Windows ({self.arch})"
        name = self.distro_name or "Linux"
        where = " on WSL" if self.os == "wsl" else ""
        return f"{name}{where} ({self.arch})"

    def to_dict(self) -> dict[str, object]:
        """The platform for ``--json`` output, with its one-line description."""
        data: dict[str, object] = asdict(self)
        data["distro_like"] = list(self.distro_like)
        data["description"] = self.describe()
        return data


def detect(facts: PlatformFacts | None = None) -> Platform:
    """The platform these facts describe (the real machine's when None).

    Raises EnvironmentProblem for anything the plugin downloads do not cover (32-bit, FreeBSD, ...),
    naming what was detected and what is supported.
    """
    facts = facts or PlatformFacts.gather()
    system = facts.system.strip()
    if system == "Darwin":
        return _detect_macos(facts)
    if system == "Linux":
        return _detect_linux(facts)
    if system == "Windows":
        return Platform(
            os="windows",
            arch=_arch_or_refuse(facts, "Windows"),
            usr_local_writable=False,
            sudo_available=facts.sudo_available,
        )
    if system.upper().startswith(("CYGWIN", "MSYS", "MINGW")):
        raise EnvironmentProblem(
            f"Unsupported platform: {system} ({facts.machine}); onboard runs on {SUPPORTED}.",
            hint="Run onboard with a Windows Python (python.org or the Microsoft Store) or inside WSL, "
            "not under Cygwin or MSYS.",
        )
    raise EnvironmentProblem(
        f"Unsupported platform: {system or 'unknown system'} ({facts.machine or 'unknown machine'}); "
        f"AWS publishes the Session Manager plugin for {SUPPORTED}.",
        hint="Use a macOS, Linux or Windows machine (a Linux VM works), or build the plugin from source: "
        "https://github.com/aws/session-manager-plugin",
    )


def parse_os_release(text: str) -> dict[str, str]:
    """The KEY=value pairs of an os-release file, unquoted as a shell would (os-release(5))."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            # An unbalanced quote: keep the text rather than lose the whole file.
            words = [raw.strip().strip("\"'")]
        values[key.strip()] = " ".join(words)
    return values


def _detect_macos(facts: PlatformFacts) -> Platform:
    python_arch = _arch_or_refuse(facts, "macOS")
    apple_silicon = (facts.sysctl_arm64 or "").strip() == "1"
    arch = "arm64" if apple_silicon else python_arch
    return Platform(
        os="macos",
        arch=arch,
        rosetta=apple_silicon and python_arch == "x86_64",
        usr_local_writable=facts.usr_local_writable,
        sudo_available=facts.sudo_available,
    )


def _detect_linux(facts: PlatformFacts) -> Platform:
    wsl = "microsoft" in (facts.proc_version or "").lower()
    os_name = "wsl" if wsl else "linux"
    arch = _arch_or_refuse(facts, "WSL" if wsl else "Linux")
    release = parse_os_release(facts.os_release or "")
    distro_id = release.get("ID", "").lower() or None
    distro_like = tuple(word.lower() for word in release.get("ID_LIKE", "").split())
    name = release.get("PRETTY_NAME") or " ".join(
        part for part in (release.get("NAME"), release.get("VERSION_ID")) if part
    )
    return Platform(
        os=os_name,
        arch=arch,
        distro_id=distro_id,
        distro_like=distro_like,
        distro_name=name or None,
        package_format=_package_format(distro_id, distro_like),
        usr_local_writable=facts.usr_local_writable,
        sudo_available=facts.sudo_available,
    )


def _package_format(distro_id: str | None, distro_like: tuple[str, ...]) -> str:
    # The distribution's own ID wins over what it says it is like (ID_LIKE is ordered, closest first).
    for family in (distro_id, *distro_like):
        if family in DEB_FAMILY:
            return "deb"
        if family in RPM_FAMILY:
            return "rpm"
    return "deb-payload"


def _arch_or_refuse(facts: PlatformFacts, os_label: str) -> str:
    arch = _ARCH_ALIASES.get(facts.machine.strip().lower())
    if arch is None:
        raise EnvironmentProblem(
            f"Unsupported architecture: {os_label} on {facts.machine or 'an unknown machine'}; "
            f"AWS publishes the Session Manager plugin for {SUPPORTED}.",
            hint="32-bit and other architectures have no current plugin build. Use a 64-bit x86_64 or "
            "arm64 machine (and a 64-bit Python on it).",
        )
    return arch


def _first_readable(paths: tuple[str, ...]) -> str | None:
    for path in paths:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return None


def _sysctl_arm64() -> str | None:
    # Under Rosetta platform.machine() says x86_64; the hardware's answer comes from sysctl. Intel Macs
    # lack the key, and sysctl then fails: that means "not Apple Silicon".
    try:
        done = subprocess.run(
            ["sysctl", "-n", "hw.optional.arm64"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
