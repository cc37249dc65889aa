"""The production installer and verifier never reach the fakes: found by walking their imports (AST).

The fakes are the bundle writers, the signing key and the lab's download tree (onboard/lab/bundles.py,
signing.py, downloads.py). Every ``import`` in onboard/plugin/*.py and onboard/pgp.py is followed,
including the ones inside functions (imported lazily, but imported all the same), through every onboard
module they reach.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import onboard

PACKAGE = Path(onboard.__file__).parent
#: What the production side may not reach: the lab, and anything that makes keys, signatures or bundles.
FORBIDDEN_PACKAGES = ("onboard.lab", "onboard.labplugin")
FAKE_DEFINITIONS = {"SigningKey", "write_deb", "write_rpm", "write_mac_bundle_zip", "publish_tree"}


def _module_file(root: Path, name: str) -> Path | None:
    parts = name.split(".")[1:]
    base = root.joinpath(*parts) if parts else root
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(root: Path, file: Path) -> set[str]:
    """The onboard modules ``file`` imports anywhere in its body (``from onboard import x`` counts x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("onboard"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("onboard"):
            found.add(node.module)
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if _module_file(root, submodule) is not None:
                    found.add(submodule)
    return found


def reachable(root: Path, starts: list[str]) -> dict[str, list[str]]:
    """Every onboard module reachable from ``starts``, with the import chain that reaches it."""
    chains = {name: [name] for name in starts}
    queue = list(starts)
    while queue:
        name = queue.pop()
        file = _module_file(root, name)
        if file is None:
            continue
        for imported in sorted(_imports(root, file)):
            if imported not in chains:
                chains[imported] = [*chains[name], imported]
                queue.append(imported)
    return chains


def production_modules(root: Path) -> list[str]:
    plugin = [f"onboard.plugin.{file.stem}" for file in sorted((root / "plugin").glob("*.py"))]
    return ["onboard.pgp", *(name.removesuffix(".__init__") for name in plugin)]


def fakes_reached(root: Path) -> list[str]:
    """One line per way the production modules reach a fake (empty: they reach none)."""
    problems = []
    for name, chain in reachable(root, production_modules(root)).items():
        if name.startswith(FORBIDDEN_PACKAGES):
            problems.append(" -> ".join(chain))
            continue
        file = _module_file(root, name)
        if file is None:
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        defined = {
            node.name
            for node in tree.body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in FAKE_DEFINITIONS
        }
        if defined:
            problems.append(f"{' -> '.join(chain)} defines {', '.join(sorted(defined))}")
    return problems


def test_the_installer_and_the_verifier_reach_no_fake():
    assert production_modules(PACKAGE)[:2] == ["onboard.pgp", "onboard.plugin"]
    assert "onboard.plugin.install" in production_modules(PACKAGE)
    assert fakes_reached(PACKAGE) == []


def test_the_walk_finds_a_fake_imported_inside_a_function(tmp_path):
    """The check itself: a lazy import of the lab's bundle writer from the installer is caught."""
    root = tmp_path / "onboard"
    (root / "plugin").mkdir(parents=True)
    (root / "lab").mkdir()
    for folder in (root, root / "plugin", root / "lab"):
        (folder / "__init__.py").write_text("")
    (root / "pgp.py").write_text("from onboard.errors import VerificationError\n")
    (root / "errors.py").write_text("class VerificationError(Exception): ...\n")
    (root / "plugin" / "install.py").write_text(
        "def install():\n    from onboard.lab import bundles\n    return bundles\n"
    )
    (root / "lab" / "bundles.py").write_text("def write_deb(): ...\n")
    assert sorted(fakes_reached(root)) == [
        "onboard.plugin.install -> onboard.lab",
        "onboard.plugin.install -> onboard.lab.bundles",
    ]


def test_the_walk_finds_a_fake_defined_inside_the_product(tmp_path):
    """The layout this replaced: the bundle writer and the signing key inside the product's own modules."""
    root = tmp_path / "onboard"
    (root / "plugin").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "plugin" / "__init__.py").write_text("")
    (root / "pgp.py").write_text("class SigningKey: ...\n")
    (root / "plugin" / "install.py").write_text("from onboard.plugin.packaging import PLUGIN_NAME\n")
    (root / "plugin" / "packaging.py").write_text("PLUGIN_NAME = 'x'\ndef publish_tree(): ...\n")
    assert sorted(fakes_reached(root)) == [
        "onboard.pgp defines SigningKey",
        "onboard.plugin.packaging defines publish_tree",
    ]


@pytest.mark.parametrize("module", ["onboard.pgp", "onboard.plugin.install", "onboard.cli"])
def test_pysequoia_is_imported_only_to_verify(module):
    """`onboard --help` stays fast: Sequoia's library loads when a key or signature is read, not before."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print('pysequoia' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"
