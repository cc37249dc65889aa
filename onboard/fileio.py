"""The one set of file primitives every onboard writer uses.

- :func:`atomic_write`: temp file beside the target, fsync, chmod, ``os.replace``, fsync of the folder; a
  failure at any point removes the temp file and leaves the old file as it was. :func:`atomic_writer` is the
  same for content that is streamed (a download, a file taken out of an archive).
- :func:`private_folder`: create a folder that only the user can read (0700), tightening one that exists
  when asked to.
- :func:`swap_link`: point a symlink somewhere else in one rename (a reader sees the old target or the
  new one, never no link).
- :func:`file_lock`: an exclusive, cross-process lock on a file's path (``filelock``, which uses
  ``fcntl`` on POSIX and ``msvcrt`` on Windows). The lock files live in onboard's runtime folder (on Linux
  ``$XDG_RUNTIME_DIR``, where the XDG spec puts locks), never beside the user's files, so ``~/.aws`` holds
  nothing but what the user put there.
- :class:`HeldLock`: the same lock held for the life of a process (the lab), released by the OS when the
  process dies.
- :func:`keep_backup`: a private, timestamped copy of a file's old content, keeping a bounded number.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from onboard.errors import OnboardError

if TYPE_CHECKING:
    from filelock import BaseFileLock

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
TEMP_SUFFIX = ".onboard-tmp"
BACKUP_INFIX = ".onboard-backup-"
#: How many backups of one file are kept; the oldest go first.
BACKUPS_KEPT = 5
LOCK_TIMEOUT_SECONDS = 30.0


def private_folder(folder: Path, *, tighten: bool = False) -> bool:
    """Create ``folder`` (and its parents) as 0700; with ``tighten``, make an existing one 0700 too.

    Returns True when an existing folder's mode was changed (callers say so to the user).
    """
    if not folder.is_dir():
        folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        os.chmod(folder, PRIVATE_FOLDER)  # mkdir's mode is filtered by the umask
        return False
    if tighten and os.name == "posix" and folder.stat().st_mode & 0o077:
        os.chmod(folder, folder.stat().st_mode & 0o7700)
        return True
    return False


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - folders cannot be opened for fsync on Windows
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write(target: Path, data: bytes, mode: int = PRIVATE_FILE, *, durable: bool = True) -> None:
    """Replace ``target`` with ``data`` in one step: temp file beside it, fsync, chmod, rename.

    ``target`` is replaced as a name: when it is a symlink, pass its resolved path to write through it.
    ``durable=False`` skips the fsyncs, for files made again when lost (the lab's download tree).
    """
    with atomic_writer(target, mode, durable=durable) as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_writer(target: Path, mode: int = PRIVATE_FILE, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A file to stream ``target``'s new content into; it replaces ``target`` when the block ends.

    The temp file beside ``target`` is fsync'd (unless not ``durable``), given ``mode`` and renamed over
    ``target`` only if the block raises nothing; otherwise it is removed and ``target`` stays as it was.
    """
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    if durable:
        _fsync_folder(target.parent)


def atomic_write_text(target: Path, text: str, mode: int = PRIVATE_FILE) -> None:
    """:func:`atomic_write` of UTF-8 text."""
    atomic_write(target, text.encode("utf-8"), mode)


def remove_stale_temp_files(target: Path) -> None:
    """Remove temp files a writer killed between writing and renaming left beside ``target``.

    Only safe while holding ``target``'s :func:`file_lock`.
    """
    for leftover in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def swap_link(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target`` in one rename, replacing whatever link was there."""
    temporary = link.with_name(f".{link.name}.{os.urandom(4).hex()}{TEMP_SUFFIX}")
    temporary.symlink_to(target)
    try:
        os.replace(temporary, link)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def lock_file_for(target: Path) -> Path:
    """Where the lock for ``target`` lives: onboard's runtime folder, named by the target's real path."""
    from onboard.paths import app_dirs

    real = os.path.realpath(target)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return app_dirs().runtime / "locks" / f"{Path(real).name}.{digest}.lock"


def _lock(lock_path: Path) -> BaseFileLock:
    from filelock import FileLock

    private_folder(lock_path.parent)
    # thread_local=False: the lab takes its lock on one thread and releases it on another.
    return FileLock(lock_path, mode=PRIVATE_FILE, thread_local=False)


@contextlib.contextmanager
def file_lock(
    target: Path, timeout: float = LOCK_TIMEOUT_SECONDS, *, what: str | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` for a read-modify-write; wait up to ``timeout`` seconds."""
    from filelock import Timeout

    lock = _lock(lock_file_for(target))
    try:
        lock.acquire(timeout=timeout, poll_interval=0.05)
    except Timeout:
        raise OnboardError(
            f"Another program has been writing {what or target} for {timeout:.0f} seconds.",
            hint="Wait for the other onboard to finish, then run again.",
        ) from None
    try:
        yield
    finally:
        lock.release()


class HeldLock:
    """A lock held for the life of a process; :meth:`is_held` tells another process whether it is."""

    def __init__(self, lock_path: Path):
        self.path = lock_path
        self._lock: BaseFileLock | None = None

    def try_acquire(self) -> bool:
        """Take the lock now, or return False when a live process holds it (a crashed one does not)."""
        from filelock import Timeout

        lock = _lock(self.path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        self._lock = lock
        return True

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def is_held(self) -> bool:
        """Whether some live process holds the lock."""
        if self._lock is not None:
            return True
        if not self.path.exists():
            return False
        if self.try_acquire():
            self.release()
            return False
        return True


def backups_of(target: Path) -> list[Path]:
    """The backups :func:`keep_backup` made of ``target``, oldest first."""
    return sorted(target.parent.glob(f"{target.name}{BACKUP_INFIX}*"))


def keep_backup(target: Path, data: bytes, *, keep: int = BACKUPS_KEPT) -> Path:
    """A 0600 copy of ``data`` beside ``target``, named with the UTC time; keeps the newest ``keep``.

    The copy is written in full (through :func:`atomic_write`) before any older backup is removed, so a
    full disk leaves no empty backup and loses no old one.
    """
    # Microseconds in the name, so names sort by age; the loop only runs again within one microsecond.
    for _attempt in range(1000):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        backup = target.with_name(f"{target.name}{BACKUP_INFIX}{stamp}")
        if not (backup.exists() or backup.is_symlink()):
            break
    else:  # pragma: no cover - a thousand backups in one microsecond
        raise OnboardError(f"Could not find a free backup name beside {target}.", hint="Remove old backups.")
    atomic_write(backup, data, PRIVATE_FILE)
    for old in backups_of(target)[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()
    return backup
