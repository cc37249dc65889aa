"""Getting a bundle and deciding whether to trust it: download (or ``--bundle-file``), then verify.

A bundle AWS signs (the deb, the rpm, the AWS CLI zip) is checked against its detached OpenPGP signature
and AWS's pinned key (plus any extra trusted key, e.g. the practice lab's); the macOS pkg with pkgutil.
A signature is at most :data:`~onboard.plugin.download.MAX_SIGNATURE_BYTES`, downloaded or on disk, so a
huge ``.sig`` is refused without being read. A ``--bundle-file`` without its ``.sig`` is refused unless the
user passed ``--allow-unverified``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from onboard.errors import EnvironmentProblem, VerificationError
from onboard.plugin import archives, catalog
from onboard.plugin import download as downloads
from onboard.plugin.download import DEFAULT_NETWORK, NetworkSettings, NotFound, human_size

if TYPE_CHECKING:
    from onboard.pgp import PublicKey

#: How a bundle counts as verified (InstallResult.verified_by).
UNVERIFIED = "unverified"
BY_OPENPGP = "gpg"
BY_PKGUTIL = "pkgutil"


@dataclass(frozen=True)
class Source:
    """Where the bundle comes from and how it is trusted (install_plugin's arguments)."""

    version: str
    download_url: str | None
    bundle_file: Path | None
    extra_trusted_keys: tuple[PublicKey, ...]
    progress: bool
    network: NetworkSettings = DEFAULT_NETWORK
    #: The user's explicit consent to install a ``bundle_file`` that has no signature beside it.
    allow_unverified: bool = False


@dataclass
class Fetched:
    """A bundle on disk, where it came from, and how it was verified."""

    path: Path
    bundle: catalog.Bundle
    source: str
    verified_by: str = UNVERIFIED
    signature_key: str = UNVERIFIED
    notes: list[str] = field(default_factory=list)


def candidates(platform_bundles: list[catalog.Bundle], bundle_file: Path | None) -> list[catalog.Bundle]:
    """The bundles to try, in order: the file given, or the platform's bundles from the catalogue."""
    if bundle_file is not None:
        kind = archives.sniff_kind(Path(bundle_file))
        return [catalog.Bundle(kind, Path(bundle_file).name, None, None)]
    return platform_bundles


def aws_session_manager_key() -> PublicKey:
    from onboard import pgp

    return pgp.aws_session_manager_key()


def verify_signature(
    path: Path, signature: bytes, keys: Sequence[PublicKey], *, name: str | None = None
) -> str:
    """Check a detached OpenPGP signature against the trusted ``keys``; return the signer's primary key.

    The primary key's fingerprint is the one a pin names (AWS's, a team file's), even when a subkey signed.
    """
    from onboard import pgp

    return pgp.verify_detached(path, signature, keys, name=name).primary_fingerprint


def download_signed(
    url: str, signature_url: str, dest: Path, *, progress: bool, network: NetworkSettings
) -> bytes:
    """Download ``url`` to ``dest`` and its detached signature (each within its size cap); the signature."""
    downloads.download(url, dest, progress=progress, settings=network, max_bytes=downloads.MAX_BUNDLE_BYTES)
    signature_file = dest.with_name(f"{dest.name}.sig")
    try:
        downloads.download(
            signature_url,
            signature_file,
            progress=False,
            settings=network,
            max_bytes=downloads.MAX_SIGNATURE_BYTES,
        )
    except NotFound:
        raise VerificationError(
            f"the signature {signature_url} is missing, so {url} cannot be verified; nothing was installed",
            "The publisher signs this file: the mirror is incomplete. Ask whoever runs it.",
        ) from None
    return signature_file.read_bytes()


def read_signature_file(signature_file: Path) -> bytes:
    """The detached signature in ``signature_file``, refused unread when it is too large to be one."""
    size = signature_file.stat().st_size
    if size > downloads.MAX_SIGNATURE_BYTES:
        raise VerificationError(
            f"{signature_file} is {human_size(size)}, which is not a signature (a detached signature is "
            f"under {human_size(downloads.MAX_SIGNATURE_BYTES)}); nothing was installed",
            "Put the .sig file published beside the bundle next to it, under the bundle's name + .sig.",
        )
    return signature_file.read_bytes()


def verify_pkg(pkg: Path) -> str:
    """``pkgutil --check-signature`` for a macOS pkg; the signer's name."""
    pkgutil = shutil.which("pkgutil")
    if pkgutil is None:
        raise EnvironmentProblem(
            f"cannot check the signature of {pkg}: pkgutil is not available here",
            "Install the macOS package on a Mac, where pkgutil checks Apple's signature.",
        )
    done = subprocess.run(
        [pkgutil, "--check-signature", str(pkg)], capture_output=True, text=True, check=False
    )
    signer = re.search(r"1\.\s*(Developer ID Installer:[^\n]+)", done.stdout)
    if done.returncode != 0 or "Status: signed" not in done.stdout or signer is None:
        raise VerificationError(
            f"{pkg} is not signed by a trusted developer: {done.stdout.strip() or done.stderr.strip()}",
            "Download the package again from AWS; do not install it.",
        )
    return signer.group(1).strip()


def fetch(bundle: catalog.Bundle, source: Source, work: Path) -> Fetched:
    """Download (or take) the bundle and verify it; VerificationError aborts before anything is unpacked."""
    signature: bytes | None = None
    if source.bundle_file is not None:
        fetched = Fetched(source.bundle_file, bundle, str(source.bundle_file))
        signature_file = Path(f"{source.bundle_file}.sig")
        if signature_file.is_file():
            signature = read_signature_file(signature_file)
        elif bundle.kind != "mac-pkg":  # pkgutil checks a pkg's own signature below
            _unsigned_bundle_file(fetched, signature_file, source.allow_unverified)
    else:
        url = catalog.bundle_url(bundle, version=source.version, base=source.download_url)
        fetched = Fetched(work / bundle.filename, bundle, url)
        signature_url = catalog.signature_url(bundle, version=source.version, base=source.download_url)
        if signature_url is None:
            downloads.download(
                url,
                fetched.path,
                progress=source.progress,
                settings=source.network,
                max_bytes=downloads.MAX_BUNDLE_BYTES,
            )
            if bundle.verified_by is None:
                fetched.notes.append(f"AWS publishes no signature for {bundle.filename}: not verified")
        else:
            signature = download_signed(
                url, signature_url, fetched.path, progress=source.progress, network=source.network
            )
    if signature is not None:
        keys = [aws_session_manager_key(), *source.extra_trusted_keys]
        fetched.signature_key = verify_signature(fetched.path, signature, keys, name=fetched.source)
        fetched.verified_by = BY_OPENPGP
    elif bundle.kind == "mac-pkg":
        fetched.signature_key = verify_pkg(fetched.path)
        fetched.verified_by = BY_PKGUTIL
    return fetched


def _unsigned_bundle_file(fetched: Fetched, signature_file: Path, allowed: bool) -> None:
    """Refuse a bundle file without its signature, unless the user explicitly allowed it (then say so)."""
    if not allowed:
        raise VerificationError(
            f"no signature file next to {fetched.path} ({signature_file}), so it cannot be verified; "
            "nothing was installed",
            f"Put the .sig file published with the bundle beside it as {signature_file.name}. To install it "
            "unverified anyway, knowing that anyone who could change the file could run code as you, run "
            f"`onboard plugin install --bundle-file {fetched.path} --allow-unverified`.",
        )
    fetched.notes.append(
        f"NOT VERIFIED: {fetched.path} has no signature beside it ({signature_file.name}) and was installed "
        "only because you passed --allow-unverified"
    )
