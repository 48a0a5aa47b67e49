"""The one door: every route and every command that shows or changes records passes here.

:func:`decide_at_door` asks the one policy (:func:`records.policy.decide`)
about one principal, one action and one object, and returns the audit event a
refusal leaves behind; :func:`admit` records that event and raises
:class:`Refused`. The web app and the CLI each have one thin adapter over
:func:`admit` (``web/door.py``, ``web/commands/_door.py``), and a test walks both
to check that nothing gets past without it.

A refusal never tells whether the object exists: a missing household and one
outside the reader's jurisdiction raise the same :class:`Refused` with the same
sentence, and the web answers both with the same 404.
"""
from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from records import audit
from records.exceptions import RecordsError
from records.policy import ACTION_WORDS, Action, Principal, decide


@dataclass(frozen=True)
class Target:
    """What is asked for.

    ``household`` and ``region`` place the object for the jurisdiction check
    (a household number and its village code); ``found`` is False when nothing
    by that name exists, which the door refuses exactly like a "no".
    """

    kind: str | None = None  # household / document / page / self_lookup / user / ...
    ident: str | None = None  # its id or number, as asked for
    household: str | None = None
    region: str | None = None
    page: int | None = None
    found: bool = True

    def describe(self) -> str:
        if self.kind is None:
            return "what was asked for"
        if self.kind == "page" or self.page is not None:
            return f"page {self.page} of document {self.ident}"
        return f"{self.kind} {self.ident}" if self.ident else f"the {self.kind}"


NOTHING = Target()  # an action on no one object: a search, the audit screen, managing users


class Refused(RecordsError):
    """Not found, or not allowed: deliberately the same to the caller.

    The sentence names what was asked for, never whether it exists or why it
    was refused (the audit event keeps the reason).
    """

    def __init__(self, target: Target, action: Action):
        self.target = target
        self.action = action
        if target.kind is None:
            super().__init__(f"this account may not {ACTION_WORDS.get(action, action.value)}")
        else:
            super().__init__(f"{target.describe()} was not found")


@dataclass(frozen=True)
class Knock:
    """One question at the door, with what to write in the audit log if the answer is no."""

    who: Principal
    action: Action
    target: Target = NOTHING
    event: str | None = None  # the audit action name (default: the action's name)
    purpose: str | None = None
    # page content is served only under a stated purpose (利用登记): "no purpose, no pages"
    needs_purpose: bool = False
    detail: dict = field(default_factory=dict)


NO_PURPOSE = "no purpose stated"


def decide_at_door(knock: Knock) -> audit.Event | None:
    """None when the policy allows ``knock``; otherwise the refusal's audit event."""
    target = knock.target
    allowed = target.found and decide(knock.who, knock.action, target.region,
                                      target.household).allowed
    detail = knock.detail
    if allowed and knock.needs_purpose and not knock.purpose:
        allowed, detail = False, {**detail, "reason": NO_PURPOSE}
    if allowed:
        return None
    return audit.Event(
        actor=knock.who.name, action=knock.event or knock.action.value, outcome=audit.REFUSED,
        object_type=target.kind, object_id=None if target.ident is None else str(target.ident)[:64],
        # a household that does not exist is not named in the log's household column
        household=target.household if target.found else None,
        page=target.page, purpose=knock.purpose, detail=detail)


# How many knocks this request or command has made: the web's and the CLI's adapters check
# that a route or command declared to admit its own objects did knock at least once.
_knocks: ContextVar[int] = ContextVar("hudang_door_knocks", default=0)


def knocks() -> int:
    """The number of knocks at the door so far in this context (a request, a command)."""
    return _knocks.get()


class DoorSkipped(RuntimeError):
    """A route or command answered without passing the door: a defect, never served."""


def admit(knock: Knock, record: Callable[[audit.Event], object]) -> None:
    """Let ``knock`` through, or record the refusal with ``record`` and raise :class:`Refused`."""
    _knocks.set(_knocks.get() + 1)
    event = decide_at_door(knock)
    if event is not None:
        record(event)
        raise Refused(knock.target, knock.action)
