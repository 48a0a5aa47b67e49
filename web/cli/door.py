"""The command line's side of the one door (``records.door``).

Every command declares what it does with one decorator:

- ``@guarded(Action.X)``: the command is admitted here for the action alone (managing
  regions, users and households, rebuilding the index, reading the audit log);
- ``@guarded(Action.X, per_object=True)``: the service the command calls admits each
  object itself (a household to ingest into, a document to read or re-OCR);
- ``@unguarded``: no records shown or changed (``init``, ``serve``, ``demo``, ``settings``).

Guarded commands take ``--as USER`` and receive who acts as their second argument; a
refusal is recorded and ends the command with one sentence and the exit code of
"not found". ``tests/test_door.py`` walks the command tree and fails on a command that
declares nothing.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import click

from records.door import DoorSkipped, Knock, knocks
from records.policy import Action
from web.cli.context import Context
from web.door import Declaration

as_option = click.option("--as", "as_user", metavar="USER",
                         help="Act as this hudang user (default: the operating-system user).")


def guarded(action: Action, *, per_object: bool = False, event: str | None = None):
    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapped(*args, as_user: str | None = None, **kwargs):
            ctx = click.get_current_context()
            c = ctx.find_object(Context)
            who = c.principal(as_user)
            if not per_object:
                c.archive.admit(Knock(who, action, event=event))
                return f(c, who, *args, **kwargs)
            before = knocks()
            result = f(c, who, *args, **kwargs)
            if knocks() == before:  # fail closed: a command must not show records unasked
                raise DoorSkipped(f"the command {ctx.command_path} ran without passing the door")
            return result

        wrapped.hudang_door = Declaration(action, per_object=per_object)
        return as_option(wrapped)

    return decorate


def unguarded(f: Callable) -> Callable:
    """A command that shows and changes no records; it gets the context as first argument."""
    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        return f(click.get_current_context().find_object(Context), *args, **kwargs)

    wrapped.hudang_door = Declaration(None)
    return wrapped
