"""Re-run OCR on chosen pages of a stored document, without re-ingesting it.

For the archivist's low-confidence pages (``hudang pages low-confidence``):
``reocr`` reads the pages again with another engine and replaces their text
everywhere it lives, in the same order as ingest keeps things consistent:

1. the archival PDF is decrypted in memory; each chosen page is rendered as
   displayed (its /Rotate already holds the orientation found at ingest),
   cleaned up and OCR'd by worker processes;
2. the page's old invisible text layer (the last content stream, which
   ``ingest.assemble`` appends as ``Q`` + the layer after wrapping the scan
   in ``q``) is replaced by the new one; the scan itself is not touched;
3. in one :class:`ingest.commit.Commit`: the new PDF and page texts are
   stored as new encrypted blobs, the document and page rows are pointed at
   them in one transaction (with the regions of the pages' ID numbers,
   ``ingest.redaction``), and the pages' index entries are replaced; if any
   of it fails, the rows get their old values back, the new blobs are
   shredded and the index follows the catalogue again;
4. a ``reocr`` audit event is recorded, and once all of that stands, the old PDF
   and text blobs are shredded. The unit's journal names the old blobs before the
   catalogue stops referring to them, so a re-OCR killed at any moment is finished
   or rolled back by ``ingest.recovery``, never left half-way.

Neither the PDF nor the text is ever written to disk in the clear: only the
page rasters (images) pass through the work directory.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import redaction
from ingest.archive import Archive
from ingest.cataloguing import document_target
from ingest.commit import Commit
from ingest.exceptions import IngestError, full_disk_as
from ingest.journal import work_dir
from ingest.ocr import fields
from ingest.ocr.base import OcrPage
from ingest.ocr.worker import OcrPool
from records.retention import refuse_destroyed
from ingest.pdfwrite import add_font, layer_stream, put_text_layer, to_bytes
from ingest.textlayer import FONT_RESOURCE, PageGeometry, glyphless_font, text_layer_stream
from records import audit
from records.door import Knock
from records.model import Document, Household, Page
from records.policy import Action, Principal, decide
from storage import BlobRef

RENDER_DPI = 300
MAX_RENDER_PIXELS = 60_000_000  # as ingest's raster cap (ingest.sources.Limits)


@dataclass
class LowConfidencePage:
    document_id: int
    page: int
    household: str
    doc_type: str
    confidence: float | None
    engine: str | None
    flag: str | None

    def as_json(self) -> dict:
        return {"document_id": self.document_id, "page": self.page, "household": self.household,
                "doc_type": self.doc_type, "confidence": self.confidence,
                "engine": self.engine, "flag": self.flag}


@dataclass
class ReocrResult:
    document_id: int
    pages: list[int]
    engine: str
    confidence: dict[int, float | None]
    flags: dict[int, str | None]


def low_confidence_pages(archive: Archive, who: Principal, below: float, *,
                         flagged: bool = False) -> list[LowConfidencePage]:
    """OCR'd pages with confidence below ``below`` (with ``flagged``, flagged pages too),
    in the households ``who`` may ingest into, worst first."""
    with archive.Session() as s:
        rows = s.execute(
            select(Page, Document.type_code, Household.number, Household.region_code)
            .join(Document, Page.document_id == Document.id)
            .join(Document.dossier).join(Household)
            .where(Page.text_source == "ocr", Document.destroyed_at.is_(None))
            .order_by(Page.ocr_confidence.asc().nulls_first(), Page.document_id, Page.number))
        found = []
        for page, type_code, household, region in rows:
            low = page.ocr_confidence is None or page.ocr_confidence < below
            if not (low or (flagged and page.flag)):
                continue
            if not decide(who, Action.ingest, region, household):
                continue
            found.append(LowConfidencePage(page.document_id, page.number, household, type_code,
                                           page.ocr_confidence, page.ocr_engine, page.flag))
        return found


def reocr(archive: Archive, who: Principal, document_id: int, *, engine: str,
          pages: list[int] | None = None, workers: int | None = None,
          pool: OcrPool | None = None) -> ReocrResult:
    """OCR ``pages`` (default: all) of a document again with ``engine``; see the module doc."""
    target = _load(archive, who, document_id, pages)
    with full_disk_as(f"re-OCR document {document_id}", archive.settings.home):
        return _reocr(archive, who, target, document_id, engine, workers, pool)


def _reocr(archive: Archive, who: Principal, target: _ReocrTarget, document_id: int,
           engine: str, workers: int | None, pool: OcrPool | None) -> ReocrResult:
    own_pool = pool is None
    pool = pool or OcrPool(engine, workers, tmp_dir=archive.settings.tmp_dir)
    try:
        with work_dir(archive.settings.tmp_dir, "reocr") as work:
            pdf_bytes = archive.blobs.get(target.pdf_ref, target.pdf_key)
            rasters = render_pages(pdf_bytes, target.pages, work)
            results = {r.number: r.ocr for r in pool.run(sorted(rasters.items()), detect=False)}
    finally:
        if own_pool:
            pool.close()
    new_pdf = replace_text_layers(pdf_bytes, results)
    dossier = fields.Dossier(household_number=target.household,
                             head_id_index=target.head_id_index, doc_type=target.type_code)
    checks = {n: fields.check_page(ocr.text, dossier, archive.id_index)
              if target.household else fields.FieldCheck(confirmed=False)
              for n, ocr in results.items()}
    confidence = {n: checks[n].adjust(ocr.confidence) for n, ocr in results.items()}
    with Commit(archive, "reocr") as unit:
        pdf = unit.put(new_pdf)
        texts = {n: unit.put(ocr.text.encode("utf-8")) for n, ocr in results.items()}

        def write(s: Session) -> _Previous:
            previous = _update_catalogue(s, document_id, target, pdf, texts, results, checks,
                                         pool.engine_name)
            unit.retire(previous.refs())  # named before the change commits; shredded after
            return previous

        unit.catalogue(write, undo=_restore_catalogue)
        unit.index(document_id, {n: ocr.text for n, ocr in results.items()}, pages=results)
        archive.record(audit.Event(
            actor=who.name, action="reocr", object_type="document", object_id=str(document_id),
            household=target.household,
            detail={"pages": sorted(results), "engine": pool.engine_name,
                    "confidence": {str(n): _round(c) for n, c in confidence.items()}}))
    return ReocrResult(document_id, sorted(results), pool.engine_name, confidence,
                       {n: checks[n].flag for n in results})


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True)
class _ReocrTarget:
    pdf_ref: str
    pdf_key: bytes
    pages: list[int]
    household: str | None  # None: a daily-management record (its numbers are not checked)
    head_id_index: str | None
    type_code: str


def _load(archive: Archive, who: Principal, document_id: int,
          pages: list[int] | None) -> _ReocrTarget:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        archive.admit(Knock(who, Action.ingest, document_target(doc, document_id),
                            event="reocr"))
        household = doc.dossier.household if doc.dossier is not None else None
        refuse_destroyed(doc.dossier, f"document {document_id}", archive.settings.timezone)
        numbers = [p.number for p in doc.pages]
        chosen = sorted(set(pages)) if pages else numbers
        missing = [n for n in chosen if n not in numbers]
        if missing:
            raise IngestError(f"cannot re-OCR document {document_id}: it has no page "
                              f"{missing[0]} (pages 1-{len(numbers)})")
        return _ReocrTarget(doc.pdf_ref, doc.pdf_key, chosen,
                            household.number if household else None,
                            household.head_id_index if household else None, doc.type_code)


def render_pages(pdf_bytes: bytes, numbers: list[int], work: Path) -> dict[int, Path]:
    """Each page as displayed (its /Rotate applied), at up to RENDER_DPI, as a PNG raster."""
    rasters = {}
    doc = pdfium.PdfDocument(pdf_bytes)
    try:
        for number in numbers:
            page = doc[number - 1]
            width, height = page.get_width(), page.get_height()  # points, as displayed
            scale = RENDER_DPI / 72
            pixels = width * scale * height * scale
            if pixels > MAX_RENDER_PIXELS:
                scale *= (MAX_RENDER_PIXELS / pixels) ** 0.5
            image = page.render(scale=scale, grayscale=False).to_pil()
            path = work / f"page-{number:04d}.png"
            image.save(path, compress_level=1)
            rasters[number] = path
            page.close()
    finally:
        doc.close()
    return rasters


def replace_text_layers(pdf_bytes: bytes, layers: dict[int, OcrPage]) -> bytes:
    """The PDF with the invisible text layer of each page in ``layers`` replaced (in memory)."""
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        font = None
        for number, ocr in layers.items():
            page = pdf.pages[number - 1]
            stream = layer_stream(page)
            has_text = any(line.text.strip() for line in ocr.lines)
            layer = b""
            if has_text:
                font = font or _existing_font(pdf) or glyphless_font(pdf)
                add_font(page, font)
                geometry = PageGeometry(box=tuple(float(v) for v in page.cropbox),
                                        rotate=int(page.obj.get("/Rotate", 0)) % 360)
                layer = text_layer_stream(ocr, geometry)
            if stream is not None or has_text:  # no layer yet and none to add: leave the page
                put_text_layer(pdf, page, layer)
        return to_bytes(pdf)


def _existing_font(pdf: pikepdf.Pdf) -> pikepdf.Object | None:
    for page in pdf.pages:
        fonts = page.obj.get("/Resources", {}).get("/Font", {})
        if FONT_RESOURCE in fonts:
            return fonts[FONT_RESOURCE]
    return None


@dataclass(frozen=True)
class _PageBefore:
    number: int
    text_ref: str
    text_key: bytes
    text_sha256: str
    text_source: str
    ocr_engine: str | None
    ocr_confidence: float | None
    flag: str | None
    id_regions: str | None


@dataclass(frozen=True)
class _Previous:
    """What re-OCR replaced in the catalogue: to put back if the unit fails, and whose blobs
    to shred once it succeeds."""

    document_id: int
    pdf_ref: str
    pdf_key: bytes
    pdf_size: int
    pdf_sha256: str
    ocr_engine: str | None
    pages: tuple[_PageBefore, ...]

    def refs(self) -> list[str]:
        return [self.pdf_ref, *(p.text_ref for p in self.pages)]


_PAGE_FIELDS = ("text_ref", "text_key", "text_sha256", "text_source", "ocr_engine",
                "ocr_confidence", "flag", "id_regions")


def _update_catalogue(s: Session, document_id: int, target: _ReocrTarget, pdf: BlobRef,
                      texts: dict[int, BlobRef], results: dict[int, OcrPage],
                      checks: dict[int, fields.FieldCheck], engine_name: str) -> _Previous:
    """Point the rows at the new blobs (in the unit's transaction); returns what they held."""
    doc = s.get(Document, document_id, with_for_update=True)
    if doc is None or doc.pdf_ref != target.pdf_ref:
        raise IngestError(f"document {document_id} changed while it was being re-OCR'd; "
                          "run the command again")
    before = _Previous(document_id, doc.pdf_ref, doc.pdf_key, doc.pdf_size, doc.pdf_sha256,
                       doc.ocr_engine,
                       tuple(_PageBefore(p.number, *(getattr(p, f) for f in _PAGE_FIELDS))
                             for p in doc.pages if p.number in results))
    doc.pdf_ref, doc.pdf_key, doc.pdf_size, doc.pdf_sha256 = (pdf.ref, pdf.wrapped_key,
                                                              pdf.size, pdf.sha256)
    for page in doc.pages:
        if page.number not in results:
            continue
        text, ocr = texts[page.number], results[page.number]
        page.text_ref, page.text_key, page.text_sha256 = text.ref, text.wrapped_key, text.sha256
        page.text_source = "ocr"
        page.ocr_engine = ocr.engine
        page.ocr_confidence = checks[page.number].adjust(ocr.confidence)
        page.flag = checks[page.number].flag
        # rendered as displayed, as the access image shows the page
        page.id_regions = redaction.dumps(redaction.id_regions(ocr))
    if all(p.number in results for p in doc.pages if p.text_source == "ocr"):
        doc.ocr_engine = engine_name  # every OCR'd page is now this engine's
    return before


def _restore_catalogue(s: Session, before: _Previous) -> None:
    """Undo of :func:`_update_catalogue`."""
    doc = s.get(Document, before.document_id)
    doc.pdf_ref, doc.pdf_key, doc.pdf_size, doc.pdf_sha256 = (before.pdf_ref, before.pdf_key,
                                                              before.pdf_size, before.pdf_sha256)
    doc.ocr_engine = before.ocr_engine
    by_number = {p.number: p for p in before.pages}
    for page in doc.pages:
        old = by_number.get(page.number)
        if old is not None:
            for name in _PAGE_FIELDS:
                setattr(page, name, getattr(old, name))
