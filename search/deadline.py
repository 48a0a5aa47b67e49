"""A time budget for one search.

``SearchIndex.search`` starts a :class:`Deadline` and the work of the search
checks it as it goes (:func:`check_time`): each candidate page checked
against its stored text, each page collected from Whoosh, each page whose
phrase positions are compared, each sampled page of an estimate. A search
past its budget raises :class:`search.SearchTimedOut` at the next check, so
it frees its thread instead of holding it.

The running deadline is kept in a context variable (one per thread) because
some checks happen inside Whoosh's own matchers, which are built deep inside
Whoosh and cannot be handed the deadline.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from search.exceptions import SearchTimedOut

__all__ = ["Clock", "Deadline", "check_time", "time_limit"]

Clock = Callable[[], float]


class Deadline:
    """``seconds`` from now on ``clock`` (a monotonic clock in seconds)."""

    __slots__ = ("seconds", "_clock", "_end")

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def check(self) -> None:
        if self._clock() > self._end:
            raise SearchTimedOut(self.seconds)


_current: ContextVar[Deadline | None] = ContextVar("hudang_search_deadline", default=None)


@contextmanager
def time_limit(seconds: float | None, clock: Clock = time.monotonic) -> Iterator[None]:
    """Run the block under a budget of ``seconds`` (None: no budget)."""
    token = _current.set(None if seconds is None else Deadline(seconds, clock))
    try:
        yield
    finally:
        _current.reset(token)


def check_time() -> None:
    """Raise :class:`SearchTimedOut` if the running search is past its budget."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check()
