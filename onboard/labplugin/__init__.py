"""The practice lab's own ``session-manager-plugin``, in Python.

The AWS CLI runs it exactly as it runs AWS's plugin (``python -m onboard.labplugin`` through the
launcher :func:`onboard.labplugin.launcher.write_launcher` writes); it speaks the data-channel
protocol of :mod:`onboard.session.protocol` to the StreamUrl it is given (ws:// or wss:// only).
"""

from __future__ import annotations

import sys

#: What ``session-manager-plugin --version`` prints: at least AWS's documented minimum (1.2.764.0),
#: so the AWS CLI does not warn about an outdated plugin.
VERSION = "1.2.764.0"


def main(argv: list[str] | None = None) -> int:
    """The program: ``--version`` answers at once (the AWS CLI asks before every session); the rest
    imports the client."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--version"]:
        print(VERSION)
        return 0
    from onboard.labplugin.client import run

    return run(argv)
