"""Access keys as users bring them: pasted (with stray spaces) or in the IAM console's CSV download.

No message here ever contains the secret access key or a console password; the access key ID is
shown only once it has the shape of one (a secret pasted into the ID field must not be echoed).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from onboard.errors import UsageError
from onboard.secrets import Secret

_ACCESS_KEY_ID_RE = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")
SECRET_LENGTH = 40
_WHITESPACE_RE = re.compile(r"\s+")

# Column names of the console's two CSV downloads, compared case-insensitively.
_ID_COLUMN = "access key id"
_SECRET_COLUMN = "secret access key"  # noqa: S105 - a column name, not a password
_USER_COLUMN = "user name"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: Secret
    user_name: str | None = None
    #: Things the user should know (whitespace removed, a temporary key), never containing the secret.
    notices: tuple[str, ...] = ()

    @property
    def is_temporary(self) -> bool:
        return self.access_key_id.startswith("ASIA")


def _without_whitespace(label: str, value: str, notices: list[str]) -> str:
    cleaned = _WHITESPACE_RE.sub("", value)
    if cleaned != value:
        removed = len(value) - len(cleaned)
        notices.append(
            f"Removed {removed} stray whitespace character{'s' if removed != 1 else ''} from the {label}."
        )
    return cleaned


def _check_access_key_id(access_key_id: str) -> None:
    if _ACCESS_KEY_ID_RE.fullmatch(access_key_id):
        return
    if len(access_key_id) == SECRET_LENGTH:
        raise UsageError(
            "The access key ID is 40 characters long: that is the length of a secret access key.",
            hint="The two values may be swapped. The ID starts with AKIA and is 20 characters long.",
        )
    if _ACCESS_KEY_ID_RE.fullmatch(access_key_id.upper()):
        raise UsageError(
            f"The access key ID {access_key_id} has lower-case letters.",
            hint=f"Access key IDs are upper-case: {access_key_id.upper()}. Copy it again from the CSV.",
        )
    raise UsageError(
        f"The access key ID is not shaped like one ({len(access_key_id)} characters).",
        hint="An access key ID is AKIA (or ASIA for a temporary key) followed by 16 upper-case letters or "
        "digits, 20 characters in all. Copy it again from the IAM console's CSV.",
    )


def _check_secret(secret: str) -> None:
    if _ACCESS_KEY_ID_RE.fullmatch(secret):
        raise UsageError(
            "The secret access key looks like an access key ID (AKIA...).",
            hint="The two values may be swapped. The secret is the 40-character value next to the ID.",
        )
    if len(secret) != SECRET_LENGTH:
        raise UsageError(
            f"The secret access key is {len(secret)} characters long; "
            f"secret access keys have {SECRET_LENGTH}.",
            hint="Copy it again in full from the IAM console's CSV (or create a new key if it is lost).",
        )
    if not secret.isascii() or not secret.isprintable():
        raise UsageError(
            "The secret access key contains characters a secret access key never has.",
            hint="Copy it again from the IAM console's CSV, not from a document that may change characters.",
        )


def clean_access_key(access_key_id: str, secret: str | Secret) -> AccessKey:
    """The key with stray whitespace removed (and a notice saying so), or UsageError for a wrong shape."""
    notices: list[str] = []
    secret_text = secret.reveal() if isinstance(secret, Secret) else secret
    access_key_id = _without_whitespace("access key ID", access_key_id, notices)
    secret_text = _without_whitespace("secret access key", secret_text, notices)
    _check_access_key_id(access_key_id)
    _check_secret(secret_text)
    if access_key_id.startswith("ASIA"):
        notices.append("This is a temporary key (ASIA...): it also needs its session token, and it expires.")
    return AccessKey(access_key_id, Secret(secret_text), notices=tuple(notices))


def _column(header: list[str], wanted: str) -> int | None:
    normalised = [cell.strip().lower() for cell in header]
    return normalised.index(wanted) if wanted in normalised else None


#: The header of the IAM console's access-key CSV download, as the console writes it.
CONSOLE_CSV_HEADER = ("Access key ID", "Secret access key")


def console_csv(access_key_id: str, secret_access_key: Secret) -> bytes:
    """An access-key CSV as the IAM console downloads it (what :func:`read_credentials_csv` reads)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CONSOLE_CSV_HEADER)
    writer.writerow((access_key_id, secret_access_key.reveal()))
    return buffer.getvalue().encode("utf-8")


def read_credentials_csv(path: Path) -> AccessKey:
    """The one access key in an IAM console CSV (the access-key CSV or the user-credentials CSV)."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"{path} does not exist.", hint="Give the path of the CSV the IAM console downloaded."
        ) from None
    except OSError as error:
        raise UsageError(
            f"{path} cannot be read: {error.strerror}.", hint="Check the path and its permissions."
        ) from None
    try:
        text = data.decode("utf-8-sig")  # the console writes a byte-order mark
    except UnicodeDecodeError:
        raise UsageError(
            f"{path} is not a text CSV file.", hint="Give the .csv file the IAM console downloaded."
        ) from None
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]
    header = rows[0] if rows else []
    id_column, secret_column = _column(header, _ID_COLUMN), _column(header, _SECRET_COLUMN)
    if id_column is None or secret_column is None:
        # The cells are not shown: a CSV without a header row would have the secret in its first row.
        raise UsageError(
            f"{path} has no 'Access key ID' and 'Secret access key' columns.",
            hint="Use the CSV from the IAM console: Security credentials > Create access key > "
            "Download .csv file.",
        )
    user_column = _column(header, _USER_COLUMN)
    keys = [row for row in rows[1:] if len(row) > max(id_column, secret_column) and row[id_column].strip()]
    if not keys:
        raise UsageError(
            f"{path} holds no access key (its rows have no access key ID).",
            hint="This may be a console-password CSV. Create an access key in the IAM console "
            "and download its CSV.",
        )
    if len({row[id_column].strip() for row in keys}) > 1:
        raise UsageError(
            f"{path} holds {len(keys)} access keys; onboard needs exactly one.",
            hint="Use the CSV downloaded for the one key you mean, or a copy with only that key's row.",
        )
    row = keys[0]
    key = clean_access_key(row[id_column], row[secret_column])
    user_name = row[user_column].strip() if user_column is not None and len(row) > user_column else None
    return AccessKey(key.access_key_id, key.secret_access_key, user_name or None, key.notices)
