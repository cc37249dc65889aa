"""Install the Session Manager plugin without root: the rootless route (``system=True`` hands over to AWS's).

Download the bundle for this platform (or take ``--bundle-file``), verify its signature
(:mod:`onboard.plugin.fetch`), unpack the executable into ``<data>/plugin/<version>/``, run it with
``--version`` and require AWS's minimum, and only then point the stable link ``<bin>/session-manager-plugin``
at it, in one rename. Until that last step the previous install stays in use, untouched; any failure leaves
it exactly as it was. One install runs at a time per user (:func:`~onboard.plugin.layout.install_lock`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.errors import EnvironmentProblem, OnboardError, UsageError, VerificationError
from onboard.fileio import swap_link
from onboard.paths import AppDirs
from onboard.platform import Platform
from onboard.plugin import archives, catalog
from onboard.plugin.decompress import UnsupportedCompression
from onboard.plugin.download import DEFAULT_NETWORK, NetworkSettings
from onboard.plugin.executable import plugin_version, require_minimum
from onboard.plugin.fetch import UNVERIFIED, Fetched, Source, candidates, fetch
from onboard.plugin.layout import (
    VERSION_PATTERN,
    SystemLayout,
    WorkFolder,
    cannot_write,
    install_lock,
    is_ours,
    link_name,
    plugin_root,
    read_manifest,
    write_manifest,
)
from onboard.plugin.pathcheck import same_file
from onboard.plugin.result import InstallResult

if TYPE_CHECKING:
    from onboard.pgp import PublicKey


def install_plugin(
    *,
    platform: Platform,
    version: str = "latest",
    download_url: str | None = None,
    bundle_file: Path | None = None,
    allow_unverified: bool = False,
    system: bool = False,
    bin_dir: Path | None = None,
    extra_trusted_keys: Sequence[PublicKey] = (),
    progress: bool = True,
    system_layout: SystemLayout | None = None,
    network: NetworkSettings = DEFAULT_NETWORK,
) -> InstallResult:
    """Install the plugin for ``platform`` (see the module docstring); raise an OnboardError on failure.

    ``version`` is "latest" or a version such as "1.2.764.0"; ``download_url`` replaces AWS's download
    site (else $ONBOARD_PLUGIN_DOWNLOAD_URL); ``bundle_file`` installs a bundle already on disk (its
    ``.sig`` beside it is checked; without one it is refused unless ``allow_unverified``); ``bin_dir`` is
    where the stable link goes (default: the per-user bin folder); ``extra_trusted_keys`` are trusted
    besides AWS's key; ``system`` runs AWS's own installer with sudo (:mod:`onboard.plugin.system`), at
    ``system_layout``; ``network`` sets timeouts, retries and the deadline of each download.
    """
    version = catalog.check_version_label(version)
    if bundle_file is not None and not Path(bundle_file).is_file():
        raise UsageError(
            f"--bundle-file {bundle_file} is not a file", "Give the path of a downloaded bundle."
        )
    source = Source(
        version,
        download_url,
        Path(bundle_file) if bundle_file else None,
        tuple(extra_trusted_keys),
        progress,
        network,
        allow_unverified,
    )
    if system:
        from onboard.plugin.system import install_system

        return install_system(platform, source, system_layout)
    bin_dir = Path(bin_dir) if bin_dir is not None else AppDirs().bin
    link = bin_dir / link_name()
    manifest = read_manifest()
    if bundle_file is None and version != catalog.LATEST:
        already = _already_installed(manifest, version, link)
        if already is not None:
            return already
    with install_lock(), WorkFolder() as work:
        fetched, binary = _fetch_and_unpack(platform, source, work)
        installed_version = plugin_version(binary)
        require_minimum(installed_version, binary)
        if version != catalog.LATEST and installed_version != version:
            raise VerificationError(
                f"asked for plugin {version}, but {fetched.source} holds {installed_version}",
                "The mirror's folders are mislabelled; nothing was installed.",
            )
        return _activate(binary, installed_version, link, fetched, manifest)


def _already_installed(manifest: dict[str, Any] | None, version: str, link: Path) -> InstallResult | None:
    """The result for a no-op install, if ``version`` is installed and linked and still runs."""
    if not manifest or manifest.get("version") != version or manifest.get("link") != str(link):
        return None
    binary = Path(manifest.get("path", ""))
    if not binary.is_file() or not same_file(link, binary):
        return None
    try:
        if plugin_version(binary) != version:
            return None
    except VerificationError:
        return None
    recorded = Fetched(
        binary,
        catalog.Bundle(manifest.get("bundle_kind", ""), binary.name, None, None),
        manifest.get("source", ""),
        verified_by=manifest.get("verified_by", UNVERIFIED),
        signature_key=manifest.get("signature_key", UNVERIFIED),
    )
    return InstallResult.of(version, binary, link, recorded, changed=False, previous_version=version)


def _rootless_bundles(platform: Platform) -> list[catalog.Bundle]:
    rootless = [bundle for bundle in catalog.bundles_for(platform) if bundle.rootless]
    if not rootless:
        raise EnvironmentProblem(f"no bundle for {platform.describe()} can be installed without root")
    return rootless


def _fetch_and_unpack(platform: Platform, source: Source, work: Path) -> tuple[Fetched, Path]:
    """Fetch, verify and unpack the first bundle that works; an unreadable payload falls back to the next."""
    platform_bundles = _rootless_bundles(platform) if source.bundle_file is None else []
    bundles = candidates(platform_bundles, source.bundle_file)
    skipped: list[str] = []
    for position, bundle in enumerate(bundles):
        if bundle.kind not in archives.READABLE_KINDS:
            raise UsageError(
                f"a {bundle.kind} bundle can only be installed by the system installer",
                "Add --system (it uses sudo), or give the zip, deb or rpm bundle instead.",
            )
        fetched = fetch(bundle, source, work)
        binary = work / "unpacked" / archives.plugin_binary_name(bundle.kind)
        try:
            archives.extract_plugin_binary(fetched.path, bundle.kind, binary)
        except UnsupportedCompression as error:
            if position + 1 == len(bundles):
                raise
            skipped.append(f"{error.message}; used the {bundles[position + 1].kind} bundle instead")
            continue
        fetched.notes[:0] = skipped
        return fetched, binary
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _activate(
    binary: Path, version: str, link: Path, fetched: Fetched, manifest: dict[str, Any] | None
) -> InstallResult:
    """Move the checked executable into its version folder and point the link at it, atomically."""
    root = plugin_root()
    target_dir = root / version
    target = target_dir / binary.name
    previous = manifest.get("version") if manifest else None
    unchanged = target.is_file() and _digest(target) == _digest(binary) and same_file(link, target)
    backed_up: Path | None = None
    if not unchanged:
        existed = target_dir.exists()
        _place_version(binary, target_dir)
        try:
            backed_up = _switch_link(link, target)
        except OnboardError:
            if not existed:  # leave no trace of a version that never became active
                shutil.rmtree(target_dir, ignore_errors=True)
            raise
        _remove_other_versions(root, keep=version)
    write_manifest(
        {
            "version": version,
            "path": str(target),
            "link": str(link),
            "link_is_copy": not link.is_symlink(),
            "verified_by": fetched.verified_by,
            "signature_key": fetched.signature_key,
            "bundle_kind": fetched.bundle.kind,
            "source": fetched.source,
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "backed_up": str(backed_up) if backed_up else (manifest or {}).get("backed_up"),
        }
    )
    return InstallResult.of(
        version, target, link, fetched, changed=not unchanged, previous_version=previous, backed_up=backed_up
    )


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _place_version(binary: Path, target_dir: Path) -> None:
    """``target_dir`` holding ``binary``, replacing an older copy of the same version only once complete."""
    staging = target_dir.with_name(f".{target_dir.name}.new")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.copy2(binary, staging / binary.name)
        if target_dir.exists():
            retired = target_dir.with_name(f".{target_dir.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(target_dir, retired)
            os.replace(staging, target_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target_dir)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise cannot_write(target_dir, error) from None


def _switch_link(link: Path, target: Path) -> Path | None:
    """Point ``link`` at ``target`` in one rename; a copy onboard did not make is kept under a new name.

    On Windows, where users cannot make symlinks, the link is a copy of ``target``, put in place by rename.
    """
    backed_up = None
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        if (link.exists() or link.is_symlink()) and not is_ours(link):
            backed_up = link.with_name(f"{link.name}.before-onboard")
            if backed_up.exists() or backed_up.is_symlink():
                stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
                backed_up = link.with_name(f"{link.name}.before-onboard-{stamp}")
            os.replace(link, backed_up)
        if os.name == "nt":
            copy = link.with_name(f".{link.name}.onboard-new")
            shutil.copy2(target, copy)
            os.replace(copy, link)
        else:
            swap_link(link, target)
    except OSError as error:
        raise cannot_write(link.parent, error) from None
    return backed_up


def _remove_other_versions(root: Path, keep: str) -> None:
    """Old version folders go only after the new one is linked: until then they were in use."""
    for folder in root.iterdir():
        if folder.is_dir() and folder.name != keep and VERSION_PATTERN.fullmatch(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
