"""Planning a profile write: what changes in ~/.aws/config and ~/.aws/credentials, line by line.

:func:`plan_profile` reads both files, finds the profile's sections the way botocore does, and
computes the new bytes of each file: existing keys replaced on their own line, missing keys added at
the end of their section, a new section appended when there is none, every other byte kept. Nothing
is written here (see :mod:`onboard.awsconfig.writer`); a plan can be shown as a diff first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from onboard.awsconfig.diff import SECRET_HINT_LENGTH, SECRET_KEYS, mask_secrets, unified_diff
from onboard.awsconfig.files import AwsFiles, aws_files, parse_file, read_bytes
from onboard.awsconfig.ini import (
    IniDocument,
    Line,
    RawSection,
    config_section_identity,
    credentials_section_identity,
    option_prefix,
)
from onboard.errors import OnboardError, UsageError
from onboard.facts import DEFAULT_PROFILE, PROFILE_NAME
from onboard.secrets import Secret

#: The keys that belong in the credentials file; everything else belongs in the config file.
CREDENTIAL_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
#: Keys that make botocore take credentials from somewhere else than the static keys onboard writes
#: (an assumed role, SSO, an external process): they win over the keys, so a profile holding them is
#: "something else" and the plan lists them as replaced.
CREDENTIAL_SOURCE_KEYS = (
    "role_arn",
    "source_profile",
    "credential_source",
    "credential_process",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
)
OUTPUT_FORMATS = ("json", "yaml", "yaml-stream", "text", "table")
#: What AWS CLI v1 prints: its awscli/formatter.py get_formatter knows json, text and table, and says
#: "Unknown output type: yaml" for anything else (yaml and yaml-stream came with v2).
OUTPUT_FORMATS_V1 = ("json", "text", "table")


def output_formats(cli_major: int | None) -> tuple[str, ...]:
    """The output formats the AWS CLI of this major version can print (v2's when the version is unknown)."""
    return OUTPUT_FORMATS_V1 if cli_major == 1 else OUTPUT_FORMATS


#: What an inline comment looks like; botocore has none, so whitespace then # or ; is part of the value.
INLINE_COMMENT_RE = re.compile(r"\s[#;]")
_REGION_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_CONFIG_KEY_RE = re.compile(r"[a-z0-9_]+")


def _check_value(field_name: str, value: str | Secret, *, secret: bool) -> None:
    text = value.reveal() if isinstance(value, Secret) else value
    shown = "" if secret else f" ({text!r})"
    if "\n" in text or "\r" in text:
        raise UsageError(
            f"The {field_name} contains a line break{shown}.",
            hint="Enter it again on one line; a line break would end the value in the file.",
        )
    if not text.strip():
        raise UsageError(f"The {field_name} is empty.", hint=f"Give a {field_name}, or leave it out.")
    if text != text.strip():
        raise UsageError(
            f"The {field_name} starts or ends with spaces{shown}.",
            hint="Remove them: the AWS CLI would drop them when reading the file.",
        )
    if INLINE_COMMENT_RE.search(text):
        raise UsageError(
            f"The {field_name} holds what looks like a comment{shown}.",
            hint="Leave it out: the AWS CLI has no comments after a value, ' #' and ' ;' become part of it.",
        )


@dataclass(frozen=True)
class ProfileSettings:
    """What to write for one profile. Secrets are held as :class:`Secret` (plain strings are wrapped)."""

    name: str = DEFAULT_PROFILE
    region: str | None = None
    output: str | None = None
    access_key_id: str | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    #: Other config keys, e.g. ``{"endpoint_url": "http://127.0.0.1:4566"}`` for the practice lab.
    extra_config: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for secret_field in ("secret_access_key", "session_token"):
            value = getattr(self, secret_field)
            if isinstance(value, str):
                object.__setattr__(self, secret_field, Secret(value))
        if not isinstance(self.name, str) or not PROFILE_NAME.fullmatch(self.name):
            shown = self.name if isinstance(self.name, str) and len(self.name) < 80 else "(too long)"
            raise UsageError(
                f"{shown!r} cannot be a profile name.",
                hint="Use letters, digits, '.', '_' and '-' only (at most 64, not '.' or '..'), "
                "e.g. ssm or team-ssm.",
            )
        self._check_values()

    def _check_values(self) -> None:
        plain = {"region": self.region, "output format": self.output, "access key ID": self.access_key_id}
        for label, value in plain.items():
            if value is not None:
                _check_value(label, value, secret=False)
        secrets: dict[str, Secret | None] = {
            "secret access key": self.secret_access_key,
            "session token": self.session_token,
        }
        for label, secret in secrets.items():
            if secret is not None:
                _check_value(label, secret, secret=True)
        if self.region is not None and not _REGION_RE.fullmatch(self.region):
            raise UsageError(f"{self.region!r} is not a region name.", hint="Regions look like eu-west-1.")
        if self.output is not None and self.output not in OUTPUT_FORMATS:
            raise UsageError(
                f"{self.output!r} is not an output format.", hint=f"Use one of: {', '.join(OUTPUT_FORMATS)}."
            )
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise UsageError(
                "An access key ID and its secret access key go together; only one was given.",
                hint="Give both (the IAM console's CSV holds both), or neither.",
            )
        if self.session_token is not None and self.access_key_id is None:
            raise UsageError("A session token needs an access key ID and secret.", hint="Give all three.")
        for key, value in self.extra_config.items():
            if not _CONFIG_KEY_RE.fullmatch(key) or key in ("region", "output") or key in CREDENTIAL_KEYS:
                raise UsageError(
                    f"{key!r} cannot be an extra config key.",
                    hint="Use lower-case config keys such as endpoint_url; "
                    "region, output and keys have their own settings.",
                )
            _check_value(key, value, secret=False)

    @property
    def writes_keys(self) -> bool:
        return self.access_key_id is not None

    def config_values(self) -> dict[str, str]:
        values = {"region": self.region, "output": self.output, **self.extra_config}
        return {key: value for key, value in values.items() if value is not None}

    def credential_values(self) -> dict[str, str | Secret]:
        values = {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass
class FileChange:
    """One file's bytes before (None: the file does not exist yet) and after the plan."""

    path: Path
    before: bytes | None = field(repr=False)
    after: bytes = field(repr=False)
    created: bool

    def diff(self) -> str:
        """A unified diff of the change, with secret values masked."""

        def shown(data: bytes | None) -> list[str]:
            if data is None:
                return []
            return mask_secrets(data.decode("utf-8", errors="replace")).splitlines()

        return unified_diff(
            shown(self.before),
            shown(self.after),
            "/dev/null" if self.before is None else f"{self.path} (now)",
            f"{self.path} (after)",
        )


@dataclass
class ProfilePlan:
    """What writing ``settings`` would change. ``replaced`` lists existing values that would change."""

    settings: ProfileSettings
    files: AwsFiles
    changes: list[FileChange]
    replaced: list[str]
    #: The bytes of both files as planned against (None: missing), to notice a change before writing.
    seen: dict[Path, bytes | None] = field(default_factory=dict, repr=False)
    strip_bom: bool = False

    @property
    def is_noop(self) -> bool:
        return not self.changes


@dataclass
class _FileEdit:
    """One file being planned: its document and where its messages point."""

    path: Path
    label: str  # "config" or "credentials"
    document: IniDocument
    replaced: list[str]

    def describe(self, key: str, section: RawSection, what: str) -> str:
        return f"{key} in [{section.header}] ({self.label}, {self.path}): {what}"


def _shown_value(key: str, value: str) -> str:
    return Secret(value).masked(keep=SECRET_HINT_LENGTH) if key in SECRET_KEYS else value


def _key_line(indent: str, key: str, value: str | Secret, newline: str) -> Line:
    text = value.reveal() if isinstance(value, Secret) else value
    return Line(f"{indent}{key} = {text}", newline)


def _edit_section(
    edit: _FileEdit, section: RawSection, updates: Mapping[str, str | Secret], removals: frozenset[str]
) -> None:
    """Set ``updates`` and drop ``removals`` in ``section``, changing only the lines involved."""
    lines = edit.document.lines
    newline = edit.document.newline
    spans: dict[int, tuple[int, list[Line]]] = {}  # first index -> (last index, replacement lines)
    missing: list[str] = []
    for key, value in updates.items():
        entry = section.entry(key)
        text = value.reveal() if isinstance(value, Secret) else value
        if entry is None:
            missing.append(key)
        elif entry.value != text:
            first = lines[entry.first]
            spans[entry.first] = (entry.last, [Line(option_prefix(first) + text, first.ending or newline)])
            change = f"{_shown_value(key, entry.value)} -> {_shown_value(key, text)}"
            edit.replaced.append(edit.describe(key, section, change))
    for key in sorted(removals):
        entry = section.entry(key)
        if entry is not None:
            spans[entry.first] = (entry.last, [])
            edit.replaced.append(
                edit.describe(key, section, f"removed (was {_shown_value(key, entry.value)})")
            )
    option_indents = [lines[entry.first].indent for entry in section.entries]
    indent = option_indents[-1] if option_indents else ""
    insert_at = section.content_end(lines)
    added = [_key_line(indent, key, updates[key], newline) for key in missing]
    rebuilt: list[Line] = []
    index = section.first
    while index < section.end:
        if index == insert_at:
            rebuilt.extend(added)
        if index in spans:
            last, replacement = spans[index]
            rebuilt.extend(replacement)
            index = last + 1
            continue
        rebuilt.append(lines[index])
        index += 1
    if insert_at >= section.end:
        rebuilt.extend(added)
    lines[section.first : section.end] = rebuilt


def _append_section(edit: _FileEdit, header: str, updates: Mapping[str, str | Secret]) -> None:
    lines = edit.document.lines
    newline = edit.document.newline
    if lines and lines[-1].text.strip():
        lines.append(Line("", newline))
    lines.append(Line(f"[{header}]", newline))
    lines.extend(_key_line("", key, value, newline) for key, value in updates.items())


def _ensure_line_endings(document: IniDocument) -> None:
    # Only the original last line can lack an ending; once something follows it, it needs one.
    for line in document.lines[:-1]:
        if not line.ending:
            line.ending = document.newline


def _refuse_unreadable(path: Path, document: IniDocument) -> None:
    if not document.issues:
        return
    first = document.issues[0]
    more = f" (and {len(document.issues) - 1} more problems)" if len(document.issues) > 1 else ""
    raise OnboardError(
        f"{path}:{first.line}: {first.message}{more}; every aws command fails on this file with "
        "ConfigParseError, so onboard will not edit it.",
        hint=f"{first.hint} Then run again; `onboard doctor` lists every problem.",
    )


def _load(path: Path, label: str, strip_bom: bool, replaced: list[str]) -> tuple[_FileEdit, bytes | None]:
    data = read_bytes(path)
    document, has_bom = parse_file(path, data or b"")
    if has_bom and not strip_bom:
        raise OnboardError(
            f"{path}:1: the file starts with a UTF-8 byte-order mark (BOM), which makes every aws command "
            "fail with ConfigParseError.",
            hint="Re-save it as plain UTF-8 (not 'UTF-8 with BOM'), or let onboard remove the mark.",
        )
    _refuse_unreadable(path, document)
    if has_bom:
        replaced.append(f"the byte-order mark at the start of {path} (removed)")
    return _FileEdit(path, label, document, replaced), data


def _only_section(edit: _FileEdit, name: str, identity) -> RawSection | None:
    matches = [section for section in edit.document.sections if identity(section.header) == ("profile", name)]
    if len(matches) > 1:
        where = " and ".join(f"line {s.first + 1} [{s.header}]" for s in matches)
        raise OnboardError(
            f"{edit.path}: {where} all define profile {name!r}; botocore silently uses the last one.",
            hint="Merge them into one section (keep the values you want), then run again.",
        )
    if matches and name == "default" and matches[0].header != "default":
        raise OnboardError(
            f"{edit.path}:{matches[0].first + 1}: [{matches[0].header}] is read as the default profile, "
            "an ambiguous form onboard does not write to.",
            hint=f"Rename [{matches[0].header}] to [default] in {edit.path}, then run again.",
        )
    return matches[0] if matches else None


def _plan_file(
    edit: _FileEdit,
    section: RawSection | None,
    header: str,
    updates: Mapping[str, str | Secret],
    removals: frozenset[str],
) -> None:
    if section is not None:
        _edit_section(edit, section, updates, removals)
    elif updates:
        _append_section(edit, header, updates)
    _ensure_line_endings(edit.document)


def plan_profile(
    settings: ProfileSettings, files: AwsFiles | None = None, *, strip_bom: bool = False
) -> ProfilePlan:
    """The changes writing ``settings`` makes to both files; OnboardError when a file is unsafe to edit.

    ``strip_bom=True`` removes a UTF-8 byte-order mark (with the user's consent) instead of refusing.
    """
    files = files or aws_files()
    # os.path.realpath, not Path.resolve: a symlink loop is reported by the read below, with its path.
    if os.path.realpath(files.config) == os.path.realpath(files.credentials):
        raise UsageError(
            f"The config and credentials files are the same file ({files.config}).",
            hint="Point AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE at two different files.",
        )
    replaced: list[str] = []
    config, config_before = _load(files.config, "config", strip_bom, replaced)
    credentials, credentials_before = _load(files.credentials, "credentials", strip_bom, replaced)

    config_values = settings.config_values()
    config_removals: set[str] = set()
    # Any key in the credentials file's section overrides the config's for that profile.
    credentials_removals: set[str] = set(config_values)
    if settings.writes_keys:
        config_removals |= {*CREDENTIAL_KEYS, *CREDENTIAL_SOURCE_KEYS}
        credentials_removals |= set(CREDENTIAL_SOURCE_KEYS)
        if settings.session_token is None:
            credentials_removals.add("aws_session_token")  # a stale token would spoil long-term keys

    name = settings.name
    _plan_file(
        config,
        _only_section(config, name, config_section_identity),
        "default" if name == "default" else f"profile {name}",
        config_values,
        frozenset(config_removals),
    )
    _plan_file(
        credentials,
        _only_section(credentials, name, credentials_section_identity),
        name,
        settings.credential_values(),
        frozenset(credentials_removals),
    )

    changes = []
    for edit, before in ((config, config_before), (credentials, credentials_before)):
        after = edit.document.text().encode("utf-8")
        if after != (before or b""):  # a removed BOM counts: the text was parsed without it
            changes.append(FileChange(edit.path, before, after, created=before is None))
    return ProfilePlan(
        settings,
        files,
        changes,
        replaced,
        seen={files.config: config_before, files.credentials: credentials_before},
        strip_bom=strip_bom,
    )
