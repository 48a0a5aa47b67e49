"""The audit log: append-only and hash-chained.

Every event holds the SHA-256 of the previous event, and its own hash covers
all of its fields and that previous hash. Altering, deleting or reordering
any event breaks the chain at that event, which :func:`verify` reports.
Events carry no ID numbers and no document text: objects are named by id.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Engine, select, update

from records.model import AuditEvent, AuditHead

GENESIS = "0" * 64

ALLOWED = "allowed"
REFUSED = "refused"


@dataclass(frozen=True)
class Event:
    actor: str
    action: str  # e.g. search, read_page, read_text, ingest, login, audit_verify
    outcome: str = ALLOWED
    object_type: str | None = None  # household / document / page
    object_id: str | None = None
    household: str | None = None
    page: int | None = None
    purpose: str | None = None
    detail: dict = field(default_factory=dict)


_FIELDS = (
    "id", "at", "actor", "action", "outcome", "object_type", "object_id",
    "household", "page", "purpose", "detail", "prev_hash",
)


def event_hash(row: dict) -> str:
    canonical = json.dumps({k: row[k] for k in _FIELDS}, ensure_ascii=False, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(engine: Engine, event: Event) -> int:
    """Append one event in its own transaction and return its id.

    Appends are serialised by updating the single ``audit_head`` row first: on
    PostgreSQL that takes a row lock, on SQLite the write lock (BEGIN IMMEDIATE).
    """
    with engine.connect().execution_options(hudang_immediate=True) as conn:
        with conn.begin():
            conn.execute(update(AuditHead).where(AuditHead.id == 1)
                         .values(last_id=AuditHead.last_id))
            head = conn.execute(select(AuditHead.last_id, AuditHead.last_hash)
                                .where(AuditHead.id == 1)).one()
            row = {
                "id": head.last_id + 1,
                "at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                "actor": event.actor,
                "action": event.action,
                "outcome": event.outcome,
                "object_type": event.object_type,
                "object_id": None if event.object_id is None else str(event.object_id),
                "household": event.household,
                "page": event.page,
                "purpose": event.purpose,
                "detail": json.dumps(event.detail, ensure_ascii=False, sort_keys=True)
                if event.detail else "",
                "prev_hash": head.last_hash,
            }
            row["hash"] = event_hash(row)
            conn.execute(AuditEvent.__table__.insert().values(**row))
            conn.execute(update(AuditHead).where(AuditHead.id == 1)
                         .values(last_id=row["id"], last_hash=row["hash"]))
    return row["id"]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_bad: int | None = None
    reason: str = ""


def verify(engine: Engine) -> VerifyResult:
    """Walk the chain in id order and check every link and every hash.

    Detects: an altered event (its hash no longer matches), a deleted event
    (a gap in ids, or the next event's prev_hash not matching), reordering
    (ids or links out of sequence), and truncation at the end (the head row
    remembers the last id and hash).
    """
    prev = GENESIS
    expected_id = 1
    count = 0
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.id)).mappings()
        for row in rows:
            count += 1
            if row["id"] != expected_id:
                return VerifyResult(False, count, row["id"],
                                    f"event {expected_id} is missing (next is {row['id']})")
            if row["prev_hash"] != prev:
                return VerifyResult(False, count, row["id"],
                                    f"event {row['id']} does not follow event {row['id'] - 1}")
            if event_hash(dict(row)) != row["hash"]:
                return VerifyResult(False, count, row["id"],
                                    f"event {row['id']} was altered after it was written")
            prev = row["hash"]
            expected_id += 1
        head = conn.execute(select(AuditHead.last_id, AuditHead.last_hash)
                            .where(AuditHead.id == 1)).one_or_none()
    if head is None:
        return VerifyResult(False, count, None, "the audit chain head is missing")
    if head.last_id != expected_id - 1 or head.last_hash != prev:
        return VerifyResult(False, count, expected_id,
                            f"events after {expected_id - 1} were removed (the log ended at "
                            f"event {head.last_id})")
    return VerifyResult(True, count)
