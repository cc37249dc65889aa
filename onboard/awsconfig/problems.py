"""Read-only inspection of the two AWS files, for ``onboard doctor``: their sections and their traps."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from onboard.awsconfig.files import BOM, AwsFiles, aws_files, first_undecodable_line, read_bytes
from onboard.awsconfig.ini import (
    IniDocument,
    Role,
    config_section_identity,
    credentials_section_identity,
    header_parts,
    option_prefix,
    parse,
)
from onboard.awsconfig.profile import INLINE_COMMENT_RE
from onboard.errors import EnvironmentProblem, OnboardError

FileKind = Literal["config", "credentials"]
# Keys only a profile has: a config section holding one but not named [profile X] is a mistake.
_PROFILE_KEYS = frozenset(
    {
        "region",
        "output",
        "aws_access_key_id",
        "aws_secret_access_key",
        "role_arn",
        "source_profile",
        "sso_start_url",
    }
)
_LOOSE_PERMISSIONS = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True)
class Section:
    """A section as botocore sees it."""

    name: str  # profile/sso-session/services name ("ssm" for [profile ssm]); the header for others
    kind: str  # "profile" ([default] too), "sso-session", "services", "defaults", "other"
    header_line: int  # 1-based
    header: str  # the text between the brackets
    end_line: int  # the section's last line (1-based)
    keys: tuple[str, ...]  # lower-cased, in file order


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int | None  # 1-based, or None for a problem of the whole file
    code: str
    message: str
    hint: str
    severity: Literal["error", "warning"] = "warning"


def _kind_of(path: Path) -> FileKind:
    """ "credentials" for the credentials file in use (or any file named so), else "config"."""
    try:
        in_use = aws_files().credentials
    except EnvironmentProblem:
        in_use = None
    return "credentials" if Path(path) == in_use or Path(path).name == "credentials" else "config"


def _identity(kind: FileKind):
    return credentials_section_identity if kind == "credentials" else config_section_identity


def _sections(document: IniDocument, kind: FileKind) -> list[Section]:
    identity = _identity(kind)
    sections = []
    for raw in document.sections:
        kind_found, name = identity(raw.header)
        keys = tuple(entry.key for entry in raw.entries)
        sections.append(Section(name, kind_found, raw.first + 1, raw.header, raw.end, keys))
    return sections


def _parse_leniently(data: bytes) -> tuple[IniDocument, bool]:
    """The document (read past a BOM and bad bytes, reported separately) and whether it has a BOM."""
    text = data.decode("utf-8", errors="replace")
    return parse(text.removeprefix(BOM)), text.startswith(BOM)


def find_sections(path: Path, kind: FileKind | None = None) -> list[Section]:
    """The sections of ``path`` (empty when it does not exist). ``kind`` defaults from the path."""
    data = read_bytes(Path(path))
    if data is None:
        return []
    return _sections(_parse_leniently(data)[0], kind or _kind_of(path))


def _file_problems(
    path: Path,
    kind: FileKind,
    document: IniDocument,
    has_bom: bool,
    data: bytes,
    credential_profiles: set[str],
) -> list[Problem]:
    problems = []
    line = first_undecodable_line(data)
    if line is not None:
        problems.append(
            Problem(
                path,
                line,
                "not-utf8",
                "not UTF-8 text; aws fails with ConfigParseError",
                "Save it as UTF-8.",
                "error",
            )
        )
    if has_bom:
        problems.append(
            Problem(
                path,
                1,
                "bom",
                "the file starts with a UTF-8 byte-order mark; aws fails with ConfigParseError",
                "Re-save it as plain UTF-8 (not 'UTF-8 with BOM').",
                "error",
            )
        )
    for issue in document.issues:
        message = f"{issue.message}; aws fails with ConfigParseError"
        problems.append(Problem(path, issue.line, issue.code, message, issue.hint, "error"))
    problems += _ambiguous_profiles(path, kind, document)
    problems += _value_problems(path, kind, document)
    problems += _wrong_form(path, kind, document, credential_profiles)
    return problems


def _ambiguous_profiles(path: Path, kind: FileKind, document: IniDocument) -> list[Problem]:
    identity = _identity(kind)
    first_seen: dict[str, int] = {}
    headers_before: set[str] = set()  # a repeated header itself is the "duplicate-section" error
    problems = []
    for raw in document.sections:
        section_kind, name = identity(raw.header)
        repeated = raw.header in headers_before
        headers_before.add(raw.header)
        if section_kind != "profile":
            continue
        if name in first_seen and not repeated:
            problems.append(
                Problem(
                    path,
                    raw.first + 1,
                    "ambiguous-profile",
                    f"[{raw.header}] is read as profile {name!r} again (first at line {first_seen[name]}); "
                    "botocore silently uses the last one",
                    "Merge the two sections into one.",
                )
            )
        first_seen.setdefault(name, raw.first + 1)
    return problems


def _value_problems(path: Path, kind: FileKind, document: IniDocument) -> list[Problem]:
    problems = []
    for raw in document.sections:
        for entry in raw.entries:
            if kind == "credentials" and entry.key == "region":
                problems.append(
                    Problem(
                        path,
                        entry.first + 1,
                        "region-in-credentials",
                        f"region in [{raw.header}] of the credentials file overrides the config's region",
                        f"Move it to the config file ([profile {raw.header}]) and delete this line.",
                    )
                )
            for index in range(entry.first, entry.last + 1):
                line = document.lines[index]
                if line.role not in (Role.OPTION, Role.CONTINUATION):
                    continue
                value = line.text[len(option_prefix(line)) :] if line.role is Role.OPTION else line.text
                if INLINE_COMMENT_RE.search(value.strip()):
                    problems.append(
                        Problem(
                            path,
                            index + 1,
                            "inline-comment",
                            f"{entry.key} in [{raw.header}] has a comment on the same line, "
                            "which the AWS CLI reads as part of the value",
                            "Move the comment to a line of its own (starting with #).",
                        )
                    )
    return problems


def _wrong_form(
    path: Path, kind: FileKind, document: IniDocument, credential_profiles: set[str]
) -> list[Problem]:
    """[ssm] in config (a profile by its keys or its credentials), [profile ssm] in credentials."""
    problems = []
    for raw in document.sections:
        keys = {entry.key for entry in raw.entries}
        meant_as_profile = bool(keys & _PROFILE_KEYS) or raw.header in credential_profiles
        if kind == "config" and config_section_identity(raw.header)[0] == "other" and meant_as_profile:
            problems.append(
                Problem(
                    path,
                    raw.first + 1,
                    "wrong-file-form",
                    f"[{raw.header}] in the config file is not a profile; "
                    "the AWS CLI only reads [profile NAME] here",
                    f"Rename it to [profile {raw.header}].",
                )
            )
        parts = header_parts(raw.header) or []
        if kind == "credentials" and len(parts) == 2 and parts[0] == "profile":
            problems.append(
                Problem(
                    path,
                    raw.first + 1,
                    "wrong-file-form",
                    f"[{raw.header}] in the credentials file is a profile named {raw.header!r}, "
                    f"not {parts[1]!r}",
                    f"Rename it to [{parts[1]}]: the credentials file has no 'profile ' prefix.",
                )
            )
    return problems


def _permission_problems(path: Path) -> list[Problem]:
    if os.name != "posix":  # pragma: no cover - Windows uses ACLs
        return []
    mode = os.stat(path).st_mode
    if not mode & _LOOSE_PERMISSIONS:
        return []
    return [
        Problem(
            path,
            None,
            "loose-permissions",
            f"the credentials file can be read by other users (mode {stat.filemode(mode)})",
            f"Make it private: chmod 600 {path}",
        )
    ]


def find_problems(files: AwsFiles | None = None) -> list[Problem]:
    """Every trap found in the two files (missing files are not a problem here)."""
    files = files or aws_files()
    found: dict[FileKind, tuple[Path, bytes, IniDocument, bool]] = {}
    pairs: tuple[tuple[Path, FileKind], ...] = ((files.config, "config"), (files.credentials, "credentials"))
    for path, kind in pairs:
        data = read_bytes(path)
        if data is not None:
            found[kind] = (path, data, *_parse_leniently(data))
    credential_profiles = (
        {s.header for s in found["credentials"][2].sections} if "credentials" in found else set()
    )
    problems = []
    for kind, (path, data, document, has_bom) in found.items():
        problems += _file_problems(path, kind, document, has_bom, data, credential_profiles)
        if kind == "credentials":
            problems += _permission_problems(path)
    return problems


def tighten_permissions(path: Path) -> None:
    """Make ``path`` readable and writable by its owner only (0600), as doctor offers to."""
    try:
        os.chmod(os.path.realpath(path), 0o600)
    except OSError as error:
        raise OnboardError(
            f"Could not change the mode of {path}: {error.strerror}.", hint=f"Run: chmod 600 {path}"
        ) from None
