"""A data-channel server on 127.0.0.1 with two lab instances, and the lab plugin run as the AWS CLI runs it.

The API layer is not needed here: sessions are added to the registry directly, as StartSession does, and
the plugin gets the same argv and environment variable the AWS CLI gives it.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest

from onboard.lab.datachannel import DataChannelServer
from onboard.lab.instance import layout_of
from onboard.lab.sessions import LabInstance, LabSession, SessionRegistry
from onboard.secrets import Secret

REGION = "eu-west-1"
JUPYTER = "i-0a1b2c3d4e5f60001"
AIRFLOW = "i-0a1b2c3d4e5f60002"
#: An Ubuntu instance, as the team's write-up had: the agent is a snap there.
REDASH = "i-0a1b2c3d4e5f60003"
SSM_PROMPT = "sh-4.2$ "
UBUNTU_PROMPT = "$ "


@dataclass
class ChannelLab:
    registry: SessionRegistry
    server: DataChannelServer
    instances: dict[str, LabInstance]
    transcripts: dict[str, bytes] = field(default_factory=dict)
    _ended: dict[str, threading.Event] = field(default_factory=dict)
    children: list[pexpect.spawn] = field(default_factory=list)

    def start_session(
        self, owner: str = "alice", target: str = JUPYTER, document: str | None = None, **parameters: str
    ) -> dict[str, str]:
        """Do what StartSession does; return its answer (SessionId, TokenValue, StreamUrl)."""
        session_id = f"{owner}-{secrets.token_hex(9)[:17]}"
        session = LabSession(session_id, f"arn:aws:iam::123456789012:user/{owner}", owner, target)
        if document:
            session.document_name = document
        session.parameters = {name: [value] for name, value in parameters.items()}
        self.registry.add(session)
        self._ended[session_id] = threading.Event()
        token = self.registry.issue_token(session_id)
        return {
            "SessionId": session_id,
            "TokenValue": token.reveal(),
            "StreamUrl": self.server.stream_url(session_id),
        }

    def spawn_plugin(self, answer: dict[str, str], target: str = JUPYTER, **options) -> pexpect.spawn:
        """The lab plugin in a pseudo-terminal, with the argv and variable the AWS CLI passes."""
        env = dict(os.environ, AWS_SSM_START_SESSION_RESPONSE=json.dumps(answer))
        child = pexpect.spawn(
            sys.executable,
            ["-m", "onboard.labplugin", *plugin_arguments(target)],
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            timeout=options.pop("timeout", 15),
            dimensions=options.pop("dimensions", (24, 80)),
            **options,
        )
        self.children.append(child)
        return child

    def wait_ended(self, session_id: str, timeout: float = 10) -> bytes:
        assert self._ended[session_id].wait(timeout), f"session {session_id} did not end"
        return self.transcripts[session_id]

    def _record_end(self, session: LabSession, transcript: bytes | None) -> None:
        self.transcripts[session.session_id] = transcript or b""
        self._ended[session.session_id].set()


def plugin_arguments(target: str, endpoint: str = "http://127.0.0.1:9") -> list[str]:
    return [
        "AWS_SSM_START_SESSION_RESPONSE",
        REGION,
        "StartSession",
        "",
        json.dumps({"Target": target}),
        endpoint,
    ]


def lab_instances(root: Path) -> dict[str, LabInstance]:
    def instance(
        instance_id: str, name: str, users: list[str], platform: str = "Amazon Linux"
    ) -> LabInstance:
        return LabInstance(
            instance_id=instance_id,
            name=name,
            users=users,
            root=root / instance_id,
            region=REGION,
            endpoint_url="http://127.0.0.1:9",
            role_access_key_id="ASIALABROLE" + name.upper(),
            role_secret_access_key=Secret("role-secret-" + secrets.token_hex(12)),
            hostname="ip-10-0-1-23" if name == "jupyter" else "",
            platform_name=platform,
        )

    return {
        JUPYTER: instance(JUPYTER, "jupyter", ["analyst"]),
        AIRFLOW: instance(AIRFLOW, "airflow", ["airflow", "analyst"]),
        REDASH: instance(REDASH, "redash", ["redash"], platform="Ubuntu"),
    }


def seen_path(lab: ChannelLab, target: str, inside: str) -> str:
    """``inside`` (``/home/ssm-user``) as the shells of ``target`` see it: as is in a sandbox, under the
    instance's folder tree otherwise."""
    return layout_of(lab.instances[target]).path(inside)


def start_channel_lab(root: Path, **server_options) -> ChannelLab:
    registry = SessionRegistry()
    instances = lab_instances(root)
    server = DataChannelServer(registry, instances, **server_options)
    lab = ChannelLab(registry, server, instances)
    registry.on_end(lab._record_end)
    server.start()
    return lab


def stop_channel_lab(lab: ChannelLab) -> None:
    for child in lab.children:
        child.close(force=True)
    lab.server.stop()


@pytest.fixture
def channel_lab(tmp_path: Path) -> Iterator[ChannelLab]:
    lab = start_channel_lab(tmp_path / "instances")
    yield lab
    stop_channel_lab(lab)


def run_command(child: pexpect.spawn, command: str, prompt: str = SSM_PROMPT) -> str:
    """Type ``command`` in a session, wait for ``prompt``; what it printed, without the echo or CRs.

    Both pseudo-terminals (the instance's and the test's) add a CR to each line end: they are dropped.
    """
    child.sendline(command)
    child.expect_exact(prompt)
    return child.before.replace("\r", "").split("\n", 1)[-1]


def resize_and_read_back(child: pexpect.spawn, rows: int, cols: int, timeout: float = 3) -> str:
    """Resize the local terminal, then ``stty size`` on the instance until it agrees (or time runs out)."""
    child.setwinsize(rows, cols)
    deadline = time.monotonic() + timeout
    while (
        size := run_command(child, "stty size").strip()
    ) != f"{rows} {cols}" and time.monotonic() < deadline:
        time.sleep(0.2)
    return size
