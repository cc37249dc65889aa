"""Downloads against a local server: retries, faults, proxies, TLS and the CA bundle, no partial file."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from bundles import BundleServer, ForwardProxy, self_signed_tls
from bundles import bundle_server as bundle_server

from onboard.errors import EnvironmentProblem, UsageError, VerificationError
from onboard.plugin.download import NetworkSettings, NotFound, download

QUICK = NetworkSettings(connect_timeout=2, read_timeout=2, retries=2, backoff=0)
PAYLOAD = bytes(range(256)) * 2000  # 512 KB, several read chunks


def _serve(server: BundleServer, name: str = "bundle.bin") -> str:
    target = server.site.root / "plugin" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(PAYLOAD)
    return server.base + name


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_download_writes_the_whole_file_and_says_so_in_one_line(bundle_server, tmp_path, capsys):
    url = _serve(bundle_server)
    done = download(url, tmp_path / "out" / "bundle.bin", settings=QUICK)
    assert (tmp_path / "out" / "bundle.bin").read_bytes() == PAYLOAD
    assert done.size == len(PAYLOAD)
    assert _leftovers(tmp_path / "out") == ["bundle.bin"]
    err = capsys.readouterr().err
    assert "Downloaded " + url in err and "KB" in err


def test_quiet_download_prints_nothing(bundle_server, tmp_path, capsys):
    download(_serve(bundle_server), tmp_path / "b.bin", settings=QUICK, progress=False)
    assert capsys.readouterr().err == ""


def test_404_names_the_url_and_is_not_retried(bundle_server, tmp_path):
    url = bundle_server.base + "9.9.9.9/ubuntu_64bit/session-manager-plugin.deb"
    with pytest.raises(NotFound) as caught:
        download(url, tmp_path / "x.deb", settings=QUICK)
    assert url in caught.value.message
    assert "version" in caught.value.hint and "mirror" in caught.value.hint
    assert len(bundle_server.site.requests) == 1
    assert not (tmp_path / "x.deb").exists() and not (tmp_path / ".x.deb.partial").exists()


def test_403_from_s3_means_not_found_too(bundle_server, tmp_path):
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "error", status=403)
    with pytest.raises(NotFound, match="HTTP 403"):
        download(url, tmp_path / "b.bin", settings=QUICK)
    assert len(bundle_server.site.requests) == 1


def test_server_errors_are_retried_then_succeed(bundle_server, tmp_path):
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "error", status=503, times=2)
    download(url, tmp_path / "b.bin", settings=QUICK)
    assert (tmp_path / "b.bin").read_bytes() == PAYLOAD
    assert len(bundle_server.site.requests) == 3


def test_persistent_server_error_gives_up_after_the_bounded_retries(bundle_server, tmp_path):
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "error", status=500)
    with pytest.raises(EnvironmentProblem, match="HTTP 500"):
        download(url, tmp_path / "b.bin", settings=QUICK)
    assert len(bundle_server.site.requests) == QUICK.retries + 1


def test_truncated_download_is_never_kept(bundle_server, tmp_path):
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "truncate")
    with pytest.raises(EnvironmentProblem, match="cut short") as caught:
        download(url, tmp_path / "dl" / "b.bin", settings=QUICK)
    assert str(len(PAYLOAD)) in caught.value.message
    assert _leftovers(tmp_path / "dl") == []


def test_truncated_once_then_complete_on_retry(bundle_server, tmp_path):
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "truncate", times=1)
    download(url, tmp_path / "b.bin", settings=QUICK)
    assert (tmp_path / "b.bin").read_bytes() == PAYLOAD


def test_a_stalled_server_times_out_quickly(bundle_server, tmp_path):
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "stall")
    started = time.monotonic()
    with pytest.raises(EnvironmentProblem, match="stalled"):
        download(url, tmp_path / "dl" / "b.bin", settings=NetworkSettings(read_timeout=0.5, retries=0))
    assert time.monotonic() - started < 5
    assert _leftovers(tmp_path / "dl") == []


def test_connection_refused_says_cannot_connect(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/plugin/x.deb"
    with pytest.raises(EnvironmentProblem, match="cannot connect") as caught:
        download(url, tmp_path / "x.deb", settings=NetworkSettings(retries=1, backoff=0))
    assert "HTTPS_PROXY" in caught.value.hint


def test_http_proxy_is_used_and_no_proxy_bypasses_it(bundle_server, tmp_path, monkeypatch):
    url = _serve(bundle_server)
    proxy = ForwardProxy().start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        download(url, tmp_path / "via-proxy.bin", settings=QUICK)
        assert proxy.proxied == [url]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        download(url, tmp_path / "direct.bin", settings=QUICK)
        assert proxy.proxied == [url]
    finally:
        proxy.stop()
    assert (tmp_path / "via-proxy.bin").read_bytes() == PAYLOAD == (tmp_path / "direct.bin").read_bytes()


def test_a_refusing_proxy_is_named(bundle_server, tmp_path, monkeypatch):
    url = _serve(bundle_server)
    proxy_url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    with pytest.raises(EnvironmentProblem) as caught:
        download(url, tmp_path / "b.bin", settings=NetworkSettings(retries=0))
    assert "proxy" in caught.value.message and proxy_url in caught.value.message
    assert "NO_PROXY" in caught.value.hint


def test_a_proxy_password_never_appears_in_the_error(bundle_server, tmp_path, monkeypatch):
    url = _serve(bundle_server)
    monkeypatch.setenv("HTTP_PROXY", f"http://ana:Pr0xy-S3cret@127.0.0.1:{_closed_port()}")
    with pytest.raises(EnvironmentProblem) as caught:
        download(url, tmp_path / "b.bin", settings=NetworkSettings(retries=0))
    shown = caught.value.message + (caught.value.hint or "")
    assert "Pr0xy-S3cret" not in shown
    assert "http://ana:****@127.0.0.1:" in caught.value.message


def test_tls_failure_mentions_aws_ca_bundle_and_the_bundle_fixes_it(tmp_path, monkeypatch):
    tls, cert = self_signed_tls(tmp_path / "tls")
    server = BundleServer(tmp_path / "site", tls=tls)
    (tmp_path / "site").mkdir()
    server.start()
    try:
        url = _serve(server)
        with pytest.raises(EnvironmentProblem, match="TLS") as caught:
            download(url, tmp_path / "b.bin", settings=QUICK)
        assert "AWS_CA_BUNDLE" in caught.value.hint
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        download(url, tmp_path / "b.bin", settings=QUICK)
    finally:
        server.stop()
    assert (tmp_path / "b.bin").read_bytes() == PAYLOAD


def test_a_missing_ca_bundle_file_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "no-such.pem"))
    with pytest.raises(UsageError, match="AWS_CA_BUNDLE"):
        download("https://127.0.0.1:1/x", tmp_path / "x", settings=QUICK)


def test_file_urls_work_for_mirrors_on_disk(tmp_path):
    source = tmp_path / "mirror" / "b.bin"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    download(source.as_uri(), tmp_path / "b.bin", settings=QUICK)
    assert (tmp_path / "b.bin").read_bytes() == PAYLOAD
    with pytest.raises(NotFound):
        download((tmp_path / "mirror" / "none.bin").as_uri(), tmp_path / "n.bin", settings=QUICK)


# --- bounded downloads: a size cap per file and an overall deadline ---------------------------------


def test_a_file_announced_larger_than_its_cap_is_refused_before_a_byte_is_written(bundle_server, tmp_path):
    url = _serve(bundle_server)
    with pytest.raises(VerificationError, match="larger than") as caught:
        download(url, tmp_path / "dl" / "b.bin", settings=QUICK, max_bytes=100_000)
    assert url in caught.value.message
    assert "100.0 KB" in caught.value.message
    assert bundle_server.site.requests.count("/plugin/bundle.bin") == 1, "a refusal is not retried"
    assert _leftovers(tmp_path / "dl") == []


def test_a_file_without_a_length_is_cut_off_at_its_cap(bundle_server, tmp_path):
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "endless")
    started = time.monotonic()
    with pytest.raises(VerificationError, match="larger than"):
        download(url, tmp_path / "dl" / "b.bin", settings=QUICK, max_bytes=1_000_000)
    assert time.monotonic() - started < 10
    assert _leftovers(tmp_path / "dl") == [], "nothing kept, not even the first megabyte"


def test_a_server_dripping_bytes_is_stopped_by_the_overall_deadline(bundle_server, tmp_path):
    # A byte every 0.2 s never trips the 5 s read timeout: only the deadline can end this download.
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "drip", interval=0.2)
    settings = NetworkSettings(connect_timeout=2, read_timeout=5, retries=2, backoff=0, deadline=1.5)
    started = time.monotonic()
    with pytest.raises(EnvironmentProblem, match=r"did not finish within 1\.5 s") as caught:
        download(url, tmp_path / "dl" / "b.bin", settings=settings)
    assert time.monotonic() - started < 1.5 + 5 + 2, "the deadline, plus at most one read's wait"
    assert url in caught.value.message
    assert _leftovers(tmp_path / "dl") == []


def test_the_deadline_covers_the_retries_too(bundle_server, tmp_path):
    url = _serve(bundle_server)
    bundle_server.fault("bundle.bin", "error", status=503)
    settings = NetworkSettings(connect_timeout=2, read_timeout=2, retries=50, backoff=0.3, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(EnvironmentProblem):
        download(url, tmp_path / "b.bin", settings=settings)
    assert time.monotonic() - started < 4
