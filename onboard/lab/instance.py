"""A lab instance's shell: a pseudo-terminal running bash in the instance's own folder tree.

Each session gets a fresh login shell as the OS user running the lab (there is no other user: see
:mod:`onboard.lab.shell` for the sudo simulation), with HOME in ``<root>/home/ssm-user``, the prompt of
ssm-user on Amazon Linux (``sh-4.2$``), and the instance role's lab credentials plus the lab endpoint in
its environment, so that ``aws s3 cp`` on the instance reaches the lab's S3, like an instance profile
does on EC2. Nothing from the lab operator's own environment (their AWS_* variables, ~/.aws) leaks in.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from onboard.lab.sessions import LabInstance, LabSession
from onboard.lab.shell import BIN_DIR, RC_FILE, SSM_USER_PROMPT

SSM_USER = "ssm-user"
RUN_SHELL = "SSM-SessionManagerRunShell"
INTERACTIVE_COMMAND = "AWS-StartInteractiveCommand"
NON_INTERACTIVE_COMMAND = "AWS-StartNonInteractiveCommand"
DOCUMENTS = (RUN_SHELL, INTERACTIVE_COMMAND, NON_INTERACTIVE_COMMAND)

#: The child becomes a session leader (start_new_session) and takes the pty as its controlling
#: terminal, so that Ctrl-C typed by the learner reaches the foreground job as SIGINT.
_TAKE_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def hostname_of(instance: LabInstance) -> str:
    """The instance's host name, ``ip-10-0-X-Y`` like an EC2 private DNS name, stable per instance."""
    if instance.hostname:
        return instance.hostname
    digest = hashlib.sha256(instance.instance_id.encode()).digest()
    return f"ip-10-0-{digest[0] % 16}-{digest[1] % 250 + 4}"


def _aws_cli() -> str | None:
    """The AWS CLI the lab's own Python has (awscli is a test/lab dependency), else the one on PATH."""
    beside_python = Path(sys.executable).with_name("aws")
    return str(beside_python) if beside_python.exists() else shutil.which("aws")


def _lab_bin(instance: LabInstance) -> Path:
    """The instance's own bin folder: the simulated sudo/whoami/hostname (copied executable: wheels drop
    mode bits) and a link to the AWS CLI, as an Amazon Linux instance has it on PATH."""
    target = instance.root / "opt" / "onboard-lab" / "bin"
    target.mkdir(parents=True, exist_ok=True)
    for script in BIN_DIR.iterdir():
        copy = target / script.name
        if not copy.exists() or copy.read_bytes() != script.read_bytes():
            shutil.copyfile(script, copy)
            copy.chmod(0o755)
    aws = _aws_cli()
    link = target / "aws"
    if aws and not (link.is_symlink() and os.readlink(link) == aws):
        link.unlink(missing_ok=True)
        link.symlink_to(aws)
    return target


def shell_environment(instance: LabInstance, user: str = SSM_USER) -> dict[str, str]:
    """The environment of a shell on ``instance``: only what an EC2 shell would have, plus the lab's."""
    home = instance.home_of(user)
    path = [str(_lab_bin(instance)), "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
    environment = {
        "HOME": str(home),
        "USER": user,
        "LOGNAME": user,
        "SHELL": "/bin/bash",
        "TERM": "xterm-256color",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PATH": os.pathsep.join(path),
        "AWS_ACCESS_KEY_ID": instance.role_access_key_id,
        "AWS_SECRET_ACCESS_KEY": instance.role_secret_access_key.reveal(),
        "AWS_DEFAULT_REGION": instance.region,
        "AWS_REGION": instance.region,
        "AWS_ENDPOINT_URL": instance.endpoint_url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "ONBOARD_LAB_ROOT": str(instance.root),
        "ONBOARD_LAB_USERS": " ".join(instance.users),
        "ONBOARD_LAB_HOSTNAME": hostname_of(instance),
        "ONBOARD_LAB_USER": user,
        "ONBOARD_LAB_RC": str(RC_FILE),
        "ONBOARD_LAB_PS1": SSM_USER_PROMPT,
    }
    if instance.role_session_token:
        environment["AWS_SESSION_TOKEN"] = instance.role_session_token.reveal()
    return environment


def shell_command(session: LabSession) -> list[str]:
    """What the session's document runs: a shell, or the ``command`` parameter."""
    bash = shutil.which("bash") or "/bin/bash"
    interactive = [bash, "--noprofile", "--rcfile", str(RC_FILE), "-i"]
    if session.document_name == RUN_SHELL:
        return interactive
    command = " ".join(session.parameters.get("command") or [])
    if not command:
        raise ValueError(f"{session.document_name} needs the parameter 'command'")
    if session.document_name == INTERACTIVE_COMMAND:
        return [bash, "--noprofile", "--rcfile", str(RC_FILE), "-i", "-c", command]
    return [bash, "-c", command]


class ShellProcess:
    """A process in a pseudo-terminal; the caller reads and writes :attr:`master_fd`."""

    def __init__(self, instance: LabInstance, session: LabSession, cols: int = 300, rows: int = 100):
        env = shell_environment(instance)
        home = Path(env["HOME"])
        home.mkdir(parents=True, exist_ok=True)
        argv = shell_command(session)
        self.master_fd, slave_fd = os.openpty()
        try:
            self.resize(cols, rows)
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _TAKE_TERMINAL, *argv],
                stdin=slave_fd,
                stdout=slave_fd,
                stderr=slave_fd,
                cwd=home,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            os.close(self.master_fd)
            raise
        finally:
            os.close(slave_fd)
        os.set_blocking(self.master_fd, False)

    def resize(self, cols: int, rows: int) -> None:
        """Set the terminal size (the shell gets SIGWINCH from the kernel)."""
        cols = max(1, min(int(cols), 10000))
        rows = max(1, min(int(rows), 10000))
        fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def write(self, data: bytes, timeout: float = 2.0) -> bool:
        """Type ``data`` into the terminal; False if the shell stopped reading for ``timeout`` seconds."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            try:
                written = os.write(self.master_fd, view)
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                select.select([], [self.master_fd], [], min(remaining, 0.05))
                continue
            view = view[written:]
        return True

    @property
    def exited(self) -> bool:
        """The shell (or the document's command) has ended; jobs it left may still hold the terminal."""
        return self.process.poll() is not None

    def terminate(self) -> None:
        """Hang up every process of the session (like closing a terminal), then kill what remains."""
        self._signal_session(signal.SIGHUP)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        if self._session_processes():
            time.sleep(0.2)
            self._signal_session(signal.SIGKILL)
        self.process.wait()
        self.close()

    def _session_processes(self) -> list[int]:
        """Processes in the shell's session: the shell and every job it started, stopped or in the
        background (they have their own process groups, so killpg alone would miss them)."""
        session = self.process.pid
        found = []
        proc = Path("/proc")
        if not proc.is_dir():  # not Linux: the shell's own process group is the best we know
            return [session] if self.process.poll() is None else []
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # fields after "(comm)": state ppid pgrp session ...
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 3 and int(fields[3]) == session and fields[0] != "Z":
                found.append(int(entry.name))
        return found

    def _signal_session(self, signum: int) -> None:
        if not Path("/proc").is_dir():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)
            return
        for pid in self._session_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
            if signum == signal.SIGHUP:  # a stopped job ignores SIGHUP until it continues
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def close(self) -> None:
        if self.master_fd >= 0:
            os.close(self.master_fd)
            self.master_fd = -1
