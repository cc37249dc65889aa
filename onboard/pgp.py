"""OpenPGP detached signatures, checked by Sequoia-PGP (``pysequoia``): users may have no gpg.

Sequoia decides whether a signature is good: it parses the key and the signature, checks the signing
key's binding and back-signature, revocations, expiry and algorithms under its standard policy, and
hashes the data. This module only chooses which keys are trusted (AWS's embedded key, pinned by its
fingerprint, and any extra key the caller passes) and turns every refusal into a
:class:`~onboard.errors.VerificationError` that names the file and the reason.

``pysequoia`` is imported only when keys are loaded or a signature is checked, so commands that do
neither start without it. The lab's signing key lives in :mod:`onboard.lab.signing`; nothing here can sign.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from onboard.errors import VerificationError

if TYPE_CHECKING:
    import pysequoia

#: AWS's Session Manager plugin signing key (AWS documentation: "Verify the signature of the Session
#: Manager plugin"). The embedded key file is refused unless it has exactly this fingerprint.
AWS_SESSION_MANAGER_FINGERPRINT = "7959637124CE093AD501D47A2C4D4AFF6F6757EE"
AWS_SESSION_MANAGER_KEY_FILE = "aws-session-manager-plugin.asc"

_SIGNATURE_HINT = "Download the .sig file again; it must be the detached signature published beside the file."
#: Hashes accepted on a download's signature (SHA-1 and older are refused, as by Sequoia's policy).
_DATA_HASHES = ("SHA224", "SHA256", "SHA384", "SHA512", "SHA3_256", "SHA3_512")


@dataclass(frozen=True)
class PublicKey:
    """A key that may have made a signature: a primary key, or a subkey its key data marks for signing.

    Which subkeys really count (a valid binding and back-signature, not revoked, not expired) is
    Sequoia's decision when a signature is checked; the fields here describe what the key data says.
    """

    #: Upper-case hex digits: 40 for a version 4 key, 64 for version 6.
    fingerprint: str
    #: The last 16 hex digits of the fingerprint.
    key_id: str
    #: The public-key algorithm: "ECDSA", "EdDSA", "RSA", ...
    algorithm: str
    created: datetime | None
    #: The certificate's user IDs that Sequoia accepts (a subkey carries its primary key's).
    user_ids: tuple[str, ...]
    #: The primary key's fingerprint (the key's own for a primary key).
    primary_fingerprint: str = ""
    #: The primary key is revoked (Sequoia's verdict), or the key data holds a revocation of this subkey.
    revoked: bool = False
    #: The whole certificate, handed to Sequoia when a signature names this key.
    _cert: pysequoia.Cert | None = field(default=None, repr=False, compare=False)

    @property
    def is_subkey(self) -> bool:
        return self.primary_fingerprint != self.fingerprint


@dataclass(frozen=True)
class SignatureInfo:
    """A good signature: which key made it, when, with which hash."""

    #: The key that made the signature (a signing subkey's own fingerprint when a subkey signed).
    fingerprint: str
    key_id: str
    created: datetime | None
    hash_algorithm: str
    primary_fingerprint: str

    def to_dict(self) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint,
            "key_id": self.key_id,
            "primary_fingerprint": self.primary_fingerprint,
            "created": self.created.isoformat() if self.created else None,
            "hash_algorithm": self.hash_algorithm,
        }


# --- public API ---------------------------------------------------------------------------------


def load_public_keys(data: bytes) -> list[PublicKey]:
    """Every primary key and signing subkey in ``data`` (armored or binary OpenPGP key material).

    Raises VerificationError when the data is malformed or holds no key.
    """
    import pysequoia

    try:
        certs = pysequoia.Cert.split_bytes(_without_bom(data))
        keys = [key for cert in certs for key in _keys_of(cert)]
    except _PASS_THROUGH:
        raise
    except _SEQUOIA_ERRORS as problem:
        raise VerificationError(
            f"The OpenPGP key data is malformed: {_reason(problem)}.",
            hint="Use the key block exactly as published, from -----BEGIN PGP PUBLIC KEY BLOCK----- "
            "to -----END PGP PUBLIC KEY BLOCK-----.",
        ) from None
    if not keys:
        raise VerificationError(
            "The OpenPGP key data holds no usable public key.",
            hint="Export the key with `gpg --armor --export FINGERPRINT`.",
        )
    return keys


def verify_detached(
    data: bytes | Path | BinaryIO,
    signature: bytes,
    keys: Sequence[PublicKey],
    *,
    name: str | None = None,
) -> SignatureInfo:
    """Check ``signature`` (armored or binary) over ``data`` against the trusted ``keys``.

    ``data`` is hashed by Sequoia from disk when it is a path (a file object is first copied to a
    temporary file), so large downloads are not held in memory. ``name`` is how errors name the data
    (by default the path, or the file object's name). Raises VerificationError naming the file and why:
    malformed signature, unknown key, unsupported signature, revoked key, expired signature, bad signature.
    """
    import pysequoia

    label = name or _label(data)
    try:
        sig = _ReadSignature.of(pysequoia.Sig.from_bytes(_without_bom(signature)))
    except _PASS_THROUGH:
        raise
    except _SEQUOIA_ERRORS as problem:
        raise VerificationError(
            f"The signature for {label} is malformed: {_reason(problem)}.", hint=_SIGNATURE_HINT
        ) from None
    issuer, issuer_id = sig.issuer_fingerprint, sig.issuer_key_id
    signers = [key for key in keys if key.fingerprint == issuer or (not issuer and key.key_id == issuer_id)]
    if not signers:
        trusted = ", ".join(key.fingerprint for key in keys) or "none"
        raise VerificationError(
            f"{label} was signed by key {issuer or issuer_id or '?'}, which is not a trusted key "
            f"(trusted: {trusted}).",
            hint="Do not install it. Check the download URL or mirror: the file does not come from the "
            "publisher onboard trusts.",
        )
    _check_supported(sig, label)
    signer = signers[0]
    if signer.revoked:
        raise VerificationError(
            f"{label} is signed by key {signer.fingerprint}, which its owner has revoked.",
            hint="Do not install it; get a file signed with the publisher's current key.",
        )
    if sig.expiration is not None and sig.expiration <= datetime.now(timezone.utc):
        raise VerificationError(
            f"The signature for {label} by {signer.fingerprint} expired on {sig.expiration:%Y-%m-%d}.",
            hint="Download the current file and signature.",
        )
    certs = [key._cert for key in signers if key._cert is not None]
    try:
        with _on_disk(data) as source:
            verified = pysequoia.verify(
                bytes=source if isinstance(source, bytes) else None,
                file=source if isinstance(source, Path) else None,
                signature=sig.packet,
                store=lambda _key_ids: certs,
            )
    except OSError as problem:
        raise VerificationError(
            f"Cannot read {label} to check its signature: {problem.strerror or problem}.",
            hint="Check that the file exists and is readable, then try again.",
        ) from None
    except _PASS_THROUGH:
        raise
    except _SEQUOIA_ERRORS:
        raise _bad_signature(label, signer) from None
    good = next(iter(verified.valid_sigs), None)
    if good is None:  # pragma: no cover - pysequoia raises rather than return no signature
        raise _bad_signature(label, signer)
    fingerprint = str(good.signing_key).upper()
    return SignatureInfo(
        fingerprint=fingerprint,
        key_id=fingerprint[-16:],
        created=sig.created,
        hash_algorithm=sig.hash_algorithm,
        primary_fingerprint=str(good.certificate).upper(),
    )


def aws_session_manager_key() -> PublicKey:
    """AWS's Session Manager plugin signing key, embedded in onboard, checked against its pinned fingerprint.

    Raises VerificationError when the embedded key file was changed.
    """
    return _embedded_key(AWS_SESSION_MANAGER_KEY_FILE, AWS_SESSION_MANAGER_FINGERPRINT)


def pinned_key(data: bytes, fingerprint: str, *, source: str = "the key data") -> PublicKey:
    """The primary key in ``data`` whose fingerprint is ``fingerprint`` (spaces and case ignored).

    Raises VerificationError when no key in ``data`` has it: a key file that was replaced (or damaged:
    a changed byte changes the fingerprint) is refused.
    """
    wanted = re.sub(r"\s+", "", fingerprint).upper()
    keys = load_public_keys(data)
    for key in keys:
        if key.fingerprint == wanted and not key.is_subkey:
            return key
    found = ", ".join(key.fingerprint for key in keys if not key.is_subkey)
    raise VerificationError(
        f"{source} does not hold the pinned key {wanted} (it holds {found}).",
        hint="The key file was changed; reinstall onboard (or the file you were given) from its source.",
    )


# --- the parts ----------------------------------------------------------------------------------

#: What pysequoia raises on input it cannot use: RuntimeError or ValueError with Sequoia's message, or
#: pyo3's PanicException (a BaseException, made only when raised) should Sequoia panic. Each handler
#: lets KeyboardInterrupt and SystemExit through first (_PASS_THROUGH).
_SEQUOIA_ERRORS = BaseException
_PASS_THROUGH = (KeyboardInterrupt, SystemExit)


def _reason(problem: BaseException) -> str:
    """Sequoia's first line (its messages may carry a Rust backtrace after it), without the final dot."""
    lines = str(problem).strip().splitlines()
    return (lines[0] if lines else type(problem).__name__).rstrip(".")


def _without_bom(data: bytes) -> bytes:
    return data.removeprefix(b"\xef\xbb\xbf")  # a key block saved by a Windows editor


def _name(value: object) -> str:
    """``HashAlgorithm.SHA256`` -> ``SHA256`` (pysequoia's enums print as Class.Member)."""
    return repr(value).rsplit(".", 1)[-1]


def _keys_of(cert: pysequoia.Cert) -> list[PublicKey]:
    """The primary key of ``cert`` and the subkeys whose binding marks them for signing.

    Read from the certificate's packets as Sequoia parsed them; whether a subkey's binding is valid is
    decided by Sequoia when it checks a signature, so a subkey listed here may still verify nothing.
    """
    from pysequoia.packet import PacketPile, SignatureType, Tag

    primary = cert.fingerprint.upper()
    user_ids = tuple(str(user_id) for user_id in cert.user_ids)
    found: list[_KeyPacket] = []
    # The signatures after a key packet are about that key; after a user ID, about the user ID.
    current: _KeyPacket | None = None
    for packet in PacketPile.from_bytes(bytes(cert)):
        if packet.tag in (Tag.PublicKey, Tag.PublicSubkey):
            current = _KeyPacket(packet, signing=packet.tag == Tag.PublicKey)
            found.append(current)
        elif packet.tag in (Tag.UserID, Tag.UserAttribute):
            current = None
        elif packet.tag == Tag.Signature and current is not None:
            flags = packet.key_flags
            if packet.signature_type == SignatureType.SubkeyBinding and flags is not None and flags.signing:
                current.signing = True
            elif packet.signature_type == SignatureType.SubkeyRevocation:
                current.revoked = True
    keys = []
    for entry in found:
        if not entry.signing or entry.packet.fingerprint is None:  # None: a key packet Sequoia cannot read
            continue
        fingerprint = entry.packet.fingerprint.upper()
        keys.append(
            PublicKey(
                fingerprint=fingerprint,
                key_id=fingerprint[-16:],
                algorithm=_name(entry.packet.key_algorithm),
                created=entry.packet.key_created,
                user_ids=user_ids,
                primary_fingerprint=primary,
                revoked=cert.is_revoked or entry.revoked,
                _cert=cert,
            )
        )
    return keys


@dataclass
class _KeyPacket:
    """A key packet of a certificate and what the signatures after it claim about it."""

    packet: pysequoia.packet.Packet
    signing: bool
    revoked: bool = False


@dataclass(frozen=True)
class _ReadSignature:
    """What a parsed signature says about itself (pysequoia raises on reading some of it, so read once)."""

    packet: pysequoia.Sig
    issuer_fingerprint: str
    issuer_key_id: str
    signature_type: str
    hash_algorithm: str
    created: datetime | None
    expiration: datetime | None

    @classmethod
    def of(cls, sig: pysequoia.Sig) -> _ReadSignature:
        return cls(
            sig,
            (sig.issuer_fingerprint or "").upper(),
            (sig.issuer_key_id or "").upper(),
            _name(sig.signature_type),
            _name(sig.hash_algorithm),
            sig.created,
            sig.expiration,
        )


def _check_supported(sig: _ReadSignature, label: str) -> None:
    problem = None
    if sig.signature_type != "Binary":
        problem = f"signature type {sig.signature_type} (only binary-document signatures)"
    elif sig.hash_algorithm not in _DATA_HASHES:
        problem = f"hash algorithm {sig.hash_algorithm} (supported: {', '.join(_DATA_HASHES)})"
    if problem:
        raise VerificationError(
            f"The signature for {label} uses an unsupported {problem}.",
            hint="Verify this file with gpg instead, or ask its publisher for a current signature.",
        )


def _bad_signature(label: str, signer: PublicKey) -> VerificationError:
    if signer.is_subkey:
        why = (
            f"either the file or the signature was changed or damaged, or {signer.fingerprint} is not a "
            f"valid signing subkey of {signer.primary_fingerprint} (its binding is missing or broken, or "
            "it expired)"
        )
    else:
        why = "the file or the signature was changed or damaged"
    return VerificationError(
        f"BAD signature: {label} does not match its signature by key {signer.fingerprint}; {why}.",
        hint="Do not install it. Delete both files and download them again; if this persists, the "
        "download source is not trustworthy.",
    )


@cache
def _embedded_key(filename: str, fingerprint: str) -> PublicKey:
    data = resources.files("onboard.plugin").joinpath("keys").joinpath(filename).read_bytes()
    return pinned_key(data, fingerprint, source=f"onboard's embedded key file {filename}")


@contextlib.contextmanager
def _on_disk(data: bytes | Path | BinaryIO) -> Iterator[bytes | Path]:
    """``data`` as bytes or a path Sequoia can read; a stream is copied to a temporary file first."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
        return
    if isinstance(data, Path):
        if not data.is_file():
            data.open("rb").close()  # raises the OSError that names the problem
            raise IsADirectoryError(21, "Is a directory", str(data))
        yield data
        return
    with tempfile.NamedTemporaryFile(prefix="onboard-verify-") as copy:
        shutil.copyfileobj(data, copy, 1 << 20)
        copy.flush()
        yield Path(copy.name)


def _label(data: bytes | Path | BinaryIO) -> str:
    if isinstance(data, Path):
        return str(data)
    name = getattr(data, "name", None)
    return str(name) if isinstance(name, str) else "the data"
