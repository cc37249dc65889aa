"""Decompressing a bundle's payload as a stream: gzip, xz, bzip2 (the standard library) and zstd.

zstd is in the standard library from Python 3.14; before that the ``zstd`` program decompresses, fed by a
thread and read as the archive walk needs it, so a payload is never held in memory whole.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, BinaryIO

from onboard.errors import VerificationError

#: The compressions :func:`decompressing` reads, as rpm headers and deb member names spell them.
KNOWN = frozenset({"gzip", "gz", "xz", "lzma", "bzip2", "bz2", "zstd", "zst", "", "none"})
_CHUNK = 1024 * 1024


class UnsupportedCompression(VerificationError):
    """The payload's compression cannot be read here (zstd without the zstd program before Python 3.14)."""


def decompressing(archive: Path, raw: BinaryIO, compressor: str) -> BinaryIO:
    """A stream of ``raw`` decompressed (``compressor``: one of :data:`KNOWN`); ``archive`` is for errors."""
    if compressor in ("gzip", "gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if compressor in ("xz", "lzma"):
        return lzma.LZMAFile(raw, format=lzma.FORMAT_AUTO)  # type: ignore[return-value]
    if compressor in ("bzip2", "bz2"):
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if compressor in ("zstd", "zst"):
        return _zstd_stream(archive, raw)
    if compressor in ("", "none"):
        return raw
    raise ValueError(f"unknown compression {compressor!r}; known: {sorted(KNOWN)}")


def _zstd_stream(archive: Path, raw: BinaryIO) -> BinaryIO:
    try:
        from compression import zstd  # Python 3.14+

        return zstd.ZstdFile(raw)
    except ImportError:
        pass
    program = shutil.which("zstd")
    if program is None:
        raise UnsupportedCompression(
            f"{archive}: its payload is zstd-compressed, which this Python cannot read",
            "Install the zstd program (apt/dnf/brew install zstd) or use Python 3.14+, then try again.",
        )
    return io.BufferedReader(_ZstdProgram(program, raw), _CHUNK)


class _ZstdProgram(io.RawIOBase):
    """``zstd -dc`` as a stream: fed from ``raw`` by a thread, read as it comes, never held in memory whole.

    The end of the output is an error (an OSError, as a corrupt stream is) when zstd exited non-zero.
    Closing it (or the end of the ``with`` of the reader using it) stops the program.
    """

    def __init__(self, program: str, raw: BinaryIO):
        super().__init__()
        self._process = subprocess.Popen(
            [program, "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._feeder = threading.Thread(target=self._feed, args=(raw,), daemon=True)
        self._feeder.start()

    def _feed(self, raw: BinaryIO) -> None:
        stdin = self._process.stdin
        assert stdin is not None  # made with stdin=PIPE
        try:
            while chunk := raw.read(_CHUNK):
                stdin.write(chunk)
        except (OSError, ValueError):  # zstd stopped (corrupt input, or the reader closed us)
            pass
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        stdout, stderr = self._process.stdout, self._process.stderr
        assert stdout is not None and stderr is not None  # made with PIPEs
        chunk = os.read(stdout.fileno(), len(buffer))
        buffer[: len(chunk)] = chunk
        if not chunk and self._process.wait() != 0:
            said = stderr.read().decode(errors="replace").strip()
            raise OSError(f"zstd: {said or f'exit code {self._process.returncode}'}")
        return len(chunk)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._feeder.join()
        for pipe in (self._process.stdout, self._process.stderr):
            if pipe is not None:
                pipe.close()
        super().close()
