"""Keeping accounts: roles and region, locking, one-time reset codes, changing a password.

Adding an account and signing in are ``records.catalogue``; the password policy is
``records.catalogue.check_password``. A reset replaces the password by a one-time code
(stored only as its Argon2 hash, good once until it expires, ``HUDANG_RESET_CODE_HOURS``);
signing in with it (``records.catalogue.sign_in``) uses it up, and the user must then
choose a new password before anything else.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.catalogue import add_user, check_password, hash_password, password_matches
from records.model import Region, User
from records.policy import ACCOUNT_ROLES, format_roles, parse_roles
from records.problems import N_, fail
from records.self_lookup import format_code, new_code


NO_ROLE = N_("choose at least one role")


def set_roles(user: User, roles: str | Iterable[str]) -> bool:
    """Give ``user`` exactly ``roles``; False when it holds them already."""
    try:
        role_set = parse_roles(roles)
    except ValueError:
        role_set = frozenset()
    if not role_set or any(r not in ACCOUNT_ROLES for r in role_set):
        raise fail("roles", NO_ROLE)
    stored = format_roles(role_set)
    if stored == user.roles:
        return False
    user.roles = stored
    return True


def set_region(session: Session, user: User, code: str | None) -> bool:
    """Set the account's jurisdiction (None: the whole deployment)."""
    code = (code or "").strip() or None
    if code is not None and session.get(Region, code) is None:
        raise fail("region", N_("there is no region %(code)s"), code=code[:20])
    if code == user.region_code:
        return False
    user.region_code = code
    return True


def set_active(user: User, active: bool, *, by: str) -> bool:
    """Lock (``active=False``) or unlock an account; nobody locks their own."""
    if not active and user.username == by:
        raise fail("active", N_("you cannot lock your own account"))
    if user.active == active:
        return False
    user.active = active
    return True


def add_with_code(session: Session, username: str, roles: str | Iterable[str],
                  region_code: str | None, *, now: datetime, lifetime: timedelta) -> tuple[User, str]:
    """Add an account whose holder signs in once with a one-time code (returned) and then
    chooses a password: an administrator never needs to know anyone's password."""
    user = add_user(session, username, secrets.token_urlsafe(24) + "-Aa1", roles, region_code)
    return user, issue_reset_code(user, now=now, lifetime=lifetime)


def issue_reset_code(user: User, *, now: datetime, lifetime: timedelta) -> str:
    """Replace the password by a new one-time code; returns the code, formatted to read
    aloud (it is not kept: only its hash)."""
    code = new_code()
    user.password_hash = hash_password(code)
    user.must_change_password = True
    user.password_expires_at = now + lifetime
    return format_code(code)


def change_password(user: User, new: str, again: str, *, current: str | None = None) -> None:
    """Set a new password; ``current`` must match unless the user signed in with a one-time
    code (``must_change_password``). Raises :class:`Problems` naming the field."""
    if not user.must_change_password and not password_matches(user, current or ""):
        raise fail("current", N_("the current password is not right"))
    if new != again:
        raise fail("again", N_("the two new passwords are not the same"))
    if not user.must_change_password and new == current:
        raise fail("new", N_("the new password must differ from the current one"))
    check_password(user.username, new, "new")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.password_expires_at = None


def users_in(session: Session, scope: str | None, *, offset: int = 0,
             limit: int = 50) -> tuple[list[User], int]:
    """One page of the accounts an administrator with jurisdiction ``scope`` keeps (those
    whose region lies inside it; all when ``scope`` is None), and how many there are."""
    q = select(User)
    if scope is not None:
        q = q.where(User.region_code.startswith(scope, autoescape=True))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    return list(session.scalars(q.order_by(User.username).offset(offset).limit(limit))), total
