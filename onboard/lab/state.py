"""Where a lab keeps its files, and the few it writes: state JSON, access-key CSVs, admin secret, team file.

Everything lives under ``<state folder>/lab/`` (one lab per user)::

    lab.json                  ports, pid, world summary: never a secret
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from onboard.errors import EnvironmentProblem
from onboard.fileio import HeldLock
from onboard.lab.sandbox import Isolation
from onboard.secrets import Secret

#: The IAM console's access-key download: a header row, then the key.


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


@dataclass(frozen=True)
class PluginSummary:
    """Which plugin the learners use: the lab's own (served for download, signed) or AWS's installed one."""

    mode: str
    download_url: str | None = None
    version: str | None = None
    signing_key: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class FaultInForce:
    name: str
    #: The instance id or learner it hits ("" for a fault without a target).
    target: str


@dataclass(frozen=True)
class SessionCounts:
    active: int
    total: int


@dataclass(frozen=True)
class WorldSummary:
    """The world a lab holds (:meth:`onboard.lab.world.World.summary`), as lab.json shows it."""

    team: str
    region: str
    account: str
    learners: tuple[str, ...]
    trainer: str
    #: alias -> instance id, in the world's order.
    instances: dict[str, str]
    transfer_bucket: str
    session_log_bucket: str


@dataclass(frozen=True)
class ClassLabSummary:
    """A class lab (:mod:`onboard.lab.classmode`) as `onboard lab status` shows it: nothing secret (the CA
    certificate is public; its key never leaves the state folder)."""

    address: str
    learners: int
    #: The CA certificate every kit carries, and its SHA-256 fingerprint.
    ca_file: str
    ca_fingerprint: str
    kits_dir: str
    #: Set when the address reaches beyond this computer.
    warning: str | None = None


# kw_only: the fields keep lab.json's order while the ones older lab.json files lack have defaults.
@dataclass(frozen=True, kw_only=True)
class LabStatus:
    """What lab.json and `onboard lab status` show of a running lab: never a secret."""

    pid: int
    lab_id: str
    endpoint_url: str
    port: int
    #: The last lab's endpoint, when its port was taken and this lab had to move.
    moved_from: str | None = None
    data_channel_port: int | None
    started_at: float
    state_dir: str
    team_file: str
    #: user -> their access-key CSV (the path, never the key).
    credentials: dict[str, str]
    world: WorldSummary
    faults: tuple[FaultInForce, ...]
    #: Labs before `--plugin system` served only their own plugin.
    plugin: PluginSummary = PluginSummary(mode="lab")
    sessions: SessionCounts
    #: How instance shells are kept apart from this computer (:mod:`onboard.lab.sandbox`); None in a
    #: lab.json written before labs said.
    isolation: Isolation | None = None
    status: str = "ready"
    #: Set for a class lab (--class/--listen).
    class_lab: ClassLabSummary | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def uses_system_plugin(self) -> bool:
        """Whether the lab runs with ``--plugin system`` (learners use AWS's installed plugin)."""
        return self.plugin.mode == "system"

    def to_json(self) -> dict[str, Any]:
        """lab.json's shape (a plugin summary without the fields its mode lacks)."""
        data = asdict(self)
        data["world"]["learners"] = list(data["world"]["learners"])
        data["faults"] = list(data["faults"])
        data["plugin"] = {key: value for key, value in data["plugin"].items() if value is not None}
        return data

    @classmethod
    def from_json(cls, data: object) -> LabStatus:
        """The status in a lab.json (:meth:`to_json`'s shape, or an older lab's, which lacks the fields that
        have defaults here). Raises ValueError for anything else."""
        top = _Fields(data, "lab.json")
        world = top.table("world")
        plugin = top.optional_table("plugin")
        sessions = top.table("sessions")
        isolation = top.optional_table("isolation")
        class_lab = top.optional_table("class_lab")
        return cls(
            pid=top.get("pid", int),
            lab_id=top.get("lab_id", str),
            endpoint_url=top.get("endpoint_url", str),
            port=top.get("port", int),
            moved_from=top.get("moved_from", str, None),
            data_channel_port=top.get("data_channel_port", int, None),
            started_at=float(top.get("started_at", (int, float))),
            state_dir=top.get("state_dir", str),
            team_file=top.get("team_file", str),
            credentials=top.mapping("credentials"),
            world=WorldSummary(
                team=world.get("team", str),
                region=world.get("region", str),
                account=world.get("account", str),
                learners=tuple(world.strings("learners")),
                trainer=world.get("trainer", str),
                instances=world.mapping("instances"),
                transfer_bucket=world.get("transfer_bucket", str),
                session_log_bucket=world.get("session_log_bucket", str),
            ),
            faults=tuple(
                FaultInForce(name=fault.get("name", str), target=fault.get("target", str))
                for fault in top.tables("faults")
            ),
            plugin=PluginSummary(
                mode=plugin.get("mode", str),
                download_url=plugin.get("download_url", str, None),
                version=plugin.get("version", str, None),
                signing_key=plugin.get("signing_key", str, None),
                fingerprint=plugin.get("fingerprint", str, None),
            )
            if plugin is not None
            else PluginSummary(mode="lab"),
            sessions=SessionCounts(active=sessions.get("active", int), total=sessions.get("total", int)),
            isolation=Isolation(isolation.get("mode", str), isolation.get("detail", str))
            if isolation is not None
            else None,
            status=top.get("status", str),
            class_lab=ClassLabSummary(
                address=class_lab.get("address", str),
                learners=class_lab.get("learners", int),
                ca_file=class_lab.get("ca_file", str),
                ca_fingerprint=class_lab.get("ca_fingerprint", str),
                kits_dir=class_lab.get("kits_dir", str),
                warning=class_lab.get("warning", str, None),
            )
            if class_lab is not None
            else None,
        )


_REQUIRED: Any = object()


class _Fields:
    """Typed reads from one JSON object of lab.json; ValueError (naming the key) for what does not fit."""

    def __init__(self, data: object, where: str):
        if not isinstance(data, dict):
            raise ValueError(f"{where} is not an object")
        self.data: dict[str, Any] = data
        self.where = where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
        value = self.data.get(key)
        if value is None and default is not _REQUIRED:
            return default
        # bool is an int to isinstance; no field here is a bool.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{self.where}: {key} is {value!r}")
        return value

    def table(self, key: str) -> _Fields:
        return _Fields(self.data.get(key), f"{self.where} {key}")

    def optional_table(self, key: str) -> _Fields | None:
        """The table at ``key``; None when it is missing or null."""
        return None if self.data.get(key) is None else self.table(key)

    def tables(self, key: str) -> list[_Fields]:
        return [_Fields(item, f"{self.where} {key}") for item in self.get(key, list)]

    def strings(self, key: str) -> list[str]:
        items = self.get(key, list)
        if not all(isinstance(item, str) for item in items):
            raise ValueError(f"{self.where}: {key} is not a list of strings")
        return items

    def mapping(self, key: str) -> dict[str, str]:
        items = self.get(key, dict)
        if not all(isinstance(value, str) for value in items.values()):
            raise ValueError(f"{self.where}: {key} is not a table of strings")
        return dict(items)


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
