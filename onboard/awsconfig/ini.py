"""A line-level reading of AWS's INI files that agrees with botocore, line by line.

botocore reads ~/.aws/config and ~/.aws/credentials with ``configparser.RawConfigParser`` and then
names profiles by shlex-splitting section headers. To edit such a file without round-tripping it
through configparser (which drops comments), this module replays configparser's own line loop
(``RawConfigParser._read``, same regular expressions, same indentation rule for continuation lines)
and records, for every physical line, what configparser made of it. The editor then changes single
lines and leaves every other byte alone.
"""

from __future__ import annotations

import configparser
import re
import shlex
from dataclasses import dataclass, field
from enum import Enum

_SECTION_RE = configparser.RawConfigParser.SECTCRE
_OPTION_RE = configparser.RawConfigParser.OPTCRE
_NONSPACE_RE = configparser.RawConfigParser.NONSPACECRE
_COMMENT_PREFIXES = ("#", ";")
# configparser's own name for the section whose keys every other section inherits.
DEFAULTS_SECTION = configparser.DEFAULTSECT
# Python reads the files with universal newlines: each of these ends a line, nothing else does.
# The characters shlex.split (POSIX mode, no comments) treats specially, besides whitespace.
_SHLEX_SPECIAL = re.compile(r"[\"'\\]")
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class Role(Enum):
    BLANK = "blank"
    COMMENT = "comment"
    HEADER = "header"
    OPTION = "option"
    CONTINUATION = "continuation"
    INVALID = "invalid"


@dataclass
class Line:
    text: str  # without its line ending
    ending: str  # "\n", "\r\n", "\r", or "" for a last line without one
    role: Role = Role.BLANK

    @property
    def indent(self) -> str:
        match = _NONSPACE_RE.search(self.text)
        return self.text[: match.start()] if match else self.text


@dataclass
class Entry:
    """One key of a section: its option line and the indented continuation lines that follow."""

    key: str  # lower-cased, as configparser's optionxform gives it
    first: int  # index of the option line
    last: int  # index of its last continuation line (== first for a one-line value)
    parts: list[str]

    @property
    def value(self) -> str:
        """The value exactly as configparser returns it."""
        return "\n".join(self.parts).rstrip()


@dataclass
class RawSection:
    header: str  # the text between the brackets, as configparser matches it
    first: int  # index of the header line
    end: int = 0  # index one past the section's last line (the next header, or the end of the file)
    entries: list[Entry] = field(default_factory=list)

    def entry(self, key: str) -> Entry | None:
        return next((entry for entry in self.entries if entry.key == key), None)

    def content_end(self, lines: list[Line]) -> int:
        """Index one past the last header, option or continuation line: where a new key belongs.

        Trailing blank lines and comments stay after it (a comment there usually introduces the
        next section).
        """
        last = self.first
        for index in range(self.first, self.end):
            if lines[index].role in (Role.HEADER, Role.OPTION, Role.CONTINUATION, Role.INVALID):
                last = index
        return last + 1


_ISSUE_HINTS = {
    "duplicate-section": "Merge the two sections into one (or delete one).",
    "duplicate-key": "Delete one of the two lines.",
    "missing-section-header": "Put the line under a [section] header, or delete it.",
    "invalid-line": "Write it as key = value, or delete it.",
    "invalid-nested-line": "Under a key with an empty value (such as s3 =) indent only name = value lines; "
    "start a [section] header or any other line at the beginning of the line, or delete it.",
}


@dataclass(frozen=True)
class Issue:
    """Something that makes configparser (and so every ``aws`` command) refuse the file."""

    line: int  # 1-based
    code: str
    message: str

    @property
    def hint(self) -> str:
        return _ISSUE_HINTS[self.code]


@dataclass
class IniDocument:
    lines: list[Line]
    sections: list[RawSection]
    issues: list[Issue]

    @property
    def newline(self) -> str:
        """The line ending new lines get: the file's own (CRLF files stay CRLF), else ``\\n``."""
        return next((line.ending for line in self.lines if line.ending), "\n")

    def text(self) -> str:
        return "".join(line.text + line.ending for line in self.lines)


def split_lines(text: str) -> list[Line]:
    lines = []
    for raw in _LINE_RE.findall(text):
        body = raw.rstrip("\r\n")
        lines.append(Line(body, raw[len(body) :]))
    return lines


def parse(text: str) -> IniDocument:
    """Classify every line of ``text`` as ``RawConfigParser`` (strict, no inline comments) would."""
    lines = split_lines(text)
    sections: list[RawSection] = []
    issues: list[Issue] = []
    keys_seen: dict[str, set[str]] = {}
    section: RawSection | None = None
    entry: Entry | None = None
    indent_level = 0
    for index, line in enumerate(lines):
        stripped = line.text.strip()
        if stripped.startswith(_COMMENT_PREFIXES):
            line.role = Role.COMMENT
            continue
        if not stripped:
            line.role = Role.BLANK
            if entry is not None:
                entry.parts.append("")
            continue
        indent = len(line.indent)
        if section is not None and entry is not None and indent > indent_level:
            line.role = Role.CONTINUATION
            entry.parts.append(stripped)
            entry.last = index
            continue
        indent_level = indent
        header = _SECTION_RE.match(stripped)
        if header:
            line.role = Role.HEADER
            name = header.group("header")
            if name in keys_seen and name != DEFAULTS_SECTION:
                issues.append(Issue(index + 1, "duplicate-section", f"a second [{name}] section"))
            keys_seen.setdefault(name, set())
            section = RawSection(name, index)
            sections.append(section)
            entry = None
            continue
        if section is None:
            line.role = Role.INVALID
            issues.append(
                Issue(index + 1, "missing-section-header", "a line before the first [section] header")
            )
            continue
        option = _OPTION_RE.match(stripped)
        if not option or not option.group("option").rstrip():
            line.role = Role.INVALID
            issues.append(
                Issue(index + 1, "invalid-line", "a line that is neither a key = value nor a header")
            )
            if option:  # configparser still records the empty key, which ends the previous value
                entry = None
            continue
        line.role = Role.OPTION
        key = option.group("option").rstrip().lower()
        if key in keys_seen[section.header]:
            issues.append(Issue(index + 1, "duplicate-key", f"a second {key!r} in [{section.header}]"))
        keys_seen[section.header].add(key)
        entry = Entry(key, index, index, [option.group("value").strip()])
        section.entries.append(entry)
    for position, section in enumerate(sections):
        section.end = sections[position + 1].first if position + 1 < len(sections) else len(lines)
        issues += _nested_issues(lines, section)
    issues.sort(key=lambda issue: issue.line)
    return IniDocument(lines, sections, issues)


def _nested_issues(lines: list[Line], section: RawSection) -> list[Issue]:
    """Lines of a nested block (``s3 =`` then indented lines) that botocore cannot split at ``=``.

    configparser accepts them as continuation lines, but botocore then reads a value starting with a
    line break as ``name = value`` pairs (``configloader._parse_nested``) and fails on any other line.
    """
    issues = []
    for entry in section.entries:
        if entry.parts[0] or not entry.value:
            continue
        for index in range(entry.first + 1, entry.last + 1):
            if lines[index].role is Role.CONTINUATION and "=" not in lines[index].text:
                issues.append(
                    Issue(
                        index + 1,
                        "invalid-nested-line",
                        f"an indented line without '=' inside the nested block of {entry.key!r} "
                        f"(line {entry.first + 1}), which botocore reads as name = value pairs",
                    )
                )
    return issues


def option_prefix(line: Line) -> str:
    """The part of an option line before its value (indent, key, delimiter, spacing), kept on rewrite."""
    stripped = line.text.strip()
    option = _OPTION_RE.match(stripped)
    assert option is not None, "only called on option lines"
    return line.indent + stripped[: option.start("value")]


def header_parts(header: str) -> list[str] | None:
    """botocore's split of a header (``profile "my name"`` -> two parts); None when shlex fails."""
    if not _SHLEX_SPECIAL.search(header):  # the common case, and shlex is slow: a plain split agrees
        return header.split()
    try:
        return shlex.split(header)
    except ValueError:
        return None


#: Section kinds in the config file, by the prefix botocore checks (in botocore's order).
_PREFIXED_KINDS = ("profile", "sso-session", "services")


def config_section_identity(header: str) -> tuple[str, str]:
    """(kind, name) of a config-file section as botocore's ``build_profile_map`` sees it.

    kind is "profile" (with ``[default]`` as profile "default"), "sso-session", "services", "defaults"
    (configparser's ``[DEFAULT]``) or "other" (``[plugins]``, ``[preview]``, a bare ``[ssm]``, and a
    ``[profile]`` header that botocore ignores); name is the profile/session/service name, or the
    header itself for "other".
    """
    if header == DEFAULTS_SECTION:
        return "defaults", header
    for kind in _PREFIXED_KINDS:
        if header.startswith(kind):
            parts = header_parts(header)
            if parts is not None and len(parts) == 2:
                return kind, parts[1]
            return "other", header
    if header == "default":
        return "profile", "default"
    return "other", header


def credentials_section_identity(header: str) -> tuple[str, str]:
    """(kind, name) of a credentials-file section: botocore uses the raw header as the profile name."""
    if header == DEFAULTS_SECTION:
        return "defaults", header
    return "profile", header
