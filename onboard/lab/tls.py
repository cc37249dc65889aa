"""The class lab's TLS: a certificate authority of its own and a server certificate for the address it serves.

A class lab (``onboard lab up --class``) serves every endpoint learners use over TLS: the AWS API endpoint
(https) and the data channel (the wss StreamUrl). Its certificate is signed by a CA made for this lab's
state folder; learners trust that CA alone, through the ``ca.pem`` their kit carries (the profile's
``ca_bundle``). The files, in ``<state folder>/tls/``::

    ca.pem            the CA's certificate: the only TLS file that goes into kits
    ca-key.pem        0600: the CA's private key; never leaves this folder
    server.pem        the server certificate, for the listen address (an IP subjectAltName)
    server-key.pem    0600: its private key

The CA is made once and kept, so kits handed out stay valid across restarts; the server certificate is
made again when the address changes, when it was signed by another CA, or when it expires within
:data:`RENEW_DAYS`. Keys are ECDSA P-256 (fast to make, accepted by OpenSSL, Go and every AWS SDK).
Certificates are made with the ``cryptography`` library; nothing here is hand-written crypto.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboard.errors import UsageError
from onboard.fileio import PRIVATE_FILE, atomic_write, private_folder

log = logging.getLogger("onboard.lab")

CA_NAME = "onboard class lab CA"
#: How long the CA is valid: long enough for a course that runs for months from one state folder.
CA_DAYS = 5 * 365
#: Server certificates stay under the 398 days macOS and browsers accept for a TLS server certificate.
SERVER_DAYS = 397
#: A server certificate that expires sooner than this is made again at start-up.
RENEW_DAYS = 30
#: How long a client has for its TLS handshake on the API port before the connection is dropped.
HANDSHAKE_SECONDS = 10.0


@dataclass(frozen=True)
class TlsFiles:
    folder: Path

    @classmethod
    def of(cls, state_root: Path) -> TlsFiles:
        """The TLS files of the lab whose state folder is ``state_root``."""
        return cls(Path(state_root) / "tls")

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server-key.pem"


@dataclass(frozen=True)
class LabTls:
    """A lab's CA and its server certificate for ``address``, ready to serve."""

    files: TlsFiles
    address: str
    #: The CA certificate's SHA-256 fingerprint (colon-separated hex), for `onboard lab status` and kits.
    ca_fingerprint: str

    def server_context(self) -> ssl.SSLContext:
        """What the API port and the data channel serve with: TLS 1.2 or later, this lab's certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.files.server_cert, self.files.server_key)
        return context

    def data_channel_context(self) -> ssl.SSLContext:
        """The data channel's (an asyncio server): TLS 1.2 only. With TLS 1.3 the client's Finished and
        its websocket upgrade request can arrive together, and about one opening in a hundred then
        waited until the client gave up (seen with 30 sessions opened in turn, Python 3.11's asyncio; never
        with TLS 1.2, where the server speaks last in the handshake). AWS's ssmmessages endpoints accept
        TLS 1.2 too."""
        context = self.server_context()
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this lab's CA only (the lab's own warm-up and admin calls)."""
        return client_context(self.files.ca_cert)

    def ca_pem(self) -> str:
        return self.files.ca_cert.read_text(encoding="ascii")


def client_context(ca_file: Path) -> ssl.SSLContext:
    """Verify servers against the CA in ``ca_file`` only (hostname and address checked too)."""
    return ssl.create_default_context(cafile=str(ca_file))


def listen_address(value: str) -> str:
    """``value`` as an IP address a certificate can name and learners can reach; a UsageError otherwise."""
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        raise UsageError(
            f"--listen {value!r} is not an IP address",
            "Give the address learners reach this computer at, e.g. --listen 192.168.1.10 "
            "(the lab's certificate names it), or a loopback address such as 127.0.0.2 to try it alone.",
        ) from None
    if address.is_unspecified or address.is_multicast:
        raise UsageError(
            f"--listen {value} is not one address learners can reach",
            "Name this computer's address on the classroom network, e.g. --listen 192.168.1.10.",
        )
    return str(address)


def url_host(address: str) -> str:
    """``address`` as it goes into a URL (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address else address


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def ensure_tls(files: TlsFiles, address: str) -> LabTls:
    """The lab's CA (made once) and a current server certificate for ``address`` (made when needed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    private_folder(files.folder, tighten=True)
    if files.ca_cert.exists() and files.ca_key.exists():
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        if _expires_within(ca_cert, RENEW_DAYS):
            log.warning(
                "the lab's CA expires on %s: kits will need its successor", ca_cert.not_valid_after_utc
            )
    else:
        ca_key, ca_cert = _make_ca()
        _write_key(files.ca_key, ca_key)
        atomic_write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        log.info("made a new CA for the class lab: %s", fingerprint(ca_cert))
    if not _server_cert_current(files, address, ca_cert):
        server_key, server_cert = _make_server_cert(address, ca_key, ca_cert)
        _write_key(files.server_key, server_key)
        atomic_write(files.server_cert, server_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return LabTls(files, address, fingerprint(ca_cert))


def fingerprint(certificate: Any) -> str:
    """SHA-256 of the certificate's DER bytes, as ``AB:CD:...`` (what ``openssl x509 -fingerprint`` shows)."""
    from cryptography.hazmat.primitives import serialization

    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def ca_fingerprint_of(ca_file: Path) -> str:
    from cryptography import x509

    return fingerprint(x509.load_pem_x509_certificate(ca_file.read_bytes()))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _expires_within(certificate: Any, days: int) -> bool:
    return bool(certificate.not_valid_after_utc - _now() < datetime.timedelta(days=days))


def _write_key(path: Path, key: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    atomic_write(path, pem, PRIVATE_FILE)


def _make_ca() -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        # A CA that signs server certificates only: no intermediate below it.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _make_server_cert(address: str, ca_key: Any, ca_cert: Any) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
        # Clients match an IP address against the IP subjectAltName only (never the common name).
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage("digital_signature"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _key_usage(*allowed: str) -> Any:
    """A KeyUsage extension with only the ``allowed`` uses set."""
    from cryptography import x509

    uses = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment"]
    uses += ["key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{use: use in allowed for use in uses})


def _server_cert_current(files: TlsFiles, address: str, ca_cert: Any) -> bool:
    """Whether server.pem names ``address``, was signed by this CA and is not about to expire."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    if not (files.server_cert.exists() and files.server_key.exists()):
        return False
    try:
        certificate = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        certificate.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    addresses = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    return addresses == {address} and not _expires_within(certificate, RENEW_DAYS)
