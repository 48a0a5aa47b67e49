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
3. the new PDF and page texts are stored as new encrypted blobs;
4. the document and page rows are updated in one transaction (on failure the
   new blobs are shredded and nothing changed), the regions of the page's ID
   numbers (``ingest.redaction``) with them;
5. the old PDF and text blobs are shredded, the index entries of the pages
   replaced (``SearchIndex.add_pages`` replaces by key), and a ``reocr``
   audit event recorded.

Neither the PDF nor the text is ever written to disk in the clear: only the
page rasters (images) pass through the work directory.
"""
from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
from sqlalchemy import select

from ingest import redaction
from ingest.archive import Archive
from ingest.assemble import add_font, layer_stream
from ingest.exceptions import IngestError
from ingest.indexing import page_docs
from ingest.ocr import fields
from ingest.ocr.base import OcrPage
from ingest.ocr.worker import OcrPool
from ingest.textlayer import FONT_RESOURCE, PageGeometry, glyphless_font, text_layer_stream
from records import audit
from records.model import Document, Household, Page
from records.policy import Action, Principal, decide
from storage import BlobRef

RENDER_DPI = 300
MAX_RENDER_PIXELS = 60_000_000  # as ingest's raster cap (ingest.sources.Limits)


class ReocrRefused(IngestError):
    exit_code = 3


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
            .where(Page.text_source == "ocr")
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
    own_pool = pool is None
    pool = pool or OcrPool(engine, workers)
    work = Path(tempfile.mkdtemp(prefix="reocr-", dir=archive.settings.tmp_dir))
    try:
        pdf_bytes = archive.blobs.get(target["pdf_ref"], target["pdf_key"])
        rasters = _render(pdf_bytes, target["pages"], work)
        results = {r.number: r.ocr for r in pool.run(sorted(rasters.items()), detect=False)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if own_pool:
            pool.close()
    new_pdf = replace_text_layers(pdf_bytes, results)
    dossier = fields.Dossier(household_number=target["household"],
                             head_id_index=target["head_id_index"], doc_type=target["type_code"])
    checks = {n: fields.check_page(ocr.text, dossier, archive.id_index) for n, ocr in results.items()}
    new_refs = _store(archive, new_pdf, results)
    try:
        old_refs = _update_catalogue(archive, document_id, target, new_refs, results, checks,
                                     pool.engine_name)
    except BaseException:
        for ref in [new_refs["pdf"], *new_refs["texts"].values()]:
            archive.blobs.shred(ref.ref)
        raise
    for ref in old_refs:  # the catalogue no longer refers to them
        archive.blobs.shred(ref)
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        texts = {n: ocr.text for n, ocr in results.items()}
        archive.index.add_pages(d for d in page_docs(doc, texts) if d.page in texts)
    confidence = {n: checks[n].adjust(ocr.confidence) for n, ocr in results.items()}
    archive.record(audit.Event(
        actor=who.name, action="reocr", object_type="document", object_id=str(document_id),
        household=target["household"],
        detail={"pages": sorted(results), "engine": pool.engine_name,
                "confidence": {str(n): _round(c) for n, c in confidence.items()}}))
    return ReocrResult(document_id, sorted(results), pool.engine_name, confidence,
                       {n: checks[n].flag for n in results})


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _load(archive: Archive, who: Principal, document_id: int, pages: list[int] | None) -> dict:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        if doc is None:
            raise IngestError(f"cannot re-OCR document {document_id}: no such document")
        household = doc.dossier.household
        if not decide(who, Action.ingest, household.region_code, household.number):
            archive.record(audit.Event(actor=who.name, action="reocr", outcome=audit.REFUSED,
                                       object_type="document", object_id=str(document_id),
                                       household=household.number))
            raise ReocrRefused(f"you may not re-OCR document {document_id}")
        numbers = [p.number for p in doc.pages]
        chosen = sorted(set(pages)) if pages else numbers
        missing = [n for n in chosen if n not in numbers]
        if missing:
            raise IngestError(f"cannot re-OCR document {document_id}: it has no page "
                              f"{missing[0]} (pages 1-{len(numbers)})")
        return {"pdf_ref": doc.pdf_ref, "pdf_key": doc.pdf_key, "pages": chosen,
                "household": household.number, "head_id_index": household.head_id_index,
                "type_code": doc.type_code}


def _render(pdf_bytes: bytes, numbers: list[int], work: Path) -> dict[int, Path]:
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
            if stream is not None:
                stream.write(b"\nQ\n" + layer)
            elif has_text:
                # no layer yet (nothing was read at ingest): wrap the scan as assemble does
                page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
                page.contents_add(pikepdf.Stream(pdf, b"\nQ\n" + layer))
        out = io.BytesIO()
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate, compress_streams=True)
        return out.getvalue()


def _existing_font(pdf: pikepdf.Pdf) -> pikepdf.Object | None:
    for page in pdf.pages:
        fonts = page.obj.get("/Resources", {}).get("/Font", {})
        if FONT_RESOURCE in fonts:
            return fonts[FONT_RESOURCE]
    return None


def _store(archive: Archive, pdf: bytes, results: dict[int, OcrPage]) -> dict:
    stored: list[BlobRef] = []
    try:
        pdf_ref = archive.blobs.put(pdf)
        stored.append(pdf_ref)
        texts = {}
        for number, ocr in results.items():
            texts[number] = archive.blobs.put(ocr.text.encode("utf-8"))
            stored.append(texts[number])
    except BaseException:
        for ref in stored:
            archive.blobs.shred(ref.ref)
        raise
    return {"pdf": pdf_ref, "texts": texts}


def _update_catalogue(archive: Archive, document_id: int, target: dict, refs: dict,
                      results: dict[int, OcrPage], checks: dict[int, fields.FieldCheck],
                      engine_name: str) -> list[str]:
    """Point the rows at the new blobs in one transaction; returns the old blob refs."""
    pdf: BlobRef = refs["pdf"]
    with archive.Session() as s, s.begin():
        doc = s.get(Document, document_id, with_for_update=True)
        if doc.pdf_ref != target["pdf_ref"]:
            raise IngestError(f"document {document_id} changed while it was being re-OCR'd; "
                              "run the command again")
        old = [doc.pdf_ref]
        doc.pdf_ref, doc.pdf_key, doc.pdf_size = pdf.ref, pdf.wrapped_key, pdf.size
        doc.pdf_sha256 = pdf.sha256
        for page in doc.pages:
            if page.number not in results:
                continue
            text: BlobRef = refs["texts"][page.number]
            ocr = results[page.number]
            old.append(page.text_ref)
            page.text_ref, page.text_key, page.text_sha256 = text.ref, text.wrapped_key, text.sha256
            page.text_source = "ocr"
            page.ocr_engine = ocr.engine
            page.ocr_confidence = checks[page.number].adjust(ocr.confidence)
            page.flag = checks[page.number].flag
            # rendered as displayed, as the access image shows the page
            page.id_regions = redaction.dumps(redaction.id_regions(ocr))
        if all(p.number in results for p in doc.pages if p.text_source == "ocr"):
            doc.ocr_engine = engine_name  # every OCR'd page is now this engine's
    return old
