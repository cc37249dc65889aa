"""Property-based: for generated config and credentials files (comments, other profiles, sso-session and
services sections, nested keys, odd spacing, CRLF), writing a profile changes only that profile's lines,
botocore reads back exactly the intended values, and a second identical write changes nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import botocore.configloader
import botocore.exceptions
from fixtures_awsconfig import ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN, botocore_session
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from onboard.awsconfig import AwsFiles, ProfileSettings, apply_plan, plan_profile
from onboard.awsconfig.ini import config_section_identity, credentials_section_identity, parse, split_lines
from onboard.awsconfig.profile import CREDENTIAL_KEYS, CREDENTIAL_SOURCE_KEYS
from onboard.errors import OnboardError
from onboard.fileio import BACKUP_INFIX

TARGETS = ("ssm", "default", "team.ssm_1")
OTHER_NAMES = ("dev", "prod", "ssm-old", "default")
VALUES = st.from_regex(r"[a-z0-9][a-z0-9:/._-]{0,11}", fullmatch=True)
KEYS = (
    "region",
    "output",
    "cli_pager",
    "endpoint_url",
    "sso_session",
    "sso_start_url",
    "role_arn",
    "source_profile",
    "credential_process",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "mfa_serial",
)


@st.composite
def key_lines(draw, keys) -> list[str]:
    lines = []
    for key in keys:
        spelling = draw(st.sampled_from([key, key.upper(), key.capitalize()]))
        form = draw(st.sampled_from(["{k} = {v}", "{k}={v}", "{k}   =   {v}  ", "{k}: {v}", "  {k} = {v}"]))
        lines.append(form.format(k=spelling, v=draw(VALUES)))
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(st.sampled_from(["# a comment", "; another", "", "   "])))
    if draw(st.booleans()):
        lines += ["s3 =", "    addressing_style = path", "    signature_version = s3v4"]
    return lines


def header_forms(kind: str, name: str) -> list[str]:
    if kind == "profile":
        return [f"[profile {name}]", f"[profile  {name}]", f'[profile "{name}"]', f"[profile {name}] # note"]
    if kind == "default":
        return ["[default]", "[default] # the default"]
    return {"sso-session": ["[sso-session corp]"], "services": ["[services lab]"], "bare": [f"[{name}]"]}[
        kind
    ]


@st.composite
def ini_file(draw, target: str, kinds: tuple[str, ...], names: tuple[str, ...]) -> str:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = draw(st.lists(st.sampled_from(["# my aws settings", "", "; ini comment"]), max_size=2))
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(kinds))
        name = draw(st.sampled_from((*names, target)))
        lines.append(draw(st.sampled_from(header_forms(kind, name))))
        keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=4))
        lines += draw(key_lines(keys))
        lines += draw(st.lists(st.sampled_from(["", "# next section"]), max_size=2))
    text = "".join(line + newline for line in lines)
    return text if draw(st.booleans()) else text.rstrip("\r\n")


@st.composite
def profile_settings(draw, target: str) -> ProfileSettings:
    writes_keys = draw(st.booleans())
    return ProfileSettings(
        name=target,
        region=draw(st.sampled_from([None, "eu-west-1", "us-east-1"])),
        output=draw(st.sampled_from([None, "json", "text"])),
        access_key_id=ACCESS_KEY_ID if writes_keys else None,
        secret_access_key=SECRET_ACCESS_KEY if writes_keys else None,
        session_token=SESSION_TOKEN if writes_keys and draw(st.booleans()) else None,
        extra_config=draw(st.sampled_from([{}, {"endpoint_url": "http://127.0.0.1:4566"}])),
    )


@st.composite
def cases(draw):
    target = draw(st.sampled_from(TARGETS))
    config = draw(ini_file(target, ("profile", "default", "sso-session", "services", "bare"), OTHER_NAMES))
    credentials = draw(ini_file(target, ("bare", "profile", "default"), OTHER_NAMES))
    return target, config, credentials, draw(profile_settings(target))


def _botocore_refuses(files: AwsFiles, target: str) -> bool:
    """Whether botocore cannot read a file, or reads the target profile from two config sections."""
    try:
        config = botocore.configloader.raw_config_parse(str(files.config))
        botocore.configloader.raw_config_parse(str(files.credentials))
    except botocore.exceptions.ConfigParseError:
        return True
    defining = [h for h in config if target in botocore.configloader.build_profile_map({h: {}})["profiles"]]
    return len(defining) > 1 or (target == "default" and defining not in ([], ["default"]))


def _botocore_view(files: AwsFiles, target: str) -> tuple[dict, dict]:
    full = botocore_session(files, target).full_config
    profiles = dict(full["profiles"])
    mine = profiles.pop(target, {})
    return mine, {**full, "profiles": profiles}


def _ended_lines(text: str) -> list[str]:
    document = parse(text)
    return [line.text + (line.ending or document.newline) for line in document.lines]


def _target_span(text: str, identity, target: str) -> tuple[int, int] | None:
    """Header to last key of the target profile's section (at most one: ambiguity is refused)."""
    document = parse(text)
    for section in document.sections:
        if identity(section.header) == ("profile", target):
            return section.first, section.content_end(document.lines)
    return None


def _assert_only_target_lines_changed(before_text: str, after_text: str, identity, target: str) -> None:
    before, after = _ended_lines(before_text), _ended_lines(after_text)
    span = _target_span(before_text, identity, target)
    if span is None:  # untouched, or a new section appended after a blank line
        assert after[: len(before)] == before
        assert after[len(before) :] == [] or _target_span(after_text, identity, target) is not None
        return
    first, end = span
    tail = len(before) - end
    assert after[:first] == before[:first]
    assert after[len(after) - tail :] == before[end:] if tail else True


def _expected_profile(before: dict, wanted: ProfileSettings) -> dict:
    expected = dict(before)
    if wanted.writes_keys:
        for key in (*CREDENTIAL_KEYS, *CREDENTIAL_SOURCE_KEYS):
            expected.pop(key, None)
    credentials = {
        key: str(getattr(value, "reveal", lambda v=value: v)())
        for key, value in wanted.credential_values().items()
    }
    return {**expected, **wanted.config_values(), **credentials}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(cases())
def test_writing_a_profile_changes_only_that_profile(case):
    target, config_text, credentials_text, wanted = case
    with tempfile.TemporaryDirectory() as folder:
        files = AwsFiles(Path(folder) / "config", Path(folder) / "credentials", "test", "test")
        files.config.write_bytes(config_text.encode())
        files.credentials.write_bytes(credentials_text.encode())
        refuses = _botocore_refuses(files, target)
        try:
            plan = plan_profile(wanted, files)
        except OnboardError:
            event("refused")
            assert refuses, "refused a file botocore reads without ambiguity"
            return
        event(f"written, {len(plan.replaced)} replaced")
        assert not refuses, "accepted a file botocore cannot read, or an ambiguous profile"
        shown = "".join(change.diff() for change in plan.changes) + repr(plan) + " ".join(plan.replaced)
        assert SECRET_ACCESS_KEY not in shown and SESSION_TOKEN not in shown
        before_mine, before_others = _botocore_view(files, target)
        apply_plan(plan)

        # botocore reads exactly the intended values, and everything else exactly as before.
        after_mine, after_others = _botocore_view(files, target)
        assert after_others == before_others
        assert after_mine == _expected_profile(before_mine, wanted)

        # Before and after the profile's own lines, every line is as it was.
        for path, before_text, identity in (
            (files.config, config_text, config_section_identity),
            (files.credentials, credentials_text, credentials_section_identity),
        ):
            after_text = path.read_bytes().decode()
            _assert_only_target_lines_changed(before_text, after_text, identity, target)
            endings = {line.ending for line in split_lines(before_text)}
            if "\r\n" in endings and endings <= {"\r\n", ""}:
                assert after_text.count("\n") == after_text.count("\r\n"), "a CRLF file got LF lines"

        # A second identical write is a no-op: nothing planned, nothing written, no new backup.
        backups = sorted(p.name for p in Path(folder).iterdir() if BACKUP_INFIX in p.name)
        again = plan_profile(wanted, files)
        assert again.is_noop and again.replaced == []
        assert apply_plan(again) == []
        assert sorted(p.name for p in Path(folder).iterdir() if BACKUP_INFIX in p.name) == backups
