"""A class lab for a class of 30: every learner seeded, one kit each, and no kit with anyone else's key."""

from __future__ import annotations

import time
import zipfile

import pytest
from fixtures_classlab import class_lab_fixture

pytestmark = pytest.mark.slow

CLASS = [(f"learner{n:02d}", f"Learner {n}") for n in range(1, 31)]


classlab = class_lab_fixture(CLASS)


def test_thirty_learners_are_seeded_and_each_can_sign_in(classlab):
    assert classlab.learners == tuple(name for name, _ in CLASS)
    iam = classlab.client("iam", classlab.trainer)
    users = {user["UserName"] for user in iam.list_users(MaxItems=1000)["Users"]}
    assert {name for name, _ in CLASS} <= users
    for name, _ in CLASS[::7]:
        identity = classlab.client("sts", name).get_caller_identity()
        assert identity["Arn"].endswith(f":user/{name}")


def test_thirty_kits_each_hold_only_their_learners_key(classlab):
    secrets = {user: classlab.keys(user)[1].reveal() for user in [*classlab.learners, classlab.trainer]}
    secrets["lab-admin"] = classlab.keys("lab-admin")[1].reveal()
    kits = sorted(path.name for path in classlab.kits.iterdir())
    assert kits == sorted([name for name, _ in CLASS] + [f"{name}.zip" for name, _ in CLASS])
    for name, shown in CLASS:
        with zipfile.ZipFile(classlab.kits / f"{name}.zip") as archive:
            zipped = b"\n".join(archive.read(entry) for entry in archive.infolist()).decode()
        folder = b"\n".join(path.read_bytes() for path in classlab.kit(name).iterdir()).decode()
        for blob in (zipped, folder):
            holders = {user for user, secret in secrets.items() if secret in blob}
            assert holders == {name}, f"{name}'s kit holds the keys of {sorted(holders)}"
        assert shown in (classlab.kit(name) / "WELCOME.txt").read_text()
    # The trainer's keys are in the state folder's credentials only.
    assert (classlab.paths.credentials_csv(classlab.trainer)).stat().st_mode & 0o777 == 0o600


def test_thirty_learners_open_sessions_in_turn_each_at_once(classlab):
    """Every opening of the wss data channel completes (with TLS 1.3 on the asyncio server, some waited
    until the client gave up)."""
    from smclient import SessionClient

    from onboard.lab.control import client_tls

    tls = client_tls(classlab.paths, classlab.endpoint_url)
    targets = list(classlab.instances.values())
    opened = []
    try:
        for n, (name, _) in enumerate(CLASS):
            answer = classlab.client("ssm", name).start_session(Target=targets[n % len(targets)])
            started = time.monotonic()
            client = SessionClient.open(answer["StreamUrl"], answer["TokenValue"], tls=tls)
            opened.append(client)
            client.handshake()
            client.read_until(b"$ ", timeout=30)
            took = time.monotonic() - started
            assert took < 10, f"{name}'s session took {took:.1f} s to open"
    finally:
        for client in opened:
            client.close()
