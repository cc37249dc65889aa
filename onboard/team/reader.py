"""Finding, reading and validating a team file: every problem named with the file, the key and the fix."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from onboard.errors import UsageError
from onboard.facts import BUCKET_NAME, DEFAULT_PROFILE, INSTANCE_ID, NAME, OS_USER, PROFILE_NAME
from onboard.team.model import (
    FORMAT_VERSION,
    Instance,
    LessonSettings,
    Location,
    PluginSource,
    TeamFile,
    TeamFileError,
)

TEAM_ENV = "ONBOARD_TEAM"

_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_FINGERPRINT = re.compile(r"[0-9A-F]{40}")
_OS_USER_RULE = "OS user names are lower-case letters, digits, _ and -."


def team_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str | None] | None:
    """Where the team file is: ``explicit``, else $ONBOARD_TEAM (and who named it), else None."""
    if explicit:
        return Path(explicit), None
    from_env = os.environ.get(TEAM_ENV)
    if from_env:
        return Path(from_env), f"${TEAM_ENV}"
    return None


def find_team(
    explicit: str | os.PathLike[str] | None = None, *, check_region: bool = True
) -> TeamFile | None:
    """The team file named by ``explicit``, else by $ONBOARD_TEAM, else None (see :func:`load_team`)."""
    found = team_path(explicit)
    if found is None:
        return None
    path, named_by = found
    return load_team(path, named_by=named_by, check_region=check_region)


def load_team(
    path: str | os.PathLike[str], *, named_by: str | None = None, check_region: bool = True
) -> TeamFile:
    """Read and validate the team file at ``path``; a TeamFileError says what to fix, and where.

    ``check_region=False`` skips only the region lookup (which loads botocore's endpoint data), for
    commands such as ``lesson list`` that must start fast; every other check still runs.
    """
    from onboard import tomlfile

    path = Path(path).expanduser()
    try:
        text = tomlfile.read_text(path, "the team file", TeamFileError)
    except FileNotFoundError as missing:
        source = f" (named by {named_by})" if named_by else ""
        raise TeamFileError(
            f"the team file {path}{source} does not exist",
            "Check the path, or ask your trainer for the team file.",
        ) from missing
    data = tomlfile.parse(text, f"the team file {path}", TeamFileError)
    return _Reader(path, check_region=check_region).team(data)


def _shown(value: Any) -> str:
    """``value`` for a message: quoted, and cut short when it is long."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


class _Reader:
    """Turns the parsed TOML into a TeamFile, naming the file and the key in every error."""

    def __init__(self, path: Path, *, check_region: bool = True):
        self.path = path
        self.base = path.resolve().parent
        self.check_region = check_region

    def fail(self, where: str, problem: str, fix: str) -> TeamFileError:
        return TeamFileError(f"{self.path}: {where}: {problem}", fix)

    def keys(self, table: Mapping[str, Any], where: str, allowed: tuple[str, ...], required=()) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"Did you mean {close[0]!r}? " if close else ""
                raise self.fail(
                    where,
                    f"unknown key {key!r}",
                    f"{hint}Known keys here: {', '.join(allowed)}.",
                )
        for key in required:
            if key not in table:
                raise self.fail(where, f"the key {key!r} is missing", f"Add {key} = ... to this table.")

    def string(self, table: Mapping[str, Any], key: str, where: str, pattern=None, rule="") -> str:
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(
                f"{where}{key}", f"expected a string, got {_shown(value)}", 'Put the value in "quotes".'
            )
        if not value.strip() or "\n" in value or "\r" in value:
            raise self.fail(
                f"{where}{key}", f"{_shown(value)} is empty or spans lines", "Give a one-line value."
            )
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(f"{where}{key}", f"{_shown(value)} is not valid", rule)
        return value

    def optional_string(self, table, key, where, pattern=None, rule="") -> str | None:
        return self.string(table, key, where, pattern, rule) if key in table else None

    def optional_os_user(self, table: Mapping[str, Any], key: str, where: str) -> str | None:
        return self.optional_string(table, key, where, OS_USER, _OS_USER_RULE)

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table", f"Write it as a [{key}] section.")
        return value

    def team(self, data: Mapping[str, Any]) -> TeamFile:
        top = (
            "version",
            "team",
            "region",
            "profile",
            "ca_bundle",
            "plugin",
            "endpoint",
            "transfer",
            "session_logs",
        )
        self.keys(data, "top level", (*top, "lessons", "instances"), required=("version", "team", "region"))
        version = data["version"]
        if version != FORMAT_VERSION or isinstance(version, bool):
            newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
            raise self.fail(
                "version",
                f"format version {version!r} is not supported (this onboard reads version {FORMAT_VERSION})",
                "Upgrade onboard (pipx upgrade onboard)." if newer else "Set version = 1.",
            )
        region = self.string(data, "region", "")
        if self.check_region:
            from onboard.awsclient import check_region

            try:
                region = check_region(region, where="the value")
            except UsageError as unknown:
                raise self.fail("region", unknown.message, unknown.hint or "") from None
        profile = DEFAULT_PROFILE
        if "profile" in data:
            profile = self.string(
                data,
                "profile",
                "",
                PROFILE_NAME,
                "Profile names use letters, digits, '.', '_' and '-' (at most 64), and are not '.' or '..'.",
            )
        return TeamFile(
            path=self.path,
            version=version,
            team=self.string(
                data, "team", "", NAME, "Team names use letters, digits, '.', '_' and '-' (at most 64)."
            ),
            region=region,
            profile=profile,
            plugin=self.plugin(self.table(data, "plugin")),
            endpoint_url=self.endpoint(self.table(data, "endpoint")),
            ca_bundle=self.ca_bundle(data),
            transfer=self.location(self.table(data, "transfer"), "transfer"),
            session_logs=self.location(self.table(data, "session_logs"), "session_logs"),
            lessons=self.lessons(self.table(data, "lessons")),
            instances=self.instances(data.get("instances", [])),
        )

    def url(self, table: Mapping[str, Any], key: str, where: str) -> str | None:
        from urllib.parse import urlsplit

        value = self.optional_string(table, key, where)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail(
                f"{where}{key}",
                f"{value!r} is not an http(s) URL",
                "Write a full URL such as https://host/path/.",
            )
        return value

    def path_in(self, table: Mapping[str, Any], key: str, where: str) -> Path | None:
        value = self.optional_string(table, key, where)
        return None if value is None else (self.base / Path(value).expanduser()).resolve()

    def ca_bundle(self, data: Mapping[str, Any]) -> Path | None:
        """The CA bundle (relative to the team file), checked to hold certificates Python's TLS can load."""
        import ssl

        bundle = self.path_in(data, "ca_bundle", "")
        if bundle is None:
            return None
        fix = "Keep the CA file your trainer gave you next to the team file (paths are relative to it)."
        if not bundle.is_file():
            raise self.fail("ca_bundle", f"the CA file {bundle} does not exist", fix)
        try:
            ssl.create_default_context(cafile=str(bundle))
        except (ssl.SSLError, OSError, ValueError) as unusable:
            raise self.fail(
                "ca_bundle", f"{bundle} holds no usable PEM certificate ({unusable})", fix
            ) from None
        return bundle

    def plugin(self, table: Mapping[str, Any] | None) -> PluginSource | None:
        if table is None:
            return None
        where = "[plugin] "
        self.keys(table, "[plugin]", ("download_url", "signing_key", "signing_key_fingerprint"))
        signing_key = self.path_in(table, "signing_key", where)
        fingerprint = self.optional_string(table, "signing_key_fingerprint", where)
        if fingerprint is not None:
            fingerprint = re.sub(r"\s+", "", fingerprint).upper()
            if not _FINGERPRINT.fullmatch(fingerprint):
                raise self.fail(
                    f"{where}signing_key_fingerprint",
                    "a fingerprint is 40 hexadecimal digits",
                    "Copy it exactly from your trainer (spaces are fine).",
                )
        if (signing_key is None) != (fingerprint is None):
            raise self.fail(
                "[plugin]",
                "signing_key and signing_key_fingerprint go together",
                "A trusted key is only accepted with its fingerprint pinned: give both, or neither.",
            )
        if signing_key is not None and not signing_key.is_file():
            raise self.fail(
                f"{where}signing_key",
                f"the key file {signing_key} does not exist",
                "Keep the key file next to the team file (paths are relative to the team file).",
            )
        return PluginSource(
            download_url=self.url(table, "download_url", where),
            signing_key=signing_key,
            signing_key_fingerprint=fingerprint,
        )

    def endpoint(self, table: Mapping[str, Any] | None) -> str | None:
        if table is None:
            return None
        self.keys(table, "[endpoint]", ("url",), required=("url",))
        return self.url(table, "url", "[endpoint] ")

    def location(self, table: Mapping[str, Any] | None, name: str) -> Location | None:
        if table is None:
            return None
        where = f"[{name}] "
        self.keys(table, f"[{name}]", ("bucket", "prefix"), required=("bucket",))
        bucket = self.string(table, "bucket", where)
        if not valid_bucket_name(bucket):
            raise self.fail(
                f"{where}bucket",
                f"{bucket!r} is not a valid S3 bucket name",
                "Bucket names are 3-63 lower-case letters, digits, '.' and '-', starting and ending with a "
                "letter or digit.",
            )
        prefix = table.get("prefix", "")
        if not _is_key_prefix(prefix):
            raise self.fail(
                f"{where}prefix",
                f"{_shown(prefix)} is not a key prefix",
                'Write it like "users/": folder names separated by "/", no leading "/", no "." or ".." '
                "folders, no empty folder names, no backslashes or control characters.",
            )
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Location(bucket=bucket, prefix=prefix)

    def lessons(self, table: Mapping[str, Any] | None) -> LessonSettings:
        if table is None:
            return LessonSettings()
        where = "[lessons] "
        self.keys(table, "[lessons]", ("dir", "select", "target_user", "publish"))
        select = table.get("select", [])
        if not isinstance(select, list) or not all(isinstance(s, str) and s.strip() for s in select):
            raise self.fail(
                f"{where}select", "expected a list of lesson names", 'Write it like ["ready", "connect"].'
            )
        if len(set(select)) != len(select):
            raise self.fail(f"{where}select", "a lesson is listed twice", "List each lesson once.")
        publish = table.get("publish", False)
        if not isinstance(publish, bool):
            raise self.fail(
                f"{where}publish", f"expected true or false, got {publish!r}", "Write true or false."
            )
        return LessonSettings(
            dir=self.path_in(table, "dir", where),
            select=tuple(select),
            target_user=self.optional_os_user(table, "target_user", where),
            publish=publish,
        )

    def instances(self, items: Any) -> tuple[Instance, ...]:
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise self.fail("instances", "expected [[instances]] tables", "Write each one as [[instances]].")
        seen_aliases: set[str] = set()
        seen_ids: set[str] = set()
        result = []
        for number, item in enumerate(items, start=1):
            where = f"[[instances]] #{number} "
            self.keys(
                item,
                where.strip(),
                ("alias", "id", "name", "users", "connect_as", "services"),
                required=("alias", "id"),
            )
            alias = self.string(
                item, "alias", where, NAME, "Aliases use letters, digits, '.', '_' and '-' (at most 64)."
            )
            instance_id = self.string(
                item, "id", where, INSTANCE_ID, "An instance id is i- and 8 or 17 lower-case hex digits."
            )
            if alias in seen_aliases:
                raise self.fail(
                    f"{where}alias", f"the alias {alias!r} is used twice", "Give each a new alias."
                )
            if instance_id in seen_ids:
                raise self.fail(f"{where}id", f"{instance_id} is listed twice", "List each instance once.")
            seen_aliases.add(alias)
            seen_ids.add(instance_id)
            users = item.get("users", [])
            if not isinstance(users, list) or not all(
                isinstance(u, str) and OS_USER.fullmatch(u) for u in users
            ):
                raise self.fail(
                    f"{where}users",
                    f"{users!r} is not a list of OS user names",
                    'Write it like ["analyst"]: lower-case letters, digits, _ and -.',
                )
            result.append(
                Instance(
                    alias=alias,
                    id=instance_id,
                    name=self.optional_string(item, "name", where),
                    users=tuple(users),
                    connect_as=self.optional_os_user(item, "connect_as", where),
                    services=self.services(item.get("services", {}), f"{where}services"),
                )
            )
        return tuple(result)

    def services(self, table: Any, where: str) -> tuple[tuple[str, int], ...]:
        if not isinstance(table, dict):
            raise self.fail(where, f"{table!r} is not a table", "Write it like { jupyter = 8888 }.")
        for name, port in table.items():
            if not NAME.fullmatch(name):
                raise self.fail(
                    where, f"{name!r} is not a service name", "Use letters, digits, '.', '_', '-'."
                )
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise self.fail(
                    f"{where}.{name}", f"{port!r} is not a port", "Give a number from 1 to 65535."
                )
        return tuple(table.items())


def _is_key_prefix(prefix: Any) -> bool:
    """A plain S3 key prefix: "" or folder names joined by "/" (learners' keys are built under it)."""
    if not isinstance(prefix, str):
        return False
    if not prefix:
        return True
    if len(prefix) > 512 or "\\" in prefix or any(ch < " " or ch == "\x7f" for ch in prefix):
        return False
    folders = prefix.removesuffix("/").split("/")
    return all(folder not in ("", ".", "..") for folder in folders)


def valid_bucket_name(name: str) -> bool:
    """S3's naming rules for general purpose buckets (3-63 characters, no IP address shape, ...)."""
    return (
        bool(BUCKET_NAME.fullmatch(name))
        and ".." not in name
        and not _IPV4.fullmatch(name)
        and not name.startswith(("xn--", "sthree-"))
        and not name.endswith(("-s3alias", "--ol-s3", "--x-s3"))
    )
