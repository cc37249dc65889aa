"""Network: can this computer reach the ssm and ssmmessages endpoints (DNS, then TLS, or an HTTP answer for
an http:// endpoint), through the proxy the environment names, trusting the CA bundle it names?"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from onboard.doctor.context import DoctorContext
from onboard.doctor.model import Check, Finding, Group, fail, ok, warn
from onboard.secrets import without_password

GROUP = Group.NETWORK
DOC_ENDPOINTS = "https://docs.aws.amazon.com/general/latest/gr/ssm.html"
DOC_PROXY = "https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-proxy.html"
#: The longest a probe waits for a connection or an answer: enough for any healthy network, short enough
#: that an endpoint that never answers is reported within seconds.
PROBE_SECONDS = 2.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")


class ProbeFailed(Exception):
    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True)
class Probe:
    url: str
    address: str
    milliseconds: float
    how: str


def probe(url: str, *, timeout: float, ca_bundle: str | None = None, proxy: str | None = None) -> Probe:
    """Reach ``url`` as a client would: resolve, connect, then a TLS handshake (https) or an HTTP answer.

    Raises ProbeFailed naming the stage (dns, connect, tls, answer, proxy) and the reason.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    started = time.monotonic()
    hop_host, hop_port = host, port
    if proxy:
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        hop_host, hop_port = proxy_parts.hostname or "", proxy_parts.port or 8080
    try:
        addresses = socket.getaddrinfo(hop_host, hop_port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ProbeFailed("dns", f"{hop_host} does not resolve ({error.strerror})") from None
    family, kind, protocol, _, address = addresses[0]
    connection = socket.socket(family, kind, protocol)
    connection.settimeout(timeout)
    try:
        try:
            connection.connect(address)
        except TimeoutError:
            raise ProbeFailed(
                "connect", f"{address[0]}:{hop_port} did not accept within {timeout:g} s"
            ) from None
        except OSError as error:
            raise ProbeFailed("connect", f"{address[0]}:{hop_port}: {error.strerror or error}") from None
        if proxy and secure:
            _tunnel(connection, host, port, timeout)
        if secure:
            context = ssl.create_default_context(cafile=ca_bundle)
            try:
                with context.wrap_socket(connection, server_hostname=host) as tls:
                    how = f"TLS {tls.version()}"
            except TimeoutError:
                raise ProbeFailed("tls", f"no TLS handshake within {timeout:g} s") from None
            except ssl.SSLCertVerificationError as error:
                raise ProbeFailed("tls", f"the certificate is not trusted: {error.verify_message}") from None
            except (ssl.SSLError, OSError) as error:
                raise ProbeFailed("tls", str(error)) from None
        else:
            # Through a proxy, plain HTTP is asked for by its absolute URL (no tunnel), as botocore does.
            how = _http_answer(
                connection, f"{parts.scheme}://{parts.netloc}/" if proxy else "/", host, timeout
            )
    finally:
        connection.close()
    return Probe(url, str(address[0]), (time.monotonic() - started) * 1000, how)


def _http_answer(connection: socket.socket, target: str, host: str, timeout: float) -> str:
    """A plain-HTTP endpoint (the practice lab, a local stand-in) must answer, not just accept."""
    try:
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        first = connection.recv(64)
    except TimeoutError:
        raise ProbeFailed("answer", f"connected, but no answer within {timeout:g} s") from None
    except OSError as error:
        raise ProbeFailed("answer", str(error)) from None
    if not first.startswith(b"HTTP/"):
        raise ProbeFailed("answer", "connected, but the answer is not HTTP")
    return "HTTP " + first.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)[1]


def _tunnel(connection: socket.socket, host: str, port: int, timeout: float) -> None:
    try:
        connection.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        answer = connection.recv(256)
    except (TimeoutError, OSError):
        raise ProbeFailed("proxy", f"the proxy did not answer CONNECT within {timeout:g} s") from None
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200" not in status:
        raise ProbeFailed("proxy", f"the proxy refused the tunnel to {host}:{port}: {status or 'no answer'}")


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy botocore would use for ``url`` (the *_PROXY variables, NO_PROXY honoured), or None."""
    import urllib.request

    env = dict(environ)
    parts = urlsplit(url)
    names = ("https_proxy", "all_proxy") if parts.scheme == "https" else ("http_proxy", "all_proxy")
    proxy = next((env.get(n.upper()) or env.get(n) for n in names if env.get(n.upper()) or env.get(n)), None)
    if not proxy:
        return None
    no_proxy = env.get("NO_PROXY") or env.get("no_proxy") or ""
    # proxy_bypass_environment is public in urllib.request, though typeshed leaves it out.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if no_proxy and bypass(parts.hostname or "", {"no": no_proxy}):
        return None
    return proxy


def endpoint_urls(ctx: DoctorContext) -> dict[str, str]:
    """service -> where it is reached: the configured endpoint, or the region's ssm and ssmmessages.

    botocore has no ssmmessages client (the plugin alone talks to it, at the StreamUrl StartSession
    returns), so its address is derived from ssm's: AWS's regional name, or the same configured endpoint.
    """
    ssm = ctx.client("ssm").meta.endpoint_url
    parts = urlsplit(ssm)
    host = parts.hostname or ""
    if host.startswith("ssm.") and host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return {"ssm": ssm, "ssmmessages": ssm.replace("://ssm.", "://ssmmessages.", 1)}
    return {"ssm": ssm, "ssmmessages": ssm}


def ca_bundle(ctx: DoctorContext) -> str | None:
    """AWS_CA_BUNDLE, else the profile's ca_bundle: what botocore trusts instead of the system's CAs."""

    return ctx.environ.get("AWS_CA_BUNDLE") or ctx.session().get_config_variable("ca_bundle")


def endpoints(ctx: DoctorContext) -> Finding:
    urls = endpoint_urls(ctx)
    timeout = min(ctx.timeout, PROBE_SECONDS)
    evidence, failures = [], []
    for url in dict.fromkeys(urls.values()):
        services = " and ".join(s for s, u in urls.items() if u == url)
        proxy = proxy_for(url, ctx.environ)
        via = f" via proxy {without_password(proxy)}" if proxy else ""
        try:
            result = probe(url, timeout=timeout, ca_bundle=ca_bundle(ctx), proxy=proxy)
        except ProbeFailed as refused:
            failures.append((url, refused))
            evidence.append(f"{services}: {url}{via}: {refused}")
            continue
        evidence.append(
            f"{services}: {url}{via}: {result.how} from {result.address} in {result.milliseconds:.0f} ms"
        )
    data = {"endpoints": urls}
    if not failures:
        return ok("the Session Manager endpoints answer", *evidence, doc=DOC_ENDPOINTS, data=data)
    url, failed = failures[0]
    return fail(
        f"{url} cannot be reached ({failed.stage}: {failed.reason})",
        *evidence,
        next=_network_hint(url, failed, ctx.profile),
        doc=DOC_PROXY if failed.stage == "proxy" else DOC_ENDPOINTS,
        data=data,
    )


def _network_hint(url: str, failed: ProbeFailed, profile: str) -> str:
    host = urlsplit(url).hostname or ""
    if failed.stage == "tls":
        from onboard.team.model import AWS_DOMAINS

        if not host.endswith(AWS_DOMAINS):
            # Not AWS: a class lab (or another private endpoint) signs with its own CA.
            return (
                f"{host} has a certificate from its own CA: a class lab's kit holds it as ca.pem; run "
                "`onboard setup --team KIT/team.toml` again (it sets ca_bundle in the profile), or set "
                f"ca_bundle = /path/to/ca.pem in profile {profile} (or export AWS_CA_BUNDLE=/path/to/ca.pem)"
            )
        return (
            "a proxy that inspects TLS needs its CA certificate: export AWS_CA_BUNDLE=/path/to/company-ca.pem"
        )
    if failed.stage == "proxy":
        return "check HTTPS_PROXY / NO_PROXY with your network team"
    if host in ("127.0.0.1", "localhost", "::1"):
        from onboard.lab.control import moved_endpoint_hint

        moved = moved_endpoint_hint(url, profile)
        if moved:
            return moved
        return "start the practice lab: onboard lab up --detach   (or fix endpoint_url in the profile)"
    if failed.stage == "dns":
        return f"check the region name and your DNS: nslookup {host}"
    return "check your VPN and firewall (HTTPS to port 443 must be allowed), or set HTTPS_PROXY"


def proxies(ctx: DoctorContext) -> Finding:
    env = ctx.environ
    seen = {name: env[name] for name in (*PROXY_VARIABLES, *NO_PROXY_VARIABLES) if env.get(name)}
    if not seen:
        return ok("no proxy variables set: connections go direct", doc=DOC_PROXY)
    evidence = [
        f"{name}={without_password(value) if name in PROXY_VARIABLES else value}"
        for name, value in seen.items()
    ]
    unreachable = []
    for name in PROXY_VARIABLES:
        if not env.get(name):
            continue
        parts = urlsplit(env[name] if "://" in env[name] else f"http://{env[name]}")
        try:
            socket.create_connection(
                (parts.hostname, parts.port or 8080), timeout=min(ctx.timeout, PROBE_SECONDS)
            ).close()
        except OSError as error:
            unreachable.append(
                f"{name}: {parts.hostname}:{parts.port or 8080} does not accept ({error.strerror or error})"
            )
    if unreachable:
        return fail(
            f"the proxy does not accept connections: {unreachable[0]}",
            *evidence,
            *unreachable,
            next="fix or unset the variable: unset " + " ".join(n for n in PROXY_VARIABLES if env.get(n)),
            doc=DOC_PROXY,
        )
    return ok("the proxy accepts connections", *evidence, doc=DOC_PROXY)


def ca_bundle_check(ctx: DoctorContext) -> Finding:
    bundle = ca_bundle(ctx)
    if not bundle:
        return ok("no custom CA bundle: the system's trusted certificates are used")
    source = "AWS_CA_BUNDLE" if ctx.environ.get("AWS_CA_BUNDLE") else f"ca_bundle in profile {ctx.profile}"
    try:
        with open(bundle, encoding="utf-8", errors="replace") as handle:
            count = handle.read().count("BEGIN CERTIFICATE")
        ssl.create_default_context(cafile=bundle)
    except FileNotFoundError:
        return fail(
            f"{source} names {bundle}, which does not exist: every HTTPS call fails",
            next="unset AWS_CA_BUNDLE, or point it at the company CA's PEM file",
            doc=DOC_PROXY,
        )
    except (ssl.SSLError, OSError) as error:
        return fail(
            f"{source} names {bundle}, which holds no usable certificate ({error})",
            next="ask your network team for the PEM file of the company CA",
            doc=DOC_PROXY,
        )
    in_profile = ctx.session().get_scoped_config().get("ca_bundle")
    if ctx.environ.get("AWS_CA_BUNDLE") and in_profile and in_profile != bundle:
        # botocore takes the variable over the profile: a class lab's CA in the profile goes unused.
        return warn(
            f"AWS_CA_BUNDLE = {bundle} overrides the ca_bundle of profile {ctx.profile} ({in_profile})",
            next=f"unset AWS_CA_BUNDLE for this profile's commands, or add {in_profile} to {bundle}",
            doc=DOC_PROXY,
        )
    return ok(f"{source} = {bundle} ({count} certificates; only these are trusted)", doc=DOC_PROXY)


CHECKS = (
    Check("network.proxy", GROUP, "Proxy", proxies),
    Check("network.ca-bundle", GROUP, "CA bundle", ca_bundle_check, ("config.profile",)),
    Check("network.endpoints", GROUP, "Endpoints (DNS, TLS)", endpoints, ("config.profile",)),
)
