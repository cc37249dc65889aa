"""Where AWS publishes the Session Manager plugin, for each platform, and how each file is verified.

The layout is AWS's download site (session-manager-protocol.md, section 4):
``<base>/<version>/<folder>/<file>``, with ``latest`` or a version such as ``1.2.764.0`` as the version,
and detached OpenPGP signatures ``<file>.sig`` next to the Linux packages. AWS also signs the executable
inside the Linux packages (``<folder>/session-manager-plugin.sig``, "binary signatures" on AWS's page
"Verify the signature of the Session Manager plugin"); it publishes no download of the bare executable.
A mirror, an air-gapped site or the practice lab can replace the base.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from onboard.errors import EnvironmentProblem, OnboardError, UsageError
from onboard.platform import Platform

OFFICIAL_BASE = "https://s3.amazonaws.com/session-manager-downloads/plugin/"
#: Replaces OFFICIAL_BASE (mirrors, air-gapped sites, the practice lab); ``--download-url`` wins over it.
DOWNLOAD_URL_ENV = "ONBOARD_PLUGIN_DOWNLOAD_URL"
#: AWS documents this as the oldest plugin Session Manager keeps supporting.
MINIMUM_VERSION = "1.2.764.0"
LATEST = "latest"

_URL_SCHEMES = ("https", "http", "file")
_VERSION_PATTERN = re.compile(r"\d+(?:\.\d+)*")
_BINARY_SIGNATURE = "session-manager-plugin.sig"


@dataclass(frozen=True)
class Bundle:
    """One file AWS publishes for a platform, and how onboard can check and install it."""

    #: "mac-zip" | "mac-pkg" | "deb" | "rpm" | "windows-zip" | "windows-exe"
    kind: str
    #: Relative to ``<base>/<version>/``, e.g. "ubuntu_64bit/session-manager-plugin.deb".
    path: str
    #: The detached signature's path, e.g. "ubuntu_64bit/session-manager-plugin.deb.sig"; None where
    #: AWS publishes none.
    signature: str | None
    #: "gpg" (the detached signature, AWS's key) | "pkgutil" (macOS package signing) | None (unverified).
    verified_by: str | None
    #: The detached signature of the session-manager-plugin executable inside this package (deb and rpm).
    binary_signature: str | None = None
    #: onboard can unpack it into the user's own folders, without root.
    rootless: bool = True
    #: It has an official system-wide route (install script, dpkg, rpm, installer, setup exe) run with sudo.
    system: bool = True

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def bundles_for(platform: Platform) -> list[Bundle]:
    """Every bundle that fits the platform, the preferred (rootless) one first."""
    if platform.os == "macos":
        folder = "mac_arm64" if platform.arch == "arm64" else "mac"
        return [
            Bundle("mac-zip", f"{folder}/sessionmanager-bundle.zip", None, None),
            Bundle("mac-pkg", f"{folder}/session-manager-plugin.pkg", None, "pkgutil", rootless=False),
        ]
    if platform.os == "windows":
        # One x64 build; Windows on arm64 runs it through its x64 emulation.
        return [
            Bundle("windows-zip", "windows/SessionManagerPlugin.zip", None, None, system=False),
            Bundle("windows-exe", "windows/SessionManagerPluginSetup.exe", None, None, rootless=False),
        ]
    if platform.is_linux:
        suffix = "arm64" if platform.arch == "arm64" else "64bit"
        deb = _signed_linux_bundle("deb", f"ubuntu_{suffix}")
        rpm = _signed_linux_bundle("rpm", f"linux_{suffix}")
        if platform.package_format == "deb":
            return [deb]
        if platform.package_format == "rpm":
            # The deb's payload is the fallback for a rootless install when the rpm's cannot be unpacked.
            return [rpm, replace(deb, system=False)]
        # No dpkg or rpm to run: only the deb's files, unpacked by onboard.
        return [replace(deb, system=False)]
    raise EnvironmentProblem(f"No Session Manager plugin download for {platform.describe()}.")


def choose_bundle(platform: Platform, *, system: bool = False) -> Bundle:
    """The bundle to install: the first rootless one, or with ``system`` the first with a system route."""
    for bundle in bundles_for(platform):
        if bundle.system if system else bundle.rootless:
            return bundle
    raise EnvironmentProblem(
        f"{platform.describe()} has no system-wide package route (no dpkg or rpm package for it).",
        hint="Install without --system: onboard unpacks the plugin into your own folders, no root needed.",
    )


def download_base(explicit: str | None = None) -> str:
    """The download site: ``explicit`` (``--download-url``), else $ONBOARD_PLUGIN_DOWNLOAD_URL, else AWS's.

    Always ends with "/". Raises UsageError for a value that is not an http, https or file URL.
    """
    if explicit:
        return _checked_base(explicit, "--download-url")
    from_env = os.environ.get(DOWNLOAD_URL_ENV, "").strip()
    if from_env:
        return _checked_base(from_env, f"${DOWNLOAD_URL_ENV}")
    return OFFICIAL_BASE


def bundle_url(bundle: Bundle, *, version: str = LATEST, base: str | None = None) -> str:
    return _url(bundle.path, version, base)


def signature_url(bundle: Bundle, *, version: str = LATEST, base: str | None = None) -> str | None:
    """The bundle's detached signature, or None where AWS publishes none."""
    return _url(bundle.signature, version, base) if bundle.signature else None


def binary_signature_url(bundle: Bundle, *, version: str = LATEST, base: str | None = None) -> str | None:
    """The detached signature of the executable inside the bundle, or None where AWS publishes none."""
    return _url(bundle.binary_signature, version, base) if bundle.binary_signature else None


def check_version_label(version: str) -> str:
    """``version`` as a download folder: "latest" or a dotted number. Raises UsageError otherwise."""
    label = version.strip()
    if label == LATEST or _VERSION_PATTERN.fullmatch(label):
        return label
    raise UsageError(
        f"Not a plugin version: {version!r}.",
        hint=f"Use '{LATEST}' or a version number such as {MINIMUM_VERSION} "
        "(AWS lists them in the plugin's release history).",
    )


def parse_version(text: str) -> tuple[int, ...]:
    """ "1.2.764.0" (as ``session-manager-plugin --version`` prints it) -> (1, 2, 764, 0)."""
    cleaned = text.strip()
    if not _VERSION_PATTERN.fullmatch(cleaned):
        raise OnboardError(
            f"Not a version number: {cleaned[:80]!r}.",
            hint=f"Expected dotted numbers such as {MINIMUM_VERSION}.",
        )
    return tuple(int(part) for part in cleaned.split("."))


def version_at_least(version: str, minimum: str = MINIMUM_VERSION) -> bool:
    """Whether ``version`` is ``minimum`` or newer; missing trailing parts count as 0."""
    have, need = parse_version(version), parse_version(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def _signed_linux_bundle(kind: str, folder: str) -> Bundle:
    path = f"{folder}/session-manager-plugin.{kind}"
    return Bundle(kind, path, f"{path}.sig", "gpg", binary_signature=f"{folder}/{_BINARY_SIGNATURE}")


def _url(path: str, version: str, base: str | None) -> str:
    return f"{download_base(base)}{check_version_label(version)}/{path}"


def _checked_base(url: str, source: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in _URL_SCHEMES or not (parts.netloc or parts.scheme.lower() == "file"):
        raise UsageError(
            f"{source} is not a download URL: {url!r}.",
            hint="Give the folder that holds latest/ and the version folders, e.g. "
            f"{OFFICIAL_BASE} or http://127.0.0.1:8000/plugin/ (http, https or file URLs).",
        )
    return url if url.endswith("/") else url + "/"
