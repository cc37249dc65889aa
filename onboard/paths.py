"""Where onboard keeps its own files: per user, never needing root.

platformdirs is imported on first use only, so that ``onboard --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

APP_NAME = "onboard"


@dataclass(frozen=True)
class AppDirs:
    """The folders onboard writes to. Tests get fresh ones by pointing HOME and XDG_* at a temp dir."""

    @cached_property
    def _platformdirs(self):
        import platformdirs

        return platformdirs.PlatformDirs(APP_NAME, appauthor=False)

    @property
    def data(self) -> Path:
        """Installed plugin versions, lesson progress."""
        return Path(self._platformdirs.user_data_dir)

    @property
    def state(self) -> Path:
        """The lab's state (pid file, world), logs."""
        return Path(self._platformdirs.user_state_dir)

    @property
    def cache(self) -> Path:
        """Downloads in progress and verified bundles."""
        return Path(self._platformdirs.user_cache_dir)

    @property
    def runtime(self) -> Path:
        """Lock files: ``$XDG_RUNTIME_DIR/onboard`` on Linux (private, emptied when the user logs out).

        platformdirs checks the folder is the user's own with mode 0700, and otherwise falls back to a
        private folder in the temp directory; its warning about the fallback is not for onboard's users.
        """
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Path(self._platformdirs.user_runtime_dir)

    @property
    def config(self) -> Path:
        return Path(self._platformdirs.user_config_dir)

    @property
    def bin(self) -> Path:
        """The per-user folder for the stable ``session-manager-plugin`` link.

        ``~/.local/bin`` on Linux and macOS (or ``$XDG_BIN_HOME``), which most shells already have on
        PATH; ``%LOCALAPPDATA%\\onboard\\bin`` on Windows. ``ONBOARD_BIN_DIR`` overrides both (the lab
        uses it to keep its plugin off the user's real PATH).
        """
        override = os.environ.get("ONBOARD_BIN_DIR")
        if override:
            return Path(override).expanduser()
        if sys.platform == "win32":
            return self.data / "bin"
        xdg_bin = os.environ.get("XDG_BIN_HOME")
        if xdg_bin:
            return Path(xdg_bin).expanduser()
        return Path.home() / ".local" / "bin"


def app_dirs() -> AppDirs:
    return AppDirs()
