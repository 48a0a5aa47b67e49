"""Lock-out after repeated failures: the one rule for sign-in and self-lookup (本人查阅).

Failures are kept as rows of :class:`records.model.FailedAttempt`, one per
failure and key (a keyed hash made by the caller: ``records`` never sees the
master key, and never stores a user name, an address or an ID number in the
clear). A key is locked while some run of ``failures`` failures, all within
``window``, ended less than ``lock`` ago. The count lives in the catalogue, so
every server process sees the same one.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.clock import as_utc
from records.model import FailedAttempt


@dataclass(frozen=True)
class Lockout:
    """``failures`` failures within ``window`` lock a key for ``lock``."""

    failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)

    @property
    def lookback(self) -> timedelta:
        """How far back a failure can still matter to :meth:`locked_until`."""
        return self.window + self.lock

    def locked_until(self, failures: Iterable[datetime], now: datetime) -> datetime | None:
        """When the lock-out ends, or None if the key is not locked at ``now``."""
        times = sorted(as_utc(t) for t in failures)
        n = max(1, self.failures)
        until = None
        for i in range(n - 1, len(times)):
            if times[i] - times[i - n + 1] <= self.window:
                end = times[i] + self.lock
                if end > now and (until is None or end > until):
                    until = end
        return until


def record_failure(session: Session, kind: str, keys: Iterable[str], now: datetime) -> None:
    """Count one failure of ``kind`` (sign_in, request, redeem) against each key."""
    for key in keys:
        session.add(FailedAttempt(kind=kind, key=key, at=now))


def locked_until(session: Session, kind: str, keys: Iterable[str], now: datetime,
                 rule: Lockout) -> datetime | None:
    """When the latest lock-out of any of ``keys`` ends, or None if none is locked."""
    since = now - rule.lookback
    ends = []
    for key in keys:
        times = session.scalars(select(FailedAttempt.at).where(
            FailedAttempt.kind == kind, FailedAttempt.key == key, FailedAttempt.at >= since))
        end = rule.locked_until(times, now)
        if end is not None:
            ends.append(end)
    return max(ends) if ends else None
