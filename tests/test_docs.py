"""The README's command reference is kept in step with the commands' own --help."""

from __future__ import annotations

import re

from helpers import REPO
from onboard.cli import app


def leaf_commands():
    from typer.main import get_command

    def walk(command, path):
        children = getattr(command, "commands", None)
        if children:
            for name, child in sorted(children.items()):
                if not child.hidden:
                    yield from walk(child, [*path, name])
        else:
            yield " ".join(path), command

    yield from walk(get_command(app), ["onboard"])


def reference_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Command reference\n(.*?)(?=^## )", readme, flags=re.S | re.M)
    assert match, "README.md has no '## Command reference' section"
    return match.group(1)


def summary(command) -> str:
    return (command.help or "").strip().splitlines()[0].strip()


def test_every_command_is_in_the_readme_reference_with_its_summary():
    reference = reference_section()
    missing = []
    for path, command in leaf_commands():
        entry = re.search(rf"^### `{re.escape(path)}`\n+(.+)$", reference, flags=re.M)
        if entry is None:
            missing.append(f"{path}: no '### `{path}`' heading")
        elif entry.group(1).strip() != summary(command):
            missing.append(
                f"{path}: README says {entry.group(1).strip()!r}, --help says {summary(command)!r}"
            )
    assert not missing, "\n".join(missing)


def test_the_readme_reference_names_no_command_that_does_not_exist():
    known = {path for path, _ in leaf_commands()}
    documented = set(re.findall(r"^### `(onboard[^`]*)`", reference_section(), flags=re.M))
    assert documented <= known, f"documented but not a command: {sorted(documented - known)}"


def test_every_example_in_the_reference_is_a_real_command_line():
    known = {path for path, _ in leaf_commands()}
    for example in re.findall(r"^Example: (onboard .+)$", reference_section(), flags=re.M):
        words = example.split()
        assert any(" ".join(words[:n]) in known for n in (2, 3, 4)), (
            f"example of an unknown command: {example}"
        )
