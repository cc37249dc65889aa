"""Tools: the AWS CLI and the Session Manager plugin it runs (found, version, architecture, PATH order)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.doctor.context import DoctorContext
from onboard.doctor.fixes import add_path_line, reinstall_plugin, relink_plugin
from onboard.doctor.model import Check, Finding, Group, fail, ok, skipped, warn

if TYPE_CHECKING:
    from onboard.plugin.awscli import AwsCli
    from onboard.plugin.status import PluginStatus

DOC_CLI = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
DOC_PLUGIN = "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"
GROUP = Group.TOOLS
_DOTTED = re.compile(r"\d+(?:\.\d+)+")


def aws_cli(ctx: DoctorContext) -> Finding:
    cli = _detect_awscli(ctx.environ.get("PATH"))
    data = cli.to_dict()
    if cli.path is None:
        return fail(
            "the aws command is not on PATH: nothing can start a session",
            f"PATH: {ctx.environ.get('PATH', '')}",
            next="onboard setup --aws-cli",
            doc=DOC_CLI,
            data=data,
        )
    if not cli.usable:
        return fail(cli.reason, f"found: {cli.path}", next="onboard setup --aws-cli", doc=DOC_CLI, data=data)
    return ok(
        f"{cli.reason}: supports `aws ssm start-session`",
        f"found: {cli.path}",
        f"version: {cli.version} (v{cli.major})",
        doc=DOC_CLI,
        data=data,
    )


def _detect_awscli(path_env: str | None) -> AwsCli:
    """The ``aws`` first on PATH, judged as onboard.plugin.awscli judges it.

    AWS CLI v1 is a Python script, and its ``--version`` loads all of botocore (a second or more, most of
    a healthy doctor run); its interpreter can say the same version from the awscli package alone.
    """
    from onboard.plugin.awscli import MINIMUM_V1, AwsCli, detect_awscli
    from onboard.plugin.catalog import version_at_least

    found = shutil.which("aws", path=path_env)
    version = _python_awscli_version(Path(found)) if found else None
    if found is None or version is None or not version.startswith("1."):
        return detect_awscli(path_env)
    if version_at_least(version, MINIMUM_V1):
        return AwsCli(Path(found), version, True, f"AWS CLI v1 {version}, new enough for ssm start-session")
    reason = (
        f"AWS CLI {version} is too old for `aws ssm start-session` (needs v2, or v1 {MINIMUM_V1} or newer)"
    )
    return AwsCli(Path(found), version, False, reason)


def _python_awscli_version(script: Path) -> str | None:
    """``awscli.__version__`` as the script's own interpreter imports it; None for anything else."""
    try:
        with open(script, "rb") as handle:
            first = handle.readline(512).decode("utf-8", errors="replace")
    except OSError:
        return None
    if not first.startswith("#!") or "python" not in first:
        return None
    command = [*shlex.split(first[2:].strip()), "-c", "import awscli; print(awscli.__version__)"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and _DOTTED.fullmatch(version) else None


def plugin(ctx: DoctorContext) -> Finding:
    """The copy of session-manager-plugin the AWS CLI will run: the first on PATH."""
    from onboard.doctor.binaries import executable_kind
    from onboard.errors import OnboardError
    from onboard.plugin import catalog
    from onboard.plugin.executable import plugin_version
    from onboard.plugin.pathcheck import copies_on_path

    copies = copies_on_path(ctx.environ.get("PATH", ""))
    reinstall = reinstall_plugin(ctx.team)
    if not copies:
        installed = _installed_off_path(ctx)
        if installed is not None:
            return installed
        return fail(
            "no session-manager-plugin on PATH: `aws ssm start-session` says "
            '"SessionManagerPlugin is not found"',
            next="onboard plugin install",
            doc=DOC_PLUGIN,
            fix=reinstall,
        )
    first = copies[0]
    machine = machine_arch()
    evidence = [f"first on PATH: {first}"]
    try:
        kind = executable_kind(first)
        evidence.append(f"built as: {kind.detail}")
    except OSError as error:
        return fail(
            f"{first} cannot be read: {error.strerror}", *evidence, next=f"ls -l {first}", doc=DOC_PLUGIN
        )
    data = {"path": str(first), "format": kind.format, "arches": list(kind.arches), "machine": machine}
    if kind.runs_on(machine) is False:
        if machine == "arm64" and "x86_64" in kind.arches and _is_macos():
            rosetta = "it runs only through Rosetta, slower, and stops when Rosetta is not installed"
            return warn(
                f"{first} is built for Intel (x86_64) on an Apple Silicon Mac: {rosetta}",
                *evidence,
                next="onboard plugin install",
                doc=DOC_PLUGIN,
                fix=reinstall,
                data=data,
            )
        return fail(
            f"{first} is built for {', '.join(kind.arches)}, but this machine is {machine}: running it fails "
            'with "exec format error"',
            *evidence,
            next="onboard plugin install",
            doc=DOC_PLUGIN,
            fix=reinstall,
            data=data,
        )
    status = installed_status(ctx)
    try:
        version = status.active_version if status.active_path == first and status.active_version else None
        version = version or plugin_version(first)
    except OnboardError as error:
        return fail(
            f"{first} does not run: {error.message}",
            *evidence,
            next="onboard plugin install",
            doc=DOC_PLUGIN,
            fix=reinstall,
            data=data,
        )
    data["version"] = version
    evidence.append(f"version: {version} (AWS supports {catalog.MINIMUM_VERSION} and newer)")
    if not catalog.version_at_least(version):
        return fail(
            f"{first} is plugin {version}, older than {catalog.MINIMUM_VERSION}, the oldest AWS supports",
            *evidence,
            next="onboard plugin install",
            doc=DOC_PLUGIN,
            fix=reinstall,
            data=data,
        )
    return ok(f"session-manager-plugin {version} at {first}", *evidence, doc=DOC_PLUGIN, data=data)


def plugin_path(ctx: DoctorContext) -> Finding:
    """onboard's own link: present, first on PATH; other copies on PATH named (stale ones flagged)."""
    from onboard.errors import OnboardError
    from onboard.plugin import catalog
    from onboard.plugin.executable import plugin_version
    from onboard.plugin.pathcheck import copies_on_path, path_report

    status = installed_status(ctx)
    copies = copies_on_path(ctx.environ.get("PATH", ""))
    if not copies:
        return skipped("no copy of the plugin on PATH (see 'Session Manager plugin')")
    evidence = [f"on PATH, in order: {', '.join(str(c) for c in copies) or 'none'}"]
    stale = []
    for copy in copies[1:]:
        try:
            version = plugin_version(copy)
        except OnboardError:
            version = "does not run"
        evidence.append(f"also on PATH (not used): {copy} ({version})")
        if version == "does not run" or not catalog.version_at_least(version):
            stale.append(f"{copy} ({version})")
    data = {"copies": [str(c) for c in copies], "stale": stale, "link": str(status.link)}
    if status.installed_version is None:
        evidence.append("onboard has not installed the plugin (`onboard plugin install` would)")
    else:
        evidence.append(
            f"onboard's install: {status.installed_version} at {status.installed_path}, link {status.link}"
        )
        if not status.link_ok:
            return fail(
                f"onboard's link {status.link} is missing or points elsewhere",
                *evidence,
                next="onboard doctor --fix",
                doc=DOC_PLUGIN,
                fix=relink_plugin(status.link, status.installed_path) if status.installed_path else None,
                data=data,
            )
        report = path_report(status.link, ctx.environ.get("PATH", ""))
        if not report.on_path_first:
            where = ", ".join(str(p) for p in report.shadowed_by) or "nothing: its folder is not on PATH"
            return _needs_path_line(
                ctx,
                warn,
                f"onboard's plugin {status.link} is not the one the AWS CLI runs (first on PATH: {where})",
                status.link,
                evidence,
                data,
            )
    if stale:
        return warn(
            f"stale copies of the plugin on PATH: {', '.join(stale)}",
            *evidence,
            next="remove them: " + " ".join(f"rm {s.split(' (')[0]}" for s in stale),
            doc=DOC_PLUGIN,
            data=data,
        )
    return ok(
        "the plugin the AWS CLI runs is the first on PATH",
        *evidence,
        data=data,
    )


def installed_status(ctx: DoctorContext) -> PluginStatus:
    """What onboard installed and which copy the AWS CLI runs (its version: one run for the whole report)."""
    from onboard.plugin.status import plugin_status

    return ctx.memo("plugin-status", plugin_status)


def _installed_off_path(ctx: DoctorContext) -> Finding | None:
    """onboard installed the plugin, but its link is gone or its folder is not on PATH."""
    status = installed_status(ctx)
    if status.installed_path is not None and status.installed_path.is_file() and not status.link_ok:
        return fail(
            f"onboard installed plugin {status.installed_version}, but its link {status.link} is missing or "
            "points elsewhere",
            f"installed: {status.installed_path}",
            next="onboard doctor --fix",
            doc=DOC_PLUGIN,
            fix=relink_plugin(status.link, status.installed_path),
        )
    if not status.link_ok:
        return None
    return _needs_path_line(
        ctx,
        fail,
        f"onboard installed the plugin at {status.link}, but its folder is not on PATH, so the AWS CLI "
        "cannot find it",
        status.link,
        [f"PATH: {ctx.environ.get('PATH', '')}"],
        {"path": str(status.link)},
    )


def _needs_path_line(
    ctx: DoctorContext,
    verdict: Callable[..., Finding],
    summary: str,
    link: Path,
    evidence: list[str],
    data: dict[str, Any],
) -> Finding:
    """``summary`` with the PATH line as the fix; a warning only once the shell's startup file has it.

    In a lab shell the lab's bin folder comes first on PATH through ``onboard lab env``, never through the
    real startup files: that is the next step, and there is no fix to apply.
    """
    from onboard.plugin.pathcheck import path_hint

    sandbox = ctx.lab_sandbox
    if sandbox is not None and link.parent.is_relative_to(sandbox):
        return verdict(
            summary,
            *evidence,
            next='eval "$(onboard lab env)"   (puts the lab\'s bin folder first on PATH in this shell)',
            doc=DOC_PLUGIN,
            data=data,
        )
    hint = path_hint(link.parent)
    if hint.file.startswith("$"):  # PowerShell's $PROFILE: only PowerShell knows where it is
        return verdict(summary, *evidence, next=str(hint), doc=DOC_PLUGIN, data=data)
    startup = Path(os.path.expanduser(hint.file))
    if _has_line(startup, hint.line):
        return warn(
            f"{summary} in this terminal; {hint.file} now fixes that for new terminals",
            *evidence,
            next=f"open a new terminal (or run: source {hint.file})",
            doc=DOC_PLUGIN,
            data=data,
        )
    return verdict(
        summary,
        *evidence,
        next=str(hint),
        doc=DOC_PLUGIN,
        fix=add_path_line(startup, hint.line, hint.file),
        data=data,
    )


def machine_arch() -> str:
    """This machine's processor as the plugin builds name it (Apple Silicon even under Rosetta)."""
    from onboard.platform import PlatformFacts, detect

    return detect(PlatformFacts.gather()).arch


def _is_macos() -> bool:
    import sys

    return sys.platform == "darwin"


def _has_line(path: Path, line: str) -> bool:
    try:
        return line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False


CHECKS = (
    Check("tools.aws-cli", GROUP, "AWS CLI", aws_cli, timeout=60.0),
    Check("tools.plugin", GROUP, "Session Manager plugin", plugin, timeout=30.0),
    Check("tools.plugin-path", GROUP, "Plugin on PATH", plugin_path, timeout=30.0),
)
