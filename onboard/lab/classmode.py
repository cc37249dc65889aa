"""A class lab: one practice lab for every learner of a class, on an address the room reaches, over TLS.

``onboard lab up --class class.csv --listen ADDRESS`` seeds the class's learners (the class list of
:mod:`onboard.classroom`), serves the API endpoint and the data channel over TLS with a certificate from
the lab's own CA (:mod:`onboard.lab.tls`), and writes one kit per learner in ``<state folder>/kits/``:
``<name>/`` and ``<name>.zip`` with the class's team file (https endpoint, ``ca_bundle = "ca.pem"``,
``lessons.publish = true``), the learner's own access-key CSV and the CA certificate. The trainer's and the
lab admin's keys stay in the state folder's ``credentials/``; no kit holds another person's key.

Class mode is refused where the learners' shells cannot be sandboxed (:mod:`onboard.lab.sandbox`): each
learner would get a shell that reads the trainer's keys. An address other than loopback is served, with a
warning: the lab is then reachable by everyone on that network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from onboard.errors import EnvironmentProblem
from onboard.lab import sandbox
from onboard.lab.tls import is_loopback, listen_address

if TYPE_CHECKING:
    from onboard.classroom import ClassList, Kit
    from onboard.lab.seed import AccessKeyPair
    from onboard.lab.state import LabPaths
    from onboard.lab.tls import LabTls
    from onboard.lab.world import World

KITS_FOLDER = "kits"


@dataclass(frozen=True)
class ClassMode:
    """What makes a lab a class lab: the address it listens on and the class it serves."""

    address: str
    learners: ClassList

    @classmethod
    def of(cls, listen: str, class_file: Path | None, names: list[str] | None) -> ClassMode:
        """The class from ``class_file`` (a class list CSV) or ``names``; the address checked."""
        from onboard.classroom import class_from_names, read_class_list
        from onboard.errors import UsageError

        address = listen_address(listen)
        if class_file is not None:
            learners = read_class_list(class_file)
        elif names:
            learners = class_from_names(names)
        else:
            raise UsageError(
                "--listen serves a class lab, and no class was given",
                "Name the class list: --class class.csv (a CSV with a 'name' column), or --learners a,b,c.",
            )
        return cls(address, learners)

    @property
    def names(self) -> list[str]:
        return list(self.learners.names)

    @property
    def exposed(self) -> bool:
        """Whether the address reaches beyond this computer."""
        return not is_loopback(self.address)

    def exposure_warning(self) -> str | None:
        if not self.exposed:
            return None
        return (
            f"the class lab listens on {self.address}: anyone on that network can reach its API and data "
            "channel (every request still needs a learner's or the trainer's keys). Stop it with "
            "`onboard lab down` when the class is over."
        )


def require_sandbox() -> None:
    """Refuse class mode where learners' shells would run unsandboxed (they could read every key)."""
    isolation = sandbox.isolation()
    if isolation.sandboxed:
        return
    raise EnvironmentProblem(
        "a class lab needs every learner's shells in a sandbox, and this computer cannot make one: "
        + isolation.detail,
        "Install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap) and allow unprivileged user "
        "namespaces, then start the class lab again; a lab for yourself alone (without --listen) runs "
        "without it.",
    )


def kits_dir(paths: LabPaths) -> Path:
    return paths.root / KITS_FOLDER


def write_kits(
    paths: LabPaths,
    world: World,
    classroom: ClassMode,
    *,
    endpoint_url: str,
    tls: LabTls,
    keys: dict[str, AccessKeyPair],
) -> list[Kit]:
    """One kit per learner of the class in :func:`kits_dir`, each with that learner's key only."""
    from onboard.classroom import CA_FILE, TEAM_FILE, write_kit
    from onboard.lab.teamfile import kit_team_text

    out = kits_dir(paths)
    ca_pem = tls.ca_pem()
    kits = []
    for learner in classroom.learners.learners:
        pair = keys[learner.name]
        folder = out / learner.name
        kits.append(
            write_kit(
                out,
                learner,
                team_text=kit_team_text(world, endpoint_url, folder / TEAM_FILE, folder / CA_FILE),
                access_key_id=pair.access_key_id,
                secret_access_key=pair.secret_access_key,
                ca_bundle_pem=ca_pem,
            )
        )
    _remove_stale_kits(out, {learner.name for learner in classroom.learners.learners})
    return kits


def _remove_stale_kits(out: Path, names: set[str]) -> None:
    """Kits of learners no longer in the class hold keys the lab no longer issues: remove them."""
    import shutil

    for entry in out.iterdir():
        name = entry.name.removesuffix(".zip")
        if name not in names:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
