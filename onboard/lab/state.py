"""Where a lab keeps its files, and the few it writes: state JSON, access-key CSVs, admin secret, team file.

Everything lives under ``<state folder>/lab/`` (one lab per user)::

    lab.json                  ports, pid, world summary (:class:`onboard.lab.status.LabStatus`): never a
                              secret
    lab.lock                  held (onboard.fileio.HeldLock) by the running server: a crashed lab leaves
                              no live lock
    lab.pid                   the pid of the server holding lab.lock
    last-port                 the port the last lab listened on (the next one takes it again)
    admin-secret              0600: the secret /_onboard/admin/ requests carry
    server.log                the detached server's output
    team.toml                 the team file for the lab (what `onboard setup --team` reads)
    credentials/<user>_accessKeys.csv   0600, one per learner, trainer and the lab admin
    sandbox/home/.aws/        the lab's own ~/.aws (empty until `onboard setup` writes it)
    sandbox/bin/              the lab's own bin folder (the plugin goes here, never on the real PATH)
    instances/<id>/home/<user>/         each instance's world
    downloads/plugin/         the plugin bundles the lab serves
    tls/                      a class lab's CA and certificate (onboard.lab.tls; the keys 0600)
    kits/<learner>/, <learner>.zip      a class lab's kits, one per learner (onboard.lab.classmode)
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from onboard.errors import EnvironmentProblem
from onboard.fileio import HeldLock
from onboard.lab.status import LabStatus
from onboard.secrets import Secret


@dataclass(frozen=True)
class LabPaths:
    root: Path

    @classmethod
    def for_user(cls) -> LabPaths:
        from onboard.paths import app_dirs

        return cls(app_dirs().state / "lab")

    @property
    def state_file(self) -> Path:
        return self.root / "lab.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "lab.lock"

    @property
    def pid_file(self) -> Path:
        """The running (or starting) server's pid, written once it holds the lock."""
        return self.root / "lab.pid"

    @property
    def port_file(self) -> Path:
        """The port the last lab listened on: the next one takes it again, so written profiles stay valid."""
        return self.root / "last-port"

    @property
    def admin_secret_file(self) -> Path:
        return self.root / "admin-secret"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def team_file(self) -> Path:
        return self.root / "team.toml"

    @property
    def credentials_dir(self) -> Path:
        return self.root / "credentials"

    def credentials_csv(self, user: str) -> Path:
        return self.credentials_dir / f"{user}_accessKeys.csv"

    @property
    def sandbox_home(self) -> Path:
        return self.root / "sandbox" / "home"

    @property
    def aws_dir(self) -> Path:
        return self.sandbox_home / ".aws"

    @property
    def bin_dir(self) -> Path:
        return self.root / "sandbox" / "bin"

    @property
    def instances_dir(self) -> Path:
        return self.root / "instances"

    @property
    def downloads_dir(self) -> Path:
        return self.root / "downloads" / "plugin"

    @property
    def signing_key_dir(self) -> Path:
        return self.root / "signing"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (0600 from the first byte), atomically."""
    from onboard.fileio import atomic_write, private_folder

    private_folder(path.parent)
    atomic_write(path, data)


def write_text_atomic(path: Path, text: str) -> None:
    from onboard.fileio import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text, mode=0o644)  # read by the lab's shells and by other tools too


def admin_secret(paths: LabPaths, *, create: bool = False) -> str | None:
    """The lab's admin secret (made once, kept 0600), or None when there is none yet."""
    try:
        return paths.admin_secret_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            return None
    value = secrets.token_urlsafe(32)
    write_private(paths.admin_secret_file, value.encode("ascii"))
    return value


def write_credentials_csv(path: Path, access_key_id: str, secret_access_key: Secret) -> None:
    """An IAM-console-style access key CSV (what `onboard setup --credentials-csv` reads), 0600."""
    # Here, not at the top: the awsconfig package costs every `onboard lab` command ~25 ms to import.
    from onboard.awsconfig import console_csv

    write_private(path, console_csv(access_key_id, secret_access_key))


def read_credentials_csv(path: Path) -> tuple[str, Secret]:
    """The access key id and secret in one of the lab's CSVs."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    if not rows:
        raise ValueError(f"{path} holds no access key")
    return rows[0]["Access key ID"], Secret(rows[0]["Secret access key"])


def read_state(paths: LabPaths) -> LabStatus | None:
    """The status in lab.json, or None when there is none or it is not one (garbled, cut short): callers
    then treat the lab as not running, or still starting."""
    try:
        return LabStatus.from_json(json.loads(paths.state_file.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError):
        return None


def write_state(paths: LabPaths, status: LabStatus) -> None:
    write_text_atomic(paths.state_file, json.dumps(status.to_json(), indent=2) + "\n")


def remembered_port(paths: LabPaths) -> int | None:
    """The port the last lab of this state folder listened on, if it left a readable one."""
    try:
        port = int(paths.port_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def remember_port(paths: LabPaths, port: int) -> None:
    write_text_atomic(paths.port_file, f"{port}\n")


class LabLock:
    """One lab per user: :class:`onboard.fileio.HeldLock` on lab.lock (released by the OS when the process
    dies), and the holder's pid in lab.pid for whoever must stop a lab that is not ready yet."""

    def __init__(self, paths: LabPaths):
        self.paths = paths
        self._held = HeldLock(paths.lock_file)

    def acquire(self) -> None:
        if not self._held.try_acquire():
            raise EnvironmentProblem(
                "a lab is already running for this user",
                "See it with `onboard lab status`; stop it with `onboard lab down`.",
            )
        write_text_atomic(self.paths.pid_file, f"{os.getpid()}\n")

    def release(self) -> None:
        self.paths.pid_file.unlink(missing_ok=True)
        self._held.release()


def lock_is_held(paths: LabPaths) -> bool:
    """Whether a live lab process holds the lock (a crashed one does not)."""
    return HeldLock(paths.lock_file).is_held()
