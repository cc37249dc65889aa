"""A class: its list of learners, the checks their names must pass, and the kit each learner is handed.

The class list is a CSV file with a header row, as a spreadsheet exports it::

    name,display_name,email
    # comment lines and blank lines are ignored
    alice,Alice Martin,alice@example.com
    bob,,

``name`` (the learner's IAM user name) is required; ``display_name`` and ``email`` are optional. The names
are checked as IAM checks user names, once each regardless of case (IAM's names are case-insensitively
unique), and a set where one name is another's followed by ``-`` is refused (:mod:`onboard.iamnames`
says why). ``--learners a,b,c`` gives the same :class:`ClassList` through :func:`class_from_names`.

A kit (:func:`write_kit`) is what one learner is handed: a folder with the team file, the access-key CSV
that ``onboard setup --credentials-csv`` imports, a welcome text with the two commands to run (and the
lab's CA certificate when there is one), every file 0600 in a 0700 folder, and the same files in a zip.
"""

from __future__ import annotations

import csv
import io
import stat
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from onboard import iamnames
from onboard.awsconfig import console_csv
from onboard.errors import UsageError
from onboard.fileio import PRIVATE_FILE, atomic_write, private_folder
from onboard.secrets import Secret

NAME_COLUMN = "name"
OPTIONAL_COLUMNS = ("display_name", "email")
#: The kit's file names (the key CSV's is ``<name>_accessKeys.csv``, as the IAM console names its download).
TEAM_FILE = "team.toml"
WELCOME_FILE = "WELCOME.txt"
CA_FILE = "ca.pem"


@dataclass(frozen=True)
class Learner:
    name: str
    display_name: str = ""
    email: str = ""

    @property
    def shown_name(self) -> str:
        """How to greet the learner: the display name, else the user name."""
        return self.display_name or self.name


@dataclass(frozen=True)
class ClassList:
    learners: tuple[Learner, ...]
    #: Where the list came from (a file's path, or ``--learners``), for messages.
    source: str = "--learners"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(learner.name for learner in self.learners)


@dataclass(frozen=True)
class Kit:
    folder: Path
    zip_path: Path
    learner: Learner

    @property
    def credentials_csv(self) -> Path:
        return self.folder / key_csv_name(self.learner.name)

    @property
    def team_file(self) -> Path:
        return self.folder / TEAM_FILE


def key_csv_name(user_name: str) -> str:
    return f"{user_name}_accessKeys.csv"


def check_learner_names(names: Iterable[str], *, where: str = "the learner names") -> tuple[str, ...]:
    """``names`` as given; a UsageError with the reason for a name IAM refuses, a repeat or a prefix clash."""
    return iamnames.check_learner_names(names, where=where)


def class_from_names(names: Iterable[str]) -> ClassList:
    """The class given as ``--learners a,b,c`` (names already split), checked."""
    cleaned = tuple(name.strip() for name in names if name.strip())
    if not cleaned:
        raise UsageError("--learners names no learner.", hint="Give the names separated by commas: a,b,c.")
    checked = check_learner_names(cleaned, where="--learners")
    return ClassList(tuple(Learner(name) for name in checked))


def read_class_list(path: Path) -> ClassList:
    """The class list CSV at ``path``; a UsageError naming the file, the line and the fix otherwise."""
    path = Path(path).expanduser()
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a spreadsheet's export may begin with a BOM
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist.", hint="Give the path of the class list CSV.") from None
    except OSError as error:
        raise UsageError(f"{path} cannot be read: {error.strerror}.", hint="Check its permissions.") from None
    except UnicodeDecodeError:
        raise UsageError(
            f"{path} is not UTF-8 text.", hint="Export the class list from the spreadsheet as CSV UTF-8."
        ) from None
    rows = [
        (number, row)
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
        if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
    ]
    if not rows:
        raise UsageError(f"{path} is empty.", hint=f"Write a header row ({NAME_COLUMN},display_name,email).")
    header_line, header = rows[0]
    columns = [cell.strip().lower() for cell in header]
    if NAME_COLUMN not in columns:
        raise UsageError(
            f"{path}, line {header_line}: the header row has no {NAME_COLUMN!r} column.",
            hint=f"Make the first row a header: {NAME_COLUMN},display_name,email "
            f"(only {NAME_COLUMN} is required).",
        )
    unknown = [column for column in columns if column and column not in (NAME_COLUMN, *OPTIONAL_COLUMNS)]
    if unknown:
        raise UsageError(
            f"{path}, line {header_line}: unknown column {unknown[0]!r}.",
            hint=f"The columns are {NAME_COLUMN} (required), display_name and email.",
        )
    known = (NAME_COLUMN, *OPTIONAL_COLUMNS)
    index = {column: columns.index(column) for column in known if column in columns}
    learners: list[Learner] = []
    first_line: dict[str, int] = {}
    for number, row in rows[1:]:
        cells = {column: (row[at].strip() if at < len(row) else "") for column, at in index.items()}
        name = cells[NAME_COLUMN]
        where = f"{path}, line {number}"
        if not name:
            raise UsageError(f"{where}: the {NAME_COLUMN} cell is empty.", hint="Give every learner a name.")
        if name.lower() in first_line:
            raise UsageError(
                f"{where}: {name!r} is already on line {first_line[name.lower()]} "
                "(IAM user names are the same regardless of case).",
                hint="Name each learner once.",
            )
        check_learner_names([name], where=where)
        first_line[name.lower()] = number
        learners.append(Learner(name, cells.get("display_name", ""), cells.get("email", "")))
    if not learners:
        raise UsageError(f"{path} lists no learner.", hint="Add one row per learner under the header.")
    check_learner_names([learner.name for learner in learners], where=str(path))
    return ClassList(tuple(learners), source=str(path))


def welcome_text(learner: Learner) -> str:
    """What the learner reads first: who the kit is for and the two commands to run in the kit's folder."""
    csv_name = key_csv_name(learner.name)
    return (
        f"Welcome, {learner.shown_name}.\n\n"
        f"This kit signs you in to the class as the IAM user {learner.name}.\n"
        "Keep it private: the CSV file holds your secret access key.\n\n"
        "In a terminal, in this folder, run:\n\n"
        f"  onboard setup --credentials-csv {csv_name} --team {TEAM_FILE}\n"
        "  onboard lesson list\n\n"
        "The first sets up your AWS profile and checks it; the second shows the class's lessons.\n"
    )


def write_kit(
    out_dir: Path,
    learner: Learner,
    *,
    team_text: str,
    access_key_id: str,
    secret_access_key: Secret,
    ca_bundle_pem: str | None = None,
) -> Kit:
    """``out_dir/<name>/`` (0700, files 0600) and ``out_dir/<name>.zip`` (0600) for ``learner``.

    ``team_text`` is written as given (the caller adds ``ca_bundle = "ca.pem"`` when it passes
    ``ca_bundle_pem``). Each file is replaced atomically, so a re-run leaves a whole kit or the old one.
    """
    out_dir = Path(out_dir)
    private_folder(out_dir)
    folder = out_dir / learner.name
    private_folder(folder, tighten=True)
    files: dict[str, bytes] = {
        TEAM_FILE: team_text.encode("utf-8"),
        key_csv_name(learner.name): console_csv(access_key_id, secret_access_key),
        WELCOME_FILE: welcome_text(learner).encode("utf-8"),
    }
    if ca_bundle_pem is not None:
        files[CA_FILE] = ca_bundle_pem.encode("ascii")
    for name, data in files.items():
        atomic_write(folder / name, data, PRIVATE_FILE)
    zip_path = out_dir / f"{learner.name}.zip"
    atomic_write(zip_path, _zipped(learner.name, files), PRIVATE_FILE)
    return Kit(folder=folder, zip_path=zip_path, learner=learner)


def _zipped(folder_name: str, files: dict[str, bytes]) -> bytes:
    """The kit's files in a zip under ``<name>/``, each marked 0600 for the unzip that honours it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(f"{folder_name}/{name}", date_time=time.localtime()[:6])
            entry.external_attr = (stat.S_IFREG | PRIVATE_FILE) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return buffer.getvalue()
