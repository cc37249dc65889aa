"""The lab's world: which instances, users, buckets and people a practice lab holds, read from a lab.toml.

The default world follows the seed article (a data team with jupyter, airflow and redash servers, one IAM
group for everyone who uses Session Manager). A trainer copies it with ``onboard lab init-world``, edits it,
and starts the lab with ``onboard lab up --world FILE``. Format (version 1)::

    version = 1
    team = "data-team"
    region = "ap-northeast-1"
    account = "123456789012"          # the lab's AWS account id (12 digits)

    [transfer]                        # the bucket learners move files through
    bucket = "data-team-transfer"
    prefix = "users/"                 # each learner may write under <prefix><iam user name>/
    shared_prefix = "shared/"         # everyone may read and write here

    [session_logs]                    # where session transcripts go (Session Manager's S3 logging)
    bucket = "data-team-session-logs"
    prefix = "sessions/"

    [people]
    group = "ssm-users"               # the IAM group holding the Session Manager user policy
    learners = ["alice"]              # `onboard lab up --learners a,b,...` replaces this list
    trainer = "trainer"

    [[instances]]
    alias = "jupyter"
    id = "i-0a1b2c3d4e5f60001"       # fixed, so the team file stays valid across `lab up`
    users = ["analyst"]               # OS users besides ssm-user that sudo can switch to
    platform = "Amazon Linux"
    platform_version = "2"
    agent_version = "3.3.1142.0"
    private_ip = "10.0.1.23"
    services = { jupyter = 8888 }     # web applications listening on the instance (onboard forward)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.errors import UsageError
from onboard.facts import BUCKET_NAME, INSTANCE_ID, NAME, OS_USER
from onboard.iamnames import IAM_USER_NAME, check_learner_names

if TYPE_CHECKING:
    from onboard.lab.status import WorldSummary

MAX_LEARNERS = 30

DEFAULT_WORLD_TOML = """\
# The practice lab's world: copy this file, edit it, and run `onboard lab up --world lab.toml`.
version = 1
team = "data-team"
region = "ap-northeast-1"
account = "123456789012"

[transfer]
bucket = "data-team-transfer"
prefix = "users/"
shared_prefix = "shared/"

[session_logs]
bucket = "data-team-session-logs"
prefix = "sessions/"

[people]
group = "ssm-users"
learners = ["alice"]
trainer = "trainer"

[[instances]]
alias = "jupyter"
id = "i-0a1b2c3d4e5f60001"
users = ["analyst"]
platform = "Amazon Linux"
platform_version = "2"
agent_version = "3.3.1142.0"
private_ip = "10.0.1.23"
services = { jupyter = 8888 }

[[instances]]
alias = "airflow"
id = "i-0a1b2c3d4e5f60002"
users = ["airflow", "analyst"]
platform = "Amazon Linux"
platform_version = "2"
agent_version = "3.3.1142.0"
private_ip = "10.0.1.24"
services = { airflow = 8080 }

[[instances]]
alias = "redash"
id = "i-0a1b2c3d4e5f60003"
users = ["redash"]
platform = "Ubuntu"
platform_version = "22.04"
agent_version = "3.2.2303.0"
private_ip = "10.0.1.25"
services = { redash = 5000 }
"""

_ACCOUNT = re.compile(r"^[0-9]{12}$")


@dataclass(frozen=True)
class WorldInstance:
    alias: str
    instance_id: str
    users: tuple[str, ...]
    platform: str = "Amazon Linux"
    platform_version: str = "2"
    agent_version: str = "3.3.1142.0"
    private_ip: str = "10.0.1.23"
    #: Web applications on the instance: (name, port), reachable only through a port session.
    services: tuple[tuple[str, int], ...] = ()

    @property
    def platform_type(self) -> str:
        return "Windows" if self.platform.lower().startswith("windows") else "Linux"

    @property
    def hostname(self) -> str:
        return "ip-" + self.private_ip.replace(".", "-")


@dataclass(frozen=True)
class World:
    team: str
    region: str
    account: str
    transfer_bucket: str
    transfer_prefix: str
    shared_prefix: str
    log_bucket: str
    log_prefix: str
    group: str
    learners: tuple[str, ...]
    trainer: str
    instances: tuple[WorldInstance, ...]
    source: str = "(default world)"
    extra: dict[str, Any] = field(default_factory=dict)

    def with_learners(self, learners: list[str]) -> World:
        from dataclasses import replace

        checked = _check_learners(learners, self.trainer, "--learners")
        return replace(self, learners=checked)

    def instance_arn(self, instance_id: str) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account}:instance/{instance_id}"

    def summary(self) -> WorldSummary:
        from onboard.lab.status import WorldSummary

        return WorldSummary(
            team=self.team,
            region=self.region,
            account=self.account,
            learners=tuple(self.learners),
            trainer=self.trainer,
            instances={i.alias: i.instance_id for i in self.instances},
            transfer_bucket=self.transfer_bucket,
            session_log_bucket=self.log_bucket,
        )


def load_world(path: Path | None = None) -> World:
    """The world in ``path`` (a lab.toml), or the default world."""
    if path is None:
        return parse_world(DEFAULT_WORLD_TOML, "(default world)")
    from onboard import tomlfile

    try:
        text = tomlfile.read_text(path, "the lab world file")
    except FileNotFoundError:
        raise UsageError(
            f"cannot read the lab world file {path}: it does not exist",
            "Write one with `onboard lab init-world lab.toml`, then pass it with --world.",
        ) from None
    return parse_world(text, str(path))


def parse_world(text: str, source: str) -> World:
    from onboard import tomlfile

    raw = tomlfile.parse(text, source)
    reader = _Reader(raw, source)
    # Unknown keys first: a misspelt key would otherwise show up as a missing one.
    reader.finish(("version", "team", "region", "account", "transfer", "session_logs", "people", "instances"))
    version = reader.get("version", int)
    if version != 1:
        raise UsageError(f"{source}: version = {version} is not supported", "Set version = 1.")
    from onboard.awsclient import check_region

    region = check_region(reader.get("region", str), where=f"{source}: `region`")
    transfer = reader.table("transfer", ("bucket", "prefix", "shared_prefix"))
    logs = reader.table("session_logs", ("bucket", "prefix"))
    people = reader.table("people", ("group", "learners", "trainer"))
    trainer = people.get("trainer", str, pattern=IAM_USER_NAME, what="an IAM user name")
    learners = _check_learners(people.get("learners", list), trainer, f"{source} [people] learners")
    instances = tuple(
        _instance(table, f"{source} [[instances]] #{n + 1}")
        for n, table in enumerate(reader.tables("instances"))
    )
    if not instances:
        raise UsageError(
            f"{source} has no [[instances]]", "Add at least one instance (see the default world)."
        )
    for key, what in (("alias", "alias"), ("instance_id", "id")):
        values = [getattr(i, key) for i in instances]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise UsageError(
                f"{source}: instance {what} {duplicates[0]} appears twice", "Give every instance its own."
            )
    return World(
        team=reader.get("team", str, pattern=NAME, what="a short name (letters, digits, . _ -; at most 64)"),
        region=region,
        account=reader.get("account", str, pattern=_ACCOUNT, what="12 digits"),
        transfer_bucket=transfer.get("bucket", str, pattern=BUCKET_NAME, what="an S3 bucket name"),
        transfer_prefix=_prefix(transfer.get("prefix", str, default="users/")),
        shared_prefix=_prefix(transfer.get("shared_prefix", str, default="shared/")),
        log_bucket=logs.get("bucket", str, pattern=BUCKET_NAME, what="an S3 bucket name"),
        log_prefix=_prefix(logs.get("prefix", str, default="sessions/")),
        group=people.get("group", str, pattern=IAM_USER_NAME, what="an IAM group name", default="ssm-users"),
        learners=learners,
        trainer=trainer,
        instances=instances,
        source=source,
    )


def _instance(table: dict[str, Any], where: str) -> WorldInstance:
    reader = _Reader(table, where)
    reader.finish(
        ("alias", "id", "users", "platform", "platform_version", "agent_version", "private_ip", "services")
    )
    users = reader.get("users", list, default=[])
    for user in users:
        if not isinstance(user, str) or not OS_USER.fullmatch(user) or user == "ssm-user":
            raise UsageError(
                f"{where}: users has {user!r}, not an OS user name", "Use lower-case names like analyst."
            )
    instance = WorldInstance(
        alias=reader.get(
            "alias", str, pattern=re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$"), what="a short lower-case name"
        ),
        instance_id=reader.get("id", str, pattern=INSTANCE_ID, what="i- and 8 or 17 hex digits"),
        users=tuple(users),
        platform=reader.get("platform", str, default="Amazon Linux"),
        platform_version=reader.get("platform_version", str, default="2"),
        agent_version=reader.get("agent_version", str, default="3.3.1142.0"),
        private_ip=reader.get(
            "private_ip",
            str,
            pattern=re.compile(r"^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$"),
            what="a 10.x.y.z address",
            default="10.0.1.23",
        ),
        services=_services(reader.get("services", dict, default={}), where),
    )
    return instance


def _services(table: dict[str, Any], where: str) -> tuple[tuple[str, int], ...]:
    for name, port in table.items():
        if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
            raise UsageError(
                f"{where}: services.{name} = {port!r} is not a port", "Give a port from 1024 to 65535."
            )
    return tuple(table.items())


def _check_learners(learners: list[Any], trainer: str, where: str) -> tuple[str, ...]:
    names = [str(name).strip() for name in learners if str(name).strip()]
    if not names:
        raise UsageError(f"{where}: no learners", "Name at least one, e.g. --learners alice.")
    if len(names) > MAX_LEARNERS:
        raise UsageError(
            f"{where}: {len(names)} learners; the lab holds at most {MAX_LEARNERS}", "Split the class."
        )
    if trainer in names:
        raise UsageError(f"{where}: {trainer!r} is the trainer's name", "Give learners other names.")
    # IAM's name rule, each name once, and no name another's plus a dash (bob, bob-x): the own-session
    # rule session/${aws:username}-* would let one end the other's sessions. The trainer's too.
    check_learner_names([*names, trainer], where=where)
    return tuple(names)


def _prefix(value: str) -> str:
    value = value.strip("/")
    return value + "/" if value else ""


class _Reader:
    """Typed access to one TOML table, with errors naming the file and the key."""

    _MISSING = object()

    def __init__(self, raw: dict[str, Any], where: str):
        self.raw = raw
        self.where = where

    def get(
        self,
        key: str,
        kind: type,
        *,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        default: Any = _MISSING,
    ) -> Any:
        if key not in self.raw:
            if default is self._MISSING:
                raise UsageError(
                    f"{self.where}: `{key}` is missing", f"Add `{key} = ...` (see `onboard lab init-world`)."
                )
            return default
        value: Any = self.raw[key]
        if not isinstance(value, kind):
            raise UsageError(
                f"{self.where}: `{key}` must be a {kind.__name__}, not {value!r}", "Fix the value."
            )
        if pattern is not None and not pattern.fullmatch(str(value)):
            raise UsageError(f"{self.where}: `{key}` = {value!r} is not {what}", "Fix the value.")
        return value

    def table(self, key: str, known: tuple[str, ...]) -> _Reader:
        table = _Reader(self.get(key, dict), f"{self.where} [{key}]")
        table.finish(known)
        return table

    def tables(self, key: str) -> list[dict[str, Any]]:
        return self.get(key, list, default=[])

    def finish(self, known: tuple[str, ...]) -> None:
        import difflib

        for key in self.raw:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"Did you mean `{close[0]}`?" if close else f"Known keys: {', '.join(known)}."
                raise UsageError(f"{self.where}: unknown key `{key}`", hint)
