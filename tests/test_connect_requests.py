"""What `onboard connect` asks StartSession for, and the plain AWS CLI aliases built from the same request."""

from __future__ import annotations

import pytest

from onboard.errors import UsageError
from onboard.everyday.connect import SessionRequest, default_user, shell_request
from onboard.everyday.reach import Reach
from onboard.everyday.shellaliases import Shell, shell_aliases

TEAM = """\
version = 1
team = "data-team"
region = "eu-west-1"

[[instances]]
alias = "jupyter"
id = "i-0123456789abcdef0"
users = ["analyst"]
connect_as = "analyst"
services = { jupyter = 8888 }

[[instances]]
alias = "redash"
id = "i-0123456789abcdef1"
"""


@pytest.fixture
def reach(tmp_path):
    team = tmp_path / "team.toml"
    team.write_text(TEAM, encoding="utf-8")
    return Reach.create(None, str(team))


def test_the_team_files_connect_as_lands_as_that_user(reach):
    assert default_user(reach, "i-0123456789abcdef0") == "analyst"
    assert default_user(reach, "i-0123456789abcdef1") is None
    assert shell_request("i-0123456789abcdef0", "analyst") == SessionRequest(
        "i-0123456789abcdef0", "AWS-StartInteractiveCommand", {"command": ["sudo -iu analyst"]}
    )
    assert shell_request("i-0123456789abcdef1", None).to_api() == {"Target": "i-0123456789abcdef1"}
    assert shell_request("i-0123456789abcdef1", "ssm-user").to_api() == {"Target": "i-0123456789abcdef1"}


def test_a_user_name_that_could_inject_a_command_is_refused():
    with pytest.raises(UsageError, match="is not an OS user name"):
        shell_request("i-0123456789abcdef0", "analyst; rm -rf ~")


def test_plain_aliases_carry_the_same_document_and_command(reach):
    aliases = {i.alias: i.id for i in reach.team.instances}
    lines = shell_aliases(reach, aliases, Shell.bash, plain=True).lines
    assert lines[0] == (
        "alias jupyter='aws ssm start-session --target i-0123456789abcdef0 --profile ssm --region eu-west-1 "
        "--document-name AWS-StartInteractiveCommand --parameters '\"'\"'command=sudo -iu analyst'\"'\"''"
    )
    powershell = shell_aliases(reach, aliases, Shell.powershell, plain=True).lines
    assert "--parameters 'command=sudo -iu analyst' @args }" in powershell[0]
