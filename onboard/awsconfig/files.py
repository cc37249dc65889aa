"""Which config and credentials files the AWS CLI and boto3 use, and reading them as onboard must."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from onboard.awsconfig.ini import IniDocument, parse
from onboard.errors import EnvironmentProblem, OnboardError

CONFIG_VARIABLE = "AWS_CONFIG_FILE"
CREDENTIALS_VARIABLE = "AWS_SHARED_CREDENTIALS_FILE"
BOM = "\ufeff"
#: The largest AWS file onboard edits. Real ones are kilobytes (an SSO organisation's config with
#: thousands of profiles is well under 1 MiB); a bigger one is refused at once, without reading it.
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class AwsFiles:
    """The two files in use, and why (an environment variable, or the default location)."""

    config: Path
    credentials: Path
    config_source: str
    credentials_source: str


def _expand(value: str, environ: Mapping[str, str]) -> Path:
    # botocore runs expandvars then expanduser; "~" follows the HOME of the environment given.
    home = environ.get("HOME") or environ.get("USERPROFILE") or str(Path.home())
    expanded = os.path.expandvars(value)
    if expanded == "~" or expanded.startswith(("~/", "~" + os.sep)):
        expanded = home + expanded[1:]
    return Path(expanded)


def _pick(environ: Mapping[str, str], variable: str, default: str) -> tuple[Path, str]:
    value = environ.get(variable)
    if value is None:
        return _expand(default, environ), f"default ({default})"
    if not value.strip():
        raise EnvironmentProblem(
            f"{variable} is set but empty, so the AWS CLI reads no file at all.",
            hint=f"Unset it (unset {variable}) or point it at a file.",
        )
    return _expand(value, environ), variable


def aws_files(environ: Mapping[str, str] | None = None) -> AwsFiles:
    """The files botocore reads: ``AWS_CONFIG_FILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/...``."""
    environ = os.environ if environ is None else environ
    config, config_source = _pick(environ, CONFIG_VARIABLE, "~/.aws/config")
    credentials, credentials_source = _pick(environ, CREDENTIALS_VARIABLE, "~/.aws/credentials")
    return AwsFiles(config, credentials, config_source, credentials_source)


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _file_in_the_way(path: Path) -> Path:
    """The nearest parent of ``path`` that exists but is not a folder (it made the open fail)."""
    for parent in path.parents:
        if parent.exists():
            return parent
    return path.parent  # pragma: no cover - the root always exists


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist (a dangling symlink counts as missing).

    Anything but a regular file is refused before a byte is read: a FIFO would block forever and a
    device such as ``/dev/zero`` never ends. A symlink loop, a folder, or a file where a folder should
    be (``~/.aws`` itself a file) get a message naming the path.
    """
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        in_the_way = _file_in_the_way(Path(path))
        raise OnboardError(
            f"{in_the_way} is a file, not a folder, so {path} cannot exist.",
            hint=f"Move it aside (mv {in_the_way} {in_the_way}.old), then run again.",
        ) from None
    except IsADirectoryError:  # pragma: no cover - Windows; POSIX opens a folder and fstat says so
        raise OnboardError(f"{path} is a folder, not a file.", hint="Move it aside and run again.") from None
    except PermissionError:
        raise OnboardError(
            f"{path} cannot be read (permission denied).",
            hint=f"Check its owner and mode: ls -l {path}",
        ) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OnboardError(
                f"{path} cannot be read: too many levels of symbolic links (the links form a loop).",
                hint=f"Point {path} at a real file (ls -l {path} shows where it leads), then run again.",
            ) from None
        raise OnboardError(
            f"{path} cannot be read: {error.strerror or error}.", hint=f"Check it: ls -l {path}"
        ) from None
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise OnboardError(f"{path} is a folder, not a file.", hint="Move it aside and run again.")
        if not stat.S_ISREG(mode):
            raise OnboardError(
                f"{path} is not a regular file but {_special_kind(mode)}; the AWS CLI reads only files.",
                hint=f"Replace it with a regular file (or remove it): ls -l {path}",
            )
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise OnboardError(
                f"{path} is {size / 1024 / 1024:.0f} MiB; onboard edits AWS files of at most "
                f"{MAX_FILE_BYTES // 1024 // 1024} MiB (the AWS CLI reads the whole file on every command).",
                hint=f"Check what filled it (a log or a loop appending to it?), keep the profiles you need, "
                f"then run again: ls -l {path}",
            )
        return handle.read(MAX_FILE_BYTES + 1)


def first_undecodable_line(data: bytes) -> int | None:
    """The 1-based line of the first byte that is not UTF-8, or None when all of ``data`` is."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return data[: error.start].count(b"\n") + 1
    return None


def decode(path: Path, data: bytes) -> str:
    """``data`` as text, or an error naming the line that is not UTF-8."""
    line = first_undecodable_line(data)
    if line is not None:
        raise OnboardError(
            f"{path}:{line}: not UTF-8 text, so the AWS CLI cannot read this file.",
            hint="Save the file as UTF-8 (an editor's 'Save with encoding' does it), then run again.",
        )
    return data.decode("utf-8")


def parse_file(path: Path, data: bytes) -> tuple[IniDocument, bool]:
    """The parsed document and whether the text started with a UTF-8 byte-order mark (left out)."""
    text = decode(path, data)
    has_bom = text.startswith(BOM)
    return parse(text[1:] if has_bom else text), has_bom
