"""A running practice lab for tests: one real lab server process per test session, shared.

Import the fixtures explicitly::

    from fixtures_lab import lab, lab_server  # noqa: F401

``lab_server`` (session-scoped) starts ``python -m onboard.lab.process`` once, detached, in its own temporary
state folder and home, with learners alice, bob and carol; ``lab`` (per test) hands out the same
:class:`RunningLab` and clears every fault the test applied. Use it for:

- ``lab.endpoint_url``, ``lab.region``, ``lab.account``, ``lab.instances`` (alias -> id), ``lab.team_file``;
- ``lab.keys("alice")`` -> (access key id, Secret); ``lab.session("alice")`` -> a boto3 Session;
  ``lab.client("ssm", "alice")`` -> a boto3 client pointed at the lab (one attempt, short timeouts);
- ``lab.aws(*args, user="alice", home=tmp_path)`` runs the real AWS CLI (a subprocess) with ~/.aws files
  for profile ``ssm`` written into ``home``; ``lab.aws_env(...)`` gives that environment for pexpect;
- ``lab.fault(name, target)``, ``lab.clear_faults()``, ``lab.admin`` (the admin endpoint),
  ``lab.wait_for_session(session_id, status)``.

Tests that change the lab's world beyond faults must undo what they did; `lab reset` is not used between
tests (it would end other tests' sessions).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from onboard.lab.client import AdminClient
from onboard.lab.state import LabPaths, admin_secret, read_credentials_csv
from onboard.lab.status import LabStatus
from onboard.secrets import Secret

LEARNERS = ("alice", "bob", "carol")
AWS_CLI = Path(sys.executable).with_name("aws")
_ISOLATED_PREFIXES = ("AWS_", "ONBOARD_", "XDG_")


def isolated_environment(root: Path) -> dict[str, str]:
    """An environment like conftest's: HOME and XDG folders under ``root``, no AWS_* variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_ISOLATED_PREFIXES)
        and name.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    }
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        NO_COLOR="1",
    )
    return env


@dataclass
class RunningLab:
    paths: LabPaths
    state: LabStatus
    env: dict[str, str]
    _applied_faults: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def endpoint_url(self) -> str:
        return self.state.endpoint_url

    @property
    def region(self) -> str:
        return self.state.world.region

    @property
    def account(self) -> str:
        return self.state.world.account

    @property
    def learners(self) -> tuple[str, ...]:
        return self.state.world.learners

    @property
    def trainer(self) -> str:
        return self.state.world.trainer

    @property
    def instances(self) -> dict[str, str]:
        """alias -> instance id"""
        return self.state.world.instances

    @property
    def team_file(self) -> Path:
        return self.paths.team_file

    @property
    def admin(self) -> AdminClient:
        return AdminClient(self.endpoint_url, admin_secret(self.paths) or "")

    def keys(self, user: str = "alice") -> tuple[str, Secret]:
        return read_credentials_csv(self.paths.credentials_csv(user))

    def session(self, user: str = "alice"):
        import boto3

        key_id, secret = self.keys(user)
        return boto3.Session(
            aws_access_key_id=key_id, aws_secret_access_key=secret.reveal(), region_name=self.region
        )

    def client(self, service: str, user: str = "alice"):
        from botocore.config import Config

        config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=20)
        return self.session(user).client(service, endpoint_url=self.endpoint_url, config=config)

    def aws_env(
        self, home: Path, user: str = "alice", profile: str = "ssm", *, endpoint: bool = True
    ) -> dict[str, str]:
        """The environment for the real AWS CLI as ``user``: ~/.aws files for ``profile`` under ``home``."""
        key_id, secret = self.keys(user)
        aws_dir = home / ".aws"
        aws_dir.mkdir(parents=True, exist_ok=True)
        (aws_dir / "config").write_text(f"[profile {profile}]\nregion = {self.region}\n", encoding="utf-8")
        credentials = aws_dir / "credentials"
        credentials.write_text(
            f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret.reveal()}\n",
            encoding="utf-8",
        )
        credentials.chmod(0o600)
        env = {
            **os.environ,
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(aws_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }
        if endpoint:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env

    def aws(
        self,
        *args: str,
        home: Path,
        user: str = "alice",
        profile: str = "ssm",
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real AWS CLI (``aws ARGS --profile ssm``) against the lab as ``user``."""
        full_env = {**self.aws_env(home, user, profile), **(env or {})}
        return subprocess.run(
            [str(AWS_CLI), *args, "--profile", profile],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def fault(self, name: str, target: str | None = None) -> dict[str, Any]:
        answer = self.admin.call("fault", {"name": name, "target": target})
        self._applied_faults.append((name, target))
        return answer

    def clear_faults(self) -> None:
        self.admin.call("fault/clear")
        self._applied_faults.clear()

    def describe_session(self, session_id: str, user: str | None = None) -> dict[str, Any] | None:
        """The session as DescribeSessions shows it (Active or History), asked as the trainer."""
        ssm = self.client("ssm", user or self.trainer)
        for state in ("Active", "History"):
            found = ssm.describe_sessions(State=state, Filters=[{"key": "SessionId", "value": session_id}])[
                "Sessions"
            ]
            if found:
                return found[0]
        return None

    def wait_for_session(self, session_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.describe_session(session_id)
            if seen and seen["Status"] == status:
                return seen
            time.sleep(0.1)
        raise AssertionError(f"session {session_id} never reached {status}; last seen: {seen}")


def start_lab(root: Path, learners: tuple[str, ...] = LEARNERS, port: int = 0) -> RunningLab:
    """Start a detached lab whose state and home are under ``root``."""
    from onboard.lab.control import start_detached

    env = isolated_environment(root)
    paths = LabPaths(root / "home" / ".local" / "state" / "onboard" / "lab")
    state = start_detached(paths, port=port, learners=list(learners), env=env)
    return RunningLab(paths=paths, state=state, env=env)


def stop_lab(running: RunningLab) -> None:
    from onboard.lab.control import stop

    try:
        stop(running.paths)
    except Exception:
        pid = running.state.pid
        if pid:
            import signal

            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    running = start_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield running
    finally:
        stop_lab(running)


@pytest.fixture
def lab(lab_server: RunningLab) -> Iterator[RunningLab]:
    yield lab_server
    if lab_server._applied_faults:
        lab_server.clear_faults()
