"""Instance shells in a bubblewrap sandbox whose filesystem looks like the instance's.

On Linux with bubblewrap (``bwrap``, Debian's ``bubblewrap`` package) and user namespaces, every session's
process runs in its own mount, PID, IPC and UTS namespace, as uid 1001 (``ssm-user``) with no capabilities:

- ``/usr`` (and ``/bin``, ``/lib``... as the host has them) is the host's, read-only;
- ``/home`` holds ``ssm-user``'s and the team's users' homes, ``/root`` root's, ``/tmp`` and ``/var`` are the
  instance's own (all from the instance's folder tree, writable), ``/etc`` has the instance's ``passwd``,
  ``group`` and ``hostname`` plus the host's certificates and name-service files, read-only;
- ``/opt/onboard-lab`` holds the lab's simulated ``sudo`` and the AWS CLI's Python (read-only);
- nothing else of the host is there: not the lab's state folder (keys, admin secret), not other instances,
  not the lab operator's home. The network is shared, so ``aws`` on the instance reaches the lab.

Elsewhere (macOS, no bubblewrap, user namespaces disabled) shells run as today, as the lab's own OS user in
the instance's folder tree on the host: :func:`isolation` says which, for ``onboard lab status``.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: ssm-user's uid and gid inside the sandbox: the first user the agent creates on a fresh instance.
SANDBOX_UID = 1001
#: Top-level host folders that make up the operating system; each is bound read-only (or, where the host
#: has it as a link such as ``/bin -> usr/bin``, linked the same way).
SYSTEM_FOLDERS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: The instance's own top-level folders (from its folder tree), writable.
INSTANCE_FOLDERS = ("home", "root", "tmp", "var")
#: Host files under /etc that programs need (certificates, name service, terminal and time zone data).
HOST_ETC = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "ssl",
    "pki",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "resolv.conf",
    "hosts",
    "protocols",
    "services",
    "mime.types",
    "inputrc",
    "terminfo",
)


@dataclass(frozen=True)
class Isolation:
    """How the lab's instance shells are kept apart from the lab's host."""

    #: "sandbox" (bubblewrap) or "host" (shells run on this computer as the lab's OS user).
    mode: str
    #: What the learner's shells can see, in one sentence, for `onboard lab status`.
    detail: str

    @property
    def sandboxed(self) -> bool:
        return self.mode == "sandbox"

    def describe(self) -> dict[str, str]:
        return {"mode": self.mode, "detail": self.detail}


@functools.cache
def isolation() -> Isolation:
    """Whether instance shells run sandboxed here (bubblewrap works), and why not if they do not."""
    if not sys.platform.startswith("linux"):
        return _unsandboxed("bubblewrap sandboxes need Linux")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return _unsandboxed("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    probe = [bwrap, "--unshare-user", "--uid", str(SANDBOX_UID), *_system_binds(), "--", "/bin/sh", "-c", ":"]
    try:
        ran = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return _unsandboxed(f"bubblewrap did not run: {err}")
    if ran.returncode != 0:
        reason = ran.stderr.decode(errors="replace").strip().splitlines()
        return _unsandboxed(
            f"bubblewrap cannot create a sandbox here ({reason[-1] if reason else ran.returncode})"
        )
    return Isolation(
        "sandbox",
        "each instance's shells run in a bubblewrap sandbox as ssm-user: the host's /usr read-only, the "
        "instance's own homes, /tmp and /var; the lab's state folder is not visible",
    )


def _unsandboxed(reason: str) -> Isolation:
    return Isolation(
        "host",
        f"instance shells run on this computer as your own user, in the instance's folder tree ({reason}); "
        "they can read what you can, including the lab's state folder",
    )


def _system_binds() -> list[str]:
    arguments: list[str] = []
    for name in SYSTEM_FOLDERS:
        host = Path("/") / name
        if host.is_symlink():
            arguments += ["--symlink", str(host.readlink()), str(host)]
        elif host.is_dir():
            arguments += ["--ro-bind", str(host), str(host)]
    return arguments


def _ro_binds(paths: Iterable[Path]) -> list[str]:
    arguments: list[str] = []
    for path in paths:
        if path.exists():
            arguments += ["--ro-bind", str(path), str(path)]
    return arguments


def python_folders() -> list[Path]:
    """Where the lab's Python lives (the AWS CLI on the instance runs on it), unless under /usr already."""
    folders = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return sorted(f for f in folders if not f.is_relative_to("/usr"))


def sandboxed_command(
    argv: list[str],
    *,
    root: Path,
    hostname: str,
    cwd: str,
) -> list[str]:
    """``argv`` run in a sandbox over the instance tree ``root`` (see the module's docstring), starting in
    ``cwd`` (a path inside the sandbox). bwrap passes its own environment on: give the shell's to it, not
    on the command line, where every user of the host could read it."""
    bwrap = shutil.which("bwrap") or "bwrap"
    arguments = [
        bwrap,
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        hostname,
        "--die-with-parent",
        "--new-session",  # no way to reach a terminal outside (TIOCSTI)
        *_system_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--dir",
        "/etc",
        *[arg for name in HOST_ETC for arg in _ro_binds([Path("/etc") / name])],
    ]
    for name in ("passwd", "group", "hostname"):
        arguments += ["--ro-bind", str(root / "etc" / name), f"/etc/{name}"]
    for name in INSTANCE_FOLDERS:
        arguments += ["--bind", str(root / name), f"/{name}"]
    arguments += ["--ro-bind", str(root / "opt"), "/opt"]
    arguments += _ro_binds(python_folders())
    arguments += ["--remount-ro", "/", "--chdir", cwd]
    return [*arguments, "--", *argv]


def write_identity_files(root: Path, users: Iterable[str], hostname: str) -> None:
    """The instance's /etc/passwd, /etc/group and /etc/hostname, in ``root / "etc"``.

    Every file of the instance tree belongs to ssm-user inside the sandbox (one uid is mapped): the team's
    users are listed so that ``id analyst`` and ``ls ~analyst`` work as on the instance.
    """
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    people = [("root", 0, "/root", "/bin/bash"), ("ssm-user", SANDBOX_UID, "/home/ssm-user", "/bin/sh")]
    people += [(user, SANDBOX_UID + 1 + n, f"/home/{user}", "/bin/bash") for n, user in enumerate(users)]
    passwd = "".join(f"{name}:x:{uid}:{uid}::{home}:{shell}\n" for name, uid, home, shell in people)
    passwd += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    group = "".join(f"{name}:x:{uid}:\n" for name, uid, _, _ in people) + "nogroup:x:65534:\n"
    for name, text in (("passwd", passwd), ("group", group), ("hostname", hostname + "\n")):
        path = etc / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
