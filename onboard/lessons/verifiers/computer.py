"""Verifiers that look at the learner's computer: the plugin, the profile, who the keys belong to, a
command's output. Their evidence is what this computer shows (and, for ``identity``, STS's answer); a
trainer cannot look it up again in AWS, and the record says which evidence that is.

``command_output`` runs a command here. The shipped lessons' commands are onboard's own; a lesson from
elsewhere runs its commands only with the learner's consent (:mod:`onboard.lessons.consent`).
"""

from __future__ import annotations

import os
import subprocess

from onboard.lessons.verifiers.base import CheckContext, Evidence, Verdict, Verifier
from onboard.secrets import scrub


class PluginInstalled(Verifier):
    kind = "plugin_installed"

    def run(self, context: CheckContext) -> Verdict:
        from onboard.plugin.status import plugin_status

        check = "the AWS CLI finds a current session-manager-plugin"
        status = plugin_status()
        if status.ok:
            return Verdict(
                check,
                True,
                f"{status.active_path} is version {status.active_version}",
                found=[Evidence("plugin", str(status.active_path), detail=str(status.active_version))],
            )
        return Verdict(
            check, False, "; ".join(status.problems), "Run `onboard plugin install`, then check again."
        )


class ProfileConfigured(Verifier):
    """The profile exists in the AWS files (as botocore reads them) with a region and access keys."""

    kind = "profile_configured"
    optional = ("profile", "region")

    def run(self, context: CheckContext) -> Verdict:
        import boto3
        import botocore.exceptions

        profile = self.get("profile", context.settings.profile)
        check = f"the AWS profile {profile!r} has a region and access keys"
        fix = "Run `onboard setup` to write it."
        try:
            session = boto3.Session(profile_name=profile)
            credentials = session.get_credentials()
        except botocore.exceptions.ProfileNotFound:
            return Verdict(check, False, f"there is no profile {profile!r} in your AWS files", fix)
        except botocore.exceptions.BotoCoreError as broken:
            return Verdict(
                check, False, scrub(f"the AWS files cannot be read: {broken}"), "Run `onboard doctor`."
            )
        region = session.region_name
        if not region:
            return Verdict(check, False, f"the profile {profile!r} has no region", fix)
        wanted = self.get("region")
        if wanted and region != wanted:
            return Verdict(
                check, False, f"the profile {profile!r} uses {region}, the team uses {wanted}", fix
            )
        if credentials is None:
            return Verdict(check, False, f"the profile {profile!r} has no access keys", fix)
        key_id = credentials.access_key
        return Verdict(
            check,
            True,
            f"profile {profile!r}: region {region}, access key ...{key_id[-4:]}",
            found=[Evidence("profile", profile, detail=f"region {region}")],
        )


class IdentityIs(Verifier):
    """STS says who the profile's keys belong to (and, optionally, that it is the expected user)."""

    kind = "identity"
    optional = ("user",)

    def run(self, context: CheckContext) -> Verdict:
        from onboard.identity import check_identity

        user = self.get("user")
        check = f"AWS knows your keys{f' as {user}' if user else ''}"
        settings = context.settings
        found = check_identity(
            settings.profile,
            region=settings.region,
            endpoint_url=settings.endpoint_url,
            timeout=max(1.0, min(settings.read_timeout, context.remaining())),
        )
        if user and found.user_name != user:
            return Verdict(
                check,
                False,
                f"the keys belong to {found.arn}, not {user}",
                "Write your own access keys with `onboard setup`.",
            )
        return Verdict(check, True, f"you are {found.arn}", found=[Evidence("identity", str(found.arn))])


class CommandOutput(Verifier):
    """A command run on this computer (with AWS_PROFILE set) exits as expected and prints the pattern."""

    kind = "command_output"
    required = ("command",)
    optional = ("expect", "exit", "explain", "says")

    def run(self, context: CheckContext) -> Verdict:
        from onboard.lessons.verifiers.patterns import compiled, search

        command = self.data["command"]
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else [str(part) for part in command]
        shown = command if isinstance(command, str) else " ".join(argv)
        expect = self.get("expect")
        wanted_exit = self.get("exit", 0)
        check = self.get("says") or f"`{shown}` exits {wanted_exit}" + (
            " and prints what the step asks for" if expect else ""
        )
        env = {**os.environ, "AWS_PROFILE": context.settings.profile}
        if context.settings.endpoint_url:
            env["AWS_ENDPOINT_URL"] = context.settings.endpoint_url
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                cwd=context.workdir,
                timeout=max(1.0, context.remaining()),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return Verdict(
                check, False, "the command gave no answer in time", "Check your network, then try again."
            )
        except OSError as error:
            return Verdict(
                check, False, f"the command cannot run: {error.strerror}", "Install what it needs."
            )
        output = scrub(done.stdout + done.stderr).strip()
        tail = " | ".join(output.splitlines()[-3:])[:300]
        exit_ok = done.returncode != 0 if wanted_exit == "nonzero" else done.returncode == wanted_exit
        hint = self.get("explain", "Do the step's commands, then check again.")
        if not exit_ok:
            return Verdict(check, False, f"it exited {done.returncode}: {tail}", hint)
        if expect and search(compiled(expect), output) is None:
            return Verdict(check, False, f"its output lacks what the step asks for: {tail}", hint)
        found = Evidence("command", shown, detail=f"exit {done.returncode}")
        return Verdict(check, True, f"exit {done.returncode}: {tail}", found=[found])
