"""From a scan to a catalogued, encrypted, indexed document (件).

The orchestrator below runs named stages in order; read :meth:`Ingestor.ingest`
top to bottom. Parsing the untrusted file happens in a bounded child process
(``ingest.sources``); OCR runs in a pool of worker processes that only return
results; this parent process writes every file and moves the progress bar. The
writing itself is one :class:`ingest.commit.Commit`: the blobs, then the
catalogue rows in one transaction, then the index entries, all undone together
if any step fails.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest import cataloguing, redaction
from ingest.access_image import access_image
from ingest.archive import Archive
from ingest.assemble import PageLayer, assemble
from ingest.commit import Commit
from ingest.exceptions import IngestError
from ingest.ocr import fields
from ingest.ocr.worker import OcrPool, PageOcrResult
from ingest.sources import Limits, NormalizedSource, normalize
from records import audit, retention
from records.retention import refuse_destroyed
from records.catalogue import document_type, get_household, next_seq
from records.exceptions import RecordsError
from records.model import Document, Page
from storage import BlobRef


Progress = Callable[[int], None]


class DuplicateSeq(IngestError):
    """The document number asked for is already used in the dossier."""


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


@dataclass(frozen=True)
class DossierTarget:
    """Where the document goes, checked before any heavy work."""

    dossier_id: int
    household: str
    region: str
    head_name: str
    head_id_index: str | None
    type_code: str
    type_name: str
    title: str
    seq: int | None  # None: the next free number


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


@dataclass
class _StoredPage:
    output: _PageOutput
    image: BlobRef
    text: BlobRef


@dataclass
class _Stored:
    """The blobs of one document, written and not yet catalogued."""

    pdf: BlobRef
    pages: list[_StoredPage] = field(default_factory=list)


class Ingestor:
    """Ingests files into one archive, keeping its OCR worker processes alive between files."""

    def __init__(self, archive: Archive, *, engine: str | None = None, workers: int | None = None,
                 limits: Limits | None = None):
        """``engine``: an OCR engine name; None takes the deployment's (HUDANG_OCR_ENGINE) or
        the measured default."""
        self.archive = archive
        self.limits = limits or Limits()
        self.pool = OcrPool(engine or archive.settings.ocr_engine, workers)

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
        target = self._resolve_target(req)
        duplicate = self._find_duplicate(target, sha256)
        if duplicate is not None:
            return duplicate
        self._check_seq_free(req, target)
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
                     title=target.title, subject=f"{req.household} {target.type_name}")
            self._find_id_regions(pdf_path, pages)
            with Commit(self.archive, "ingest") as unit:
                stored = self._store(unit, pdf_path, pages)
                document_id = unit.catalogue(
                    lambda s: self._catalogue(s, req, target, sha256, size, source, stored),
                    undo=_delete_document)
                if document_id is None:  # lost a race with the same file: it is a duplicate
                    raise _LostRace()
                unit.index(document_id, {p.number: p.text for p in pages})
        except _LostRace:
            return self._find_duplicate(target, sha256)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.archive.record(audit.Event(
            actor=req.actor, action="ingest", object_type="document", object_id=str(document_id),
            household=req.household, detail={"pages": len(pages), "sha256": sha256}))
        return IngestResult(document_id, req.household, len(pages), False, source.warnings)

    # -- stages ------------------------------------------------------------------
    def _resolve_target(self, req: IngestRequest) -> DossierTarget:
        """Check the household, type and sequence before any heavy work."""
        with self.archive.Session() as s:
            try:
                household = get_household(s, req.household)
                dtype = document_type(s, req.doc_type)
                refuse_destroyed(household.dossier, f"the dossier of household {household.number}",
                                 self.archive.settings.timezone)
            except RecordsError as exc:
                raise IngestError(f"cannot ingest '{req.path.name}': {exc}") from None
            target = DossierTarget(
                dossier_id=household.dossier.id, household=household.number,
                region=household.region_code, head_name=household.head_name,
                head_id_index=household.head_id_index, type_code=dtype.code,
                type_name=dtype.name_zh, title=req.title or dtype.name_zh, seq=req.seq)
            return target

    def _check_seq_free(self, req: IngestRequest, target: DossierTarget) -> None:
        with self.archive.Session() as s:
            if _seq_taken(s, target):
                raise _seq_error(req, target.seq)

    def _find_duplicate(self, target: DossierTarget, sha256: str) -> IngestResult | None:
        """The document this file already is in the dossier (SHA-256 of the upload), if any."""
        with self.archive.Session() as s:
            doc = _duplicate_of(s, target, sha256)
            if doc is None:
                return None
            return IngestResult(doc.id, target.household, doc.page_count, True, [])

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

    def _check_fields(self, pages: list[_PageOutput], target: DossierTarget) -> None:
        """Check ID and household numbers in the OCR text; set each page's confidence and flag."""
        dossier = fields.Dossier(household_number=target.household,
                                 head_id_index=target.head_id_index, doc_type=target.type_code)
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

    @staticmethod
    def _store(unit: Commit, pdf_path: Path, pages: list[_PageOutput]) -> _Stored:
        stored = _Stored(pdf=unit.put_file(pdf_path))
        for p in pages:
            stored.pages.append(_StoredPage(p, image=unit.put(p.access_jpeg),
                                            text=unit.put(p.text.encode("utf-8"))))
        return stored

    def _catalogue(self, s: Session, req: IngestRequest, target: DossierTarget, sha256: str,
                   size: int, source: NormalizedSource, stored: _Stored) -> int | None:
        """Insert the document and its pages; None when the same file got in first."""
        if _duplicate_of(s, target, sha256) is not None:
            return None
        if _seq_taken(s, target):
            raise _seq_error(req, target.seq)
        pdf = stored.pdf
        doc = Document(
            dossier_id=target.dossier_id, type_code=target.type_code,
            seq=target.seq or next_seq(s, target.dossier_id), date=req.date,
            title=target.title, page_count=len(stored.pages), sha256=sha256,
            source_kind=source.kind, source_size=size, pdf_ref=pdf.ref,
            pdf_key=pdf.wrapped_key, pdf_sha256=pdf.sha256, pdf_size=pdf.size,
            ocr_engine=self.pool.engine_name, created_by=req.actor)
        for sp in stored.pages:
            p, image, text = sp.output, sp.image, sp.text
            doc.pages.append(Page(
                number=p.number, width=p.width, height=p.height, rotation=p.rotation,
                image_ref=image.ref, image_key=image.wrapped_key, image_sha256=image.sha256,
                text_ref=text.ref, text_key=text.wrapped_key, text_sha256=text.sha256,
                text_source=p.text_source, ocr_confidence=p.confidence,
                ocr_engine=p.engine, flag=p.flag, id_regions=redaction.dumps(p.id_regions)))
        try:
            with s.begin_nested():
                s.add(doc)
        except IntegrityError:
            # another process committed between the checks and this insert (a server
            # database); ask the catalogue which of the two it was
            if _duplicate_of(s, target, sha256) is not None:
                return None
            raise _seq_error(req, doc.seq) from None
        # 件号 (and the dossier's 档号 with its first document): never a number used before
        cataloguing.number(self.archive, s, doc.dossier, req.actor, "ingest")
        retention.refresh_dossier(s, doc.dossier)  # a document's date and class count
        return doc.id


class _LostRace(Exception):
    """The same file was catalogued by another ingest while this one worked."""


def _duplicate_of(s: Session, target: DossierTarget, sha256: str) -> Document | None:
    return s.scalar(select(Document).where(Document.dossier_id == target.dossier_id,
                                           Document.sha256 == sha256))


def _seq_taken(s: Session, target: DossierTarget) -> bool:
    if target.seq is None:
        return False
    return s.scalar(select(Document.id).where(Document.dossier_id == target.dossier_id,
                                              Document.seq == target.seq)) is not None


def _seq_error(req: IngestRequest, seq: int | None) -> DuplicateSeq:
    return DuplicateSeq(f"cannot ingest '{req.path.name}': document number {seq} is already "
                        f"used in the dossier of {req.household}")


def _delete_document(s: Session, document_id: int | None) -> None:
    """Undo of :meth:`Ingestor._catalogue`: the document and its pages go again."""
    if document_id is None:
        return
    s.execute(delete(Page).where(Page.document_id == document_id))
    s.execute(delete(Document).where(Document.id == document_id))


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


