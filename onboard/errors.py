"""The one error type users read, and the exit codes every command shares.

Code anywhere in onboard raises :class:`OnboardError` (or a subclass) with a message saying what went
wrong and a hint saying what to do next; :func:`onboard.cli.main` is the only place that turns it into
output and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every onboard command (documented in the README)."""

    OK = 0
    #: The command could not do what was asked, or a check it ran failed.
    FAILURE = 1
    #: The command line itself is wrong (click's own convention for usage errors).
    USAGE = 2
    #: The command finished, but with warnings only (``onboard doctor``).
    WARNINGS = 3
    #: Something the command needs is missing or unsupported here (platform, tool, lab not running).
    ENVIRONMENT = 4
    #: A download or a signature could not be trusted; nothing was installed.
    VERIFICATION = 5
    #: 128 + SIGINT, as shells report a Ctrl-C.
    INTERRUPTED = 130


class OnboardError(Exception):
    """An error meant for the user: what went wrong, and the next thing to try.

    Never put a secret in ``message`` or ``hint``: both are printed, logged and shown in ``--json``.
    """

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, hint: str | None = None, *, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def to_dict(self) -> dict[str, object]:
        return {
            "type": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "exit_code": int(self.exit_code),
        }


class UsageError(OnboardError):
    """The user's input (flags, files they named) is invalid."""

    exit_code = ExitCode.USAGE


class EnvironmentProblem(OnboardError):
    """This machine lacks something onboard needs, or is not supported."""

    exit_code = ExitCode.ENVIRONMENT


class VerificationError(OnboardError):
    """A download, archive or signature failed verification; nothing was installed."""

    exit_code = ExitCode.VERIFICATION
