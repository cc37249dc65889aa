"""Downloads with urllib: proxies, a custom CA bundle, timeouts, a bounded retry, and no partial file left.

The file is streamed into a temporary file beside its destination (:func:`onboard.fileio.atomic_writer`)
and renamed only once every byte the server announced (Content-Length) has arrived, so an interrupted
download can never be installed.
Every download is bounded: in size (``max_bytes``: a larger announced length is refused before a byte is
written, a longer body is cut off) and in time (:attr:`NetworkSettings.deadline` covers the whole download,
retries included, so a server that drips a byte at a time cannot hold an install forever).
HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured as urllib reads them; AWS_CA_BUNDLE replaces the
system's certificate store, as it does for the AWS CLI.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from onboard.errors import EnvironmentProblem, OnboardError, UsageError, VerificationError
from onboard.fileio import atomic_writer
from onboard.plugin.progress import DownloadProgress, human_size
from onboard.secrets import without_password

CA_BUNDLE_ENV = "AWS_CA_BUNDLE"
#: The largest bundle or installer onboard downloads. AWS's are far smaller: the plugin's deb, rpm and zips
#: are a few MB (the executable inside about 20 MB), the AWS CLI v2 zip and pkg about 60 MB.
MAX_BUNDLE_BYTES = 256 * 1000 * 1000
#: The largest detached signature onboard accepts (AWS's are under 1 KB, armored).
MAX_SIGNATURE_BYTES = 64 * 1000
_CHUNK = 64 * 1024
_USER_AGENT = "onboard (Session Manager plugin installer)"


@dataclass(frozen=True)
class NetworkSettings:
    """How patient a download is."""

    connect_timeout: float = 15.0
    #: Longest wait for the next bytes once connected: a server silent this long has stalled.
    read_timeout: float = 30.0
    #: Attempts after the first, on connection errors, stalls, truncation and 5xx answers (never on 4xx).
    retries: int = 3
    #: Seconds before the first retry; doubled each time.
    backoff: float = 1.0
    #: Longest a whole download may take, every retry included (a server sending a byte every few seconds
    #: never trips ``read_timeout``). 30 minutes is about 140 KB/s for the AWS CLI's 60 MB zip.
    deadline: float = 1800.0


DEFAULT_NETWORK = NetworkSettings()


@dataclass(frozen=True)
class Downloaded:
    url: str
    path: Path
    size: int
    seconds: float


class NotFound(OnboardError):
    """The server answered 404: the version or the mirror is wrong (never retried)."""


class _Retryable(Exception):
    """A failure worth another attempt; carries the OnboardError to raise when attempts run out."""

    def __init__(self, error: OnboardError):
        super().__init__(error.message)
        self.error = error


def ssl_context() -> ssl.SSLContext:
    """The system's certificate store, or the bundle $AWS_CA_BUNDLE names (as the AWS CLI does)."""
    bundle = os.environ.get(CA_BUNDLE_ENV, "").strip()
    if not bundle:
        return ssl.create_default_context()
    if not Path(bundle).is_file():
        raise UsageError(
            f"${CA_BUNDLE_ENV} names {bundle}, which is not a file",
            f"Point {CA_BUNDLE_ENV} at your organisation's CA certificates (PEM), or unset it.",
        )
    try:
        return ssl.create_default_context(cafile=bundle)
    except ssl.SSLError as error:
        raise UsageError(
            f"${CA_BUNDLE_ENV} ({bundle}) holds no usable PEM certificates: {error}",
            "Export the CA certificates in PEM format (-----BEGIN CERTIFICATE-----).",
        ) from None


def _timed(base: type[http.client.HTTPConnection], read_timeout: float) -> type[http.client.HTTPConnection]:
    """A connection class that connects within the connect timeout, then waits ``read_timeout`` per read."""

    class TimedConnection(base):  # type: ignore[valid-type, misc]
        def connect(self) -> None:
            super().connect()
            self.sock.settimeout(read_timeout)

    return TimedConnection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float):
        super().__init__()
        self._connection = _timed(http.client.HTTPConnection, read_timeout)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float, context: ssl.SSLContext):
        super().__init__(context=context)
        self._connection = _timed(http.client.HTTPSConnection, read_timeout)
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._tls)


def _opener(read_timeout: float, tls: ssl.SSLContext) -> urllib.request.OpenerDirector:
    # ProxyHandler() reads HTTP(S)_PROXY and NO_PROXY (either case) from the environment.
    return urllib.request.build_opener(
        urllib.request.ProxyHandler(), _HTTPHandler(read_timeout), _HTTPSHandler(read_timeout, tls)
    )


def _proxy_for(url: str) -> str | None:
    """The proxy urllib uses for ``url``, its password masked (it ends up in error messages)."""
    scheme = urlsplit(url).scheme
    proxies = urllib.request.getproxies()
    host = urlsplit(url).hostname or ""
    if scheme not in proxies or urllib.request.proxy_bypass(host):
        return None
    return without_password(proxies[scheme])


def download(
    url: str,
    dest: Path,
    *,
    max_bytes: int = MAX_BUNDLE_BYTES,
    progress: bool = True,
    label: str | None = None,
    settings: NetworkSettings = DEFAULT_NETWORK,
    sleep: Callable[[float], None] = time.sleep,
) -> Downloaded:
    """Fetch ``url`` into ``dest``; ``dest`` appears only when complete, and at most ``max_bytes`` long.

    ``file://`` URLs are copied the same way (mirrors on a shared drive). Raises NotFound for a 404,
    VerificationError for a file over ``max_bytes``, EnvironmentProblem for network, proxy and TLS failures
    and a download past ``settings.deadline``, each naming the URL and the fix.
    """
    dest = Path(dest)
    tls = ssl_context()
    bar = DownloadProgress(label or Path(urlsplit(url).path).name or url, progress)
    budget = _Budget(url, max_bytes, time.monotonic() + settings.deadline, settings.deadline)
    attempt = 0
    done: Downloaded | None = None
    try:
        while True:
            try:
                opener = _opener(min(settings.read_timeout, budget.seconds_left()), tls)
                done = _attempt(opener, url, dest, settings, bar, budget)
                return done
            except _Retryable as failure:
                pause = settings.backoff * (2**attempt)
                if attempt >= settings.retries or pause >= budget.seconds_left():
                    raise failure.error from None
                sleep(pause)
                attempt += 1
    finally:
        bar.finish(done)


@dataclass(frozen=True)
class _Budget:
    """How many bytes and how much time one download may still use."""

    url: str
    max_bytes: int
    ends_at: float
    deadline: float

    def seconds_left(self) -> float:
        return max(self.ends_at - time.monotonic(), 0.001)

    def check_time(self, received: int, expected: int | None) -> None:
        if time.monotonic() >= self.ends_at:
            of = f" of {human_size(expected)}" if expected is not None else ""
            raise EnvironmentProblem(
                f"the download of {self.url} did not finish within {self.deadline:g} s "
                f"({human_size(received)}{of} received); nothing was kept",
                "The server or the network is far too slow: try again later, or use another mirror "
                "(--download-url).",
            )

    def check_size(self, size: int, announced: bool) -> None:
        if size > self.max_bytes:
            how = f"{human_size(size)} announced" if announced else "more was sent"
            raise VerificationError(
                f"{self.url} is larger than the {human_size(self.max_bytes)} onboard accepts for it ({how}); "
                "nothing was kept",
                "That is not what AWS publishes there: check the download URL or the mirror.",
            )


def _attempt(
    opener: urllib.request.OpenerDirector,
    url: str,
    dest: Path,
    settings: NetworkSettings,
    bar: DownloadProgress,
    budget: _Budget,
) -> Downloaded:
    started = time.monotonic()
    # file:// is allowed on purpose: a mirror on a shared drive (catalog.download_base checks schemes).
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})  # noqa: S310
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EnvironmentProblem(
            f"cannot create the download folder {dest.parent}: {error.strerror or error}",
            "Check that your home folder is writable, or free some space.",
        ) from None
    try:
        response = opener.open(request, timeout=min(settings.connect_timeout, budget.seconds_left()))
    except urllib.error.HTTPError as error:
        error.close()
        raise _http_error(url, error.code, error.reason) from None
    except urllib.error.URLError as error:
        raise _connection_error(url, error.reason) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
        raise _connection_error(url, error) from None
    with response:
        length_header = response.headers.get("Content-Length")
        expected = int(length_header) if length_header and length_header.isdigit() else None
        if expected is not None:
            budget.check_size(expected, announced=True)
        bar.start(expected)
        # read1: whatever one read brings, so a trickling server is seen between its bytes.
        read = getattr(response, "read1", response.read)
        try:
            with atomic_writer(dest) as out:
                received = _receive(read, out, url, settings, bar, budget, expected)
        except OSError as error:  # the download folder (or the disk): reading errors are handled inside
            raise EnvironmentProblem(
                f"cannot write the download to {dest.parent}: {error.strerror or error}",
                "Free some disk space, or check that the cache folder is writable.",
            ) from None
    return Downloaded(url, dest, received, time.monotonic() - started)


def _receive(
    read: Callable[[int], bytes],
    out: BinaryIO,
    url: str,
    settings: NetworkSettings,
    bar: DownloadProgress,
    budget: _Budget,
    expected: int | None,
) -> int:
    """Copy the body into ``out`` within the size and time budget; the byte count, all announced bytes in."""
    received = 0
    while True:
        try:
            chunk = read(_CHUNK)
        except TimeoutError:
            budget.check_time(received, expected)
            raise _Retryable(_stalled(url, settings.read_timeout, received)) from None
        except http.client.IncompleteRead as error:
            raise _Retryable(_truncated(url, received + len(error.partial), expected)) from None
        except (ConnectionError, http.client.HTTPException, OSError) as error:
            raise _Retryable(_truncated(url, received, expected, error)) from None
        if not chunk:
            break
        received += len(chunk)
        budget.check_size(received, announced=False)
        budget.check_time(received, expected)
        out.write(chunk)
        bar.advance(len(chunk))
    if expected is not None and received != expected:
        raise _Retryable(_truncated(url, received, expected))
    return received


def _http_error(url: str, status: int, reason: object) -> Exception:
    # S3 answers 403, not 404, for a missing file in a bucket that does not allow listing (AWS's does not).
    if status in (403, 404):
        # A plain-HTTP download through a proxy gets the proxy's own refusal as an HTTP answer too.
        proxy = _proxy_for(url)
        via = f" through the proxy {proxy}" if proxy else ""
        return NotFound(
            f"not found (HTTP {status} {reason}){via}: {url}",
            "Is the version right (see the plugin's release notes), and is the mirror laid out like AWS's "
            "download site (<base>/<version>/<folder>/<file>)?"
            + (
                " Or the proxy refused it: ask your network team, or add the host to NO_PROXY."
                if proxy
                else ""
            ),
        )
    error = EnvironmentProblem(
        f"the server answered HTTP {status} {reason} for {url}",
        "Try again later; if it persists, check the download URL or the mirror.",
    )
    return _Retryable(error) if status >= 500 else error


def _connection_error(url: str, reason: object) -> Exception:
    if isinstance(reason, FileNotFoundError):  # a file:// mirror without this file
        return _http_error(url, 404, "Not Found")
    proxy = _proxy_for(url)
    if isinstance(reason, ssl.SSLError) or isinstance(getattr(reason, "__cause__", None), ssl.SSLError):
        return EnvironmentProblem(
            f"TLS failure talking to {urlsplit(url).netloc}: {reason}",
            f"If your network inspects HTTPS with its own certificate authority, set {CA_BUNDLE_ENV} to a "
            "PEM file with its certificates (as for the AWS CLI). Otherwise check the machine's clock.",
        )
    if isinstance(reason, TimeoutError):
        return _Retryable(
            EnvironmentProblem(
                f"timed out connecting to {proxy or urlsplit(url).netloc} for {url}",
                "Check your network connection, VPN or proxy (HTTPS_PROXY), then try again.",
            )
        )
    if proxy is not None:
        return _Retryable(
            EnvironmentProblem(
                f"the proxy {proxy} failed for {url}: {reason}",
                "Check HTTPS_PROXY / HTTP_PROXY (and NO_PROXY for hosts that must bypass it), or ask your "
                "network team for the proxy address.",
            )
        )
    if isinstance(reason, socket.gaierror):
        return EnvironmentProblem(
            f"cannot resolve {urlsplit(url).hostname} for {url}",
            "Check your network connection and DNS, or use --download-url with a reachable mirror.",
        )
    return _Retryable(
        EnvironmentProblem(
            f"cannot connect to {urlsplit(url).netloc} for {url}: {reason}",
            "Check your network connection (and HTTPS_PROXY if you need a proxy), then try again.",
        )
    )


def _stalled(url: str, timeout: float, received: int) -> OnboardError:
    return EnvironmentProblem(
        f"the download stalled: no data for {timeout:g} s after {human_size(received)} of {url}",
        "The server or the network stopped responding; try again later or use another mirror.",
    )


def _truncated(url: str, received: int, expected: int | None, cause: object = None) -> OnboardError:
    announced = f" of {expected} announced" if expected is not None else ""
    why = f" ({cause})" if cause else ""
    return EnvironmentProblem(
        f"the download was cut short: {received} bytes{announced} from {url}{why}; nothing was kept",
        "Try again; if it keeps happening, the mirror holds a broken file or a proxy cuts large downloads.",
    )
