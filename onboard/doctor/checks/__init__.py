"""Every check doctor runs, by group (a module per group; Config files has two: config and environment)."""

from __future__ import annotations

from onboard.doctor.checks import config, credentials, environment, network, permissions, targets, tools
from onboard.doctor.context import DoctorContext
from onboard.doctor.model import Check


def build_checks(ctx: DoctorContext) -> list[Check]:
    """The fixed checks, and one Targets check per instance to look at."""
    return [
        *tools.CHECKS,
        *config.CHECKS,
        *environment.CHECKS,
        *credentials.CHECKS,
        *network.CHECKS,
        *permissions.CHECKS,
        *targets.checks_for(ctx.targets),
    ]
