"""Read-only inspection for `onboard doctor`: the sections botocore sees and the traps in both files."""

from __future__ import annotations

import os

from fixtures_awsconfig import ACCESS_KEY_ID, write

from onboard.awsconfig import (
    ProfileSettings,
    apply_plan,
    aws_files,
    find_problems,
    find_sections,
    plan_profile,
    tighten_permissions,
)


def codes(problems) -> list[tuple[str, str, int | None, str]]:
    return [(problem.path.name, problem.code, problem.line, problem.severity) for problem in problems]


def test_sections_are_named_and_kinded_as_botocore_reads_them():
    files = aws_files()
    write(
        files.config,
        "[default]\nregion = us-east-1\n\n[profile  dev]\nregion = x\ns3 =\n  addressing_style = path\n"
        '[profile "ssm"] # note\n[sso-session corp]\n[services lab]\n[plugins]\n[DEFAULT]\n[profile]\n',
    )
    found = [(s.kind, s.name, s.header_line, s.keys) for s in find_sections(files.config)]
    assert found == [
        ("profile", "default", 1, ("region",)),
        ("profile", "dev", 4, ("region", "s3")),
        ("profile", "ssm", 8, ()),
        ("sso-session", "corp", 9, ()),
        ("services", "lab", 10, ()),
        ("other", "plugins", 11, ()),
        ("defaults", "DEFAULT", 12, ()),
        ("other", "profile", 13, ()),
    ]
    write(files.credentials, "[ssm]\naws_access_key_id = A\n[profile ssm]\n")
    assert [(s.kind, s.name) for s in find_sections(files.credentials)] == [
        ("profile", "ssm"),
        ("profile", "profile ssm"),
    ]
    assert find_sections(files.config.parent / "missing") == []


def test_a_clean_crlf_setup_written_by_onboard_has_no_problem():
    files = aws_files()
    write(files.config, "[default]\r\nregion = us-east-1\r\nendpoint_url = http://127.0.0.1:4566/#frag\r\n")
    settings = ProfileSettings(region="eu-west-1", access_key_id=ACCESS_KEY_ID, secret_access_key="s" * 40)
    apply_plan(plan_profile(settings, files))
    assert find_problems(files) == []


def test_files_the_aws_cli_cannot_read_are_errors_with_their_line():
    files = aws_files()
    write(files.config, b"\xef\xbb\xbf[default]\nregion = a\nregion = b\n[default]\n")
    write(files.credentials, "aws_access_key_id = A\n[ssm]\nnot a key\nnote = caf\xe9\n".encode("latin-1"))
    os.chmod(files.credentials, 0o600)
    assert codes(find_problems(files)) == [
        ("config", "bom", 1, "error"),
        ("config", "duplicate-key", 3, "error"),
        ("config", "duplicate-section", 4, "error"),
        ("credentials", "not-utf8", 4, "error"),
        ("credentials", "missing-section-header", 1, "error"),
        ("credentials", "invalid-line", 3, "error"),
    ]


def test_traps_botocore_reads_silently_are_warnings():
    files = aws_files()
    write(
        files.config,
        "[profile ssm]\nregion = eu-west-1 # Ireland\noutput = json\n"
        "[profile  ssm]\nregion = eu-west-1\n"
        "[ssm]\nregion = us-east-1\n"
        "[profile web]\nendpoint_url = http://example.test/#anchor\ns3 =\n  addressing_style = path ; old\n"
        "[dev]\n[plugins]\n[preview]\ncloudsearch = true\n",
    )
    write(files.credentials, "[ssm]\nregion = us-east-1\n[profile ssm]\naws_access_key_id = A\n[dev]\n")
    os.chmod(files.credentials, 0o644)
    problems = find_problems(files)
    assert codes(problems) == [
        ("config", "ambiguous-profile", 4, "warning"),
        ("config", "inline-comment", 2, "warning"),
        ("config", "inline-comment", 11, "warning"),
        ("config", "wrong-file-form", 6, "warning"),
        ("config", "wrong-file-form", 12, "warning"),
        ("credentials", "region-in-credentials", 2, "warning"),
        ("credentials", "wrong-file-form", 3, "warning"),
        ("credentials", "loose-permissions", None, "warning"),
    ]
    assert all(problem.hint for problem in problems)
    assert "chmod 600" in problems[-1].hint
    tighten_permissions(files.credentials)
    assert "loose-permissions" not in [problem.code for problem in find_problems(files)]
