"""A running class lab for tests: ``onboard lab up --class CSV --listen 127.0.0.2`` in its own state folder.

Only loopback addresses other than 127.0.0.1 are used (never an outside address). Each test module
shares one class lab: ``classlab = class_lab_fixture(LEARNERS)`` at module level.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_lab import RunningLab, isolated_environment, stop_lab

from onboard.lab.classmode import ClassMode, kits_dir
from onboard.lab.client import AdminClient
from onboard.lab.state import LabPaths, admin_secret
from onboard.lab.tls import TlsFiles

ADDRESS = "127.0.0.2"


@dataclass
class ClassLab(RunningLab):
    class_file: Path = Path()

    @property
    def kits(self) -> Path:
        return kits_dir(self.paths)

    @property
    def ca_file(self) -> Path:
        return TlsFiles.of(self.paths.root).ca_cert

    def kit(self, name: str) -> Path:
        return self.kits / name

    @property
    def admin(self) -> AdminClient:
        from onboard.lab.control import client_tls

        return AdminClient(
            self.endpoint_url, admin_secret(self.paths) or "", tls=client_tls(self.paths, self.endpoint_url)
        )

    def client(self, service: str, user: str = "alice"):
        """A boto3 client as ``user`` that trusts the class lab's CA (what the kit's profile does)."""
        from botocore.config import Config

        config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=20)
        return self.session(user).client(
            service, endpoint_url=self.endpoint_url, config=config, verify=str(self.ca_file)
        )


def write_class_list(path: Path, learners: list[tuple[str, str]]) -> Path:
    """A class list CSV as a spreadsheet exports it: (name, display name) rows under a header."""
    rows = ["name,display_name,email", "# the class of the test"]
    rows += [f"{name},{shown},{name}@example.com" for name, shown in learners]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def start_class_lab(root: Path, learners: list[tuple[str, str]], address: str = ADDRESS) -> ClassLab:
    from onboard.lab.control import start_detached

    env = isolated_environment(root)
    class_file = write_class_list(root / "class.csv", learners)
    paths = LabPaths(root / "home" / ".local" / "state" / "onboard" / "lab")
    classroom = ClassMode.of(address, class_file, None)
    state = start_detached(paths, port=0, env=env, classroom=classroom, class_file=class_file, timeout=120)
    return ClassLab(paths=paths, state=state, env=env, class_file=class_file)


def stop_class_lab(lab: ClassLab) -> None:
    stop_lab(lab)


def class_lab_fixture(learners: list[tuple[str, str]]):
    """A module-scoped fixture: one class lab of ``learners`` shared by the module's tests."""

    @pytest.fixture(scope="module")
    def classlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClassLab]:
        lab = start_class_lab(tmp_path_factory.mktemp("classlab"), learners)
        try:
            yield lab
        finally:
            stop_class_lab(lab)

    return classlab
