"""The wizard's first screens, the tools: the Session Manager plugin and the AWS CLI.

A tool whose download the network blocked (a proxy, a firewall) does not stop setup: the profile and
the key check need neither tool. The step is recorded as unfinished, with the one command that
finishes it, and the closing line says so. A download that fails its signature check stops setup.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from onboard.errors import EnvironmentProblem, ExitCode, OnboardError
from onboard.setup.report import SetupOptions, SetupReport

if TYPE_CHECKING:
    from rich.console import Console

    from onboard.platform import Platform
    from onboard.setup.cabundle import CaBundleCopy
    from onboard.setup.questions import Asker
    from onboard.team import TeamFile


class ToolScreens:
    """The screens every later one builds on: printing, and the plugin and AWS CLI steps."""

    def __init__(self, options: SetupOptions, asker: Asker, out: Console | None):
        self.options = options
        self.ask = asker
        #: Where screens are printed; None in --json runs.
        self.out = out
        self.report = SetupReport()
        self.team: TeamFile | None = None
        #: The team file's CA bundle and where the profile's ca_bundle keeps it.
        self.ca_copy: CaBundleCopy | None = None
        #: The user agreed to remove a byte-order mark from the AWS files.
        self.strip_bom = False
        #: The AWS CLI found or installed (its major version decides the output formats offered).
        self.aws_cli_major: int | None = None
        self.aws_cli_version: str | None = None

    # ------------------------------------------------------------------------------------- printing

    def say(self, text: str = "", *, style: str | None = None) -> None:
        if self.out is not None:
            from onboard.output import escape

            self.out.print(escape(text), style=style)

    def screen(self, title: str) -> None:
        self.say()
        self.say(title, style="bold")

    def plugin_screen(self, platform: Platform) -> None:
        self.screen("Session Manager plugin")
        if self.options.plugin is False:
            self.report.data["plugin"] = {"action": "skipped"}
            self.say("  Skipped (--no-plugin).")
            return
        from onboard.plugin.catalog import version_at_least
        from onboard.plugin.download import NotFound
        from onboard.plugin.install import install_plugin
        from onboard.plugin.status import plugin_status

        status = plugin_status(bin_dir=self.options.bin_dir)
        ours_installed = status.link_ok and version_at_least(status.installed_version or "0")
        if self.options.bundle_file is None and (status.ok or ours_installed):
            self.report.data["plugin"] = {"action": "kept", **status.to_dict()}
            where = status.installed_path if ours_installed else status.active_path
            version = status.installed_version if ours_installed else status.active_version
            self.say(f"  Version {version} is installed ({where}): nothing to do.")
            self._path_hint(status.path_hint, status.problems)
            return
        for problem in status.problems:
            self.say(f"  {problem}")
        if not self.ask.answer("install_plugin", given=self.options.plugin, default=True):
            self.report.data["plugin"] = {"action": "declined", **status.to_dict()}
            self.report.warnings.append(
                "The Session Manager plugin is missing: `onboard plugin install` adds it."
            )
            return
        source = self.team.plugin if self.team is not None else None
        try:
            result = install_plugin(
                platform=platform,
                download_url=self.options.download_url or (source.download_url if source else None),
                bundle_file=self.options.bundle_file,
                bin_dir=self.options.bin_dir,
                extra_trusted_keys=source.trusted_keys() if source else (),
                progress=self.out is not None,
            )
        except (EnvironmentProblem, NotFound) as failed:
            # The profile and the key check need no plugin, so a download the network (a proxy, a
            # firewall, a mirror without the file) did not deliver does not stop them: carry on, and end
            # with the one command left. A download that fails its signature check still stops everything.
            self._unfinished("plugin", "the Session Manager plugin", failed, self._plugin_command())
            return
        self.report.data["plugin"] = {"action": "installed" if result.changed else "kept", **result.to_dict()}
        verified = (
            "unverified"
            if result.verified_by == "unverified"
            else f"signature checked ({result.verified_by})"
        )
        self.say(f"  Version {result.version} installed at {result.link}, {verified}.", style="green")
        self._path_hint(result.path_hint, ())

    def _plugin_command(self) -> str:
        """The `onboard plugin install` that finishes what this run could not, with this run's sources."""
        return self._command(
            "plugin install",
            ("--download-url", self.options.download_url),
            ("--bundle-file", self.options.bundle_file),
            ("--bin-dir", self.options.bin_dir),
            ("--team", self.options.team),
        )

    def rerun_command(self) -> str:
        """The `onboard setup` that does again, unattended, what this run could not, with this run's
        sources and choices: the keys and the profile it wrote are kept (a re-run changes nothing else)."""
        options = self.options
        tools = {True: "--{}", False: "--no-{}", None: None}
        flags = [tools[options.plugin], tools[options.aws_cli]]
        choices = [flag.format(name) for flag, name in zip(flags, ("plugin", "aws-cli"), strict=True) if flag]
        return self._command(
            " ".join(["setup", "--yes", *choices]),
            ("--team", options.team),
            ("--profile", options.profile),
            ("--endpoint-url", options.endpoint_url),
            ("--download-url", options.download_url),
            ("--bundle-file", options.bundle_file),
            ("--bin-dir", options.bin_dir),
        )

    @staticmethod
    def _command(words: str, *flags: tuple[str, object]) -> str:
        given = [f"{flag} {shlex.quote(str(value))}" for flag, value in flags if value is not None]
        return " ".join(["onboard", words, *given])

    def _unfinished(self, step: str, what: str, failed: OnboardError, command: str) -> None:
        """Record a tool that failed without stopping setup: what, why, and the command that finishes it."""
        self.report.data[step] = {"action": "failed", "error": failed.to_dict()}
        self.left_undone(f"{what} could not be installed", failed, command)
        self.say(f"  Could not install {what}: {failed.message}", style="red")
        if failed.hint:
            self.say(f"  {failed.hint}")
        self.say(f"  Setup carries on with your profile; afterwards, finish with: {command}")

    def left_undone(self, said: str, failed: OnboardError, command: str) -> None:
        """A step left undone (``said``: what, as a sentence) for the closing lines and the exit code."""
        self.report.data.setdefault("unfinished", []).append(
            {"step": said, "error": failed.message, "command": command}
        )
        if self.report.exit_code == ExitCode.OK:
            self.report.exit_code = failed.exit_code

    def _path_hint(self, hint: Any, problems: tuple[str, ...]) -> None:
        for problem in problems:
            self.say(f"  {problem}", style="yellow")
        if hint is not None:
            line = f"To put the plugin first on PATH, {hint}"
            self.say(f"  {line}", style="yellow")
            self.report.warnings.append(line)

    def aws_cli_screen(self, platform: Platform) -> None:
        from onboard.plugin.awscli import detect_awscli, explain_install, install_awscli

        self.screen("AWS CLI")
        found = detect_awscli()
        self.aws_cli_major, self.aws_cli_version = found.major, found.version
        if found.usable:
            self.report.data["aws_cli"] = {"action": "kept", **found.to_dict()}
            self.say(f"  {found.reason} at {found.path}: nothing to do.")
            return
        self.say(f"  {found.reason}.", style="yellow")
        # A 60 MB download that changes PATH: only when asked for (--aws-cli, or yes at the prompt).
        installable = platform.is_linux or platform.os == "macos"
        if not (
            installable and self.ask.answer("install_aws_cli", given=self.options.aws_cli, default=False)
        ):
            self.report.data["aws_cli"] = {"action": "explained", **found.to_dict()}
            self.report.warnings.append(f"{found.reason}: `aws ssm start-session` needs the AWS CLI.")
            for line in explain_install(platform).splitlines():
                self.say(f"  {line}")
            return
        try:
            installed = install_awscli(
                platform=platform, bin_dir=self.options.bin_dir, progress=self.out is not None
            )
        except EnvironmentProblem as failed:
            self._unfinished("aws_cli", "the AWS CLI", failed, "onboard setup --aws-cli")
            return
        self.aws_cli_major, self.aws_cli_version = 2, installed.version
        self.report.data["aws_cli"] = {"action": "installed", **installed.to_dict()}
        self.say(f"  AWS CLI {installed.version} installed at {installed.link}.", style="green")
