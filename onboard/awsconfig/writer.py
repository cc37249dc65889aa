"""Writing a planned profile safely: locked, re-checked, backed up, atomic and symlink-safe.

The order matters and is the point of this module: take a lock beside each file (so two wizards
cannot lose each other's update), re-read the files and re-plan if they changed since the user saw
the plan, copy each file to a timestamped backup, then write a temp file in the same folder, fsync
it and ``os.replace`` it over the real file (the symlink's target, never the link). A kill at any
moment leaves the old file or the new one, never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from onboard.awsconfig.files import read_bytes
from onboard.awsconfig.profile import ProfilePlan, plan_profile
from onboard.errors import OnboardError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]

NEW_FILE_MODE = 0o600
NEW_FOLDER_MODE = 0o700
TEMP_SUFFIX = ".onboard-tmp"
BACKUP_INFIX = ".onboard-backup-"
LOCK_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class AppliedChange:
    """A file that was written, and its backup (None when the file is new or backups were off)."""

    path: Path
    backup: Path | None


def real_path(path: Path) -> Path:
    """The file a write must replace: the symlink's final target when ``path`` is a link."""
    return Path(os.path.realpath(path))


def ensure_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) private to the user: a new ~/.aws is 0700."""
    if folder.is_dir():
        return
    folder.mkdir(mode=NEW_FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(folder, NEW_FOLDER_MODE)  # mkdir's mode is filtered by the umask


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.onboard-lock")


def _try_lock(descriptor: int) -> bool | None:
    """True when locked, False when another holder has it, None when this file system offers no lock."""
    if fcntl is not None:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:  # e.g. ENOLCK on some network file systems
            return None
        return True
    if msvcrt is not None:  # pragma: no cover - Windows
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    return None  # pragma: no cover - neither


def _acquire(descriptor: int, target: Path, timeout: float) -> bool:
    """Wait for the lock; False when the platform offers none (the write then goes unlocked)."""
    deadline = time.monotonic() + timeout
    while (locked := _try_lock(descriptor)) is False:
        if time.monotonic() >= deadline:
            raise OnboardError(
                f"Another program has been writing {target} for {timeout:.0f} seconds.",
                hint="Wait for the other onboard (or aws configure) to finish, then run again.",
            )
        time.sleep(0.05)
    return bool(locked)


@contextlib.contextmanager
def file_lock(target: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (through a lock file beside it) for a read-modify-write."""
    ensure_folder(target.parent)
    descriptor = os.open(lock_path(target), os.O_RDWR | os.O_CREAT, NEW_FILE_MODE)
    try:
        locked = _acquire(descriptor, target, timeout)
        try:
            yield
        finally:
            if locked and fcntl is not None:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
            elif locked and msvcrt is not None:  # pragma: no cover - Windows
                msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(descriptor)


def _remove_stale_temp_files(target: Path) -> None:
    # Left by a writer killed between writing and renaming; safe to remove while holding the lock.
    for leftover in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - folders cannot be opened for fsync on Windows
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write(target: Path, data: bytes, mode: int) -> None:
    """Replace ``target`` with ``data`` in one step: temp file beside it, fsync, chmod, rename."""
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(target.parent)


def write_backup(target: Path, data: bytes) -> Path:
    """A 0600 copy of ``data`` beside ``target``, named with the UTC time (never overwriting one)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(1000):
        suffix = "" if attempt == 0 else f"-{attempt}"
        backup = target.with_name(f"{target.name}{BACKUP_INFIX}{stamp}{suffix}")
        try:
            descriptor = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return backup
    raise OnboardError(f"Could not find a free backup name beside {target}.", hint="Remove old backups.")


def _replan_if_changed(plan: ProfilePlan) -> ProfilePlan:
    """The plan to write now: ``plan`` itself, or a fresh one when a file changed since planning."""
    if all(read_bytes(path) == seen for path, seen in plan.seen.items()):
        return plan
    fresh = plan_profile(plan.settings, plan.files, strip_bom=plan.strip_bom)
    unreviewed = [line for line in fresh.replaced if line not in plan.replaced]
    if unreviewed:
        raise OnboardError(
            "The AWS files changed since the plan was shown, and writing now would also replace: "
            + "; ".join(unreviewed),
            hint="Run the command again to review the new plan.",
        )
    return fresh


def _write_one(path: Path, before: bytes | None, after: bytes, backup: bool) -> AppliedChange:
    target = real_path(path)
    ensure_folder(target.parent)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    _remove_stale_temp_files(target)
    saved = write_backup(target, before) if backup and before is not None else None
    atomic_write(target, after, mode)
    return AppliedChange(path, saved)


def apply_plan(plan: ProfilePlan, *, backup: bool = True) -> list[AppliedChange]:
    """Write the plan's changes; a no-op plan writes nothing (no backup, no lock file)."""
    if plan.is_noop:
        return []
    written = {real_path(change.path) for change in plan.changes}
    # The other file is locked too (it was read for the plan) unless its folder does not even exist.
    read = {real_path(path) for path in plan.seen if real_path(path).parent.is_dir()}
    targets = sorted(written | read)
    try:
        with contextlib.ExitStack() as locks:
            for target in targets:  # always in the same order, so two writers cannot deadlock
                locks.enter_context(file_lock(target))
            current = _replan_if_changed(plan)
            return [
                _write_one(change.path, change.before, change.after, backup) for change in current.changes
            ]
    except OSError as error:
        where = Path(error.filename).parent if error.filename else targets[0].parent
        raise OnboardError(
            f"Could not write {error.filename or where}: {error.strerror or error}. "
            "The file being written was left as it was.",
            hint=f"Check that you own {where} and can write to it (a folder made with sudo is owned by root: "
            f'sudo chown -R "$(id -un)" {where}).',
        ) from None
