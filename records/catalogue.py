"""Catalogue operations on regions, households, dossiers and users (roles, passwords, sign-in).

These take plain values: sealing an ID number needs the master key, which
``records`` never sees, so callers pass the sealed bytes and the blind index.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.doctypes import get_type
from records.exceptions import Conflict, Invalid, NotFound
from records.lockout import Lockout, locked_until, record_failure
from records.model import Document, DocumentType, Dossier, Household, Region, RegionLevel, User
from records.problems import N_, fail, taken
from records.policy import (ACCOUNT_ROLES, Grants, Principal, format_roles, parse_roles,
                            principal_grants)
from records.self_lookup import is_expired, normalise_code

_LEVEL_BY_LENGTH = {6: RegionLevel.county, 9: RegionLevel.township, 12: RegionLevel.village}
# 村 12-digit area code, a dash, a serial: 220381105012-0042 (DOMAIN.md)
HOUSEHOLD_NUMBER = re.compile(r"^[0-9]{12}-[0-9]{4}$")

_hasher = PasswordHasher()


def region_level(code: str) -> RegionLevel:
    if not code.isdigit() or len(code) not in _LEVEL_BY_LENGTH:
        raise Invalid(f"region code '{code}' must be 6 (county), 9 (township) or 12 (village) digits")
    return _LEVEL_BY_LENGTH[len(code)]


def add_region(session: Session, code: str, name: str, parent: str | None = None) -> Region:
    level = region_level(code)
    if session.get(Region, code) is not None:
        raise Conflict(f"region {code} already exists")
    if parent is None and level is not RegionLevel.county:
        # the parent is implied by the code's prefix
        parent = code[:6] if level is RegionLevel.township else code[:9]
    if parent is not None:
        if session.get(Region, parent) is None:
            raise NotFound(f"parent region {parent} does not exist; add it first")
        if not code.startswith(parent) or len(parent) >= len(code):
            raise Invalid(f"region {code} cannot lie under {parent}: codes nest by prefix")
    region = Region(code=code, name=name, level=level, parent_code=parent)
    session.add(region)
    return region


def check_household_number(number: str) -> None:
    if not HOUSEHOLD_NUMBER.match(number):
        raise Invalid(f"household number '{number}' must look like 220381105012-0042 "
                      "(the village's 12-digit code, a dash, a 4-digit serial)")


def add_household(session: Session, number: str, head_name: str, region_code: str, *,
                  head_id_sealed: bytes | None = None, head_id_index: str | None = None) -> Household:
    check_household_number(number)
    region = session.get(Region, region_code)
    if region is None:
        raise NotFound(f"region {region_code} does not exist; add it with 'hudang region add'")
    if region.level is not RegionLevel.village:
        raise Invalid(f"a household belongs to a village (12-digit code), not to {region_code}")
    if not number.startswith(region_code):
        raise Invalid(f"household number {number} does not start with its village code {region_code}")
    if not head_name.strip():
        raise Invalid("the head of household's name is empty")
    if find_household(session, number) is not None:
        raise Conflict(f"household {number} already exists")
    household = Household(number=number, head_name=head_name.strip(), region_code=region_code,
                          head_id_sealed=head_id_sealed, head_id_index=head_id_index)
    household.dossier = Dossier()
    session.add(household)
    return household


def find_household(session: Session, number: str) -> Household | None:
    return session.scalar(select(Household).where(Household.number == number))


def get_household(session: Session, number: str) -> Household:
    household = find_household(session, number)
    if household is None:
        raise NotFound(f"household {number} does not exist")
    return household


def document_type(session: Session, value: str) -> DocumentType:
    """A type of the vocabulary by code or Chinese name (records.doctypes)."""
    return get_type(session, value)


def next_seq(session: Session, dossier_id: int | None, volume_id: int | None = None) -> int:
    """The next place in a dossier (or, with ``volume_id``, in a volume)."""
    home = (Document.dossier_id == dossier_id) if volume_id is None else (
        Document.volume_id == volume_id)
    current = session.scalar(select(func.max(Document.seq)).where(home))
    return (current or 0) + 1


# Password policy for new passwords (docs/access.md): long enough, not one
# character class only, not the user name.
MIN_PASSWORD_LENGTH = 10


def check_password(username: str, password: str, field_name: str = "password") -> None:
    """Raise :class:`records.problems.Problems` (an :class:`Invalid`) with one sentence when
    ``password`` may not be set."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise fail(field_name, N_("the password must have at least %(n)s characters"),
                   n=MIN_PASSWORD_LENGTH)
    classes = {"lower" if c.islower() else "upper" if c.isupper() else
               "digit" if c.isdigit() else "other" for c in password}
    if len(classes) < 2:
        raise fail(field_name, N_("the password must mix at least two kinds of character "
                                  "(lower case, upper case, digits, other)"))
    if password.strip().casefold() == username.casefold():
        raise fail(field_name, N_("the password must not be the user name"))


def check_username(username: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{2,64}", username):
        raise fail("username", N_("the user name “%(name)s” must be 2-64 letters, digits, "
                                  "'.', '_' or '-'"), name=username[:64])


def add_user(session: Session, username: str, password: str, roles: str | Iterable[str],
             region_code: str | None = None) -> User:
    """Add an account holding one or more roles (``"staff"``, ``"staff,auditor"`` or a list)."""
    role_set = parse_roles(roles)
    for role in role_set:
        if role not in ACCOUNT_ROLES:
            raise Invalid(f"'{role.value}' cannot be given to an account")
    check_username(username)
    check_password(username, password)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise taken("username", N_("user %(name)s already exists"), name=username)
    if region_code is not None and session.get(Region, region_code) is None:
        raise fail("region", N_("there is no region %(code)s"), code=region_code[:20])
    user = User(username=username, password_hash=hash_password(password),
                roles=format_roles(role_set), region_code=region_code)
    session.add(user)
    return user


def hash_password(password: str) -> str:
    """The stored form of a password or a one-time reset code (Argon2id)."""
    return _hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    if user is not None and user.must_change_password:
        # a one-time reset code (records.accounts.issue_reset_code): typed as read aloud
        password = normalise_code(password)
    if user is None or not user.active or user.password_hash == UNUSABLE:
        # spend the same time as a real check, so timing does not reveal names
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return True


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user whose name and password these are, or None (no lock-out bookkeeping)."""
    user = session.scalar(select(User).where(User.username == username))
    return user if password_matches(user, password) else None


_DUMMY_HASH = _hasher.hash("not-a-real-password")
UNUSABLE = "!"  # a stored password no typed text matches (a used reset code)


@dataclass(frozen=True)
class SignIn:
    user_id: int | None
    # signed_in / must_change (with a one-time code) / wrong_password / locked /
    # unknown_user / disabled (locked by an administrator) / code_expired
    outcome: str

    @property
    def ok(self) -> bool:
        return self.user_id is not None


SIGN_IN = "sign_in"  # the kind of failure sign-ins count (records.lockout)


def sign_in(session: Session, username: str, password: str, *, now: datetime,
            lockout: Lockout, attempt_key: str) -> SignIn:
    """Check a sign-in and count a failure against ``attempt_key``; the caller commits.

    ``attempt_key`` is a keyed hash of the name typed (made by the caller, who
    holds the key), so unknown names are counted too without being stored.
    While the name is locked even the right password is refused, and the
    password is still checked so that a locked account answers as slowly as
    any other.
    """
    user = session.scalar(select(User).where(User.username == username))
    matches = password_matches(user, password)
    if locked_until(session, SIGN_IN, [attempt_key], now, lockout) is not None:
        if not matches:
            record_failure(session, SIGN_IN, [attempt_key], now)
        return SignIn(None, "locked")
    if user is None or not user.active:
        record_failure(session, SIGN_IN, [attempt_key], now)
        return SignIn(None, "unknown_user" if user is None else "disabled")
    if matches and user.must_change_password:
        if is_expired(user.password_expires_at, now):
            record_failure(session, SIGN_IN, [attempt_key], now)
            return SignIn(None, "code_expired")
        # one time only: the code stops working now, and the user must choose a password
        user.password_hash = UNUSABLE
        user.password_expires_at = None
        return SignIn(user.id, "must_change")
    if matches:
        return SignIn(user.id, "signed_in")
    record_failure(session, SIGN_IN, [attempt_key], now)
    session.flush()
    if locked_until(session, SIGN_IN, [attempt_key], now, lockout) is not None:
        return SignIn(None, "locked")
    return SignIn(None, "wrong_password")


def principal_of(user: User, grants: Grants | None = None) -> Principal:
    roles = parse_roles(user.roles)
    return Principal(name=user.username, roles=roles, region=user.region_code,
                     granted=principal_grants(roles, grants))


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username} does not exist")
    return user
