"""Can the installed official ``session-manager-plugin`` serve the practice lab? (``lab up --plugin system``)

AWS's plugin connects to whatever StreamUrl StartSession returns, and the lab's is
``ws://127.0.0.1:PORT/...``. Version 1.2.677.0 was seen to accept it; releases from 1.2.889.0 are reported to
check that the StreamUrl is an AWS Session Manager endpoint first, so they may refuse the lab. Versions
below 1.2.764.0 work but make the AWS CLI warn that the plugin is outdated.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from onboard.labplugin.launcher import EXECUTABLE_NAME, is_lab_launcher

MINIMUM_SUPPORTED = (1, 2, 764, 0)
FIRST_ENDPOINT_CHECKING = (1, 2, 889, 0)
_VERSION = re.compile(r"\b(\d+)\.(\d+)\.(\d+)\.(\d+)\b")


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def check_system_plugin(executable: str | None = None) -> tuple[bool, str | None, str]:
    """(usable with the lab, its version or None, an explanation for the trainer)."""
    found = executable or shutil.which(EXECUTABLE_NAME)
    if not found:
        return (
            False,
            None,
            (
                f"No {EXECUTABLE_NAME} is on PATH. Install AWS's plugin, or use the lab's own "
                "(`onboard lab up` without --plugin system)."
            ),
        )
    if is_lab_launcher(Path(found)):
        return (
            False,
            None,
            (
                f"{found} is the practice lab's own plugin, not AWS's; take the lab's bin folder "
                "off PATH to check the system plugin."
            ),
        )
    try:
        done = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, None, f"{found} --version did not run: {err}"
    match = _VERSION.search(done.stdout)
    if done.returncode != 0 or match is None:
        return False, None, f"{found} --version printed no version (exit code {done.returncode})."
    version = tuple(int(part) for part in match.groups())
    text = _dotted(version)
    if version >= FIRST_ENDPOINT_CHECKING:
        return (
            False,
            text,
            (
                f"{found} is version {text}. Releases from {_dotted(FIRST_ENDPOINT_CHECKING)} may refuse "
                "a StreamUrl that is not an AWS Session Manager endpoint, such as the lab's ws://127.0.0.1; "
                "use the lab's own plugin, or install 1.2.764.0 to 1.2.888.x to practise with AWS's."
            ),
        )
    if version < MINIMUM_SUPPORTED:
        return (
            True,
            text,
            (
                f"{found} is version {text}: it accepts the lab's ws:// StreamUrl, but the AWS CLI will "
                f"warn that it is older than {_dotted(MINIMUM_SUPPORTED)}, the minimum AWS supports."
            ),
        )
    return True, text, f"{found} is version {text}: it accepts the lab's ws:// StreamUrl."
