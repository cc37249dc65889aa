"""``--system``: AWS's own route, run with sudo, for every user of the machine.

That is the bundle's ``install`` script, dpkg, rpm, the macOS installer or the Windows setup.

The bundle is fetched and verified exactly as for the rootless install (:mod:`onboard.plugin.fetch`), and the
result is checked afterwards by running what was installed: AWS's bundle script exits 0 even when it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from onboard.errors import EnvironmentProblem, UsageError, VerificationError
from onboard.platform import Platform
from onboard.plugin import archives, catalog
from onboard.plugin.executable import plugin_version, require_minimum
from onboard.plugin.fetch import Fetched, Source, candidates, fetch
from onboard.plugin.layout import SystemLayout, WorkFolder
from onboard.plugin.result import InstallResult


def install_system(platform: Platform, source: Source, layout: SystemLayout | None) -> InstallResult:
    """Fetch and verify the platform's system bundle, run its installer, then check the installed plugin."""
    layout = layout or SystemLayout.for_platform(platform)
    with WorkFolder() as work:
        bundle = candidates([catalog.choose_bundle(platform, system=True)], source.bundle_file)[0]
        fetched = fetch(bundle, source, work)
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
        require_minimum(installed_version, layout.link)
        return InstallResult.of(installed_version, layout.link.resolve(), layout.link, fetched, system=True)


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


def _system_command(fetched: Fetched, layout: SystemLayout, work: Path) -> list[str]:
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
