"""The CLI frame: version, help, exit codes, error rendering, Ctrl-C, cold start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from helpers import run_onboard
from onboard import __version__
from onboard.cli import app, main
from onboard.cli._common import JsonOption
from onboard.errors import ExitCode, OnboardError


def test_version_prints_the_package_version():
    ran = run_onboard("--version")
    assert ran.exit_code == 0
    assert ran.stdout.strip() == f"onboard {__version__}"


def test_python_dash_m_runs_the_same_cli():
    ran = run_onboard("--help")
    assert ran.exit_code == 0
    assert "Usage: onboard" in ran.stdout


def test_unknown_command_is_a_usage_error():
    ran = run_onboard("no-such-command")
    assert ran.exit_code == ExitCode.USAGE
    assert "No such command" in ran.stderr


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["lesson", "list", "--help"], ["doctor", "--help"]]
)
def test_cold_start_imports_no_heavy_library(args):
    # boto3, questionary and moto take hundreds of milliseconds to import: --help must not pay for them.
    code = (
        "import sys; from onboard.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'questionary', 'moto', 'platformdirs', 'pydantic'))\n"
        "print('HEAVY:' + ','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_every_command_has_help_with_an_example():
    from typer.main import get_command

    root = get_command(app)
    missing = []

    def walk(command, path):
        sub = getattr(command, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, [*path, name])
            return
        if "Example:" not in (command.help or ""):
            missing.append(" ".join(path))

    walk(root, ["onboard"])
    assert not missing, f"commands without an 'Example:' in their help: {missing}"


def _run(command, *args: str) -> int:
    """Run ``command`` as the only command of a throwaway app through main()'s error handling."""
    throwaway = typer.Typer()
    throwaway.command()(command)
    throwaway.command("other")(lambda: None)  # two commands, so typer keeps the command name
    return main([*args, command.__name__.replace("_", "-")], cli=throwaway)


def test_onboard_error_becomes_message_hint_and_exit_code(capsys):
    def fail_with_hint():
        raise OnboardError(
            "the plugin is missing", "Run: onboard plugin install", exit_code=ExitCode.ENVIRONMENT
        )

    code = _run(fail_with_hint)
    captured = capsys.readouterr()
    assert code == ExitCode.ENVIRONMENT
    assert "error: the plugin is missing" in captured.err
    assert "hint: Run: onboard plugin install" in captured.err
    assert "Traceback" not in captured.err


def test_debug_shows_the_traceback(capsys):
    def fail_for_debug():
        raise OnboardError("boom")

    code = _run(fail_for_debug, "--debug")
    assert code == ExitCode.FAILURE
    assert "Traceback" in capsys.readouterr().err


def test_keyboard_interrupt_exits_130_with_one_line(capsys):
    def interrupted():
        raise KeyboardInterrupt

    code = _run(interrupted)
    err = capsys.readouterr().err
    assert code == ExitCode.INTERRUPTED == 130
    assert err.strip() == "Interrupted."


def test_unexpected_exception_is_reported_without_traceback_or_secret(capsys):
    def crash_with_secret():
        secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        raise RuntimeError(f"aws_secret_access_key = {secret}")

    code = _run(crash_with_secret)
    err = capsys.readouterr().err
    assert code == ExitCode.FAILURE
    assert "unexpected internal error: RuntimeError" in err
    assert "--debug" in err
    assert "Traceback" not in err
    assert "wJalrXUtnFEMI" not in err


def test_json_errors_come_in_the_envelope(capsys):
    def json_failure(as_json: JsonOption = False):
        raise OnboardError("it broke", "do this")

    throwaway = typer.Typer()
    throwaway.command()(json_failure)
    throwaway.command("other")(lambda: None)
    code = main(["json-failure", "--json"], cli=throwaway)
    body = json.loads(capsys.readouterr().out)
    assert code == ExitCode.FAILURE
    assert body["ok"] is False
    assert body["command"] == "json-failure"
    assert body["error"] == {"type": "OnboardError", "message": "it broke", "hint": "do this", "exit_code": 1}
    assert body["schema_version"] == 1


def test_a_new_command_group_reports_its_errors_under_its_name_without_doing_anything(capsys):
    # The one thing a new command group does is to be added: main() makes its commands record
    # their name and --json, so an error comes in the envelope under the right command.
    things = typer.Typer()

    @things.command("break")
    def break_command(as_json: JsonOption = False) -> None:
        """Example: onboard things break"""
        raise OnboardError("the thing broke", "mend it")

    @things.command("mend")
    def mend_command() -> None:
        """Example: onboard things mend"""

    root = typer.Typer()
    root.add_typer(things, name="things")
    root.command("other")(lambda: None)
    code = main(["things", "break", "--json"], cli=root)
    body = json.loads(capsys.readouterr().out)
    assert code == ExitCode.FAILURE
    assert body["command"] == "things.break"
    assert body["error"]["message"] == "the thing broke"

    assert main(["things", "break"], cli=root) == ExitCode.FAILURE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: the thing broke" in captured.err


def _leaf_commands():
    from typer.main import get_command

    found = []

    def walk(command, path):
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                walk(child, [*path, name])
            return
        found.append((path, any("--json" in param.opts for param in command.params)))

    walk(get_command(app), [])
    return found


def test_doctor_json_usage_error_is_a_json_error_on_stdout():
    ran = run_onboard("doctor", "--json", "--bogus")
    assert ran.exit_code == ExitCode.USAGE == 2
    body = ran.json()
    assert body["ok"] is False
    assert body["command"] == "doctor"
    assert body["exit_code"] == 2
    assert body["error"]["type"] == "UsageError"
    assert "--bogus" in body["error"]["message"]
    assert "onboard doctor --help" in body["error"]["hint"]


@pytest.mark.parametrize(
    "path,has_json", _leaf_commands(), ids=lambda value: " ".join(value) if isinstance(value, list) else None
)
def test_every_command_refuses_an_unknown_option_with_the_usage_exit_code(path, has_json, capsys):
    args = [*path, "--json", "--no-such-option"] if has_json else [*path, "--no-such-option"]
    code = main(args)
    captured = capsys.readouterr()
    assert code == ExitCode.USAGE
    if has_json:
        body = json.loads(captured.out)
        assert body["command"] == ".".join(path)
        assert body["error"]["exit_code"] == ExitCode.USAGE
        assert "--no-such-option" in body["error"]["message"]
    else:
        assert captured.out == ""
        assert "No such option: --no-such-option" in captured.err


@pytest.mark.parametrize(
    "args",
    [
        ["doctor", "--timeout", "0"],
        ["doctor", "--target", "!!bad"],
        ["lab", "up", "--port", "99999", "--detach"],
        ["lab", "up", "--learners", "!!", "--detach"],
        ["lesson", "reset", "no-such-lesson"],
        ["lesson", "lint", "/no/such/lessons"],
        ["lesson", "list", "--lessons-dir", "/no/such/lessons"],
        ["plugin", "install", "--version", "bogus"],
        ["setup", "--profile", "bad name", "--yes", "--no-plugin", "--no-aws-cli"],
    ],
    ids=" ".join,
)
def test_an_invalid_value_exits_with_the_usage_code_and_a_json_error(args, capsys):
    code = main([*args, "--json"])
    body = json.loads(capsys.readouterr().out)
    assert code == ExitCode.USAGE
    assert body["ok"] is False
    assert body["exit_code"] == ExitCode.USAGE
    assert body["command"] == ".".join(word for word in args[:2] if not word.startswith("-"))


@pytest.mark.parametrize(
    "args",
    [
        ["setup", "--yes", "--no-plugin", "--no-aws-cli"],
        ["doctor"],
        ["plugin", "install"],
        ["lesson", "list"],
        ["trainer", "policy"],
        ["hosts", "alias", "web", "i-0123456789abcdef0"],
    ],
    ids=" ".join,
)
def test_a_folder_named_as_the_team_file_is_a_usage_error_not_a_bug(args, tmp_path, capsys):
    folder = tmp_path / "kit"
    folder.mkdir()
    code = main([*args, "--team", str(folder), "--json"])
    body = json.loads(capsys.readouterr().out)
    assert code == ExitCode.USAGE, body
    assert "internal error" not in body["error"]["message"]
    assert f"{folder} is not a regular file" in body["error"]["message"]


@pytest.mark.parametrize(
    "args",
    [
        ["forward", "web", "8888", "--local-port", "70000"],
        ["forward", "web", "8888", "--local-port", "0"],
        ["hosts", "shell-aliases", "--shell", "bogus"],
        # Checked before anything else is looked up: no profile and no lab exist here.
        ["connect", "web", "--user", "bad user!"],
        ["transfer", "put", "/etc/hostname", "web:x", "--as", "bad user!"],
        ["transfer", "get", "web:x", ".", "--as", "Bad"],
        ["lab", "env", "--shell", "bogus"],
    ],
    ids=" ".join,
)
def test_an_invalid_value_of_a_command_without_json_exits_with_the_usage_code(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    assert code == ExitCode.USAGE, captured.err
    assert captured.out == ""
    assert "internal error" not in captured.err


def test_without_json_a_usage_error_is_click_usage_text_on_stderr():
    ran = run_onboard("doctor", "--bogus")
    assert ran.exit_code == ExitCode.USAGE
    assert ran.stdout == ""
    assert "No such option: --bogus" in ran.stderr
    assert "Usage: onboard doctor" in ran.stderr


def test_typer_exit_code_passes_through():
    def exits_three():
        raise typer.Exit(3)

    assert _run(exits_three) == 3


def test_a_command_reads_the_runs_environment_from_its_context():
    from onboard.cli._common import Environment

    seen = []

    def inspect(ctx: typer.Context, as_json: JsonOption = False) -> None:
        seen.append(ctx.obj)

    throwaway = typer.Typer()
    throwaway.command()(inspect)
    throwaway.command("other")(lambda: None)
    assert main(["inspect", "--json", "--debug"], cli=throwaway) == 0
    assert seen == [Environment(debug=True, as_json=True, command="inspect")]
