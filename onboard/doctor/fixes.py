"""What ``onboard doctor --fix`` can repair, each as a :class:`~onboard.doctor.model.Fix` to confirm first.

Every fix that changes a file keeps a timestamped 0600 backup beside it and writes the new content
atomically under the same lock every onboard writer takes (all through :mod:`onboard.fileio`), so a fix and
a concurrent ``onboard setup`` cannot lose each other's change. Building a Fix does nothing; only its
``apply`` touches the machine.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from onboard.doctor.model import Fix, FixResult
from onboard.errors import OnboardError

if TYPE_CHECKING:
    from onboard.team import TeamFile

UTF8_BOM = b"\xef\xbb\xbf"
STARTUP_COMMENT = "# Added by onboard doctor: the Session Manager plugin onboard installed comes first."


def rewrite_file(path: Path, transform: Callable[[bytes], bytes]) -> Path | None:
    """Replace ``path``'s bytes with ``transform(bytes)``, keeping its mode; return the backup, if changed."""
    from onboard.awsconfig.files import read_bytes
    from onboard.fileio import atomic_write, file_lock, keep_backup

    target = _written_through(path)
    with file_lock(target):
        before = read_bytes(target)
        if before is None:
            raise OnboardError(f"{path} no longer exists", "Run `onboard doctor` again.")
        after = transform(before)
        if after == before:
            return None
        backup = keep_backup(target, before)
        atomic_write(target, after, stat.S_IMODE(os.stat(target).st_mode))
    return backup


def _written_through(path: Path) -> Path:
    """The file a write must replace: a symlinked ~/.aws/config (a dotfiles repo) is written through."""
    return Path(os.path.realpath(path))


# --- the AWS files ---------------------------------------------------------------------------------------


def tighten_permissions(path: Path) -> Fix:
    def apply() -> FixResult:
        from onboard.awsconfig import tighten_permissions as chmod_private
        from onboard.awsconfig.files import read_bytes
        from onboard.fileio import file_lock, keep_backup

        target = _written_through(path)
        with file_lock(target):
            before = read_bytes(target)
            backup = keep_backup(target, before) if before is not None else None
            old_mode = stat.filemode(os.stat(target).st_mode)
            chmod_private(path)
        return FixResult(f"{path}: mode {old_mode} -> -rw-------", _shown(backup))

    return Fix("config.tighten-permissions", f"Make {path} readable by you only (chmod 600)", apply)


def repair_structure(path: Path, bom: bool, duplicates: list[str]) -> Fix:
    """Remove a BOM and merge sections that appear twice: the two ConfigParseErrors a fix can settle."""
    parts = []
    if bom:
        parts.append("remove the byte-order mark at its start")
    if duplicates:
        names = ", ".join(f"[{name}]" for name in duplicates)
        parts.append(f"merge the duplicate sections {names} into their first occurrence (later values win)")

    def apply() -> FixResult:
        backup = rewrite_file(path, lambda data: merge_duplicate_sections(data.removeprefix(UTF8_BOM)))
        return FixResult(f"{path}: {' and '.join(parts)}", _shown(backup))

    return Fix("config.repair-structure", f"In {path}: {' and '.join(parts)}", apply)


def merge_duplicate_sections(data: bytes) -> bytes:
    """``data`` with every section that appears again merged into its first occurrence.

    Keys of a later copy replace the first copy's (on the first copy's line) or are added at the end of
    the first copy; the later copy's header and keys go, its comments and blank lines stay.
    """
    from onboard.awsconfig.ini import Line, Role, parse

    text = data.decode("utf-8")
    document = parse(text)
    lines = document.lines
    first_of: dict[str, int] = {}
    groups: dict[int, list[int]] = {}
    for position, section in enumerate(document.sections):
        if section.header in first_of:
            groups[first_of[section.header]].append(position)
        else:
            first_of[section.header] = position
            groups[position] = []
    if not any(groups.values()):
        return data
    sections = document.sections
    dropped: set[int] = set()
    replaced_at: dict[int, list[Line]] = {}  # option line index -> lines that replace the entry
    added_at: dict[int, list[Line]] = {}  # index one past a first copy's content -> lines added there
    for first, later in groups.items():
        if not later:
            continue
        keep = sections[first]
        latest = {}
        for position in later:
            copy = sections[position]
            for entry in copy.entries:
                latest[entry.key] = lines[entry.first : entry.last + 1]
            for index in range(copy.first, copy.end):
                if lines[index].role in (Role.HEADER, Role.OPTION, Role.CONTINUATION, Role.INVALID):
                    dropped.add(index)
        for entry in keep.entries:
            if entry.key in latest:
                replaced_at[entry.first] = latest.pop(entry.key)
                dropped.update(range(entry.first + 1, entry.last + 1))
        added_at[keep.content_end(lines)] = [line for block in latest.values() for line in block]
    out: list[Line] = []
    for index, line in enumerate(lines):
        out.extend(added_at.get(index, []))
        if index in replaced_at:
            out.extend(replaced_at[index])
        elif index not in dropped:
            out.append(line)
    out.extend(added_at.get(len(lines), []))
    newline = document.newline
    for line in out[:-1]:
        line.ending = line.ending or newline
    return "".join(line.text + line.ending for line in out).encode("utf-8")


def rename_key(path: Path, header_line: int, old: str, new: str) -> Fix:
    """Rename the key ``old`` to ``new`` in the section whose header is on ``header_line`` (same value)."""

    def rename(data: bytes) -> bytes:
        from onboard.awsconfig.ini import parse

        text = data.decode("utf-8")
        document = parse(text)
        for section in document.sections:
            entry = section.entry(old) if section.first + 1 == header_line else None
            if entry is not None:
                line = document.lines[entry.first]
                indent = line.indent
                line.text = indent + new + line.text[len(indent) + len(old) :]
                return document.text().encode("utf-8")
        raise OnboardError(
            f"{path} no longer has `{old}` on line {header_line}'s section", "Run `onboard doctor` again."
        )

    def apply() -> FixResult:
        backup = rewrite_file(path, rename)
        return FixResult(f"{path}: `{old}` renamed to `{new}`", _shown(backup))

    return Fix("config.rename-key", f"In {path}: rename `{old}` to `{new}` (its value stays as it is)", apply)


def set_output(profile: str, output: str) -> Fix:
    """Write ``output = OUTPUT`` into the profile's config-file section, as ``aws configure set`` does."""

    def apply() -> FixResult:
        from onboard.awsconfig import ProfileSettings, apply_plan, plan_profile

        changes = apply_plan(plan_profile(ProfileSettings(name=profile, output=output)))
        backups = tuple(str(change.backup) for change in changes if change.backup is not None)
        return FixResult(f"profile {profile}: output = {output}", backups)

    return Fix("config.set-output", f"Set `output = {output}` in the profile {profile!r}", apply)


def move_region(profiles: dict[str, str]) -> Fix:
    """Move ``region`` from credentials-file sections (profile -> value) into the config file."""
    shown = ", ".join(f"[{name}] region = {value}" for name, value in profiles.items())

    def apply() -> FixResult:
        from onboard.awsconfig import ProfileSettings, apply_plan, plan_profile

        done, backups = [], []
        for name, value in profiles.items():
            plan = plan_profile(ProfileSettings(name=name, region=value))
            for change in apply_plan(plan):
                if change.backup is not None:
                    backups.append(str(change.backup))
            done.append(f"profile {name}: region {value} now in the config file only")
        return FixResult("; ".join(done), tuple(dict.fromkeys(backups)))

    return Fix(
        "config.move-region",
        f"Move {shown} from the credentials file to the config file (same value, so nothing else changes)",
        apply,
    )


# --- the plugin --------------------------------------------------------------------------------------------


def reinstall_plugin(team: TeamFile | None) -> Fix:
    source = team.plugin.download_url if team is not None and team.plugin is not None else None
    where = f" from the team's mirror {source}" if source else ""

    def apply() -> FixResult:
        from onboard.platform import detect
        from onboard.plugin.install import install_plugin

        trusted = team.plugin.trusted_keys() if team is not None and team.plugin is not None else []
        result = install_plugin(
            platform=detect(), download_url=source, extra_trusted_keys=trusted, progress=False
        )
        then = None if result.on_path_first else str(result.path_hint or "put its folder first on PATH")
        backups = (str(result.backed_up),) if result.backed_up else ()
        return FixResult(
            f"installed session-manager-plugin {result.version} (signature checked: {result.verified_by}) "
            f"at {result.link}",
            backups,
            then,
        )

    return Fix(
        "plugin.reinstall",
        f"Install the Session Manager plugin for this machine{where} (signature checked; a copy in the way "
        "is kept as a backup)",
        apply,
    )


def relink_plugin(link: Path, installed: Path) -> Fix:
    def apply() -> FixResult:
        from onboard.fileio import keep_backup, swap_link

        backup = None
        if link.is_file() and not link.is_symlink():  # somebody's own copy: keep it
            backup = keep_backup(link, link.read_bytes())
        link.parent.mkdir(parents=True, exist_ok=True)
        swap_link(link, installed)
        return FixResult(f"{link} -> {installed}", _shown(backup))

    return Fix("plugin.relink", f"Point {link} at onboard's installed plugin {installed}", apply)


def add_path_line(startup: Path, line: str, shown: str) -> Fix:
    """Append ``line`` to the shell's startup file (after a backup when it exists)."""

    def apply() -> FixResult:
        from onboard.fileio import atomic_write, file_lock, keep_backup

        target = _written_through(startup)
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(target):
            try:
                before: bytes | None = target.read_bytes()
            except FileNotFoundError:
                before = None
            existing = (before or b"").decode("utf-8", errors="replace")
            if line in existing.splitlines():
                return FixResult(
                    f"{shown} already has the line", then=f"open a new terminal (or: source {shown})"
                )
            separator = "" if not existing or existing.endswith("\n") else "\n"
            after = f"{existing}{separator}\n{STARTUP_COMMENT}\n{line}\n".encode()
            backup = keep_backup(target, before) if before is not None else None
            mode = stat.S_IMODE(os.stat(target).st_mode) if before is not None else 0o644
            atomic_write(target, after, mode)
        return FixResult(
            f"added to {shown}: {line}", _shown(backup), f"open a new terminal (or: source {shown})"
        )

    return Fix("plugin.path-line", f"Add `{line}` to {shown}", apply)


def _shown(backup: Path | None) -> tuple[str, ...]:
    return (str(backup),) if backup is not None else ()
