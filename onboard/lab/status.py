"""What a running lab shows of itself (:class:`LabStatus`): what lab.json holds and `onboard lab status`
prints, never a secret; and how it is read back from lab.json (:meth:`LabStatus.from_json`), including the
lab.json of older labs. The file itself is :mod:`onboard.lab.state`'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from onboard.lab.sandbox import Isolation


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
