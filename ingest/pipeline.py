"""From a scan to a catalogued, encrypted, indexed document (件).

The orchestrator below runs named stages in order; read :meth:`Ingestor.ingest`
top to bottom. Parsing the untrusted file happens in a bounded child process
(``ingest.sources``); OCR runs in a pool of worker processes that only return
results; this parent process writes every file, moves the progress bar, and
makes the stored blobs, the catalogue rows and the index entries succeed or
fail together:

1. the blobs are written first (nothing refers to them yet);
2. the catalogue rows are committed in one transaction;
3. the pages are added to the index.

If step 2 fails the blobs are shredded; if step 3 fails the rows are deleted
and the blobs shredded, so there is never a row without its blobs, a blob
without its row, or an index entry without its row.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ingest import redaction
from ingest.access_image import access_image
from ingest.archive import Archive
from ingest.assemble import PageLayer, assemble
from ingest.exceptions import IngestError
from ingest.indexing import page_docs
from ingest.ocr import fields
from ingest.ocr.worker import OcrPool, PageOcrResult
from ingest.sources import Limits, NormalizedSource, normalize
from records import audit
from records.catalogue import document_type, get_household, next_seq
from records.exceptions import RecordsError
from records.model import Document, Page
from storage import BlobRef


Progress = Callable[[int], None]


class DuplicateSeq(IngestError):
    exit_code = 4


@dataclass
class IngestRequest:
    path: Path
    household: str
    doc_type: str  # code or Chinese name
    seq: int | None = None
    date: date | None = None
    title: str | None = None
    actor: str = "system"


@dataclass
class IngestResult:
    document_id: int
    household: str
    pages: int
    duplicate: bool
    warnings: list[str]

    def as_json(self) -> dict:
        return {"document_id": self.document_id, "household": self.household,
                "pages": self.pages, "duplicate": self.duplicate}


@dataclass
class _PageOutput:
    number: int
    rotation: int
    layer: PageLayer
    access_jpeg: bytes
    width: int
    height: int
    text: str
    text_source: str
    confidence: float | None
    engine: str | None = None  # the OCR engine that produced ``text`` (None: not OCR'd)
    flag: str | None = None  # ingest.ocr.fields flags for an archivist's look
    # where ID numbers are printed (ingest.redaction); None until found in the PDF's text
    id_regions: list[redaction.Region] | None = None


class Ingestor:
    """Ingests files into one archive, keeping its OCR worker processes alive between files."""

    def __init__(self, archive: Archive, *, engine: str | None = None, workers: int | None = None,
                 limits: Limits | None = None):
        """``engine``: an OCR engine name; None takes HUDANG_OCR_ENGINE or the measured default."""
        self.archive = archive
        self.limits = limits or Limits()
        self.pool = OcrPool(engine, workers)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the orchestrator ------------------------------------------------------
    def ingest(self, req: IngestRequest, *, progress: Progress | None = None,
               on_pages: Callable[[int], None] | None = None) -> IngestResult:
        sha256, size = _hash_file(req.path)
        target = self._resolve_target(req, sha256)
        if isinstance(target, IngestResult):
            return target
        work = Path(tempfile.mkdtemp(prefix="ingest-", dir=self.archive.settings.tmp_dir))
        try:
            (work / "source").mkdir()
            source = normalize(req.path, work / "source", self.limits)
            if on_pages:
                on_pages(len(source.pages))
            ocr = self._ocr(source, progress)
            pages = [_page_output(p, ocr.get(p.number)) for p in source.pages]
            self._check_fields(pages, target)
            pdf_path = work / "archival.pdf"
            assemble(source.base_pdf, [p.layer for p in pages], pdf_path,
                     title=target["title"], subject=f"{req.household} {target['type_name']}")
            self._find_id_regions(pdf_path, pages)
            refs = self._store(pdf_path, pages)
            try:
                document_id = self._catalogue(req, target, sha256, size, source, pages, refs)
            except BaseException:
                self._shred(refs)
                raise
            if document_id is None:  # lost a race with the same file: it is a duplicate
                self._shred(refs)
                return self._duplicate(req, sha256)
            self._index(document_id, refs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.archive.record(audit.Event(
            actor=req.actor, action="ingest", object_type="document", object_id=str(document_id),
            household=req.household, detail={"pages": len(pages), "sha256": sha256}))
        return IngestResult(document_id, req.household, len(pages), False, source.warnings)

    # -- stages ------------------------------------------------------------------
    def _resolve_target(self, req: IngestRequest, sha256: str) -> dict | IngestResult:
        """Check the household, type and sequence before any heavy work."""
        with self.archive.Session() as s:
            try:
                household = get_household(s, req.household)
                dtype = document_type(s, req.doc_type)
            except RecordsError as exc:
                raise IngestError(f"cannot ingest '{req.path.name}': {exc}") from None
            dossier = household.dossier
            existing = s.scalar(select(Document.id).where(Document.dossier_id == dossier.id,
                                                          Document.sha256 == sha256))
            if existing is not None:
                return self._duplicate(req, sha256)
            seq = req.seq
            if seq is not None:
                taken = s.scalar(select(Document.id).where(Document.dossier_id == dossier.id,
                                                           Document.seq == seq))
                if taken is not None:
                    raise DuplicateSeq(f"cannot ingest '{req.path.name}': document number {seq} is "
                                       f"already used in the dossier of {req.household}")
            return {"dossier_id": dossier.id, "type_code": dtype.code, "type_name": dtype.name_zh,
                    "title": req.title or dtype.name_zh, "seq": seq, "region": household.region_code,
                    "head_name": household.head_name, "household": household.number,
                    "head_id_index": household.head_id_index}

    def _duplicate(self, req: IngestRequest, sha256: str) -> IngestResult:
        with self.archive.Session() as s:
            household = get_household(s, req.household)
            doc = s.scalar(select(Document).where(Document.dossier_id == household.dossier.id,
                                                  Document.sha256 == sha256))
            return IngestResult(doc.id, req.household, doc.page_count, True, [])

    def _ocr(self, source: NormalizedSource, progress: Progress | None) -> dict[int, PageOcrResult]:
        jobs = [(p.number, p.raster) for p in source.pages
                if p.existing_text is None and not p.blank]
        if progress:
            # pages that need no OCR are done at once
            done = len(source.pages) - len(jobs)
            if done:
                progress(done)
        results = self.pool.run(jobs, progress=progress, access=True) if jobs else []
        return {r.number: r for r in results}

    def _check_fields(self, pages: list[_PageOutput], target: dict) -> None:
        """Check ID and household numbers in the OCR text; set each page's confidence and flag."""
        dossier = fields.Dossier(household_number=target["household"],
                                 head_id_index=target["head_id_index"],
                                 doc_type=target["type_code"])
        for page in pages:
            if page.text_source != "ocr":
                continue
            check = fields.check_page(page.text, dossier, self.archive.id_index)
            page.confidence = check.adjust(page.confidence)
            page.flag = check.flag

    def _find_id_regions(self, pdf_path: Path, pages: list[_PageOutput]) -> None:
        """Regions of ID numbers on pages whose text came with the file, not from OCR.

        OCR'd pages got theirs from the OCR boxes (``_page_output``); an
        existing text layer has only its place in the PDF to go by.
        """
        numbers = [p.number for p in pages if p.id_regions is None]
        if numbers:
            found = redaction.regions_from_pdf(pdf_path, numbers)
            for page in pages:
                if page.id_regions is None:
                    page.id_regions = found[page.number]

    def _store(self, pdf_path: Path, pages: list[_PageOutput]) -> dict:
        blobs = self.archive.blobs
        stored: list[BlobRef] = []
        try:
            pdf = blobs.put_file(pdf_path)
            stored.append(pdf)
            page_refs = []
            for p in pages:
                image = blobs.put(p.access_jpeg)
                stored.append(image)
                text = blobs.put(p.text.encode("utf-8"))
                stored.append(text)
                page_refs.append((image, text))
        except BaseException:
            for ref in stored:
                blobs.shred(ref.ref)
            raise
        return {"pdf": pdf, "pages": page_refs, "all": stored, "outputs": pages}

    def _shred(self, refs: dict) -> None:
        for ref in refs["all"]:
            self.archive.blobs.shred(ref.ref)

    def _catalogue(self, req: IngestRequest, target: dict, sha256: str, size: int,
                   source: NormalizedSource, pages: list[_PageOutput], refs: dict) -> int | None:
        pdf: BlobRef = refs["pdf"]
        with self.archive.Session() as s, s.begin():
            doc = Document(
                dossier_id=target["dossier_id"], type_code=target["type_code"],
                seq=target["seq"] or next_seq(s, target["dossier_id"]), date=req.date,
                title=target["title"], page_count=len(pages), sha256=sha256,
                source_kind=source.kind, source_size=size, pdf_ref=pdf.ref,
                pdf_key=pdf.wrapped_key, pdf_sha256=pdf.sha256, pdf_size=pdf.size,
                ocr_engine=self.pool.engine_name, created_by=req.actor)
            for p, (image, text) in zip(pages, refs["pages"]):
                doc.pages.append(Page(
                    number=p.number, width=p.width, height=p.height, rotation=p.rotation,
                    image_ref=image.ref, image_key=image.wrapped_key, image_sha256=image.sha256,
                    text_ref=text.ref, text_key=text.wrapped_key, text_sha256=text.sha256,
                    text_source=p.text_source, ocr_confidence=p.confidence,
                    ocr_engine=p.engine, flag=p.flag, id_regions=redaction.dumps(p.id_regions)))
            s.add(doc)
            try:
                s.flush()
            except IntegrityError as exc:
                s.rollback()
                if "sha256" in str(exc.orig):
                    return None
                raise DuplicateSeq(f"cannot ingest '{req.path.name}': document number "
                                   f"{doc.seq} is already used in the dossier of "
                                   f"{req.household}") from None
            document_id = doc.id
        return document_id

    def _index(self, document_id: int, refs: dict) -> None:
        try:
            with self.archive.Session() as s:
                doc = s.get(Document, document_id)
                texts = {p.number: p.text for p in refs["outputs"]}
                self.archive.index.add_pages(page_docs(doc, texts))
        except BaseException:
            # the index must never be ahead of, nor the catalogue without, the other
            with self.archive.Session() as s, s.begin():
                s.execute(delete(Page).where(Page.document_id == document_id))
                s.execute(delete(Document).where(Document.id == document_id))
            self._shred(refs)
            try:
                self.archive.index.remove_document(document_id)
            except Exception:
                pass
            raise


def _hash_file(path: Path) -> tuple[str, int]:
    if not path.is_file():
        raise IngestError(f"cannot ingest '{path.name}': no such file")
    h = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise IngestError(f"cannot ingest '{path.name}': {exc.strerror}") from None
    return h.hexdigest(), size


def _page_output(page, result: PageOcrResult | None) -> _PageOutput:
    rotation = result.rotation if result else 0
    if result is not None and result.access is not None:
        access = result.access  # made by the OCR worker from the same upright raster
    else:
        with Image.open(page.raster) as raster:
            upright = raster.rotate(-rotation, expand=True) if rotation else raster.copy()
        access = access_image(upright)
    regions: list[redaction.Region] | None = []
    if result is not None:
        text, source, confidence, ocr = result.ocr.text, "ocr", result.ocr.confidence, result.ocr
        # OCR boxes are in the upright raster's pixels, as the access image is
        regions = redaction.id_regions(result.ocr)
    elif page.existing_text is not None:
        text, source, confidence, ocr = page.existing_text, "pdf", None, None
        regions = None  # found in the assembled PDF's text (Ingestor._find_id_regions)
    else:
        text, source, confidence, ocr = "", "none", None, None
    layer = PageLayer(number=page.number, rotate=(page.rotate + rotation) % 360, ocr=ocr)
    return _PageOutput(page.number, rotation, layer, access[0], access[1], access[2], text, source,
                       confidence, engine=ocr.engine if ocr is not None else None,
                       id_regions=regions)


