"""A non-interactive command's output, handed to the data channel once the command has ended, as AWS's agent
hands it over.

AWS's agent runs AWS-StartNonInteractiveCommand's command with its stdout and stderr going to a file, waits
for the command to exit, and only then sends that file over the data channel (amazon-ssm-agent
agent/session/shell/shell.go, processCommandsWithExec: ``execCmd.Wait()``, then
``setupRoutineToWriteCommandOutput``); if the session is terminated first, it kills the command and sends
nothing. (A document with ``separateOutPutStream`` streams instead; AWS-StartNonInteractiveCommand has none.)
So a learner never sees a command's progress in such a session, in the lab either.

:class:`OutputAfterExit` gives the command a private file to write to and the data channel a pipe to read,
which a thread fills from the file once the command has exited and then closes (the end of the output).
"""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
import threading

_CHUNK = 64 * 1024
#: How often a thread waiting on a full pipe looks whether the session has been terminated.
_POLL_SECONDS = 0.2


class OutputAfterExit:
    """The command's output file (:meth:`command_fd`, for the child) and the channel's end (:attr:`read_fd`,
    non-blocking once the caller sets it so)."""

    def __init__(self) -> None:
        # unlinked at once: only this process and the command hold it; closed by the handing-over thread
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._cancelled = threading.Event()
        self._done = threading.Event()

    def command_fd(self) -> int:
        """A descriptor of the output file for the command's stdout and stderr (the caller closes it)."""
        return os.dup(self._file.fileno())

    def hand_over_when(self, process: subprocess.Popen[bytes]) -> None:
        """Once ``process`` has exited, copy its output into the pipe (in a thread of its own)."""
        threading.Thread(target=self._hand_over, args=(process,), daemon=True).start()

    @property
    def done(self) -> bool:
        """All the output is in the pipe (or was dropped by :meth:`cancel`), its writing end closed."""
        return self._done.is_set()

    def cancel(self) -> None:
        """The session was terminated: what is not handed over yet is dropped, as AWS's agent drops it."""
        self._cancelled.set()

    def _hand_over(self, process: subprocess.Popen[bytes]) -> None:
        try:
            process.wait()
            self._file.seek(0)
            while not self._cancelled.is_set() and (chunk := self._file.read(_CHUNK)):
                self._write_all(memoryview(chunk))
        except OSError:  # the channel closed its end: nobody is left to read
            pass
        finally:
            self.release()

    def release(self) -> None:
        """Close the file and the pipe's writing end (the output's end); also for a command never started."""
        self._file.close()
        os.close(self._write_fd)
        self._done.set()

    def _write_all(self, data: memoryview) -> None:
        while data and not self._cancelled.is_set():
            select.select([], [self._write_fd], [], _POLL_SECONDS)
            try:
                data = data[os.write(self._write_fd, data) :]
            except BlockingIOError:
                continue
