"""Writing safely: modes, backups, atomic replacement, symlinks, the lock, and re-planning."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from fixtures_awsconfig import ACCESS_KEY_ID, SECRET_ACCESS_KEY, botocore_reads, write

from onboard.awsconfig import ProfileSettings, apply_plan, aws_files, plan_profile
from onboard.awsconfig.writer import real_path
from onboard.errors import OnboardError
from onboard.fileio import BACKUP_INFIX, BACKUPS_KEPT, TEMP_SUFFIX, file_lock

SSM = ProfileSettings(region="eu-west-1", access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


def backups(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if BACKUP_INFIX in p.name)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_new_files_are_0600_in_a_new_0700_folder(umask_022):
    files = aws_files()
    applied = apply_plan(plan_profile(SSM, files))
    assert [change.backup for change in applied] == [None, None]
    assert mode(files.config.parent) == 0o700
    assert mode(files.config) == 0o600 and mode(files.credentials) == 0o600


def test_an_existing_file_keeps_its_mode_and_is_backed_up_once(umask_022):
    files = aws_files()
    write(files.config, "[default]\nregion = us-east-1\n")
    os.chmod(files.config, 0o644)
    applied = apply_plan(plan_profile(SSM, files))
    assert mode(files.config) == 0o644
    backup = applied[0].backup
    assert backup is not None and backup.parent == files.config.parent
    assert backup.read_text() == "[default]\nregion = us-east-1\n" and mode(backup) == 0o600
    # The same write again changes nothing: no new backup, no lock or temp file created.
    before = sorted(os.listdir(files.config.parent))
    again = plan_profile(SSM, files)
    assert again.is_noop and apply_plan(again) == []
    assert sorted(os.listdir(files.config.parent)) == before
    # A real change later makes a second backup, never overwriting the first.
    apply_plan(plan_profile(ProfileSettings(region="us-west-2"), files))
    assert len(backups(files.config.parent)) == 2


def test_a_failure_before_the_rename_leaves_the_old_file_and_no_temp_file(monkeypatch):
    files = aws_files()
    write(files.config, "[default]\nregion = us-east-1\n")
    plan = plan_profile(SSM, files)

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(plan)
    assert files.config.read_text() == "[default]\nregion = us-east-1\n"
    assert leftovers(files.config.parent) == []


def test_a_process_killed_between_write_and_rename_leaves_the_old_file(tmp_path):
    files = aws_files()
    write(files.config, "[default]\nregion = us-east-1\n")
    # A real process, killed with SIGKILL right before os.replace: nothing can clean up after it.
    script = textwrap.dedent(
        """
        import os, signal
        from onboard.awsconfig import ProfileSettings, apply_plan, plan_profile
        os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
        apply_plan(plan_profile(ProfileSettings(region="eu-west-1")))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, env=os.environ)
    assert done.returncode == -9
    assert files.config.read_text() == "[default]\nregion = us-east-1\n"
    assert len(leftovers(files.config.parent)) == 1
    # The next write (holding the lock) clears the leftover and succeeds.
    apply_plan(plan_profile(SSM, files))
    assert leftovers(files.config.parent) == []
    assert botocore_reads(files, "ssm")[0]["region"] == "eu-west-1"


def test_a_symlinked_credentials_file_is_replaced_through_the_link(tmp_path):
    files = aws_files()
    dotfiles = tmp_path / "dotfiles"
    target = write(dotfiles / "aws-credentials", "[dev]\naws_access_key_id = AKIAOTHEROTHEROTHER1\n")
    os.chmod(target, 0o600)
    files.credentials.parent.mkdir(parents=True)
    files.credentials.symlink_to(target)
    applied = apply_plan(plan_profile(SSM, files))
    assert files.credentials.is_symlink() and real_path(files.credentials) == target
    assert "[ssm]" in target.read_text() and mode(target) == 0o600
    credential_backup = next(change.backup for change in applied if change.path == files.credentials)
    assert credential_backup.parent == dotfiles
    assert botocore_reads(files, "ssm")[1][0] == ACCESS_KEY_ID


def test_a_write_waits_for_the_lock():
    files = aws_files()
    plan = plan_profile(SSM, files)
    done = threading.Event()
    with file_lock(real_path(files.config)):
        writer = threading.Thread(target=lambda: (apply_plan(plan), done.set()))
        writer.start()
        time.sleep(0.3)
        assert not done.is_set() and not files.config.exists()
    writer.join(10)
    assert done.is_set() and files.config.exists()


def test_two_writers_planned_at_once_both_survive():
    files = aws_files()
    write(files.config, "[profile ssm]\ncli_pager =\n")
    first = plan_profile(ProfileSettings(region="eu-west-1"), files)
    second = plan_profile(
        ProfileSettings(output="json", access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY)
    )
    threads = [threading.Thread(target=apply_plan, args=(plan,)) for plan in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    config, credentials = botocore_reads(files, "ssm")
    assert (config["region"], config["output"], config["cli_pager"]) == ("eu-west-1", "json", "")
    assert credentials[:2] == (ACCESS_KEY_ID, SECRET_ACCESS_KEY)


def test_many_processes_writing_different_profiles_all_survive():
    files = aws_files()
    script = textwrap.dedent(
        """
        import sys
        from onboard.awsconfig import ProfileSettings, apply_plan, plan_profile
        name = sys.argv[1]
        for _ in range(3):  # plan, then apply: the apply re-reads under the lock
            apply_plan(plan_profile(ProfileSettings(name=name, region="eu-west-1", output="json")))
        """
    )
    names = [f"team-{number}" for number in range(6)]
    workers = [subprocess.Popen([sys.executable, "-c", script, name], env=os.environ) for name in names]
    assert [worker.wait(60) for worker in workers] == [0] * len(names)
    for name in names:
        assert botocore_reads(files, name)[0]["region"] == "eu-west-1"
    assert files.config.read_text().count("[profile team-") == len(names)


def test_a_file_changed_after_planning_is_re_planned():
    files = aws_files()
    write(files.config, "[default]\nregion = us-east-1\n")
    plan = plan_profile(SSM, files)
    with files.config.open("a") as handle:  # someone adds a profile meanwhile
        handle.write("\n[profile work]\nregion = us-west-2\n")
    apply_plan(plan)
    assert botocore_reads(files, "work")[0]["region"] == "us-west-2"
    assert botocore_reads(files, "ssm")[0]["region"] == "eu-west-1"


def test_a_change_the_user_did_not_review_is_refused():
    files = aws_files()
    plan = plan_profile(SSM, files)
    write(files.config, "[profile ssm]\nregion = ap-south-1\nrole_arn = arn:aws:iam::111122223333:role/x\n")
    with pytest.raises(OnboardError, match="changed the AWS files since the plan was shown") as raised:
        apply_plan(plan)
    assert "role_arn in [profile ssm]" in raised.value.message
    assert "ap-south-1" in files.config.read_text()


def test_a_lock_held_too_long_is_explained():
    target = real_path(aws_files().config)
    with file_lock(target):
        started = time.monotonic()
        with (
            pytest.raises(OnboardError, match="Another program has been writing") as raised,
            file_lock(target, 0.3),
        ):
            pass
        assert time.monotonic() - started >= 0.3
    assert "run again" in raised.value.hint


def test_no_lock_file_is_left_in_the_aws_folder():
    files = aws_files()
    write(files.config, "[default]\nregion = us-east-1\n")
    apply_plan(plan_profile(SSM, files))
    assert sorted(p.name for p in files.config.parent.iterdir() if BACKUP_INFIX not in p.name) == [
        "config",
        "credentials",
    ]


def test_backups_of_the_secret_file_are_bounded_and_private():
    files = aws_files()
    for number in range(BACKUPS_KEPT + 3):
        secret = SECRET_ACCESS_KEY[:-2] + f"{number:02d}"
        settings = ProfileSettings(access_key_id=ACCESS_KEY_ID, secret_access_key=secret)
        apply_plan(plan_profile(settings, files))
    kept = [p for p in files.credentials.parent.iterdir() if p.name.startswith("credentials" + BACKUP_INFIX)]
    assert len(kept) == BACKUPS_KEPT
    assert all(mode(p) == 0o600 for p in kept)
    # The newest backup holds the version just before the last write.
    newest = max(kept, key=lambda p: p.name)
    assert SECRET_ACCESS_KEY[:-2] + f"{BACKUPS_KEPT + 1:02d}" in newest.read_text()


def test_a_group_readable_credentials_file_and_an_open_folder_are_tightened_and_said(umask_022):
    files = aws_files()
    write(files.credentials, "[dev]\naws_access_key_id = AKIAOTHEROTHEROTHER1\n")
    write(files.config, "[default]\nregion = us-east-1\n")
    os.chmod(files.credentials, 0o644)
    os.chmod(files.config, 0o644)
    os.chmod(files.credentials.parent, 0o777)  # noqa: S103 - the mistake under test
    applied = apply_plan(plan_profile(SSM, files))
    assert mode(files.credentials) == 0o600
    assert mode(files.credentials.parent) == 0o700
    assert mode(files.config) == 0o644  # no secret in it: its mode is the user's choice
    said = [line for change in applied for line in change.tightened]
    assert any(str(files.credentials) in line and "0600" in line for line in said), said
    assert any(str(files.credentials.parent) in line and "0700" in line for line in said), said


def _in_a_small_file_system(tmp_path, script: str, size: str = "64k", read_only: bool = False):
    """Run ``script`` with HOME on a tmpfs of ``size`` (a real full disk), in a private mount namespace."""
    import shutil

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a private mount")
    small = tmp_path / "small"
    small.mkdir()
    remount = f"mount -o remount,ro,bind {small} {small} && " if read_only else ""
    command = (
        f"mount -t tmpfs -o size={size} tmpfs {small} && mkdir -p {small}/.aws && "
        f"printf '[default]\\nregion = us-east-1\\n# %s\\n' \"$(head -c 40000 /dev/zero | tr '\\0' x)\" "
        f'> {small}/.aws/config && {remount}exec {sys.executable} -c "$SCRIPT"'
    )
    env = {**os.environ, "HOME": str(small), "SCRIPT": script}
    done = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, env=env)
    if "unshare failed" in done.stderr or "Operation not permitted" in done.stderr:
        pytest.skip(f"no private mount namespace here: {done.stderr.strip()}")
    return done


def test_a_full_disk_leaves_no_empty_backup_and_says_the_disk_is_full(tmp_path):
    script = textwrap.dedent(
        """
        import os
        from pathlib import Path
        from onboard.awsconfig import ProfileSettings, apply_plan, plan_profile
        from onboard.errors import OnboardError
        aws = Path.home() / ".aws"
        before = (aws / "config").read_bytes()
        try:
            apply_plan(plan_profile(ProfileSettings(region="eu-west-1")))
        except OnboardError as error:
            print("MESSAGE", error.message)
            print("HINT", error.hint)
        assert (aws / "config").read_bytes() == before
        print("LEFT", sorted((p.name, p.stat().st_size) for p in aws.iterdir()))
        """
    )
    done = _in_a_small_file_system(tmp_path, script)
    assert done.returncode == 0, done.stderr
    assert "No space left" in done.stdout
    assert "chown" not in done.stdout and "full" in done.stdout.split("HINT", 1)[1]
    left = done.stdout.split("LEFT", 1)[1]
    assert "onboard-backup" not in left and "onboard-tmp" not in left, left


def test_a_read_only_folder_is_explained(tmp_path):
    script = textwrap.dedent(
        """
        from onboard.awsconfig import ProfileSettings, apply_plan, plan_profile
        from onboard.errors import OnboardError
        try:
            apply_plan(plan_profile(ProfileSettings(region="eu-west-1")))
        except OnboardError as error:
            print("MESSAGE", error.message)
            print("HINT", error.hint)
        """
    )
    done = _in_a_small_file_system(tmp_path, script, read_only=True)
    assert done.returncode == 0, done.stderr
    assert "read-only" in done.stdout.lower() and "left as it was" in done.stdout
