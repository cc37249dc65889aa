"""``onboard transfer put|get``: the write-up's S3 relay, done for the user.

put: the file goes to the user's own prefix of the team's transfer bucket (multipart above 8 MiB, with a
progress bar), then an AWS-StartNonInteractiveCommand session runs the AWS CLI on the instance, which
fetches it with the instance's role, checks its SHA-256 and renames it into place (:mod:`relay`).
get: the same in reverse; the download lands in a temporary file beside the destination, is checked
against the SHA-256 the instance reported, and is renamed into place. The relay object is removed in
both directions, whatever happened. No destination ever holds a partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from onboard.errors import OnboardError, UsageError
from onboard.everyday import relay
from onboard.everyday.commandsession import run_command_session
from onboard.everyday.connect import SessionRequest, check_os_user, find_plugin
from onboard.everyday.reach import Reach, error_code
from onboard.team import Location

NON_INTERACTIVE_COMMAND = "AWS-StartNonInteractiveCommand"
MULTIPART_THRESHOLD = 8 * 1024 * 1024
#: How long the instance's side may take (the AWS CLI there moves the whole file).
REMOTE_TIMEOUT = 15 * 60
#: How long the cleanup after an interrupted transfer may take on the instance.
CLEANUP_TIMEOUT = 60
_RELAY_FOLDER = "onboard-relay"


@dataclass(frozen=True)
class RemotePath:
    host: str
    path: str


def parse_remote(text: str) -> RemotePath:
    """``HOST:PATH`` (HOST an alias, Name tag or id; PATH relative to the user's home on the instance)."""
    host, colon, path = text.partition(":")
    if not colon or not host or not path:
        raise UsageError(
            f"{text!r} is not HOST:PATH",
            "Name the instance and the path there, e.g. jupyter:data/report.csv (relative to your home).",
        )
    return RemotePath(host, path)


@dataclass(frozen=True)
class TransferResult:
    direction: str
    local: str
    instance: str
    remote: str
    size: int
    sha256: str
    seconds: float
    as_user: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


@dataclass
class _Relay:
    """The relay object's place and the clients that move it."""

    reach: Reach
    location: Location
    key: str
    #: In the key and in the instance's hidden file: what the cleanup finds the transfer's leftovers by.
    transfer_id: str

    @property
    def uri(self) -> str:
        return f"s3://{self.location.bucket}/{self.key}"

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.reach.client("s3").delete_object(Bucket=self.location.bucket, Key=self.key)


def _relay(reach: Reach, file_name: str) -> _Relay:
    from onboard.identity import check_identity

    if reach.team is None or reach.team.transfer is None:
        raise UsageError(
            "transfer needs the team file's [transfer] bucket",
            "Name your team file with --team FILE or ONBOARD_TEAM (ask your trainer for it).",
        )
    settings = reach.settings
    identity = check_identity(
        reach.profile, region=settings.region, endpoint_url=settings.endpoint_url, sts=reach.client("sts")
    )
    if identity.user_name is None:
        raise OnboardError(
            f"the profile {reach.profile!r} is not an IAM user ({identity.arn}), and the transfer bucket's "
            "folders are named after IAM users",
            "Use the profile onboard setup wrote with your own access keys.",
        )
    location = reach.team.transfer
    transfer_id = uuid.uuid4().hex
    key = f"{location.user_prefix(identity.user_name)}{_RELAY_FOLDER}/{transfer_id}/{file_name}"
    return _Relay(reach, location, key, transfer_id)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- put


def put(
    reach: Reach, local: Path, instance_id: str, remote: str, as_user: str | None, *, progress: bool
) -> TransferResult:
    check_os_user("--as", as_user)
    if not local.is_file():
        problem = "is a folder" if local.is_dir() else "does not exist"
        raise UsageError(
            f"{local} {problem}", "Name a file on this computer (folders: pack them with tar first)."
        )
    if not os.access(local, os.R_OK):
        raise UsageError(f"{local} cannot be read (no permission)", f"Check its permissions: ls -l {local}")
    started = time.monotonic()
    size = local.stat().st_size
    with ThreadPoolExecutor(max_workers=3) as pool:
        # What does not depend on the upload runs beside it: the plugin's --version (a process of its own),
        # the file's checksum (hashing lets go of the GIL), the S3 client (made while STS answers who the
        # user is: a round trip of its own to AWS) and the SSM client. A missing plugin still stops the
        # transfer before anything is uploaded.
        plugin_check = pool.submit(find_plugin)
        checksum_job = pool.submit(sha256_of, local)
        pool.submit(reach.client, "s3")
        relay_object = _relay(reach, local.name)
        plugin = plugin_check.result()
        pool.submit(reach.client, "ssm")
        try:
            _upload(relay_object, local, size, progress)
            checksum = checksum_job.result()
            script = relay.receive_script(
                relay_object.uri, remote, local.name, checksum, relay_object.transfer_id
            )
            report = _on_instance(relay_object, instance_id, plugin, remote, local.name, script, as_user)
        finally:
            relay_object.remove()
    if report.fields[0] != checksum:
        raise OnboardError(f"the file on the instance has SHA-256 {report.fields[0]}, not {checksum}")
    destination = report.fields[1] if len(report.fields) > 1 else remote
    return TransferResult(
        "put", str(local), instance_id, destination, size, checksum, time.monotonic() - started, as_user
    )


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD, max_concurrency=10
    )


def _upload(relay_object: _Relay, local: Path, size: int, progress: bool) -> None:
    import boto3.exceptions
    import botocore.exceptions

    s3 = relay_object.reach.client("s3")
    with _progress_bar(f"upload {local.name}", size, progress) as advance:
        try:
            s3.upload_file(
                str(local),
                relay_object.location.bucket,
                relay_object.key,
                Config=_transfer_config(),
                Callback=advance,
            )
        except (boto3.exceptions.S3UploadFailedError, botocore.exceptions.ClientError) as failed:
            raise _bucket_error(relay_object, failed, "upload to") from None


def _bucket_error(relay_object: _Relay, failed: Exception, doing: str) -> OnboardError:
    from onboard.secrets import scrub

    text = scrub(str(failed))
    code = error_code(failed)
    bucket = relay_object.location.bucket
    if code == "NoSuchBucket" or "NoSuchBucket" in text:
        return OnboardError(
            f"the transfer bucket {bucket} does not exist",
            "Tell your trainer: the team file's [transfer] bucket is missing in this account and region.",
        )
    if code in ("AccessDenied", "403") or "AccessDenied" in text or "Forbidden" in text:
        folder = relay_object.key.rsplit("/", 3)[0] + "/"
        return OnboardError(
            f"the profile {relay_object.reach.profile!r} may not {doing} s3://{bucket}/{folder}",
            "Ask your trainer for the team's user policy (your own folder of the transfer bucket).",
        )
    return OnboardError(
        f"could not {doing} s3://{bucket}: {text}", "Run `onboard doctor` to check the profile."
    )


@contextlib.contextmanager
def _progress_bar(description: str, total: int, enabled: bool):
    """A callback that advances a progress bar on stderr (a no-op when not shown)."""
    if not enabled:
        yield lambda _amount: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from onboard.output import console

    with Progress(
        "{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda amount: bar.advance(task, amount)


# ---------------------------------------------------------------------------------------------- the instance

_FAILURES = {
    "no-such-path": (
        "{host}:{path} does not exist",
        "Check the path with `onboard connect`; relative paths start in your home there.",
    ),
    "not-a-file": (
        "{host}:{path} is not a file",
        "Transfer one file at a time (pack a folder with tar first).",
    ),
    "no-such-directory": (
        "the folder {detail} does not exist on {host}",
        "Create it first, or name an existing folder.",
    ),
    "no-permission": (
        "no permission on {host} to use {detail}",
        "Use --as USER for the user who owns it, or another folder.",
    ),
    "is-a-directory": ("{detail} on {host} is a folder", "Name the file to write, or a folder to put it in."),
    "checksum": (
        "the file arrived on {host} damaged (SHA-256 {detail}); nothing was written",
        "Run the transfer again.",
    ),
    "s3": (
        "the AWS CLI on {host} could not use the transfer bucket: {detail}",
        "Tell your trainer: the instance role needs the transfer bucket (onboard doctor shows it).",
    ),
}


def _on_instance(
    relay_object: _Relay,
    instance_id: str,
    plugin: str,
    path: str,
    file_name: str,
    script: str,
    as_user: str | None,
) -> relay.Report:
    """Run ``script`` on the instance (as ``as_user``) and read its report; if it never reports
    (interrupted, timed out, the session lost), clean up after it there (:func:`relay.cleanup_script`, in a
    session of its own) before passing the failure on."""
    reach = relay_object.reach
    ssm = reach.client("ssm")
    command = relay.as_command(script, as_user)
    cleanup = relay.as_command(relay.cleanup_script(path, file_name, relay_object.transfer_id), as_user)
    request = SessionRequest(instance_id, NON_INTERACTIVE_COMMAND, {"command": [command]})
    try:
        output, exit_code = run_command_session(reach, ssm, request, plugin, timeout=REMOTE_TIMEOUT)
    except BaseException:
        _clean_up(reach, ssm, instance_id, plugin, cleanup)
        raise
    report = relay.parse_report(output)
    if report is None:
        from onboard.secrets import scrub

        _clean_up(reach, ssm, instance_id, plugin, cleanup)
        tail = scrub(output.strip()[-300:]) or f"no output (plugin exit code {exit_code})"
        raise OnboardError(
            f"the command on {instance_id} did not finish the transfer: {tail}",
            "Nothing was written at the destination. Run `onboard doctor --target ID` and try again.",
        )
    if not report.ok:
        reason = report.fields[0] if report.fields else "unknown"
        detail = report.fields[1] if len(report.fields) > 1 else ""
        message, hint = _FAILURES.get(reason, ("the transfer failed on {host}: {detail}", "Try again."))
        raise OnboardError(message.format(host=instance_id, path=path, detail=detail), hint)
    return report


def _clean_up(reach: Reach, ssm: Any, instance_id: str, plugin: str, cleanup: str) -> None:
    """Best effort: a transfer that failed this way already says so; a leftover the cleanup misses is
    removed by the next transfer into that folder (relay.STALE_MINUTES)."""
    request = SessionRequest(instance_id, NON_INTERACTIVE_COMMAND, {"command": [cleanup]})
    with contextlib.suppress(Exception):
        run_command_session(reach, ssm, request, plugin, timeout=CLEANUP_TIMEOUT)


# ---------------------------------------------------------------------------------------------- get


def get(
    reach: Reach, instance_id: str, remote: str, local: Path, as_user: str | None, *, progress: bool
) -> TransferResult:
    check_os_user("--as", as_user)
    file_name = Path(remote.rstrip("/")).name or "download"
    destination = local / file_name if local.is_dir() else local
    folder = destination.parent
    if not folder.is_dir():
        raise UsageError(f"the folder {folder} does not exist", f"Create it first: mkdir -p {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"no permission to write in {folder}", "Name a folder of yours.")
    plugin = find_plugin()
    started = time.monotonic()
    relay_object = _relay(reach, file_name)
    try:
        script = relay.send_script(remote, relay_object.uri)
        report = _on_instance(relay_object, instance_id, plugin, remote, file_name, script, as_user)
        expected, size = report.fields[0], int(report.fields[1].split()[0])
        _download(relay_object, destination, size, expected, progress)
    finally:
        relay_object.remove()
    return TransferResult(
        "get", str(destination), instance_id, remote, size, expected, time.monotonic() - started, as_user
    )


def _download(relay_object: _Relay, destination: Path, size: int, expected: str, progress: bool) -> None:
    import botocore.exceptions

    s3 = relay_object.reach.client("s3")
    descriptor, part_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    os.close(descriptor)
    part = Path(part_name)
    try:
        with _progress_bar(f"download {destination.name}", size, progress) as advance:
            try:
                s3.download_file(
                    relay_object.location.bucket,
                    relay_object.key,
                    str(part),
                    Config=_transfer_config(),
                    Callback=advance,
                )
            except botocore.exceptions.ClientError as failed:
                raise _bucket_error(relay_object, failed, "download from") from None
        actual = sha256_of(part)
        if actual != expected:
            raise OnboardError(
                f"the download has SHA-256 {actual}, the original {expected}; nothing was written",
                "Run the transfer again.",
            )
        os.chmod(part, 0o666 & ~_umask())
        os.replace(part, destination)
    finally:
        part.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
