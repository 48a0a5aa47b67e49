"""Corrections of a stored document, without re-ingesting it.

An archivist can

- correct a page's OCR text line by line (:func:`correct_text`): the page text, the
  index entry of the page and, where the line's box is known, the archival PDF's
  invisible text layer follow. The boxes are read back from the page's own hudang text
  layer (``ingest.textlayer.layer_lines``): the non-empty lines of the stored text are
  the layer's lines, in order, as ingest and re-OCR write them. A page whose layer does
  not match its text line for line (a text that came with the file) keeps its layer;
- turn a page whose orientation was detected wrong by 90, 180 or 270 degrees
  (:func:`rotate_page`): its /Rotate changes, the page is read again as it is now
  displayed, and its text layer, text, access image and index entry follow (a page whose
  text came with its file keeps that text: it is only turned);
- replace one page with a rescan of it (:func:`replace_page`): the file (one page, any
  format ingest takes) is read in the same sandbox as at ingest, OCR'd, and put in the
  page's place in the archival PDF;
- replace the whole document with a rescan (:func:`replace_document`), as the rework of
  a failed acceptance sample: household, type, number (件号) and title stay; the file
  as received, the PDF, the pages and the index entries are the rescan's.

Each is one :class:`ingest.commit.Commit`: the new blobs, the catalogue change (with a
:class:`records.model.Correction` row holding what the catalogue pointed at before and
after) in one transaction, the index, then an audit event naming the correction; the
old blobs are shredded once all of it stands, and on any failure nothing of it stays.
The audit log holds no text: the lines a text correction changed, before and after, are
sealed in the correction row (``Archive.seal_correction``), and go with the dossier's
destruction.

Every correction passes the door as ``Action.ingest`` on the document (an archivist's
right, within the jurisdiction). A line holding an ID number the archivist may not see in
full (``records.policy.full_ids``) is shown masked and cannot be corrected by them.
"""
from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pikepdf
from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ingest import redaction, scanquality
from ingest.access_image import access_image
from ingest.archive import Archive
from ingest.assemble import assemble
from ingest.cataloguing import document_target
from ingest.commit import Commit
from ingest.exceptions import IngestError, full_disk_as
from ingest.journal import work_dir
from ingest.ocr import fields
from ingest.ocr.base import OcrPage
from ingest.pdfwrite import layer_stream, put_text_layer, to_bytes
from ingest.pipeline import (Ingestor, delete_pages, findings_detail, hash_file,
                             keep_original, page_output, scan_row, PageOutput)
from ingest.reocr import render_pages, replace_text_layers
from ingest.sources import normalize
from ingest.textlayer import PageGeometry, encode_text, layer_lines, rewrite_lines
from records import audit
from records.door import Knock
from records.idnumbers import mask_in_text
from records.kinds import ScanProfile
from records.model import Batch, Correction, Document, Page, PageScan
from records.policy import Action, Principal, full_ids
from records.retention import refuse_destroyed
from storage import BlobRef

TEXT, ROTATE, REPLACE_PAGE, REPLACE_DOCUMENT = ("text", "rotate", "replace_page",
                                                "replace_document")
# the audit log's name of each kind of correction
ACTIONS = {TEXT: "correct_text", ROTATE: "rotate_page", REPLACE_PAGE: "replace_page",
           REPLACE_DOCUMENT: "replace_document"}
ROTATIONS = (90, 180, 270)
MAX_LINE = 2000  # characters in one corrected line
MAX_REASON = 500

_PAGE_FIELDS = ("width", "height", "rotation", "image_ref", "image_key", "image_sha256",
                "text_ref", "text_key", "text_sha256", "text_source", "ocr_confidence",
                "ocr_engine", "flag", "id_regions")
_PDF_FIELDS = ("pdf_ref", "pdf_key", "pdf_sha256", "pdf_size")
_DOCUMENT_FIELDS = (*_PDF_FIELDS, "sha256", "source_kind", "source_size", "original_ref",
                    "original_key", "original_size", "page_count", "ocr_engine")


class CorrectionRefused(IngestError):
    """A correction that cannot be made as asked (a line holding a hidden ID number, a
    page changed meanwhile, a rescan of more than one page, the same file again)."""


# -- what the screen shows ---------------------------------------------------------------
@dataclass(frozen=True)
class PageLine:
    number: int  # 1-based line of the page text
    text: str  # as the reader may see it (ID numbers masked unless full_ids)
    editable: bool  # False: it holds an ID number the reader may not see in full
    boxed: bool  # its place on the page is known: the PDF's text layer follows a correction

    def as_json(self) -> dict:
        return {"line": self.number, "text": self.text, "editable": self.editable,
                "boxed": self.boxed}


@dataclass(frozen=True)
class PageLines:
    document_id: int
    page: int
    page_count: int
    household: str | None
    region_code: str
    title: str
    rotation: int
    text_source: str
    base: str  # the SHA-256 of the page text read: a save checks nothing changed meanwhile
    lines: list[PageLine]

    def as_json(self) -> dict:
        return {"document_id": self.document_id, "page": self.page,
                "page_count": self.page_count, "household": self.household,
                "rotation": self.rotation, "text_source": self.text_source,
                "base": self.base, "lines": [line.as_json() for line in self.lines]}


@dataclass
class CorrectionResult:
    correction_id: int | None  # None: nothing was changed
    document_id: int
    page: int | None
    kind: str
    lines: list[int] = field(default_factory=list)  # text: the lines changed
    layer: bool = False  # text: the PDF's text layer was regenerated
    before: dict = field(default_factory=dict)  # blob references, rotation, page count
    after: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"correction": self.correction_id, "document_id": self.document_id,
                "page": self.page, "kind": self.kind, "lines": self.lines,
                "text_layer": self.layer, "before": self.before, "after": self.after}


# -- loading through the door ---------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    document_id: int
    page: int | None
    page_count: int
    household: str | None
    region_code: str
    head_id_index: str | None
    type_code: str
    title: str
    pdf_ref: str
    pdf_key: bytes
    sha256: str
    dossier_id: int | None
    volume_id: int | None
    batch_id: int | None  # its digitisation batch: a rescan's scan checks are the batch's
    profile: ScanProfile
    text_ref: str | None = None
    text_key: bytes | None = None
    text_sha256: str | None = None
    rotation: int = 0
    text_source: str = ""
    id_regions: str | None = None

    def dossier(self) -> fields.Dossier | None:
        if self.household is None:
            return None  # a daily-management record names many households: nothing to check
        return fields.Dossier(household_number=self.household,
                              head_id_index=self.head_id_index, doc_type=self.type_code)


def _load(archive: Archive, who: Principal, document_id: int, number: int | None,
          event: str) -> _Target:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        page = None
        if doc is not None and number is not None:
            page = s.scalar(select(Page).where(Page.document_id == doc.id,
                                               Page.number == number))
        archive.admit(Knock(who, Action.ingest, document_target(
            doc, document_id, number, found=doc is not None and (number is None or
                                                                 page is not None)),
            event=event))
        refuse_destroyed(doc.dossier, f"document {document_id}", archive.settings.timezone)
        household = doc.dossier.household if doc.dossier is not None else None
        facts = dict(document_id=doc.id, page=number, page_count=doc.page_count,
                     household=household.number if household else None,
                     region_code=doc.region_code,
                     head_id_index=household.head_id_index if household else None,
                     type_code=doc.type_code, title=doc.title, pdf_ref=doc.pdf_ref,
                     pdf_key=doc.pdf_key, sha256=doc.sha256, dossier_id=doc.dossier_id,
                     volume_id=doc.volume_id, batch_id=doc.batch_id,
                     profile=(s.get(Batch, doc.batch_id).profile if doc.batch_id
                              else ScanProfile.standard))
        if page is not None:
            facts.update(text_ref=page.text_ref, text_key=page.text_key,
                         text_sha256=page.text_sha256, rotation=page.rotation,
                         text_source=page.text_source, id_regions=page.id_regions)
        return _Target(**facts)


# -- the lines of a page and their boxes ------------------------------------------------------
def _layer_of(pdf: pikepdf.Pdf, number: int):
    """(parsed instructions, geometry, lines) of the page's hudang text layer, or None."""
    page = pdf.pages[number - 1]
    stream = layer_stream(page)
    if stream is None:
        return None
    instructions = list(pikepdf.parse_content_stream(stream))
    # the stream opens with "Q" closing the scan's "q" (ingest.pdfwrite.put_text_layer)
    while instructions and str(instructions[0].operator) == "Q":
        instructions.pop(0)
    geometry = PageGeometry(box=tuple(float(v) for v in page.cropbox),
                            rotate=int(page.obj.get("/Rotate", 0)) % 360)
    return instructions, geometry, layer_lines(instructions, geometry)


def _boxed_lines(text_lines: list[str], layer) -> dict[int, int]:
    """Line index of the stored text -> line index in the layer, when the layer's lines are
    the text's non-empty lines in order (as hudang writes them); else nothing is known."""
    if layer is None:
        return {}
    drawn = layer[2]
    shown = [i for i, line in enumerate(text_lines) if line.strip()]
    if len(shown) != len(drawn):
        return {}
    for i, line in zip(shown, drawn):
        if encode_text(text_lines[i]) != encode_text(line.text):
            return {}
    return {i: k for k, i in enumerate(shown)}


def page_lines(archive: Archive, who: Principal, document_id: int, number: int, *,
               purpose: str | None = None) -> PageLines:
    """The lines of a page's text to correct, as ``who`` may see them; recorded as a read
    of the page text (``read_text``) before anything is returned."""
    target = _load(archive, who, document_id, number, "read_text")
    text = archive.blobs.get(target.text_ref, target.text_key).decode("utf-8")
    with pikepdf.open(io.BytesIO(archive.blobs.get(target.pdf_ref, target.pdf_key))) as pdf:
        boxed = _boxed_lines(text.split("\n"), _layer_of(pdf, number))
    archive.record(audit.Event(
        actor=who.name, action="read_text", object_type="document",
        object_id=str(document_id), household=target.household, page=number,
        purpose=purpose, detail={"for": "correction"}))
    full = full_ids(who, target.region_code, target.household)
    lines = []
    for i, line in enumerate(text.split("\n")):
        shown = line if full else mask_in_text(line)
        lines.append(PageLine(i + 1, shown, shown == line, i in boxed))
    return PageLines(document_id, number, target.page_count, target.household,
                     target.region_code, target.title, target.rotation, target.text_source,
                     target.text_sha256, lines)


# -- 1. a page's text, line by line --------------------------------------------------------
def correct_text(archive: Archive, who: Principal, document_id: int, number: int,
                 changes: Mapping[int, str], *, base: str | None = None,
                 reason: str | None = None) -> CorrectionResult:
    """Give lines of a page's text (1-based numbers -> new text) new wording; see the
    module doc. ``base``: the SHA-256 the text had when it was read for correcting."""
    target = _load(archive, who, document_id, number, ACTIONS[TEXT])
    where = f"page {number} of document {document_id}"
    if base is not None and base != target.text_sha256:
        raise CorrectionRefused(f"{where} changed since it was opened for correcting; "
                                "open it again")
    old_text = archive.blobs.get(target.text_ref, target.text_key).decode("utf-8")
    lines = old_text.split("\n")
    full = full_ids(who, target.region_code, target.household)
    changed: dict[int, str] = {}
    for line_no, new in sorted(changes.items()):
        if not 1 <= line_no <= len(lines):
            raise CorrectionRefused(f"{where} has no line {line_no} (lines 1-{len(lines)})")
        new = " ".join(str(new).splitlines()).strip()
        if len(new) > MAX_LINE:
            raise CorrectionRefused(f"line {line_no} of {where} is longer than {MAX_LINE} "
                                    "characters")
        old = lines[line_no - 1]
        if new == old.strip() or (not full and new == mask_in_text(old).strip()):
            continue
        if not full and mask_in_text(old) != old:
            raise CorrectionRefused(f"line {line_no} of {where} holds an ID number this account "
                                    "may not see in full; it cannot be corrected here")
        changed[line_no] = new
    if not changed:
        return CorrectionResult(None, document_id, number, TEXT)
    new_lines = [changed.get(i + 1, line) for i, line in enumerate(lines)]
    new_text = "\n".join(new_lines)
    pdf_bytes = archive.blobs.get(target.pdf_ref, target.pdf_key)
    new_pdf, regions = None, redaction.loads(target.id_regions)
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        layer = _layer_of(pdf, number)
        boxed = _boxed_lines(lines, layer)
        texts = {boxed[n - 1]: text for n, text in changed.items() if n - 1 in boxed}
        if texts:
            instructions, geometry, drawn = layer
            put_text_layer(pdf, pdf.pages[number - 1],
                           rewrite_lines(instructions, geometry, drawn, texts))
            new_pdf = to_bytes(pdf)
    if new_pdf is not None and regions is not None:
        # an ID number a correction wrote is covered too; what was covered stays covered
        found = redaction.regions_from_pdf(new_pdf, [number])[number]
        regions = regions + [r for r in found if r not in regions]
    sealed = archive.seal_correction(json.dumps(
        [{"line": n, "before": lines[n - 1], "after": text} for n, text in changed.items()],
        ensure_ascii=False))
    values = {"text_source": "corrected" if target.text_source == "ocr" else target.text_source,
              "id_regions": redaction.dumps(regions)}
    result = _commit_page(archive, who, target, TEXT, pdf=new_pdf, text=new_text, image=None,
                          values=values, sealed=sealed, reason=reason,
                          detail={"lines": sorted(changed), "text_layer": bool(texts)})
    result.lines, result.layer = sorted(changed), bool(texts)
    return result


# -- 2. a page turned ---------------------------------------------------------------------------
def rotate_page(archive: Archive, who: Principal, document_id: int, number: int,
                degrees: int, *, ingestor: Ingestor | None = None,
                reason: str | None = None) -> CorrectionResult:
    """Turn a page clockwise by ``degrees`` (90, 180 or 270) and read it again."""
    if degrees not in ROTATIONS:
        raise CorrectionRefused(f"a page turns by 90, 180 or 270 degrees, not {degrees}")
    target = _load(archive, who, document_id, number, ACTIONS[ROTATE])
    with full_disk_as(f"turn page {number} of document {document_id}", archive.settings.home), \
            _ingestor(archive, ingestor) as reader:
        with pikepdf.open(io.BytesIO(archive.blobs.get(target.pdf_ref, target.pdf_key))) as pdf:
            page = pdf.pages[number - 1]
            page.obj.Rotate = (int(page.obj.get("/Rotate", 0)) + degrees) % 360
            turned = to_bytes(pdf)
        with work_dir(archive.settings.tmp_dir, "rotate") as work:
            rasters = render_pages(turned, [number], work)
            if target.text_source == "pdf":  # its text came with the file: turned, kept
                with Image.open(rasters[number]) as raster:
                    jpeg, width, height = access_image(raster.copy())
            else:
                read = reader.pool.run([(number, rasters[number])], detect=False,
                                       access=True)[0]
        if target.text_source == "pdf":
            new_pdf = turned
            text = archive.blobs.get(target.text_ref, target.text_key).decode("utf-8")
            found = redaction.regions_from_pdf(turned, [number])[number]
            page_values = {"id_regions": redaction.dumps(found)}
        else:
            new_pdf = replace_text_layers(turned, {number: read.ocr})
            jpeg, width, height = read.access
            text = read.ocr.text
            page_values = _ocr_values(archive, target, read.ocr)
        values = {"width": width, "height": height,
                  "rotation": (target.rotation + degrees) % 360, **page_values}
        return _commit_page(archive, who, target, ROTATE, pdf=new_pdf, text=text,
                            image=jpeg, values=values, sealed=None, reason=reason,
                            detail={"degrees": degrees})


def _ocr_values(archive: Archive, target: _Target, ocr: OcrPage) -> dict:
    """The page's OCR columns for a page read again (as re-OCR sets them)."""
    dossier = target.dossier()
    check = (fields.check_page(ocr.text, dossier, archive.id_index) if dossier
             else fields.FieldCheck(confirmed=False))
    return {"text_source": "ocr", "ocr_engine": ocr.engine,
            "ocr_confidence": check.adjust(ocr.confidence), "flag": check.flag,
            "id_regions": redaction.dumps(redaction.id_regions(ocr))}


# -- 3. a page replaced by a rescan ----------------------------------------------------------
def replace_page(archive: Archive, who: Principal, document_id: int, number: int,
                 path: Path, *, ingestor: Ingestor | None = None,
                 reason: str | None = None) -> CorrectionResult:
    """Put a rescan of one page (a one-page file) in place of page ``number``."""
    target = _load(archive, who, document_id, number, ACTIONS[REPLACE_PAGE])
    path = Path(path)
    hash_file(path)  # a sentence for a missing or unreadable file
    with full_disk_as(f"replace page {number} of document {document_id} with '{path.name}'",
                      archive.settings.home), _ingestor(archive, ingestor) as reader, \
            work_dir(archive.settings.tmp_dir, "replace") as work:
        (work / "source").mkdir()
        source = normalize(path, work / "source", reader.limits)
        if len(source.pages) != 1:
            raise CorrectionRefused(
                f"cannot replace page {number} of document {document_id}: '{path.name}' has "
                f"{len(source.pages)} pages; a rescan of one page must have exactly one")
        ocr = reader.recognise(source, None)
        out = page_output(source.pages[0], ocr.get(1))
        _check_page(archive, target, out)
        [scan] = reader.check_scans(source, ocr, [out], batch_id=target.batch_id,
                                     profile=target.profile,
                                     replacing={(number, document_id)})
        scan.number = number  # the page it becomes
        one = work / "page.pdf"
        assemble(source.base_pdf, [out.layer], one, title=target.title)
        if out.id_regions is None:
            out.id_regions = redaction.regions_from_pdf(one, [1])[1]
        with pikepdf.open(io.BytesIO(archive.blobs.get(target.pdf_ref, target.pdf_key))) as pdf, \
                pikepdf.open(one) as rescan:
            pdf.pages[number - 1] = rescan.pages[0]
            new_pdf = to_bytes(pdf)
        values = {"width": out.width, "height": out.height, "rotation": out.rotation,
                  "text_source": out.text_source, "ocr_engine": out.engine,
                  "ocr_confidence": out.confidence, "flag": out.flag,
                  "id_regions": redaction.dumps(out.id_regions)}
        return _commit_page(archive, who, target, REPLACE_PAGE, pdf=new_pdf, text=out.text,
                            image=out.access_jpeg, values=values, sealed=None, reason=reason,
                            detail={"source_kind": source.kind, **findings_detail([scan])},
                            scan=scan)


def _check_page(archive: Archive, target: _Target, out: PageOutput) -> None:
    """Confidence and flag of an OCR'd page, checked against its dossier (as at ingest)."""
    dossier = target.dossier()
    if out.text_source != "ocr" or dossier is None:
        return
    check = fields.check_page(out.text, dossier, archive.id_index)
    out.confidence = check.adjust(out.confidence)
    out.flag = check.flag


class _ingestor:
    """The caller's ingestor (its OCR workers), or one of our own for this call."""

    def __init__(self, archive: Archive, given: Ingestor | None):
        self.archive, self.given, self.own = archive, given, None

    def __enter__(self) -> Ingestor:
        if self.given is not None:
            return self.given
        self.own = Ingestor(self.archive, workers=1)
        return self.own

    def __exit__(self, *exc) -> None:
        if self.own is not None:
            self.own.close()


# -- writing one page's correction --------------------------------------------------------------
def _snapshot(row, names: tuple[str, ...]) -> dict:
    return {name: getattr(row, name) for name in names}


def _put(row, values: Mapping) -> None:
    for name, value in values.items():
        setattr(row, name, value)


def _refs(doc: Mapping, page: Mapping | None = None) -> dict:
    """What a correction row and the audit event say the catalogue pointed at."""
    found = {"pdf": doc["pdf_ref"]}
    if "original_ref" in doc:
        found.update(original=doc["original_ref"], page_count=doc["page_count"])
    if page is not None:
        found.update(text=page["text_ref"], image=page["image_ref"], rotation=page["rotation"])
    return found


@dataclass(frozen=True)
class _PageBefore:
    document: dict
    page: dict
    scan: dict | None  # its page_scan row
    correction_id: int


def _commit_page(archive: Archive, who: Principal, target: _Target, kind: str, *,
                 pdf: bytes | None, text: str, image: bytes | None, values: dict,
                 sealed: bytes | None, reason: str | None, detail: dict,
                 scan: scanquality.PageFacts | None = None) -> CorrectionResult:
    """``scan``: the checks of a rescan, in place of the page's ``page_scan`` row."""
    reason = _reason(reason)
    number = target.page
    with Commit(archive, ACTIONS[kind]) as unit:
        new_pdf = unit.put(pdf) if pdf is not None else None
        new_text = unit.put(text.encode("utf-8"))
        new_image = unit.put(image) if image is not None else None

        def write(s: Session) -> tuple[_PageBefore, dict, dict]:
            doc, page = _locked(s, target)
            before = _PageBefore(_snapshot(doc, _PDF_FIELDS), _snapshot(page, _PAGE_FIELDS),
                                 _scans_of(s, [page.id]).get(page.id), 0)
            if scan is not None:
                s.execute(delete(PageScan).where(PageScan.page_id == page.id))
                s.add(scan_row(page, scan, target.batch_id))
            retired = [page.text_ref]
            if new_pdf is not None:
                retired.append(doc.pdf_ref)
                _put(doc, _blob_values("pdf", new_pdf, size=True))
            if new_image is not None:
                retired.append(page.image_ref)
                _put(page, _blob_values("image", new_image))
            _put(page, _blob_values("text", new_text))
            _put(page, values)
            unit.retire(retired)  # named before the change commits; shredded after
            refs_before = _refs(before.document, before.page)
            refs_after = _refs(_snapshot(doc, _PDF_FIELDS), _snapshot(page, _PAGE_FIELDS))
            correction = Correction(document_id=doc.id, page=number, kind=kind,
                                    actor=who.name, reason=reason,
                                    before=json.dumps(refs_before),
                                    after=json.dumps(refs_after), lines_sealed=sealed)
            s.add(correction)
            s.flush()
            return (replace(before, correction_id=correction.id), refs_before, refs_after)

        def undo(s: Session, done: tuple[_PageBefore, dict, dict]) -> None:
            before = done[0]
            doc = s.get(Document, target.document_id)
            _put(doc, before.document)
            page = s.scalar(select(Page).where(Page.document_id == doc.id,
                                               Page.number == number))
            _put(page, before.page)
            if scan is not None:
                s.execute(delete(PageScan).where(PageScan.page_id == page.id))
                if before.scan is not None:
                    s.add(PageScan(page_id=page.id, **before.scan))
            s.execute(delete(Correction).where(Correction.id == before.correction_id))

        done, refs_before, refs_after = unit.catalogue(write, undo=undo)
        unit.index(target.document_id, {number: text}, pages=[number])
        archive.record(audit.Event(
            actor=who.name, action=ACTIONS[kind], object_type="document",
            object_id=str(target.document_id), household=target.household, page=number,
            detail={"correction": done.correction_id, "before": refs_before,
                    "after": refs_after, **detail}))
    return CorrectionResult(done.correction_id, target.document_id, number, kind,
                            before=refs_before, after=refs_after)


_SCAN_FIELDS = ("batch_id", "dpi", "colour_mode", "bit_depth", "skew", "phash", "findings",
                "flagged")


def _scans_of(s: Session, page_ids: list[int]) -> dict[int, dict]:
    """The page_scan rows of pages (page id -> columns), read without loading them into
    the session (a rescan deletes and re-creates them)."""
    rows = s.execute(select(PageScan.page_id, *(getattr(PageScan, n) for n in _SCAN_FIELDS))
                     .where(PageScan.page_id.in_(page_ids))).all()
    return {row[0]: dict(zip(_SCAN_FIELDS, row[1:])) for row in rows}


def _locked(s: Session, target: _Target) -> tuple[Document, Page | None]:
    """The document (and page) to change, locked, as they were when the work began."""
    doc = s.get(Document, target.document_id, with_for_update=True)
    page = None
    if doc is not None and target.page is not None:
        page = s.scalar(select(Page).where(Page.document_id == doc.id,
                                           Page.number == target.page))
    if doc is None or doc.pdf_ref != target.pdf_ref or doc.destroyed_at is not None or (
            target.page is not None and (page is None or page.text_ref != target.text_ref)):
        raise CorrectionRefused(f"document {target.document_id} changed while it was being "
                                "corrected; run the command again")
    return doc, page


def _blob_values(prefix: str, blob: BlobRef, *, size: bool = False) -> dict:
    values = {f"{prefix}_ref": blob.ref, f"{prefix}_key": blob.wrapped_key,
              f"{prefix}_sha256": blob.sha256}
    if size:
        values[f"{prefix}_size"] = blob.size
    return values


def _reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise CorrectionRefused(f"the reason is longer than {MAX_REASON} characters")
    return reason or None


# -- 4. the whole document replaced by a rescan ---------------------------------------------------
def replace_document(archive: Archive, who: Principal, document_id: int, path: Path, *,
                     ingestor: Ingestor | None = None,
                     reason: str | None = None) -> CorrectionResult:
    """Replace a document's file, PDF, pages and index entries with a rescan, keeping its
    place in the catalogue (household, type, number, title, date); see the module doc."""
    target = _load(archive, who, document_id, None, ACTIONS[REPLACE_DOCUMENT])
    path = Path(path)
    reason = _reason(reason)
    sha256, size = hash_file(path)
    if sha256 == target.sha256:
        raise CorrectionRefused(f"cannot replace document {document_id} with '{path.name}': "
                                "it is the file the document already holds")
    with archive.Session() as s:
        home = (Document.dossier_id == target.dossier_id if target.dossier_id is not None
                else Document.volume_id == target.volume_id)
        other = s.scalar(select(Document.id).where(home, Document.sha256 == sha256))
    if other is not None:
        raise CorrectionRefused(f"cannot replace document {document_id} with '{path.name}': "
                                f"that file is document {other} of the same dossier")
    with full_disk_as(f"replace document {document_id} with '{path.name}'",
                      archive.settings.home), _ingestor(archive, ingestor) as reader, \
            work_dir(archive.settings.tmp_dir, "replace") as work:
        (work / "source").mkdir()
        source = normalize(path, work / "source", reader.limits)
        ocr = reader.recognise(source, None)
        pages = [page_output(p, ocr.get(p.number)) for p in source.pages]
        for page in pages:
            _check_page(archive, target, page)
        scans = reader.check_scans(
            source, ocr, pages, batch_id=target.batch_id, profile=target.profile,
            replacing={(n, document_id) for n in range(1, target.page_count + 1)})
        pdf_path = work / "archival.pdf"
        assemble(source.base_pdf, [p.layer for p in pages], pdf_path, title=target.title,
                 subject=f"{target.household or target.region_code} {target.type_code}")
        reader.find_id_regions(pdf_path, pages)
        return _commit_document(archive, who, target, reader, path, sha256, size,
                                source.kind, pages, scans, pdf_path, reason)


@dataclass(frozen=True)
class _DocumentBefore:
    document: dict
    pages: list[tuple[dict, dict | None]]  # each page's columns and page_scan row
    correction_id: int


def _commit_document(archive: Archive, who: Principal, target: _Target, reader: Ingestor,
                     path: Path, sha256: str, size: int, kind: str,
                     pages: list[PageOutput], scans: list[scanquality.PageFacts],
                     pdf_path: Path, reason: str | None) -> CorrectionResult:
    with Commit(archive, ACTIONS[REPLACE_DOCUMENT]) as unit:
        stored = reader.store_blobs(unit, pdf_path, pages)
        original = keep_original(unit, path, sha256)

        def write(s: Session) -> tuple[_DocumentBefore, dict, dict]:
            doc, _ = _locked(s, target)
            old_scans = _scans_of(s, [p.id for p in doc.pages])
            old_pages = [({"number": p.number, **_snapshot(p, _PAGE_FIELDS),
                           "key_id": p.key_id}, old_scans.get(p.id)) for p in doc.pages]
            before = _snapshot(doc, _DOCUMENT_FIELDS)
            unit.retire([doc.pdf_ref, *([doc.original_ref] if doc.original_ref else []),
                         *(ref for p in doc.pages for ref in (p.image_ref, p.text_ref))])
            delete_pages(s, doc.id)
            s.expire(doc, ["pages"])
            _put(doc, {**_blob_values("pdf", stored.pdf, size=True), "sha256": sha256,
                       "source_kind": kind, "source_size": size,
                       "original_ref": original.ref, "original_key": original.wrapped_key,
                       "original_size": original.size, "page_count": len(pages),
                       "ocr_engine": reader.pool.engine_name})
            for sp, scan in zip(stored.pages, scans):
                p = sp.output
                page = Page(document_id=doc.id, number=p.number, width=p.width,
                            height=p.height, rotation=p.rotation,
                            **_blob_values("image", sp.image), **_blob_values("text", sp.text),
                            text_source=p.text_source, ocr_confidence=p.confidence,
                            ocr_engine=p.engine, flag=p.flag,
                            id_regions=redaction.dumps(p.id_regions))
                s.add_all([page, scan_row(page, scan, target.batch_id)])
            refs_before = _refs(before)
            refs_after = _refs(_snapshot(doc, _DOCUMENT_FIELDS))
            correction = Correction(document_id=doc.id, page=None, kind=REPLACE_DOCUMENT,
                                    actor=who.name, reason=reason,
                                    before=json.dumps(refs_before),
                                    after=json.dumps(refs_after))
            s.add(correction)
            s.flush()
            return (_DocumentBefore(before, old_pages, correction.id), refs_before, refs_after)

        def undo(s: Session, done: tuple[_DocumentBefore, dict, dict]) -> None:
            before = done[0]
            s.execute(delete(Correction).where(Correction.id == before.correction_id))
            delete_pages(s, target.document_id)
            doc = s.get(Document, target.document_id)
            _put(doc, before.document)
            for old, scan in before.pages:
                page = Page(document_id=target.document_id, **old)
                s.add(page)
                if scan is not None:
                    s.add(PageScan(page=page, **scan))

        done, refs_before, refs_after = unit.catalogue(write, undo=undo)
        unit.unindex([target.document_id])  # its old pages may be more than its new ones
        unit.index(target.document_id, {p.number: p.text for p in pages})
        archive.record(audit.Event(
            actor=who.name, action=ACTIONS[REPLACE_DOCUMENT], object_type="document",
            object_id=str(target.document_id), household=target.household,
            detail={"correction": done.correction_id, "before": refs_before,
                    "after": refs_after, "pages": len(pages), "sha256": sha256,
                    **findings_detail(scans)}))
    return CorrectionResult(done.correction_id, target.document_id, None, REPLACE_DOCUMENT,
                            before=refs_before, after=refs_after)


# -- the record of corrections ---------------------------------------------------------------
@dataclass(frozen=True)
class CorrectionView:
    id: int
    kind: str
    page: int | None
    actor: str
    at: str
    reason: str | None
    before: dict
    after: dict

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "page": self.page, "actor": self.actor,
                "at": self.at, "reason": self.reason, "before": self.before,
                "after": self.after}


def corrections_of(archive: Archive, who: Principal, document_id: int) -> list[CorrectionView]:
    """The corrections of a document, oldest first (blob references, no text)."""
    _load(archive, who, document_id, None, "corrections")
    with archive.Session() as s:
        rows = s.scalars(select(Correction).where(Correction.document_id == document_id)
                         .order_by(Correction.id))
        return [CorrectionView(c.id, c.kind, c.page, c.actor, c.at.isoformat(), c.reason,
                               json.loads(c.before), json.loads(c.after)) for c in rows]
