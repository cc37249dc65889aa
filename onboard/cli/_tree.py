"""The command tree: built only as far as a command line needs it, each command recording itself as it runs.

typer turns every command function into a click command by reading its signature and annotations; for
all of onboard's commands that took ~0.1 s of every run, ``onboard connect`` and ``--version`` included.
So the root group knows each command only by where it lives (:class:`LazyCommands`) and has typer build
the one a command line names; ``--help`` and anything that walks the tree builds them all.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, ClassVar

import typer
from typer.core import MarkupMode, TyperGroup
from typer.main import get_group

from onboard.cli._common import Environment, click_core, command_name, get_current_context


class LazyCommands(MutableMapping[str, click_core.Command]):
    """A group's commands by name, each imported and built by typer the first time it is looked up.

    ``where`` maps a name to ``"module:attribute"``: a typer app (a command group) or a command function.
    Its order is the order ``--help`` lists them in. Names, ``in`` and ``len`` import nothing.
    """

    def __init__(self, where: Mapping[str, str], markup: MarkupMode) -> None:
        self._where = dict(where)
        self._markup = markup
        self._built: dict[str, click_core.Command] = {}

    def __getitem__(self, name: str) -> click_core.Command:
        if name not in self._built:
            self._built[name] = record_invocations(_build(name, self._where[name], self._markup), (name,))
        return self._built[name]

    def __setitem__(self, name: str, command: click_core.Command) -> None:
        self._where.setdefault(name, "")
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._where[name]
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def _build(name: str, where: str, markup: MarkupMode) -> click_core.Command:
    """The click command typer makes of ``where`` (``"module:attribute"``), as ``add_typer`` or
    ``command`` on the root app would have made it."""
    module, _, attribute = where.partition(":")
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(rich_markup_mode=markup)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """A root group whose commands are :class:`LazyCommands` of its subclass's ``where``."""

    where: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.where, self.rich_markup_mode)


def record_invocations(command: click_core.Command, path: tuple[str, ...] = ()) -> click_core.Command:
    """Make every command under ``command`` (``path`` names it) record its name and --json as it starts.

    It writes them into the run's :class:`Environment` (the root context's ``obj``), so that
    :func:`onboard.cli.main` reports an error the way the command was asked. :func:`onboard.cli.main`
    applies it to the tree it runs and :class:`LazyCommands` to each command it builds, so a command or
    command group added anywhere (``app.add_typer``, ``app.command``, the root's ``where``) is covered
    without doing anything.
    """
    children = getattr(command, "commands", None)
    if isinstance(children, LazyCommands):  # its commands are covered as they are built
        return command
    if children is not None:  # a group: its own callback runs before a command is chosen
        for name, child in children.items():
            record_invocations(child, (*path, name))
    elif command.callback is not None:
        # Whatever the command calls its --json parameter (JsonOption names it as_json).
        json_param = next((param.name for param in command.params if "--json" in param.opts), None)
        command.callback = _recording(command.callback, command_name(list(path)), json_param)
    return command


def _recording(callback: Callable[..., Any], name: str, json_param: str | None) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **params: Any) -> Any:
        env = get_current_context().find_object(Environment)
        if env is not None:
            env.command = name
            env.as_json = bool(params.get(json_param)) if json_param else False
        return callback(*args, **params)

    return run
