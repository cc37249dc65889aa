"""The shared file primitives: atomic writes, private folders, link swaps, locks and bounded backups."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from onboard import fileio
from onboard.errors import OnboardError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "work"
    made.mkdir()
    return made


def test_atomic_write_replaces_and_sets_mode(folder: Path) -> None:
    tmp_path = folder
    target = tmp_path / "file"
    target.write_text("old")
    fileio.atomic_write(target, b"new", 0o640)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(folder: Path, monkeypatch) -> None:
    tmp_path = folder
    target = tmp_path / "file"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError):
        fileio.atomic_write(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_atomic_writer_streams_and_an_error_in_the_block_keeps_the_old_file(folder: Path) -> None:
    target = folder / "download.bin"
    target.write_bytes(b"old")
    with fileio.atomic_writer(target, 0o644) as out:
        for _ in range(3):
            out.write(b"chunk ")
        assert target.read_bytes() == b"old", "nothing replaces the file before the block ends"
    assert target.read_bytes() == b"chunk chunk chunk "
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    with pytest.raises(ValueError, match="too large"), fileio.atomic_writer(target) as out:
        out.write(b"half a download")
        raise ValueError("too large")
    assert target.read_bytes() == b"chunk chunk chunk "
    assert sorted(path.name for path in folder.iterdir()) == ["download.bin"]


def test_private_folder_creates_0700_and_tightens_on_request(tmp_path: Path) -> None:
    fresh = tmp_path / "a" / "b"
    assert fileio.private_folder(fresh) is False
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o777)  # noqa: S103 - the loose folder under test
    assert fileio.private_folder(loose) is False  # not asked to tighten
    assert fileio.private_folder(loose, tighten=True) is True
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_swap_link_replaces_target_in_one_step(folder: Path) -> None:
    tmp_path = folder
    one, two = tmp_path / "one", tmp_path / "two"
    one.write_text("1")
    two.write_text("2")
    link = tmp_path / "link"
    fileio.swap_link(link, one)
    assert link.read_text() == "1"
    fileio.swap_link(link, two)
    assert link.read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "one", "two"]


def test_lock_files_stay_out_of_the_users_folder(tmp_path: Path) -> None:
    aws = tmp_path / "aws"
    aws.mkdir()
    with fileio.file_lock(aws / "credentials"):
        pass
    assert list(aws.iterdir()) == []
    assert fileio.lock_file_for(aws / "credentials").parent.is_dir()


def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    target = tmp_path / "credentials"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from onboard import fileio\n"
            f"with fileio.file_lock(Path({str(target)!r})):\n"
            "    print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(OnboardError, match="Another program has been writing"),
            fileio.file_lock(target, timeout=0.3),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with fileio.file_lock(target, timeout=2):  # released by the OS when the holder died
        pass


def test_held_lock_is_seen_by_others_and_released(tmp_path: Path) -> None:
    path = tmp_path / "lab.lock"
    first, second = fileio.HeldLock(path), fileio.HeldLock(path)
    assert first.try_acquire()
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(second.try_acquire()))
    thread.start()
    thread.join()
    assert seen == [False]
    assert second.is_held()
    first.release()
    assert not second.is_held()


def test_keep_backup_is_private_and_bounded(tmp_path: Path) -> None:
    target = tmp_path / "credentials"
    target.write_text("x")
    made = [fileio.keep_backup(target, f"v{n}".encode(), keep=3) for n in range(6)]
    kept = fileio.backups_of(target)
    assert kept == made[-3:]
    assert [p.read_text() for p in kept] == ["v3", "v4", "v5"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept)


def test_lock_files_live_in_the_runtime_folder_not_the_home(tmp_path: Path, isolated_home: Path) -> None:
    """Lock files go where the XDG spec puts them, so a tour's sandboxed setup leaves nothing in the home."""
    lock = fileio.lock_file_for(isolated_home / ".aws" / "credentials")
    assert lock.is_relative_to(Path(os.environ["XDG_RUNTIME_DIR"]))
    assert not lock.is_relative_to(isolated_home)
