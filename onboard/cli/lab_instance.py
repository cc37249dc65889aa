"""`onboard lab instance`: what a trainer does on a lab server's own shell (restart or install its agent)."""

from __future__ import annotations

from typing import Annotated

import typer

from onboard.cli._common import JsonOption, finish

app = typer.Typer(
    help=(
        "Act on a lab instance as its administrator would: restart its SSM agent (after fixing its role), or "
        "install the agent on a community-image instance.\n\n"
        "Example: onboard lab instance restart-agent jupyter"
    ),
    no_args_is_help=True,
)

InstanceArgument = Annotated[str, typer.Argument(help="The instance's alias or id.")]


def _call(command: str, operation: str, instance: str, as_json: bool) -> None:
    from onboard.lab import control
    from onboard.lab.state import LabPaths
    from onboard.output import Outcome

    _, admin = control.require_running(LabPaths.for_user())
    data = admin.call(operation, {"target": instance})
    finish(Outcome(command, data, _render), as_json=as_json)


def _render(out, data) -> None:
    online = "Online" if data["online"] else "not Online (the role still does not allow the agent's actions)"
    if data["agent"] == "not installed":
        online = "no agent"
    out.print(f"{data['instance']}: agent {data['agent']} (version {data['version'] or '-'}), {online}.")


@app.command("restart-agent")
def restart_agent_command(instance: InstanceArgument, as_json: JsonOption = False) -> None:
    """Restart the SSM agent on a lab instance, as `sudo systemctl restart amazon-ssm-agent` does.

    The agent registers again with the role as it is now: after a policy was attached to the instance's
    role, this is what makes the instance show up (EC2 RebootInstances does the same).

    Example: onboard lab instance restart-agent jupyter
    """
    _call("lab.instance.restart-agent", "agent/restart", instance, as_json)


@app.command("install-agent")
def install_agent_command(instance: InstanceArgument, as_json: JsonOption = False) -> None:
    """Install and start the SSM agent on a lab instance from a community image (`yum`/`snap` install).

    Example: onboard lab instance install-agent i-0123456789abcdef0
    """
    _call("lab.instance.install-agent", "agent/install", instance, as_json)
