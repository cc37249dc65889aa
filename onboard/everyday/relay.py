"""The instance's half of a transfer: shell scripts run by AWS-StartNonInteractiveCommand.

Each runs the AWS CLI on the instance (which acts with the instance's role) and reports one line,
``ONBOARD-TRANSFER ok|fail ...``, that :func:`parse_report` reads back from the session's output. A file
arriving on the instance is written to a hidden name beside its destination, ``.onboard-transfer.ID``
(ID: the transfer's own, in the relay object's key too), checked against the SHA-256 sent with the script,
and only then renamed into place, so the destination never holds a partial file.

An interrupted transfer cannot count on the script to clean up after itself: when the session is
terminated AWS's agent SIGKILLs the command (agent/session/shell/shell.go: ``execCmd.Kill()``), so no trap
runs, and the ``aws s3 cp`` (and ``tee``) it started live on as orphans, still writing. Hence
:func:`cleanup_script`, run by the client in a session of its own: it stops whatever still works for that
transfer (found by the ID in its command line) and removes the transfer's hidden files. And should even
that never run (the laptop lost its network), every transfer into a folder first removes the hidden files
there that nothing has written to for :data:`STALE_MINUTES`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

MARKER = "ONBOARD-TRANSFER"

_SAY = f"say() {{ printf '{MARKER} %s\\n' \"$*\"; }}"
_AWS_ERROR = 'say fail s3 "$(printf %s "$err" | tr -s "\\r\\n" "  " | cut -c1-400)"'
_OR_FAIL = f"|| {{ {_AWS_ERROR}; exit 1; }}"
#: The SHA-256 of stdin: OpenSSL's where the instance has it, else sha256sum. OpenSSL's uses the CPU's SHA
#: instructions; coreutils' (unless built with OpenSSL, as Debian's and Ubuntu's are not) is portable C, five
#: times slower on the lab's machine, where it was the slowest stage of the stream. Printed as OpenSSL 3
#: ("SHA2-256(stdin)= HEX"), 1.x ("(stdin)= HEX") or coreutils ("HEX  -") print it.
_SHA256 = "sha256() { if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256; else sha256sum; fi; }"
#: ``sum``, as any of those printed it, reduced to the hex digest.
_DIGEST_ONLY = "sum=${sum##*= }; sum=${sum%% *}"


def _path(path: str) -> str:
    """A path for the script: relative paths are from the user's home; never one the CLI reads as a flag."""
    if path.startswith("~/"):
        path = path[2:] or "."
    if path == "~":
        path = "."
    if not path.startswith("/"):
        path = "./" + path
    return shlex.quote(path)


#: The hidden files of a transfer into a folder (the AWS CLI's own temporary file is the same plus a suffix).
PART_PREFIX = ".onboard-transfer."
#: A transfer's ID: hex, as uuid4().hex (it goes into scripts and patterns unquoted).
TRANSFER_ID = re.compile(r"[0-9a-f]{8,64}")
#: Hidden files untouched this long belong to no live transfer (one is abandoned after REMOTE_TIMEOUT).
STALE_MINUTES = 60


def _destination(path: str, file_name: str) -> list[str]:
    """Lines setting ``dest`` (the file to write) and ``dir`` (its folder) for ``path`` on the instance."""
    name = shlex.quote(file_name)
    return [
        'cd "$HOME" || { say fail no-such-directory "$HOME"; exit 1; }',
        f"dest={_path(path)}",
        # a trailing slash names a folder to put the file in, whether or not it is there
        f'case $dest in */) dest="$dest"{name} ;; *) [ -d "$dest" ] && dest="$dest/"{name} ;; esac',
        'dir=$(dirname -- "$dest")',
    ]


def _checked(transfer_id: str) -> str:
    if not TRANSFER_ID.fullmatch(transfer_id):
        raise ValueError(f"not a transfer id: {transfer_id!r}")
    return transfer_id


def _unmatched(transfer_id: str) -> str:
    """A pattern matching command lines that hold ``transfer_id`` but not the one that holds the pattern
    (its last character in brackets): the cleanup script's own bash is never among what it stops."""
    return f"{transfer_id[:-1]}[{transfer_id[-1]}]"


def receive_script(s3_uri: str, path: str, file_name: str, sha256: str, transfer_id: str) -> str:
    """Fetch ``s3_uri`` to ``path`` (a folder: ``path/file_name``), verified, renamed into place."""
    return "\n".join(
        [
            "set -u",
            _SAY,
            _SHA256,
            *_destination(path, file_name),
            '[ -d "$dir" ] || { say fail no-such-directory "$dir"; exit 1; }',
            '[ -w "$dir" ] || { say fail no-permission "$dir"; exit 1; }',
            '[ -d "$dest" ] && { say fail is-a-directory "$dest"; exit 1; }',
            '[ ! -e "$dest" ] || [ -w "$dest" ] || { say fail no-permission "$dest"; exit 1; }',
            # what interrupted transfers of this user left here, if their own cleanup never ran
            f'find "$dir" -maxdepth 1 -type f -user "$(id -u)" -name \'{PART_PREFIX}*\' '
            f"-mmin +{STALE_MINUTES} -exec rm -f -- {{}} + 2>/dev/null",
            f'part="$dir/{PART_PREFIX}{_checked(transfer_id)}"',
            '(set -C; umask 077; : > "$part") 2>/dev/null || { say fail no-permission "$dir"; exit 1; }',
            'trap \'rm -f -- "$part" "$part.err"\' EXIT',
            "trap 'exit 1' HUP INT TERM",
            # one stream: the checksum is taken as the bytes arrive, not in a second pass over the file
            "set -o pipefail",
            f'sum=$({{ aws s3 cp --only-show-errors {shlex.quote(s3_uri)} - | tee -- "$part" | sha256; }} '
            '2>"$part.err") || { err=$(cat -- "$part.err"); ' + _AWS_ERROR + "; exit 1; }",
            f'{_DIGEST_ONLY}; rm -f -- "$part.err"',
            f'[ "$sum" = {shlex.quote(sha256)} ] || {{ say fail checksum "$sum"; exit 1; }}',
            'chmod "$(printf %o $((0666 & ~$(umask))))" "$part"',
            'mv -f -- "$part" "$dest" || { say fail no-permission "$dest"; exit 1; }',
            "trap - EXIT",
            'say ok "$sum" "$(cd "$(dirname -- "$dest")" && pwd)/$(basename -- "$dest")"',
        ]
    )


def cleanup_script(path: str, file_name: str, transfer_id: str) -> str:
    """Undo what an interrupted transfer ``transfer_id`` left on the instance: stop its processes (the
    AWS CLI still moving the file, the script if it lives; as Ctrl-C first, so that a CLI uploading the
    relay object aborts its multipart upload), then remove its hidden files beside ``path``.

    Safe to run whatever the transfer got to, and for a transfer from the instance (nothing to remove
    then, but its AWS CLI may still be uploading the relay object).
    """
    pattern = shlex.quote(_unmatched(_checked(transfer_id)))
    return "\n".join(
        [
            "set -u",
            _SAY,
            # SIGINT first: the AWS CLI takes it as Ctrl-C and aborts its multipart upload (s3transfer's
            # failure cleanup); SIGTERM or SIGKILL would end it at once and leave the parts in the bucket.
            "if command -v pkill >/dev/null; then",
            "  for signal in INT TERM; do",
            f'    pkill "-$signal" -f -- {pattern} || break',
            f"    for _ in $(seq 30); do pgrep -f -- {pattern} >/dev/null || break 2; sleep 0.1; done",
            "  done",
            f"  pkill -KILL -f -- {pattern}",
            "fi",
            *_destination(path, file_name),
            # the ID through a variable: this script's own command line must not hold it whole
            f"id={transfer_id[:-1]}'{transfer_id[-1]}'",
            f'[ -d "$dir" ] && rm -f -- "$dir/{PART_PREFIX}$id" "$dir/{PART_PREFIX}$id".*',
            "say ok cleaned",
        ]
    )


def send_script(path: str, s3_uri: str) -> str:
    """Put the instance's file ``path`` at ``s3_uri``, reporting its SHA-256 and size."""
    return "\n".join(
        [
            "set -u",
            _SAY,
            _SHA256,
            'cd "$HOME" || { say fail no-such-directory "$HOME"; exit 1; }',
            f"src={_path(path)}",
            '[ -e "$src" ] || { say fail no-such-path "$src"; exit 1; }',
            '[ -f "$src" ] || { say fail not-a-file "$src"; exit 1; }',
            '[ -r "$src" ] || { say fail no-permission "$src"; exit 1; }',
            f'sum=$(sha256 < "$src"); {_DIGEST_ONLY}',
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
