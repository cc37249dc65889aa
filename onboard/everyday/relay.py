"""The instance's half of a transfer: shell scripts run by AWS-StartNonInteractiveCommand.

Each runs the AWS CLI on the instance (which acts with the instance's role) and reports one line,
``ONBOARD-TRANSFER ok|fail ...``, that :func:`parse_report` reads back from the session's output. A file
arriving on the instance is written to a temporary name beside its destination, checked against the
SHA-256 sent with the script, and only then renamed into place: an interrupted or failed transfer
(the session's hang-up runs the trap) leaves nothing at the destination.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

MARKER = "ONBOARD-TRANSFER"

_SAY = f"say() {{ printf '{MARKER} %s\\n' \"$*\"; }}"
_AWS_ERROR = 'say fail s3 "$(printf %s "$err" | tr -s "\\r\\n" "  " | cut -c1-400)"'
_OR_FAIL = f"|| {{ {_AWS_ERROR}; exit 1; }}"


def _path(path: str) -> str:
    """A path for the script: relative paths are from the user's home; never one the CLI reads as a flag."""
    if path.startswith("~/"):
        path = path[2:] or "."
    if path == "~":
        path = "."
    if not path.startswith("/"):
        path = "./" + path
    return shlex.quote(path)


def receive_script(s3_uri: str, path: str, file_name: str, sha256: str) -> str:
    """Fetch ``s3_uri`` to ``path`` (a folder: ``path/file_name``), verified, renamed into place."""
    return "\n".join(
        [
            "set -u",
            _SAY,
            'cd "$HOME" || { say fail no-such-directory "$HOME"; exit 1; }',
            f"dest={_path(path)}",
            f'[ -d "$dest" ] && dest="$dest/"{shlex.quote(file_name)}',
            'dir=$(dirname -- "$dest")',
            '[ -d "$dir" ] || { say fail no-such-directory "$dir"; exit 1; }',
            '[ -w "$dir" ] || { say fail no-permission "$dir"; exit 1; }',
            '[ -d "$dest" ] && { say fail is-a-directory "$dest"; exit 1; }',
            '[ ! -e "$dest" ] || [ -w "$dest" ] || { say fail no-permission "$dest"; exit 1; }',
            'part=$(mktemp "$dir/.onboard-transfer.XXXXXX") || { say fail no-permission "$dir"; exit 1; }',
            "trap 'rm -f -- \"$part\"' EXIT",
            "trap 'exit 1' HUP INT TERM",
            f'err=$(aws s3 cp --only-show-errors {shlex.quote(s3_uri)} "$part" 2>&1) {_OR_FAIL}',
            "sum=$(sha256sum -- \"$part\" | cut -d' ' -f1)",
            f'[ "$sum" = {shlex.quote(sha256)} ] || {{ say fail checksum "$sum"; exit 1; }}',
            'chmod "$(printf %o $((0666 & ~$(umask))))" "$part"',
            'mv -f -- "$part" "$dest" || { say fail no-permission "$dest"; exit 1; }',
            "trap - EXIT",
            'say ok "$sum" "$(cd "$(dirname -- "$dest")" && pwd)/$(basename -- "$dest")"',
        ]
    )


def send_script(path: str, s3_uri: str) -> str:
    """Put the instance's file ``path`` at ``s3_uri``, reporting its SHA-256 and size."""
    return "\n".join(
        [
            "set -u",
            _SAY,
            'cd "$HOME" || { say fail no-such-directory "$HOME"; exit 1; }',
            f"src={_path(path)}",
            '[ -e "$src" ] || { say fail no-such-path "$src"; exit 1; }',
            '[ -f "$src" ] || { say fail not-a-file "$src"; exit 1; }',
            '[ -r "$src" ] || { say fail no-permission "$src"; exit 1; }',
            "sum=$(sha256sum -- \"$src\" | cut -d' ' -f1)",
            'size=$(wc -c < "$src" | tr -d " ")',
            f'err=$(aws s3 cp --only-show-errors "$src" {shlex.quote(s3_uri)} 2>&1) {_OR_FAIL}',
            'say ok "$sum" "$size"',
        ]
    )


def as_command(script: str, user: str | None) -> str:
    """The document's ``command``: the script in bash, as ``user`` (sudo -H -u) when one is named."""
    if user is None:
        return f"bash -c {shlex.quote(script)}"
    return f"sudo -H -u {shlex.quote(user)} bash -c {shlex.quote(script)}"


@dataclass(frozen=True)
class Report:
    ok: bool
    #: ok: (sha256, destination or size); fail: (reason, detail).
    fields: tuple[str, ...]


def parse_report(output: str) -> Report | None:
    """The script's report line in the session's output (None: the script never got to say)."""
    for line in reversed(output.replace("\r", "\n").splitlines()):
        words = line.strip().split(" ", 3)
        if len(words) >= 2 and words[0] == MARKER and words[1] in ("ok", "fail"):
            return Report(words[1] == "ok", tuple(words[2:]))
    return None
