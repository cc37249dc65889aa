"""The lab's plugin download site: its own client plugin, in AWS's formats and layout, signed by a lab key.

Laid out like ``https://s3.amazonaws.com/session-manager-downloads/plugin/`` (``<latest|version>/<folder>/
<file>`` with detached ``.sig`` files where AWS publishes them) under the lab's
``/_onboard/downloads/plugin/``, so that ``onboard setup`` pointed at the lab runs its whole download,
verify and install path. The signing key (an OpenPGP nistp256 key, like AWS's) is made once per lab and
kept 0600 in the state folder; its public half and fingerprint go into the lab's team file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from onboard.lab.state import LabPaths, write_private, write_text_atomic

KEY_USER_ID = "onboard practice lab <lab@127.0.0.1>"


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
    from onboard.plugin.packaging import publish_tree

    key = _signing_key(paths)
    public_key = paths.signing_key_dir / "lab-signing-key.asc"
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


def _signing_key(paths: LabPaths):
    from onboard.pgp import SigningKey

    private = paths.signing_key_dir / "lab-signing-key.pem"
    if private.exists():
        return SigningKey.from_pem(private.read_bytes())
    key = SigningKey.generate(KEY_USER_ID)
    write_private(private, key.private_key_pem())
    return key
