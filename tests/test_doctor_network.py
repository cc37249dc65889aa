"""The Network group against real local servers: a TLS endpoint with a certificate only a custom CA bundle
trusts, and a forward proxy that relays plain HTTP but refuses to tunnel HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bundles import BundleServer, ForwardProxy, self_signed_tls
from fixtures_doctor import plain_profile, run_checks_for, text_of

from onboard.doctor import Status


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS endpoint on 127.0.0.1 with a self-signed certificate, and that certificate's PEM file."""
    context, cert_file = self_signed_tls(tmp_path / "tls")
    (tmp_path / "site").mkdir()
    server = BundleServer(tmp_path / "site", tls=context).start()
    try:
        yield server.url.rstrip("/"), cert_file
    finally:
        server.stop()


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy().start()
    try:
        yield proxy
    finally:
        proxy.stop()


def network(report, check_id: str = "network.endpoints"):
    return next(f for f in report.findings if f.check_id == check_id)


def test_a_certificate_the_system_does_not_trust_is_named_with_the_ca_bundle_fix(isolated_home, tls_endpoint):
    url, _ = tls_endpoint
    plain_profile(isolated_home, url)
    found = network(run_checks_for("network.endpoints"))
    assert found.status is Status.FAIL, text_of(found)
    assert "tls: the certificate is not trusted" in found.summary
    assert "AWS_CA_BUNDLE" in (found.next or "")


def test_the_custom_ca_bundle_makes_the_same_endpoint_trusted(isolated_home, tls_endpoint, monkeypatch):
    url, cert_file = tls_endpoint
    plain_profile(isolated_home, url)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert_file))
    report = run_checks_for("network")
    found = network(report)
    assert found.status is Status.OK, text_of(found)
    assert "TLS" in found.evidence[0]
    bundle = network(report, "network.ca-bundle")
    assert bundle.status is Status.OK
    assert f"AWS_CA_BUNDLE = {cert_file} (1 certificates" in bundle.summary


def test_a_proxy_that_will_not_tunnel_https_is_named(isolated_home, tls_endpoint, forward_proxy, monkeypatch):
    url, cert_file = tls_endpoint
    plain_profile(isolated_home, url)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert_file))
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    report = run_checks_for("network")
    found = network(report)
    assert found.status is Status.FAIL, text_of(found)
    assert "proxy: the proxy refused the tunnel" in found.summary
    assert "HTTPS_PROXY" in (found.next or "")
    assert network(report, "network.proxy").status is Status.OK  # it accepts connections: it just refuses


def test_plain_http_goes_through_the_proxy_as_botocore_sends_it(isolated_home, forward_proxy, monkeypatch):
    site = isolated_home.parent / "plain-site"
    site.mkdir()
    target = BundleServer(site).start()
    try:
        plain_profile(isolated_home, target.url.rstrip("/"))
        monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
        found = network(run_checks_for("network.endpoints"))
    finally:
        target.stop()
    assert found.status is Status.OK, text_of(found)
    assert f"via proxy {forward_proxy.url}" in found.evidence[0]
    assert forward_proxy.proxied == [target.url]


def test_no_proxy_sends_the_endpoint_direct(isolated_home, forward_proxy, monkeypatch):
    site = isolated_home.parent / "plain-site"
    site.mkdir()
    target = BundleServer(site).start()
    try:
        plain_profile(isolated_home, target.url.rstrip("/"))
        monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        found = network(run_checks_for("network.endpoints"))
    finally:
        target.stop()
    assert found.status is Status.OK, text_of(found)
    assert "via proxy" not in found.evidence[0]
    assert forward_proxy.proxied == []


def test_a_proxy_password_is_never_shown(isolated_home, monkeypatch):
    from fixtures_moto import closed_port

    plain_profile(isolated_home, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HTTPS_PROXY", f"http://alice:pr0xyPassw0rd@127.0.0.1:{closed_port()}")
    found = network(run_checks_for("network.proxy"), "network.proxy")
    assert found.status is Status.FAIL
    assert "alice:****@127.0.0.1" in text_of(found)
    assert "pr0xyPassw0rd" not in text_of(found) + str(found.to_dict())


def test_the_profiles_own_ca_bundle_is_used_too(isolated_home, tls_endpoint):
    url, cert_file = tls_endpoint
    config, _ = plain_profile(isolated_home, url)
    config.write_text(config.read_text() + f"ca_bundle = {cert_file}\n")
    report = run_checks_for("network")
    assert network(report).status is Status.OK, text_of(network(report))
    assert "ca_bundle in profile ssm" in network(report, "network.ca-bundle").summary
