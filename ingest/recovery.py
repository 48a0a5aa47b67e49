"""Finishing or rolling back what a killed process left: ``hudang recover``, also run
whenever the CLI or the server opens an archive (:meth:`ingest.archive.Archive.open`).

For each unit whose process has died (its journal is unlocked, :mod:`ingest.journal`):

1. ask the catalogue which of the blobs the journal names (the unit's new ones and
   the ones it retires) it refers to. The catalogue is the truth: it changed in one
   transaction, so either every new blob is referred to (the change committed) or
   none is (it did not);
2. shred every named blob the catalogue does not refer to, and what a write killed
   half-way left of it. Before the commit these are the unit's new blobs (the unit
   is *rolled back*); after it, the blobs the change retired (it is *finished*);
3. make the index agree with the catalogue for every document the journal names or
   that refers to one of its blobs (:func:`ingest.indexing.sync_document`);
4. record one ``recover`` event in the audit log and remove the journal.

Then the work directories of dead processes go (they hold page rasters and the
unencrypted archival PDF). A blob no journal names is never removed here: a stray
file is for verification to report, not for recovery to guess about. A unit whose
process is still running (another CLI, the server) is left alone.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Column, Select, or_, select, union

from ingest.indexing import sync_document
from ingest.journal import UnitRecord, claim_dead_units, remove_dead_work_dirs
from records import audit
from records.model import Base, Document

_CHUNK = 500  # refs per IN (...) query


@dataclass(frozen=True)
class RecoveredUnit:
    label: str  # ingest / reocr
    pid: int | None  # the process that died
    outcome: str  # "finished" or "rolled back"
    documents: tuple[int, ...]
    blobs_removed: int

    def sentence(self) -> str:
        who = f"the {self.label} of process {self.pid}" if self.pid else f"an {self.label}"
        docs = ", ".join(str(d) for d in self.documents)
        if self.outcome == "finished":
            replaced = (f"; shredded the {self.blobs_removed} blobs it replaced"
                        if self.blobs_removed else "")
            return f"finished {who} (document {docs}){replaced}"
        return f"rolled back {who}; shredded the {self.blobs_removed} blobs it had stored"


@dataclass
class RecoveryReport:
    units: list[RecoveredUnit] = field(default_factory=list)
    live: int = 0  # units of processes still running: left alone
    work_dirs: int = 0  # work directories of dead processes removed
    problems: list[str] = field(default_factory=list)  # units left for the next recovery

    def __bool__(self) -> bool:
        return bool(self.units or self.work_dirs or self.problems)

    def merge(self, other: RecoveryReport) -> RecoveryReport:
        return RecoveryReport([*self.units, *other.units], other.live,
                              self.work_dirs + other.work_dirs, [*self.problems, *other.problems])


def recover(archive, actor: str) -> RecoveryReport:
    """Finish or roll back every unit of a dead process; see the module docstring."""
    report = RecoveryReport()
    claimed, report.live = claim_dead_units(archive.settings.journal_dir)
    for unit in claimed:
        try:
            done = _recover_unit(archive, unit.record)
            _record(archive, actor, done)
        except Exception as exc:  # one unit's trouble must not stop the others or the opening
            unit.release()  # the journal stays; recovering a unit again is harmless
            report.problems.append(
                f"the interrupted {unit.record.label} in journal '{unit.record.path.name}' could "
                f"not be recovered ({type(exc).__name__}: {exc}); run 'hudang recover' again")
            continue
        unit.done()
        report.units.append(done)
    report.work_dirs = remove_dead_work_dirs(archive.settings.tmp_dir)
    return report


def _recover_unit(archive, record: UnitRecord) -> RecoveredUnit:
    with archive.Session() as s:
        referred, documents = blobs_in_use(s, record.refs)
    removed = 0
    for ref in record.refs:
        archive.blobs.discard_partial(ref)
        if ref not in referred and archive.blobs.exists(ref):
            archive.blobs.shred(ref)
            removed += 1
    documents |= set(record.documents)
    if not archive.index.needs_rebuild:  # an index to rebuild gets everything from the catalogue
        for document_id in sorted(documents):
            sync_document(archive, document_id)
    finished = any(ref in referred for ref in record.blobs)
    kept = tuple(sorted(d for d in documents if _exists(archive, d))) if finished else ()
    return RecoveredUnit(record.label, record.pid, "finished" if finished else "rolled back",
                         kept, removed)


def ref_columns() -> Iterator[tuple[Column, Column | None]]:
    """Every catalogue column holding a blob ref (named ``*_ref`` in records.model), with
    the column naming the document its row belongs to."""
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        document = table.c.id if mapper.class_ is Document else table.c.get("document_id")
        for column in table.columns:
            if column.name.endswith("_ref"):
                yield column, document


def live_refs() -> Select:
    """One query for every blob ref a live record refers to: every ``*_ref`` column
    (:func:`ref_columns`), less the rows of destroyed documents (已销毁), whose blobs are
    shredded on purpose. ``hudang backup`` copies exactly these."""
    live = select(Document.id).where(Document.destroyed_at.is_(None))
    parts = []
    for column, document in ref_columns():
        part = select(column.label("ref")).where(column.is_not(None))
        if document is not None:
            part = part.where(or_(document.is_(None), document.in_(live)))
        parts.append(part)
    return union(*parts)


def blobs_in_use(s, refs: list[str]) -> tuple[set[str], set[int]]:
    """Which of ``refs`` the catalogue refers to, and the documents whose rows do."""
    referred: set[str] = set()
    documents: set[int] = set()
    for start in range(0, len(refs), _CHUNK):
        chunk = refs[start:start + _CHUNK]
        for column, document in ref_columns():
            wanted = [column] if document is None else [column, document]
            for row in s.execute(select(*wanted).where(column.in_(chunk))):
                referred.add(row[0])
                if document is not None:
                    documents.add(row[1])
    return referred, documents


def _exists(archive, document_id: int) -> bool:
    with archive.Session() as s:
        return s.get(Document, document_id) is not None


def _record(archive, actor: str, unit: RecoveredUnit) -> None:
    one = unit.documents[0] if len(unit.documents) == 1 else None
    archive.record(audit.Event(
        actor=actor, action="recover", object_type="document" if one else None,
        object_id=str(one) if one else None,
        detail={"unit": unit.label, "outcome": unit.outcome, "pid": unit.pid,
                "documents": list(unit.documents), "blobs_removed": unit.blobs_removed}))
