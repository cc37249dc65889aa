"""The lab's process: one lab per user (its lock), its log, its signals, and the command line of the
detached server (``python -m onboard.lab.process``, which ``onboard lab up --detach`` starts).

:func:`run` runs a :class:`~onboard.lab.server.LabServer` in this process until it is told to stop
(``onboard lab down``, SIGTERM, Ctrl-C); a class lab is refused before anything starts where its
learners' shells cannot be sandboxed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from onboard.errors import OnboardError
from onboard.lab.httpserver import log_to
from onboard.lab.server import LabServer
from onboard.lab.state import LabLock, LabPaths
from onboard.lab.world import World

if TYPE_CHECKING:
    from onboard.lab.classmode import ClassMode

log = logging.getLogger("onboard.lab")


def run(
    paths: LabPaths,
    world: World,
    *,
    port: int | None = None,
    plugin: str = "lab",
    on_ready: Callable[[LabServer], None] | None = None,
    classroom: ClassMode | None = None,
) -> int:
    """Run a lab in this process until it is told to stop; return the exit code."""
    if classroom is not None:
        from onboard.lab.classmode import require_sandbox

        require_sandbox()
    lock = LabLock(paths)
    lock.acquire()
    handler = log_to(paths.log_file)
    server = LabServer(paths, world, port=port, plugin=plugin, classroom=classroom)
    previous = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: server.request_stop())
        server.start()
        if on_ready is not None:
            on_ready(server)
        server.wait()
        return 0
    finally:
        with contextlib.suppress(Exception):
            if server.started:
                server.close()
        for signum, previous_handler in previous.items():
            signal.signal(signum, previous_handler)
        logging.getLogger().removeHandler(handler)
        handler.close()
        lock.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m onboard.lab.process", description="Run the practice lab."
    )
    parser.add_argument("--state", required=True, type=Path, help="the lab's state folder")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--world", type=Path, default=None)
    parser.add_argument("--learners", default=None, help="comma-separated learner names")
    parser.add_argument("--plugin", choices=("lab", "system"), default="lab")
    parser.add_argument("--listen", default=None, help="a class lab's address (TLS, kits)")
    parser.add_argument("--class", dest="class_file", type=Path, default=None, help="a class list CSV")
    args = parser.parse_args(argv)
    from onboard.lab.world import load_world

    try:
        world = load_world(args.world)
        learners = args.learners.split(",") if args.learners else None
        classroom = None
        if args.listen is not None:
            from onboard.lab.classmode import ClassMode

            classroom = ClassMode.of(args.listen, args.class_file, learners)
            learners = classroom.names
        if learners:
            world = world.with_learners(learners)
        return run(
            LabPaths(args.state),
            world,
            port=args.port,
            plugin=args.plugin,
            on_ready=lambda s: log.info("lab ready at %s", s.endpoint_url),
            classroom=classroom,
        )
    except OnboardError as error:
        sys.stderr.write(f"error: {error.message}\n")
        if error.hint:
            sys.stderr.write(f"hint: {error.hint}\n")
        return int(error.exit_code)


if __name__ == "__main__":
    sys.exit(main())
