"""四性检测: the archive checked, during storage, for DA/T 70-2018's four properties.

- **authenticity (真实性)**: every blob decrypts and has the SHA-256 and size the catalogue
  recorded; the file as received still has the SHA-256 recorded at ingest; the archival
  PDF's own metadata names the household the catalogue files it under.
- **integrity (完整性)**: every catalogue row has its blobs and every blob its row; no gaps
  in the document numbers (件号) of a dossier; page counts agree between the catalogue,
  its page rows and the archival PDF; the search index holds every document and nothing
  else.
- **usability (可用性)**: each decrypted archival PDF opens, is not encrypted inside, and
  each access image decodes, each page text is text.
- **security (安全性)**: every blob file is encrypted (it starts with the store's header,
  never as a plain PDF or image), every data key unwraps, no row is left wrapped under a
  retired master key, the audit chain verifies, the data home is private.

Each check is a function returning typed :class:`Finding` s; :func:`check` runs them all,
one document at a time (memory stays bounded), and returns a :class:`Report`. What can
be rebuilt is rebuilt by :mod:`ingest.repair`. Findings name objects by id and blob ref,
never their content.
"""
from __future__ import annotations

import enum
import hashlib
import io
import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime

import pikepdf
from PIL import Image
from sqlalchemy import func, select

from ingest.archive import Archive, running_rotation
from ingest.recovery import ref_columns
from records import audit
from records.clock import utcnow
from records.model import (Acceptance, ArchiveRecord, Document, Dossier, Household,
                           HouseholdCertificate, HouseholdMember, Page)
from storage import BlobNotFound, FixityError, WrongKeyError

Progress = Callable[[int], None]

# the catalogue version from which the file as received is kept (migration 0007)
ORIGINALS_SINCE = "catalogue version 0007"

# how plain files start, to name what a blob file that is not encrypted holds
_MAGIC = ((b"%PDF", "a plain PDF"), (b"\xff\xd8\xff", "a plain JPEG image"),
          (b"\x89PNG", "a plain PNG image"), (b"II*\x00", "a plain TIFF image"),
          (b"MM\x00*", "a plain TIFF image"), (b"GIF8", "a plain GIF image"))


class Property(str, enum.Enum):
    authenticity = "authenticity"  # 真实性
    integrity = "integrity"  # 完整性
    usability = "usability"  # 可用性
    security = "security"  # 安全性


PROPERTY_NAMES = {Property.authenticity: "真实性", Property.integrity: "完整性",
                  Property.usability: "可用性", Property.security: "安全性"}


@dataclass(frozen=True)
class Finding:
    """One problem (or, with ``note``, one thing to know) found by a check."""

    property: Property
    kind: str  # a stable code: blob_missing, stray_blob, page_count, ... (docs/operations.md)
    message: str  # one sentence naming the object and the problem
    document_id: int | None = None
    page: int | None = None
    ref: str | None = None
    blob: str | None = None  # pdf / original / image / text: which blob of the document
    repairable: bool = False  # `hudang verify --repair` can rebuild it
    note: bool = False  # not a failure: something to know (e.g. an original not kept)

    def as_json(self) -> dict:
        out = asdict(self)
        out["property"] = self.property.value
        return out


@dataclass
class Counts:
    documents: int = 0
    pages: int = 0
    blobs: int = 0
    originals: int = 0
    audit_events: int = 0


@dataclass
class Report:
    started_at: datetime
    finished_at: datetime | None = None
    counts: Counts = field(default_factory=Counts)
    findings: list[Finding] = field(default_factory=list)
    repaired: list[Finding] = field(default_factory=list)
    not_repaired: list[tuple[Finding, str]] = field(default_factory=list)  # and what to do

    @property
    def problems(self) -> list[Finding]:
        """Findings that are failures and were not repaired."""
        return [f for f in self.findings if not f.note and f not in self.repaired]

    @property
    def passed(self) -> bool:
        return not self.problems

    def by_property(self) -> dict[Property, list[Finding]]:
        return {p: [f for f in self.findings if f.property is p] for p in Property}

    def as_json(self) -> dict:
        return {
            "format": "hudang-verify-report", "version": 1,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "passed": self.passed,
            "counts": asdict(self.counts),
            "findings": [{**f.as_json(), "repaired": f in self.repaired}
                         for f in self.findings],
            "not_repaired": [{**f.as_json(), "what_to_do": advice}
                             for f, advice in self.not_repaired],
        }


# -- one document ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _PageRow:
    number: int
    width: int
    height: int
    image: tuple[str, bytes, str]  # ref, wrapped key, sha256
    text: tuple[str, bytes, str]


@dataclass(frozen=True)
class _DocRow:
    """What the catalogue says about one document, read once."""

    id: int
    household: str
    page_count: int
    sha256: str
    pdf: tuple[str, bytes, str, int]  # ref, wrapped key, sha256, size
    original: tuple[str, bytes, int] | None  # ref, wrapped key, size
    pages: tuple[_PageRow, ...]


def _read_doc(archive: Archive, document_id: int) -> _DocRow | None:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        if doc is None:
            return None  # deleted while the check ran
        original = None if doc.original_ref is None else (
            doc.original_ref, doc.original_key, doc.original_size)
        return _DocRow(doc.id, doc.household_number or "", doc.page_count, doc.sha256,
                       (doc.pdf_ref, doc.pdf_key, doc.pdf_sha256, doc.pdf_size), original,
                       tuple(_PageRow(p.number, p.width, p.height,
                                      (p.image_ref, p.image_key, p.image_sha256),
                                      (p.text_ref, p.text_key, p.text_sha256))
                             for p in doc.pages))


_BLOB_WORDS = {"pdf": "archival PDF", "original": "file as received", "image": "access image",
               "text": "page text"}


def _where(blob: str, document_id: int, page: int | None) -> str:
    words = _BLOB_WORDS[blob]
    return f"the {words} of page {page} of document {document_id}" if page else \
        f"the {words} of document {document_id}"


def _still_referenced(archive: Archive, document_id: int, ref: str) -> bool:
    """Is ``ref`` still one of the document's blobs? (a re-OCR may have retired it meanwhile)"""
    row = _read_doc(archive, document_id)
    if row is None:
        return False
    refs = {row.pdf[0], row.original[0] if row.original else None}
    refs |= {p.image[0] for p in row.pages} | {p.text[0] for p in row.pages}
    return ref in refs


def plain_kind(archive: Archive, ref: str) -> str:
    """What a blob file without the store's header holds, in words."""
    try:
        with archive.blobs.path_of(ref).open("rb") as f:
            head = f.read(8)
    except OSError:
        return "an unreadable file"
    return next((words for magic, words in _MAGIC if head.startswith(magic)),
                "a file that is not a hudang blob")


def _open_blob(archive: Archive, out: list[Finding], blob: str, document_id: int,
               page: int | None, ref: str, wrapped: bytes, sha256: str, size: int | None,
               repairable: bool) -> bytes | None:
    """The blob's plaintext if it is there, encrypted, opens and matches the catalogue; else
    None and a finding under the property it breaks."""
    where = _where(blob, document_id, page)
    common = {"document_id": document_id, "page": page, "ref": ref, "blob": blob,
              "repairable": repairable}
    if not archive.blobs.path_of(ref).is_file():
        if _still_referenced(archive, document_id, ref):
            out.append(Finding(Property.integrity, "blob_missing",
                               f"{where} is missing from the blob store (blob {ref})", **common))
        return None
    if not archive.blobs.header_ok(ref):
        out.append(Finding(Property.security, "blob_not_encrypted",
                           f"{where} (blob {ref}) is {plain_kind(archive, ref)}, not an "
                           "encrypted blob: it was replaced", **common))
        return None
    try:
        data = archive.blobs.get(ref, wrapped)
    except WrongKeyError:
        out.append(Finding(Property.security, "key_unwrap",
                           f"the data key of {where} (blob {ref}) does not unwrap with any "
                           "master key at hand", **{**common, "repairable": False}))
        return None
    except BlobNotFound:
        return None  # retired by a re-OCR between the two looks
    except FixityError:
        if _still_referenced(archive, document_id, ref):
            out.append(Finding(Property.authenticity, "blob_altered",
                               f"{where} (blob {ref}) was altered or is corrupt: it fails its "
                               "integrity check", **common))
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        out.append(Finding(Property.authenticity, "blob_altered",
                           f"{where} (blob {ref}) decrypts, but not to the SHA-256 the "
                           "catalogue recorded", **common))
        return None
    if size is not None and len(data) != size:
        out.append(Finding(Property.authenticity, "size_mismatch",
                           f"{where} (blob {ref}) holds {len(data)} bytes, the catalogue "
                           f"recorded {size}", **common))
    return data


def check_document(archive: Archive, document_id: int, counts: Counts) -> list[Finding]:
    """Every blob of one document, its PDF, its pages and its original."""
    row = _read_doc(archive, document_id)
    if row is None:
        return []
    out: list[Finding] = []
    counts.documents += 1
    counts.pages += len(row.pages)
    counts.blobs += 1 + 2 * len(row.pages) + (row.original is not None)
    ref, key, sha, size = row.pdf
    pdf = _open_blob(archive, out, "pdf", row.id, None, ref, key, sha, size, False)
    pdf_ok = pdf is not None and _check_pdf(out, row, pdf)
    _check_original(archive, out, row, counts)
    numbers = [p.number for p in row.pages]
    if numbers != list(range(1, len(numbers) + 1)):
        out.append(Finding(Property.integrity, "pages_missing",
                           f"document {row.id} lists pages {numbers[:12]}, not 1 to "
                           f"{len(numbers)} without gaps", document_id=row.id))
    for p in row.pages:
        image = _open_blob(archive, out, "image", row.id, p.number, *p.image, None, pdf_ok)
        if image is not None and not _decodes(image):
            out.append(Finding(Property.usability, "image_undecodable",
                               f"the access image of page {p.number} of document {row.id} does "
                               "not decode", document_id=row.id, page=p.number, ref=p.image[0],
                               blob="image", repairable=pdf_ok))
        text = _open_blob(archive, out, "text", row.id, p.number, *p.text, None, pdf_ok)
        if text is not None:
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                out.append(Finding(Property.usability, "text_undecodable",
                                   f"the page text of page {p.number} of document {row.id} is "
                                   "not UTF-8 text", document_id=row.id, page=p.number,
                                   ref=p.text[0], blob="text", repairable=pdf_ok))
    return out


def _check_pdf(out: list[Finding], row: _DocRow, data: bytes) -> bool:
    """The archival PDF opens, is a plain PDF, has the pages the catalogue says and names the
    household it is filed under. True if its pages can be used to rebuild others."""
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            encrypted = pdf.is_encrypted
            pages = len(pdf.pages)
            subject = str(pdf.docinfo.get("/Subject", "")) if pdf.docinfo else ""
    except (pikepdf.PdfError, ValueError, RecursionError) as exc:
        out.append(Finding(Property.usability, "pdf_unreadable",
                           f"the archival PDF of document {row.id} does not open "
                           f"({type(exc).__name__})", document_id=row.id, ref=row.pdf[0],
                           blob="pdf"))
        return False
    if encrypted:
        out.append(Finding(Property.usability, "pdf_encrypted",
                           f"the archival PDF of document {row.id} is password-protected "
                           "inside; an archival file must open without one", document_id=row.id,
                           ref=row.pdf[0], blob="pdf"))
    if subject and row.household not in subject:
        out.append(Finding(Property.authenticity, "metadata_mismatch",
                           f"the archival PDF of document {row.id} names another household in "
                           f"its metadata than the dossier of {row.household} it is filed in",
                           document_id=row.id, ref=row.pdf[0], blob="pdf"))
    if row.page_count != pages or len(row.pages) != pages:
        out.append(Finding(Property.integrity, "page_count",
                           f"document {row.id} records {row.page_count} pages and lists "
                           f"{len(row.pages)}, its archival PDF has {pages}",
                           document_id=row.id, repairable=len(row.pages) == pages))
    return len(row.pages) == pages and not encrypted


def _check_original(archive: Archive, out: list[Finding], row: _DocRow, counts: Counts) -> None:
    if row.original is None:
        out.append(Finding(Property.authenticity, "original_not_kept",
                           f"document {row.id}: original not kept (ingested before "
                           f"{ORIGINALS_SINCE}); its SHA-256 at ingest is recorded but cannot "
                           "be checked again", document_id=row.id, note=True))
        return
    counts.originals += 1
    ref, key, size = row.original
    _open_blob(archive, out, "original", row.id, None, ref, key, row.sha256, size, False)


def _decodes(data: bytes) -> bool:
    """Does the access image decode? (JPEG at 1/8 scale: the entropy data is all read)"""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("L", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return False
    return True


# -- across documents -----------------------------------------------------------------------
def check_sequences(archive: Archive) -> list[Finding]:
    """No gaps in the document numbers (件号) of a dossier (DA/T 22: numbered in order)."""
    out = []
    with archive.Session() as s:
        rows = s.execute(select(Household.number, Document.seq)
                         .join(Dossier, Dossier.id == Document.dossier_id)
                         .join(Household, Household.id == Dossier.household_id)
                         .order_by(Household.number, Document.seq))
        by_household: dict[str, list[int]] = {}
        for number, seq in rows:
            by_household.setdefault(number, []).append(seq)
    for number, seqs in by_household.items():
        missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            out.append(Finding(Property.integrity, "seq_gap",
                               f"the dossier of household {number} has no document number "
                               f"{shown} (its numbers run to {max(seqs)})"))
    return out


def check_index(archive: Archive) -> list[Finding]:
    """The search index holds every document of the catalogue, and nothing else."""
    if archive.index.needs_rebuild:
        return [Finding(Property.integrity, "index_out_of_date",
                        "the search index was built by an older hudang and must be rebuilt",
                        repairable=True)]
    with archive.Session() as s:
        # a destroyed document (已销毁) is kept in the catalogue and left out of the index
        pages_by_doc = dict(s.execute(select(Page.document_id, func.count(Page.id))
                                      .join(Document, Document.id == Page.document_id)
                                      .where(Document.destroyed_at.is_(None))
                                      .group_by(Page.document_id)).all())
    indexed = archive.index.document_ids()
    out = [Finding(Property.integrity, "index_missing",
                   f"document {d} is in the catalogue but not in the search index",
                   document_id=d, repairable=True)
           for d in sorted(set(pages_by_doc) - indexed)]
    out += [Finding(Property.integrity, "index_stray",
                    f"the search index holds document {d}, which the catalogue does not",
                    document_id=d, repairable=True)
            for d in sorted(indexed - set(pages_by_doc))]
    total = sum(pages_by_doc.values())
    if not out and archive.index.doc_count() != total:
        out.append(Finding(Property.integrity, "index_pages",
                           f"the search index holds {archive.index.doc_count()} pages, the "
                           f"catalogue {total}", repairable=True))
    return out


def referenced_refs(archive: Archive) -> set[bytes]:
    """Every blob ref the catalogue refers to (as 16 bytes each: a county's refs fit)."""
    refs: set[bytes] = set()
    with archive.Session() as s:
        # every *_ref column: documents, pages, the archive's own records (destruction lists)
        for column, _document in ref_columns():
            for (ref,) in s.execute(select(column).where(column.is_not(None))):
                refs.add(bytes.fromhex(ref))
    return refs


def check_strays(archive: Archive, on_disk: set[bytes]) -> list[Finding]:
    """Blob files without a catalogue row. ``on_disk`` was listed before the documents were
    read, so an ingest that committed meanwhile is not taken for a stray."""
    out = []
    for raw in sorted(on_disk - referenced_refs(archive)):
        ref = raw.hex()
        if not archive.blobs.exists(ref):
            continue
        out.append(Finding(Property.integrity, "stray_blob",
                           f"blob {ref} has no catalogue row (left by an interrupted write, or "
                           "put there by hand)", ref=ref))
        if not archive.blobs.header_ok(ref):
            out.append(Finding(Property.security, "blob_not_encrypted",
                               f"blob {ref} is {plain_kind(archive, ref)}, not an encrypted "
                               "blob", ref=ref))
    return out


def check_keys(archive: Archive) -> list[Finding]:
    """No row left wrapped or sealed under a master key other than the current one."""
    out = []
    current = archive.master.fingerprint()
    if running_rotation(archive.engine) is not None:
        out.append(Finding(Property.security, "rotation_running",
                           "a key rotation is in progress; run 'hudang key rotate' to finish it",
                           note=True))
        return out
    with archive.Session() as s:
        for model, words in ((Document, "documents"), (Page, "pages"),
                             (Household, "households"), (HouseholdMember, "household members"),
                             (HouseholdCertificate, "certificates"),
                             (ArchiveRecord, "destruction lists and certificates"),
                             (Acceptance, "acceptance reports")):
            query = select(model.key_id, func.count()).where(
                model.key_id.is_not(None), model.key_id != current)
            if model is Document:
                query = query.where(Document.destroyed_at.is_(None))
            if model is Page:
                query = query.join(Document, Document.id == Page.document_id).where(
                    Document.destroyed_at.is_(None))
            if model is HouseholdCertificate:
                query = query.where(model.certificate_no_sealed.is_not(None))
            for key_id, n in s.execute(query.group_by(model.key_id)):
                out.append(Finding(Property.security, "retired_key",
                                   f"{n} {words} are still wrapped or sealed under master key "
                                   f"{key_id}, not the current {current}"))
        stale = s.execute(select(Household.number, HouseholdCertificate.key_id)
                          .join(Household, Household.id == HouseholdCertificate.household_id)
                          .where(HouseholdCertificate.certificate_no_sealed.is_(None),
                                 HouseholdCertificate.key_id.is_not(None),
                                 HouseholdCertificate.key_id != current))
        for number, key_id in stale:
            out.append(Finding(Property.security, "certificate_not_carried",
                               f"the allowance-certificate number of household {number} was "
                               f"recorded before it was kept sealed, so a key rotation could "
                               f"not carry its blind index over from master key {key_id}: "
                               "self-lookup cannot match it until it is entered again"))
    return out


def check_audit(archive: Archive, counts: Counts) -> list[Finding]:
    """The audit chain verifies (every link by its scheme)."""
    result = archive.verify_audit()
    counts.audit_events = result.events
    out = []
    if not result.ok:
        where = f"at event {result.first_bad}: " if result.first_bad else ""
        out.append(Finding(Property.security, "audit_broken",
                           f"the audit log does not verify {where}{result.reason}"))
    if result.legacy:
        out.append(Finding(Property.security, "audit_legacy",
                           f"{result.legacy} audit events predate keying (plain SHA-256 links, "
                           f"attested by event {result.keyed_from} when the log was keyed)",
                           note=True))
    if result.attested_only:
        out.append(Finding(Property.security, "audit_attested_only",
                           f"{result.attested_only} audit events were linked under a retired "
                           "master key no longer at hand; they are checked through the "
                           "re-keying that attests them, not one by one", note=True))
    return out


def check_permissions(archive: Archive) -> list[Finding]:
    """The data home and the blob store are private to the account that runs hudang."""
    out = []
    for path in (archive.settings.home, archive.settings.blob_dir):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            out.append(Finding(Property.security, "permissions",
                               f"'{path}' has permissions {mode:04o}, open to other users",
                               ref=str(path), repairable=True))
    return out


def document_ids(archive: Archive) -> list[int]:
    with archive.Session() as s:
        # a destroyed document's blobs and data keys are gone on purpose: nothing to check
        return list(s.scalars(select(Document.id).where(Document.destroyed_at.is_(None))
                              .order_by(Document.id)))


def check(archive: Archive, progress: Progress | None = None) -> Report:
    """Run every check; ``progress(1)`` after each document."""
    report = Report(started_at=utcnow())
    on_disk = {bytes.fromhex(r) for r in archive.blobs.iter_refs()}  # before any row is read
    for document_id in document_ids(archive):
        report.findings += check_document(archive, document_id, report.counts)
        if progress:
            progress(1)
    for more in (check_sequences(archive), check_index(archive), check_strays(archive, on_disk),
                 check_keys(archive), check_audit(archive, report.counts),
                 check_permissions(archive)):
        report.findings += more
    report.finished_at = utcnow()
    return report


def record_run(archive: Archive, actor: str, report: Report, *, repair: bool) -> int:
    """Keep the report (for the screen of the last verification) and record the run in the
    audit log, with its outcome."""
    from records.model import VerificationRun

    by_property = {p.value: sum(1 for f in fs if not f.note)
                   for p, fs in report.by_property().items()}
    with archive.Session() as s, s.begin():
        run = VerificationRun(started_at=report.started_at, finished_at=report.finished_at,
                              actor=actor, passed=report.passed, findings=len(report.problems),
                              repaired=len(report.repaired),
                              report=json.dumps(report.as_json(), ensure_ascii=False))
        s.add(run)
        s.flush()
        run_id = run.id
    archive.record(audit.Event(actor=actor, action="verify", object_type="verification",
                               object_id=str(run_id), detail={
                                   "result": "passed" if report.passed else "findings",
                                   "findings": len(report.problems), "repair": repair,
                                   "repaired": len(report.repaired), **by_property}))
    return run_id
