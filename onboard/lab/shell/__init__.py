"""What a lab instance's shell is made of: a start-up file and a simulated ``sudo``, ``whoami``, ``hostname``.

This is a SIMULATION of switching users, not a real one. Every lab shell runs as the one OS user that
runs the lab; no password, no setuid, no root. ``sudo`` (the script in ``bin/``) understands the forms
people type on an EC2 instance (``sudo su - USER``, ``sudo su``, ``sudo -iu USER``, ``sudo -u USER CMD``,
``sudo -i``, ``sudo -s``): it starts a nested shell, or runs the command, with USER, LOGNAME, HOME and
the prompt of the target user, and ``whoami`` reports that user; ``exit`` returns to the previous one.
An unknown user gets sudo's or su's own error text. Files written "as" another user are owned by the
lab's OS user on disk, in that user's folder of the instance tree. ``hostname`` prints the instance's
EC2-style name (``ip-10-0-1-23``) rather than the lab machine's.

The scripts read their world from the environment the lab instance sets:
``ONBOARD_LAB_ROOT`` (the instance's folder tree), ``ONBOARD_LAB_USERS`` (the OS users besides
ssm-user and root), ``ONBOARD_LAB_HOSTNAME`` (for prompts), ``ONBOARD_LAB_USER`` (who "you" are),
``ONBOARD_LAB_RC`` (this start-up file) and ``ONBOARD_LAB_PS1`` (the prompt of the next shell).
"""

from __future__ import annotations

from pathlib import Path

SHELL_DIR = Path(__file__).resolve().parent
#: Put first on the shell's PATH: the simulated ``sudo``, ``whoami`` and ``hostname``.
BIN_DIR = SHELL_DIR / "bin"
#: The interactive shells' start-up file (``bash --rcfile``).
RC_FILE = SHELL_DIR / "labrc.sh"

#: The prompt of ssm-user on Amazon Linux 2, whose login shell is ``sh`` (bash 4.2).
SSM_USER_PROMPT = "sh-4.2$ "


def user_prompt(user: str, hostname: str) -> str:
    """Amazon Linux's bash prompt, ``[analyst@ip-10-0-1-23 ~]$ `` (bash expands ``\\W`` to the folder)."""
    mark = "#" if user == "root" else "$"
    return f"[{user}@{hostname} \\W]{mark} "
