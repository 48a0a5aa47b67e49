"""Audited reads: the one path by which people see what the archive holds.

The Flask views and the CLI both call these functions. Each asks the policy
in ``records.policy``, records an audit event (allowed or refused) *before*
returning anything, and raises :class:`Refused` when the answer is no. A
refusal looks exactly like a missing object (callers answer 404), so walking
ids reveals nothing.

Purpose of use (利用登记): the web app passes ``purposes``, the purposes the
reader stated in this session by household number. With it, a dossier that
has no stated purpose does not open: household views and viewer frames raise
:class:`PurposeRequired` (the app asks for one), page images, texts and
downloads are refused and recorded. The CLI passes no ``purposes`` and reads
under its console user with an optional ``purpose``.
"""
from __future__ import annotations

import io
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import pikepdf
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from ingest import redaction
from ingest.archive import Archive
from records import audit
from records.idnumbers import mask, mask_in_pieces, mask_in_text
from records.model import Document, Household, Page
from records.policy import Action, Principal, decide, region_scope


class Refused(Exception):
    """Not found, or not allowed: deliberately indistinguishable to the reader."""

    exit_code = 3

    def __init__(self, what: str):
        super().__init__(f"{what} was not found")


class PurposeRequired(Exception):
    """The reader may open this household's dossier but has not stated a purpose yet.

    Raised only after the policy allowed the read, so asking for a purpose
    reveals nothing that a 404 would hide.
    """

    def __init__(self, household: str):
        super().__init__(f"state a purpose before reading household {household}")
        self.household = household


NO_PURPOSE = "no purpose stated"


def _purpose(household: str, purposes: Mapping[str, str] | None,
             purpose: str | None) -> tuple[str | None, bool]:
    """(the purpose of this reading, whether one is missing but required)."""
    if purposes is None:
        return purpose, False
    stated = purposes.get(household)
    return stated, stated is None


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
    approximate: bool = False  # found with one character different (an OCR look-alike)

    def as_json(self) -> dict:
        return {"document_id": self.document_id, "household": self.household,
                "head_name": self.head_name, "type": self.type, "type_name": self.type_name,
                "title": self.title, "page": self.page, "snippet": self.snippet,
                "approximate": self.approximate}


def search(archive: Archive, who: Principal, query: str, *, limit: int = 20,
           purpose: str | None = None) -> tuple[list[SearchHitView], int]:
    """Search within the principal's jurisdiction; every search is recorded.

    The jurisdiction is a filter inside the Whoosh query (``region_scope``), so
    neither hits nor the total ever count households outside it.
    """
    decision = decide(who, Action.search)
    detail = {"query": mask_in_text(query)[:200]}
    if not decision:
        archive.record(audit.Event(actor=who.name, action="search", outcome=audit.REFUSED,
                                   purpose=purpose, detail=detail))
        raise Refused("search")
    result = archive.index.search(query, region_scope=region_scope(who), limit=limit)
    hits = []
    for h in result.hits:
        # ID numbers are masked wherever they are shown, snippets included; read across the
        # highlights, which may cut a number OCR wrote in words (220381 [19840217] 6941)
        fragments = mask_in_pieces(h.fragments)
        hits.append(SearchHitView(
            document_id=h.document_id, household=h.household, head_name=h.head_name,
            type=h.doc_type, type_name=h.doc_type_name, title=mask_in_text(h.title), page=h.page,
            snippet="".join(f"[{t}]" if m else t for t, m in fragments), fragments=fragments,
            approximate=h.approximate))
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
    head_id_shown: str | None  # masked unless the reader may see the full number
    region_code: str
    region_name: str
    status: str
    documents: list[DocumentView]
    purpose: str | None


@dataclass(frozen=True)
class HouseholdRef:
    """Just enough to ask for a purpose: the household exists and may be read."""

    number: str
    head_name: str
    region_code: str


def _refuse_household(archive: Archive, who: Principal, number: str, exists: bool,
                      action: str = "read_household") -> None:
    archive.record(audit.Event(
        actor=who.name, action=action, object_type="household", object_id=number[:40],
        household=number[:40] if exists else None, outcome=audit.REFUSED))
    raise Refused(f"household {number}")


def check_household(archive: Archive, who: Principal, number: str) -> HouseholdRef:
    """May ``who`` open this household's dossier at all? Refusals are recorded (as reads)."""
    with archive.Session() as s:
        household = s.scalar(select(Household).where(Household.number == number))
        if household is None or not decide(who, Action.read_household, household.region_code,
                                           number):
            _refuse_household(archive, who, number, household is not None)
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
        if household is None or not decide(who, Action.read_household, household.region_code,
                                           number):
            _refuse_household(archive, who, number, household is not None)
        stated, missing = _purpose(number, purposes, purpose)
        if missing:
            raise PurposeRequired(number)
        archive.record(audit.Event(
            actor=who.name, action="read_household", object_type="household",
            object_id=number, household=number, purpose=stated))
        id_number = archive.reveal_id_number(household)
        if id_number and not decide(who, Action.see_full_id, household.region_code, number):
            id_number = mask(id_number)
        docs = [DocumentView(d.id, d.seq, d.type.name_zh, mask_in_text(d.title),
                             d.date.isoformat() if d.date else None, d.page_count)
                for d in household.dossier.documents]
        return HouseholdView(household.number, household.head_name, id_number,
                             household.region_code, household.region.name,
                             household.status.value, docs, stated)


@dataclass(frozen=True)
class PageRef:
    document_id: int
    title: str
    type_name: str
    household: str
    head_name: str
    page: int
    page_count: int
    region_code: str = ""
    purpose: str | None = None


def _load_page(archive: Archive, who: Principal, action: Action, document_id: int,
               number: int, purposes: Mapping[str, str] | None,
               purpose: str | None) -> tuple[PageRef, Page]:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        page = None
        if doc is not None:
            page = s.scalar(select(Page).where(Page.document_id == doc.id, Page.number == number))
        household = doc.dossier.household if doc is not None else None
        allowed = page is not None and bool(decide(who, action, household.region_code,
                                                   household.number))
        detail = {}
        stated = None
        if allowed:
            stated, missing = _purpose(household.number, purposes, purpose)
            if missing:  # no purpose, no pages
                allowed, detail = False, {"reason": NO_PURPOSE}
        archive.record(audit.Event(
            actor=who.name, action=action.value, object_type="document",
            object_id=str(document_id), household=household.number if household else None,
            page=number, purpose=stated, detail=detail,
            outcome=audit.ALLOWED if allowed else audit.REFUSED))
        if not allowed:
            raise Refused(f"page {number} of document {document_id}")
        ref = PageRef(doc.id, mask_in_text(doc.title), doc.type.name_zh, household.number,
                      household.head_name, number, doc.page_count, household.region_code,
                      stated)
        s.expunge(page)
        return ref, page


def describe_document(archive: Archive, who: Principal, document_id: int, *,
                      purposes: Mapping[str, str] | None = None) -> PageRef:
    """Catalogue facts of a document for the viewer's frame (no page content, not a read)."""
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        household = doc.dossier.household if doc is not None else None
        if doc is None or not decide(who, Action.read_household, household.region_code,
                                     household.number):
            archive.record(audit.Event(actor=who.name, action="read_document",
                                       object_type="document", object_id=str(document_id),
                                       household=household.number if household else None,
                                       outcome=audit.REFUSED))
            raise Refused(f"document {document_id}")
        stated, missing = _purpose(household.number, purposes, None)
        if missing:
            raise PurposeRequired(household.number)
        return PageRef(doc.id, mask_in_text(doc.title), doc.type.name_zh, household.number,
                       household.head_name, 1, doc.page_count, household.region_code, stated)


def _stamp_text(who: Principal, purpose: str | None, now: datetime | None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    return "  ".join(part for part in (who.name, stamp, purpose) if part)


def page_image(archive: Archive, who: Principal, document_id: int, number: int, *,
               purposes: Mapping[str, str] | None = None, purpose: str | None = None,
               now: datetime | None = None) -> bytes:
    """The page's access image as JPEG, with the reader, the time and the purpose drawn on it.

    ID numbers printed on the page are painted over unless the reader may see them in full.
    """
    ref, page = _load_page(archive, who, Action.read_page, document_id, number, purposes, purpose)
    jpeg = archive.blobs.get(page.image_ref, page.image_key)
    regions: list[redaction.Region] = []
    if not decide(who, Action.see_full_id, ref.region_code, ref.household):
        regions = redaction.loads(page.id_regions)
        if regions is None:  # archived before regions were kept: found once, then stored
            regions = redaction.page_regions(archive, document_id)[number]
    return watermark(jpeg, _stamp_text(who, ref.purpose, now), regions)


def page_text(archive: Archive, who: Principal, document_id: int, number: int, *,
              purposes: Mapping[str, str] | None = None, purpose: str | None = None) -> str:
    """A page's OCR text, ID numbers masked; recorded as a read."""
    _, page = _load_page(archive, who, Action.read_text, document_id, number, purposes, purpose)
    return mask_in_text(archive.blobs.get(page.text_ref, page.text_key).decode("utf-8"))


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
        household = doc.dossier.household if doc is not None else None
        allowed = doc is not None and bool(decide(who, Action.download, household.region_code,
                                                  household.number))
        detail, stated = {}, None
        if allowed:
            stated, missing = _purpose(household.number, purposes, purpose)
            if missing:
                allowed, detail = False, {"reason": NO_PURPOSE}
        archive.record(audit.Event(
            actor=who.name, action="download", object_type="document",
            object_id=str(document_id), household=household.number if household else None,
            purpose=stated, detail=detail, outcome=audit.ALLOWED if allowed else audit.REFUSED))
        if not allowed:
            raise Refused(f"document {document_id}")
        pdf = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
        filename = f"{household.number}-{doc.seq:03d}.pdf"
        full_id = decide(who, Action.see_full_id, household.region_code, household.number)
        title = doc.title
        images = [(p.number, p.image_ref, p.image_key) for p in doc.pages]
    if not full_id:
        regions = redaction.page_regions(archive, document_id, pdf)
        pdf = redaction.redacted_pdf(pdf, [
            redaction.PageImage(archive.blobs.get(ref, key), regions[number])
            for number, ref, key in images], title=title)
    return Download(filename, stamp_pdf(pdf, _stamp_text(who, stated, now)))


def document_page_count(archive: Archive, document_id: int) -> int | None:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        return doc.page_count if doc else None


# -- watermarks ------------------------------------------------------------------
_FONT_CACHE: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def _font(size: int):
    if size not in _FONT_CACHE:
        try:
            from ingest.synthetic import fonts_available

            _FONT_CACHE[size] = ImageFont.truetype(fonts_available()[0], size)
        except Exception:
            _FONT_CACHE[size] = ImageFont.load_default(size)
    return _FONT_CACHE[size]


def _overlay(size: tuple[int, int], text: str) -> Image.Image:
    """A transparent RGBA sheet with ``text`` tiled diagonally in translucent red."""
    width, height = size
    font_size = max(18, width // 40)
    font = _font(font_size)
    tile_w = int(font.getlength(text)) + font_size * 4
    tile = Image.new("RGBA", (tile_w, font_size * 6), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((font_size, font_size * 2), text, font=font,
                              fill=(*WATERMARK_INK, 90))
    tile = tile.rotate(30, expand=True)
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    for y in range(-tile.height // 2, height, tile.height // 2 + font_size * 2):
        for x in range(-tile.width // 2, width, tile.width):
            overlay.paste(tile, (x, y), tile)
    return overlay


WATERMARK_INK = (200, 30, 30)  # the overlay's red; its alpha comes from _overlay


@lru_cache(maxsize=48)
def _watermark_mask(size: tuple[int, int], text: str) -> Image.Image:
    """The alpha of ``_overlay(size, text)`` (L mode), kept for the next page of the same reading.

    The text changes once a minute per reader and purpose, and building the
    tiled sheet was a quarter of an image request's CPU; 48 masks of a
    2000 px page are about 130 MB.
    """
    mask = _overlay(size, text).getchannel("A")
    mask.load()
    return mask


def watermark(jpeg: bytes, text: str, regions: Sequence[redaction.Region] = ()) -> bytes:
    """Tile ``text`` diagonally across the image, translucent, so any copy names its reader.

    ``regions`` (ID numbers, ``ingest.redaction``) are painted over first. The
    red is painted through the cached alpha mask straight onto the RGB page:
    the same pixels as compositing an RGBA sheet, without two mode conversions.
    """
    with Image.open(io.BytesIO(jpeg)) as src:
        base = src.convert("RGB")
    redaction.cover(base, regions)
    base.paste(WATERMARK_INK, (0, 0, *base.size), _watermark_mask(base.size, text))
    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=82)
    return buf.getvalue()


WATERMARK_XOBJECT = "/HudangWatermark"
_PDF_OVERLAY_WIDTH = 1200  # px across the page: legible, and small next to a scan


def stamp_pdf(pdf: bytes, text: str) -> bytes:
    """Draw ``text`` over every page of ``pdf`` as a transparent image XObject.

    The text is rendered with Pillow in a CJK font (a PDF font would need CJK
    embedding) and placed over the whole media box of each page.
    """
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        images: dict[tuple[int, int, int], pikepdf.Stream] = {}
        for page in doc.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            w, h = x1 - x0, y1 - y0
            rotate = int(page.obj.get("/Rotate", 0)) % 360
            upright = (h, w) if rotate in (90, 270) else (w, h)
            size = (_PDF_OVERLAY_WIDTH, max(1, round(_PDF_OVERLAY_WIDTH * upright[1] / upright[0])))
            key = (*size, rotate)
            if key not in images:
                sheet = _overlay(size, text)
                if rotate:  # the viewer turns the page clockwise; pre-turn the sheet back
                    sheet = sheet.rotate(rotate, expand=True)
                images[key] = _image_xobject(doc, sheet)
            name = page.add_resource(images[key], pikepdf.Name.XObject,
                                     pikepdf.Name(WATERMARK_XOBJECT))
            page.contents_add(doc.make_stream(b"q\n"), prepend=True)
            page.contents_add(doc.make_stream(
                f"\nQ\nq {w:.3f} 0 0 {h:.3f} {x0:.3f} {y0:.3f} cm {name} Do Q\n".encode()))
        doc.save(out)
    return out.getvalue()


def _image_xobject(doc: pikepdf.Pdf, sheet: Image.Image) -> pikepdf.Stream:
    common = {"/Type": pikepdf.Name.XObject, "/Subtype": pikepdf.Name.Image,
              "/Width": sheet.width, "/Height": sheet.height, "/BitsPerComponent": 8,
              "/Filter": pikepdf.Name.FlateDecode}
    smask = pikepdf.Stream(doc, zlib.compress(sheet.getchannel("A").tobytes()))
    smask.stream_dict.update({**common, "/ColorSpace": pikepdf.Name.DeviceGray})
    image = pikepdf.Stream(doc, zlib.compress(sheet.convert("RGB").tobytes()))
    image.stream_dict.update({**common, "/ColorSpace": pikepdf.Name.DeviceRGB, "/SMask": smask})
    return image
