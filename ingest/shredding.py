"""Executing a destruction list: crypto-shredding, the register, and its re-application.

Each dossier on the list is destroyed in one :class:`ingest.commit.Commit`:

1. one catalogue transaction (SQLite's write lock taken first) checks again that no hold
   stands and that the dossier is still due, then overwrites every wrapped data key of its
   documents and pages with nothing (``b""``) and marks the dossier, its documents and the
   list's item 已销毁 with the list and the time. From this commit on, nothing the live
   archive holds can decrypt the dossier's blobs: a copy of an old blob is useless even
   with the master key, because its data key is gone;
2. its documents leave the search index;
3. its blob files are deleted (shredded) once the unit stands;
4. an entry goes into the destruction register (below).

A failure before the commit leaves the dossier untouched; one after it (a failed index
write) is undone by the unit (keys restored, entries back). A process killed after the
commit leaves the item marked destroyed, and the next ``execute`` finishes steps 2-4
(each is idempotent); so every item ends either fully destroyed or untouched. When every
item is destroyed or stopped (a hold, no longer due), the list and its certificate are
stored as permanent records of the archive and the list is executed.

The destruction register is an append-only, sealed and keyed-MAC'd file
(``storage.SealedLog``) in ``HUDANG_HOME/registers/destructions.log``, copied to every
directory of ``HUDANG_REGISTER_COPIES``: the lists, the items they destroyed, and the list
and certificate PDFs. :func:`reapply_destructions` reads it and destroys again whatever a
restored (older) catalogue still holds: ``hudang restore`` calls it before the archive opens.
"""
from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pikepdf
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.commit import Commit
from ingest.destruction import admit_list, certificate_pdf, list_pdf, office_date
from ingest.retention import today
from records import audit, holds, retention
from records import destruction as rules
from records.clock import as_utc, utcnow
from records.destruction import Step
from records.jobs import destroying
from records.model import (ArchiveRecord, Correction, DestructionItem, DestructionList,
                           Document, Dossier, ItemStatus, ListStatus, Page, Region)
from records.policy import Action, Principal
from storage import KeyPurpose, RegisterBroken, SealedLog

REGISTER = "destructions.log"
RECORD_KINDS = ("destruction_list", "destruction_certificate")


# -- the blobs of a row -------------------------------------------------------------------------
def _key_columns(model) -> list[tuple[str, str]]:
    """Every (ref, wrapped key) column pair of a model: ``pdf_ref``/``pdf_key`` and the like,
    so that a blob column added later (the original upload's) is shredded too."""
    names = {c.key for c in inspect(model).column_attrs}
    return [(n, n[:-4] + "_key") for n in sorted(names)
            if n.endswith("_ref") and n[:-4] + "_key" in names]


DOCUMENT_KEYS = _key_columns(Document)
PAGE_KEYS = _key_columns(Page)


def _rows_of(dossier: Dossier) -> Iterable[tuple[object, list[tuple[str, str]]]]:
    for doc in dossier.documents:
        yield doc, DOCUMENT_KEYS
        for page in doc.pages:
            yield page, PAGE_KEYS


def blob_refs(dossier: Dossier) -> list[str]:
    """Every blob a dossier's documents and pages refer to."""
    return [getattr(row, ref) for row, pairs in _rows_of(dossier) for ref, _key in pairs
            if getattr(row, ref)]


@dataclass
class _Shredded:
    status: ItemStatus
    refs: list[str] = field(default_factory=list)
    documents: list[int] = field(default_factory=list)
    # (model, id, column, wrapped key) to put back if the unit fails after its commit
    saved: list[tuple[type, int, str, bytes]] = field(default_factory=list)


def _forget_keys(dossier: Dossier, list_id: int, at: datetime) -> _Shredded:
    """Overwrite every wrapped data key of the dossier and mark it destroyed."""
    done = _Shredded(ItemStatus.destroyed)
    for row, pairs in _rows_of(dossier):
        for ref, key in pairs:
            done.saved.append((type(row), row.id, key, getattr(row, key)))
            done.refs.append(getattr(row, ref))
            setattr(row, key, b"")
        if isinstance(row, Document):
            row.destroyed_at = at
            done.documents.append(row.id)
            for correction in row.corrections:  # the corrected lines go with the text
                if correction.lines_sealed is not None:
                    done.saved.append((Correction, correction.id, "lines_sealed",
                                       correction.lines_sealed))
                    correction.lines_sealed = None
    dossier.destroyed_at, dossier.destruction_list_id = at, list_id
    return done


def _put_back(s: Session, dossier_id: int, shredded: _Shredded) -> None:
    for model, row_id, key, value in shredded.saved:
        row = s.get(model, row_id)
        setattr(row, key, value)
        if isinstance(row, Document):
            row.destroyed_at = None
    dossier = s.get(Dossier, dossier_id)
    dossier.destroyed_at = dossier.destruction_list_id = None


def _shred_dossier(archive: Archive, dossier_id: int, list_id: int, at: datetime,
                   decide: Callable[[Session, Dossier], _Shredded | None]) -> _Shredded:
    """One dossier in one unit: ``decide`` may keep it (a hold, no longer due) by returning
    an outcome; otherwise its keys are forgotten, its index entries removed, its blobs
    shredded after the unit stands."""
    def write(s: Session) -> _Shredded:
        dossier = s.get(Dossier, dossier_id)
        kept = decide(s, dossier)
        return kept if kept is not None else _forget_keys(dossier, list_id, at)

    def undo(s: Session, shredded: _Shredded) -> None:
        if shredded.saved:  # this unit forgot the keys: put them back, untouched
            _put_back(s, dossier_id, shredded)

    with Commit(archive, "destruction") as unit:
        shredded = unit.catalogue(write, undo=undo)
        unit.unindex(shredded.documents)
        unit.retire(shredded.refs)
    return shredded


def _finish(archive: Archive, dossier_id: int) -> None:
    """Steps 2 and 3 again for a dossier already destroyed in the catalogue (idempotent)."""
    with archive.Session() as s:
        dossier = s.get(Dossier, dossier_id)
        refs, documents = blob_refs(dossier), [d.id for d in dossier.documents]
    for document_id in documents:
        archive.index.remove_document(document_id)
    for ref in refs:
        archive.blobs.shred(ref)


# -- the register -----------------------------------------------------------------------------------
def register_path(archive: Archive) -> Path:
    return archive.settings.register_dir / REGISTER


def copy_paths(archive: Archive, *, every_key: bool = False) -> list[Path]:
    """The register's copies: one file per directory of ``HUDANG_REGISTER_COPIES``, named by
    the archive's key, so that one directory may keep several archives' registers. With
    ``every_key``, also the names under the other keys of the ring (copies written before a
    key rotation), to read them."""
    keys = archive.keys.keys if every_key else [archive.master]
    names = [f"hudang-destructions-{key.fingerprint()}.log" for key in keys]
    return [Path(d) / name for d in archive.settings.register_copies for name in names]


def open_register(archive: Archive, path: str | Path | None = None) -> SealedLog:
    """The register at ``path`` (default: the data home's), sealed under the current master
    key. One sealed under another key of the ring (a key rotation happened since it was
    last written) is sealed again under the current one first, so that its chain goes on."""
    path = Path(path or register_path(archive))
    current = SealedLog(path, archive.master.derive(KeyPurpose.destruction_register))
    if not path.exists():
        return current
    try:
        current.read()
        return current
    except RegisterBroken as broken:
        for key in archive.keys.keys:
            if key.fingerprint() == archive.master.fingerprint():
                continue
            older = SealedLog(path, key.derive(KeyPurpose.destruction_register))
            try:
                older.read()
            except RegisterBroken:
                continue
            return older.reseal(archive.master.derive(KeyPurpose.destruction_register))
        raise broken from None


def _append(archive: Archive, entry: dict) -> None:
    log = open_register(archive)
    log.append(entry)
    log.copy_to(copy_paths(archive))


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat() if isinstance(value, datetime) else value.isoformat()


def _list_entry(lst: DestructionList) -> dict:
    """What a restore needs to know of a list, to put it back as it was."""
    return {"kind": "list", "list": lst.id, "region": lst.region_code, "fonds": lst.fonds,
            "due_within": lst.due_within, "drafted_by": lst.drafted_by,
            "drafted_at": _iso(lst.drafted_at), "submitted_by": lst.submitted_by,
            "submitted_at": _iso(lst.submitted_at), "approved_by": lst.approved_by,
            "approved_at": _iso(lst.approved_at), "wait_until": _iso(lst.wait_until),
            "witness_1_by": lst.witness_1_by, "witness_1_at": _iso(lst.witness_1_at),
            "witness_2_by": lst.witness_2_by, "witness_2_at": _iso(lst.witness_2_at),
            "executed_by": lst.executed_by, "started_at": _iso(lst.started_at),
            "items": [{"dossier": i.dossier_id, "position": i.position,
                       "household": i.household_no, "title": i.title, "years": i.years,
                       "archival_code": i.archival_code, "retention": i.retention,
                       "retained_from": _iso(i.retained_from), "due_on": _iso(i.due_on),
                       "pages": i.pages, "note": i.note} for i in lst.items]}


# -- executing ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Executed:
    number: int
    counts: dict[str, int]
    already: bool  # it had been executed before this run

    def as_json(self) -> dict:
        return {"list": self.number, "counts": self.counts, "already_executed": self.already}


def _start(archive: Archive, who: Principal, number: int, now: datetime) -> bool:
    """Check the rules and mark the list executing (once); False if it was executed."""
    with archive.Session() as s, s.begin():
        s.connection(execution_options={"hudang_immediate": True})
        lst = s.get(DestructionList, number)
        rules.check_step(lst, Step.execute, who.name, now, archive.settings.timezone)
        if lst.status is ListStatus.executed:
            return False
        if lst.status is ListStatus.approved:
            lst.status, lst.executed_by, lst.started_at = ListStatus.executing, who.name, now
            rules.record_step(lst, "execute", who.name, now)
        entry = _list_entry(lst)
    kinds = {(e["kind"], e.get("list")) for e in open_register(archive).read()}
    if ("list", number) not in kinds:
        _append(archive, entry)
    return True


def _decide(list_id: int, item_id: int, day: date, at: datetime):
    def decide(s: Session, dossier: Dossier) -> _Shredded | None:
        item = s.get(DestructionItem, item_id)
        if item.status is not ItemStatus.pending:
            return _Shredded(item.status)
        hold = holds.blocking(s, dossier)
        if hold is not None:
            item.status, item.done_at = ItemStatus.held, at
            item.outcome = f"冻结（{hold.placed_by}）：{hold.reason}"[:300]
            return _Shredded(ItemStatus.held)
        due = retention.refresh_dossier(s, dossier)
        if due is None or due > day:
            item.status, item.done_at = ItemStatus.skipped, at
            item.outcome = (f"到期日期已改为 {due.isoformat()}" if due else "已不到期")[:300]
            return _Shredded(ItemStatus.skipped)
        item.status, item.done_at = ItemStatus.destroyed, at
        return None
    return decide


def _refused(archive: Archive, who: Principal, number: int, exc: rules.OutOfTurn) -> None:
    archive.record(audit.Event(actor=who.name, action="destruction_execute",
                               outcome=audit.REFUSED, object_type="destruction_list",
                               object_id=str(number), detail={"reason": str(exc)}))


def check_execute(archive: Archive, who: Principal, number: int,
                  now: datetime | None = None) -> None:
    """Raise what :func:`execute` would refuse with at its start (the door, then the list's
    state and the four-eyes rules: approved and witnessed twice, or executing after a
    crash), recording the refusal the same way, and change nothing.
    ``ingest.jobs.submit_destruction`` asks this before it queues a job."""
    now = now or utcnow()
    admit_list(archive, who, number, Action.destruction_execute, "destruction_execute")
    with archive.Session() as s:
        refused = rules.refusal(s.get(DestructionList, number), Step.execute, who.name, now,
                                archive.settings.timezone)
    if refused is not None:
        _refused(archive, who, number, refused)
        raise refused


def execute(archive: Archive, who: Principal, number: int, now: datetime | None = None,
            on_item: Callable[[int, str, str], None] | None = None,
            job: int | None = None) -> Executed:
    """Carry out an approved, witnessed list (or finish one a crash interrupted).

    ``on_item(position, household, status)`` is told after each dossier. ``job``: the
    background job doing it (``ingest.jobs``); any other run is refused while a job of the
    list is queued or running, so a list is never carried out twice at once."""
    now = now or utcnow()
    admit_list(archive, who, number, Action.destruction_execute, "destruction_execute")
    try:
        with archive.Session() as s:
            running = destroying(s, number)
            if running is not None and running.id != job:
                raise rules.being_executed(number, running.id)
        first = _start(archive, who, number, now)
    except rules.OutOfTurn as exc:
        _refused(archive, who, number, exc)
        raise
    if first:
        archive.record(audit.Event(actor=who.name, action="destruction_execute",
                                   object_type="destruction_list", object_id=str(number)))
    day = today(archive, now)
    logged = {e.get("dossier") for e in open_register(archive).read()
              if e["kind"] == "destroyed" and e.get("list") == number}
    with archive.Session() as s:
        items = [(i.id, i.dossier_id, i.position, i.household_no, i.status)
                 for i in s.get(DestructionList, number).items]
    for item_id, dossier_id, position, household, status in items:
        if status is ItemStatus.pending:
            status = _shred_dossier(archive, dossier_id, number, now,
                                    _decide(number, item_id, day, now)).status
            if status is not ItemStatus.destroyed:
                archive.record(audit.Event(
                    actor=who.name, action="destruction_item", object_type="dossier",
                    object_id=str(dossier_id), household=household,
                    detail={"list": number, "status": status.value}))
        if status is ItemStatus.destroyed:
            _finish(archive, dossier_id)
            if dossier_id not in logged:
                _log_destroyed(archive, who, number, dossier_id, household)
        if on_item:
            on_item(position, household, status.value)
    archive.index.purge()
    done = _complete(archive, who, number, now)
    _checkpoint(archive)
    with archive.Session() as s:
        counts = rules.counts(s.get(DestructionList, number))
    return Executed(number, counts, not first and not done)


def _log_destroyed(archive: Archive, who: Principal, number: int, dossier_id: int,
                   household: str) -> None:
    with archive.Session() as s:
        dossier = s.get(Dossier, dossier_id)
        entry = {"kind": "destroyed", "list": number, "dossier": dossier_id,
                 "household": household, "archival_code": dossier.archival_code,
                 "documents": [d.id for d in dossier.documents],
                 "at": _iso(dossier.destroyed_at)}
    _append(archive, entry)
    archive.record(audit.Event(actor=who.name, action="destruction_item", object_type="dossier",
                               object_id=str(dossier_id), household=household,
                               detail={"list": number, "status": "destroyed",
                                       "documents": len(entry["documents"])}))


def _complete(archive: Archive, who: Principal, number: int, now: datetime) -> bool | None:
    """Store the list and certificate and mark the list executed, once every item is done;
    True if this run did, False if it was done before, None if items remain."""
    with archive.Session() as s:
        lst = s.get(DestructionList, number)
        if any(i.status is ItemStatus.pending for i in lst.items):
            return None
        already = lst.status is ListStatus.executed
        if not already:
            day = today(archive, now)
            pdfs = {"destruction_list": list_pdf(archive, lst, who.name, day, executed_at=now),
                    "destruction_certificate": certificate_pdf(archive, lst, who.name, day,
                                                               executed_at=now)}
    if not already:
        _store_records(archive, who, number, pdfs, now)
    entries = open_register(archive).read()
    if not any(e["kind"] == "executed" and e.get("list") == number for e in entries):
        _append(archive, _executed_entry(archive, number))
    if not already:
        archive.record(audit.Event(actor=who.name, action="destruction_executed",
                                   object_type="destruction_list", object_id=str(number),
                                   detail=_counts(archive, number)))
    return not already


def _counts(archive: Archive, number: int) -> dict[str, int]:
    with archive.Session() as s:
        return rules.counts(s.get(DestructionList, number))


def _page_count(pdf: bytes) -> int:
    import io

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


RECORD_TITLES = {"destruction_list": "档案销毁清册（第 {n} 号）",
                 "destruction_certificate": "档案销毁证明书（第 {n} 号清册）"}


def _store_records(archive: Archive, who: Principal | str, number: int, pdfs: dict[str, bytes],
                   now: datetime, *, status_after: ListStatus = ListStatus.executed) -> None:
    """The list's PDFs as permanent records of the archive, and the list executed, in one unit."""
    by = who if isinstance(who, str) else who.name
    with Commit(archive, "destruction_records") as unit:
        stored = {kind: (unit.put(pdf), _page_count(pdf)) for kind, pdf in pdfs.items()}

        def write(s: Session) -> list[int]:
            lst = s.get(DestructionList, number)
            made = []
            for kind, (blob, pages) in stored.items():
                if s.scalar(select(ArchiveRecord.id).where(
                        ArchiveRecord.destruction_list_id == number,
                        ArchiveRecord.kind == kind)) is not None:
                    continue
                record = ArchiveRecord(
                    kind=kind, title=RECORD_TITLES[kind].format(n=number),
                    region_code=lst.region_code, date=today(archive, now),
                    retention_class=retention.PERMANENT, destruction_list_id=number,
                    page_count=pages, pdf_ref=blob.ref, pdf_key=blob.wrapped_key,
                    pdf_sha256=blob.sha256, pdf_size=blob.size, created_by=by)
                s.add(record)
                s.flush()
                made.append(record.id)
            if lst.status is not status_after:
                lst.status, lst.executed_at = status_after, lst.executed_at or now
                rules.record_step(lst, "executed", by, now)
            return made

        def undo(s: Session, made: list[int]) -> None:
            for record_id in made:
                s.delete(s.get(ArchiveRecord, record_id))

        unit.catalogue(write, undo=undo)


def _executed_entry(archive: Archive, number: int) -> dict:
    with archive.Session() as s:
        lst = s.get(DestructionList, number)
        records = [{"kind": r.kind, "title": r.title, "date": r.date.isoformat(),
                    "by": r.created_by,
                    "pdf": base64.b64encode(archive.blobs.get(r.pdf_ref, r.pdf_key)).decode()}
                   for r in s.scalars(select(ArchiveRecord).where(
                       ArchiveRecord.destruction_list_id == number).order_by(ArchiveRecord.kind))]
        return {"kind": "executed", "list": number, "executed_by": lst.executed_by,
                "executed_at": _iso(lst.executed_at),
                "items": [{"dossier": i.dossier_id, "status": i.status.value,
                           "outcome": i.outcome, "done_at": _iso(i.done_at)}
                          for i in lst.items],
                "records": records}


def _checkpoint(archive: Archive) -> None:
    """On SQLite, write the WAL back into the file and empty it, so that the overwritten keys
    are gone from both (``PRAGMA secure_delete`` zeroes what is freed in the file)."""
    if archive.engine.dialect.name == "sqlite":
        with archive.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# -- after a restore ------------------------------------------------------------------------------------
@dataclass
class Reapplied:
    lists: list[int] = field(default_factory=list)  # lists put back into the catalogue
    dossiers: list[int] = field(default_factory=list)  # dossiers destroyed again
    finished: int = 0  # dossiers whose blobs or index entries were cleaned again

    def as_json(self) -> dict:
        return {"lists": self.lists, "dossiers": self.dossiers, "finished": self.finished}


def _read_registers(archive: Archive, register) -> list[dict]:
    if isinstance(register, SealedLog):
        return register.read()
    paths = [register] if isinstance(register, (str, Path)) else list(register)
    entries: list[dict] = []
    seen: set[str] = set()
    for path in paths:
        for entry in open_register(archive, path).read():
            key = repr(sorted((k, str(v)) for k, v in entry.items() if k != "records"))
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    return entries


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _put_list(s: Session, entry: dict) -> None:
    """The list of a register entry, into a catalogue that lacks it (or holds it as it was
    before execution)."""
    lst = s.get(DestructionList, entry["list"])
    if lst is None:
        lst = DestructionList(id=entry["list"])
        s.add(lst)
    if lst.status in (ListStatus.executing, ListStatus.executed) and lst.items:
        return
    for name in ("fonds", "due_within", "drafted_by", "submitted_by", "approved_by",
                 "witness_1_by", "witness_2_by", "executed_by"):
        setattr(lst, name, entry[name])
    for name in ("drafted_at", "submitted_at", "approved_at", "wait_until", "witness_1_at",
                 "witness_2_at", "started_at"):
        setattr(lst, name, _when(entry[name]))
    lst.region_code, lst.status = entry["region"], ListStatus.executing
    known = {i.dossier_id for i in lst.items}
    for item in entry["items"]:
        if item["dossier"] in known or s.get(Dossier, item["dossier"]) is None:
            continue
        lst.items.append(DestructionItem(
            dossier_id=item["dossier"], position=item["position"], household_no=item["household"],
            title=item["title"], years=item["years"], archival_code=item["archival_code"],
            retention=item["retention"], retained_from=_day(item["retained_from"]),
            due_on=_day(item["due_on"]), pages=item["pages"], note=item["note"],
            status=ItemStatus.pending))
    rules.record_step(lst, "restored", "register", utcnow(), "re-applied from the register")


def reapply_destructions(archive: Archive, register, *, actor: str = "hudang-restore") -> Reapplied:
    """Destroy again what the register says was destroyed and the catalogue still holds.

    ``register``: a path, several paths (the live register, its copies, the one beside a
    backup, one the operator supplies: their entries are merged), or a ``SealedLog``.
    Lists the catalogue lacks are put back with their items, their outcomes and their
    permanent records (the list and certificate PDFs); every dossier they destroyed is
    destroyed again (keys, blobs, index entries), whatever holds or dates the restored
    catalogue shows: the destruction happened. ``hudang restore`` calls this before the
    archive opens; it is idempotent.
    """
    entries = _read_registers(archive, register)
    done = Reapplied()
    for entry in (e for e in entries if e["kind"] == "list"):
        with archive.Session() as s, s.begin():
            had = s.get(DestructionList, entry["list"])
            missing = had is None or had.status not in (ListStatus.executing,
                                                        ListStatus.executed)
            if missing and s.get(Region, entry["region"]) is not None:
                _put_list(s, entry)
                done.lists.append(entry["list"])
    destroyed = [e for e in entries if e["kind"] == "destroyed"]
    for e in (e for e in entries if e["kind"] == "executed"):
        destroyed += [{"list": e["list"], "dossier": i["dossier"], "at": i["done_at"]}
                      for i in e["items"] if i["status"] == "destroyed"]
    seen: set[int] = set()
    for entry in destroyed:
        dossier_id = entry["dossier"]
        if dossier_id in seen:
            continue
        seen.add(dossier_id)
        with archive.Session() as s:
            dossier = s.get(Dossier, dossier_id)
            if dossier is None:
                continue
            again = dossier.destroyed_at is None
        at = _when(entry.get("at")) or utcnow()
        if again:
            _shred_dossier(archive, dossier_id, entry["list"], at,
                           _mark_item(entry["list"], at))
            done.dossiers.append(dossier_id)
        _finish(archive, dossier_id)
        done.finished += 1
    for e in (e for e in entries if e["kind"] == "executed"):
        _put_executed(archive, e, actor)
    if done.dossiers:
        archive.index.purge()
    _checkpoint(archive)
    archive.record(audit.Event(actor=actor, action="destruction_reapply",
                               detail=done.as_json()))
    return done


def _mark_item(list_id: int, at: datetime):
    def decide(s: Session, dossier: Dossier) -> None:
        item = s.scalar(select(DestructionItem).where(DestructionItem.list_id == list_id,
                                                      DestructionItem.dossier_id == dossier.id))
        if item is not None:
            item.status, item.done_at = ItemStatus.destroyed, at
        return None
    return decide


def _put_executed(archive: Archive, entry: dict, actor: str) -> None:
    """An executed list's outcomes and permanent records, where the catalogue lacks them."""
    number = entry["list"]
    with archive.Session() as s, s.begin():
        lst = s.get(DestructionList, number)
        if lst is None or lst.status is ListStatus.executed:
            return
        outcomes = {i["dossier"]: i for i in entry["items"]}
        for item in lst.items:
            got = outcomes.get(item.dossier_id)
            if got and item.status is ItemStatus.pending:
                item.status, item.outcome = ItemStatus(got["status"]), got["outcome"]
                item.done_at = _when(got["done_at"])
        lst.executed_by, lst.executed_at = entry["executed_by"], _when(entry["executed_at"])
    pdfs = {r["kind"]: base64.b64decode(r["pdf"]) for r in entry["records"]}
    _store_records(archive, entry["executed_by"] or actor, number, pdfs,
                   _when(entry["executed_at"]) or utcnow())


def destroyed_notice(archive: Archive, dossier: Dossier) -> tuple[str, int | None]:
    """(the office's date of destruction, the list's number) of a destroyed dossier."""
    return office_date(archive, dossier.destroyed_at), dossier.destruction_list_id
