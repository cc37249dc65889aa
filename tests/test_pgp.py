"""OpenPGP verification, cross-checked with the real GnuPG in a throwaway GNUPGHOME."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboard import pgp
from onboard.errors import ExitCode, VerificationError
from onboard.lab.signing import SigningKey

needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="GnuPG (gpg) is not installed")

AWS_KEY_FILE = Path(pgp.__file__).parent / "plugin" / "keys" / pgp.AWS_SESSION_MANAGER_KEY_FILE
PAYLOAD = b"session-manager-plugin stand-in\n" * 1000


@dataclass
class Gpg:
    """gpg with its own home: every key made here is thrown away with the test module."""

    home: Path

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                "gpg",
                "--homedir",
                str(self.home),
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                *args,
            ],
            input=input,
            capture_output=True,
            check=check,
            timeout=60,
        )

    def generate(self, user_id: str, algorithm: str, usage: str = "sign", *extra: str) -> str:
        self.run(*extra, "--quick-gen-key", user_id, algorithm, usage, "never")
        return self.fingerprint(user_id)

    def fingerprint(self, user_id: str) -> str:
        listing = self.run("--with-colons", "--list-keys", user_id).stdout.decode()
        return re.search(r"^fpr:+([0-9A-F]{40}):", listing, re.M).group(1)

    def fingerprints(self, user_id: str) -> list[str]:
        listing = self.run("--with-colons", "--list-keys", user_id).stdout.decode()
        return re.findall(r"^fpr:+([0-9A-F]{40}):", listing, re.M)

    def export(self, user_id: str) -> bytes:
        return self.run("--armor", "--export", user_id).stdout

    def sign(self, signer: str, data: bytes, *options: str) -> bytes:
        return self.run("--local-user", signer, *options, "--detach-sign", "--output", "-", input=data).stdout


@pytest.fixture(scope="module")
def gpg(tmp_path_factory):
    if shutil.which("gpg") is None:
        pytest.skip("GnuPG (gpg) is not installed")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    yield Gpg(home)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def gpg_keys(gpg):
    """One gpg key per algorithm onboard must read: user ID -> fingerprint."""
    made = {}
    for user_id, algorithm in [
        ("ECDSA P-256 <p256@example.invalid>", "nistp256"),
        ("ECDSA P-384 <p384@example.invalid>", "nistp384"),
        ("ECDSA P-521 <p521@example.invalid>", "nistp521"),
        ("EdDSA <ed25519@example.invalid>", "ed25519"),
        ("RSA <rsa@example.invalid>", "rsa2048"),
    ]:
        made[user_id] = gpg.generate(user_id, algorithm)
    return made


def armored_to_binary(armored: bytes) -> bytes:
    lines = armored.decode().strip().splitlines()
    body = [line for line in lines[lines.index("") + 1 : -1] if not line.startswith("=")]
    return base64.b64decode("".join(body))


# --- AWS's key ------------------------------------------------------------------------------------


def test_embedded_aws_key_has_the_pinned_fingerprint():
    key = pgp.aws_session_manager_key()
    assert (
        key.fingerprint == "7959637124CE093AD501D47A2C4D4AFF6F6757EE" == pgp.AWS_SESSION_MANAGER_FINGERPRINT
    )
    assert key.key_id == "2C4D4AFF6F6757EE"
    assert key.algorithm == "ECDSA"
    assert key.created.date().isoformat() == "2025-01-22"
    assert key.user_ids == (
        "AWS SSM Session Manager <session-manager-plugin-signer@amazon.com> "
        "(AWS Systems Manager Session Manager Plugin Linux Signer Key)",
    )


@needs_gpg
def test_gpg_reads_the_same_fingerprint_from_the_embedded_key(gpg):
    listing = gpg.run("--with-colons", "--show-keys", str(AWS_KEY_FILE)).stdout.decode()
    assert re.findall(r"^fpr:+([0-9A-F]{40}):", listing, re.M) == [pgp.AWS_SESSION_MANAGER_FINGERPRINT]


def test_a_key_file_with_another_key_is_refused_by_the_pin():
    other = SigningKey.generate("Impostor <aws@example.invalid>")
    with pytest.raises(VerificationError, match=pgp.AWS_SESSION_MANAGER_FINGERPRINT) as raised:
        pgp.pinned_key(other.public_key_armored(), pgp.AWS_SESSION_MANAGER_FINGERPRINT, source="the key file")
    assert other.fingerprint in raised.value.message
    assert raised.value.exit_code == ExitCode.VERIFICATION


def test_a_damaged_aws_key_block_is_refused():
    text = AWS_KEY_FILE.read_text()
    # One changed letter of the public point: a different key, so the pin refuses it (RFC 9580 tells
    # readers to ignore the armor's CRC-24, and Sequoia does; the fingerprint is what protects the key).
    damaged = text.replace("mFIEZ5ERQxMIKoZIzj0DAQcCAwQjuZy", "mFIEZ5ERQxMIKoZIzj0DAQcCAwQjuZz")
    with pytest.raises(VerificationError, match=r"does not hold the pinned key|malformed"):
        pgp.pinned_key(damaged.encode(), pgp.AWS_SESSION_MANAGER_FINGERPRINT)


def test_pin_ignores_spaces_and_case():
    spaced = "7959 6371 24ce 093a d501  d47a 2c4d 4aff 6f67 57ee"
    assert (
        pgp.pinned_key(AWS_KEY_FILE.read_bytes(), spaced).fingerprint == pgp.AWS_SESSION_MANAGER_FINGERPRINT
    )


# --- gpg's signatures verify with onboard ---------------------------------------------------------


@needs_gpg
@pytest.mark.parametrize(
    ("user_id", "digest"),
    [
        # gpg refuses an ECDSA hash shorter than the curve, so the larger curves get the larger hashes.
        ("ECDSA P-256 <p256@example.invalid>", "SHA256"),
        ("ECDSA P-256 <p256@example.invalid>", "SHA512"),
        ("ECDSA P-384 <p384@example.invalid>", "SHA384"),
        ("ECDSA P-521 <p521@example.invalid>", "SHA512"),
        ("EdDSA <ed25519@example.invalid>", "SHA256"),
        ("EdDSA <ed25519@example.invalid>", "SHA512"),
        ("RSA <rsa@example.invalid>", "SHA256"),
        ("RSA <rsa@example.invalid>", "SHA384"),
        ("RSA <rsa@example.invalid>", "SHA512"),
    ],
)
def test_gpg_signatures_verify(gpg, gpg_keys, user_id, digest):
    keys = pgp.load_public_keys(gpg.export(user_id))
    assert [key.fingerprint for key in keys] == [gpg_keys[user_id]]
    assert keys[0].user_ids == (user_id,)
    armored = gpg.sign(user_id, PAYLOAD, "--armor", "--digest-algo", digest)
    info = pgp.verify_detached(PAYLOAD, armored, keys)
    assert (info.fingerprint, info.hash_algorithm) == (gpg_keys[user_id], digest)
    binary = gpg.sign(user_id, PAYLOAD, "--digest-algo", digest)
    assert pgp.verify_detached(PAYLOAD, binary, keys).key_id == gpg_keys[user_id][-16:]


@needs_gpg
def test_binary_key_export_loads(gpg, gpg_keys):
    user_id = "EdDSA <ed25519@example.invalid>"
    binary = gpg.run("--export", user_id).stdout
    assert pgp.load_public_keys(binary)[0].algorithm == "EdDSA"


@needs_gpg
def test_a_signing_subkey_signs_for_its_primary(gpg):
    user_id = "Subkeys <subkeys@example.invalid>"
    primary = gpg.generate(user_id, "nistp256", "cert")
    gpg.run("--quick-add-key", primary, "nistp384/ecdsa", "sign", "never")
    gpg.run("--quick-add-key", primary, "cv25519", "encr", "never")
    primary_fpr, signing_fpr, encryption_fpr = gpg.fingerprints(user_id)
    keys = pgp.load_public_keys(gpg.export(user_id))
    # The encryption subkey is no use for verifying and is left out.
    assert [key.fingerprint for key in keys] == [primary_fpr, signing_fpr]
    assert encryption_fpr not in {key.fingerprint for key in keys}
    subkey = keys[1]
    assert subkey.is_subkey and subkey.primary_fingerprint == primary_fpr
    assert subkey.user_ids == (user_id,)
    info = pgp.verify_detached(PAYLOAD, gpg.sign(user_id, PAYLOAD), keys)
    assert (info.fingerprint, info.primary_fingerprint) == (signing_fpr, primary_fpr)


@needs_gpg
def test_a_subkey_without_a_valid_binding_is_not_trusted(gpg):
    user_id = "Unbound <unbound@example.invalid>"
    primary = gpg.generate(user_id, "nistp256", "cert")
    gpg.run("--quick-add-key", primary, "nistp256/ecdsa", "sign", "never")
    packets = armored_to_binary(gpg.export(user_id))
    # Break the last signature packet (the subkey's binding) by flipping a byte of its signature value.
    tampered = packets[:-3] + bytes([packets[-3] ^ 0x01]) + packets[-2:]
    keys = pgp.load_public_keys(tampered)
    assert keys[0].fingerprint == primary
    # The key data still names the subkey, but Sequoia finds no valid binding for it.
    with pytest.raises(VerificationError, match="not a valid signing subkey of " + primary):
        pgp.verify_detached(PAYLOAD, gpg.sign(user_id, PAYLOAD), keys)


@needs_gpg
def test_a_revoked_key_verifies_nothing(gpg):
    user_id = "Revoked <revoked@example.invalid>"
    fingerprint = gpg.generate(user_id, "nistp256")
    signature = gpg.sign(user_id, PAYLOAD)
    assert not pgp.load_public_keys(gpg.export(user_id))[0].revoked
    certificate = (gpg.home / "openpgp-revocs.d" / f"{fingerprint}.rev").read_text()
    gpg.run("--import", input=certificate.replace(":-----BEGIN", "-----BEGIN").encode())
    keys = pgp.load_public_keys(gpg.export(user_id))
    assert keys[0].revoked
    with pytest.raises(VerificationError, match="revoked"):
        pgp.verify_detached(PAYLOAD, signature, keys)


@needs_gpg
def test_a_revoked_signing_subkey_verifies_nothing(gpg):
    user_id = "Revoked subkey <revoked-subkey@example.invalid>"
    primary = gpg.generate(user_id, "nistp256", "cert")
    gpg.run("--quick-add-key", primary, "nistp256/ecdsa", "sign", "never")
    signature = gpg.sign(user_id, PAYLOAD)
    # gpg's own key editor, scripted: select the subkey, revoke it (reason 0, no comment), save.
    gpg.run("--command-fd", "0", "--edit-key", primary, input=b"key 1\nrevkey\ny\n0\n\ny\nsave\n")
    primary_key, subkey = pgp.load_public_keys(gpg.export(user_id))
    assert subkey.revoked and not primary_key.revoked
    with pytest.raises(VerificationError, match=f"{subkey.fingerprint}, which its owner has revoked"):
        pgp.verify_detached(PAYLOAD, signature, [primary_key, subkey])


@needs_gpg
def test_an_expired_signature_is_refused(gpg):
    user_id = "Past <past@example.invalid>"
    past = ("--faked-system-time", "20240101T000000")
    gpg.generate(user_id, "nistp256", "sign", *past)
    signature = gpg.sign(user_id, PAYLOAD, *past, "--default-sig-expire", "1d")
    with pytest.raises(VerificationError, match="expired on 2024-01-02"):
        pgp.verify_detached(PAYLOAD, signature, pgp.load_public_keys(gpg.export(user_id)))


@needs_gpg
@pytest.mark.parametrize(
    ("options", "unsupported"),
    [(("--textmode",), "signature type Text"), (("--digest-algo", "SHA1"), "hash algorithm SHA1")],
    ids=["text-signature", "sha1"],
)
def test_unsupported_signatures_are_refused_by_name(gpg, gpg_keys, options, unsupported):
    user_id = "RSA <rsa@example.invalid>"
    signature = gpg.sign(user_id, PAYLOAD, *options)
    with pytest.raises(VerificationError, match=unsupported):
        pgp.verify_detached(PAYLOAD, signature, pgp.load_public_keys(gpg.export(user_id)))


# --- onboard's signatures verify with gpg --------------------------------------------------------


@needs_gpg
def test_gpg_accepts_onboard_keys_and_signatures(gpg, tmp_path):
    key = SigningKey.generate("Practice Lab <lab@example.invalid>")
    imported = gpg.run("--import", input=key.public_key_armored())
    assert b"imported: 1" in imported.stderr
    data = tmp_path / "session-manager-plugin.deb"
    data.write_bytes(PAYLOAD)
    signature = tmp_path / "session-manager-plugin.deb.sig"
    signature.write_bytes(key.sign_detached(data))
    verified = gpg.run("--status-fd", "1", "--verify", str(signature), str(data))
    # VALIDSIG <signing subkey> ... <primary key>: the primary is what a team file pins.
    assert re.search(rf"VALIDSIG [0-9A-F]{{40}} .* {key.fingerprint}$".encode(), verified.stdout, re.M)
    assert b"GOODSIG" in verified.stdout
    # gpg shows the user ID because the self-certification is valid.
    assert b"Practice Lab <lab@example.invalid>" in verified.stdout


@needs_gpg
def test_gpg_rejects_onboard_signatures_over_other_data(gpg, tmp_path):
    key = SigningKey.generate("Practice Lab <lab2@example.invalid>")
    gpg.run("--import", input=key.public_key_armored())
    data = tmp_path / "file"
    data.write_bytes(PAYLOAD + b"!")
    signature = tmp_path / "file.sig"
    signature.write_bytes(key.sign_detached(PAYLOAD))
    verified = gpg.run("--status-fd", "1", "--verify", str(signature), str(data), check=False)
    assert verified.returncode != 0
    assert b"BADSIG" in verified.stdout


# --- tampering and bad input ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer():
    return SigningKey.generate("Tests <tests@example.invalid>")


def test_own_signature_round_trip(signer):
    info = pgp.verify_detached(PAYLOAD, signer.sign_detached(PAYLOAD), signer.public_keys())
    assert info.primary_fingerprint == signer.fingerprint
    assert info.fingerprint == signer.public_keys()[1].fingerprint, "Sequoia's keys sign with a subkey"
    assert info.hash_algorithm == "SHA512"
    assert abs((datetime.now(timezone.utc) - info.created).total_seconds()) < 60
    assert info.to_dict()["primary_fingerprint"] == signer.fingerprint


def test_a_flipped_byte_in_the_data_is_a_bad_signature(signer, tmp_path):
    signature = signer.sign_detached(PAYLOAD)
    damaged = tmp_path / "session-manager-plugin.rpm"
    damaged.write_bytes(PAYLOAD[:100] + bytes([PAYLOAD[100] ^ 0x20]) + PAYLOAD[101:])
    with pytest.raises(VerificationError, match="BAD signature") as raised:
        pgp.verify_detached(damaged, signature, signer.public_keys())
    assert str(damaged) in raised.value.message
    assert "Do not install" in raised.value.hint


def test_a_flipped_byte_in_the_signature_value_is_a_bad_signature(signer):
    binary = armored_to_binary(signer.sign_detached(PAYLOAD))
    tampered = binary[:-5] + bytes([binary[-5] ^ 0x01]) + binary[-4:]
    with pytest.raises(VerificationError, match="BAD signature"):
        pgp.verify_detached(PAYLOAD, tampered, signer.public_keys(), name="session-manager-plugin.deb")


def test_a_changed_hashed_subpacket_is_a_bad_signature(signer):
    binary = bytearray(armored_to_binary(signer.sign_detached(PAYLOAD)))
    # The creation time sits in the hashed area (Sequoia marks it critical): changing it must void it.
    created_at = binary.index(bytes([5, 0x82])) + 2
    binary[created_at + 3] ^= 0x01
    with pytest.raises(VerificationError, match="BAD signature"):
        pgp.verify_detached(PAYLOAD, bytes(binary), signer.public_keys())


def test_a_signature_by_another_key_names_the_unknown_key(signer):
    stranger = SigningKey.generate("Stranger <stranger@example.invalid>")
    with pytest.raises(VerificationError, match="not a trusted key") as raised:
        pgp.verify_detached(PAYLOAD, stranger.sign_detached(PAYLOAD), signer.public_keys(), name="plugin.deb")
    assert stranger.public_keys()[1].fingerprint in raised.value.message, "the key that signed"
    assert signer.fingerprint in raised.value.message, "the trusted keys"
    assert "plugin.deb" in raised.value.message


@pytest.mark.parametrize("cut", [1, 10, 40])
def test_a_truncated_signature_is_malformed(signer, cut):
    binary = armored_to_binary(signer.sign_detached(PAYLOAD))
    with pytest.raises(VerificationError, match="malformed"):
        pgp.verify_detached(PAYLOAD, binary[:-cut], signer.public_keys(), name="plugin.deb")


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"<html><body>404 Not Found</body></html>",
        b"-----BEGIN PGP SIGNATURE-----\n\n!!!not base64!!!\n-----END PGP SIGNATURE-----\n",
        b"-----BEGIN PGP SIGNATURE-----\n\nwnUEABMIAB0FAms\n",
        b"\x00\x01\x02\x03",
    ],
    ids=["empty", "html", "bad-base64", "no-end-line", "not-a-packet"],
)
def test_garbage_signatures_are_malformed(signer, garbage):
    with pytest.raises(VerificationError, match=r"The signature for plugin\.deb is malformed"):
        pgp.verify_detached(PAYLOAD, garbage, signer.public_keys(), name="plugin.deb")


def test_a_damaged_armored_signature_is_refused(signer):
    # RFC 9580 has readers ignore the armor's CRC-24 (Sequoia does): the signature itself is checked.
    armored = signer.sign_detached(PAYLOAD).decode()
    body = armored.splitlines()[2]
    damaged = armored.replace(body, body[:-8] + ("A" if body[-8] != "A" else "B") + body[-7:], 1)
    with pytest.raises(VerificationError, match=r"BAD signature|malformed"):
        pgp.verify_detached(PAYLOAD, damaged.encode(), signer.public_keys())


def test_armor_headers_and_surrounding_text_are_tolerated(signer):
    armored = signer.sign_detached(PAYLOAD).decode()
    decorated = "Signature follows.\n" + armored.replace(
        "-----\n\n", "-----\nVersion: GnuPG v2\nComment: x\n\n", 1
    )
    assert (
        pgp.verify_detached(PAYLOAD, decorated.encode(), signer.public_keys()).primary_fingerprint
        == signer.fingerprint
    )


def test_a_key_block_saved_with_a_bom_and_crlf_loads():
    saved_on_windows = b"\xef\xbb\xbf" + AWS_KEY_FILE.read_bytes().replace(b"\n", b"\r\n")
    assert pgp.load_public_keys(saved_on_windows)[0].fingerprint == pgp.AWS_SESSION_MANAGER_FINGERPRINT


def test_a_signature_without_a_signature_packet_is_malformed(signer):
    user_id_packet = bytes([0xC0 | 13, 5]) + b"hello"
    with pytest.raises(VerificationError, match="is malformed: Not a signature"):
        pgp.verify_detached(PAYLOAD, user_id_packet, signer.public_keys())


@pytest.mark.parametrize(
    "garbage",
    [b"", b"hello", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"],
)
def test_garbage_key_data_is_refused(garbage):
    with pytest.raises(VerificationError, match="key data"):
        pgp.load_public_keys(garbage)


# --- large files, files, streams -----------------------------------------------------------------


def test_large_files_are_verified_from_disk_and_from_streams(signer, tmp_path):
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for index in range(12):
            out.write(os.urandom(1024) * 1024 if index % 2 else bytes([index]) * (1 << 20))
    signature = signer.sign_detached(big)
    assert pgp.verify_detached(big, signature, signer.public_keys()).primary_fingerprint == signer.fingerprint
    with big.open("rb") as stream:
        assert (
            pgp.verify_detached(stream, signature, signer.public_keys()).primary_fingerprint
            == signer.fingerprint
        )
    with pytest.raises(VerificationError, match="BAD signature"):
        pgp.verify_detached(io.BytesIO(big.read_bytes()[:-1]), signature, signer.public_keys())


def test_a_missing_file_is_a_verification_error_naming_it(signer, tmp_path):
    missing = tmp_path / "not-downloaded.deb"
    with pytest.raises(VerificationError, match="Cannot read") as raised:
        pgp.verify_detached(missing, signer.sign_detached(PAYLOAD), signer.public_keys())
    assert str(missing) in raised.value.message


# --- the signing key's storage -------------------------------------------------------------------


def test_secret_key_round_trip_keeps_the_fingerprint(signer, tmp_path):
    secret = signer.secret_key_armored()
    assert b"-----BEGIN PGP PRIVATE KEY BLOCK-----" in secret
    path = tmp_path / "lab-signing-key.asc"
    path.write_bytes(secret)
    loaded = SigningKey.from_secret_key_armored(path.read_bytes())
    assert loaded.fingerprint == signer.fingerprint
    assert loaded.user_id == signer.user_id
    info = pgp.verify_detached(PAYLOAD, loaded.sign_detached(PAYLOAD), signer.public_keys())
    assert info.primary_fingerprint == signer.fingerprint


def test_repr_never_shows_private_material(signer):
    secret_body = signer.secret_key_armored().decode().split("\n\n", 1)[1][:40].strip()
    assert secret_body not in repr(signer)
    assert signer.fingerprint in repr(signer)


@pytest.mark.parametrize("kind", ["public key", "garbage"])
def test_loading_a_signing_key_refuses_what_holds_no_secret_key(signer, kind):
    data = signer.public_key_armored() if kind == "public key" else b"not a key"
    with pytest.raises(ValueError, match="not an OpenPGP secret key"):
        SigningKey.from_secret_key_armored(data)


# --- robustness: whatever the bytes, a VerificationError and nothing else -----------------------

_SIGNER_FOR_FUZZING = SigningKey.generate("Fuzz <fuzz@example.invalid>")
_FUZZ_SIGNATURE = armored_to_binary(_SIGNER_FOR_FUZZING.sign_detached(PAYLOAD))
_FUZZ_KEYS = (
    armored_to_binary(_SIGNER_FOR_FUZZING.public_key_armored()),
    armored_to_binary(AWS_KEY_FILE.read_bytes()),
)


def mutated(original: bytes):
    return st.lists(
        st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)), min_size=1, max_size=4
    ).map(lambda changes: _apply(original, changes))


def _apply(original: bytes, changes) -> bytes:
    data = bytearray(original)
    for index, value in changes:
        data[index] = value
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), mutated(_FUZZ_SIGNATURE)))
def test_any_signature_bytes_give_a_verification_error_or_a_good_signature(signature):
    try:
        info = pgp.verify_detached(PAYLOAD, signature, _SIGNER_FOR_FUZZING.public_keys())
    except VerificationError as error:
        assert error.message
    else:
        assert info.primary_fingerprint == _SIGNER_FOR_FUZZING.fingerprint


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), mutated(_FUZZ_KEYS[0]), mutated(_FUZZ_KEYS[1])))
def test_any_key_bytes_give_keys_or_a_verification_error(data):
    try:
        keys = pgp.load_public_keys(data)
    except VerificationError as error:
        assert error.message
    else:
        assert all(len(key.fingerprint) in (40, 64) for key in keys)
