"""The scripts a fresh clone starts with: they say what they do while .venv is made, and why it failed; and
the README's install by hand, in a home that has nothing yet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from helpers import REPO

# A stand-in for python3: `-m venv .venv` makes a .venv whose python and onboard only record being run.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "Python 3.11.9"; exit 0; fi
if [ "$1 $2" = "-m venv" ]; then
  [ -n "$FAIL_VENV" ] && { echo "Error: ensurepip is not available" >&2; exit 1; }
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "PIP RAN: $*" >&2\\nsleep ${PIP_SECONDS:-0}\\n' > "$3/bin/python"
  printf '#!/bin/sh\\necho "ONBOARD RAN: $*"\\n' > "$3/bin/onboard"
  chmod +x "$3/bin/python" "$3/bin/onboard"
  exit 0
fi
exit 3
"""


def _clone(tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "scripts", clone / "scripts")
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return clone


def _run(clone: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(clone / "scripts" / "tour")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(tmp_path / "python3"), **env},
        timeout=60,
    )


def test_the_tour_on_a_fresh_clone_says_what_it_installs_before_pip_runs(tmp_path):
    clone = _clone(tmp_path)
    ran = _run(clone, tmp_path)
    assert ran.returncode == 0, ran.stderr
    said = ran.stderr
    assert "creating .venv with Python 3.11.9" in said
    assert "installing onboard and its dependencies into .venv" in said
    assert "a minute or two" in said
    # pip ran after the user was told what it is doing, then the tour.
    assert said.index("installing onboard") < said.index("PIP RAN: -m pip install")
    assert "ONBOARD RAN: lab tour" in ran.stdout

    again = _run(clone, tmp_path)
    assert "creating .venv" not in again.stderr
    assert "checking .venv" in again.stderr


def test_a_long_pip_install_says_it_is_still_at_work_until_it_is_done(tmp_path):
    clone = _clone(tmp_path)
    ran = _run(clone, tmp_path, PIP_SECONDS="3", ONBOARD_PROGRESS_SECONDS="1")
    assert ran.returncode == 0, ran.stderr
    said = ran.stderr
    assert "pip is still at work (" in said
    # The reminders come while pip runs, and stop when it is done.
    assert said.index("PIP RAN: -m pip install") < said.index("pip is still at work")
    assert "still at work" not in said[said.index(".venv is ready") :]


def test_a_python_without_venv_support_is_explained(tmp_path):
    clone = _clone(tmp_path)
    ran = _run(clone, tmp_path, FAIL_VENV="1")
    assert ran.returncode != 0
    assert "python3-venv" in ran.stderr
    assert not (clone / ".venv").exists()
    assert "PIP RAN" not in ran.stderr


def _readme_venv_install() -> str:
    """The README's install without pipx: the sh block after "a virtual environment does the same"."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    after = readme.split("a virtual\nenvironment does the same by hand:", 1)[1]
    return after.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readme_install_without_pipx_works_in_a_fresh_home(tmp_path):
    home = tmp_path / "fresh-home"
    home.mkdir()
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(FAKE_PYTHON.replace("/python", "/pip"))
    fake.chmod(0o755)
    ran = subprocess.run(
        ["bash", "-e", "-c", _readme_venv_install()],
        capture_output=True,
        text=True,
        env={"PATH": f"{fake.parent}:/usr/bin:/bin", "HOME": str(home)},
        cwd=tmp_path,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert "PIP RAN: install .[lab]" in ran.stderr
    linked = subprocess.run(
        [str(home / ".local" / "bin" / "onboard"), "--version"], capture_output=True, text=True
    )
    assert "ONBOARD RAN: --version" in linked.stdout
