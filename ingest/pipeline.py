"""From a scan to a catalogued, encrypted, indexed document (件).

The orchestrator below runs named stages in order; read :meth:`Ingestor.ingest`
top to bottom. Parsing the untrusted file happens in a bounded child process
(``ingest.sources``); OCR runs in a pool of worker processes that only return
results; this parent process writes every file and moves the progress bar. The
writing itself is one :class:`ingest.commit.Commit`: the blobs, then the
catalogue rows in one transaction, then the index entries and the audit event,
all undone together if any step fails, and finished or rolled back by
``ingest.recovery`` from the unit's journal if the process is killed. A full disk
anywhere is one sentence (``NoSpace``).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest import cataloguing, redaction, scanquality
from ingest.access_image import access_image
from ingest.archive import Archive
from ingest.assemble import PageLayer, assemble
from ingest.commit import Commit
from ingest.exceptions import IngestError, full_disk_as
from ingest.journal import work_dir
from ingest.ocr import fields
from ingest.ocr.worker import OcrPool, PageOcrResult
from ingest.sources import Limits, NormalizedSource, normalize
from records import audit, retention
from records.catalogue import get_household, next_seq
from records.doctypes import get_type
from records.exceptions import Invalid, NotFound, RecordsError
from records.kinds import ScanProfile
from records.model import DAILY_RETENTION, Document, Page, PageScan, Region
from records.retention import refuse_destroyed
from storage import BlobRef


Progress = Callable[[int], None]


class DuplicateSeq(IngestError):
    """The document number asked for is already used in the dossier."""


class PageCountMismatch(IngestError):
    """The file has another number of pages than the manifest declares (DA/T 31-2017)."""

    def __init__(self, message: str, finding: scanquality.Finding):
        super().__init__(message)
        self.finding = finding


@dataclass
class IngestRequest:
    """A file for a household's dossier (``household``), or a daily-management record
    (日常管理档案) of a region and a year (``region``, ``year``, perhaps ``month``)."""

    path: Path
    household: str | None
    doc_type: str  # code or Chinese name
    seq: int | None = None
    date: date | None = None
    title: str | None = None
    actor: str = "system"
    region: str | None = None
    year: int | None = None
    month: int | None = None
    pages: int | None = None  # the page count a manifest declares (checked, DA/T 31-2017)
    batch_id: int | None = None  # the digitisation batch (批次) it comes with (ingest.box)
    profile: ScanProfile = ScanProfile.standard  # what the batch asks of the scans


@dataclass
class IngestResult:
    document_id: int
    household: str | None  # None: a daily-management record, filed in ``volume``
    pages: int
    duplicate: bool
    warnings: list[str]
    volume: str | None = None  # REGION/YEAR
    # the pages' scan-quality facts and findings (ingest.scanquality); empty for a duplicate
    scans: list[scanquality.PageFacts] = field(default_factory=list)
    scanner: dict[str, str] = field(default_factory=dict)  # the file's own scanner tags

    def as_json(self) -> dict:
        return {"document_id": self.document_id, "household": self.household,
                **({"volume": self.volume} if self.volume else {}),
                "pages": self.pages, "duplicate": self.duplicate,
                "findings": {str(p.number): [f.as_json() for f in p.findings]
                             for p in self.scans if p.findings}}


@dataclass(frozen=True)
class DossierTarget:
    """Where the document goes, checked before any heavy work: a household's dossier, or
    (``year`` set) the volume of daily-management records of ``region`` and ``year``."""

    dossier_id: int | None
    household: str  # "" for a daily-management record
    region: str
    head_name: str
    head_id_index: str | None
    type_code: str
    type_name: str
    title: str
    seq: int | None  # None: the next free number
    volume_id: int | None = None  # None for a volume not opened yet
    year: int | None = None
    month: int | None = None

    @property
    def daily(self) -> bool:
        return self.year is not None

    def home(self):
        """The catalogue condition "in the same dossier or volume"."""
        if self.daily:
            return Document.volume_id == self.volume_id
        return Document.dossier_id == self.dossier_id

    def describe(self) -> str:
        return f"volume {self.region}/{self.year}" if self.daily else \
            f"the dossier of {self.household}"


@dataclass
class PageOutput:
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
    output: PageOutput
    image: BlobRef
    text: BlobRef


@dataclass
class StoredBlobs:
    """The blobs of one document, written and not yet catalogued."""

    pdf: BlobRef
    pages: list[_StoredPage] = field(default_factory=list)
    original: BlobRef | None = None  # the file as received (keep_original)


class Ingestor:
    """Ingests files into one archive, keeping its OCR worker processes alive between files."""

    def __init__(self, archive: Archive, *, engine: str | None = None, workers: int | None = None,
                 limits: Limits | None = None):
        """``engine``: an OCR engine name; None takes the deployment's (HUDANG_OCR_ENGINE) or
        the measured default."""
        self.archive = archive
        self.limits = limits or Limits()
        self.pool = OcrPool(engine or archive.settings.ocr_engine, workers,
                            tmp_dir=archive.settings.tmp_dir)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the orchestrator ------------------------------------------------------
    def ingest(self, req: IngestRequest, *, progress: Progress | None = None,
               on_pages: Callable[[int], None] | None = None) -> IngestResult:
        sha256, size = hash_file(req.path)
        target = self._resolve_target(req)
        duplicate = self._find_duplicate(target, sha256)
        if duplicate is not None:
            return duplicate
        self._check_seq_free(req, target)
        settings = self.archive.settings
        try:
            with full_disk_as(f"ingest '{req.path.name}'", settings.home), \
                    work_dir(settings.tmp_dir, "ingest") as work:
                (work / "source").mkdir()
                source = normalize(req.path, work / "source", self.limits)
                _check_page_count(req, len(source.pages))
                if on_pages:
                    on_pages(len(source.pages))
                ocr = self.recognise(source, progress)
                pages = [page_output(p, ocr.get(p.number)) for p in source.pages]
                self._check_fields(pages, target)
                scans = self.check_scans(source, ocr, pages, batch_id=req.batch_id,
                                          profile=req.profile)
                pdf_path = work / "archival.pdf"
                assemble(source.base_pdf, [p.layer for p in pages], pdf_path,
                         title=target.title, subject=f"{req.household or target.region} "
                                                      f"{target.type_name}")
                self.find_id_regions(pdf_path, pages)
                document_id = self._commit(req, target, sha256, size, source, pages, pdf_path,
                                           scans)
        except _LostRace:
            return self._find_duplicate(target, sha256)
        result = _result(target, document_id, len(pages), False, source.warnings)
        result.scans, result.scanner = scans, dict(source.scanner)
        return result

    def _commit(self, req: IngestRequest, target: DossierTarget, sha256: str, size: int,
                source: NormalizedSource, pages: list[PageOutput], pdf_path: Path,
                scans: list[scanquality.PageFacts]) -> int:
        """Store, catalogue, index and record the document as one unit (``ingest.commit``)."""
        with Commit(self.archive, "ingest") as unit:
            stored = self.store_blobs(unit, pdf_path, pages)
            stored.original = keep_original(unit, req.path, sha256)
            document_id = unit.catalogue(
                lambda s: self._catalogue(s, req, target, sha256, size, source, stored, scans),
                undo=_delete_document)
            if document_id is None:  # lost a race with the same file: it is a duplicate
                raise _LostRace()
            unit.index(document_id, {p.number: p.text for p in pages})
            # on record before it counts: a document is never in without its event
            filed = ({"region": target.region, "year": target.year, "type": target.type_code}
                     if target.daily else {})
            self.archive.record(audit.Event(
                actor=req.actor, action="ingest", object_type="document",
                object_id=str(document_id), household=target.household or None,
                detail={"pages": len(pages), "sha256": sha256, **filed,
                        **({"batch": req.batch_id} if req.batch_id else {}),
                        **findings_detail(scans)}))
        return document_id

    # -- stages ------------------------------------------------------------------
    def _resolve_target(self, req: IngestRequest) -> DossierTarget:
        """Check the household (or region and year), type and sequence before any heavy
        work."""
        with self.archive.Session() as s:
            try:
                if req.household is None:
                    return daily_target(s, req, self.archive.settings.timezone)
                household = get_household(s, req.household)
                dtype = get_type(s, req.doc_type, daily=False)
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
                raise _seq_error(req, target)

    def _find_duplicate(self, target: DossierTarget, sha256: str) -> IngestResult | None:
        """The document this file already is in the dossier (SHA-256 of the upload), if any."""
        with self.archive.Session() as s:
            doc = _duplicate_of(s, target, sha256)
            if doc is None:
                return None
            return _result(target, doc.id, doc.page_count, True, [])

    def recognise(self, source: NormalizedSource, progress: Progress | None) -> dict[int, PageOcrResult]:
        jobs = [(p.number, p.raster) for p in source.pages
                if p.existing_text is None and not p.blank]
        if progress:
            # pages that need no OCR are done at once
            done = len(source.pages) - len(jobs)
            if done:
                progress(done)
        results = self.pool.run(jobs, progress=progress, access=True) if jobs else []
        return {r.number: r for r in results}

    def _check_fields(self, pages: list[PageOutput], target: DossierTarget) -> None:
        """Check ID and household numbers in the OCR text; set each page's confidence and flag.

        A daily-management record names many households (a roster): nothing to check."""
        if target.daily:
            return
        dossier = fields.Dossier(household_number=target.household,
                                 head_id_index=target.head_id_index, doc_type=target.type_code)
        for page in pages:
            if page.text_source != "ocr":
                continue
            check = fields.check_page(page.text, dossier, self.archive.id_index)
            page.confidence = check.adjust(page.confidence)
            page.flag = check.flag

    def check_scans(self, source: NormalizedSource, ocr: dict[int, PageOcrResult],
                     pages: list[PageOutput], *, batch_id: int | None,
                     profile: ScanProfile, replacing: Collection[tuple[int, int]] = ()
                     ) -> list[scanquality.PageFacts]:
        """Scan quality checks (数据质检) of every page: measured on the raster as scanned,
        compared with the document's earlier pages and the batch's other pages.
        ``replacing``: (page, document) of the batch's pages these are rescans of
        (``ingest.corrections``), which they are not compared with."""
        earlier = [e for e in self._batch_hashes(batch_id) if (e[1], e[2]) not in replacing]
        facts = []
        for page, output in zip(source.pages, pages):
            result = ocr.get(page.number)
            with Image.open(page.raster) as raster:
                blank, phash, skew = scanquality.measure(raster)
            if result is not None and result.skew:
                skew = result.skew  # the OCR worker measured it on the upright page
            fact = scanquality.PageFacts(
                number=page.number, dpi=page.scan_dpi, colour=page.colour,
                bit_depth=page.bit_depth, skew=round(skew, 2), blank=blank or page.blank,
                phash=phash)
            fact.findings = scanquality.check_page(
                fact, profile=profile, needs_ocr=output.text_source != "pdf",
                skew_limit=self.archive.settings.scan_skew_limit, earlier=earlier)
            earlier.append((phash, page.number, None))
            facts.append(fact)
        return facts

    def _batch_hashes(self, batch_id: int | None) -> list[tuple[str, int, int | None]]:
        """(hash, page, document) of the pages ingested so far in the batch."""
        if batch_id is None:
            return []
        with self.archive.Session() as s:
            rows = s.execute(select(PageScan.phash, Page.number, Page.document_id)
                             .join(Page, Page.id == PageScan.page_id)
                             .where(PageScan.batch_id == batch_id)).all()
        return list(rows)

    def find_id_regions(self, pdf_path: Path, pages: list[PageOutput]) -> None:
        """Regions of ID numbers on pages whose text came with the file, not from OCR.

        OCR'd pages got theirs from the OCR boxes (``page_output``); an
        existing text layer has only its place in the PDF to go by.
        """
        numbers = [p.number for p in pages if p.id_regions is None]
        if numbers:
            found = redaction.regions_from_pdf(pdf_path, numbers)
            for page in pages:
                if page.id_regions is None:
                    page.id_regions = found[page.number]

    @staticmethod
    def store_blobs(unit: Commit, pdf_path: Path, pages: list[PageOutput]) -> StoredBlobs:
        stored = StoredBlobs(pdf=unit.put_file(pdf_path))
        for p in pages:
            stored.pages.append(_StoredPage(p, image=unit.put(p.access_jpeg),
                                            text=unit.put(p.text.encode("utf-8"))))
        return stored

    def _catalogue(self, s: Session, req: IngestRequest, target: DossierTarget, sha256: str,
                   size: int, source: NormalizedSource, stored: StoredBlobs,
                   scans: list[scanquality.PageFacts]) -> int | None:
        """Insert the document and its pages; None when the same file got in first."""
        if target.daily:
            volume = cataloguing.open_volume(self.archive, s, target.region, target.year)
            target = replace(target, volume_id=volume.id)
        if _duplicate_of(s, target, sha256) is not None:
            return None
        if _seq_taken(s, target):
            raise _seq_error(req, target)
        pdf = stored.pdf
        doc = Document(
            dossier_id=target.dossier_id, volume_id=target.volume_id,
            type_code=target.type_code, month=target.month,
            retention_class=DAILY_RETENTION if target.daily else None,
            seq=target.seq or next_seq(s, target.dossier_id, target.volume_id), date=req.date,
            title=target.title, page_count=len(stored.pages), sha256=sha256,
            source_kind=source.kind, source_size=size, pdf_ref=pdf.ref,
            pdf_key=pdf.wrapped_key, pdf_sha256=pdf.sha256, pdf_size=pdf.size,
            original_ref=stored.original.ref, original_key=stored.original.wrapped_key,
            original_size=stored.original.size,
            ocr_engine=self.pool.engine_name, created_by=req.actor, batch_id=req.batch_id)
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
                s.add_all(scan_row(page, fact, req.batch_id)
                          for page, fact in zip(doc.pages, scans))
        except IntegrityError:
            # another process committed between the checks and this insert (a server
            # database); ask the catalogue which of the two it was
            if _duplicate_of(s, target, sha256) is not None:
                return None
            raise _seq_error(req, replace(target, seq=doc.seq)) from None
        if target.daily:  # a volume's records keep the order they came in: 件号 = place
            doc.item_no = doc.seq
        else:
            # 件号 (and the dossier's 档号 with its first document): never a number used before
            cataloguing.number(self.archive, s, doc.dossier, req.actor, "ingest")
            retention.refresh_dossier(s, doc.dossier)  # a document's date and class count
        return doc.id


# -- the file as received ----------------------------------------------------------------
def keep_original(unit: Commit, path: Path, sha256: str) -> BlobRef:
    """Store the upload exactly as received, in the same unit as the rest, so that its
    recorded SHA-256 (``Document.sha256``) can be checked again at any time (DA/T 70
    authenticity) and a better engine can derive everything again from it."""
    try:
        original = unit.put_file(path)
    except OSError as exc:
        raise IngestError(f"cannot ingest '{path.name}': {exc.strerror}") from None
    if original.sha256 != sha256:
        raise IngestError(f"cannot ingest '{path.name}': the file changed while it was being "
                          "ingested; ingest it again once it is complete")
    return original


class _LostRace(Exception):
    """The same file was catalogued by another ingest while this one worked."""


def _result(target: DossierTarget, document_id: int, pages: int, duplicate: bool,
            warnings: list[str]) -> IngestResult:
    return IngestResult(document_id, target.household or None, pages, duplicate, warnings,
                        f"{target.region}/{target.year}" if target.daily else None)


def daily_target(s: Session, req: IngestRequest, zone) -> DossierTarget:
    """Where a daily-management record goes: its region's volume of the year (opened by the
    first record filed in it). Its type must be a daily-management type."""
    region = s.get(Region, (req.region or "").strip())
    if region is None:
        raise NotFound(f"there is no region {(req.region or '')[:12]}")
    this_year = datetime.now(zone).year
    if req.year is None or not 1949 <= req.year <= this_year:
        raise Invalid(f"the year must be from 1949 to {this_year}")
    if req.month is not None and not 1 <= req.month <= 12:
        raise Invalid("the month must be from 1 to 12")
    if req.date is not None and (req.date.year != req.year or (
            req.month is not None and req.date.month != req.month)):
        raise Invalid(f"the date {req.date.isoformat()} is not in {req.year}"
                      + (f"-{req.month:02d}" if req.month else ""))
    dtype = get_type(s, req.doc_type, daily=True)
    when = f"{req.year}年{req.month}月" if req.month else f"{req.year}年"
    return DossierTarget(
        dossier_id=None, household="", region=region.code, head_name="", head_id_index=None,
        type_code=dtype.code, type_name=dtype.name_zh,
        title=req.title or f"{region.name}{when}{dtype.name_zh}", seq=req.seq,
        volume_id=cataloguing.volume_id(s, region.code, req.year), year=req.year,
        month=req.month)


def _settled(s: Session, target: DossierTarget) -> DossierTarget | None:
    """``target`` with its volume's id, if the volume was opened meanwhile; None while it
    is not (then nothing is in it yet)."""
    if not target.daily or target.volume_id is not None:
        return target
    volume_id = cataloguing.volume_id(s, target.region, target.year)
    return None if volume_id is None else replace(target, volume_id=volume_id)


def _duplicate_of(s: Session, target: DossierTarget, sha256: str) -> Document | None:
    target = _settled(s, target)
    if target is None:
        return None
    return s.scalar(select(Document).where(target.home(), Document.sha256 == sha256))


def _seq_taken(s: Session, target: DossierTarget) -> bool:
    target = _settled(s, target)
    if target is None or target.seq is None:
        return False
    return s.scalar(select(Document.id).where(target.home(),
                                              Document.seq == target.seq)) is not None


def _seq_error(req: IngestRequest, target: DossierTarget) -> DuplicateSeq:
    return DuplicateSeq(f"cannot ingest '{req.path.name}': document number {target.seq} is "
                        f"already used in {target.describe()}")


def _delete_document(s: Session, document_id: int | None) -> None:
    """Undo of :meth:`Ingestor._catalogue`: the document and its pages go again (and the
    volume it opened, if it holds nothing else)."""
    if document_id is None:
        return
    volume_id = s.scalar(select(Document.volume_id).where(Document.id == document_id))
    delete_pages(s, document_id)
    s.execute(delete(Document).where(Document.id == document_id))
    if volume_id is not None:
        cataloguing.close_empty_volume(s, volume_id)


def delete_pages(s: Session, document_id: int) -> None:
    """A document's pages and their ``page_scan`` rows."""
    s.execute(delete(PageScan).where(PageScan.page_id.in_(
        select(Page.id).where(Page.document_id == document_id))))
    s.execute(delete(Page).where(Page.document_id == document_id))


def _check_page_count(req: IngestRequest, found: int) -> None:
    """A manifest's page count must agree with the file's (DA/T 31-2017): refused before any
    OCR, with the rule in the sentence."""
    finding = scanquality.page_count(found, req.pages)
    if finding is not None:
        raise PageCountMismatch(f"cannot ingest '{req.path.name}': {finding.sentence()}",
                                finding)


def findings_detail(scans: list[scanquality.PageFacts]) -> dict:
    """An audit event's record of the pages the scan checks flagged (none: nothing)."""
    flagged = {str(p.number): [f.check for f in p.findings] for p in scans if p.findings}
    return {"findings": flagged} if flagged else {}


def scan_row(page: Page, fact: scanquality.PageFacts, batch_id: int | None) -> PageScan:
    return PageScan(page=page, batch_id=batch_id, dpi=fact.dpi, colour_mode=fact.colour,
                    bit_depth=fact.bit_depth, skew=fact.skew, phash=fact.phash,
                    findings=scanquality.dumps(fact.findings), flagged=bool(fact.findings))


def hash_file(path: Path) -> tuple[str, int]:
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


def page_output(page, result: PageOcrResult | None) -> PageOutput:
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
        regions = None  # found in the assembled PDF's text (Ingestor.find_id_regions)
    else:
        text, source, confidence, ocr = "", "none", None, None
    layer = PageLayer(number=page.number, rotate=(page.rotate + rotation) % 360, ocr=ocr)
    return PageOutput(page.number, rotation, layer, access[0], access[1], access[2], text, source,
                       confidence, engine=ocr.engine if ocr is not None else None,
                       id_regions=regions)


