"""Correcting the catalogue: a document's metadata and place, its numbers, the vocabulary.

Each change passes the one door (``catalogue`` for documents, ``manage`` for the
vocabulary), is written through one :class:`ingest.commit.Commit` (the catalogue
in one transaction, the search index after it, undone together), and is recorded
in the audit log with what it was before and after (ID numbers masked).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.commit import Commit
from records import audit, doctypes, numbering, retention
from records.clock import as_utc
from records.door import Knock, Target
from records.exceptions import Invalid
from records.idnumbers import mask_in_text
from records.completeness import missing_types
from records.model import Document, Dossier, Household, ItemNumber, Volume
from records.policy import Action, Principal
from records.retention import refuse_destroyed
from records.reviews import ReviewState, review_state

MAX_TITLE = 200
MAX_RESPONSIBLE = 100


def dossier_year(archive: Archive, dossier: Dossier) -> int:
    """The year (in the office's time zone) the dossier was opened: its 档号's 年度."""
    return as_utc(dossier.opened_at).astimezone(archive.settings.timezone).year


def number(archive: Archive, session: Session, dossier: Dossier, by: str,
           reason: str) -> list[numbering.Renumbered]:
    """Give the dossier its 档号 (once) and item numbers following its order."""
    return numbering.number_dossier(session, dossier, archive.settings.numbering,
                                    year=dossier_year(archive, dossier), by=by, reason=reason)


# -- volumes of daily-management records (日常管理档案) ------------------------------------------
def volume_code(archive: Archive, region_code: str, year: int) -> str:
    """A volume's archival code: 全宗号-RC·年度-区划 (RC: 日常管理档案; one volume per region and
    year, so the code is unique)."""
    return f"{archive.settings.fonds}-RC·{year}-{region_code}"


def volume_id(session: Session, region_code: str, year: int) -> int | None:
    return session.scalar(select(Volume.id).where(Volume.region_code == region_code,
                                                  Volume.year == year))


def open_volume(archive: Archive, session: Session, region_code: str, year: int) -> Volume:
    """The region's volume of ``year``, opened (with its archival code) when it is not yet."""
    found = volume_id(session, region_code, year)
    if found is not None:
        return session.get(Volume, found)
    volume = Volume(region_code=region_code, year=year,
                    archival_code=volume_code(archive, region_code, year))
    try:
        with session.begin_nested():
            session.add(volume)
    except IntegrityError:  # opened by another writer meanwhile (a server database)
        return session.get(Volume, volume_id(session, region_code, year))
    return volume


def close_empty_volume(session: Session, volume: int) -> None:
    """Remove a volume that holds no record (the undo of a failed first ingest into it)."""
    if session.scalar(select(Document.id).where(Document.volume_id == volume).limit(1)) is None:
        session.execute(delete(Volume).where(Volume.id == volume,
                                             Volume.container_id.is_(None)))


def household_target(household: Household | None, number: str) -> Target:
    """A household as the door sees it: found or not, and where it lies."""
    return Target("household", number[:40], household=household and household.number,
                  region=household and household.region_code, found=household is not None)


def volume_target(volume: Volume | None, ident: str) -> Target:
    """A volume of daily-management records as the door sees it: in its region, with no
    household."""
    return Target("volume", ident[:40], region=volume and volume.region_code,
                  found=volume is not None)


def document_target(doc: Document | None, document_id: int, page: int | None = None,
                    found: bool | None = None) -> Target:
    """A document as the door sees it: in its household's village, or (a daily-management
    record) in its volume's region with no household."""
    return Target("document", str(document_id),
                  household=doc.household_number if doc is not None else None,
                  region=doc.region_code if doc is not None else None, page=page,
                  found=(doc is not None) if found is None else found)


@dataclass(frozen=True)
class Changes:
    """What an archivist asks to change; None leaves a field as it is."""

    type: str | None = None  # code or Chinese name
    date: date | None = None
    clear_date: bool = False
    title: str | None = None
    responsible: str | None = None

    def empty(self) -> bool:
        return (self.type is None and self.date is None and not self.clear_date
                and self.title is None and self.responsible is None)


def _facts(doc: Document) -> dict[str, str]:
    return {"type": doc.type_code, "date": doc.date.isoformat() if doc.date else "",
            "title": doc.title, "responsible": doc.responsible or ""}


def _apply(s: Session, doc: Document, changes: Changes) -> None:
    if changes.type is not None:
        # a dossier's document stays of a household type, a volume's of a daily one
        doc.type = doctypes.get_type(s, changes.type, daily=doc.volume_id is not None)
        doc.type_code = doc.type.code
    if changes.clear_date:
        doc.date = None
    elif changes.date is not None:
        doc.date = changes.date
    if changes.title is not None:
        title = changes.title.strip()
        if not title or len(title) > MAX_TITLE:
            raise Invalid(f"the title must have 1-{MAX_TITLE} characters")
        # a title shown masked and sent back unchanged keeps its stored form
        if title != mask_in_text(doc.title):
            doc.title = title
    if changes.responsible is not None:
        responsible = changes.responsible.strip()
        if len(responsible) > MAX_RESPONSIBLE:
            raise Invalid(f"the responsible party must have at most {MAX_RESPONSIBLE} characters")
        doc.responsible = responsible or None


def _masked(facts: dict[str, str]) -> dict[str, str]:
    return {k: mask_in_text(v) for k, v in facts.items()}


@dataclass(frozen=True)
class Edited:
    document_id: int
    household: str | None  # None: a daily-management record
    before: dict[str, str]
    after: dict[str, str]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def edit_document(archive: Archive, who: Principal, document_id: int, changes: Changes,
                  reason: str) -> Edited:
    """Correct a document's type, date, title or responsible party (责任者)."""
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        archive.admit(Knock(who, Action.catalogue, document_target(doc, document_id),
                            event="document_edit"))
        refuse_destroyed(doc.dossier, f"document {document_id}", archive.settings.timezone)
    reason = reason.strip()
    if not reason:
        raise Invalid("say why the document is corrected (a reason)")
    if changes.empty():
        raise Invalid("nothing to change: give a type, date, title or responsible party")
    seen: dict[str, object] = {}

    def write(s: Session) -> tuple[dict[str, str], dict[str, str]]:
        doc = s.get(Document, document_id)
        before = _facts(doc)
        _apply(s, doc, changes)
        s.flush()
        if doc.dossier is not None:  # its date or type may move the due date
            retention.refresh_dossier(s, doc.dossier)
        seen["household"] = doc.household_number
        return before, _facts(doc)

    def undo(s: Session, result: tuple[dict[str, str], dict[str, str]]) -> None:
        before = result[0]
        doc = s.get(Document, document_id)
        doc.type_code = before["type"]
        doc.date = date.fromisoformat(before["date"]) if before["date"] else None
        doc.title = before["title"]
        doc.responsible = before["responsible"] or None
        if doc.dossier is not None:
            retention.refresh_dossier(s, doc.dossier)

    with Commit(archive, "document_edit") as unit:
        before, after = unit.catalogue(write, undo=undo)
        if before != after and (before["type"], before["title"], before["date"]) != (
                after["type"], after["title"], after["date"]):
            unit.index(document_id, _texts(archive, document_id))
    result = Edited(document_id, seen["household"], before, after)
    if result.changed:
        changed = sorted(k for k in before if before[k] != after[k])
        archive.record(audit.Event(
            actor=who.name, action="document_edit", object_type="document",
            object_id=str(document_id), household=result.household,
            detail={"before": _masked({k: before[k] for k in changed}),
                    "after": _masked({k: after[k] for k in changed}),
                    "reason": mask_in_text(reason)[:200]}))
    return result


def _texts(archive: Archive, document_id: int) -> dict[int, str]:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        return {p.number: archive.blobs.get(p.text_ref, p.text_key).decode("utf-8")
                for p in doc.pages}


@dataclass(frozen=True)
class Moved:
    document_id: int
    household: str
    before: int  # position
    after: int
    renumbered: list[numbering.Renumbered]


def move_document(archive: Archive, who: Principal, document_id: int, to_position: int,
                  reason: str = "") -> Moved:
    """Put a document at another place in its dossier; numbers follow (records.numbering)."""
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        archive.admit(Knock(who, Action.catalogue, document_target(doc, document_id),
                            event="document_move"))
        if doc.dossier_id is None:
            raise Invalid(f"document {document_id} is a daily-management record: its volume "
                          "keeps the order in which records were filed")
        refuse_destroyed(doc.dossier, f"document {document_id}", archive.settings.timezone)

    def write(s: Session) -> Moved:
        doc = s.get(Document, document_id)
        old, new = numbering.move(s, doc, to_position)
        changed = number(archive, s, doc.dossier, who.name, "reorder") if old != new else []
        return Moved(document_id, doc.dossier.household.number, old, new, changed)

    def undo(s: Session, moved: Moved) -> None:  # pragma: no cover - nothing fails after it
        raise RuntimeError("a move cannot fail after its transaction")

    with Commit(archive, "document_move") as unit:
        moved = unit.catalogue(write, undo=undo)
    if moved.before != moved.after:
        archive.record(audit.Event(
            actor=who.name, action="document_move", object_type="document",
            object_id=str(document_id), household=moved.household,
            detail={"before": {"position": moved.before}, "after": {"position": moved.after},
                    "renumbered": [{"document": r.document_id, "before": r.before,
                                    "after": r.after} for r in moved.renumbered],
                    **({"reason": mask_in_text(reason.strip())[:200]} if reason.strip()
                       else {})}))
    return moved


# -- the vocabulary -----------------------------------------------------------------------
def add_doctype(archive: Archive, who: Principal, code: str, name_zh: str, name_en: str,
                required: bool) -> None:
    archive.admit(Knock(who, Action.manage, event="doctype_add"))
    with archive.Session() as s, s.begin():
        doctypes.add_type(s, code, name_zh, name_en, required)
    archive.record(audit.Event(actor=who.name, action="doctype_add", object_type="doctype",
                               object_id=code, detail={"name_zh": name_zh, "name_en": name_en,
                                                       "required": required}))


def set_doctype_required(archive: Archive, who: Principal, code: str, required: bool) -> bool:
    """Mark a type required or not; returns whether anything changed."""
    archive.admit(Knock(who, Action.manage, event="doctype_set_required"))
    with archive.Session() as s, s.begin():
        row, before = doctypes.set_required(s, code, required)
        code = row.code
    if before != required:
        archive.record(audit.Event(actor=who.name, action="doctype_set_required",
                                   object_type="doctype", object_id=code,
                                   detail={"before": {"required": before},
                                           "after": {"required": required}}))
    return before != required


# -- reviews (复核) -------------------------------------------------------------------------
def record_review(archive: Archive, who: Principal, household_no: str, reviewed_on: date,
                  outcome: str, note: str) -> int:
    """Record a household's review; returns the review's id."""
    from records.reviews import parse_outcome, record_review as add_review

    review_target(archive, who, household_no)
    today = datetime.now(archive.settings.timezone).date()
    with archive.Session() as s, s.begin():
        household = s.scalar(select(Household).where(Household.number == household_no))
        event = add_review(s, household, reviewed_on, parse_outcome(outcome), note, who.name,
                           today=today)
        s.flush()
        review_id, stored_note = event.id, event.note
    archive.record(audit.Event(actor=who.name, action="review_record", object_type="household",
                               object_id=household_no, household=household_no,
                               detail={"date": reviewed_on.isoformat(), "outcome": outcome,
                                       "note": stored_note[:200]}))
    return review_id


# -- what the dossier page shows of the desk ----------------------------------------------------
@dataclass(frozen=True)
class DeskFacts:
    """A dossier's archival code, what it lacks, item codes, and its review state."""

    archival_code: str | None
    missing: list[tuple[str, str, str]]  # (code, Chinese name, English name)
    item_codes: dict[int, str]  # document id -> its item's archival code
    review: ReviewState


def desk_facts(archive: Archive, session: Session, household: Household) -> DeskFacts:
    dossier = household.dossier
    codes = dict(session.execute(
        select(ItemNumber.document_id, ItemNumber.code).where(
            ItemNumber.dossier_id == dossier.id, ItemNumber.retired_at.is_(None),
            ItemNumber.document_id.is_not(None))).all())
    missing = [(t.code, t.name_zh, t.name_en) for t in missing_types(session, household)]
    return DeskFacts(dossier.archival_code, missing, codes,
                     review_state(session, household, archive.settings.review_months))


@dataclass(frozen=True)
class DocumentForm:
    """A document's metadata as an archivist corrects it (ID numbers masked). A daily-
    management record has no household: ``head_name`` is then its region's name."""

    id: int
    household: str | None
    head_name: str
    region: str
    type_code: str
    type_name: str
    date: str
    title: str
    responsible: str
    position: int
    count: int  # documents in the dossier
    item_no: int | None
    page_count: int
    volume_id: int | None = None


def document_form(archive: Archive, who: Principal, document_id: int,
                  event: str = "document_edit") -> DocumentForm:
    """The facts of a document to correct or move, for one who may (``catalogue``)."""
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        archive.admit(Knock(who, Action.catalogue, document_target(doc, document_id),
                            event=event))
        household = doc.dossier.household if doc.dossier is not None else None
        home = doc.dossier or doc.volume
        return DocumentForm(doc.id, doc.household_number,
                            household.head_name if household else doc.volume.region.name,
                            doc.region_code, doc.type_code, doc.type.name_zh,
                            doc.date.isoformat() if doc.date else "", mask_in_text(doc.title),
                            mask_in_text(doc.responsible or ""), doc.seq,
                            len(home.documents), doc.item_no, doc.page_count, doc.volume_id)


def review_target(archive: Archive, who: Principal, household_no: str) -> tuple[str, str, str]:
    """(number, head's name, village) of a household whose review ``who`` may record."""
    with archive.Session() as s:
        household = s.scalar(select(Household).where(Household.number == household_no))
        archive.admit(Knock(who, Action.record_review, household_target(household, household_no),
                            event="review_record"))
        return household.number, household.head_name, household.region_code
