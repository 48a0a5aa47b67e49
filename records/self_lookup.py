"""Citizen self-lookup (本人查阅): a person reads their own household's dossier.

The flow (DOMAIN.md, "Self-lookup"): a person asks online with name, ID number
and allowance-certificate number (低保证号); the answer is the same neutral
sentence whether or not anything matched. A matching request waits in the
queue of the household's township; staff check the ID card in person and
approve, which issues a one-time access code. With that code and the ID
number the person opens a read-only session on their own household's dossier
until the code's expiry.

This module holds the rules, as plain functions over plain values: code
generation and hashing, expiry, approving, re-issuing and declining; the
tables are in ``records.model`` and the lock-out of the public forms is
``records.lockout``. It stores no ID number, certificate number or code in the clear:
ID numbers and certificate numbers are HMAC blind indexes made by the caller
(``records`` never sees the master key), and codes are stored as an HMAC
under a key the caller passes in.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.clock import as_utc, utcnow
from records.lockout import Lockout
from records.model import AccessRequest, HouseholdCertificate, Household, RequestStatus

# No 0/O, 1/I/L: a code is read aloud and copied by hand at the counter.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10  # 31**10: about 49.5 bits, behind a lock-out after a few failures


@dataclass(frozen=True)
class SelfLookupSettings:
    """How long a code lives, and the lock-out of the public forms (``HUDANG_SELF_LOOKUP_*``,
    read by the one settings object)."""

    code_lifetime: timedelta = timedelta(hours=24)
    lockout: Lockout = field(default_factory=lambda: Lockout(lock=timedelta(minutes=30)))


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


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or now >= as_utc(expires_at)


# -- catalogue operations --------------------------------------------------------
def set_certificate(session: Session, household: Household, certificate_no_index: str,
                    sealed: bytes | None = None) -> None:
    """Record the household's certificate by its blind index (and, to be re-indexed after a
    key rotation, the number ``sealed`` by the caller)."""
    row = session.get(HouseholdCertificate, household.id)
    if row is None:
        session.add(HouseholdCertificate(household_id=household.id,
                                         certificate_no_index=certificate_no_index,
                                         certificate_no_sealed=sealed))
    else:
        row.certificate_no_index = certificate_no_index
        row.certificate_no_sealed = sealed
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


def reissue(req: AccessRequest, *, by: str, code_hash: str, now: datetime,
            lifetime: timedelta) -> None:
    """A new code for an approved request whose code was lost before it was used.

    The old code stops working at once (only one code hash is kept); the new
    one runs for ``lifetime`` from now.
    """
    if req.status is not RequestStatus.approved:
        raise ValueError(f"request {req.id} is {req.status.value}, not approved")
    req.decided_by = by
    req.decided_at = now
    req.code_hash = code_hash
    req.expires_at = now + lifetime


def decided_requests(session: Session, region_prefix: str | None,
                     limit: int = 50) -> list[AccessRequest]:
    """The latest decided requests (approved, used, closed or declined) of households under
    ``region_prefix`` (None: all), newest decision first; the caller asks the policy about each."""
    query = (select(AccessRequest).join(Household)
             .where(AccessRequest.status != RequestStatus.pending)
             .order_by(AccessRequest.decided_at.desc(), AccessRequest.id.desc()).limit(limit))
    if region_prefix is not None:
        query = query.where(Household.region_code.startswith(region_prefix, autoescape=True))
    return list(session.scalars(query))


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
