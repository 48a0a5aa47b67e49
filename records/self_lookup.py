"""Citizen self-lookup (本人查阅): a person reads their own household's dossier.

The flow (DOMAIN.md, "Self-lookup"): a person asks online with name, ID number
and allowance-certificate number (低保证号); the answer is the same neutral
sentence whether or not anything matched. A matching request waits in the
queue of the household's township; staff check the ID card in person and
approve, which issues a one-time access code. With that code and the ID
number the person opens a read-only session on their own household's dossier
until the code's expiry.

This module holds the tables and the rules, as plain functions over plain
values: code generation and hashing, expiry, and the rate-limit / lock-out
decision. It stores no ID number, certificate number or code in the clear:
ID numbers and certificate numbers are HMAC blind indexes made by the caller
(``records`` never sees the master key), and codes are stored as an HMAC
under a key the caller passes in.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from records.model import Base, Household, utcnow

# No 0/O, 1/I/L: a code is read aloud and copied by hand at the counter.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10  # 31**10: about 49.5 bits, behind a lock-out after a few failures


# -- tables ----------------------------------------------------------------------
class HouseholdCertificate(Base):
    """The household's allowance certificate (低保证), as a blind index of its number.

    Kept beside ``household`` rather than in it: the catalogue had no such field,
    and a household without one on file still exists. When a row exists, a
    self-lookup request must give the same number to match.
    """

    __tablename__ = "household_certificate"

    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), primary_key=True)
    # HMAC-SHA256 of the normalised certificate number; the number itself is not stored
    certificate_no_index: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RequestStatus(str, enum.Enum):
    pending = "pending"  # waiting for staff to see the ID card
    approved = "approved"  # a code was issued and not yet used
    redeemed = "redeemed"  # the code opened a reading session (until expires_at)
    closed = "closed"  # the reader ended the session
    rejected = "rejected"  # staff declined


class AccessRequest(Base):
    """One matching self-lookup request (本人查阅申请). Non-matching requests leave no row."""

    __tablename__ = "self_lookup_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, native_enum=False, length=10), default=RequestStatus.pending,
        index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # HMAC of the one-time code (see hash_code); the code itself is shown once and never stored
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    household: Mapped[Household] = relationship()


class LookupAttempt(Base):
    """One attempt at the public forms, kept for the rate limit (in the database, so that
    every worker process sees the same count). Keys are keyed hashes, never the values."""

    __tablename__ = "self_lookup_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # request / redeem
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    ip_key: Mapped[str] = mapped_column(String(64), index=True)
    id_key: Mapped[str] = mapped_column(String(64), index=True)
    # counts toward the lock-out: every request (the answer must not tell a match from none),
    # and every refused redemption
    counted: Mapped[bool] = mapped_column(Boolean)


# -- settings --------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """``max_failures`` failures within ``window`` lock the key for ``lockout``."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class SelfLookupSettings:
    code_lifetime: timedelta = timedelta(hours=24)
    limits: Limits = field(default_factory=Limits)

    # environment variable -> (default, unit); documented in docs/self-lookup.md
    ENV = {
        "HUDANG_SELF_LOOKUP_HOURS": "24",
        "HUDANG_SELF_LOOKUP_MAX_FAILURES": "5",
        "HUDANG_SELF_LOOKUP_WINDOW_MINUTES": "15",
        "HUDANG_SELF_LOOKUP_LOCKOUT_MINUTES": "30",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SelfLookupSettings:
        def number(name: str) -> float:
            raw = env.get(name) or cls.ENV[name]
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
            if value <= 0:
                raise ValueError(f"{name}={raw!r} must be greater than 0")
            return value

        return cls(
            code_lifetime=timedelta(hours=number("HUDANG_SELF_LOOKUP_HOURS")),
            limits=Limits(
                max_failures=max(1, int(number("HUDANG_SELF_LOOKUP_MAX_FAILURES"))),
                window=timedelta(minutes=number("HUDANG_SELF_LOOKUP_WINDOW_MINUTES")),
                lockout=timedelta(minutes=number("HUDANG_SELF_LOOKUP_LOCKOUT_MINUTES")),
            ),
        )


# -- codes -------------------------------------------------------------------------
def new_code(length: int = CODE_LENGTH) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalise_code(text: str) -> str:
    """What the reader typed, without spaces or dashes, upper case."""
    return "".join(c for c in text.upper() if c not in " -\t")


def format_code(code: str) -> str:
    """``ABCDEFGHJK`` -> ``ABCDE-FGHJK``, for reading aloud."""
    half = (len(code) + 1) // 2
    return f"{code[:half]}-{code[half:]}"


def hash_code(key: bytes, code: str) -> str:
    """HMAC-SHA256 of the normalised code: a leaked database does not reveal codes, and
    without the key they cannot be guessed offline either."""
    if len(key) < 16:
        raise ValueError("the code key must be at least 16 bytes")
    return hmac.new(key, normalise_code(code).encode("ascii", "replace"),
                    hashlib.sha256).hexdigest()


def as_utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; everything here is stored in UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or now >= as_utc(expires_at)


# -- rate limit ------------------------------------------------------------------
def locked_until(failures: Iterable[datetime], now: datetime, limits: Limits) -> datetime | None:
    """When a key's lock-out ends, or None if it is not locked now.

    Locked while some run of ``max_failures`` failures, all within ``window``,
    ended less than ``lockout`` ago.
    """
    times = sorted(as_utc(t) for t in failures)
    n = limits.max_failures
    until = None
    for i in range(n - 1, len(times)):
        if times[i] - times[i - n + 1] <= limits.window:
            end = times[i] + limits.lockout
            if end > now and (until is None or end > until):
                until = end
    return until


def lookback(limits: Limits) -> timedelta:
    """How far back failures can still matter to :func:`locked_until`."""
    return limits.window + limits.lockout


# -- catalogue operations --------------------------------------------------------
def set_certificate(session: Session, household: Household, certificate_no_index: str) -> None:
    row = session.get(HouseholdCertificate, household.id)
    if row is None:
        session.add(HouseholdCertificate(household_id=household.id,
                                         certificate_no_index=certificate_no_index))
    else:
        row.certificate_no_index = certificate_no_index
        row.updated_at = utcnow()


def find_match(session: Session, id_index: str, name: str,
               certificate_no_index: str) -> Household | None:
    """The household whose head has this ID number and this name, and whose certificate,
    when one is on file, has this number."""
    name = name.strip()
    for household in session.scalars(select(Household).where(Household.head_id_index == id_index)):
        if not hmac.compare_digest(household.head_name.encode(), name.encode()):
            continue
        cert = session.get(HouseholdCertificate, household.id)
        if cert is not None and not hmac.compare_digest(cert.certificate_no_index,
                                                        certificate_no_index):
            continue
        return household
    return None


def open_request(session: Session, household: Household) -> tuple[AccessRequest, bool]:
    """The household's pending request, or a new one; True when it is new."""
    existing = session.scalar(select(AccessRequest).where(
        AccessRequest.household_id == household.id,
        AccessRequest.status == RequestStatus.pending))
    if existing is not None:
        return existing, False
    req = AccessRequest(household=household, status=RequestStatus.pending, requested_at=utcnow())
    session.add(req)
    session.flush()
    return req, True


def pending_requests(session: Session, region_prefix: str | None) -> list[AccessRequest]:
    """Pending requests of households under ``region_prefix`` (None: all), oldest first.
    The caller still asks the policy about each one."""
    query = (select(AccessRequest).join(Household)
             .where(AccessRequest.status == RequestStatus.pending)
             .order_by(AccessRequest.requested_at, AccessRequest.id))
    if region_prefix is not None:
        query = query.where(Household.region_code.startswith(region_prefix, autoescape=True))
    return list(session.scalars(query))


def approve(req: AccessRequest, *, by: str, code_hash: str, now: datetime,
            lifetime: timedelta) -> None:
    if req.status is not RequestStatus.pending:
        raise ValueError(f"request {req.id} is {req.status.value}, not pending")
    req.status = RequestStatus.approved
    req.decided_by = by
    req.decided_at = now
    req.code_hash = code_hash
    req.expires_at = now + lifetime


def reject(req: AccessRequest, *, by: str, now: datetime) -> None:
    if req.status is not RequestStatus.pending:
        raise ValueError(f"request {req.id} is {req.status.value}, not pending")
    req.status = RequestStatus.rejected
    req.decided_by = by
    req.decided_at = now


class RedeemRefused(Exception):
    """The code and ID number do not open a session. ``reason`` is for the audit log only:
    the reader is told one sentence whatever the reason."""

    def __init__(self, reason: str, request_id: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


def redeem(session: Session, code_hash: str, id_index: str, now: datetime) -> AccessRequest:
    """Use a code once: the approved, unexpired request with this code for this ID number."""
    req = session.scalar(select(AccessRequest).where(AccessRequest.code_hash == code_hash))
    if req is None:
        raise RedeemRefused("unknown code")
    head = req.household.head_id_index or ""
    if not hmac.compare_digest(head, id_index):
        raise RedeemRefused("code of another ID number", req.id)
    if req.status is not RequestStatus.approved:
        raise RedeemRefused(f"code already {req.status.value}", req.id)
    if is_expired(req.expires_at, now):
        raise RedeemRefused("code expired", req.id)
    req.status = RequestStatus.redeemed
    req.redeemed_at = now
    return req


def session_request(session: Session, request_id: int, now: datetime) -> AccessRequest | None:
    """The request behind a citizen's reading session, while that session is still valid."""
    req = session.get(AccessRequest, request_id)
    if req is None or req.status is not RequestStatus.redeemed or is_expired(req.expires_at, now):
        return None
    return req


def record_attempt(session: Session, kind: str, ip_key: str, id_key: str, counted: bool,
                   now: datetime) -> None:
    session.add(LookupAttempt(kind=kind, at=now, ip_key=ip_key, id_key=id_key, counted=counted))


def lock_for(session: Session, kind: str, ip_key: str, id_key: str, now: datetime,
             limits: Limits) -> datetime | None:
    """When the later of the two lock-outs (per address, per ID number) ends, or None."""
    since = now - lookback(limits)
    ends = []
    for column, key in ((LookupAttempt.ip_key, ip_key), (LookupAttempt.id_key, id_key)):
        times = session.scalars(select(LookupAttempt.at).where(
            LookupAttempt.kind == kind, column == key, LookupAttempt.counted.is_(True),
            LookupAttempt.at >= since))
        end = locked_until(times, now, limits)
        if end is not None:
            ends.append(end)
    return max(ends) if ends else None


__all__ = [
    "AccessRequest", "HouseholdCertificate", "LookupAttempt", "RequestStatus", "Limits",
    "SelfLookupSettings", "RedeemRefused",
]
