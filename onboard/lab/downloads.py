"""The lab's plugin download site: its own client plugin, in AWS's formats and layout, signed by a lab key.

Laid out like ``https://s3.amazonaws.com/session-manager-downloads/plugin/`` (``<latest|version>/<folder>/
<file>`` with detached ``.sig`` files where AWS publishes them, as the catalogue in
:mod:`onboard.plugin.catalog` records) under the lab's ``/_onboard/downloads/plugin/``, so that
``onboard setup`` pointed at the lab runs its whole download, verify and install path. The signing key
(an OpenPGP nistp256 key, like AWS's, see :mod:`onboard.lab.signing`) is made once per lab and kept 0600
in the state folder; its public half and fingerprint go into the lab's team file. The tests publish their
download sites with :func:`publish_tree` too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from onboard.lab.bundles import WRITABLE_KINDS, write_bundle, write_file
from onboard.lab.signing import SigningKey
from onboard.lab.state import LabPaths, write_private, write_text_atomic
from onboard.plugin.catalog import LATEST, Bundle, bundles_for

KEY_USER_ID = "onboard practice lab <lab@127.0.0.1>"
#: The lab's secret key, armored.
SECRET_KEY_FILE = "lab-signing-key.secret.asc"  # noqa: S105 - a file name, not a password
#: Where labs before Sequoia kept their key (PKCS#8): replaced by a new key, and removed.
_OLD_SECRET_KEY_FILE = "lab-signing-key.pem"  # noqa: S105 - a file name
PUBLIC_KEY_FILE = "lab-signing-key.asc"


@dataclass(frozen=True)
class PublishedPlugin:
    root: Path
    version: str
    public_key: Path
    fingerprint: str


def publish_lab_plugin(paths: LabPaths) -> PublishedPlugin:
    """Make sure the download tree holds the current lab plugin, signed by this lab's key."""
    from onboard.labplugin import VERSION
    from onboard.labplugin.launcher import launcher_text

    key = _signing_key(paths)
    public_key = paths.signing_key_dir / PUBLIC_KEY_FILE
    if not public_key.exists() or public_key.read_bytes() != key.public_key_armored():
        write_text_atomic(public_key, key.public_key_armored().decode("ascii"))
    executable = launcher_text().encode()
    # Rebuilding every bundle costs a few hundred ms: skip it when the same launcher and key made them.
    stamp = hashlib.sha256(executable + key.fingerprint.encode() + VERSION.encode()).hexdigest()
    marker = paths.downloads_dir / ".published"
    if not (marker.exists() and marker.read_text(encoding="ascii") == stamp):
        publish_tree(paths.downloads_dir, executable, VERSION, key)
        write_text_atomic(marker, stamp)
    return PublishedPlugin(paths.downloads_dir, VERSION, public_key, key.fingerprint)


def _signing_key(paths: LabPaths) -> SigningKey:
    secret = paths.signing_key_dir / SECRET_KEY_FILE
    if secret.exists():
        return SigningKey.from_secret_key_armored(secret.read_bytes())
    key = SigningKey.generate(KEY_USER_ID)
    write_private(secret, key.secret_key_armored())
    (paths.signing_key_dir / _OLD_SECRET_KEY_FILE).unlink(missing_ok=True)  # no stale secret left behind
    return key


# --- a download tree laid out like AWS's ---------------------------------------------------------


def download_layout() -> list[tuple[Bundle, str]]:
    """Every bundle AWS publishes that onboard can build, with its architecture, from the catalogue."""
    from onboard.platform import Platform

    platforms = [
        Platform(os=os_name, arch=arch, package_format=package_format)
        for os_name, package_format in (
            ("macos", None),
            ("linux", "deb"),
            ("linux", "rpm"),
            ("windows", None),
        )
        for arch in (("x86_64",) if os_name == "windows" else ("x86_64", "arm64"))
    ]
    layout: dict[str, tuple[Bundle, str]] = {}
    for platform in platforms:
        for bundle in bundles_for(platform):
            if bundle.kind in WRITABLE_KINDS:
                layout.setdefault(bundle.path, (bundle, platform.arch))
    return list(layout.values())


def download_folders() -> list[str]:
    """The download site's folder names that :func:`publish_tree` can fill ("mac", "ubuntu_64bit", ...)."""
    return list(dict.fromkeys(bundle.path.split("/")[0] for bundle, _arch in download_layout()))


def publish_tree(
    root: Path,
    executable: bytes,
    version: str,
    signing_key: SigningKey | None,
    platforms: Iterable[str] | None = None,
) -> list[Path]:
    """Lay out ``<root>/<version>/<folder>/<file>`` and ``<root>/latest/...`` exactly as AWS's site is.

    ``platforms`` are download folder names ("mac", "mac_arm64", "ubuntu_64bit", "linux_arm64",
    "windows", ...; default: all of :func:`download_folders`). Where AWS publishes a detached signature
    (the deb, the rpm, the executable inside them) ``signing_key`` makes one (skipped when None).
    Returns every path written.
    """
    folders = download_folders()
    wanted = folders if platforms is None else list(platforms)
    unknown = sorted(set(wanted) - set(folders))
    if unknown:
        raise ValueError(f"unknown download folders {unknown}; known: {folders}")
    version_root = Path(root) / version
    files: list[Path] = []
    for bundle, arch in download_layout():
        if bundle.path.split("/")[0] not in wanted:
            continue
        path = write_bundle(version_root / bundle.path, bundle.kind, executable, version, arch)
        files.append(path)
        if signing_key is None:
            continue
        if bundle.signature:
            files.append(write_file(version_root / bundle.signature, signing_key.sign_detached(path)))
        if bundle.binary_signature:
            signature = signing_key.sign_detached(executable)
            files.append(write_file(version_root / bundle.binary_signature, signature))
    written = list(files)
    for source in files:
        copy = Path(root) / LATEST / source.relative_to(version_root)
        written.append(write_file(copy, source.read_bytes(), source.stat().st_mode & 0o777))
    return written
