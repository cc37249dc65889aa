"""The practice lab's OpenPGP signing key, made and used with Sequoia-PGP (``pysequoia``), as gpg reads it.

The lab signs the plugin bundles on its download site with it, the way AWS signs its own; the tests make
their stand-in "AWS" keys with it too. The production installer never imports this module (a test walks
its imports): it only verifies, in :mod:`onboard.pgp`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from onboard.pgp import PublicKey, load_public_keys

if TYPE_CHECKING:
    import pysequoia


class SigningKey:
    """An ECDSA nistp256 OpenPGP key (like AWS's) with a signing subkey; makes detached signatures."""

    def __init__(self, secret: pysequoia.Tsk):
        self._secret = secret
        self._public = secret.extract_certificate()

    @classmethod
    def generate(cls, user_id: str) -> SigningKey:
        import pysequoia

        return cls(pysequoia.Tsk.generate(user_id, cipher_suite=pysequoia.CipherSuite.P256))

    @classmethod
    def from_secret_key_armored(cls, data: bytes) -> SigningKey:
        """Load what :meth:`secret_key_armored` wrote; ValueError when ``data`` holds no secret key."""
        import pysequoia

        try:
            secret = pysequoia.Tsk.from_bytes(data)
        except Exception as problem:  # pysequoia raises RuntimeError with Sequoia's message
            raise ValueError(f"not an OpenPGP secret key ({str(problem).splitlines()[0]})") from None
        # Tsk.from_bytes also takes a public key block; only a secret key can sign.
        if not str(secret).startswith("-----BEGIN PGP PRIVATE KEY BLOCK-----"):
            raise ValueError("not an OpenPGP secret key (only the public part is there)")
        return cls(secret)

    def secret_key_armored(self) -> bytes:
        """The whole key, secret parts unencrypted ("BEGIN PGP PRIVATE KEY BLOCK"): store it 0600."""
        return str(self._secret).encode("ascii")

    @property
    def fingerprint(self) -> str:
        """The primary key's fingerprint: what a team file pins."""
        return self._public.fingerprint.upper()

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:]

    @property
    def user_id(self) -> str:
        return str(self._public.user_ids[0])

    def public_key(self) -> PublicKey:
        """The primary key as :func:`onboard.pgp.load_public_keys` reads it."""
        return self.public_keys()[0]

    def public_keys(self) -> list[PublicKey]:
        """The primary key and its signing subkey, to trust in a verifier."""
        return load_public_keys(self.public_key_armored())

    def public_key_armored(self) -> bytes:
        """The public key block ("BEGIN PGP PUBLIC KEY BLOCK"), as ``gpg --armor --export`` gives it."""
        return str(self._public).encode("ascii")

    def sign_detached(self, data: bytes | Path) -> bytes:
        """An armored detached signature ("BEGIN PGP SIGNATURE") over ``data`` (a file is streamed)."""
        import pysequoia

        signer = self._secret.signer()
        if isinstance(data, Path):
            with tempfile.TemporaryDirectory(prefix="onboard-sign-") as folder:
                output = Path(folder) / "signature.asc"
                pysequoia.sign_file(signer, data, output, mode=pysequoia.SignatureMode.DETACHED)
                return output.read_bytes()
        return pysequoia.sign(signer, data, mode=pysequoia.SignatureMode.DETACHED)

    def __repr__(self) -> str:
        return f"SigningKey(fingerprint={self.fingerprint!r}, user_id={self.user_id!r})"
