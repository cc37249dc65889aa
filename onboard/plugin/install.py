"""Install, check and remove the Session Manager plugin, without root by default.

The rootless route: download the bundle for this platform (or take ``--bundle-file``), verify its detached
OpenPGP signature against AWS's pinned key (plus any extra trusted key, e.g. the practice lab's), unpack
the executable into ``<data>/plugin/<version>/``, run it with ``--version`` and require AWS's minimum,
and only then switch the stable link ``<bin>/session-manager-plugin`` to it, atomically. Until that last
step the previous install stays in use, untouched; any failure leaves it exactly as it was.

``system=True`` takes AWS's own route instead (the bundle's ``install`` script, dpkg, rpm, the macOS
installer or the Windows setup) with sudo, and then checks the result itself: the bundle's script exits 0
even when it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem, OnboardError, UsageError, VerificationError
from onboard.paths import AppDirs
from onboard.platform import Platform
from onboard.plugin import archives, catalog
from onboard.plugin.download import DEFAULT_NETWORK, NetworkSettings, NotFound, download
from onboard.plugin.formats import PLUGIN_NAME

MANIFEST_NAME = "installed.json"
MANIFEST_SCHEMA = 1
UNVERIFIED = "unverified"
_VERSION_LINE = re.compile(r"\d+(?:\.\d+)+")
_RUN_TIMEOUT = 20


@dataclass(frozen=True)
class SystemLayout:
    """Where AWS's own installers put the plugin (``--system``)."""

    install_dir: Path = Path("/usr/local/sessionmanagerplugin")
    link: Path = Path(f"/usr/local/bin/{PLUGIN_NAME}")

    @classmethod
    def for_platform(cls, platform: Platform) -> SystemLayout:
        if platform.os == "windows":
            root = (
                Path(os.environ.get("PROGRAMFILES", r"C:\Program Files")) / "Amazon" / "SessionManagerPlugin"
            )
            return cls(root, root / "bin" / f"{PLUGIN_NAME}.exe")
        return cls()


@dataclass(frozen=True)
class PathHint:
    """The line that puts a folder first on PATH, and the shell startup file it belongs in."""

    shell: str
    file: str
    line: str

    def __str__(self) -> str:
        return f"add this line to {self.file}, then open a new terminal:\n    {self.line}"

    def to_dict(self) -> dict[str, str]:
        return {"shell": self.shell, "file": self.file, "line": self.line}


@dataclass(frozen=True)
class PathReport:
    """Which ``session-manager-plugin`` the AWS CLI will run (it looks on PATH only)."""

    #: Every copy on PATH, in PATH order.
    found: tuple[Path, ...]
    on_path_first: bool
    #: Copies that come before the installed one (or all copies, when the installed one is not on PATH).
    shadowed_by: tuple[Path, ...]
    hint: PathHint | None


@dataclass(frozen=True)
class InstallResult:
    version: str
    #: The installed executable (in its version folder, or the system location with ``--system``).
    path: Path
    #: The stable name the AWS CLI finds on PATH.
    link: Path
    #: "gpg" | "pkgutil" | "unverified"
    verified_by: str
    #: The signing key's fingerprint, the signer for pkgutil, or "unverified".
    signature_key: str
    on_path_first: bool
    shadowed_by: tuple[Path, ...]
    path_hint: PathHint | None
    #: False when this exact version was already installed and nothing changed.
    changed: bool = True
    previous_version: str | None = None
    bundle_kind: str = ""
    source: str = ""
    system: bool = False
    #: A copy that was at the link's place before onboard (not onboard's), kept under this name.
    backed_up: Path | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "path": str(self.path),
            "link": str(self.link),
            "verified_by": self.verified_by,
            "signature_key": self.signature_key,
            "on_path_first": self.on_path_first,
            "shadowed_by": [str(path) for path in self.shadowed_by],
            "path_hint": self.path_hint.to_dict() if self.path_hint else None,
            "changed": self.changed,
            "previous_version": self.previous_version,
            "bundle_kind": self.bundle_kind,
            "source": self.source,
            "system": self.system,
            "backed_up": str(self.backed_up) if self.backed_up else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class PluginStatus:
    #: What onboard installed (None: nothing, or it was removed).
    installed_version: str | None
    installed_path: Path | None
    link: Path
    link_ok: bool
    #: The copy the AWS CLI will run, and the version it reports.
    active_path: Path | None
    active_version: str | None
    meets_minimum: bool
    on_path_first: bool
    shadowed_by: tuple[Path, ...]
    path_hint: PathHint | None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "installed_version": self.installed_version,
            "installed_path": str(self.installed_path) if self.installed_path else None,
            "link": str(self.link),
            "link_ok": self.link_ok,
            "active_path": str(self.active_path) if self.active_path else None,
            "active_version": self.active_version,
            "minimum_version": catalog.MINIMUM_VERSION,
            "meets_minimum": self.meets_minimum,
            "on_path_first": self.on_path_first,
            "shadowed_by": [str(path) for path in self.shadowed_by],
            "path_hint": self.path_hint.to_dict() if self.path_hint else None,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class UninstallResult:
    removed: tuple[Path, ...]
    restored: Path | None
    #: Copies on PATH onboard did not install and therefore left alone.
    left_alone: tuple[Path, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed": [str(path) for path in self.removed],
            "restored": str(self.restored) if self.restored else None,
            "left_alone": [str(path) for path in self.left_alone],
        }


# --- where things live ----------------------------------------------------------------------------


def plugin_root() -> Path:
    """``<data>/plugin``: one folder per installed version, and the manifest."""
    return AppDirs().data / "plugin"


def link_name(windows: bool | None = None) -> str:
    windows = os.name == "nt" if windows is None else windows
    return f"{PLUGIN_NAME}.exe" if windows else PLUGIN_NAME


def _read_manifest() -> dict[str, Any] | None:
    path = plugin_root() / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):  # never installed (or no data folder at all)
        return None
    except (OSError, ValueError) as error:
        raise EnvironmentProblem(
            f"onboard's record of the installed plugin ({path}) is unreadable: {error}",
            f"Delete {path} and run `onboard plugin install` again.",
        ) from None
    return data if isinstance(data, dict) and data.get("schema") == MANIFEST_SCHEMA else None


def _write_manifest(data: dict[str, Any]) -> None:
    root = plugin_root()
    root.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".installed.", dir=root)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump({"schema": MANIFEST_SCHEMA, **data}, out, indent=2)
    os.replace(temporary, root / MANIFEST_NAME)


def _is_ours(link: Path) -> bool:
    """Whether ``link`` is onboard's: a symlink into the plugin root (or, on Windows, the recorded copy)."""
    if link.is_symlink():
        target = Path(os.readlink(link))
        target = target if target.is_absolute() else link.parent / target
        return plugin_root().resolve() in target.resolve().parents
    manifest = _read_manifest()
    return bool(manifest and manifest.get("link") == str(link) and manifest.get("link_is_copy"))


# --- running the executable ------------------------------------------------------------------------


def run_version(executable: Path, timeout: float = _RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``<executable> --version`` with its output captured and no standard input."""
    return subprocess.run(
        [str(executable), "--version"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def last_words(done: subprocess.CompletedProcess[str]) -> str:
    """The last line a failed command printed (stderr first), for an error message."""
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1][:200] if lines else "no output"


def plugin_version(executable: Path) -> str:
    """What ``<executable> --version`` prints (e.g. "1.2.764.0"); VerificationError if it cannot say."""
    try:
        done = run_version(executable)
    except subprocess.TimeoutExpired:
        raise VerificationError(
            f"{executable} --version did not answer within {_RUN_TIMEOUT} s",
            "The executable is damaged or is not the Session Manager plugin.",
        ) from None
    except OSError as error:
        raise VerificationError(
            f"{executable} does not run here: {error.strerror or error}",
            "It may be built for another platform or architecture, or be damaged.",
        ) from None
    match = _VERSION_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise VerificationError(
            f"{executable} --version failed (exit {done.returncode}: {last_words(done)})",
            "The executable is damaged or is not the Session Manager plugin.",
        )
    return match.group(0)


def _require_minimum(version: str, executable: Path) -> None:
    if not catalog.version_at_least(version):
        raise VerificationError(
            f"{executable} is plugin {version}, older than {catalog.MINIMUM_VERSION} (the oldest AWS "
            "supports); nothing was installed",
            f"Install {catalog.MINIMUM_VERSION} or newer (omit --version to get the latest).",
        )


# --- PATH ------------------------------------------------------------------------------------------


def copies_on_path(path_env: str | None = None, windows: bool | None = None) -> list[Path]:
    """Every ``session-manager-plugin`` executable on PATH, in the order a shell finds them."""
    windows = os.name == "nt" if windows is None else windows
    names = (
        [f"{PLUGIN_NAME}{suffix}" for suffix in (".exe", ".cmd", ".bat", "")] if windows else [PLUGIN_NAME]
    )
    found: list[Path] = []
    for folder in (path_env if path_env is not None else os.environ.get("PATH", "")).split(os.pathsep):
        if not folder:
            continue
        for name in names:
            candidate = Path(folder).expanduser() / name
            if candidate.is_file() and os.access(candidate, os.X_OK) and candidate not in found:
                found.append(candidate)
    return found


def path_hint(folder: Path, *, login_shell: str | None = None, windows: bool | None = None) -> PathHint:
    """The exact line that puts ``folder`` first on PATH for the user's shell."""
    windows = os.name == "nt" if windows is None else windows
    if windows:
        return PathHint("powershell", "$PROFILE", f'$env:Path = "{folder};" + $env:Path')
    shell_name = Path(login_shell if login_shell is not None else os.environ.get("SHELL", "")).name
    home = Path.home()
    shown = f"$HOME/{folder.relative_to(home)}" if folder.is_relative_to(home) else str(folder)
    if shell_name == "fish":
        fish_folder = f"~/{folder.relative_to(home)}" if folder.is_relative_to(home) else str(folder)
        return PathHint("fish", "~/.config/fish/config.fish", f"fish_add_path --move --path {fish_folder}")
    line = f'export PATH="{shown}:$PATH"'
    if shell_name == "zsh":
        return PathHint("zsh", "~/.zshrc", line)
    if shell_name == "bash":
        return PathHint("bash", "~/.bashrc", line)
    return PathHint(shell_name or "sh", "~/.profile", line)


def path_report(link: Path, path_env: str | None = None) -> PathReport:
    found = copies_on_path(path_env)
    mine = [index for index, copy in enumerate(found) if _same_file(copy, link)]
    if mine and mine[0] == 0:
        return PathReport(tuple(found), True, (), None)
    before = found[: mine[0]] if mine else found
    return PathReport(tuple(found), False, tuple(before), path_hint(link.parent))


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.resolve() == other.resolve() or one.samefile(other)
    except OSError:
        return False


# --- verification ------------------------------------------------------------------------------------


def aws_session_manager_key() -> Any:
    from onboard import pgp

    return pgp.aws_session_manager_key()


def verify_signature(path: Path, signature: bytes, keys: Sequence[Any], *, name: str | None = None) -> str:
    """Check a detached OpenPGP signature against the trusted ``keys``; return the signer's primary key.

    The primary key's fingerprint is the one a pin names (AWS's, a team file's), even when a subkey signed.
    """
    from onboard import pgp

    return pgp.verify_detached(path, signature, keys, name=name).primary_fingerprint


def download_signed(
    url: str, signature_url: str | None, dest: Path, *, progress: bool, network: NetworkSettings
) -> bytes | None:
    """Download ``url`` to ``dest`` and its detached signature (when one is published); the signature."""
    download(url, dest, progress=progress, settings=network)
    if signature_url is None:
        return None
    signature_file = dest.with_name(f"{dest.name}.sig")
    try:
        download(signature_url, signature_file, progress=False, settings=network)
    except NotFound:
        raise VerificationError(
            f"the signature {signature_url} is missing, so {url} cannot be verified; nothing was installed",
            "The publisher signs this file: the mirror is incomplete. Ask whoever runs it.",
        ) from None
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


# --- the install ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """Where the bundle comes from and how it is trusted (install_plugin's arguments)."""

    version: str
    download_url: str | None
    bundle_file: Path | None
    extra_trusted_keys: tuple[Any, ...]
    progress: bool
    network: NetworkSettings


@dataclass
class _Fetched:
    """A bundle on disk, where it came from, and how it was verified."""

    path: Path
    bundle: catalog.Bundle
    source: str
    verified_by: str = UNVERIFIED
    signature_key: str = UNVERIFIED
    notes: list[str] = field(default_factory=list)


def install_plugin(
    *,
    platform: Platform,
    version: str = "latest",
    download_url: str | None = None,
    bundle_file: Path | None = None,
    system: bool = False,
    bin_dir: Path | None = None,
    extra_trusted_keys: Sequence[Any] = (),
    progress: bool = True,
    system_layout: SystemLayout | None = None,
    network: NetworkSettings = DEFAULT_NETWORK,
) -> InstallResult:
    """Install the plugin for ``platform`` (see the module docstring); raise an OnboardError on failure.

    ``version`` is "latest" or a version such as "1.2.764.0"; ``download_url`` replaces AWS's download
    site (else $ONBOARD_PLUGIN_DOWNLOAD_URL); ``bundle_file`` installs a bundle already on disk (its
    ``.sig`` beside it is checked when present); ``bin_dir`` is where the stable link goes (default: the
    per-user bin folder); ``extra_trusted_keys`` are onboard.pgp.PublicKey objects trusted besides AWS's
    key; ``system_layout`` overrides where ``system`` installs; ``network`` sets timeouts and retries.
    """
    version = catalog.check_version_label(version)
    if bundle_file is not None and not Path(bundle_file).is_file():
        raise UsageError(
            f"--bundle-file {bundle_file} is not a file", "Give the path of a downloaded bundle."
        )
    source = _Source(
        version,
        download_url,
        Path(bundle_file) if bundle_file else None,
        tuple(extra_trusted_keys),
        progress,
        network,
    )
    if system:
        return _install_system(platform, source, system_layout)
    bin_dir = Path(bin_dir) if bin_dir is not None else AppDirs().bin
    link = bin_dir / link_name()
    manifest = _read_manifest()
    if bundle_file is None and version != catalog.LATEST:
        already = _already_installed(manifest, version, link)
        if already is not None:
            return already
    with _install_lock(), WorkFolder() as work:
        fetched, binary = _fetch_and_unpack(platform, source, work)
        installed_version = plugin_version(binary)
        _require_minimum(installed_version, binary)
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
    if not binary.is_file() or not _same_file(link, binary):
        return None
    try:
        if plugin_version(binary) != version:
            return None
    except VerificationError:
        return None
    report = path_report(link)
    return InstallResult(
        version=version,
        path=binary,
        link=link,
        verified_by=manifest.get("verified_by", UNVERIFIED),
        signature_key=manifest.get("signature_key", UNVERIFIED),
        on_path_first=report.on_path_first,
        shadowed_by=report.shadowed_by,
        path_hint=report.hint,
        changed=False,
        previous_version=version,
        bundle_kind=manifest.get("bundle_kind", ""),
        source=manifest.get("source", ""),
    )


@contextmanager
def _install_lock() -> Iterator[None]:
    """One install at a time per user: two would race for the same link and record."""
    root = plugin_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = (root / ".lock").open("a+")
    except OSError as error:
        raise _cannot_write(root, error) from None
    with handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the renames stay atomic on their own
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EnvironmentProblem(
                "another `onboard plugin install` (or setup) is installing the plugin right now",
                "Wait for it to finish, then run this again.",
            ) from None
        yield


class WorkFolder:
    """A scratch folder in the cache for downloads and unpacking; always removed afterwards."""

    def __init__(self, prefix: str = "plugin-install-"):
        self.prefix = prefix

    def __enter__(self) -> Path:
        cache = AppDirs().cache
        try:
            cache.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=self.prefix, dir=cache))
        except OSError as error:
            raise EnvironmentProblem(
                f"cannot create a work folder in {cache}: {error.strerror or error}",
                "Check that your home folder is writable and not full.",
            ) from None
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _candidates(platform: Platform, system: bool, bundle_file: Path | None) -> list[catalog.Bundle]:
    if bundle_file is not None:
        kind = archives.sniff_kind(Path(bundle_file))
        return [catalog.Bundle(kind, Path(bundle_file).name, None, None)]
    if system:
        return [catalog.choose_bundle(platform, system=True)]
    rootless = [bundle for bundle in catalog.bundles_for(platform) if bundle.rootless]
    if not rootless:
        raise EnvironmentProblem(f"no bundle for {platform.describe()} can be installed without root")
    return rootless


def _fetch(bundle: catalog.Bundle, source: _Source, work: Path) -> _Fetched:
    """Download (or take) the bundle and verify it; VerificationError aborts before anything is unpacked."""
    bundle_file, version, download_url = source.bundle_file, source.version, source.download_url
    if bundle_file is not None:
        fetched = _Fetched(Path(bundle_file), bundle, str(bundle_file))
        signature_file = Path(f"{bundle_file}.sig")
        signature = signature_file.read_bytes() if signature_file.is_file() else None
        if signature is None:
            fetched.notes.append(
                f"no signature file next to {bundle_file} ({signature_file.name}): not verified"
            )
    else:
        url = catalog.bundle_url(bundle, version=version, base=download_url)
        fetched = _Fetched(work / bundle.filename, bundle, url)
        signature_url = catalog.signature_url(bundle, version=version, base=download_url)
        signature = download_signed(
            url, signature_url, fetched.path, progress=source.progress, network=source.network
        )
        if signature is None and bundle.verified_by is None:
            fetched.notes.append(f"AWS publishes no signature for {bundle.filename}: not verified")
    if signature is not None:
        keys = [aws_session_manager_key(), *source.extra_trusted_keys]
        fetched.signature_key = verify_signature(fetched.path, signature, keys, name=fetched.source)
        fetched.verified_by = "gpg"
    elif bundle.kind == "mac-pkg":
        fetched.signature_key = verify_pkg(fetched.path)
        fetched.verified_by = "pkgutil"
    return fetched


def _fetch_and_unpack(platform: Platform, source: _Source, work: Path) -> tuple[_Fetched, Path]:
    """Fetch, verify and unpack the first bundle that works; an unreadable payload falls back to the next."""
    candidates = _candidates(platform, False, source.bundle_file)
    skipped: list[str] = []
    for position, bundle in enumerate(candidates):
        if bundle.kind not in archives.READABLE_KINDS:
            raise UsageError(
                f"a {bundle.kind} bundle can only be installed by the system installer",
                "Add --system (it uses sudo), or give the zip, deb or rpm bundle instead.",
            )
        fetched = _fetch(bundle, source, work)
        binary = work / "unpacked" / archives.plugin_binary_name(bundle.kind)
        try:
            archives.extract_plugin_binary(fetched.path, bundle.kind, binary)
        except archives.UnsupportedCompression as error:
            if position + 1 == len(candidates):
                raise
            skipped.append(f"{error.message}; used the {candidates[position + 1].kind} bundle instead")
            continue
        fetched.notes[:0] = skipped
        return fetched, binary
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _activate(
    binary: Path, version: str, link: Path, fetched: _Fetched, manifest: dict[str, Any] | None
) -> InstallResult:
    """Move the checked executable into its version folder and point the link at it, atomically."""
    root = plugin_root()
    target_dir = root / version
    target = target_dir / binary.name
    previous = manifest.get("version") if manifest else None
    unchanged = target.is_file() and _digest(target) == _digest(binary) and _same_file(link, target)
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
    _write_manifest(
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
    report = path_report(link)
    return InstallResult(
        version=version,
        path=target,
        link=link,
        verified_by=fetched.verified_by,
        signature_key=fetched.signature_key,
        on_path_first=report.on_path_first,
        shadowed_by=report.shadowed_by,
        path_hint=report.hint,
        changed=not unchanged,
        previous_version=previous,
        bundle_kind=fetched.bundle.kind,
        source=fetched.source,
        backed_up=backed_up,
        notes=tuple(fetched.notes),
    )


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _cannot_write(where: Path, error: OSError) -> EnvironmentProblem:
    if where == plugin_root() or plugin_root() in where.parents:
        hint = f"onboard keeps plugin versions in {plugin_root()}: make it writable, or free some space."
    else:
        hint = "Choose a folder you own with --bin-dir (and put it on PATH), or fix the folder's permissions."
    return EnvironmentProblem(
        f"cannot write to {where}: {error.strerror or error}; the previous install is unchanged", hint
    )


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
        raise _cannot_write(target_dir, error) from None


def _switch_link(link: Path, target: Path) -> Path | None:
    """Point ``link`` at ``target`` in one rename; a copy onboard did not make is kept under a new name."""
    backed_up = None
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        if (link.exists() or link.is_symlink()) and not _is_ours(link):
            backed_up = link.with_name(f"{link.name}.before-onboard")
            if backed_up.exists() or backed_up.is_symlink():
                stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
                backed_up = link.with_name(f"{link.name}.before-onboard-{stamp}")
        temporary = link.with_name(f".{link.name}.onboard-new")
        if temporary.exists() or temporary.is_symlink():
            temporary.unlink()
        if os.name == "nt":
            shutil.copy2(target, temporary)
        else:
            temporary.symlink_to(target)
        if backed_up is not None:
            os.replace(link, backed_up)
        os.replace(temporary, link)
    except OSError as error:
        raise _cannot_write(link.parent, error) from None
    return backed_up


def _remove_other_versions(root: Path, keep: str) -> None:
    """Old version folders go only after the new one is linked: until then they were in use."""
    for folder in root.iterdir():
        if folder.is_dir() and folder.name != keep and _VERSION_LINE.fullmatch(folder.name):
            shutil.rmtree(folder, ignore_errors=True)


# --- the system route ----------------------------------------------------------------------------------


def _sudo() -> list[str]:
    if os.name == "nt" or os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo is None:
        raise EnvironmentProblem(
            "--system needs root, and sudo is not available",
            "Run without --system: onboard installs into your own folders, no root needed.",
        )
    return [sudo]


def _system_command(fetched: _Fetched, layout: SystemLayout, work: Path) -> list[str]:
    kind, path = fetched.bundle.kind, str(fetched.path)
    if kind == "mac-zip":
        archives.extract_zip(fetched.path, work / "bundle")
        script = work / "bundle" / "sessionmanager-bundle" / "install"
        if not script.is_file():
            raise archives.refuse(fetched.path, "no sessionmanager-bundle/install script inside")
        return [*_sudo(), sys.executable, str(script), "-i", str(layout.install_dir), "-b", str(layout.link)]
    if kind == "deb":
        return [*_sudo(), "dpkg", "-i", path]
    if kind == "rpm":
        return [*_sudo(), "rpm", "-U", "--replacepkgs", path]
    if kind == "mac-pkg":
        return [*_sudo(), "installer", "-pkg", path, "-target", "/"]
    if kind == "windows-exe":
        return [path, "/quiet"]
    raise UsageError(
        f"a {kind} bundle has no system installer",
        "Install it without --system: onboard unpacks it into your own folders.",
    )


def _install_system(platform: Platform, source: _Source, layout: SystemLayout | None) -> InstallResult:
    layout = layout or SystemLayout.for_platform(platform)
    with WorkFolder() as work:
        bundle = _candidates(platform, True, source.bundle_file)[0]
        fetched = _fetch(bundle, source, work)
        command = _system_command(fetched, layout, work)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
            )
        except OSError as error:
            raise EnvironmentProblem(
                f"cannot run {command[0]}: {error.strerror or error}",
                "Install without --system: onboard unpacks the plugin into your own folders.",
            ) from None
        said = (done.stdout + done.stderr).strip()
        failed_hint = f"The installer said: {said[-400:]}" if said else "The installer printed nothing."
        if done.returncode != 0:
            raise EnvironmentProblem(
                f"{' '.join(command[:4])} failed with exit code {done.returncode}", failed_hint
            )
        # Trust the files, not the exit code: AWS's bundle script exits 0 after a failure.
        if not layout.link.exists():
            raise EnvironmentProblem(
                f"the system installer exited 0, but {layout.link} does not exist: the install failed",
                failed_hint,
            )
        try:
            installed_version = plugin_version(layout.link)
        except VerificationError as error:
            raise EnvironmentProblem(
                f"the system installer exited 0, but the installed plugin does not run: {error.message}",
                failed_hint,
            ) from None
        _require_minimum(installed_version, layout.link)
        report = path_report(layout.link)
        return InstallResult(
            version=installed_version,
            path=layout.link.resolve(),
            link=layout.link,
            verified_by=fetched.verified_by,
            signature_key=fetched.signature_key,
            on_path_first=report.on_path_first,
            shadowed_by=report.shadowed_by,
            path_hint=report.hint,
            bundle_kind=bundle.kind,
            source=fetched.source,
            system=True,
            notes=tuple(fetched.notes),
        )


# --- status and uninstall ------------------------------------------------------------------------------


def plugin_status(bin_dir: Path | None = None) -> PluginStatus:
    """What onboard installed, which copy the AWS CLI will run, and whether it is good enough."""
    manifest = _read_manifest()
    if bin_dir is not None:
        link = Path(bin_dir) / link_name()
    elif manifest and manifest.get("link"):
        link = Path(manifest["link"])
    else:
        link = AppDirs().bin / link_name()
    installed_path = Path(manifest["path"]) if manifest and manifest.get("path") else None
    link_ok = installed_path is not None and installed_path.is_file() and _same_file(link, installed_path)
    report = path_report(link)
    active = report.found[0] if report.found else None
    problems: list[str] = []
    active_version = None
    meets_minimum = False
    if active is None:
        problems.append("no session-manager-plugin on PATH: the AWS CLI cannot start sessions")
    else:
        try:
            active_version = plugin_version(active)
            meets_minimum = catalog.version_at_least(active_version)
            if not meets_minimum:
                problems.append(f"{active} is {active_version}, older than {catalog.MINIMUM_VERSION}")
        except (VerificationError, OnboardError) as error:
            problems.append(f"{active} does not run: {error.message}")
    if manifest and not link_ok:
        problems.append(f"onboard's link {link} is missing or points elsewhere")
    if manifest and link_ok and not report.on_path_first:
        where = ", ".join(str(path) for path in report.shadowed_by) or "nothing: its folder is not on PATH"
        problems.append(f"onboard's plugin is not the first on PATH (found first: {where})")
    return PluginStatus(
        installed_version=manifest.get("version") if manifest else None,
        installed_path=installed_path,
        link=link,
        link_ok=link_ok,
        active_path=active,
        active_version=active_version,
        meets_minimum=meets_minimum,
        on_path_first=report.on_path_first,
        shadowed_by=report.shadowed_by,
        path_hint=report.hint if manifest else None,
        problems=tuple(problems),
    )


def uninstall_plugin(bin_dir: Path | None = None) -> UninstallResult:
    """Remove what onboard installed (its link and version folders), and restore a copy it set aside."""
    manifest = _read_manifest()
    removed: list[Path] = []
    restored: Path | None = None
    links = [Path(bin_dir) / link_name()] if bin_dir is not None else []
    if manifest and manifest.get("link"):
        links.append(Path(manifest["link"]))
    for link in dict.fromkeys(links):
        if (link.exists() or link.is_symlink()) and _is_ours(link):
            link.unlink()
            removed.append(link)
    backed_up = Path(manifest["backed_up"]) if manifest and manifest.get("backed_up") else None
    if backed_up is not None and (backed_up.exists() or backed_up.is_symlink()):
        original = backed_up.with_name(link_name())
        if not (original.exists() or original.is_symlink()):
            os.replace(backed_up, original)
            restored = original
    root = plugin_root()
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.is_dir() and _VERSION_LINE.fullmatch(folder.name):
                shutil.rmtree(folder)
                removed.append(folder)
        (root / MANIFEST_NAME).unlink(missing_ok=True)
    return UninstallResult(tuple(removed), restored, tuple(copies_on_path()))
