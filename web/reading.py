"""Audited reads: the one path by which people see what the archive holds.

The Flask views and the CLI both call these functions. Each asks the policy
in ``records.policy``, records an audit event (allowed or refused) *before*
returning anything, and raises :class:`Refused` when the answer is no. A
refusal looks exactly like a missing object (callers answer 404), so walking
ids reveals nothing.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timezone

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from ingest.archive import Archive
from records import audit
from records.idnumbers import mask, mask_in_text
from records.model import Document, Household, Page
from records.policy import Action, Principal, decide, search_scope


class Refused(Exception):
    """Not found, or not allowed: deliberately indistinguishable to the reader."""

    exit_code = 3

    def __init__(self, what: str):
        super().__init__(f"{what} was not found")


@dataclass(frozen=True)
class SearchHitView:
    document_id: int
    household: str
    head_name: str
    type: str
    type_name: str
    title: str
    page: int
    snippet: str
    fragments: list[tuple[str, bool]]

    def as_json(self) -> dict:
        return {"document_id": self.document_id, "household": self.household,
                "head_name": self.head_name, "type": self.type, "type_name": self.type_name,
                "title": self.title, "page": self.page, "snippet": self.snippet}


def search(archive: Archive, who: Principal, query: str, *, limit: int = 20,
           purpose: str | None = None) -> tuple[list[SearchHitView], int]:
    """Search within the principal's jurisdiction; every search is recorded."""
    decision = decide(who, Action.search)
    detail = {"query": mask_in_text(query)[:200]}
    if not decision:
        archive.record(audit.Event(actor=who.name, action="search", outcome=audit.REFUSED,
                                   purpose=purpose, detail=detail))
        raise Refused("search")
    result = archive.index.search(query, region_scope=search_scope(who), limit=limit)
    hits = []
    for h in result.hits:
        # ID numbers are masked wherever they are shown, snippets included
        fragments = [(mask_in_text(text), matched) for text, matched in h.fragments]
        hits.append(SearchHitView(
            document_id=h.document_id, household=h.household, head_name=h.head_name,
            type=h.doc_type, type_name=h.doc_type_name, title=h.title, page=h.page,
            snippet="".join(f"[{t}]" if m else t for t, m in fragments), fragments=fragments))
    archive.record(audit.Event(actor=who.name, action="search", purpose=purpose,
                               detail={**detail, "results": result.total}))
    return hits, result.total


@dataclass(frozen=True)
class DocumentView:
    id: int
    seq: int
    type_name: str
    title: str
    date: str | None
    page_count: int


@dataclass(frozen=True)
class HouseholdView:
    number: str
    head_name: str
    head_id_masked: str | None
    region_code: str
    region_name: str
    status: str
    documents: list[DocumentView]


def open_household(archive: Archive, who: Principal, number: str, *,
                   purpose: str | None = None) -> HouseholdView:
    """The dossier's documents in order (卷内目录), recorded as a read."""
    with archive.Session() as s:
        household = s.scalar(select(Household).where(Household.number == number))
        region = household.region_code if household else None
        allowed = household is not None and decide(who, Action.read_household, region, number)
        archive.record(audit.Event(
            actor=who.name, action="read_household", object_type="household",
            object_id=number[:40], household=number[:40] if household else None, purpose=purpose,
            outcome=audit.ALLOWED if allowed else audit.REFUSED))
        if not allowed:
            raise Refused(f"household {number}")
        id_number = archive.reveal_id_number(household)
        docs = [DocumentView(d.id, d.seq, d.type.name_zh, d.title,
                             d.date.isoformat() if d.date else None, d.page_count)
                for d in household.dossier.documents]
        return HouseholdView(household.number, household.head_name,
                             mask(id_number) if id_number else None, household.region_code,
                             household.region.name, household.status.value, docs)


@dataclass(frozen=True)
class PageRef:
    document_id: int
    title: str
    type_name: str
    household: str
    head_name: str
    page: int
    page_count: int


def _load_page(archive: Archive, who: Principal, action: Action, document_id: int,
               number: int, purpose: str | None) -> tuple[PageRef, Page]:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        page = None
        if doc is not None:
            page = s.scalar(select(Page).where(Page.document_id == doc.id, Page.number == number))
        household = doc.dossier.household if doc is not None else None
        allowed = page is not None and decide(who, action, household.region_code,
                                                 household.number)
        archive.record(audit.Event(
            actor=who.name, action=action.value, object_type="document",
            object_id=str(document_id), household=household.number if household else None,
            page=number, purpose=purpose, outcome=audit.ALLOWED if allowed else audit.REFUSED))
        if not allowed:
            raise Refused(f"page {number} of document {document_id}")
        ref = PageRef(doc.id, doc.title, doc.type.name_zh, household.number,
                      household.head_name, number, doc.page_count)
        s.expunge(page)
        return ref, page


def describe_document(archive: Archive, who: Principal, document_id: int) -> PageRef:
    """Catalogue facts of a document for the viewer's frame (no page content, not a read)."""
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        household = doc.dossier.household if doc is not None else None
        if doc is None or not decide(who, Action.read_household, household.region_code,
                                     household.number):
            archive.record(audit.Event(actor=who.name, action="read_document",
                                       object_type="document", object_id=str(document_id),
                                       outcome=audit.REFUSED))
            raise Refused(f"document {document_id}")
        household = doc.dossier.household
        return PageRef(doc.id, doc.title, doc.type.name_zh, household.number, household.head_name,
                       1, doc.page_count)


def page_image(archive: Archive, who: Principal, document_id: int, number: int, *,
               purpose: str | None = None, now: datetime | None = None) -> bytes:
    """The page's access image as JPEG, with the reader and the time drawn on it."""
    ref, page = _load_page(archive, who, Action.read_page, document_id, number, purpose)
    jpeg = archive.blobs.get(page.image_ref, page.image_key)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    return watermark(jpeg, f"{who.name}  {stamp}")


def page_text(archive: Archive, who: Principal, document_id: int, number: int, *,
              purpose: str | None = None) -> str:
    """A page's OCR text, ID numbers masked; recorded as a read."""
    _, page = _load_page(archive, who, Action.read_text, document_id, number, purpose)
    return mask_in_text(archive.blobs.get(page.text_ref, page.text_key).decode("utf-8"))


def document_page_count(archive: Archive, document_id: int) -> int | None:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        return doc.page_count if doc else None


_FONT_CACHE: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def _font(size: int):
    if size not in _FONT_CACHE:
        try:
            from ingest.synthetic import fonts_available

            _FONT_CACHE[size] = ImageFont.truetype(fonts_available()[0], size)
        except Exception:
            _FONT_CACHE[size] = ImageFont.load_default(size)
    return _FONT_CACHE[size]


def watermark(jpeg: bytes, text: str) -> bytes:
    """Tile ``text`` diagonally across the image, translucent, so any copy names its reader."""
    with Image.open(io.BytesIO(jpeg)) as src:
        base = src.convert("RGB")
    size = max(18, base.width // 40)
    font = _font(size)
    tile_w = int(font.getlength(text)) + size * 4
    tile = Image.new("RGBA", (tile_w, size * 6), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((size, size * 2), text, font=font, fill=(200, 30, 30, 90))
    tile = tile.rotate(30, expand=True)
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    for y in range(-tile.height // 2, base.height, tile.height // 2 + size * 2):
        for x in range(-tile.width // 2, base.width, tile.width):
            overlay.paste(tile, (x, y), tile)
    out = Image.alpha_composite(base.convert("RGBA"), overlay).convert("RGB")
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=82)
    return buf.getvalue()
