"""What an install did: the typed result `onboard plugin install`, setup and doctor report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboard.plugin.fetch import Fetched
from onboard.plugin.pathcheck import PathHint, path_report


@dataclass(frozen=True)
class InstallResult:
    version: str
    #: The installed executable (in its version folder, or the system location with ``--system``).
    path: Path
    #: The stable name the AWS CLI finds on PATH.
    link: Path
    #: "gpg" | "pkgutil" | "unverified"
    verified_by: str
    #: The signing key's primary fingerprint, the signer for pkgutil, or "unverified".
    signature_key: str
    on_path_first: bool
    shadowed_by: tuple[Path, ...]
    path_hint: PathHint | None
    #: False when this exact version was already installed and nothing changed.
    changed: bool = True
    previous_version: str | None = None
    bundle_kind: str = ""
    source: str = ""
    system: bool = False
    #: A copy that was at the link's place before onboard (not onboard's), kept under this name.
    backed_up: Path | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, version: str, path: Path, link: Path, fetched: Fetched, **details: Any) -> InstallResult:
        """The result for ``fetched`` installed as ``path`` behind ``link``, with PATH checked now."""
        report = path_report(link)
        return cls(
            version=version,
            path=path,
            link=link,
            verified_by=fetched.verified_by,
            signature_key=fetched.signature_key,
            on_path_first=report.on_path_first,
            shadowed_by=report.shadowed_by,
            path_hint=report.hint,
            bundle_kind=fetched.bundle.kind,
            source=fetched.source,
            notes=tuple(fetched.notes),
            **details,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "path": str(self.path),
            "link": str(self.link),
            "verified_by": self.verified_by,
            "signature_key": self.signature_key,
            "on_path_first": self.on_path_first,
            "shadowed_by": [str(path) for path in self.shadowed_by],
            "path_hint": self.path_hint.to_dict() if self.path_hint else None,
            "changed": self.changed,
            "previous_version": self.previous_version,
            "bundle_kind": self.bundle_kind,
            "source": self.source,
            "system": self.system,
            "backed_up": str(self.backed_up) if self.backed_up else None,
            "notes": list(self.notes),
        }
