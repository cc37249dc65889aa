"""Writing a planned profile safely: locked, re-checked, backed up, atomic, symlink-safe and private.

The order matters and is the point of this module: take a lock on each file (so two wizards cannot
lose each other's update; the lock files live in onboard's state folder, not in ``~/.aws``), re-read
the files and re-plan if they changed since the user saw the plan, keep a bounded number of private
backups of each file's old content, then replace the file atomically (the symlink's target, never the
link), all through :mod:`onboard.fileio`. A kill at any moment leaves the old file or the new one,
never a truncated one; a full disk leaves the old file and no empty backup.

A credentials file that other users can read is made private (0600) when it is written, and a
folder holding it that others can write to is made 0700; each such change is reported, so the wizard
can say so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from onboard.awsconfig.files import read_bytes
from onboard.awsconfig.profile import ProfilePlan, plan_profile
from onboard.errors import OnboardError
from onboard.fileio import (
    PRIVATE_FILE,
    atomic_write,
    file_lock,
    keep_backup,
    private_folder,
    remove_stale_temp_files,
)

#: Mode bits that let other users read or write a file.
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
#: Mode bits that let other users replace what a folder holds.
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True)
class AppliedChange:
    """A file that was written, its backup (None when the file is new), and the modes made private."""

    path: Path
    backup: Path | None
    #: One sentence per mode tightened ("... was readable by other users (-rw-r--r--): it is now 0600").
    tightened: tuple[str, ...] = ()


def real_path(path: Path) -> Path:
    """The file a write must replace: the symlink's final target when ``path`` is a link."""
    return Path(os.path.realpath(path))


def _tighten_folder(folder: Path) -> str | None:
    """Make ``folder`` 0700 when others can write to it (they could swap the credentials file)."""
    if os.name != "posix":  # pragma: no cover - Windows uses ACLs
        return None
    before = folder.stat().st_mode
    if not before & _OTHERS_WRITE:
        return None
    private_folder(folder, tighten=True)
    return f"{folder} could be changed by other users ({stat.filemode(before)}): it is now 0700."


def _new_mode(target: Path, holds_secrets: bool) -> tuple[int, str | None]:
    """The mode to write ``target`` with (its own, a secret file's made private) and what changed."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return PRIVATE_FILE, None
    if holds_secrets and os.name == "posix" and mode & _OTHERS:
        said = f"{target} was readable by other users ({stat.filemode(mode)[1:]}): it is now 0600."
        return mode & ~_OTHERS & 0o7777, said
    return mode, None


def _write_one(path: Path, before: bytes | None, after: bytes, holds_secrets: bool) -> AppliedChange:
    target = real_path(path)
    private_folder(target.parent)
    tightened = [said for said in (_tighten_folder(target.parent) if holds_secrets else None,) if said]
    mode, said = _new_mode(target, holds_secrets)
    if said:
        tightened.append(said)
    remove_stale_temp_files(target)
    saved = keep_backup(target, before) if before is not None else None
    atomic_write(target, after, mode)
    return AppliedChange(path, saved, tuple(tightened))


def _replan_if_changed(plan: ProfilePlan) -> ProfilePlan:
    """The plan to write now: ``plan`` itself, or a fresh one when a file changed since planning."""
    if all(read_bytes(path) == seen for path, seen in plan.seen.items()):
        return plan
    fresh = plan_profile(plan.settings, plan.files, strip_bom=plan.strip_bom)
    unreviewed = [line for line in fresh.replaced if line not in plan.replaced]
    if unreviewed:
        raise OnboardError(
            "Another program changed the AWS files since the plan was shown, and writing now would also "
            "replace: " + "; ".join(unreviewed),
            hint="Run the command again to review the new plan.",
        )
    return fresh


def _write_failed(error: OSError, fallback: Path) -> OnboardError:
    """What went wrong, said as what it is: a full disk is not an ownership problem."""
    failed = Path(error.filename) if error.filename else fallback
    folder = failed.parent if error.filename else failed
    message = (
        f"Could not write {failed}: {error.strerror or error}. The file being written was left as it was."
    )
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = (
            f"The disk (or your quota) holding {folder} is full: free some space (df -h {folder}), "
            "then run again."
        )
    elif error.errno == errno.EROFS:
        hint = (
            f"{folder} is on a read-only file system: write to a writable folder "
            "(set AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE to files there)."
        )
    elif error.errno in (errno.EACCES, errno.EPERM):
        hint = (
            f"Check that you own {folder} and can write to it (a folder made with sudo is owned by root: "
            f'sudo chown -R "$(id -un)" {folder}).'
        )
    else:
        hint = f"Check {folder} (ls -ld {folder}), then run again."
    return OnboardError(message, hint=hint)


def apply_plan(plan: ProfilePlan) -> list[AppliedChange]:
    """Write the plan's changes; a no-op plan writes nothing (no backup, no lock)."""
    if plan.is_noop:
        return []
    # The other file is locked too: it was read for the plan, and a re-plan reads it again.
    targets = sorted({real_path(path) for path in plan.seen} | {real_path(c.path) for c in plan.changes})
    credentials = real_path(plan.files.credentials)
    try:
        with contextlib.ExitStack() as locks:
            for target in targets:  # always in the same order, so two writers cannot deadlock
                locks.enter_context(file_lock(target))
            current = _replan_if_changed(plan)
            return [
                _write_one(change.path, change.before, change.after, real_path(change.path) == credentials)
                for change in current.changes
            ]
    except OSError as error:
        raise _write_failed(error, targets[0].parent) from None
