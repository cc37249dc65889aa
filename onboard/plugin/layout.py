"""Where the rootless install lives, its record of what it installed, and its scratch and lock.

``<data>/plugin/<version>/session-manager-plugin`` holds each version (only the active one is kept),
``<data>/plugin/installed.json`` records what was installed and how it was verified, and
``<bin>/session-manager-plugin`` is the stable link the AWS CLI finds on PATH. ``--system`` installs go where
AWS's own installers put them (:class:`SystemLayout`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem
from onboard.fileio import atomic_write_text, file_lock
from onboard.paths import AppDirs
from onboard.platform import Platform
from onboard.plugin.formats import PLUGIN_NAME, SYSTEM_LINK

MANIFEST_NAME = "installed.json"
MANIFEST_SCHEMA = 1
#: A version folder's name, and the version a plugin prints: dotted numbers.
VERSION_PATTERN = re.compile(r"\d+(?:\.\d+)+")
#: How long an install waits for another one (of this user) to finish before giving up.
INSTALL_LOCK_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class SystemLayout:
    """Where AWS's own installers put the plugin (``--system``)."""

    install_dir: Path = Path("/usr/local/sessionmanagerplugin")
    link: Path = Path(SYSTEM_LINK)

    @classmethod
    def for_platform(cls, platform: Platform) -> SystemLayout:
        if platform.os == "windows":
            root = (
                Path(os.environ.get("PROGRAMFILES", r"C:\Program Files")) / "Amazon" / "SessionManagerPlugin"
            )
            return cls(root, root / "bin" / f"{PLUGIN_NAME}.exe")
        return cls()


def plugin_root() -> Path:
    """``<data>/plugin``: one folder per installed version, and the manifest."""
    return AppDirs().data / "plugin"


def link_name(windows: bool | None = None) -> str:
    windows = os.name == "nt" if windows is None else windows
    return f"{PLUGIN_NAME}.exe" if windows else PLUGIN_NAME


def read_manifest() -> dict[str, Any] | None:
    """What the last install recorded, or None (never installed, removed, or an older schema)."""
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


def write_manifest(data: dict[str, Any]) -> None:
    root = plugin_root()
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / MANIFEST_NAME, json.dumps({"schema": MANIFEST_SCHEMA, **data}, indent=2))


def is_ours(link: Path) -> bool:
    """Whether ``link`` is onboard's: a symlink into the plugin root (or, on Windows, the recorded copy)."""
    if link.is_symlink():
        target = Path(os.readlink(link))
        target = target if target.is_absolute() else link.parent / target
        return plugin_root().resolve() in target.resolve().parents
    manifest = read_manifest()
    return bool(manifest and manifest.get("link") == str(link) and manifest.get("link_is_copy"))


def cannot_write(where: Path, error: OSError) -> EnvironmentProblem:
    """The error for a folder the install cannot write, with the fix for that folder."""
    if where == plugin_root() or plugin_root() in where.parents:
        hint = f"onboard keeps plugin versions in {plugin_root()}: make it writable, or free some space."
    else:
        hint = "Choose a folder you own with --bin-dir (and put it on PATH), or fix the folder's permissions."
    return EnvironmentProblem(
        f"cannot write to {where}: {error.strerror or error}; the previous install is unchanged", hint
    )


@contextmanager
def install_lock() -> Iterator[None]:
    """One install at a time per user (on every platform): two would race for the same link and record.

    A second install waits a few seconds for the first, then gives up with an error saying so.
    """
    record = plugin_root() / MANIFEST_NAME
    with file_lock(record, INSTALL_LOCK_WAIT_SECONDS, what="the plugin install record"):
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
