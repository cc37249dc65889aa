"""What the everyday tests (hosts, connect, transfer, forward) share: a learner's terminal on the lab.

``learner_env(lab, tmp_path, user)`` is the environment of a learner after `onboard setup` against the
lab: ~/.aws with profile ssm, the lab's endpoint, the team file, and the lab's session-manager-plugin on
PATH (as `onboard plugin install` puts it there). ``retagged`` changes instances' Name tags as the lab's
admin and puts them back afterwards (the lab is shared by the whole test session).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from onboard.labplugin.launcher import write_launcher

ADMIN = "lab-admin"


def learner_env(lab, tmp_path: Path, user: str = "alice") -> dict[str, str]:
    home = tmp_path / f"home-{user}"
    bin_dir = write_launcher(tmp_path / "lab-bin").parent
    env = lab.aws_env(home, user)
    env.update(
        ONBOARD_TEAM=str(lab.team_file),
        PATH=os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env["PATH"]]),
        NO_COLOR="1",
        COLUMNS="160",
    )
    return env


@contextlib.contextmanager
def retagged(lab, names: dict[str, str]) -> Iterator[None]:
    """Give instances (alias -> new Name tag) other Name tags for the test, then restore them."""
    ec2 = lab.client("ec2", ADMIN)
    ids = {alias: lab.instances[alias] for alias in names}
    for alias, name in names.items():
        ec2.create_tags(Resources=[ids[alias]], Tags=[{"Key": "Name", "Value": name}])
    try:
        yield
    finally:
        for alias, instance_id in ids.items():
            ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": alias}])
