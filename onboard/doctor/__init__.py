"""``onboard doctor``: find what is broken in a local Session Manager setup, explain it, and fix it.

Scriptable from Python (trainers do)::

    from onboard.doctor import DoctorOptions, run_doctor

    report = run_doctor(DoctorOptions(profile="ssm", team="team.toml"))
    for finding in report.findings:
        print(finding.status.value, finding.title, finding.summary, finding.next)
    report.exit_code   # 0 all ok, 1 a failure or error, 3 warnings only

Checks are small units (:class:`Check`) in groups (:class:`Group`: Tools, Config files, Credentials, Network,
Permissions, Targets), run concurrently by :func:`onboard.doctor.runner.run_checks`; each gives a
:class:`Finding`.
"""

from onboard.doctor.context import DoctorContext, DoctorOptions, Target
from onboard.doctor.model import Check, Finding, Fix, FixResult, Group, Status
from onboard.doctor.service import AppliedFix, FixOutcome, GroupSummary, Report, run_doctor

__all__ = [
    "AppliedFix",
    "Check",
    "DoctorContext",
    "DoctorOptions",
    "Finding",
    "Fix",
    "FixOutcome",
    "FixResult",
    "Group",
    "GroupSummary",
    "Report",
    "Status",
    "Target",
    "run_doctor",
]
