"""A lab instance's shell: a pseudo-terminal running bash, looking like a shell on the EC2 instance.

Each session gets a fresh shell as ``ssm-user``, started where AWS's agent starts it (its working folder:
``/usr/bin`` on Amazon Linux, prompt ``sh-4.2$``; ``/var/snap/amazon-ssm-agent/<revision>`` on Ubuntu, where
the agent is a snap, prompt ``$``), with HOME ``/home/ssm-user``, and the instance role's lab credentials
plus the lab endpoint in its environment, so that ``aws s3 cp`` on the instance reaches the lab's S3, like
an instance profile does on EC2. Nothing from the lab operator's own environment (their AWS_* variables,
~/.aws) leaks in.

Where bubblewrap works (:mod:`onboard.lab.sandbox`) the shell runs in a sandbox whose ``/`` is the
instance's; elsewhere it runs on the host as the lab's OS user, every instance path under the instance's
folder tree (``<root>/home/ssm-user``...). :func:`layout_of` says which paths the shell sees.
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
from dataclasses import dataclass
from pathlib import Path

from onboard.lab import sandbox
from onboard.lab.commandoutput import OutputAfterExit
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
#: The snap revision of the agent on the lab's Ubuntu instances (the one the team's write-up shows).
SNAP_REVISION = "1480"
#: A class lab's CA in the instance's /opt/onboard-lab (AWS_CA_BUNDLE for aws on the instance).
CA_FILE = "lab-ca.pem"


@dataclass(frozen=True)
class Flavour:
    """What an instance's operating system makes a session look like."""

    name: str
    #: Where AWS's agent starts sessions: its working folder (``WorkingDirectory=/usr/bin/`` in the
    #: agent's systemd unit; a snap service runs in its ``$SNAP_DATA`` folder). ssm-user cannot write there.
    start_folder: str
    #: ssm-user's prompt: its shell is ``sh``, which is bash 4.2 on Amazon Linux 2 and dash on Ubuntu.
    prompt: str


AMAZON_LINUX = Flavour("amazon-linux", "/usr/bin", SSM_USER_PROMPT)
UBUNTU = Flavour("ubuntu", f"/var/snap/amazon-ssm-agent/{SNAP_REVISION}", "$ ")


def flavour_of(instance: LabInstance) -> Flavour:
    return UBUNTU if instance.platform_name.lower().startswith("ubuntu") else AMAZON_LINUX


@dataclass(frozen=True)
class Layout:
    """Where an instance's folders are as its shells see them."""

    #: ``""`` in a sandbox (the instance's folders are at ``/``), else the instance's tree on the host.
    root: str
    sandboxed: bool

    def path(self, inside: str) -> str:
        """``inside`` (``/home/ssm-user``) as the shell sees it."""
        return self.root + inside


def layout_of(instance: LabInstance) -> Layout:
    if sandbox.isolation().sandboxed:
        return Layout("", True)
    return Layout(str(instance.root), False)


#: Bytes typed into a non-interactive command that AWS's agent turns into signals (appconfig's
#: ByteControlSignalsLinux): there is no terminal to do it.
CONTROL_SIGNALS = {0x03: signal.SIGINT, 0x1C: signal.SIGQUIT}
#: Largest terminal side accepted in a Size message, in characters.
MAX_TERMINAL_SIDE = 10000

#: The child becomes a session leader (start_new_session; in a sandbox, where it is the PID namespace's
#: second process, setsid) and takes the pty as its controlling terminal, so that Ctrl-C typed by the
#: learner reaches the foreground job as SIGINT.
_TAKE_TERMINAL = (
    "import fcntl, os, sys, termios\n"
    "if os.getsid(0) != os.getpid():\n"
    "    os.setsid()\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
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


def _prepare_tree(instance: LabInstance, layout: Layout) -> None:
    """The instance's folders a shell needs: every user's home, /root, /tmp, /var, the agent's start
    folder (read-only to ssm-user, as on AWS), the lab's tools in /opt/onboard-lab, and in a sandbox the
    instance's /etc/passwd and friends."""
    root = instance.root
    for user in (SSM_USER, *instance.users):
        instance.home_of(user).mkdir(parents=True, exist_ok=True)
    (root / "root").mkdir(parents=True, exist_ok=True)
    for shared in ("tmp", "var/tmp"):
        (root / shared).mkdir(parents=True, exist_ok=True)
        (root / shared).chmod(0o1777)
    start = flavour_of(instance).start_folder
    if not (layout.sandboxed and start.startswith("/usr/")):  # a sandbox has the host's /usr
        start_folder = root / start.lstrip("/")
        start_folder.mkdir(parents=True, exist_ok=True)
        start_folder.chmod(0o555)
    _lab_tools(instance)
    if layout.sandboxed:
        sandbox.write_identity_files(root, instance.users, hostname_of(instance))


def _lab_tools(instance: LabInstance) -> None:
    """/opt/onboard-lab: the simulated sudo/whoami/hostname and the shells' start-up file (copied,
    executable: wheels drop mode bits) and a link to the AWS CLI, as an instance has it on PATH."""
    tools = instance.root / "opt" / "onboard-lab"
    (tools / "bin").mkdir(parents=True, exist_ok=True)
    for source, copy in [(script, tools / "bin" / script.name) for script in BIN_DIR.iterdir()] + [
        (RC_FILE, tools / RC_FILE.name)
    ]:
        if not copy.exists() or copy.read_bytes() != source.read_bytes():
            shutil.copyfile(source, copy)
            copy.chmod(0o755)
    if instance.ca_bundle is not None:  # a class lab's CA, for aws on the instance (AWS_CA_BUNDLE)
        shutil.copyfile(instance.ca_bundle, tools / CA_FILE)
    aws = _aws_cli()
    link = tools / "bin" / "aws"
    if aws and not (link.is_symlink() and os.readlink(link) == aws):
        link.unlink(missing_ok=True)
        link.symlink_to(aws)


def shell_environment(instance: LabInstance, layout: Layout, user: str = SSM_USER) -> dict[str, str]:
    """The environment of a shell on ``instance``: only what an EC2 shell would have, plus the lab's."""
    home = layout.path(f"/home/{user}")
    path = [layout.path("/opt/onboard-lab/bin"), "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
    flavour = flavour_of(instance)
    environment = {
        "HOME": home,
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
        "AWS_CONFIG_FILE": f"{home}/.aws/config",
        "AWS_SHARED_CREDENTIALS_FILE": f"{home}/.aws/credentials",
        "ONBOARD_LAB_ROOT": layout.root,
        "ONBOARD_LAB_USERS": " ".join(instance.users),
        "ONBOARD_LAB_HOSTNAME": hostname_of(instance),
        "ONBOARD_LAB_FLAVOUR": flavour.name,
        "ONBOARD_LAB_USER": user,
        "ONBOARD_LAB_RC": rc_file(layout),
        "ONBOARD_LAB_PS1": flavour.prompt,
    }
    if instance.role_session_token:
        environment["AWS_SESSION_TOKEN"] = instance.role_session_token.reveal()
    if instance.ca_bundle is not None:
        environment["AWS_CA_BUNDLE"] = layout.path(f"/opt/onboard-lab/{CA_FILE}")
    return environment


def rc_file(layout: Layout) -> str:
    return layout.path(f"/opt/onboard-lab/{RC_FILE.name}")


def shell_command(session: LabSession, layout: Layout) -> list[str]:
    """What the session's document runs: a shell, or the ``command`` parameter.

    As AWS's agent (session/shell/shell_unix.go): the interactive command runs under ``sh -c`` in a
    terminal; the non-interactive one is split like a shell would split it and run directly, no shell.
    """
    bash = shutil.which("bash") or "/bin/bash"
    interactive = [bash, "--noprofile", "--rcfile", rc_file(layout), "-i"]
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
    stderr go to one file, in the order written, handed to :attr:`output_fd` once the command has ended
    (:mod:`onboard.lab.commandoutput`), and input only ever becomes signals (Ctrl-C, Ctrl-\\).
    Every descriptor is non-blocking: nothing here waits for the process.
    """

    def __init__(self, instance: LabInstance, session: LabSession, cols: int = 300, rows: int = 100):
        if session.run_as != SSM_USER and session.run_as not in instance.users:
            # The agent's own words when Run As names a user the instance does not have.
            user = session.run_as or "(none)"
            raise ValueError(f"failed to start pty since RunAs user {user} does not exist")
        layout = layout_of(instance)
        _prepare_tree(instance, layout)
        env = shell_environment(instance, layout, session.run_as)
        argv = shell_command(session, layout)
        self.sandboxed = layout.sandboxed
        self.interactive = session.document_name != NON_INTERACTIVE_COMMAND
        #: A non-interactive command's output, held until it has ended (None: a terminal's, read as it comes).
        self._after_exit: OutputAfterExit | None = None
        if self.interactive:
            self.output_fd, child_fd = os.openpty()
            child_stdin: int = child_fd
            argv = [sys.executable, "-I", "-S", "-c", _TAKE_TERMINAL, *argv]
        else:
            self._after_exit = OutputAfterExit()
            self.output_fd, child_fd = self._after_exit.read_fd, self._after_exit.command_fd()
            child_stdin = subprocess.DEVNULL
        start = layout.path(flavour_of(instance).start_folder)
        if layout.sandboxed:
            # the environment (with the role's secret) reaches the shell through bwrap's own, never argv
            argv = sandbox.sandboxed_command(
                argv, root=instance.root, hostname=hostname_of(instance), cwd=start
            )
            start = str(instance.root)
        try:
            self.resize(cols, rows)
            self.process = subprocess.Popen(
                argv,
                stdin=child_stdin,
                stdout=child_fd,
                stderr=child_fd,
                cwd=start,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            os.close(self.output_fd)
            if self._after_exit is not None:
                self._after_exit.release()
            raise
        finally:
            os.close(child_fd)
        os.set_blocking(self.output_fd, False)
        if self._after_exit is not None:
            self._after_exit.hand_over_when(self.process)

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
                    self._signal_command(CONTROL_SIGNALS[byte])
            return len(data)
        try:
            return os.write(self.output_fd, data)
        except BlockingIOError:
            return 0
        except OSError:  # EIO: nobody is on the terminal any more
            return len(data)

    @property
    def exited(self) -> bool:
        """The shell has ended (jobs it left may still hold the terminal), or the document's non-interactive
        command has ended and all its output is in :attr:`output_fd`."""
        if self._after_exit is not None:
            return self._after_exit.done
        return self.process.poll() is not None

    def terminate(self) -> None:
        """End the session's processes.

        A shell or interactive command is hung up, like a closed terminal, then killed if anything
        remains. A non-interactive command is killed at once, as AWS's agent kills it when the session is
        terminated (agent/session/shell/shell.go, processCommandsWithExec: ``execCmd.Kill()``, a SIGKILL
        with no hang-up first), so no trap of the command's runs. On AWS only the command gets that SIGKILL
        and what it started lives on as an orphan; the lab kills those as well (in a sandbox they die with
        the command anyway: bwrap ends the PID namespace when its command ends).
        """
        if self._after_exit is not None:
            self._after_exit.cancel()
            self._signal_session(signal.SIGKILL)
            self.process.wait()
            self.close()
            return
        self._signal_session(signal.SIGHUP)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        if self._session_processes():
            time.sleep(0.2)
            self._signal_session(signal.SIGKILL)
        self.process.wait()
        self.close()

    def _session_processes(self) -> list[int]:
        """Processes of the session: the shell and every job it started, stopped or in the background
        (they have process groups of their own, so killpg alone would miss them): those in the shell's
        session, and those descended from it (a sandbox's processes are in sessions of their own)."""
        return [pid for pid, _, _ in self._processes()]

    def _processes(self) -> list[tuple[int, str, str]]:
        """(pid, command name, its parent's command name) of every live process of the session (see
        :meth:`_session_processes`)."""
        leader = self.process.pid
        if not Path("/proc").is_dir():  # not Linux: the shell's own process group is the best we know
            return [(leader, "", "")] if self.process.poll() is None else []
        table: dict[int, tuple[int, int, str]] = {}  # pid -> (parent, session, name)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # fields after "(comm)": state ppid pgrp session ...
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 3 and fields[0] != "Z":
                name = stat[stat.find("(") + 1 : stat.rfind(")")]
                table[int(entry.name)] = (int(fields[1]), int(fields[3]), name)
        found = []
        for pid, (parent, session, name) in table.items():
            ancestor, hops = parent, 0
            while ancestor not in (0, 1, leader) and ancestor in table and hops < 64:
                ancestor, hops = table[ancestor][0], hops + 1
            if pid == leader or session == leader or ancestor == leader:
                found.append((pid, name, table[parent][2] if parent in table else ""))
        return found

    def _signal_command(self, signum: int) -> None:
        """Signal the document's command as AWS's agent does for Ctrl-C in a non-interactive session: its
        own process only, not what it started (session/shell/execcmd/execcmd.go, Signal:
        ``cmd.Process.Signal``). In a sandbox that is the process bubblewrap started (bubblewrap does not
        pass signals on)."""
        if not self.sandboxed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)
            return
        for pid, name, parent in self._processes():
            if name != "bwrap" and parent == "bwrap":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

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
