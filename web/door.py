"""The web app's side of the one door (``records.door``).

Every route declares what it does with one decorator, and only these decorators
make a route:

- ``@guarded(Action.X)``: sign-in required; the route is admitted here for the
  action alone (a search, the audit screen, managing users), refusals recorded.
- ``@guarded(Action.X, per_object=True)``: sign-in required; the service the view
  calls admits the object itself (a household, a page), with its household and
  region, through :meth:`ingest.archive.Archive.admit`.
- ``@for_citizen(Action.X)``: a citizen's self-lookup session (本人查阅); the
  service admits each object for the citizen's principal.
- ``@own_account``: sign-in required, and the route acts only on the signed-in
  user's own account (changing one's password): no policy action, no one else's records.
- ``@public``: no records shown or changed (signing in, the public self-lookup
  forms, static files).

A refusal raises :class:`records.door.Refused`; the app answers every one with the
same 404 in one error handler (``web.app``). ``tests/test_door.py`` walks the URL
map and fails on a route that declares nothing.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, redirect, request, url_for

from records.door import DoorSkipped, Knock, knocks
from records.policy import Action


@dataclass(frozen=True)
class Declaration:
    """What a route declared: its action (None for a public route) and where it is admitted."""

    action: Action | None
    per_object: bool = False
    citizen: bool = False
    own_account: bool = False  # the signed-in user's own account only


def declaration(view: Callable) -> Declaration | None:
    return getattr(view, "hudang_door", None)


def _declare(view: Callable, decl: Declaration) -> Callable:
    view.hudang_door = decl
    return view


def archive():
    return current_app.extensions["hudang"]


def admit(knock: Knock) -> None:
    """Pass, or record the refusal and raise ``Refused`` (answered with 404)."""
    archive().admit(knock)


def _knocked(view: Callable, *args, **kwargs):
    """Run a view that admits its own objects, and fail closed if it never knocked.

    A citizen's route answers without knocking only when there is no citizen (its
    ``citizen_required`` sent the reader back to the code form)."""
    before = knocks()
    result = view(*args, **kwargs)
    if knocks() == before and (g.get("principal") or g.get("citizen")) is not None:
        raise DoorSkipped(f"the route {request.endpoint} answered without passing the door")
    return result


def guarded(action: Action, *, per_object: bool = False, event: str | None = None):
    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if g.principal is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if not per_object:
                admit(Knock(g.principal, action, event=event))
                return view(*args, **kwargs)
            return _knocked(view, *args, **kwargs)

        return _declare(wrapped, Declaration(action, per_object=per_object))

    return decorate


def for_citizen(action: Action):
    """A route of a citizen's reading session (本人查阅), whose view admits each object for
    the citizen; ``web.selflookup.citizen_required`` must wrap the view too (it builds
    ``g.citizen``, or sends the reader back to the code form)."""
    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            return _knocked(view, *args, **kwargs)

        return _declare(wrapped, Declaration(action, per_object=True, citizen=True))

    return decorate


def own_account(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.principal is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return _declare(wrapped, Declaration(None, own_account=True))


def public(view: Callable) -> Callable:
    return _declare(view, Declaration(None))
