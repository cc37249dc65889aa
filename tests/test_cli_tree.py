"""The command tree is built only as far as a command line needs it, and --help still sees every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import run_onboard
from onboard.cli import COMMANDS

GROUP_MODULES = sorted(where.partition(":")[0] for where in COMMANDS.values())


def _cli_modules_loaded(*args: str) -> set[str]:
    """The onboard.cli.* command modules one run of ``onboard ARGS`` imported."""
    code = (
        "import sys; from onboard.cli import main\n"
        f"try:\n    main({list(args)!r})\nexcept SystemExit:\n    pass\n"
        f"print('LOADED:' + ','.join(m for m in {GROUP_MODULES!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(filter(None, done.stdout.strip().splitlines()[-1].removeprefix("LOADED:").split(",")))


def test_version_builds_no_command():
    assert _cli_modules_loaded("--version") == set()


@pytest.mark.parametrize(
    "args,module",
    [
        (["connect", "--help"], "onboard.cli.connect"),
        (["lesson", "list", "--help"], "onboard.cli.lesson"),
        (["lab", "--help"], "onboard.cli.lab"),
        (["doctor", "--help"], "onboard.cli.doctor"),
    ],
    ids=" ".join,
)
def test_a_command_line_imports_only_the_command_it_names(args, module):
    loaded = _cli_modules_loaded(*args)
    assert module in loaded
    # connect borrows hosts' --profile and --team options; nothing else is imported besides.
    assert loaded <= {module, "onboard.cli.hosts"}, loaded


def test_help_lists_every_command_in_the_registrys_order():
    ran = run_onboard("--help")
    assert ran.exit_code == 0
    listed = [line.split()[0] for line in ran.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_a_misspelt_command_is_still_suggested_without_building_the_tree():
    ran = run_onboard("conect")
    assert ran.exit_code == 2
    assert "No such command 'conect'. Did you mean 'connect'?" in ran.stderr
