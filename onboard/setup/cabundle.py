"""The team file's CA bundle (a class lab's CA), copied where the written profile can keep pointing at it.

The kit a learner unzips may be deleted once setup has run; the profile's ``ca_bundle`` (which the AWS
CLI, botocore and onboard honour) therefore names a private copy in onboard's data folder:
``<data>/ca/<team>-<first 16 hex of the file's SHA-256>.pem`` (0600, folder 0700). The name changes with
the content, so a new CA never overwrites the one another profile still names, and the same CA set up
twice is the same file (setup's second run changes nothing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from onboard.fileio import PRIVATE_FILE, atomic_write, private_folder


@dataclass(frozen=True)
class CaBundleCopy:
    #: The team file's CA file.
    source: Path
    #: Where the profile's ca_bundle points: the private copy.
    target: Path
    data: bytes

    @property
    def is_current(self) -> bool:
        try:
            return self.target.read_bytes() == self.data
        except OSError:
            return False

    def install(self) -> None:
        """Write the copy (before the profile that names it), unless it is already there."""
        if self.is_current:
            return
        private_folder(self.target.parent, tighten=True)
        atomic_write(self.target, self.data, PRIVATE_FILE)


def ca_bundle_copy(team_name: str, source: Path) -> CaBundleCopy:
    """Where ``source`` (already checked by the team file reader) is kept for the profile."""
    from onboard.paths import app_dirs

    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    return CaBundleCopy(source, app_dirs().data / "ca" / f"{team_name}-{digest}.pem", data)
