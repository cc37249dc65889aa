"""`onboard plugin status` and `uninstall`: what onboard installed, what the AWS CLI will run, and removal.

Only what onboard installed is ever removed (its link, its version folders, its record); a copy it set aside
when it first installed is put back. Other copies on PATH are reported and left alone.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboard.errors import OnboardError
from onboard.paths import AppDirs
from onboard.plugin import catalog
from onboard.plugin.executable import plugin_version
from onboard.plugin.layout import (
    MANIFEST_NAME,
    VERSION_PATTERN,
    is_ours,
    link_name,
    plugin_root,
    read_manifest,
)
from onboard.plugin.pathcheck import PathHint, copies_on_path, path_report, same_file


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


def plugin_status(bin_dir: Path | None = None) -> PluginStatus:
    """What onboard installed, which copy the AWS CLI will run, and whether it is good enough."""
    manifest = read_manifest()
    if bin_dir is not None:
        link = Path(bin_dir) / link_name()
    elif manifest and manifest.get("link"):
        link = Path(manifest["link"])
    else:
        link = AppDirs().bin / link_name()
    installed_path = Path(manifest["path"]) if manifest and manifest.get("path") else None
    link_ok = installed_path is not None and installed_path.is_file() and same_file(link, installed_path)
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
        except OnboardError as error:
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
    manifest = read_manifest()
    removed: list[Path] = []
    restored: Path | None = None
    links = [Path(bin_dir) / link_name()] if bin_dir is not None else []
    if manifest and manifest.get("link"):
        links.append(Path(manifest["link"]))
    for link in dict.fromkeys(links):
        if (link.exists() or link.is_symlink()) and is_ours(link):
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
            if folder.is_dir() and VERSION_PATTERN.fullmatch(folder.name):
                shutil.rmtree(folder)
                removed.append(folder)
        (root / MANIFEST_NAME).unlink(missing_ok=True)
    return UninstallResult(tuple(removed), restored, tuple(copies_on_path()))
