"""What the doctor tests share: real broken setups in the test's home, a port that never answers, and a
way to run a chosen subset of doctor's checks (with everything they depend on) in-process.

Import explicitly: ``from fixtures_doctor import mute_port, run_checks_for, ...``.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from onboard.doctor import DoctorOptions, Finding, Report, run_doctor
from onboard.doctor.checks import build_checks

VENV_BIN = Path(sys.executable).parent
#: ELF e_machine of a processor this machine is not (so running the file fails with "exec format error").
FOREIGN_MACHINE = 0x3E if os.uname().machine in ("aarch64", "arm64") else 0xB7


def foreign_elf() -> bytes:
    """The first bytes of a 64-bit little-endian ELF executable built for another processor."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHI", 2, FOREIGN_MACHINE, 1) + bytes(64 - 16 - 8)
    return header + bytes(256)


def put_executable(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    path.chmod(0o755)
    return path


def write_aws(home: Path, config: str | bytes | None, credentials: str | bytes | None) -> tuple[Path, Path]:
    """~/.aws/config and ~/.aws/credentials with exactly these bytes (None: no file); credentials 0600."""
    aws = home / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    paths = (aws / "config", aws / "credentials")
    for path, content in zip(paths, (config, credentials), strict=True):
        if content is None:
            continue
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if paths[1].exists():
        paths[1].chmod(0o600)
    return paths


def lab_profile(home: Path, lab, user: str = "alice", profile: str = "ssm") -> tuple[Path, Path]:
    """The profile `onboard setup --team` writes for the lab: region, endpoint_url, the user's keys."""
    key_id, secret = lab.keys(user)
    return write_aws(
        home,
        f"[profile {profile}]\nregion = {lab.region}\nendpoint_url = {lab.endpoint_url}\n",
        f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret.reveal()}\n",
    )


def plain_profile(home: Path, endpoint: str, region: str = "ap-northeast-1") -> tuple[Path, Path]:
    """A well-formed ssm profile with made-up keys, pointed at ``endpoint``."""
    return write_aws(
        home,
        f"[profile ssm]\nregion = {region}\nendpoint_url = {endpoint}\n",
        "[ssm]\naws_access_key_id = AKIAEXAMPLEDOCTOR001\n"
        "aws_secret_access_key = doctorSecretExample0000000000000000000000\n",
    )


def backups_of(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.onboard-backup-*"))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def with_dependencies(wanted: tuple[str, ...]):
    """A check builder for run_doctor: the checks whose id starts with one of ``wanted``, and their needs."""

    def build(ctx):
        every = {check.id: check for check in build_checks(ctx)}
        chosen: dict[str, object] = {}

        def add(check_id: str) -> None:
            if check_id in chosen:
                return
            chosen[check_id] = every[check_id]
            for need in every[check_id].depends_on:
                add(need)

        for check_id in every:
            if check_id.startswith(wanted):
                add(check_id)
        return [check for check_id, check in every.items() if check_id in chosen]

    return build


def run_checks_for(*wanted: str, fix: bool = False, **options) -> Report:
    """Run the checks named (by id or id prefix) and what they depend on, in this process."""
    return run_doctor(DoctorOptions(**options), fix=fix, checks=with_dependencies(wanted))


def finding(report: Report, check_id: str) -> Finding:
    return next(f for f in report.findings if f.check_id == check_id)


def text_of(found: Finding) -> str:
    """Everything a user reads about a finding, in one string."""
    return "\n".join(
        [found.summary, *found.evidence, found.next or "", found.fix.describe if found.fix else ""]
    )


@pytest.fixture
def mute_port() -> Iterator[int]:
    """A loopback port that accepts connections into its backlog and never reads or answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.fixture
def tool_path(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH = ~/.local/bin (where onboard links the plugin), the venv's bin (aws), then the system's."""
    bin_dir = isolated_home / ".local" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), str(VENV_BIN), "/usr/bin", "/bin"]))
    monkeypatch.setenv("SHELL", "/bin/bash")
    return bin_dir


def write_team(folder: Path, **sections: str) -> Path:
    """A team file; each keyword is a TOML section body (``plugin='download_url = "..."'``)."""
    text = 'version = 1\nteam = "data-team"\nregion = "ap-northeast-1"\nprofile = "ssm"\n'
    for name, body in sections.items():
        text += f"\n[{name}]\n{body}\n"
    path = folder / "team.toml"
    path.write_text(text, encoding="utf-8")
    return path
