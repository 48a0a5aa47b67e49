"""Accounts as administrators keep them, and each user's own password: the services the
user screens and ``hudang user ...`` share.

Every change passes the one door for ``manage`` with the account as its object (placed
in the account's region, the whole deployment as ``""``, so that an administrator of one
township keeps only that township's accounts), and is recorded in the audit log. The
rules are ``records.accounts`` and ``records.catalogue``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.archive import Archive
from records import accounts as rules, audit
from records.catalogue import add_user, check_username
from records.door import Knock, Target
from records.model import User
from records.policy import Action, Principal, parse_roles, region_scope
from records.problems import N_, fail, gather


@dataclass(frozen=True)
class Account:
    """An account as an administrator sees it (never its password)."""

    username: str
    roles: list[str]
    region: str | None
    region_name: str | None
    active: bool
    must_change_password: bool
    created_at: datetime

    def as_json(self) -> dict:
        return {"username": self.username, "roles": self.roles, "region": self.region,
                "active": self.active, "must_change_password": self.must_change_password}


def _account(user: User) -> Account:
    return Account(user.username, user.roles.split(","), user.region_code,
                   user.region.name if user.region else None, user.active,
                   user.must_change_password, user.created_at)


def _target(username: str, region: str | None, found: bool = True) -> Target:
    # "" places an account of the whole deployment: only an administrator of the whole
    # deployment keeps it
    return Target("user", username[:64], region=region or "", found=found)


def _admitted(archive: Archive, s: Session, who: Principal, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    archive.admit(Knock(who, Action.manage, _target(username, user and user.region_code,
                                                    user is not None)))
    return user


def _record(archive: Archive, who: Principal, action: str, username: str, **detail) -> None:
    archive.record(audit.Event(actor=who.name, action=action, object_type="user",
                               object_id=username, detail=detail))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def listing(archive: Archive, who: Principal, *, offset: int = 0,
            limit: int = 50) -> tuple[list[Account], int]:
    """The accounts ``who`` keeps, a page at a time (the caller passed the door)."""
    with archive.Session() as s:
        users, total = rules.users_in(s, region_scope(who), offset=offset, limit=limit)
        return [_account(u) for u in users], total


def account(archive: Archive, who: Principal, username: str) -> Account:
    with archive.Session() as s:
        return _account(_admitted(archive, s, who, username))


def create(archive: Archive, who: Principal, username: str, roles: Iterable[str] | str,
           region: str | None, *, password: str | None = None) -> str | None:
    """Add an account. With ``password`` it is the account's password (the CLI asks for
    it); without, the account gets a one-time code, returned to be handed over once, and
    its holder chooses a password on first sign-in."""
    region = (region or "").strip() or None
    archive.admit(Knock(who, Action.manage, _target(username, region)))
    gather(lambda: check_username(username), lambda: _some_roles(roles))
    code = None
    with archive.Session() as s, s.begin():
        if password is None:
            user, code = rules.add_with_code(s, username, roles, region, now=_now(),
                                             lifetime=archive.settings.reset_code_lifetime)
        else:
            user = add_user(s, username, password, roles, region)
        stored = user.roles
    _record(archive, who, "user_add", username, roles=stored, region=region or "",
            one_time_code=password is None)
    return code


def _some_roles(roles: Iterable[str] | str) -> None:
    if not _roles(roles):
        raise fail("roles", rules.NO_ROLE)


def _roles(roles: Iterable[str] | str) -> frozenset:
    try:
        return parse_roles(roles)
    except ValueError:
        return frozenset()


def update(archive: Archive, who: Principal, username: str, roles: Iterable[str] | str,
           region: str | None) -> list[str]:
    """Give an account these roles and this region; returns what changed. The new region
    must lie inside the administrator's jurisdiction too, and nobody takes the
    administrator role from themselves."""
    region = (region or "").strip() or None
    archive.admit(Knock(who, Action.manage, _target(username, region)))
    with archive.Session() as s, s.begin():
        user = _admitted(archive, s, who, username)
        before = (user.roles, user.region_code)
        if username == who.name and "administrator" not in _roles(roles):
            raise fail("roles", N_("you cannot take the administrator role from yourself"))
        changed = [name for name, did in (("roles", rules.set_roles(user, roles)),
                                          ("region", rules.set_region(s, user, region))) if did]
        after = (user.roles, user.region_code)
    if changed:
        _record(archive, who, "user_edit", username, changed=changed,
                before={"roles": before[0], "region": before[1] or ""},
                after={"roles": after[0], "region": after[1] or ""})
    return changed


def set_active(archive: Archive, who: Principal, username: str, active: bool) -> bool:
    """Lock (``active=False``) or unlock an account; False when it already was."""
    with archive.Session() as s, s.begin():
        user = _admitted(archive, s, who, username)
        changed = rules.set_active(user, active, by=who.name)
    if changed:
        _record(archive, who, "user_unlock" if active else "user_lock", username)
    return changed


def reset_password(archive: Archive, who: Principal, username: str) -> str:
    """Replace the account's password by a one-time code; returns the code (shown once)."""
    with archive.Session() as s, s.begin():
        user = _admitted(archive, s, who, username)
        code = rules.issue_reset_code(user, now=_now(),
                                      lifetime=archive.settings.reset_code_lifetime)
        expires = user.password_expires_at
    _record(archive, who, "user_reset_password", username,
            expires=expires.isoformat(timespec="minutes"))
    return code


def change_own_password(archive: Archive, username: str, current: str | None, new: str,
                        again: str) -> None:
    """A signed-in user changes their own password (no policy action: their own account)."""
    with archive.Session() as s, s.begin():
        user = s.scalar(select(User).where(User.username == username))
        forced = user.must_change_password
        rules.change_password(user, new, again, current=current)
    archive.record(audit.Event(actor=username, action="password_change", object_type="user",
                               object_id=username, detail={"after_reset": forced}))


def must_change(archive: Archive, username: str) -> bool:
    with archive.Session() as s:
        user = s.scalar(select(User).where(User.username == username))
        return bool(user and user.must_change_password)


