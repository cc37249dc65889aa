"""The runner's contract: dependency order and skipping, concurrency, time limits, crashes as findings; and
the pieces under the checks that need no network (executable headers, merging duplicate sections)."""

from __future__ import annotations

import io
import struct
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures_doctor import FOREIGN_MACHINE, foreign_elf

from onboard.doctor import Check, DoctorOptions, Finding, Status, run_doctor
from onboard.doctor.binaries import executable_kind
from onboard.doctor.context import DoctorContext
from onboard.doctor.fixes import merge_duplicate_sections
from onboard.doctor.model import fail, ok
from onboard.doctor.report import render_report
from onboard.doctor.runner import run_checks
from onboard.errors import ExitCode, OnboardError


def context() -> DoctorContext:
    return DoctorContext.create(DoctorOptions())


def check(check_id: str, run, *needs: str, timeout: float | None = None) -> Check:
    return Check(check_id, "Tools", check_id.title(), run, tuple(needs), timeout)


def by_id(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.check_id: finding for finding in findings}


def test_checks_that_depend_on_a_failed_one_are_skipped_with_the_reason():
    ran: list[str] = []

    def passes(ctx):
        ran.append("passes")
        return ok("fine")

    def leaf(ctx):
        ran.append("leaf")
        return ok("never")

    checks = [
        check("broken", lambda ctx: fail("the file is broken")),
        check("passes", passes),
        check("needs-broken", leaf, "broken"),
        check("needs-skipped", leaf, "needs-broken"),
        check("needs-passing", passes, "passes"),
    ]
    found = by_id(run_checks(checks, context(), timeout=5))
    assert found["broken"].status is Status.FAIL
    assert found["needs-broken"].status is Status.SKIPPED
    assert "'Broken' failed" in found["needs-broken"].summary
    assert found["needs-skipped"].status is Status.SKIPPED
    assert "was skipped" in found["needs-skipped"].summary
    assert found["needs-passing"].status is Status.OK
    assert "leaf" not in ran and ran.count("passes") == 2


def test_a_dependant_reads_the_finding_it_depends_on():
    checks = [
        check("first", lambda ctx: ok("found", data={"answer": 42})),
        check("second", lambda ctx: ok(f"got {ctx.finding('first').data['answer']}"), "first"),
    ]
    assert by_id(run_checks(checks, context(), timeout=5))["second"].summary == "got 42"


def test_independent_checks_run_at_the_same_time():
    def slow(ctx):
        time.sleep(0.5)
        return ok("slept")

    started = time.monotonic()
    run_checks([check(f"slow-{n}", slow) for n in range(4)], context(), timeout=5)
    assert time.monotonic() - started < 1.5


def test_a_crashing_check_becomes_an_error_finding_without_its_secret_or_a_traceback():
    def crashes(ctx):
        raise ValueError("bad state near aws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCY")

    found = by_id(
        run_checks(
            [check("crashes", crashes), check("after", lambda c: ok("x"), "crashes")], context(), timeout=5
        )
    )
    assert found["crashes"].status is Status.ERROR
    assert "ValueError" in found["crashes"].summary
    assert "wJalrXUtnFEMIK7MDENGbPxRfiCY" not in found["crashes"].summary
    assert "crashes" in found["crashes"].evidence[0]  # where it was raised, for the bug report
    assert found["after"].status is Status.SKIPPED
    assert "could not run" in found["after"].summary


def test_an_onboard_error_is_a_failure_with_its_hint_as_the_next_step():
    def refuses(ctx):
        raise OnboardError("the profile is missing", "Run `onboard setup`.")

    found = run_checks([check("refuses", refuses)], context(), timeout=5)[0]
    assert (found.status, found.summary, found.next) == (
        Status.FAIL,
        "the profile is missing",
        "Run `onboard setup`.",
    )


def test_a_check_past_its_time_limit_is_an_error_and_does_not_hold_up_the_run():
    release = threading.Event()

    def hangs(ctx):
        release.wait(30)
        return ok("late")

    started = time.monotonic()
    found = by_id(
        run_checks(
            [check("hangs", hangs, timeout=0.3), check("quick", lambda ctx: ok("done"))], context(), timeout=5
        )
    )
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 2
    assert found["hangs"].status is Status.ERROR
    assert "did not finish within 0.3 s" in found["hangs"].summary
    assert found["quick"].status is Status.OK


def test_a_crash_in_a_full_run_is_reported_not_raised_and_fails_the_run():
    report = run_doctor(checks=lambda ctx: [check("crashes", lambda c: 1 / 0)])
    assert report.exit_code is ExitCode.FAILURE
    from rich.console import Console

    out = io.StringIO()
    render_report(Console(file=out, width=200), report.to_dict(), verbose=True)
    assert "ZeroDivisionError" in out.getvalue()
    assert "Traceback" not in out.getvalue()


def test_warnings_alone_exit_with_code_3():
    from onboard.doctor.model import warn

    report = run_doctor(checks=lambda ctx: [check("a", lambda c: ok("x")), check("b", lambda c: warn("y"))])
    assert report.exit_code is ExitCode.WARNINGS
    assert report.to_dict()["status"] == "warn"


def test_unknown_dependencies_are_a_programming_error():
    with pytest.raises(ValueError, match="unknown checks"):
        run_checks([check("a", lambda c: ok("x"), "nowhere")], context(), timeout=1)


# --- executable headers --------------------------------------------------------------------------------


def test_the_running_interpreter_is_built_for_this_machine(tmp_path: Path):
    from onboard.doctor.checks.tools import machine_arch

    kind = executable_kind(Path(sys.executable).resolve())
    assert kind.format == "elf"
    assert kind.runs_on(machine_arch()) is True


def test_an_elf_for_another_processor_is_named(tmp_path: Path):
    from onboard.doctor.checks.tools import machine_arch

    path = tmp_path / "plugin"
    path.write_bytes(foreign_elf())
    kind = executable_kind(path)
    assert kind.runs_on(machine_arch()) is False
    assert kind.arches == ({0xB7: "arm64", 0x3E: "x86_64"}[FOREIGN_MACHINE],)


@pytest.mark.parametrize(
    ("head", "arches"),
    [
        (b"\xcf\xfa\xed\xfe" + struct.pack("<I", 0x0100000C), ("arm64",)),
        (b"\xcf\xfa\xed\xfe" + struct.pack("<I", 0x01000007), ("x86_64",)),
        (
            b"\xca\xfe\xba\xbe"
            + struct.pack(">I", 2)
            + struct.pack(">IIIII", 0x01000007, 3, 0, 0, 0)
            + struct.pack(">IIIII", 0x0100000C, 0, 0, 0, 0),
            ("x86_64", "arm64"),
        ),
    ],
    ids=["mach-o-arm64", "mach-o-x86_64", "universal"],
)
def test_mach_o_headers_name_their_processors(tmp_path: Path, head: bytes, arches: tuple[str, ...]):
    path = tmp_path / "plugin"
    path.write_bytes(head + bytes(64))
    kind = executable_kind(path)
    assert kind.arches == arches
    assert kind.runs_on("arm64") is ("arm64" in arches)


def test_a_script_runs_anywhere(tmp_path: Path):
    path = tmp_path / "plugin"
    path.write_bytes(b"#!/bin/sh\necho 1.2.764.0\n")
    assert executable_kind(path).runs_on("arm64") is True


# --- merging duplicate sections ---------------------------------------------------------------------------


def test_merging_keeps_comments_and_line_endings_and_lets_later_values_win():
    before = (
        b"# my keys\r\n[ssm]\r\naws_access_key_id = OLD\r\nregion = x\r\n\r\n[other]\r\nk = v\r\n"
        b"# second copy\r\n[ssm]\r\naws_access_key_id = NEW\r\naws_secret_access_key = S\r\n"
    )
    after = merge_duplicate_sections(before).decode()
    assert after == (
        "# my keys\r\n[ssm]\r\naws_access_key_id = NEW\r\nregion = x\r\naws_secret_access_key = S\r\n\r\n"
        "[other]\r\nk = v\r\n# second copy\r\n"
    )


def test_merging_a_file_without_duplicates_changes_nothing():
    data = b"[a]\nx = 1\n\n[b]\ny = 2"
    assert merge_duplicate_sections(data) is data


def test_a_check_with_an_unknown_group_fails_loudly_instead_of_leaving_the_summary():
    # Before, a misspelt group made the check's finding vanish from the per-group summary lines.
    with pytest.raises(ValueError, match=r"check 'typo' names the unknown group 'Tool'.*Tools"):
        Check("typo", "Tool", "Typo", lambda ctx: ok("fine"))


def test_every_finding_is_counted_in_its_groups_summary():
    from onboard.doctor.model import Group

    report = run_doctor(
        DoctorOptions(),
        checks=lambda ctx: [
            Check("a", Group.TOOLS, "A", lambda ctx: ok("fine")),
            Check("b", "Targets", "B", lambda ctx: fail("broken")),
        ],
    )
    groups = {group.name: group for group in report.groups()}
    assert set(groups) == {Group.TOOLS, Group.TARGETS}
    assert (groups[Group.TARGETS].status, groups[Group.TARGETS].counts) == (Status.FAIL, {Status.FAIL: 1})
    summary = report.to_dict()["groups"]
    assert summary == [
        {"name": "Tools", "status": "ok", "counts": {"ok": 1}},
        {"name": "Targets", "status": "fail", "counts": {"fail": 1}},
    ]
