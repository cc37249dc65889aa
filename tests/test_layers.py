"""The map of packages in the README's Development section is the one the imports follow."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "onboard"


def _layers() -> list[tuple[str, set[str], set[str]]]:
    """The README's table: each layer, its packages, and what it may import besides the layers below it."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Development", 1)[1]
    rows = re.findall(r"^\|\s*(\w[\w ]*?)\s*\|([^|]+)\|([^|]*)\|\s*$", section, flags=re.M)
    layers = []
    for name, packages, also in rows:
        if name == "layer":
            continue
        members = set(re.findall(r"`(\w+)`", packages))
        allowed = set(re.findall(r"`([\w.]+)`", also)) | (members if "each other" in also else set())
        layers.append((name, members, allowed))
    return layers


def _imports(module: Path) -> set[str]:
    """The onboard modules ``module`` imports (dotted, without the leading ``onboard.``)."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name.split(".", 1)[1] for name in names if name.startswith("onboard."))
    return found


def _package_of(module: Path) -> str:
    return module.relative_to(PACKAGE).with_suffix("").parts[0]


def test_the_readme_names_every_package_once():
    named = [package for _layer, packages, _also in _layers() for package in packages]
    present = {_package_of(module) for module in PACKAGE.rglob("*.py")} - {"__init__"}
    assert sorted(named) == sorted(set(named)), "a package is in two layers"
    assert set(named) == present


def test_every_import_points_down_the_map_or_is_named_in_it():
    # A package imports the layers above its own, and what its layer's last column names; a dotted name
    # there (`lab.interface`) narrows its package to those modules: the layer may import only them of it.
    layers = _layers()
    layer_of = {package: index for index, (_name, members, _also) in enumerate(layers) for package in members}
    wrong = []
    for module in sorted(PACKAGE.rglob("*.py")):
        package = _package_of(module)
        if package == "__init__":
            continue
        mine = layer_of[package]
        also = layers[mine][2]
        doors = {name for name in also if "." in name}
        for target in sorted(_imports(module)):
            top = target.split(".", 1)[0]
            narrowed = {door for door in doors if door.split(".", 1)[0] == top}
            if top == package:
                continue
            if narrowed:
                allowed = any(target == door or target.startswith(f"{door}.") for door in narrowed)
            else:
                allowed = layer_of[top] < mine or top in also
            if not allowed:
                wrong.append(f"{module.relative_to(REPO)} imports onboard.{target}")
    assert not wrong, "imports the README's map does not allow:\n" + "\n".join(wrong)
