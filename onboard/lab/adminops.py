"""What the running lab's admin endpoint (/_onboard/admin/<operation>) does: status, faults, reset, shutdown.

``onboard lab status|fault|reset|down`` call these through :class:`onboard.lab.client.AdminClient`; each
answer is JSON and never holds a secret. Split from :mod:`onboard.lab.server`, which runs the lab.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from onboard.lab.faults import apply_fault, clear_faults
from onboard.labfaults import describe_faults

if TYPE_CHECKING:
    from onboard.lab.server import LabServer

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def admin_handlers(server: LabServer) -> dict[str, Handler]:
    """Operation name -> what it does to ``server``."""
    return {
        "status": lambda _: server.describe().to_json(),
        "fault": lambda request: _faulted(server, apply_fault(server, request)),
        "fault/clear": lambda _: _faulted(server, clear_faults(server)),
        "fault/list": lambda _: {
            "faults": describe_faults(),
            "active": server.describe().to_json()["faults"],
        },
        "reset": lambda _: _reset(server),
        "shutdown": lambda _: _shutdown(server),
    }


def _reset(server: LabServer) -> dict[str, Any]:
    """Re-seed the world from scratch on the same ports; the same access keys stay valid."""
    from moto.moto_api._internal.models import moto_api_backend

    for session in server.state.registry.all():
        if session.is_active:
            server.state.registry.request_termination(session.session_id)
    server.state.registry.forget_ended()
    server.active_faults.clear()
    server.state.offline.clear()
    moto_api_backend.reset()
    server.reseed()
    return server.describe().to_json()


def _shutdown(server: LabServer) -> dict[str, Any]:
    server.request_stop()
    return {"stopping": True, "pid": os.getpid()}


def _faulted(server: LabServer, answer: dict[str, Any]) -> dict[str, Any]:
    """lab.json shows the faults in force after each change."""
    from onboard.lab.state import write_state

    write_state(server.paths, server.describe())
    return answer
