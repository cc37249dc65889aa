"""What a download shows: a rich progress bar on a terminal, else nothing until a one-line summary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from onboard.plugin.download import Downloaded


class DownloadProgress:
    """A rich progress bar on a terminal; otherwise nothing until a one-line summary."""

    def __init__(self, label: str, enabled: bool):
        self.label, self.enabled = label, enabled
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if enabled and sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            from onboard.output import console

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console(stderr=True),
                transient=True,
            )

    def start(self, total: int | None) -> None:
        if self._bar is not None:
            if self._task is None:
                self._bar.start()
                self._task = self._bar.add_task(self.label, total=total)
            else:  # a retry starts again from zero
                self._bar.reset(self._task, total=total)

    def advance(self, size: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, size)

    def finish(self, done: Downloaded | None) -> None:
        if self._bar is not None:
            self._bar.stop()
        if self.enabled and done is not None:
            from onboard.output import console, escape

            rate = done.size / done.seconds if done.seconds > 0 else 0
            console(stderr=True).print(
                f"Downloaded {escape(done.url)} ({human_size(done.size)} in {done.seconds:.1f} s, "
                f"{human_size(int(rate))}/s)"
            )


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover - the loop always returns
