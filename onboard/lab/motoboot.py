"""Starting moto inside the lab's process: its settings, a faster import, the warm-up, start-up timings.

moto reads its settings once, at its first import, so :func:`prepare_moto_settings` runs before anything
imports it; :func:`import_moto_ec2` saves a second of ``lab up``; :func:`warm_up` makes the first real
request as fast as the rest; :class:`Phases` logs where the seconds of start-up go, and
:class:`Background` runs the plugin build meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    from onboard.lab.seed import AccessKeyPair
    from onboard.lab.world import World

log = logging.getLogger("onboard.lab")


def prepare_moto_settings() -> None:
    """This process's environment for moto: set before the first moto import, which reads it once.

    The user's own AWS settings are dropped (an AWS_PROFILE naming a profile of theirs would break the
    botocore session moto makes, and the lab must never read the real ~/.aws): the lab, and the shells its
    instances run, see no AWS configuration but their own.
    """
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    # Every request is authenticated and authorised from the first one on (seeding bypasses HTTP).
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")


def botocore_session() -> Any:
    """The botocore session moto keeps for region lists: the lab's one parse of each botocore data file.

    botocore's loader parses a data file once per session, and a region list loads the whole service
    model (for its endpoint prefix): EC2's and SSM's are megabytes of JSON. Region lists at moto's import
    and when seeding, and the lab's own input checks, read them through this session, so each is
    parsed once per lab process instead of once per session (a few tenths of a second of ``lab up``).
    """
    from moto.core.base_backend import AccountSpecificBackend

    return AccountSpecificBackend.get_session()._session


def import_moto_ec2() -> None:
    """Import moto's EC2 models with one region list instead of eleven.

    Their class bodies call ``boto3.session.Session().get_available_regions(...)`` eleven times, and each
    new session parses botocore's endpoint data again: over a second of ``lab up``. During this one import
    the calls share moto's own session (:func:`botocore_session`, which seeding uses afterwards) and
    remember their answers, which depend only on the arguments.
    """
    import functools

    import boto3.session
    from moto.core.base_backend import AccountSpecificBackend

    original = boto3.session.Session.get_available_regions
    shared = AccountSpecificBackend.get_session()

    @functools.cache
    def remembered(service_name: str, partition_name: str, allow_non_regional: bool) -> tuple[str, ...]:
        return tuple(original(shared, service_name, partition_name, allow_non_regional))

    def get_available_regions(self, service_name, partition_name="aws", allow_non_regional=False):
        return list(remembered(service_name, partition_name, allow_non_regional))

    boto3.session.Session.get_available_regions = get_available_regions
    try:
        import moto.ec2.models  # noqa: F401 - imported for its side effect: the models are built once
    finally:
        boto3.session.Session.get_available_regions = original


def import_cloudformation_soon() -> threading.Thread:
    """Import moto's CloudFormation in the background, once the lab is up.

    Its parser imports the models of nearly every moto service: five seconds on a busy machine for the
    first stack request (`onboard trainer provision`), too long to add to every `lab up`.
    """

    def work() -> None:
        # Imported for the side effect: the modules are then in sys.modules for the first stack request.
        import moto.cloudformation.parsing
        import moto.cloudformation.responses  # noqa: F401

    thread = threading.Thread(target=work, name="lab-import-cloudformation", daemon=True)
    thread.start()
    return thread


def warm_up(endpoint_url: str, world: World, admin: AccessKeyPair, tls: ssl.SSLContext | None = None) -> None:
    """One signed request per service, so the first real request is as fast as the rest."""
    from onboard.lab.client import signed_request

    calls = [
        (
            "ec2",
            "POST",
            "/",
            b"Action=DescribeInstances&Version=2016-11-15",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        (
            "sts",
            "POST",
            "/",
            b"Action=GetCallerIdentity&Version=2011-06-15",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        (
            "iam",
            "POST",
            "/",
            b"Action=GetUser&Version=2010-05-08",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        ("s3", "GET", f"/{world.transfer_bucket}?list-type=2", b"", {}),
        (
            "ssm",
            "POST",
            "/",
            b"{}",
            {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "AmazonSSM.DescribeInstanceInformation",
            },
        ),
    ]
    for service, method, path, body, headers in calls:
        with contextlib.suppress(OSError):
            signed_request(
                endpoint_url,
                service,
                world.region,
                admin.access_key_id,
                admin.secret_access_key,
                method=method,
                path=path,
                body=body,
                headers=headers,
                tls=tls,
            )


class Phases:
    """Start-up timings for the log: where the seconds of `lab up` go."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def done(self, what: str) -> None:
        now = time.monotonic()
        log.info("%s in %.2f s", what, now - self._last)
        self._last = now


class Background:
    """Run ``work`` in a thread; :meth:`join` waits and re-raises what it raised."""

    def __init__(self, work: Callable[[], None]):
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # handed to the joining thread
            self._error = error

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error
