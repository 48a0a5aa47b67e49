"""Signed-in sessions, kept in the catalogue so that every server process agrees on them.

The browser's session cookie is signed (Flask), but a signed cookie alone cannot be taken
back: a copy made before signing out would open the account again, in any process. So a
sign-in starts a row of :class:`records.model.SignedIn` under the SHA-256 of a random token
that only the cookie holds; each request asks whether that row is still open, and signing
out (or an idle timeout) closes it. The token itself is never stored.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from records.model import SignedIn

# rows of ended or expired sessions are kept this long after, then removed at a sign-in
KEEP_ENDED = timedelta(days=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(session: Session, user_id: int, now: datetime, lifetime: timedelta) -> str:
    """Open a session for ``user_id``; returns the token the cookie carries. Rows of this
    user's sessions that ended (or outlived ``lifetime``) a while ago are removed."""
    session.execute(delete(SignedIn).where(
        SignedIn.user_id == user_id,
        or_(SignedIn.ended_at < now - KEEP_ENDED, SignedIn.started_at < now - lifetime - KEEP_ENDED)))
    token = secrets.token_urlsafe(32)
    session.add(SignedIn(token_hash=_hash(token), user_id=user_id, started_at=now))
    return token


def is_open(session: Session, token: str | None, user_id: int) -> bool:
    """True if ``token`` names a session of ``user_id`` that has not ended."""
    if not token:
        return False
    row = session.get(SignedIn, _hash(token))
    return row is not None and row.user_id == user_id and row.ended_at is None


def end(session: Session, token: str | None, now: datetime) -> None:
    """Close the session ``token`` names (signing out, an idle timeout), in every process."""
    if token:
        session.execute(update(SignedIn).where(SignedIn.token_hash == _hash(token),
                                               SignedIn.ended_at.is_(None))
                        .values(ended_at=now))

