"""Which config and credentials files the AWS CLI and boto3 use, and reading them as onboard must."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from onboard.awsconfig.ini import IniDocument, parse
from onboard.errors import EnvironmentProblem, OnboardError

CONFIG_VARIABLE = "AWS_CONFIG_FILE"
CREDENTIALS_VARIABLE = "AWS_SHARED_CREDENTIALS_FILE"
BOM = "\ufeff"


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


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist (a dangling symlink counts as missing)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise OnboardError(f"{path} is a folder, not a file.", hint="Move it aside and run again.") from None
    except PermissionError:
        raise OnboardError(
            f"{path} cannot be read (permission denied).",
            hint=f"Check its owner and mode: ls -l {path}",
        ) from None


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
