"""The executable ``session-manager-plugin`` file that runs the lab's plugin (for bundles and bin folders)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

EXECUTABLE_NAME = "session-manager-plugin"
#: Linux reads at most this much of a ``#!`` line; longer interpreter paths need a shell wrapper.
_SHEBANG_LIMIT = 127
#: Marks a launcher as the lab's, so that checks of "the system plugin" can tell them apart.
MARKER = "onboard.labplugin"


def launcher_text(python: str = sys.executable) -> str:
    """The launcher's text: ``#!<python>`` when the kernel can run that line, else a POSIX sh wrapper."""
    if " " not in python and len(python) + 2 <= _SHEBANG_LIMIT:
        return (
            f"#!{python}\n"
            f"# The practice lab's session-manager-plugin ({MARKER}), not AWS's.\n"
            "import sys\n\n"
            "from onboard.labplugin import main\n\n"
            "sys.exit(main())\n"
        )
    return (
        "#!/bin/sh\n"
        f"# The practice lab's session-manager-plugin ({MARKER}), not AWS's.\n"
        f'exec {shlex.quote(python)} -m onboard.labplugin "$@"\n'
    )


def write_launcher(directory: Path, python: str = sys.executable) -> Path:
    """Write ``directory/session-manager-plugin`` (mode 0755), replacing any earlier one atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / EXECUTABLE_NAME
    partial = directory / f".{EXECUTABLE_NAME}.partial"
    partial.write_text(launcher_text(python), encoding="utf-8")
    partial.chmod(0o755)
    partial.replace(target)
    return target


def is_lab_launcher(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return MARKER.encode() in handle.read(512)
    except OSError:
        return False
