"""A session that runs one command on an instance (AWS-StartNonInteractiveCommand) and collects its output.

The plugin gets a pipe for its input, held open until the plugin has exited: AWS's plugin reads its
stdin for the whole session, sending what it reads to the instance, and ends the session when stdin
ends ("Cannot perform start session: EOF": session-manager-plugin, shellsession_unix.go
handleKeyboardInput, whose error session.go Execute returns), whatever the command still had to say.
So /dev/null, or a pipe closed at once as :meth:`subprocess.Popen.communicate` closes it, would end
every command session before its output arrived. The agent turns no input into the command's stdin (a
non-interactive command has none: amazon-ssm-agent, session/shell/shell_unix.go), only Ctrl-C and
Ctrl-\\ into signals, and onboard sends none.
"""

from __future__ import annotations

import subprocess
import threading
from typing import IO, Any

from onboard.everyday.connect import (
    SessionRequest,
    plugin_invocation,
    start_session,
    started,
    terminate_quietly,
)
from onboard.everyday.reach import Reach


def run_command_session(
    reach: Reach, ssm: Any, request: SessionRequest, plugin: str, *, timeout: float
) -> tuple[str, int]:
    """Start a session running ``request``'s command, collect its output; (output, plugin exit code).

    The plugin runs without a terminal in its own process group: Ctrl-C reaches onboard only, which then
    terminates the session (AWS's agent then kills the command) before re-raising.
    """
    response = start_session(reach, ssm, request)
    argv, environment = plugin_invocation(reach, ssm, request, response, plugin)
    process = started(
        ssm,
        response["SessionId"],
        plugin,
        lambda: subprocess.Popen(
            argv,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ),
    )
    output, errors = _Collected(process.stdout), _Collected(process.stderr)
    try:
        process.wait(timeout=timeout)
    except BaseException:  # Ctrl-C, or the command ran past its time: end it on both sides
        terminate_quietly(ssm, response["SessionId"])
        process.kill()
        process.wait()
        raise
    finally:
        if process.stdin is not None:
            process.stdin.close()
    return output.text() + errors.text(), process.returncode


class _Collected:
    """All a stream says until it ends, read in a thread of its own (the plugin writes two)."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        self._said = b""
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes] | None) -> None:
        if stream is not None:
            with stream:
                self._said = stream.read()

    def text(self) -> str:
        self._reader.join()
        return self._said.decode("utf-8", "replace")
