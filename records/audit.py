"""The audit log: append-only and hash-chained, its links keyed.

Every event holds the link of the previous event (``prev_hash``), and its own link
(``hash``) covers every one of its fields and that previous link, so altering, deleting or
reordering any event breaks the chain at that event, which :func:`verify` reports.
Events carry no ID numbers and no document text: objects are named by id.

Two schemes of link, named in each event's ``scheme``:

- ``sha256``: the SHA-256 of the canonical form (:func:`event_hash`). Anyone who can
  write to the database can recompute such links after changing an event, so these are
  kept only for events written before the log was keyed.
- ``hmac-sha256``: HMAC-SHA256 of the canonical form (with ``scheme`` and ``key_id``)
  under a chain key derived from the master key, which never enters the database
  (:class:`ChainKey`; the caller derives it, this module sees only its bytes). Without
  the key a rewrite cannot be made to verify.

The first keyed append switches the log: it first writes an ``audit_keyed`` event that
attests every event before it (a SHA-256 digest of their full rows), and the head
remembers where keying began. A key rotation writes an ``audit_rekey`` event under the
new key that attests everything before it in the same way (:func:`rekey`), so events
linked under a retired key stay checkable after that key is gone: individually while
its chain key is at hand, as a whole through the attestation always. History is never
rewritten. The head row carries an HMAC of the last id and link, so cutting events off
the end is detected too; rolling the whole database back to an older copy is caught by
anchors kept outside the system (:class:`Anchor`).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, select, update

from records.exceptions import Invalid
from records.model import AuditEvent, AuditHead

GENESIS = "0" * 64

ALLOWED = "allowed"
REFUSED = "refused"

PLAIN = "sha256"  # links written before the log was keyed
KEYED = "hmac-sha256"
KEYED_ACTION = "audit_keyed"  # the switch to keyed links
REKEY_ACTION = "audit_rekey"  # a new chain key after a master-key rotation
_ATTESTING = (KEYED_ACTION, REKEY_ACTION)


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


@dataclass(frozen=True)
class ChainKey:
    """The key of keyed links: derived from a master key, named by that key's fingerprint."""

    key_id: str
    secret: bytes = field(repr=False)


class ChainKeyError(Exception):
    """The audit log cannot be appended to with the key given."""


class StaleChainKey(ChainKeyError):
    """The log is keyed with another master key than the one given: a rotation happened
    since this process read its keys, or a catalogue from before one was restored."""

    def __init__(self, head_key: str | None, given: str):
        super().__init__(f"the audit log is keyed with master key {head_key}, not {given}")
        self.head_key = head_key


_FIELDS = (
    "id", "at", "actor", "action", "outcome", "object_type", "object_id",
    "household", "page", "purpose", "detail", "prev_hash",
)
_KEYED_FIELDS = (*_FIELDS, "scheme", "key_id")
_ALL_FIELDS = (*_KEYED_FIELDS, "hash")


def _canonical(row: Mapping, names: tuple[str, ...]) -> bytes:
    return json.dumps({k: row[k] for k in names}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def event_hash(row: Mapping) -> str:
    """The plain link (scheme ``sha256``), as published: anyone can recompute it."""
    return hashlib.sha256(_canonical(row, _FIELDS)).hexdigest()


def keyed_hash(row: Mapping, secret: bytes) -> str:
    """The keyed link (scheme ``hmac-sha256``): only the holder of the chain key makes it."""
    return hmac.new(secret, _canonical(row, _KEYED_FIELDS), hashlib.sha256).hexdigest()


def _head_mac(secret: bytes, last_id: int, last_hash: str) -> str:
    return hmac.new(secret, f"hudang-audit-head:{last_id}:{last_hash}".encode("ascii"),
                    hashlib.sha256).hexdigest()


def _digest_rows(conn: Connection, upto: int) -> str:
    """SHA-256 over the full rows of events 1..upto, in order: what an attestation covers."""
    h = hashlib.sha256()
    rows = conn.execute(select(AuditEvent.__table__).where(AuditEvent.id <= upto)
                        .order_by(AuditEvent.id)).mappings()
    for row in rows:
        h.update(_canonical(row, _ALL_FIELDS) + b"\n")
    return h.hexdigest()


# -- appending ----------------------------------------------------------------------------
@dataclass
class _Head:
    last_id: int
    last_hash: str
    keyed_from: int | None
    key_id: str | None


def _lock_head(conn: Connection) -> _Head:
    # Appends are serialised by updating the single head row first: on PostgreSQL that
    # takes a row lock, on SQLite the write lock (BEGIN IMMEDIATE).
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id))
    row = conn.execute(select(AuditHead.last_id, AuditHead.last_hash, AuditHead.keyed_from,
                              AuditHead.key_id).where(AuditHead.id == 1)).one()
    return _Head(row.last_id, row.last_hash, row.keyed_from, row.key_id)


def _append(conn: Connection, head: _Head, event: Event, key: ChainKey | None) -> _Head:
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
        "scheme": PLAIN if key is None else KEYED,
        "key_id": None if key is None else key.key_id,
    }
    row["hash"] = event_hash(row) if key is None else keyed_hash(row, key.secret)
    conn.execute(AuditEvent.__table__.insert().values(**row))
    new = _Head(row["id"], row["hash"], head.keyed_from, head.key_id)
    if key is not None:
        new.key_id = key.key_id
        if new.keyed_from is None:
            new.keyed_from = row["id"]
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(
        last_id=new.last_id, last_hash=new.last_hash, keyed_from=new.keyed_from,
        key_id=new.key_id,
        mac=None if key is None else _head_mac(key.secret, new.last_id, new.last_hash)))
    return new


def _attestation(conn: Connection, head: _Head) -> dict:
    return {"attests": head.last_id, "digest": _digest_rows(conn, head.last_id)}


def record(engine: Engine, event: Event, key: ChainKey | None = None) -> int:
    """Append one event in its own transaction and return its id.

    With ``key`` the link is keyed; the first keyed append switches the log (an
    ``audit_keyed`` event first). Without a key only a log that was never keyed takes
    the event. :class:`StaleChainKey` if the log is keyed with another master key now.
    """
    with engine.connect().execution_options(hudang_immediate=True) as conn, conn.begin():
        head = _lock_head(conn)
        if key is None:
            if head.keyed_from is not None:
                raise ChainKeyError("the audit log is keyed; appending needs the chain key")
        elif head.keyed_from is None:
            head = _append(conn, head, Event(
                actor="hudang", action=KEYED_ACTION,
                detail={"legacy_events": head.last_id, **_attestation(conn, head)}), key)
        elif head.key_id != key.key_id:
            raise StaleChainKey(head.key_id, key.key_id)
        return _append(conn, head, event, key).last_id


def rekey(engine: Engine, key: ChainKey, event: Event) -> int | None:
    """Switch the log's future links to ``key`` (a rotated master key's), recording ``event``
    (an ``audit_rekey``) under it, attesting every event before it. None, and nothing
    written, if the log is already keyed with ``key``: a resumed rotation did this."""
    with engine.connect().execution_options(hudang_immediate=True) as conn, conn.begin():
        head = _lock_head(conn)
        if head.key_id == key.key_id:
            return None
        detail = {**event.detail, "from_key": head.key_id, **_attestation(conn, head)}
        rekeyed = Event(actor=event.actor, action=REKEY_ACTION, detail=detail)
        return _append(conn, head, rekeyed, key).last_id


# -- verifying ----------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_bad: int | None = None
    reason: str = ""
    legacy: int = 0  # events linked with plain SHA-256, written before the log was keyed
    keyed_from: int | None = None  # the first keyed event
    attested_only: int = 0  # keyed events whose chain key is not at hand, checked as a whole


class _Broken(Exception):
    def __init__(self, event_id: int | None, reason: str):
        super().__init__(reason)
        self.event_id, self.reason = event_id, reason


class _Walk:
    """State of one walk along the chain."""

    def __init__(self, keys: Mapping[str, bytes]):
        self.keys = keys
        self.prev = GENESIS
        self.expected = 1
        self.count = 0
        self.legacy = 0
        self.first_keyed: int | None = None
        self.attested_only = 0
        self.unchecked: list[tuple[int, str]] = []  # keyed events not yet covered
        self.digest = hashlib.sha256()

    def step(self, row: Mapping) -> None:
        self.count += 1
        event_id = row["id"]
        if event_id != self.expected:
            raise _Broken(event_id, f"event {self.expected} is missing (next is {event_id})")
        if row["scheme"] == PLAIN:
            self._plain(row)
        elif row["scheme"] == KEYED:
            self._keyed(row)
        else:
            raise _Broken(event_id, f"event {event_id} names an unknown link scheme")
        self.digest.update(_canonical(row, _ALL_FIELDS) + b"\n")
        self.prev = row["hash"]
        self.expected += 1

    def _follows(self, row: Mapping) -> None:
        if row["prev_hash"] != self.prev:
            raise _Broken(row["id"], f"event {row['id']} does not follow event {row['id'] - 1}")

    def _plain(self, row: Mapping) -> None:
        if self.first_keyed is not None:
            raise _Broken(row["id"], f"event {row['id']} has an unkeyed link although the log "
                                     f"was keyed from event {self.first_keyed}: it was rewritten")
        self._follows(row)
        if event_hash(row) != row["hash"]:
            raise _Broken(row["id"], f"event {row['id']} was altered after it was written")
        self.legacy += 1

    def _keyed(self, row: Mapping) -> None:
        event_id = row["id"]
        if self.first_keyed is None:
            self.first_keyed = event_id
        secret = self.keys.get(row["key_id"] or "")
        if secret is None:
            self._follows(row)
            self.unchecked.append((event_id, row["key_id"]))
            return
        if keyed_hash(row, secret) != row["hash"]:
            raise _Broken(event_id, f"event {event_id} was altered after it was written")
        if row["action"] in _ATTESTING:
            self._attested(row)
        self._follows(row)

    def _attested(self, row: Mapping) -> None:
        try:
            detail = json.loads(row["detail"])
            attests, digest = int(detail["attests"]), detail["digest"]
        except (ValueError, KeyError, TypeError):
            raise _Broken(row["id"], f"event {row['id']} lost its attestation") from None
        if attests != row["id"] - 1 or digest != self.digest.hexdigest():
            raise _Broken(row["id"], f"events 1-{row['id'] - 1} no longer match what event "
                                     f"{row['id']} attested when the log was "
                                     f"{'keyed' if row['action'] == KEYED_ACTION else 're-keyed'}:"
                                     " an event before it was rewritten")
        self.attested_only += len(self.unchecked)
        self.unchecked = []


def verify(engine: Engine, keys: Mapping[str, bytes] | None = None) -> VerifyResult:
    """Walk the chain in id order and check every link by its scheme.

    ``keys``: chain keys by master-key fingerprint (the current one, and retired ones
    still at hand). Detects: an altered event (its link no longer matches), a deleted
    event (a gap in ids, or the next event's prev_hash not matching), reordering,
    truncation at the end (the head remembers the last id and link, keyed), a keyed part
    turned back into plain links, and events before an attestation rewritten.
    """
    walk = _Walk(keys or {})
    with engine.connect() as conn:
        try:
            rows = conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.id)).mappings()
            for row in rows:
                walk.step(row)
            head = conn.execute(select(AuditHead.__table__)
                                .where(AuditHead.id == 1)).one_or_none()
            _check_head(walk, head)
        except _Broken as broken:
            return VerifyResult(False, walk.count, broken.event_id, broken.reason, walk.legacy,
                                walk.first_keyed, walk.attested_only)
    return VerifyResult(True, walk.count, None, "", walk.legacy, walk.first_keyed,
                        walk.attested_only)


def _check_head(walk: _Walk, head) -> None:
    last = walk.expected - 1
    if head is None:
        raise _Broken(None, "the audit chain head is missing")
    if head.last_id != last or head.last_hash != walk.prev:
        raise _Broken(walk.expected, f"events after {last} were removed (the log ended at "
                                     f"event {head.last_id})")
    if head.keyed_from != walk.first_keyed:
        raise _Broken(walk.first_keyed or head.keyed_from,
                      f"the log was keyed from event {head.keyed_from}, but its links say "
                      f"{walk.first_keyed}: it was rewritten")
    secret = walk.keys.get(head.key_id or "")
    if secret is not None and not hmac.compare_digest(
            head.mac or "", _head_mac(secret, head.last_id, head.last_hash)):
        raise _Broken(last, f"the log's head was altered: it ended at event {last} when it "
                            "was last written (events after it removed?)")
    if walk.unchecked:
        first, key_id = walk.unchecked[0]
        raise _Broken(first, f"events from {first} on are linked with master key {key_id}, "
                             "whose chain key is not at hand, and no later re-keying attests "
                             "them: they cannot be checked")


# -- anchors -------------------------------------------------------------------------------
ANCHOR_PREFIX = "hudang-anchor:v1"


@dataclass(frozen=True)
class Anchor:
    """The head of the log at one moment, as a short line kept outside the system (on paper
    in the 利用登记 register, or in a second system):
    ``hudang-anchor:v1:<event id>:<first 16 hex of its link>:<date>``."""

    event_id: int
    link: str  # the first 16 hex digits of the event's link
    day: str  # YYYY-MM-DD, the office's date

    def line(self) -> str:
        return f"{ANCHOR_PREFIX}:{self.event_id}:{self.link}:{self.day}"

    @classmethod
    def parse(cls, line: str) -> Anchor:
        parts = line.strip().split(":")
        if len(parts) != 5 or ":".join(parts[:2]) != ANCHOR_PREFIX or not parts[2].isdigit() \
                or len(parts[3]) != 16 or any(c not in "0123456789abcdef" for c in parts[3]):
            raise Invalid(f"'{line.strip()[:80]}' is not an anchor line (expected "
                          f"{ANCHOR_PREFIX}:<event id>:<16 hex digits>:<date>)")
        return cls(int(parts[2]), parts[3], parts[4])


def anchor(engine: Engine, event_id: int, day: str) -> Anchor:
    """The anchor of event ``event_id`` as it stands now."""
    with engine.connect() as conn:
        link = conn.scalar(select(AuditEvent.hash).where(AuditEvent.id == event_id))
    if link is None:
        raise Invalid(f"the audit log has no event {event_id}")
    return Anchor(event_id, link[:16], day)


def check_anchor(engine: Engine, kept: Anchor) -> str | None:
    """None if the log still holds the anchored event with the anchored link; else why not."""
    with engine.connect() as conn:
        link = conn.scalar(select(AuditEvent.hash).where(AuditEvent.id == kept.event_id))
    if link is None:
        return (f"the audit log no longer holds event {kept.event_id}, anchored on {kept.day}: "
                "the database was rolled back to an older copy or the log was cut")
    if not hmac.compare_digest(link[:16], kept.link):
        return (f"event {kept.event_id} is not the event anchored on {kept.day}: the log was "
                "rewritten or replaced by an older copy")
    return None
