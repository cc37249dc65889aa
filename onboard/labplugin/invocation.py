"""The plugin's command line contract: what the AWS CLI passes the session-manager-plugin.

The AWS CLI runs ``session-manager-plugin NAME REGION StartSession PROFILE REQUEST_JSON ENDPOINT``, where
NAME is the environment variable holding StartSession's answer (``SessionId``, ``TokenValue``,
``StreamUrl``); older CLIs pass the JSON itself. :func:`parse_arguments` reads them into an
:class:`Invocation`; the session itself is :mod:`onboard.labplugin.client`'s.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from onboard.secrets import Secret

USAGE = (
    "usage: session-manager-plugin RESPONSE_VARIABLE REGION StartSession PROFILE REQUEST_JSON ENDPOINT\n"
    "       session-manager-plugin --version\n"
    "The AWS CLI runs this program for `aws ssm start-session`; it is not meant to be run by hand.\n"
)


class PluginError(Exception):
    """A problem the plugin reports on stderr before exiting non-zero."""


@dataclass
class Invocation:
    session_id: str
    #: The stream token: sent once, in the OpenDataChannel frame; never printed.
    token: Secret
    stream_url: str
    region: str
    profile: str
    target: str
    endpoint: str


def parse_arguments(argv: list[str], environ: dict[str, str] | os._Environ) -> Invocation:
    """Read the AWS CLI's arguments; the response variable is removed from the environment."""
    if len(argv) < 1:
        raise PluginError(USAGE)
    response_text = argv[0]
    if not response_text.lstrip().startswith("{"):
        response_text = environ.pop(argv[0], "")
        if not response_text:
            raise PluginError(f"the environment variable {argv[0]} holding the session is not set")
    try:
        response = json.loads(response_text)
    except ValueError as err:
        raise PluginError("the StartSession response is not valid JSON") from err
    region, operation, profile, request_text, endpoint = ([*argv[1:6], "", "", "", "", ""])[:5]
    if operation and operation != "StartSession":
        raise PluginError(f"unsupported operation {operation!r}; only StartSession is supported")
    try:
        request = json.loads(request_text) if request_text else {}
    except ValueError as err:
        raise PluginError("the StartSession request is not valid JSON") from err
    session_id = response.get("SessionId") or ""
    token = response.get("TokenValue") or ""
    stream_url = response.get("StreamUrl") or ""
    if not (session_id and token and stream_url):
        raise PluginError("the StartSession response lacks SessionId, TokenValue or StreamUrl")
    check_stream_url(stream_url)
    return Invocation(
        session_id, Secret(token), stream_url, region, profile, str(request.get("Target", "")), endpoint
    )


def check_stream_url(url: str) -> None:
    if not url.startswith(("ws://", "wss://")):
        raise PluginError(f"the StreamUrl must be a ws:// or wss:// URL, not {url.split(':', 1)[0]}:")
