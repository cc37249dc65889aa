"""`onboard setup`: from nothing to a working ssm profile, in screens that can also run unattended.

The screens, in order: the platform and the plan; the Session Manager plugin; the AWS CLI; the profile
name, region and output format; the access keys; the diff of ~/.aws/config and ~/.aws/credentials
(secrets masked) and a confirmation; writing them; the identity check (STS GetCallerIdentity), showing
the IAM user's ARN; and what to run next. Every answer can come from a flag, the team file, what is
already configured, or a prompt (see :mod:`onboard.setup.questions`).

Files are written only after the confirmation, each one atomically (onboard.awsconfig), so Ctrl-C at
any screen leaves every file as it was or fully written. When the identity check fails after writing,
the files stay written (a backup of each earlier version is kept) and the run exits non-zero, saying
what to fix: running setup again with the right keys replaces them.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

from onboard.errors import EnvironmentProblem, ExitCode, OnboardError, UsageError
from onboard.facts import DEFAULT_PROFILE
from onboard.secrets import Secret
from onboard.setup.report import SetupOptions, SetupReport
from onboard.setup.tools import ToolScreens

if TYPE_CHECKING:
    from onboard.awsconfig import AccessKey, ProfilePlan
    from onboard.platform import Platform

SECRET_ENV = "ONBOARD_SECRET_ACCESS_KEY"  # noqa: S105 - the name of a variable, not a secret
DEFAULT_OUTPUT = "json"
#: The first of the lessons shipped with onboard (lessons/01-ready.md).
FIRST_LESSON = "ready"


class Wizard(ToolScreens):
    """The whole run: the tools (:class:`ToolScreens`), then the profile, the keys, the review, the write
    and the identity check."""

    @property
    def endpoint(self) -> str | None:
        """The endpoint the profile gets: --endpoint-url, else the team file's, else None (AWS's own)."""
        return self.options.endpoint_url or (self.team.endpoint_url if self.team is not None else None)

    # ---------------------------------------------------------------------------------------- steps

    def run(self) -> SetupReport:
        from onboard.team import find_team

        self.team = find_team(self.options.team)
        if self.team is not None and self.team.ca_bundle is not None:
            from onboard.setup.cabundle import ca_bundle_copy

            self.ca_copy = ca_bundle_copy(self.team.team, self.team.ca_bundle)
        platform = self.platform_screen()
        self.plugin_screen(platform)
        self.aws_cli_screen(platform)
        profile, region, output = self.profile_screen()
        key = self.keys_screen(profile)
        plan = self.plan(profile, region, output, key)
        if self.review_screen(plan):
            self.apply(plan)
            self.identity_screen(profile, region, key)
            self.next_steps(profile)
        installed = [
            self.report.data.get(step, {}).get("action") == "installed" for step in ("plugin", "aws_cli")
        ]
        self.report.data["changed"] = bool(self.report.data.get("written")) or any(installed)
        left = self.report.data.get("unfinished", [])
        if left:  # one command finishes it all: the step's own, or setup again for several
            self.report.data["finish"] = left[0]["command"] if len(left) == 1 else self.rerun_command()
        return self.report

    def platform_screen(self) -> Platform:
        from onboard.platform import detect

        platform = detect()
        self.report.data["platform"] = platform.to_dict()
        self.screen("This computer")
        self.say(f"  {platform.describe()}")
        if self.team is not None:
            self.report.data["team"] = {"name": self.team.team, "path": str(self.team.path)}
            self.say(f"  Team file: {self.team.path} (team {self.team.team})")
        from onboard.awsconfig import aws_files, find_problems

        files = aws_files()
        self.say("  Plan: 1. the Session Manager plugin  2. the AWS CLI  3. your profile and access keys, in")
        self.say(f"        {files.config} and {files.credentials}  4. a check of the keys with AWS")
        if self.team is not None and self.team.endpoint_url:
            from onboard.team import endpoint_is_trusted

            url = self.team.endpoint_url
            trusted = endpoint_is_trusted(url)
            kind = (
                "an AWS endpoint or this computer" if trusted else "NOT AWS: you will be asked to confirm it"
            )
            self.say(f"  Endpoint: the team file sends every AWS call of the profile to {url} ({kind}).")
        # A file botocore cannot read is refused now, before any question, with its line and the fix;
        # a byte-order mark alone is removed when the user agrees (it is the only change made to it).
        for problem in find_problems(files):
            if problem.severity != "error":
                continue
            where = f"{problem.path}, line {problem.line}" if problem.line else str(problem.path)
            hint = problem.hint
            if problem.code == "bom":
                if self.ask.interactive or self.options.yes:
                    self.say(f"  {where}: {problem.message}.", style="yellow")
                    if self.ask.answer("remove_bom", default=True):
                        self.strip_bom = True
                        continue
                hint += " Or let onboard remove it: run setup again with --yes."
            raise UsageError(f"{where}: {problem.message}", hint)
        return platform

    def profile_screen(self) -> tuple[str, str, str]:
        self.screen("Profile")
        team_profile = self.team.profile if self.team is not None else None
        profile = self.ask.answer(
            "profile", given=self.options.profile, default=team_profile or DEFAULT_PROFILE
        )
        existing = existing_profile(profile)
        team_region = self.team.region if self.team is not None else None
        region = self.ask.answer(
            "region", given=self.options.region, default=team_region or existing.get("region")
        )
        output = self._output_format(existing.get("output"))
        self.report.data.update(profile=profile, region=region, output=output)
        self.say(f"  Profile {profile}: region {region}, output {output}.")
        # The environment beats the profile's region for every aws command, --profile or not.
        for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            overriding = os.environ.get(variable)
            if overriding and overriding != region:
                warning = (
                    f"{variable}={overriding} in your environment overrides the profile's region {region}: "
                    f"remove it from your shell startup file (or `unset {variable}`)."
                )
                self.say(f"  {warning}", style="yellow")
                self.report.warnings.append(warning)
                break
        return profile, region, output

    def _output_format(self, existing: str | None) -> str:
        """The output format, offered and checked against what the AWS CLI found can print."""
        from onboard.awsconfig.profile import output_formats
        from onboard.setup.questions import Choice

        formats = output_formats(self.aws_cli_major)
        output = self.ask.answer(
            "output",
            given=self.options.output,
            default=existing if existing in formats else DEFAULT_OUTPUT,
            choices=tuple(Choice(name, name) for name in formats),
        )
        if output not in formats:
            raise UsageError(
                f"AWS CLI v{self.aws_cli_major} ({self.aws_cli_version}) cannot print {output!r} output "
                f"(it prints {', '.join(formats)}); every aws command would fail with 'Unknown output type'",
                f"Choose one of {', '.join(formats)} (e.g. --output json), or install AWS CLI v2 first.",
            )
        return output

    def keys_screen(self, profile: str) -> AccessKey | None:
        """The key to write, or None to keep the profile's keys as they are."""
        from onboard.awsconfig import clean_access_key, read_credentials_csv

        self.screen("Access keys")
        has_keys = "aws_access_key_id" in existing_profile(profile)
        secret = self._secret_from_flags()
        options = self.options
        if options.credentials_csv is not None:
            key = read_credentials_csv(self.ask.answer("credentials_csv", given=options.credentials_csv))
        elif options.access_key_id is not None or secret is not None:
            if options.access_key_id is None or secret is None:
                raise UsageError(
                    "an access key id and its secret go together: only one was given",
                    "Give --access-key-id with the secret on standard input (--secret-access-key-stdin) or "
                    f"in ${SECRET_ENV}, or use --credentials-csv.",
                )
            key = clean_access_key(options.access_key_id, secret)
        else:
            source = self._key_source(has_keys)
            if source == "keep":
                self.report.data["keys"] = {"action": "kept"}
                self.say(f"  Keeping the keys already in the profile {profile}.")
                return None
            key = self._typed_or_csv_key(source)
        if key.is_temporary:
            raise UsageError(
                "this is a temporary access key (ASIA...): it expires within hours and needs a session token",
                "Create a long-term access key for your IAM user (Security credentials > Create access key) "
                "and give its CSV with --credentials-csv.",
            )
        for notice in key.notices:
            self.say(f"  {notice}", style="yellow")
            self.report.warnings.append(notice)
        self.report.data["keys"] = {"action": "written", "access_key_id": key.access_key_id}
        self.say(f"  Access key {key.access_key_id}, secret {key.secret_access_key.masked(keep=4)}.")
        return key

    def _secret_from_flags(self) -> Secret | None:
        if self.options.secret_from_stdin:
            line = sys.stdin.readline()
            if not line.strip():
                raise UsageError(
                    "--secret-access-key-stdin was given but standard input is empty",
                    "Pipe the secret in, e.g. from a password manager: `pass show aws | onboard setup ...`.",
                )
            return Secret(line.strip())
        from_env = os.environ.get(SECRET_ENV)
        return Secret(from_env) if from_env else None

    def _key_source(self, has_keys: bool) -> str:
        from onboard.setup.questions import KEY_SOURCES

        choices = tuple(c for c in KEY_SOURCES if c.value != "keep" or has_keys)
        if not self.ask.interactive and not has_keys:
            raise UsageError(
                "no access keys were given, and the profile has none yet",
                "Give --credentials-csv FILE (the IAM console's CSV), or --access-key-id with the secret "
                f"on standard input (--secret-access-key-stdin) or in ${SECRET_ENV}.",
            )
        return self.ask.answer("key_source", default="keep" if has_keys else "csv", choices=choices)

    def _typed_or_csv_key(self, source: str) -> AccessKey:
        from onboard.awsconfig import clean_access_key, read_credentials_csv

        while True:
            try:
                if source == "csv":
                    return read_credentials_csv(self.ask.answer("credentials_csv"))
                key_id = self.ask.answer("access_key_id")
                return clean_access_key(key_id, Secret(self.ask.answer("secret_access_key")))
            except UsageError as wrong:  # a prompt can be answered again; a flag cannot
                self.say(f"  {wrong.message}", style="red")
                if wrong.hint:
                    self.say(f"  {wrong.hint}")

    def plan(self, profile: str, region: str, output: str, key: AccessKey | None) -> ProfilePlan:
        from onboard.awsconfig import ProfileSettings, plan_profile

        endpoint = self.endpoint
        extra = {"endpoint_url": endpoint} if endpoint else {}
        if self.ca_copy is not None:  # a class lab's CA: the profile trusts it for the endpoint
            extra["ca_bundle"] = str(self.ca_copy.target)
        settings = ProfileSettings(
            name=profile,
            region=region,
            output=output,
            access_key_id=key.access_key_id if key else None,
            secret_access_key=key.secret_access_key if key else None,
            extra_config=extra,
        )
        return plan_profile(settings, strip_bom=self.strip_bom)

    def review_screen(self, plan: ProfilePlan) -> bool:
        """Show the diff and ask; False when nothing is to be written (dry run, no-op, declined)."""
        self.screen("Changes to your AWS files")
        files = {
            "config": {"path": str(plan.files.config), "source": plan.files.config_source},
            "credentials": {"path": str(plan.files.credentials), "source": plan.files.credentials_source},
        }
        self.report.data.update(files=files, dry_run=self.options.dry_run)
        if plan.is_noop:
            self.say("  Nothing to change: both files already hold these settings.")
            return not self.options.dry_run
        diffs = [change.diff() for change in plan.changes if change.before != change.after]
        self.report.data["diff"] = "".join(diffs)
        for text in diffs:
            self.say(text.rstrip("\n"))
        if plan.replaced:
            self.report.data["replaced"] = list(plan.replaced)
            self.say("  These existing settings will change:", style="yellow")
            for line in plan.replaced:
                self.say(f"    {line}", style="yellow")
        if self.options.dry_run:
            self.say("  Dry run: nothing was written.")
            return False
        self._confirm_endpoint()
        if plan.replaced and not self.ask.answer("replace_profile", default=self.options.yes or None):
            raise OnboardError(
                "the profile was left as it was",
                "Choose another profile name with --profile, or confirm the replacement (a backup is kept).",
            )
        if not self.ask.answer("write", default=True):
            raise OnboardError("nothing was written", "Run `onboard setup` again when you are ready.")
        return True

    def _confirm_endpoint(self) -> None:
        """A team file's endpoint that is neither AWS nor this computer is written only when confirmed."""
        from onboard.team import endpoint_is_trusted

        url = self.team.endpoint_url if self.team is not None else None
        if url is None or endpoint_is_trusted(url) or self.options.endpoint_url == url:
            return
        self.say(
            f"  The team file sets endpoint_url = {url}: every AWS call with this profile, signed with your "
            "keys, goes there instead of AWS.",
            style="yellow",
        )
        if not self.ask.answer("trust_endpoint", default=False):
            raise UsageError(
                f"the team file's endpoint {url} is not AWS and was not confirmed; nothing was written",
                "If your trainer gave you this endpoint, confirm it: run setup again with "
                f"--endpoint-url {url}",
            )

    def apply(self, plan: ProfilePlan) -> None:
        from onboard.awsconfig import apply_plan

        if self.ca_copy is not None:
            self.ca_copy.install()  # before the profile that names it, and even when the profile is as it was
        if plan.is_noop:
            return
        applied = apply_plan(plan)
        self.report.data["written"] = [
            {
                "path": str(done.path),
                "backup": str(done.backup) if done.backup else None,
                "tightened": list(done.tightened),
            }
            for done in applied
        ]
        for done in applied:
            backup = f" (previous version kept as {done.backup})" if done.backup else ""
            self.say(f"  Wrote {done.path}{backup}.", style="green")
            for said in done.tightened:
                self.say(f"  Made private: {said}", style="yellow")

    def identity_screen(self, profile: str, region: str, key: AccessKey | None) -> None:
        from onboard.identity import SKEW_WARNING_SECONDS, check_identity, describe_skew

        self.screen("Checking the keys with AWS")
        try:
            identity = check_identity(profile, region=region, endpoint_url=self.endpoint)
        except OnboardError as failed:
            # The keys may be fine when AWS could not be reached at all (a proxy, no network): that is a
            # step left undone, finished by running setup again, not a fault of the keys.
            unreachable = isinstance(failed, EnvironmentProblem)
            self.report.data["identity"] = {
                "ok": False,
                "reached": not unreachable,
                "error": failed.to_dict(),
            }
            self.say(f"  {failed.message}", style="red")
            if unreachable:
                self.left_undone("the keys could not be checked with AWS", failed, self.rerun_command())
                self.say(
                    f"  {failed.hint or ''} Your files were written as shown; run setup again once AWS "
                    "can be reached, to check the keys."
                )
                return
            self.report.exit_code = failed.exit_code
            written = " Your files were written as shown; run setup again with the right keys to fix them."
            self.say(f"  {failed.hint or ''}{written if self.report.data.get('written') else ''}")
            return
        # The check read the profile from the files; another setup may have written them since this one
        # did. Only this run writes this key, so the profile still holding it afterwards means the check
        # above used it; otherwise the identity seen may be someone else's, and is not shown.
        holds_now = existing_profile(profile).get("aws_access_key_id")
        if key is not None and holds_now != key.access_key_id:
            replaced = OnboardError(
                f"Another program changed profile {profile} while setup checked it: it now holds access key "
                f"{holds_now or '(none)'}, not {key.access_key_id}, so this check says nothing of your key",
                "Run setup again once the other program (another onboard setup, aws configure) is done.",
            )
            self.report.data["identity"] = {"ok": False, "error": replaced.to_dict()}
            self.report.exit_code = replaced.exit_code
            self.say(f"  {replaced.message}", style="red")
            self.say(f"  {replaced.hint}")
            return
        self.report.data["identity"] = {
            "ok": True,
            "arn": identity.arn,
            "account": identity.account,
            "user_name": identity.user_name,
        }
        self.say(f"  You are {identity.arn}", style="green")
        if identity.clock_skew and abs(identity.clock_skew) >= SKEW_WARNING_SECONDS:
            from onboard.identity import clock_fix_hint

            warning = f"This computer's clock is {describe_skew(identity.clock_skew)}. {clock_fix_hint()}"
            self.report.warnings.append(warning)

    def next_steps(self, profile: str) -> None:
        # A team file named on the command line must be named again; $ONBOARD_TEAM carries over by itself.
        team = f" --team {shlex.quote(str(self.options.team))}" if self.options.team else ""
        first_lesson = self.team.lessons.select[0] if self.team and self.team.lessons.select else FIRST_LESSON
        steps = [
            f"onboard doctor --profile {profile}{team}",
            f"onboard lesson start {first_lesson} --profile {profile}{team}",
        ]
        if self.team is not None and self.team.instances:
            steps.append(f"aws ssm start-session --target {self.team.instances[0].id} --profile {profile}")
        self.report.data["next_steps"] = steps
        if self.report.exit_code != ExitCode.OK:
            return
        self.screen("Next")
        for step in steps:
            self.say(f"  {step}")


def existing_profile(name: str) -> dict[str, str]:
    """What the AWS files already hold for ``name`` (config and credentials merged, as botocore reads)."""
    import botocore.exceptions
    import botocore.session

    try:
        return dict(botocore.session.Session().full_config.get("profiles", {}).get(name, {}))
    except botocore.exceptions.BotoCoreError:
        # A broken file: the writer names the file and line when it plans; there is nothing to reuse.
        return {}


def run_setup(options: SetupOptions, *, as_json: bool) -> SetupReport:
    """Run the wizard: prompts on a terminal, unattended with --yes, --json or no terminal."""
    from onboard.output import console
    from onboard.setup.questions import Asker

    interactive = not (options.yes or as_json) and sys.stdin.isatty() and sys.stdout.isatty()
    wizard = Wizard(options, Asker(interactive=interactive), None if as_json else console())
    return wizard.run()
