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
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from onboard.lab.sessions import (
    DEFAULT_DOCUMENT,
    INTERACTIVE_COMMAND,
    NON_INTERACTIVE_COMMAND,
    InvalidSessionParameters,
    LabInstance,
    LabSession,
    check_parameters,
)
from onboard.lab.shell import BIN_DIR, RC_FILE, SSM_USER_PROMPT

SSM_USER = "ssm-user"
#: Bytes typed into a non-interactive command that AWS's agent turns into signals (appconfig's
#: ByteControlSignalsLinux): there is no terminal to do it.
CONTROL_SIGNALS = {0x03: signal.SIGINT, 0x1C: signal.SIGQUIT}
#: Largest terminal side accepted in a Size message, in characters.
MAX_TERMINAL_SIDE = 10000

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
    """What the session's document runs: a shell, or the ``command`` parameter.

    As AWS's agent (session/shell/shell_unix.go): the interactive command runs under ``sh -c`` in a
    terminal; the non-interactive one is split like a shell would split it and run directly, no shell.
    """
    bash = shutil.which("bash") or "/bin/bash"
    interactive = [bash, "--noprofile", "--rcfile", str(RC_FILE), "-i"]
    if session.document_name == DEFAULT_DOCUMENT:
        return interactive
    parameters = check_parameters(session.document_name, session.parameters)
    command = " ".join(parameters["command"])
    if session.document_name == INTERACTIVE_COMMAND:
        return [*interactive, "-c", command]
    try:
        return shlex.split(command)
    except ValueError as err:
        raise InvalidSessionParameters(
            "InvalidParameters", f"Failed to parse commands input: {err}"
        ) from None


class ShellProcess:
    """The process a session's document runs, and the ends of it the data channel reads and writes.

    Shells and interactive commands run in a pseudo-terminal (:attr:`output_fd` is its master, input is
    typed into it); non-interactive commands run without one, as AWS's agent runs them: stdout and
    stderr go to one pipe, in the order written, and input only ever becomes signals (Ctrl-C, Ctrl-\\).
    Every descriptor is non-blocking: nothing here waits for the process.
    """

    def __init__(self, instance: LabInstance, session: LabSession, cols: int = 300, rows: int = 100):
        env = shell_environment(instance)
        home = Path(env["HOME"])
        home.mkdir(parents=True, exist_ok=True)
        argv = shell_command(session)
        self.interactive = session.document_name != NON_INTERACTIVE_COMMAND
        if self.interactive:
            self.output_fd, child_fd = os.openpty()
            child_stdin = child_fd
            argv = [sys.executable, "-I", "-S", "-c", _TAKE_TERMINAL, *argv]
        else:
            self.output_fd, child_fd = os.pipe()
            child_stdin = subprocess.DEVNULL
        try:
            self.resize(cols, rows)
            self.process = subprocess.Popen(
                argv,
                stdin=child_stdin,
                stdout=child_fd,
                stderr=child_fd,
                cwd=home,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            os.close(self.output_fd)
            raise
        finally:
            os.close(child_fd)
        os.set_blocking(self.output_fd, False)

    @property
    def input_fd(self) -> int:
        """Where typed input goes (the terminal), or -1: a non-interactive command has no input."""
        return self.output_fd if self.interactive else -1

    def resize(self, cols: int, rows: int) -> None:
        """Set the terminal size (the shell gets SIGWINCH from the kernel); no terminal, nothing to do."""
        if not self.interactive or self.output_fd < 0:
            return
        cols = max(1, min(int(cols), MAX_TERMINAL_SIDE))
        rows = max(1, min(int(rows), MAX_TERMINAL_SIDE))
        fcntl.ioctl(self.output_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def write_some(self, data: bytes | bytearray) -> int:
        """Type as much of ``data`` as the terminal takes now, without waiting; how many bytes it took.

        Input to a process that has gone is taken and discarded; input to a non-interactive command is
        taken whole, its control bytes sent as signals.
        """
        if not self.interactive:
            for byte in data:
                if byte in CONTROL_SIGNALS and self.process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, CONTROL_SIGNALS[byte])
            return len(data)
        try:
            return os.write(self.output_fd, data)
        except BlockingIOError:
            return 0
        except OSError:  # EIO: nobody is on the terminal any more
            return len(data)

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
        if self.output_fd >= 0:
            os.close(self.output_fd)
            self.output_fd = -1
