"""``onboard trainer check-account``: is the account ready for class? Checked with doctor's runner and model.

The checks (:mod:`onboard.trainer.checks`) run through :func:`onboard.doctor.service.run_doctor` with
the trainer's profile, so findings, the concurrent runner, ``--fix`` (fix, then check again) and the
report are doctor's own; only the checks and the facts they read are the trainer's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from onboard.doctor.context import DoctorContext, DoctorOptions
from onboard.doctor.model import Check
from onboard.doctor.service import Report, diagnose, run_doctor
from onboard.trainer.inputs import need_team, policy_inputs

#: Seconds each check may take: the slowest is one wide IAM read.
CHECK_TIMEOUT = 20.0


@dataclass(frozen=True)
class AccountOptions:
    team: Path | None = None
    #: The trainer's profile; None: $AWS_PROFILE, else the default profile.
    profile: str | None = None
    #: The learners to check; empty: the members of ``group``.
    learners: tuple[str, ...] = ()
    group: str | None = None
    account: str | None = None


def _checks(options: AccountOptions) -> Callable[[DoctorContext], list[Check]]:
    from onboard.trainer.checks import build_checks
    from onboard.trainer.facts import AccountFacts

    def build(ctx: DoctorContext) -> list[Check]:
        assert ctx.team is not None  # need_team() found it before the run
        inputs = policy_inputs(ctx.team, account=options.account)
        facts = AccountFacts(ctx, ctx.team, inputs, learners=options.learners, group=options.group)
        return build_checks(facts)

    return build


def _doctor_options(options: AccountOptions, environ: Mapping[str, str]) -> DoctorOptions:
    team = need_team(options.team)
    if options.profile:
        profile, chosen_by = options.profile, "--profile"
    elif environ.get("AWS_PROFILE"):
        profile, chosen_by = environ["AWS_PROFILE"], "AWS_PROFILE"
    else:
        profile, chosen_by = "default", "the default (the AWS CLI's)"
    return DoctorOptions(
        profile=profile, profile_chosen_by=chosen_by, team=str(team.path), timeout=CHECK_TIMEOUT
    )


def plan(options: AccountOptions, environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(check title, fix) for every safe fix the account needs now: what ``--fix`` would do."""
    environ = dict(os.environ if environ is None else environ)
    _, findings = diagnose(_doctor_options(options, environ), environ=environ, checks=_checks(options))
    return [(f.title, f.fix.describe) for f in findings if f.fix is not None and not f.status.passed]


def check_account(
    options: AccountOptions,
    *,
    fix: bool = False,
    confirm: Callable[[str], bool] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Report:
    """Every check once; with ``fix``, each safe fix offered to ``confirm`` (default: all), then again."""
    environ = dict(os.environ if environ is None else environ)
    return run_doctor(
        _doctor_options(options, environ), fix=fix, confirm=confirm, environ=environ, checks=_checks(options)
    )
