"""OpenPGP detached signatures in pure Python (on ``cryptography``): users may have no gpg.

What AWS's Session Manager plugin downloads need, and a little more (RFC 4880 / RFC 9580, version 4):
public keys (primary keys and signing subkeys, ECDSA on nistp256/384/521, EdDSA Ed25519 in its legacy
form, RSA), armored or binary; binary-document signatures (type 0x00) made with SHA-224/256/384/512,
with hashed and unhashed subpackets (issuer, issuer fingerprint, creation and expiration time).
A subkey counts only when its binding signature (and, for signing, its back-signature) verifies; a
user ID only when its self-certification verifies.

:class:`SigningKey` makes real ECDSA nistp256 keys and signatures that ``gpg`` accepts, for the practice
lab and the tests. AWS's own key ships in ``onboard/plugin/keys/`` and :func:`aws_session_manager_key`
refuses it unless its fingerprint is the one pinned here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from onboard.errors import VerificationError

#: AWS's Session Manager plugin signing key (AWS documentation: "Verify the signature of the Session
#: Manager plugin"). The embedded key file is refused unless it has exactly this fingerprint.
AWS_SESSION_MANAGER_FINGERPRINT = "7959637124CE093AD501D47A2C4D4AFF6F6757EE"
AWS_SESSION_MANAGER_KEY_FILE = "aws-session-manager-plugin.asc"

_CHUNK = 1 << 20
_SIGNATURE_HINT = "Download the .sig file again; it must be the detached signature published beside the file."

# Packet tags.
_TAG_SIGNATURE = 2
_TAG_PUBLIC_KEY = 6
_TAG_USER_ID = 13
_TAG_PUBLIC_SUBKEY = 14

# Signature types.
_SIG_BINARY = 0x00
_SIG_CERTIFICATIONS = (0x10, 0x11, 0x12, 0x13)
_SIG_POSITIVE_CERTIFICATION = 0x13
_SIG_SUBKEY_BINDING = 0x18
_SIG_PRIMARY_KEY_BINDING = 0x19
_SIG_KEY_REVOCATION = 0x20
_SIG_SUBKEY_REVOCATION = 0x28

# Subpacket types.
_SUB_CREATED = 2
_SUB_SIG_EXPIRES = 3
_SUB_ISSUER = 16
_SUB_PREFERRED_HASHES = 21
_SUB_KEY_FLAGS = 27
_SUB_FEATURES = 30
_SUB_EMBEDDED_SIGNATURE = 32
_SUB_ISSUER_FINGERPRINT = 33
#: Subpackets whose meaning a verifier may ignore; an unknown one marked critical voids the signature.
_UNDERSTOOD_SUBPACKETS = frozenset({2, 3, 4, 5, 7, 9, 11, 12, 16, 21, 22, 23, 24, 25, 27, 28, 30, 31, 32, 33})

_KEY_FLAG_SIGN = 0x02

# Public-key algorithms.
_RSA = (1, 3)
_ECDSA = 19
_EDDSA_LEGACY = 22
_ALGORITHM_NAMES = {
    1: "RSA",
    2: "RSA",
    3: "RSA",
    16: "ElGamal",
    17: "DSA",
    18: "ECDH",
    19: "ECDSA",
    22: "EdDSA",
}
_SIGNING_ALGORITHMS = (*_RSA, _ECDSA, _EDDSA_LEGACY)

_CURVES = {
    bytes.fromhex("2A8648CE3D030107"): ("nistp256", ec.SECP256R1),
    bytes.fromhex("2B81040022"): ("nistp384", ec.SECP384R1),
    bytes.fromhex("2B81040023"): ("nistp521", ec.SECP521R1),
}
_ED25519_OID = bytes.fromhex("2B06010401DA470F01")
_P256_OID = bytes.fromhex("2A8648CE3D030107")

#: Hash algorithms accepted on data signatures.
_HASHES: dict[int, tuple[str, type[hashes.HashAlgorithm]]] = {
    8: ("SHA256", hashes.SHA256),
    9: ("SHA384", hashes.SHA384),
    10: ("SHA512", hashes.SHA512),
    11: ("SHA224", hashes.SHA224),
}
#: Key-binding and self-certifications on older keys still use SHA-1, as gpg accepts.
_BINDING_HASHES = {**_HASHES, 2: ("SHA1", hashes.SHA1)}
_SHA256 = 8

_ARMOR_BEGIN = re.compile(r"^-----BEGIN PGP ([A-Z ,0-9/]+)-----\s*$")
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=]+$")


class _Hasher(Protocol):
    """What hashlib's hash objects offer (hashlib does not export their type)."""

    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


class _Malformed(Exception):
    """Internal: the bytes are not valid OpenPGP; turned into a VerificationError at the API edge."""


@dataclass(frozen=True)
class PublicKey:
    """A public key that can verify signatures: a primary key or one of its signing subkeys."""

    #: 40 upper-case hex digits (version 4 fingerprint).
    fingerprint: str
    #: The last 16 hex digits of the fingerprint.
    key_id: str
    #: "ECDSA nistp256", "EdDSA ed25519", "RSA 4096", ...
    algorithm: str
    created: datetime
    #: User IDs with a valid self-certification (a subkey carries its primary key's).
    user_ids: tuple[str, ...]
    #: The primary key's fingerprint (the key's own for a primary key).
    primary_fingerprint: str = ""
    #: A valid revocation signature was found: the key verifies nothing.
    revoked: bool = False
    _algorithm_id: int = field(default=0, repr=False, compare=False)
    _material: object = field(default=None, repr=False, compare=False)
    _packet_body: bytes = field(default=b"", repr=False, compare=False)

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

    Raises VerificationError when the data is malformed or holds no usable version 4 key.
    """
    keys: list[PublicKey] = []
    try:
        for group in _transferable_keys(_packets(_dearmor(data))):
            keys.extend(_keys_of(group))
    except _Malformed as problem:
        raise VerificationError(
            f"The OpenPGP key data is malformed: {problem}.",
            hint="Use the key block exactly as published, from -----BEGIN PGP PUBLIC KEY BLOCK----- "
            "to -----END PGP PUBLIC KEY BLOCK-----.",
        ) from None
    if not keys:
        raise VerificationError(
            "The OpenPGP key data holds no usable public key.",
            hint="onboard reads version 4 keys (ECDSA, EdDSA or RSA); export the key with "
            "`gpg --armor --export FINGERPRINT`.",
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

    ``data`` is read in chunks when it is a path or a file, so large downloads are not held in memory.
    ``name`` is how errors name the data (by default the path, or the file object's name).
    Raises VerificationError naming the file and why: malformed signature, unknown key, unsupported
    algorithm, revoked key, expired signature, bad signature.
    """
    label = name or _label(data)
    try:
        signatures = [
            _parse_signature(p.body) for p in _packets(_dearmor(signature)) if p.tag == _TAG_SIGNATURE
        ]
    except _Malformed as problem:
        raise VerificationError(
            f"The signature for {label} is malformed: {problem}.",
            hint=_SIGNATURE_HINT,
        ) from None
    if not signatures:
        raise VerificationError(
            f"The signature for {label} is malformed: it holds no signature packet.",
            hint=_SIGNATURE_HINT,
        )
    candidates = [(sig, key) for sig in signatures for key in _issuers(sig, keys)]
    if not candidates:
        issuers = ", ".join(
            sorted({sig.issuer_fingerprint or sig.issuer_key_id or "?" for sig in signatures})
        )
        trusted = ", ".join(key.fingerprint for key in keys) or "none"
        raise VerificationError(
            f"{label} was signed by key {issuers}, which is not a trusted key (trusted: {trusted}).",
            hint="Do not install it. Check the download URL or mirror: the file does not come from the "
            "publisher onboard trusts.",
        )
    for sig, _key in candidates:
        _check_supported(sig, label)
    hashers = {sig.hash_algo: hashlib.new(_HASHES[sig.hash_algo][0].lower()) for sig, _key in candidates}
    try:
        for chunk in _chunks(data):
            for hasher in hashers.values():
                hasher.update(chunk)
    except OSError as problem:
        raise VerificationError(
            f"Cannot read {label} to check its signature: {problem.strerror or problem}.",
            hint="Check that the file exists and is readable, then try again.",
        ) from None
    for sig, key in candidates:
        hasher = hashers[sig.hash_algo].copy()
        hasher.update(_trailer(sig))
        if not _signature_matches(key, sig, hasher.digest()):
            continue
        if key.revoked:
            raise VerificationError(
                f"{label} is signed by key {key.fingerprint}, which its owner has revoked.",
                hint="Do not install it; get a file signed with the publisher's current key.",
            )
        if sig.expired:
            raise VerificationError(
                f"The signature for {label} by {key.fingerprint} expired on {sig.expires_at:%Y-%m-%d}.",
                hint="Download the current file and signature.",
            )
        return SignatureInfo(
            fingerprint=key.fingerprint,
            key_id=key.key_id,
            created=sig.created,
            hash_algorithm=_HASHES[sig.hash_algo][0],
            primary_fingerprint=key.primary_fingerprint,
        )
    signer = candidates[0][1].fingerprint
    raise VerificationError(
        f"BAD signature: {label} does not match its signature by key {signer}; the file or the "
        "signature was changed or damaged.",
        hint="Do not install it. Delete both files and download them again; if this persists, the "
        "download source is not trustworthy.",
    )


def aws_session_manager_key() -> PublicKey:
    """AWS's Session Manager plugin signing key, embedded in onboard, checked against its pinned fingerprint.

    Raises VerificationError when the embedded key file was changed.
    """
    return _embedded_key(AWS_SESSION_MANAGER_KEY_FILE, AWS_SESSION_MANAGER_FINGERPRINT)


def pinned_key(data: bytes, fingerprint: str, *, source: str = "the key data") -> PublicKey:
    """The primary key in ``data`` whose fingerprint is ``fingerprint`` (spaces and case ignored).

    Raises VerificationError when no key in ``data`` has it: a key file that was replaced is refused.
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


class SigningKey:
    """An ECDSA nistp256 OpenPGP key that makes real detached signatures (the practice lab, tests)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, user_id: str, created: int):
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("SigningKey holds nistp256 keys only")
        self._private_key = private_key
        self.user_id = user_id
        self.created = created
        self._public_body = _ecdsa_public_body(private_key.public_key(), created)
        self._fingerprint = _fingerprint(self._public_body)

    @classmethod
    def generate(cls, user_id: str) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), user_id, int(time.time()))

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        """Load what :meth:`private_key_pem` wrote (the user ID and creation time ride as header lines)."""
        text = pem.decode("utf-8")
        headers = dict(re.findall(r"^(OpenPGP-[A-Za-z-]+): (.*)$", text.split("-----BEGIN", 1)[0], re.M))
        try:
            user_id = json.loads(headers["OpenPGP-User-ID"])
            created = int(headers["OpenPGP-Created"])
        except (KeyError, ValueError) as problem:
            raise ValueError(f"not an onboard signing key file (missing {problem})") from None
        block = text[text.index("-----BEGIN") :].encode()
        private_key = serialization.load_pem_private_key(block, password=None)
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise ValueError("not an ECDSA signing key")
        return cls(private_key, user_id, created)

    def private_key_pem(self) -> bytes:
        """The private key as PKCS#8 PEM, with the OpenPGP user ID and creation time as header lines.

        Unencrypted: store it with mode 0600 (the creation time is part of the fingerprint).
        """
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        header = f"OpenPGP-User-ID: {json.dumps(self.user_id)}\nOpenPGP-Created: {self.created}\n"
        return header.encode() + pem

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def key_id(self) -> str:
        return self._fingerprint[-16:]

    def public_key(self) -> PublicKey:
        return load_public_keys(self.public_key_armored())[0]

    def public_key_armored(self) -> bytes:
        """The public key with its user ID and a positive self-certification, as gpg exports it."""
        user_id = self.user_id.encode()
        certification = self._signature(
            _SIG_POSITIVE_CERTIFICATION,
            [_key_hash_prefix(self._public_body), b"\xb4" + len(user_id).to_bytes(4, "big") + user_id],
            extra_hashed=[
                _subpacket(_SUB_KEY_FLAGS, bytes([0x03])),
                _subpacket(_SUB_PREFERRED_HASHES, bytes([_SHA256])),
                _subpacket(_SUB_FEATURES, b"\x01"),
            ],
        )
        packets = (
            _packet(_TAG_PUBLIC_KEY, self._public_body)
            + _packet(_TAG_USER_ID, user_id)
            + _packet(_TAG_SIGNATURE, certification)
        )
        return _armor("PUBLIC KEY BLOCK", packets)

    def sign_detached(self, data: bytes | Path) -> bytes:
        """An armored detached signature ("-----BEGIN PGP SIGNATURE-----") over ``data``."""
        hasher = hashlib.sha256()
        for chunk in _chunks(data):
            hasher.update(chunk)
        return _armor("SIGNATURE", _packet(_TAG_SIGNATURE, self._signature(_SIG_BINARY, [], hasher=hasher)))

    def __repr__(self) -> str:
        return f"SigningKey(fingerprint={self._fingerprint!r}, user_id={self.user_id!r})"

    def _signature(
        self,
        sig_type: int,
        parts: list[bytes],
        *,
        extra_hashed: Sequence[bytes] = (),
        hasher: _Hasher | None = None,
    ) -> bytes:
        hashed = b"".join(
            [
                _subpacket(_SUB_CREATED, int(time.time()).to_bytes(4, "big")),
                _subpacket(_SUB_ISSUER_FINGERPRINT, b"\x04" + bytes.fromhex(self._fingerprint)),
                *extra_hashed,
            ]
        )
        prefix = bytes([4, sig_type, _ECDSA, _SHA256]) + len(hashed).to_bytes(2, "big") + hashed
        hasher = hasher or hashlib.sha256()
        for part in parts:
            hasher.update(part)
        hasher.update(prefix + b"\x04\xff" + len(prefix).to_bytes(4, "big"))
        digest = hasher.digest()
        r, s = decode_dss_signature(self._private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
        unhashed = _subpacket(_SUB_ISSUER, bytes.fromhex(self.key_id))
        return prefix + len(unhashed).to_bytes(2, "big") + unhashed + digest[:2] + _mpi(r) + _mpi(s)


# --- armor and packets --------------------------------------------------------------------------


def _dearmor(data: bytes) -> bytes:
    """The binary packets of ``data``: as given when binary, decoded (CRC-24 checked) when armored."""
    data = data.removeprefix(b"\xef\xbb\xbf")  # a key block saved by a Windows editor
    if data[:1] and data[0] & 0x80:
        return data
    text = data.decode("latin-1")
    lines = [line.strip() for line in text.splitlines()]
    begin = next((i for i, line in enumerate(lines) if _ARMOR_BEGIN.match(line)), None)
    if begin is None:
        raise _Malformed("neither binary OpenPGP data nor an ASCII-armored block (-----BEGIN PGP ...)")
    kind = _ARMOR_BEGIN.match(lines[begin]).group(1)
    position = begin + 1
    # Armor headers ("Version: ...", "Comment: ...") end with a blank line.
    while position < len(lines) and lines[position] and not _BASE64_LINE.match(lines[position]):
        position += 1
    body: list[str] = []
    checksum: str | None = None
    for line in lines[position:]:
        if line == f"-----END PGP {kind}-----":
            break
        if not line:
            continue
        if line.startswith("=") and len(line) == 5:
            checksum = line[1:]
        elif _BASE64_LINE.match(line) and checksum is None:
            body.append(line)
        else:
            raise _Malformed(f"unexpected line in the armored {kind.lower()}: {line[:40]!r}")
    else:
        raise _Malformed(f"the armored {kind.lower()} has no -----END PGP {kind}----- line")
    try:
        decoded = base64.b64decode("".join(body), validate=True)
        expected = base64.b64decode(checksum, validate=True) if checksum else None
    except ValueError:
        raise _Malformed(f"the armored {kind.lower()} is not valid base64") from None
    if expected is not None and _crc24(decoded).to_bytes(3, "big") != expected:
        raise _Malformed(f"the armored {kind.lower()} fails its CRC-24 checksum (damaged in transit)")
    if not decoded:
        raise _Malformed(f"the armored {kind.lower()} is empty")
    return decoded


def _armor(kind: str, data: bytes) -> bytes:
    encoded = base64.b64encode(data).decode()
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    checksum = base64.b64encode(_crc24(data).to_bytes(3, "big")).decode()
    text = "\n".join(
        [f"-----BEGIN PGP {kind}-----", "", *lines, f"={checksum}", f"-----END PGP {kind}-----", ""]
    )
    return text.encode()


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


@dataclass(frozen=True)
class _Packet:
    tag: int
    body: bytes


class _Reader:
    """Bounds-checked reading of OpenPGP structures."""

    def __init__(self, data: bytes, what: str):
        self.data = data
        self.position = 0
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self.data) - self.position

    def take(self, count: int) -> bytes:
        if count < 0 or self.position + count > len(self.data):
            raise _Malformed(f"the {self.what} is truncated")
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def mpi(self) -> int:
        bits = self.uint(2)
        return int.from_bytes(self.take((bits + 7) // 8), "big")

    def rest(self) -> bytes:
        return self.take(self.remaining)


def _packets(data: bytes) -> list[_Packet]:
    reader = _Reader(data, "packet stream")
    packets: list[_Packet] = []
    while reader.remaining:
        header = reader.uint(1)
        if not header & 0x80:
            raise _Malformed(f"byte {reader.position - 1} is not an OpenPGP packet header")
        if header & 0x40:
            tag, body = header & 0x3F, _new_format_body(reader)
        else:
            tag, length_type = (header >> 2) & 0x0F, header & 0x03
            length = reader.remaining if length_type == 3 else reader.uint((1, 2, 4)[length_type])
            body = reader.take(length)
        packets.append(_Packet(tag, body))
    return packets


def _new_format_body(reader: _Reader) -> bytes:
    parts: list[bytes] = []
    while True:
        first = reader.uint(1)
        if first < 192:
            return b"".join([*parts, reader.take(first)])
        if first < 224:
            return b"".join([*parts, reader.take(((first - 192) << 8) + reader.uint(1) + 192)])
        if first == 255:
            return b"".join([*parts, reader.take(reader.uint(4))])
        # A partial body length: this part, then another length.
        parts.append(reader.take(1 << (first & 0x1F)))


def _packet(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 192:
        encoded = bytes([length])
    elif length < 8384:
        length -= 192
        encoded = bytes([(length >> 8) + 192, length & 0xFF])
    else:
        encoded = b"\xff" + length.to_bytes(4, "big")
    return bytes([0xC0 | tag]) + encoded + body


def _mpi(value: int) -> bytes:
    return value.bit_length().to_bytes(2, "big") + value.to_bytes((value.bit_length() + 7) // 8, "big")


def _subpacket(kind: int, body: bytes) -> bytes:
    return _packet(0, bytes([kind]) + body)[1:]  # the same length encoding as a new-format packet


# --- signatures ---------------------------------------------------------------------------------


@dataclass
class _Signature:
    sig_type: int
    pubkey_algo: int
    hash_algo: int
    #: Version through the end of the hashed subpackets: what the trailer hashes.
    hashed_prefix: bytes
    left16: bytes
    values: tuple[int, ...]
    # What the subpackets say (filled in by _read_subpacket).
    created: datetime | None = None
    lifetime_seconds: int = 0
    issuer_key_id: str | None = None
    issuer_fingerprint: str | None = None
    key_flags: int | None = None
    embedded: list[bytes] = field(default_factory=list)
    unknown_critical: list[int] = field(default_factory=list)

    @property
    def expires_at(self) -> datetime | None:
        if self.created is None or not self.lifetime_seconds:
            return None
        return self.created + timedelta(seconds=self.lifetime_seconds)

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(timezone.utc)


def _parse_signature(body: bytes) -> _Signature:
    reader = _Reader(body, "signature packet")
    version = reader.uint(1)
    if version != 4:
        raise _Malformed(f"signature version {version} is not supported (only version 4)")
    sig_type, pubkey_algo, hash_algo = reader.uint(1), reader.uint(1), reader.uint(1)
    hashed_area = reader.take(reader.uint(2))
    hashed_prefix = body[: reader.position]
    unhashed_area = reader.take(reader.uint(2))
    left16 = reader.take(2)
    count = 1 if pubkey_algo in _RSA else 2
    values = tuple(reader.mpi() for _ in range(count)) if pubkey_algo in _SIGNING_ALGORITHMS else ()
    sig = _Signature(sig_type, pubkey_algo, hash_algo, hashed_prefix, left16, values)
    # Hashed subpackets are authenticated; unhashed ones only help find the key, and are read first
    # so that the hashed ones win.
    for area, hashed in ((unhashed_area, False), (hashed_area, True)):
        for kind, critical, data in _subpackets(area):
            _read_subpacket(sig, kind, critical and hashed, data, hashed)
    return sig


def _subpackets(area: bytes) -> Iterator[tuple[int, bool, bytes]]:
    reader = _Reader(area, "signature subpacket area")
    while reader.remaining:
        first = reader.uint(1)
        if first < 192:
            length = first
        elif first < 255:
            length = ((first - 192) << 8) + reader.uint(1) + 192
        else:
            length = reader.uint(4)
        if length == 0:
            raise _Malformed("a signature subpacket has length 0")
        kind = reader.uint(1)
        yield kind & 0x7F, bool(kind & 0x80), reader.take(length - 1)


def _read_subpacket(sig: _Signature, kind: int, critical: bool, data: bytes, hashed: bool) -> None:
    if kind == _SUB_ISSUER and len(data) == 8:
        sig.issuer_key_id = data.hex().upper()
    elif kind == _SUB_ISSUER_FINGERPRINT and len(data) == 21 and data[0] == 4:
        sig.issuer_fingerprint = data[1:].hex().upper()
    elif kind == _SUB_EMBEDDED_SIGNATURE:
        # A back-signature is a signature by the subkey itself: it authenticates on its own.
        sig.embedded.append(data)
    elif not hashed:
        return
    elif kind == _SUB_CREATED and len(data) == 4:
        sig.created = datetime.fromtimestamp(int.from_bytes(data, "big"), timezone.utc)
    elif kind == _SUB_SIG_EXPIRES and len(data) == 4:
        sig.lifetime_seconds = int.from_bytes(data, "big")
    elif kind == _SUB_KEY_FLAGS and data:
        sig.key_flags = data[0]
    if critical and kind not in _UNDERSTOOD_SUBPACKETS:
        sig.unknown_critical.append(kind)


def _trailer(sig: _Signature) -> bytes:
    return sig.hashed_prefix + b"\x04\xff" + len(sig.hashed_prefix).to_bytes(4, "big")


def _issuers(sig: _Signature, keys: Sequence[PublicKey]) -> list[PublicKey]:
    if sig.issuer_fingerprint:
        return [key for key in keys if key.fingerprint == sig.issuer_fingerprint]
    if sig.issuer_key_id:
        return [key for key in keys if key.key_id == sig.issuer_key_id]
    # No issuer at all (allowed, if odd): try every key.
    return list(keys)


def _check_supported(sig: _Signature, label: str) -> None:
    problem = None
    if sig.sig_type != _SIG_BINARY:
        problem = f"signature type 0x{sig.sig_type:02x} (only binary-document signatures, 0x00)"
    elif sig.hash_algo not in _HASHES:
        problem = f"hash algorithm {sig.hash_algo} (supported: SHA-224, SHA-256, SHA-384, SHA-512)"
    elif sig.pubkey_algo not in _SIGNING_ALGORITHMS:
        name = _ALGORITHM_NAMES.get(sig.pubkey_algo, str(sig.pubkey_algo))
        problem = f"public-key algorithm {name} (supported: ECDSA, EdDSA, RSA)"
    elif sig.unknown_critical:
        problem = f"critical subpacket type {sig.unknown_critical[0]}"
    if problem:
        raise VerificationError(
            f"The signature for {label} uses an unsupported {problem}.",
            hint="Verify this file with gpg instead, or ask its publisher for a current signature.",
        )


def _signature_matches(key: PublicKey, sig: _Signature, digest: bytes) -> bool:
    """Whether ``sig`` by ``key`` is a valid signature of ``digest`` (hash of data + trailer)."""
    same_family = (
        sig.pubkey_algo in _RSA and key._algorithm_id in _RSA
    ) or sig.pubkey_algo == key._algorithm_id
    if not same_family or digest[:2] != sig.left16 or key._material is None or not sig.values:
        return False
    hash_algorithm = _BINDING_HASHES[sig.hash_algo][1]()
    material = key._material
    try:
        if isinstance(material, rsa.RSAPublicKey):
            size = (material.key_size + 7) // 8
            if sig.values[0].bit_length() > size * 8:
                return False
            material.verify(
                sig.values[0].to_bytes(size, "big"), digest, padding.PKCS1v15(), Prehashed(hash_algorithm)
            )
        elif isinstance(material, ec.EllipticCurvePublicKey):
            material.verify(encode_dss_signature(*sig.values), digest, ec.ECDSA(Prehashed(hash_algorithm)))
        elif isinstance(material, ed25519.Ed25519PublicKey):
            r, s = sig.values
            if max(r.bit_length(), s.bit_length()) > 256:
                return False
            # Legacy EdDSA signs the hash digest itself, as the message.
            material.verify(r.to_bytes(32, "big") + s.to_bytes(32, "big"), digest)
        else:
            return False
    except InvalidSignature:
        return False
    return True


# --- keys ---------------------------------------------------------------------------------------


def _transferable_keys(packets: list[_Packet]) -> Iterator[list[_Packet]]:
    group: list[_Packet] = []
    for packet in packets:
        if packet.tag == _TAG_PUBLIC_KEY and group:
            yield group
            group = []
        if packet.tag == _TAG_PUBLIC_KEY or group:
            group.append(packet)
    if group:
        yield group


def _keys_of(group: list[_Packet]) -> list[PublicKey]:
    """The primary key of one transferable key and its valid signing subkeys."""
    primary = _key_from_packet(group[0].body)
    if primary is None:
        return []
    primary_prefix = _key_hash_prefix(group[0].body)
    user_ids: list[str] = []
    revoked = False
    # (packet the following signatures are about, its hashed form)
    subject: tuple[int, bytes] | None = None
    subkeys: list[tuple[bytes, list[_Signature]]] = []
    for packet in group[1:]:
        if packet.tag == _TAG_USER_ID:
            subject = (_TAG_USER_ID, packet.body)
        elif packet.tag == _TAG_PUBLIC_SUBKEY:
            subject = (_TAG_PUBLIC_SUBKEY, packet.body)
            subkeys.append((packet.body, []))
        elif packet.tag == _TAG_SIGNATURE:
            try:
                sig = _parse_signature(packet.body)
            except _Malformed:
                continue  # a signature onboard cannot read certifies nothing
            if subject is None and sig.sig_type == _SIG_KEY_REVOCATION:
                revoked = revoked or _self_signed(primary, sig, [primary_prefix])
            elif subject and subject[0] == _TAG_USER_ID and sig.sig_type in _SIG_CERTIFICATIONS:
                user_id = subject[1]
                hashed_uid = b"\xb4" + len(user_id).to_bytes(4, "big") + user_id
                if _self_signed(primary, sig, [primary_prefix, hashed_uid]):
                    text = user_id.decode("utf-8", errors="replace")
                    if text not in user_ids:
                        user_ids.append(text)
            elif subject and subject[0] == _TAG_PUBLIC_SUBKEY:
                subkeys[-1][1].append(sig)
    primary = _with(primary, user_ids=tuple(user_ids), revoked=revoked, primary=primary.fingerprint)
    keys = [primary]
    for body, signatures in subkeys:
        subkey = _bound_signing_subkey(primary, primary_prefix, body, signatures)
        if subkey is not None:
            keys.append(subkey)
    return keys


def _bound_signing_subkey(
    primary: PublicKey, primary_prefix: bytes, body: bytes, signatures: list[_Signature]
) -> PublicKey | None:
    subkey = _key_from_packet(body)
    if subkey is None:
        return None
    parts = [primary_prefix, _key_hash_prefix(body)]
    bindings = [
        s for s in signatures if s.sig_type == _SIG_SUBKEY_BINDING and _self_signed(primary, s, parts)
    ]
    signing = [s for s in bindings if s.key_flags is None or s.key_flags & _KEY_FLAG_SIGN]
    # A signing subkey must also sign its primary key back, or anyone could claim someone else's subkey.
    cross_certified = any(
        _back_signed(subkey, embedded, parts) for binding in signing for embedded in binding.embedded
    )
    if not cross_certified:
        return None
    revoked = any(
        s.sig_type == _SIG_SUBKEY_REVOCATION and _self_signed(primary, s, parts) for s in signatures
    )
    return _with(
        subkey, user_ids=primary.user_ids, revoked=revoked or primary.revoked, primary=primary.fingerprint
    )


def _back_signed(subkey: PublicKey, embedded: bytes, parts: list[bytes]) -> bool:
    try:
        back = _parse_signature(embedded)
    except _Malformed:
        return False
    return back.sig_type == _SIG_PRIMARY_KEY_BINDING and _self_signed(subkey, back, parts)


def _self_signed(signer: PublicKey, sig: _Signature, parts: list[bytes]) -> bool:
    """Whether ``sig`` is a valid signature by ``signer`` over ``parts`` (keys, user IDs)."""
    if sig.hash_algo not in _BINDING_HASHES or sig.unknown_critical:
        return False
    if sig.issuer_fingerprint not in (None, signer.fingerprint) or sig.issuer_key_id not in (
        None,
        signer.key_id,
    ):
        return False
    hasher = hashlib.new(_BINDING_HASHES[sig.hash_algo][0].lower())
    for part in parts:
        hasher.update(part)
    hasher.update(_trailer(sig))
    return _signature_matches(signer, sig, hasher.digest())


def _with(key: PublicKey, *, user_ids: tuple[str, ...], revoked: bool, primary: str) -> PublicKey:
    return replace(key, user_ids=user_ids, revoked=revoked, primary_fingerprint=primary)


def _key_from_packet(body: bytes) -> PublicKey | None:
    """A version 4 key with material onboard can verify with, or None (other versions, encryption keys)."""
    reader = _Reader(body, "public key packet")
    version = reader.uint(1)
    if version != 4:
        return None
    created = datetime.fromtimestamp(reader.uint(4), timezone.utc)
    algorithm = reader.uint(1)
    material, description = _key_material(algorithm, reader)
    if material is None:
        return None
    fingerprint = _fingerprint(body)
    return PublicKey(
        fingerprint=fingerprint,
        key_id=fingerprint[-16:],
        algorithm=description,
        created=created,
        user_ids=(),
        primary_fingerprint=fingerprint,
        _algorithm_id=algorithm,
        _material=material,
        _packet_body=body,
    )


def _key_material(algorithm: int, reader: _Reader) -> tuple[object, str]:
    if algorithm in _RSA:
        modulus, exponent = reader.mpi(), reader.mpi()
        try:
            return rsa.RSAPublicNumbers(exponent, modulus).public_key(), f"RSA {modulus.bit_length()}"
        except ValueError:
            raise _Malformed("the RSA public key is invalid") from None
    if algorithm in (_ECDSA, _EDDSA_LEGACY):
        oid = reader.take(reader.uint(1))
        point = reader.mpi()
        if algorithm == _EDDSA_LEGACY and oid == _ED25519_OID:
            if point >> 256 != 0x40:
                raise _Malformed("the Ed25519 public key is not in its native (0x40) form")
            raw = (point & ((1 << 256) - 1)).to_bytes(32, "big")
            return ed25519.Ed25519PublicKey.from_public_bytes(raw), "EdDSA ed25519"
        if algorithm == _ECDSA and oid in _CURVES:
            curve_name, curve = _CURVES[oid]
            size = (curve.key_size + 7) // 8
            try:
                encoded = point.to_bytes(1 + 2 * size, "big")
                return ec.EllipticCurvePublicKey.from_encoded_point(curve(), encoded), f"ECDSA {curve_name}"
            except (OverflowError, ValueError):
                raise _Malformed(f"the ECDSA {curve_name} public point is invalid") from None
    # DSA, ElGamal, ECDH, other curves: not for verifying downloads here.
    return None, _ALGORITHM_NAMES.get(algorithm, str(algorithm))


def _key_hash_prefix(body: bytes) -> bytes:
    return b"\x99" + len(body).to_bytes(2, "big") + body


def _fingerprint(body: bytes) -> str:
    return hashlib.sha1(_key_hash_prefix(body), usedforsecurity=False).hexdigest().upper()


def _ecdsa_public_body(public_key: ec.EllipticCurvePublicKey, created: int) -> bytes:
    point = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return (
        bytes([4])
        + created.to_bytes(4, "big")
        + bytes([_ECDSA, len(_P256_OID)])
        + _P256_OID
        + _mpi(int.from_bytes(point, "big"))
    )


@cache
def _embedded_key(filename: str, fingerprint: str) -> PublicKey:
    data = resources.files("onboard.plugin").joinpath("keys", filename).read_bytes()
    return pinned_key(data, fingerprint, source=f"onboard's embedded key file {filename}")


# --- reading data -------------------------------------------------------------------------------


def _chunks(data: bytes | Path | BinaryIO) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
        return
    if isinstance(data, Path):
        with data.open("rb") as stream:
            yield from iter(lambda: stream.read(_CHUNK), b"")
        return
    yield from iter(lambda: data.read(_CHUNK), b"")


def _label(data: bytes | Path | BinaryIO) -> str:
    if isinstance(data, Path):
        return str(data)
    name = getattr(data, "name", None)
    return str(name) if isinstance(name, str) else "the data"
