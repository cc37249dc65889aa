"""`onboard lab`: the offline practice lab (a local AWS on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onboard.cli import lab_instance
from onboard.cli._common import JsonOption, OptionalPath, OptionalPort, OptionalText, finish

app = typer.Typer(
    help=(
        "The offline practice lab: a local AWS (EC2, IAM, S3, STS and Session Manager) on 127.0.0.1, "
        "with its own ~/.aws and bin folder, so the whole journey runs without an AWS account.\n\n"
        "Example: onboard lab up --detach --learners alice,bob"
    ),
    no_args_is_help=True,
)
app.add_typer(lab_instance.app, name="instance")


def _paths():
    from onboard.lab.state import LabPaths

    return LabPaths.for_user()


def _learner_list(learners: str | None) -> list[str] | None:
    return [name.strip() for name in learners.split(",") if name.strip()] if learners else None


def _render_state(out, data) -> None:
    from onboard.output import escape

    if not data.get("running", True):
        out.print("No practice lab is running. Start one with `onboard lab up --detach`.")
        if data.get("cleaned_stale_state"):
            out.print("(A lab that had stopped without cleaning up was cleared.)")
        return
    world = data["world"]
    out.print(f"Practice lab at {escape(data['endpoint_url'])} (pid {data['pid']})")
    if data.get("moved_from"):
        out.print(
            f"  [yellow]moved:[/yellow] the last lab listened at {escape(data['moved_from'])}, which is "
            "taken now; `onboard lab env` names the profiles to fix"
        )
    out.print(
        f"  region {world['region']}, account {world['account']}, team file {escape(data['team_file'])}"
    )
    for alias, instance_id in world["instances"].items():
        out.print(f"  instance {alias}: {instance_id}")
    out.print(f"  learners: {', '.join(world['learners'])}; trainer: {world['trainer']}")
    out.print(f"  access-key CSVs in {escape(str(Path(data['state_dir']) / 'credentials'))}")
    sessions = data.get("sessions", {})
    out.print(f"  sessions: {sessions.get('active', 0)} active, {sessions.get('total', 0)} in all")
    if data.get("isolation"):
        out.print(f"  instance shells: {escape(data['isolation']['detail'])}")
    if data.get("class_lab"):
        _render_class_lab(out, data["class_lab"])
    for fault in data.get("faults", []):
        out.print(f"  [yellow]fault in force:[/yellow] {fault['name']} {fault['target'] or ''}")
    if data.get("system_plugin"):
        out.print(f"  plugin: AWS's installed one. {escape(data['system_plugin']['explanation'])}")
    out.print('Point a shell at it: eval "$(onboard lab env)"   or   onboard lab shell')


def _render_class_lab(out, classroom) -> None:
    from onboard.output import escape

    out.print(
        f"  [bold]class lab[/bold] on {escape(classroom['address'])} over TLS: "
        f"{classroom['learners']} learners"
    )
    out.print(f"  CA certificate {escape(classroom['ca_file'])} (SHA-256 {classroom['ca_fingerprint']})")
    out.print(f"  kits to hand out (one folder and zip per learner): {escape(classroom['kits_dir'])}")
    if classroom.get("warning"):
        out.print(f"  [yellow]warning:[/yellow] {escape(classroom['warning'])}")


@app.command("up")
def up_command(
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background (log in the state folder).")
    ] = False,
    port: Annotated[
        OptionalPort,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="HTTP port on 127.0.0.1 (default: 4566, else a free one; 0: a free one).",
        ),
    ] = None,
    learners: Annotated[
        OptionalText, typer.Option("--learners", help="Comma-separated learner names (up to 30).")
    ] = None,
    class_file: Annotated[
        OptionalPath,
        typer.Option("--class", help="A class list CSV (a 'name' column): a class lab for its learners."),
    ] = None,
    listen: Annotated[
        OptionalText,
        typer.Option(
            "--listen",
            help="Serve a class lab on this IP address, over TLS, with a kit per learner (needs bubblewrap).",
        ),
    ] = None,
    world: Annotated[
        OptionalPath, typer.Option("--world", help="A lab.toml describing the world (see init-world).")
    ] = None,
    plugin: Annotated[
        str,
        typer.Option("--plugin", help="lab: serve the lab's own plugin; system: use AWS's installed one."),
    ] = "lab",
    as_json: JsonOption = False,
) -> None:
    """Start the practice lab and wait until it answers.

    Writes the lab's team file and one access-key CSV per learner and trainer into the state folder.
    With --class and --listen it is a class lab: the learners of the class list, the API and data channel
    over TLS on that address (a certificate from the lab's own CA), every learner's shells sandboxed, and
    a kit per learner (team file, their key CSV, the CA) in the state folder's kits/ folder.
    With --plugin system the lab checks that the installed official plugin can reach a ws://127.0.0.1
    stream URL (1.2.677.0 does; releases from 1.2.889.0 may refuse non-AWS endpoints) and says why not.

    Example: onboard lab up --detach --learners alice,bob

    Example: onboard lab up --detach --class class.csv --listen 192.168.1.10
    """
    from onboard.errors import UsageError
    from onboard.lab import control
    from onboard.output import Outcome

    paths = _paths()
    names = _learner_list(learners)
    classroom = _class_mode(class_file, listen, names)
    if plugin not in ("lab", "system"):
        raise UsageError(
            f"--plugin {plugin} is neither lab nor system", "Use --plugin lab or --plugin system."
        )
    system_plugin = control.check_system_plugin() if plugin == "system" else None
    if detach:
        state = control.start_detached(
            paths,
            port=port,
            learners=names,
            world_file=world,
            plugin=plugin,
            classroom=classroom,
            class_file=class_file,
        )
        data = {"running": True, **state.to_json(), "system_plugin": system_plugin}
        finish(Outcome("lab.up", data, _render_state), as_json=as_json)

    from onboard.lab.process import run
    from onboard.lab.world import load_world
    from onboard.output import emit

    control.check_can_start(paths, world, names, classroom)
    world_spec = load_world(world)
    if classroom is not None:
        names = classroom.names
    if names:
        world_spec = world_spec.with_learners(names)

    def ready(server) -> None:
        data = {"running": True, **server.describe().to_json(), "system_plugin": system_plugin}
        emit(Outcome("lab.up", data, _render_state), as_json=as_json)
        if not as_json:
            typer.echo("Press Ctrl-C to stop the lab.")

    raise typer.Exit(run(paths, world_spec, port=port, plugin=plugin, on_ready=ready, classroom=classroom))


def _class_mode(class_file: Path | None, listen: str | None, names: list[str] | None):
    """The class lab --class/--listen ask for (None: a lab for one user); bad combinations refused."""
    from onboard.errors import UsageError

    if class_file is None and listen is None:
        return None
    if class_file is not None and names:
        raise UsageError("--class and --learners both name the learners", "Give one of them.")
    if listen is None:
        raise UsageError(
            "--class serves a class lab, which needs the address learners reach",
            "Add --listen ADDRESS: this computer's IP address on the classroom network "
            "(or a loopback address such as 127.0.0.2 to try the class lab alone).",
        )
    from onboard.lab.classmode import ClassMode

    return ClassMode.of(listen, class_file, names)


@app.command("status")
def status_command(as_json: JsonOption = False) -> None:
    """Show whether the lab runs, where, and what is in it.

    Example: onboard lab status --json
    """
    from onboard.errors import ExitCode
    from onboard.lab import control
    from onboard.output import Outcome

    data = control.status(_paths())
    code = ExitCode.OK if data["running"] else ExitCode.ENVIRONMENT
    finish(Outcome("lab.status", data, _render_state, exit_code=code), as_json=as_json)


@app.command("down")
def down_command(as_json: JsonOption = False) -> None:
    """Stop the lab: open sessions end and their transcripts are stored first.

    Example: onboard lab down
    """
    from onboard.lab import control
    from onboard.output import Outcome

    data = control.stop(_paths())
    finish(
        Outcome("lab.down", data, lambda out, d: out.print(f"Stopped the lab at {d['endpoint_url']}.")),
        as_json=as_json,
    )


@app.command("reset")
def reset_command(as_json: JsonOption = False) -> None:
    """Re-seed the lab's world from scratch on the same ports; access keys stay the same.

    Example: onboard lab reset
    """
    from onboard.lab import control
    from onboard.output import Outcome

    data = control.reset(_paths())
    finish(Outcome("lab.reset", {"running": True, **data}, _render_state), as_json=as_json)


@app.command("env")
def env_command(
    shell: Annotated[
        OptionalText, typer.Option("--shell", help="bash, zsh, fish or powershell (default: $SHELL).")
    ] = None,
) -> None:
    """Print the exports that point the AWS CLI, boto3 and onboard at the lab (its own ~/.aws and bin).

    The endpoint is exported as AWS_ENDPOINT_URL, so `aws` talks to the lab even before setup.

    Example: eval "$(onboard lab env)"
    """
    from onboard.lab import control, exports

    exports.check_shell(shell)
    paths = _paths()
    state, _ = control.require_running(paths)
    chosen = shell or exports.default_shell()
    for moved in control.moved_endpoints(paths, state.endpoint_url):
        typer.echo(f"warning: {moved.message}", err=True)
    typer.echo(
        exports.render_exports(
            control.environment(paths, state),
            chosen,
            str(paths.bin_dir),
            bin_last=state.uses_system_plugin,
        ),
        nl=False,
    )


@app.command("shell")
def shell_command() -> None:
    """Open a subshell whose AWS CLI, boto3 and onboard use the lab; `exit` leaves it.

    Example: onboard lab shell
    """
    from onboard.lab import control

    raise typer.Exit(control.run_shell(_paths()))


@app.command("fault")
def fault_command(
    name: Annotated[str, typer.Argument(help="A fault name, `clear` (undo all) or `list`.")],
    target: Annotated[
        OptionalText, typer.Argument(help="The instance (alias or id) or learner it hits.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Break one thing in the running lab for a troubleshooting drill, or undo it.

    `onboard lab fault list` shows every fault, what it hits and what a user then sees (among them
    clock-skew LEARNER: AWS sees the learner's clock 20 minutes behind). `onboard lab fault clear`
    restores everything.

    Example: onboard lab fault agent-offline jupyter
    """
    from onboard.output import Outcome

    if name == "list":  # the catalogue alone: no lab, so nothing of the lab's is loaded
        from onboard.labfaults import describe_faults

        data = {"faults": describe_faults()}
        finish(Outcome("lab.fault", data, _render_fault_list), as_json=as_json)
    from onboard.lab import control

    paths = _paths()
    if name == "clear":
        data = control.clear_faults(paths)
        finish(
            Outcome("lab.fault", data, lambda out, d: out.print(f"Cleared {len(d['cleared'])} fault(s).")),
            as_json=as_json,
        )
    data = control.fault(paths, name, target)
    finish(Outcome("lab.fault", data, _render_fault), as_json=as_json)


def _render_fault(out, data) -> None:
    where = f" on {data['target']}" if data.get("target") else ""
    out.print(f"Fault {data['fault']}{where} is in force. A user now sees: {data['user_sees']}.")
    out.print("Undo it with `onboard lab fault clear`.")


def _render_fault_list(out, data) -> None:
    for fault in data["faults"]:
        target = f" [{fault['target'].upper()}]" if fault["target"] else ""
        out.print(f"{fault['name']}{target}: {fault['summary']}; a user sees: {fault['user_sees']}")


@app.command("init-world")
def init_world_command(
    path: Annotated[Path, typer.Argument(help="Where to write the lab.toml.")] = Path("lab.toml"),
    as_json: JsonOption = False,
) -> None:
    """Write the default lab world (lab.toml) for a trainer to edit; an existing file is never overwritten.

    Example: onboard lab init-world lab.toml && onboard lab up --world lab.toml
    """
    from onboard.errors import UsageError
    from onboard.lab.state import write_text_atomic
    from onboard.lab.world import DEFAULT_WORLD_TOML
    from onboard.output import Outcome

    if path.exists():
        raise UsageError(f"{path} already exists", "Edit it, or name another file.")
    write_text_atomic(path, DEFAULT_WORLD_TOML)
    data = {"path": str(path)}
    finish(
        Outcome(
            "lab.init-world",
            data,
            lambda out, d: out.print(
                f"Wrote {d['path']}; edit it, then `onboard lab up --world {d['path']}`."
            ),
        ),
        as_json=as_json,
    )


@app.command("tour")
def tour_command(
    learner: Annotated[
        OptionalText, typer.Option("--learner", help="The learner to play (default: the lab's first).")
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the lab the tour started running when the tour ends.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The whole journey, offline: lab, setup into the lab's sandbox, lessons 1 to 4 and 7 played and graded.

    Starts the practice lab (a running one is reused and left running), runs `onboard setup` unattended
    into the lab's own ~/.aws and bin folder (never yours), then a scripted learner plays lessons 1 to 4 and 7
    with the real AWS CLI and the lab's plugin, and each step's check is shown as it happens. Exits 0
    only if every step passed. The lab the tour started is stopped at the end (unless --keep) and on
    Ctrl-C (exit 130).

    Example: onboard lab tour --keep
    """
    from onboard.output import Outcome, console
    from onboard.tour.narrate import Narrator, render_score, tour_exit_code
    from onboard.tour.run import run_tour

    report = run_tour(_paths(), learner=learner, keep=keep, say=Narrator(None if as_json else console()))
    finish(Outcome("lab.tour", report, render_score, exit_code=tour_exit_code(report)), as_json=as_json)
