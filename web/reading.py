"""Audited reads: the one path by which people see what the archive holds.

The Flask views and the CLI both call these functions. Each passes the one
door (``records.door``, through :meth:`Archive.admit`), which asks the policy
and records a refusal before raising ``Refused``; an allowed read is recorded
*before* anything is returned. A refusal looks exactly like a missing object
(the web answers 404), so walking ids reveals nothing.

Purpose of use (利用登记): the web app passes ``purposes``, the purposes the
reader stated in this session by household number. With it, a dossier that
has no stated purpose does not open: household views and viewer frames raise
:class:`PurposeRequired` (the app asks for one), page images, texts and
downloads are refused and recorded. The CLI passes no ``purposes`` and reads
under its console user with an optional ``purpose``.

ID numbers: whether a reader sees them in full is one decision of the policy
(``see_full_id``, :func:`full_ids`), taken alike for snippets, the dossier
page, page text, page images and downloads.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import or_, select

from ingest import households, redaction, volumes
from ingest.archive import Archive
from ingest.cataloguing import (DeskFacts, desk_facts, document_target, household_target,
                                volume_target)
from ingest.retention import RetentionFacts, facts_of
from ingest.watermark import stamp_pdf, stamp_text, watermark
from records import audit
from records.door import Knock
from records.idnumbers import mask, mask_in_pieces, mask_in_text
from records.model import Document, Dossier, Household, Page, Region, Volume
from records.policy import Action, Principal, decide, full_ids, region_scope
from records.problems import N_, fail
from records.retention import destroyed_on, refuse_destroyed
from search import searchable
from search.index import MAX_QUERY_CHARS
from web.narrowing import FacetsView, Narrowing, facets_view, to_filters


class PurposeRequired(Exception):
    """The reader may open this household's dossier (or this volume of daily-management
    records) but has not stated a purpose yet.

    Raised only after the door let the read through, so asking for a purpose
    reveals nothing that a 404 would hide.
    """

    def __init__(self, household: str | None, volume: int | None = None):
        what = f"household {household}" if household else f"volume {volume}"
        super().__init__(f"state a purpose before reading {what}")
        self.household = household
        self.volume = volume


def volume_key(volume_id: int) -> str:
    """Under what a purpose stated for a volume is kept (a household's: its number)."""
    return f"volume:{volume_id}"


def reading_key(doc: Document) -> str:
    """The dossier or volume a document is read in, as stated purposes are kept."""
    return doc.household_number or volume_key(doc.volume_id)


def _purpose_required(doc: Document) -> PurposeRequired:
    return PurposeRequired(doc.household_number, doc.volume_id)


def shown_text(who: Principal, region_code: str | None, household: str | None,
               text: str) -> str:
    """``text`` as ``who`` may see it: ID numbers masked unless :func:`full_ids`."""
    return text if full_ids(who, region_code, household) else mask_in_text(text)


def _purpose(key: str, purposes: Mapping[str, str] | None,
             purpose: str | None) -> tuple[str | None, bool]:
    """(the purpose of this reading, whether one is required here); ``key``: the household
    number, or :func:`volume_key` of a volume."""
    if purposes is None:
        return purpose, False
    return purposes.get(key), True


@dataclass(frozen=True)
class SearchHitView:
    document_id: int
    household: str  # "" for a daily-management record (region_name, year then say whose)
    head_name: str
    region_code: str
    type: str
    type_name: str
    title: str
    page: int
    snippet: str
    fragments: list[tuple[str, bool]]
    approximate: bool = False  # found with one character different (an OCR look-alike)
    region_name: str = ""
    year: int | None = None
    volume_id: int | None = None

    def as_json(self) -> dict:
        daily = ({"region": self.region_code, "region_name": self.region_name,
                  "year": self.year, "volume_id": self.volume_id} if not self.household
                 else {})
        return {"document_id": self.document_id, "household": self.household or None,
                "head_name": self.head_name, "type": self.type, "type_name": self.type_name,
                "title": self.title, "page": self.page, "snippet": self.snippet,
                "approximate": self.approximate, **daily}


def _volumes_of(archive: Archive, document_ids: list[int]) -> dict[int, tuple[int, int, str]]:
    """document id -> (volume id, year, region name) of daily-management records."""
    if not document_ids:
        return {}
    with archive.Session() as s:
        rows = s.execute(select(Document.id, Volume.id, Volume.year, Region.name)
                         .join(Volume, Document.volume_id == Volume.id)
                         .join(Region, Volume.region_code == Region.code)
                         .where(Document.id.in_(document_ids)))
        return {doc_id: (vol_id, year, name) for doc_id, vol_id, year, name in rows}


def _volume_facts(found: tuple[int, int, str] | None) -> dict:
    if found is None:
        return {}
    return {"volume_id": found[0], "year": found[1], "region_name": found[2]}


@dataclass(frozen=True)
class DestroyedNotice:
    """A destroyed dossier a search named, told to a reader who may read its household."""

    household: str
    archival_code: str | None
    on: str
    list_no: int | None

    def as_json(self) -> dict:
        return {"household": self.household, "archival_code": self.archival_code,
                "destroyed_on": self.on, "destruction_list": self.list_no}


@dataclass(frozen=True)
class SearchPage:
    """One page of results: the hits, the total (a ``search.Total``) and where this page
    starts; the counts beside them (when asked for) and whether a search for close matches
    (one character different) is worth suggesting, nothing having matched."""

    hits: list[SearchHitView]
    total: int
    offset: int
    limit: int
    destroyed: list[DestroyedNotice] = field(default_factory=list)
    facets: FacetsView | None = None
    suggest_close: bool = False
    narrowing: Narrowing = Narrowing()

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.hits) < self.total


def check_query(query: str) -> None:
    """Refuse, in one sentence, a query that holds nothing to search for (only punctuation
    or symbols); a blank one is no query, and a too long one the index refuses."""
    query = query.strip()
    if query and len(query) <= MAX_QUERY_CHARS and not searchable(query):
        raise fail("q", N_("the query holds only punctuation or symbols; search for a name, "
                           "a number or Chinese words"))


def search(archive: Archive, who: Principal, query: str, *, limit: int = 20, offset: int = 0,
           purpose: str | None = None, narrowing: Narrowing | None = None,
           facets: bool = False) -> SearchPage:
    """Search within the principal's jurisdiction; every search is recorded.

    The jurisdiction is a filter inside the index query (``region_scope``), so
    neither hits, the total nor the counts per type and region (``facets``) ever count
    households outside it. ``narrowing`` (web.narrowing) filters and orders the results;
    with a filter the query may be empty.
    """
    narrowing = narrowing or Narrowing()
    detail = {"query": mask_in_text(query)[:200],
              **({"narrowing": narrowing.as_json()} if narrowing != Narrowing() else {})}
    archive.admit(Knock(who, Action.search, purpose=purpose, detail=detail))
    check_query(query)
    with archive.Session() as s:
        filters = to_filters(s, who, narrowing)
    result = archive.index.search(query, region_scope=region_scope(who), limit=limit,
                                  offset=offset, time_limit=archive.settings.search_seconds,
                                  filters=filters, sort=narrowing.sort, facets=facets,
                                  close=narrowing.close)
    hits = []
    volumes = _volumes_of(archive, [h.document_id for h in result.hits if not h.household])
    for h in result.hits:
        # ID numbers are masked wherever they are shown, snippets included; read across the
        # highlights, which may cut a number OCR wrote in words (220381 [19840217] 6941)
        full = full_ids(who, h.region, h.household)
        show = (lambda text, full=full: text if full else mask_in_text(text))
        fragments = list(h.fragments) if full else mask_in_pieces(h.fragments)
        hits.append(SearchHitView(
            document_id=h.document_id, household=h.household, head_name=h.head_name,
            region_code=h.region, type=h.doc_type, type_name=h.doc_type_name, title=show(h.title),
            page=h.page, snippet="".join(f"[{t}]" if m else t for t, m in fragments),
            fragments=fragments, approximate=h.approximate,
            **_volume_facts(volumes.get(h.document_id))))
    destroyed = _destroyed_named(archive, who, query)
    archive.record(audit.Event(actor=who.name, action="search", purpose=purpose,
                               detail={**detail, "results": int(result.total),
                                       **({"offset": offset} if offset else {}),
                                       **({"destroyed": len(destroyed)} if destroyed else {})}))
    with archive.Session() as s:
        shown = facets_view(s, who, narrowing, result.facets)
    return SearchPage(hits, result.total, offset, limit, destroyed, shown,
                      result.close_match_possible and not destroyed, narrowing)


def _destroyed_named(archive: Archive, who: Principal, query: str) -> list[DestroyedNotice]:
    """Destroyed dossiers whose household number or archival code the query is, among
    those ``who`` may read (the policy asked, so the answer says nothing of the others)."""
    words = {w for w in query.split() if w}
    if not words:
        return []
    with archive.Session() as s:
        rows = s.execute(select(Household, Dossier).join(Dossier, Dossier.household_id ==
                                                         Household.id)
                         .where(Dossier.destroyed_at.is_not(None),
                                or_(Household.number.in_(words),
                                    Dossier.archival_code.in_(words)))).all()
        return [DestroyedNotice(h.number, d.archival_code,
                                destroyed_on(d, archive.settings.timezone), d.destruction_list_id)
                for h, d in rows
                if decide(who, Action.read_household, h.region_code, h.number)]


@dataclass(frozen=True)
class DocumentView:
    id: int
    seq: int
    type_name: str
    title: str
    date: str | None
    page_count: int
    item_no: int | None = None  # 件号 (records.numbering)
    item_code: str | None = None
    responsible: str | None = None  # 责任者
    type_code: str = ""
    month: int | None = None  # of a daily-management record


@dataclass(frozen=True)
class HouseholdView:
    number: str
    head_name: str
    head_id_shown: str | None  # masked unless the reader may see the full number
    region_code: str
    region_name: str
    status: str
    documents: list[DocumentView]
    purpose: str | None
    sheet: households.Sheet | None = None  # members, status history, what it lacks
    desk: DeskFacts | None = None  # archival code, what the dossier lacks, reviews
    retention: RetentionFacts | None = None  # class, disposition date, holds; 已销毁
    destroyed_on: str | None = None  # the office's date, when destroyed


@dataclass(frozen=True)
class HouseholdRef:
    """Just enough to ask for a purpose: the household exists and may be read."""

    number: str
    head_name: str
    region_code: str


_household_target = household_target


def check_household(archive: Archive, who: Principal, number: str) -> HouseholdRef:
    """May ``who`` open this household's dossier at all? Refusals are recorded (as reads)."""
    with archive.Session() as s:
        household = s.scalar(select(Household).where(Household.number == number))
        archive.admit(Knock(who, Action.read_household, _household_target(household, number)))
        return HouseholdRef(household.number, household.head_name, household.region_code)


def record_purpose(archive: Archive, who: Principal, ref: HouseholdRef, purpose: str) -> None:
    """Register the purpose stated for a household (利用登记)."""
    archive.record(audit.Event(actor=who.name, action="state_purpose", object_type="household",
                               object_id=ref.number, household=ref.number, purpose=purpose))


def open_household(archive: Archive, who: Principal, number: str, *,
                   purposes: Mapping[str, str] | None = None,
                   purpose: str | None = None) -> HouseholdView:
    """The dossier's documents in order (卷内目录), recorded as a read."""
    with archive.Session() as s:
        household = s.scalar(select(Household).where(Household.number == number))
        archive.admit(Knock(who, Action.read_household, _household_target(household, number)))
        stated, required = _purpose(number, purposes, purpose)
        if required and stated is None:
            raise PurposeRequired(number)
        archive.record(audit.Event(
            actor=who.name, action="read_household", object_type="household",
            object_id=number, household=number, purpose=stated))
        id_number = archive.reveal_id_number(household)
        if id_number and not full_ids(who, household.region_code, number):
            id_number = mask(id_number)
        show = (lambda text: shown_text(who, household.region_code, number, text))
        desk = desk_facts(archive, s, household)
        docs = [DocumentView(d.id, d.seq, d.type.name_zh, show(d.title),
                             d.date.isoformat() if d.date else None, d.page_count,
                             d.item_no, desk.item_codes.get(d.id),
                             show(d.responsible) if d.responsible else None, d.type_code)
                for d in household.dossier.documents]
        kept = facts_of(s, household)
        gone = destroyed_on(household.dossier, archive.settings.timezone) \
            if household.dossier.destroyed_at else None
        return HouseholdView(household.number, household.head_name, id_number,
                             household.region_code, household.region.name,
                             household.status.value, docs, stated,
                             households.sheet(archive, s, who, household), desk, kept, gone)


# -- a volume of daily-management records (日常管理档案) ---------------------------------------
@dataclass(frozen=True)
class VolumeView:
    facts: volumes.VolumeFacts
    documents: list[DocumentView]
    purpose: str | None

    def as_json(self) -> dict:
        return {**self.facts.as_json(), "purpose": self.purpose,
                "records": [{"document_id": d.id, "seq": d.seq, "item_no": d.item_no,
                             "item_code": d.item_code, "type": d.type_code,
                             "type_name": d.type_name, "title": d.title, "date": d.date,
                             "month": d.month, "pages": d.page_count}
                            for d in self.documents]}


def check_volume(archive: Archive, who: Principal, volume_id: int) -> volumes.VolumeFacts:
    """May ``who`` open this volume at all? Refusals are recorded (as reads)."""
    with archive.Session() as s:
        volume = volumes.find(s, volume_id)
        archive.admit(Knock(who, Action.read_household,
                            volume_target(volume, str(volume_id)), event="read_volume"))
        return volumes.facts(s, volume)


def record_volume_purpose(archive: Archive, who: Principal, volume: volumes.VolumeFacts,
                          purpose: str) -> None:
    archive.record(audit.Event(actor=who.name, action="state_purpose", object_type="volume",
                               object_id=volume.key, purpose=purpose))


def open_volume(archive: Archive, who: Principal, ref: int | str, *,
                purposes: Mapping[str, str] | None = None,
                purpose: str | None = None) -> VolumeView:
    """A volume's records in order (its 卷内目录), recorded as a read; ``ref``: its id or
    REGION/YEAR. In the browser it opens only under a stated purpose, like a dossier."""
    with archive.Session() as s:
        volume = volumes.find(s, ref)
        archive.admit(Knock(who, Action.read_household,
                            volume_target(volume, str(ref)), event="read_volume"))
        stated, required = _purpose(volume_key(volume.id), purposes, purpose)
        if required and stated is None:
            raise PurposeRequired(None, volume.id)
        facts = volumes.facts(s, volume)
        archive.record(audit.Event(actor=who.name, action="read_volume", object_type="volume",
                                   object_id=facts.key, purpose=stated))
        show = (lambda text: shown_text(who, volume.region_code, None, text))
        docs = [DocumentView(d.id, d.seq, d.type.name_zh, show(d.title),
                             d.date.isoformat() if d.date else None, d.page_count, d.item_no,
                             f"{volume.archival_code}-{d.seq:04d}" if volume.archival_code
                             else None, show(d.responsible) if d.responsible else None,
                             d.type_code, d.month) for d in volume.documents]
        return VolumeView(facts, docs, stated)


@dataclass(frozen=True)
class PageRef:
    document_id: int
    title: str
    type_name: str
    household: str  # "" for a daily-management record
    head_name: str  # for a daily-management record: its region's name and year
    page: int
    page_count: int
    region_code: str = ""
    purpose: str | None = None
    volume_id: int | None = None  # the volume a daily-management record is filed in


_document_target = document_target


def _page_ref(who: Principal, doc: Document, number: int, stated: str | None) -> PageRef:
    household = doc.dossier.household if doc.dossier is not None else None
    if household is None:
        whose = f"{doc.volume.region.name} {doc.volume.year}"
        return PageRef(doc.id, shown_text(who, doc.region_code, None, doc.title),
                       doc.type.name_zh, "", whose, number, doc.page_count, doc.region_code,
                       stated, doc.volume_id)
    return PageRef(doc.id, shown_text(who, household.region_code, household.number, doc.title),
                   doc.type.name_zh, household.number, household.head_name, number,
                   doc.page_count, household.region_code, stated)


def _load_page(archive: Archive, who: Principal, action: Action, document_id: int,
               number: int, purposes: Mapping[str, str] | None,
               purpose: str | None, detail: dict | None = None) -> tuple[PageRef, Page]:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        page = None
        if doc is not None:
            page = s.scalar(select(Page).where(Page.document_id == doc.id, Page.number == number))
        stated, required = (None, False) if doc is None else _purpose(
            reading_key(doc), purposes, purpose)
        target = _document_target(doc, document_id, number, found=page is not None)
        # no purpose, no pages
        archive.admit(Knock(who, action, target, purpose=stated, needs_purpose=required))
        refuse_destroyed(doc.dossier, f"document {document_id}", archive.settings.timezone)
        archive.record(audit.Event(
            actor=who.name, action=action.value, object_type="document",
            object_id=str(document_id), household=target.household, page=number,
            purpose=stated, detail=detail or {}))
        ref = _page_ref(who, doc, number, stated)
        s.expunge(page)
        return ref, page


def _frame(archive: Archive, s, who: Principal, document_id: int,
           purposes: Mapping[str, str] | None, action: Action,
           number: int | None = None) -> tuple[Document, str | None]:
    """The document of a viewer frame, through the door, not destroyed, under a stated purpose;
    with ``number``, a page it has (a page it lacks is refused like a document that is not
    there)."""
    doc = s.get(Document, document_id)
    found = doc is not None and (number is None or 1 <= number <= doc.page_count)
    archive.admit(Knock(who, action, _document_target(doc, document_id, number, found=found),
                        event="read_document"))
    refuse_destroyed(doc.dossier, f"document {document_id}", archive.settings.timezone)
    stated, required = _purpose(reading_key(doc), purposes, None)
    if required and stated is None:
        raise _purpose_required(doc)
    return doc, stated


def describe_document(archive: Archive, who: Principal, document_id: int, *,
                      purposes: Mapping[str, str] | None = None,
                      action: Action = Action.read_page) -> PageRef:
    """Catalogue facts of a document for the viewer's frame (no page content, not a read).

    ``action`` is what the frame is for (page images by default, or page text): a reader
    who may not do it is refused the frame too, instead of a frame around a broken image.
    """
    with archive.Session() as s:
        doc, stated = _frame(archive, s, who, document_id, purposes, action)
        return _page_ref(who, doc, 1, stated)


# -- the dossier reader (阅卷): every page of a dossier or volume, in order ------------------
@dataclass(frozen=True)
class Place:
    """A page of the reading order: a document and a page number in it."""

    document_id: int
    page: int


@dataclass(frozen=True)
class Reader:
    """The viewer's frame: the document shown, the page, and the documents of its dossier
    (or volume) in order, so that the arrows lead across documents from the first page of
    the first document to the last page of the last."""

    doc: PageRef
    number: int
    documents: list[DocumentView]  # those the reader may read, in the dossier's order
    current: int  # the shown document's place in ``documents``

    @property
    def prev_page(self) -> Place | None:
        if self.number > 1:
            return Place(self.doc.document_id, self.number - 1)
        if self.current > 0:
            before = self.documents[self.current - 1]
            return Place(before.id, before.page_count)
        return None

    @property
    def next_page(self) -> Place | None:
        if self.number < self.doc.page_count:
            return Place(self.doc.document_id, self.number + 1)
        return self.next_document

    @property
    def prev_document(self) -> Place | None:
        return Place(self.documents[self.current - 1].id, 1) if self.current > 0 else None

    @property
    def next_document(self) -> Place | None:
        if self.current + 1 < len(self.documents):
            return Place(self.documents[self.current + 1].id, 1)
        return None

    def as_json(self) -> dict:
        place = (lambda p: {"document_id": p.document_id, "page": p.page} if p else None)
        return {"document_id": self.doc.document_id, "page": self.number,
                "page_count": self.doc.page_count, "household": self.doc.household or None,
                "volume_id": self.doc.volume_id, "purpose": self.doc.purpose,
                "previous_page": place(self.prev_page), "next_page": place(self.next_page),
                "previous_document": place(self.prev_document),
                "next_document": place(self.next_document),
                "documents": [{"document_id": d.id, "seq": d.seq, "type_name": d.type_name,
                               "title": d.title, "date": d.date, "pages": d.page_count}
                              for d in self.documents]}


def open_reader(archive: Archive, who: Principal, document_id: int, number: int, *,
                purposes: Mapping[str, str] | None = None) -> Reader:
    """The reader's frame around page ``number`` of a document (no page content, not a read:
    each page image and thumbnail is read, and recorded, when it is served).

    A page the document lacks is refused by the door like a document that is not there. The
    documents listed are the others of the same dossier or volume, not destroyed, with pages:
    the door placed the shown one by its household and region, which its dossier's (or
    volume's) documents share, so letting this reader in lets them read those too, and the
    arrows never lead to a page the reader would be refused.
    """
    with archive.Session() as s:
        doc, stated = _frame(archive, s, who, document_id, purposes, Action.read_page, number)
        siblings = doc.dossier.documents if doc.dossier is not None else doc.volume.documents
        show = (lambda text: shown_text(who, doc.region_code, doc.household_number, text))
        documents = [DocumentView(d.id, d.seq, d.type.name_zh, show(d.title),
                                  d.date.isoformat() if d.date else None, d.page_count,
                                  d.item_no, type_code=d.type_code, month=d.month)
                     for d in siblings
                     if d.id == doc.id or (d.destroyed_at is None and d.page_count > 0)]
        current = next(i for i, d in enumerate(documents) if d.id == doc.id)
        return Reader(_page_ref(who, doc, number, stated), number, documents, current)


def _stamp(archive: Archive, who: Principal, purpose: str | None, now: datetime | None) -> str:
    return stamp_text(who.name, now or datetime.now(timezone.utc), archive.settings.timezone,
                      purpose)


def page_image(archive: Archive, who: Principal, document_id: int, number: int, *,
               purposes: Mapping[str, str] | None = None, purpose: str | None = None,
               now: datetime | None = None) -> bytes:
    """The page's access image as JPEG, with the reader, the time and the purpose drawn on it.

    ID numbers printed on the page are painted over unless the reader may see them in full.
    """
    return _shown_page(archive, who, document_id, number, purposes, purpose, now)


THUMBNAIL_SIDE = 240  # px, the long side: a strip of them fits a phone's width in turn


def page_thumbnail(archive: Archive, who: Principal, document_id: int, number: int, *,
                   purposes: Mapping[str, str] | None = None, purpose: str | None = None,
                   now: datetime | None = None) -> bytes:
    """A small rendition of the page for the reader's strip of thumbnails: a page image shown
    like any other, so read through the door, recorded (``read_page``, detail
    ``{"view": "thumbnail"}``), watermarked and with ID numbers painted over alike."""
    return _shown_page(archive, who, document_id, number, purposes, purpose, now,
                       side=THUMBNAIL_SIDE)


def _shown_page(archive: Archive, who: Principal, document_id: int, number: int,
                purposes: Mapping[str, str] | None, purpose: str | None,
                now: datetime | None, side: int | None = None) -> bytes:
    ref, page = _load_page(archive, who, Action.read_page, document_id, number, purposes,
                           purpose, {"view": "thumbnail"} if side else None)
    jpeg = archive.blobs.get(page.image_ref, page.image_key)
    regions: list[redaction.Region] = []
    if not full_ids(who, ref.region_code, ref.household):
        regions = redaction.loads(page.id_regions)
        if regions is None:  # archived before regions were kept: found once, then stored
            regions = redaction.page_regions(archive, document_id)[number]
    return watermark(jpeg, _stamp(archive, who, ref.purpose, now), regions, side=side)


def page_text(archive: Archive, who: Principal, document_id: int, number: int, *,
              purposes: Mapping[str, str] | None = None, purpose: str | None = None) -> str:
    """A page's OCR text, ID numbers masked unless the reader may see them; recorded as a read."""
    ref, page = _load_page(archive, who, Action.read_text, document_id, number, purposes,
                           purpose)
    text = archive.blobs.get(page.text_ref, page.text_key).decode("utf-8")
    return shown_text(who, ref.region_code, ref.household, text)


@dataclass(frozen=True)
class Download:
    filename: str
    pdf: bytes


def download(archive: Archive, who: Principal, document_id: int, *,
             purposes: Mapping[str, str] | None = None, purpose: str | None = None,
             now: datetime | None = None) -> Download:
    """The archival PDF, decrypted, with the reader, time and purpose stamped on every page.

    A reader who may not see ID numbers in full gets a copy rebuilt from the
    page images with the numbers painted over and masked in the text layer
    (``ingest.redaction.redacted_pdf``).
    """
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        stated, required = (None, False) if doc is None else _purpose(
            reading_key(doc), purposes, purpose)
        target = _document_target(doc, document_id)
        archive.admit(Knock(who, Action.download, target, purpose=stated, needs_purpose=required))
        refuse_destroyed(doc.dossier, f"document {document_id}", archive.settings.timezone)
        archive.record(audit.Event(
            actor=who.name, action="download", object_type="document",
            object_id=str(document_id), household=target.household, purpose=stated))
        pdf = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
        filename = (f"{target.household}-{doc.seq:03d}.pdf" if target.household else
                    f"{doc.volume.region_code}-{doc.volume.year}-{doc.seq:03d}.pdf")
        full = full_ids(who, target.region, target.household)
        title = doc.title
        images = [(p.number, p.image_ref, p.image_key) for p in doc.pages]
    if not full:
        regions = redaction.page_regions(archive, document_id, pdf)
        pdf = redaction.redacted_pdf(pdf, [
            redaction.PageImage(archive.blobs.get(ref, key), regions[number])
            for number, ref, key in images], title=title)
    return Download(filename, stamp_pdf(pdf, _stamp(archive, who, stated, now)))


def document_page_count(archive: Archive, document_id: int) -> int | None:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        return doc.page_count if doc else None
