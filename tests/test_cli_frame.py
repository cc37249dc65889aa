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
from onboard.cli._common import JsonOption, begin
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
        begin("test.json-failure", as_json=as_json)
        raise OnboardError("it broke", "do this")

    throwaway = typer.Typer()
    throwaway.command()(json_failure)
    code = main(["--json"], cli=throwaway)
    body = json.loads(capsys.readouterr().out)
    assert code == ExitCode.FAILURE
    assert body["ok"] is False
    assert body["command"] == "test.json-failure"
    assert body["error"] == {"type": "OnboardError", "message": "it broke", "hint": "do this", "exit_code": 1}
    assert body["schema_version"] == 1


def test_typer_exit_code_passes_through():
    def exits_three():
        raise typer.Exit(3)

    assert _run(exits_three) == 3
