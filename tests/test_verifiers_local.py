"""Verifiers that look at this computer (files, commands, profile, plugin), combinators, lint rules."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from onboard.awsclient import ClientSettings
from onboard.labplugin.launcher import write_launcher
from onboard.lessons.verifiers import (
    CheckContext,
    build,
    run_checks,
    run_verifier,
    split_s3_url,
    verifier_problems,
)


def _context(workdir: Path, *, began_at: datetime | None = None, profile: str = "ssm") -> CheckContext:
    return CheckContext(
        settings=ClientSettings(profile=profile, region="eu-west-1"),
        began_at=began_at or datetime.now(timezone.utc) - timedelta(seconds=30),
        nonce="nonce-5eed5eed",
        workdir=workdir,
    )


def _verify(context: CheckContext, **data):
    return run_verifier(build(data), context)


def test_local_file_checks_place_content_and_freshness(tmp_path):
    context = _context(tmp_path)
    missing = _verify(context, kind="local_file", path="back-home.txt")
    assert not missing.passed and "does not exist" in missing.evidence
    (tmp_path / "back-hom.txt").write_text("x")
    assert "back-hom.txt" in _verify(context, kind="local_file", path="back-home.txt").evidence
    (tmp_path / "back-home.txt").write_text("hello nonce-5eed5eed\n")
    assert _verify(context, kind="local_file", path="back-home.txt").passed  # the nonce by default
    lacking = _verify(context, kind="local_file", path="back-home.txt", contains=["hello", "changed on"])
    assert not lacking.passed and "lacks 'changed on'" in lacking.evidence
    old = time.time() - 3600
    os.utime(tmp_path / "back-home.txt", (old, old))
    stale = _verify(context, kind="local_file", path="back-home.txt")
    assert not stale.passed and "before the step began" in stale.evidence


def test_command_output_checks_exit_status_and_pattern(tmp_path):
    context = _context(tmp_path)
    passed = _verify(
        context, kind="command_output", command="echo profile=$AWS_PROFILE", expect="^profile=ssm$"
    )
    assert passed.passed and "profile=ssm" in passed.evidence
    wrong = _verify(
        context, kind="command_output", command=["sh", "-c", "echo nope"], expect="yes", explain="say yes"
    )
    assert not wrong.passed and wrong.hint == "say yes"
    refused = _verify(
        context,
        kind="command_output",
        command="echo AccessDenied >&2; exit 254",
        exit="nonzero",
        expect="AccessDenied",
    )
    assert refused.passed
    assert not _verify(context, kind="command_output", command="exit 3").passed


def test_command_output_never_shows_a_secret(tmp_path):
    context = _context(tmp_path)
    leaked = _verify(
        context, kind="command_output", command="echo aws_secret_access_key=abcdEFGH1234abcdEFGH1234; exit 1"
    )
    assert "abcdEFGH1234" not in leaked.evidence


def test_a_check_that_outlives_its_time_limit_fails_without_waiting(tmp_path):
    context = _context(tmp_path)
    started = time.monotonic()
    verdicts = run_checks([{"kind": "command_output", "command": "sleep 5"}], context, time_limit=1)
    assert time.monotonic() - started < 3
    assert not verdicts[0].passed


def _write_profile(home: Path, body: str) -> None:
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    (home / ".aws" / "config").write_text(body)


def test_profile_configured_needs_region_and_keys(tmp_path, isolated_home):
    context = _context(tmp_path)
    missing = _verify(context, kind="profile_configured")
    assert not missing.passed and "no profile 'ssm'" in missing.evidence and "onboard setup" in missing.hint
    _write_profile(isolated_home, "[profile ssm]\noutput = json\n")
    assert "no region" in _verify(context, kind="profile_configured").evidence
    _write_profile(isolated_home, "[profile ssm]\nregion = eu-west-1\n")
    assert "no access keys" in _verify(context, kind="profile_configured").evidence
    (isolated_home / ".aws" / "credentials").write_text(
        "[ssm]\naws_access_key_id = AKIAEXAMPLE123456789\n"
        "aws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY00\n"
    )
    passed = _verify(context, kind="profile_configured", region="eu-west-1")
    assert passed.passed and "...6789" in passed.evidence and "wJalr" not in passed.evidence
    other = _verify(context, kind="profile_configured", region="ap-northeast-1")
    assert not other.passed and "uses eu-west-1" in other.evidence


def test_plugin_installed_follows_path(tmp_path, monkeypatch):
    context = _context(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    missing = _verify(context, kind="plugin_installed")
    assert not missing.passed and "no session-manager-plugin on PATH" in missing.evidence
    bin_dir = write_launcher(tmp_path / "bin", sys.executable).parent
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    found = _verify(context, kind="plugin_installed")
    assert found.passed and str(bin_dir) in found.evidence


def test_all_and_any_combine_verdicts(tmp_path):
    context = _context(tmp_path)
    (tmp_path / "a.txt").write_text("nonce-5eed5eed")
    good = {"kind": "local_file", "path": "a.txt"}
    bad = {"kind": "local_file", "path": "b.txt"}
    both = _verify(context, kind="all", of=[good, bad])
    assert not both.passed and [c.passed for c in both.children] == [True, False] and "b.txt" in both.hint
    either = _verify(context, kind="any", of=[bad, good])
    assert either.passed and either.to_dict()["hint"] is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "sesion_started", "target": "i-1"}, "did you mean 'session_started'"),
        ({"kind": "s3_object", "bucket": "b"}, "needs the field 'key'"),
        ({"kind": "local_file", "path": "x", "contians": "y"}, "did you mean 'contains'"),
        ({"kind": "any", "of": []}, "non-empty list"),
        ({"kind": "all", "of": [{"kind": "nope"}]}, "unknown verifier kind 'nope'"),
        (
            {"kind": "transcript_contains", "target": "i-1", "patterns": ["(unclosed"]},
            "not a regular expression",
        ),
        ("session_started", "is a table with a kind"),
    ],
)
def test_verifier_problems_name_what_is_wrong(data, message):
    assert any(message in problem for problem in verifier_problems(data))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:4566/logs/sessions/carol-1.log", ("logs", "sessions/carol-1.log")),
        ("https://s3.eu-west-1.amazonaws.com/logs/sessions/a.log", ("logs", "sessions/a.log")),
        ("https://logs.s3.eu-west-1.amazonaws.com/sessions/a.log", ("logs", "sessions/a.log")),
        ("s3://logs/sessions/a%20b.log", ("logs", "sessions/a b.log")),
    ],
)
def test_split_s3_url_reads_every_form(url, expected):
    assert split_s3_url(url) == expected


def test_a_session_log_is_read_as_turns_of_prompt_command_and_output():
    from onboard.lessons.verifiers.sessionlog import parse_session_log

    log = (
        "SessionId: carol-1\n\nsh-4.2$ whoami\nssm-user\nsh-4.2$ sudo su - analyst\n"
        "[analyst@ip-10-0-1-23 ~]$ echo 'sh-4.2$ whoami'\nsh-4.2$ whoami\n[analyst@ip-10-0-1-23 ~]$ \n"
    )
    turns = parse_session_log(log)
    assert [(t.user, t.command) for t in turns][:3] == [
        ("ssm-user", "whoami"),
        ("ssm-user", "sudo su - analyst"),
        ("analyst", "echo 'sh-4.2$ whoami'"),
    ]
    assert turns[0].output == "ssm-user" and turns[0].line == 3
    assert turns[-1].command == "" and turns[-1].user == "analyst"  # the session ended at this prompt


DRILL_ACCEPTS = ["targets.jupyter", "agent-offline"]


def test_a_diagnosis_names_one_cause_in_a_whole_word(tmp_path):
    context = _context(tmp_path)
    diagnosis = tmp_path / "diagnosis.txt"
    for said in ("agent-offline", "Doctor's finding targets.jupyter: the agent is not connected"):
        diagnosis.write_text(said + "\n")
        assert _verify(context, kind="diagnosis", accepts=DRILL_ACCEPTS).passed, said
    diagnosis.write_text("not-agent-offline-at-all\n")  # a part of a word is not the word
    assert not _verify(context, kind="diagnosis", accepts=DRILL_ACCEPTS).passed


def test_a_diagnosis_that_lists_every_possible_cause_is_not_a_diagnosis(tmp_path):
    from helpers import run_onboard

    context = _context(tmp_path)
    diagnosis = tmp_path / "diagnosis.txt"
    # The shortcut: the catalogue of every fault the lab can break, written as the answer.
    catalogue = run_onboard("lab", "fault", "list")
    assert catalogue.exit_code == 0 and "agent-offline" in catalogue.stdout
    diagnosis.write_text(catalogue.stdout)
    listed = _verify(context, kind="diagnosis", accepts=DRILL_ACCEPTS)
    assert not listed.passed
    assert "names 7 possible causes" in listed.evidence and "clock-skew" in listed.evidence
    assert "the one you found" in listed.hint
    # Every id doctor could report (what `onboard doctor --json` shows), one of them the right one.
    every_id = "tools.aws-cli config.profile credentials.identity network.endpoints targets.jupyter"
    diagnosis.write_text(every_id + "\n")
    every_id = _verify(context, kind="diagnosis", accepts=DRILL_ACCEPTS)
    assert not every_id.passed and "names 5 possible causes" in every_id.evidence
    # Two guesses at once are two guesses.
    diagnosis.write_text("agent-offline or role-without-ssm-policy\n")
    assert not _verify(context, kind="diagnosis", accepts=DRILL_ACCEPTS).passed
    # Both names of the one cause (the fault and doctor's finding of it) are one diagnosis.
    diagnosis.write_text("targets.jupyter says the agent is offline: agent-offline\n")
    assert _verify(context, kind="diagnosis", accepts=DRILL_ACCEPTS).passed
