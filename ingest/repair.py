"""``hudang verify --repair``: rebuild what verification found broken, from what is intact.

What can be rebuilt is derived data: a page's access image and its text (both from the
archival PDF, which holds the original page images and the OCR text layer), the search
index (from the catalogue and the page texts), a document's recorded page count (when its
page rows and its archival PDF agree), the data home's permissions. Every rebuilt blob is
written through one :class:`ingest.commit.Commit` per document, like any other write.

What cannot be rebuilt is listed with what to do: the archival PDF and the file as
received are the record itself (restore them from a backup), the audit log is evidence
(compare it with backups and anchors), a gap in the document numbers is paper to find.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import pypdfium2 as pdfium
from sqlalchemy import select

from ingest.access_image import ACCESS_IMAGE_LONG_SIDE, access_image
from ingest.archive import Archive
from ingest.commit import Commit
from ingest.indexing import reindex, sync_document
from ingest.sources import normalise_text
from ingest.verify import Finding, Report
from records.model import Document, Page
from storage import BlobRef, StorageError

Progress = Callable[[int], None]

RESTORE = ("restore blob {ref} from the latest backup (see docs/operations.md, 'Restoring "
           "one blob'), or ingest the paper again")
ADVICE = {
    "blob_missing": RESTORE,
    "blob_altered": RESTORE,
    "size_mismatch": RESTORE,
    "blob_not_encrypted": "the file of blob {ref} was replaced by a plain file: find out who "
                          "(audit log, file times), then restore it from the latest backup",
    "key_unwrap": "restore the catalogue from a backup made before the row was damaged, or "
                  "put back the master key that wrapped it (a retired key file)",
    "pdf_unreadable": "restore the archival PDF from the latest backup, or ingest the kept "
                      "file as received again",
    "pdf_encrypted": "restore the archival PDF from the latest backup",
    "metadata_mismatch": "check on paper which household the document belongs to; the "
                         "archival PDF or the catalogue row was changed",
    "page_count": "the catalogue's page rows and the archival PDF disagree: restore the "
                  "document from the latest backup, or ingest the paper again",
    "pages_missing": "restore the document from the latest backup, or ingest the paper again",
    "seq_gap": "find the paper with that number and ingest it with --seq, or note on the "
               "dossier's table of contents why the number is unused",
    "stray_blob": "after a crash 'hudang recover' removes what an interrupted write left; "
                  "otherwise move the file out of the blob store and find out where it came "
                  "from",
    "retired_key": "run 'hudang key rotate' to re-wrap them under the current key",
    "certificate_not_carried": "enter the number again from the household's certificate: "
                               "'hudang household certificate NUMBER CERTIFICATE'",
    "audit_broken": "the log is evidence and is not rebuilt: compare it with the latest "
                    "backup and the anchors kept on paper, and find out who changed it",
}


def advice(finding: Finding) -> str:
    text = ADVICE.get(finding.kind, "no automatic repair; see docs/operations.md")
    return text.format(ref=finding.ref or "")


def repair(archive: Archive, report: Report, progress: Progress | None = None) -> None:
    """Rebuild every repairable finding of ``report``; record in it what was repaired and
    what was not (with what to do)."""
    problems = [f for f in report.findings if not f.note]
    pages: dict[int, list[Finding]] = {}
    for f in problems:
        if f.repairable and f.blob in ("image", "text") and f.document_id and f.page:
            pages.setdefault(f.document_id, []).append(f)
    for document_id, found in pages.items():
        _settle(report, found, _rebuild_pages, archive, document_id, found)
        if progress:
            progress(1)
    rest = [f for f in problems if f not in report.repaired
            and not any(f in fs for fs in pages.values())]
    if any(f.repairable and f.kind in ("index_out_of_date", "index_pages") for f in rest):
        index_findings = [f for f in rest if f.kind.startswith("index_")]
        _settle(report, index_findings, reindex, archive)
        rest = [f for f in rest if f not in index_findings]
    for f in rest:
        if not f.repairable:
            report.not_repaired.append((f, advice(f)))
        elif f.kind in ("index_missing", "index_stray"):
            _settle(report, [f], sync_document, archive, f.document_id)
        elif f.kind == "page_count":
            _settle(report, [f], _fix_page_count, archive, f.document_id)
        elif f.kind == "permissions":
            _settle(report, [f], os.chmod, f.ref, 0o700)
        else:
            report.not_repaired.append((f, advice(f)))


def _settle(report: Report, findings: list[Finding], fix: Callable, *args) -> None:
    try:
        fix(*args)
    except (StorageError, OSError, pdfium.PdfiumError) as exc:
        for f in findings:
            report.not_repaired.append((f, f"the repair failed ({exc}); {advice(f)}"))
        return
    report.repaired.extend(findings)


# -- pages rebuilt from the archival PDF ----------------------------------------------------
@dataclass
class _Rebuilt:
    images: dict[int, tuple[BlobRef, int, int]] = field(default_factory=dict)
    texts: dict[int, tuple[BlobRef, str]] = field(default_factory=dict)


def _rebuild_pages(archive: Archive, document_id: int, found: list[Finding]) -> None:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        pdf = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
    images = sorted({f.page for f in found if f.blob == "image"})
    texts = sorted({f.page for f in found if f.blob == "text"})
    with Commit(archive, "repair") as unit:
        rebuilt = _Rebuilt()
        document = pdfium.PdfDocument(pdf)
        try:
            for number in images:
                jpeg, width, height = _page_image(document[number - 1])
                rebuilt.images[number] = (unit.put(jpeg), width, height)
            for number in texts:
                text = _page_text(document[number - 1])
                rebuilt.texts[number] = (unit.put(text.encode("utf-8")), text)
        finally:
            document.close()
        before = unit.catalogue(lambda s: _point(s, document_id, rebuilt), undo=_unpoint)
        if texts:
            unit.index(document_id, {n: t for n, (_ref, t) in rebuilt.texts.items()}, texts)
        unit.retire(ref for _page, column, ref in before.changes if column.endswith("_ref"))


def _page_image(page: pdfium.PdfPage) -> tuple[bytes, int, int]:
    """The page as displayed (its /Rotate applied: upright), as the viewer's JPEG."""
    try:
        width, height = page.get_width(), page.get_height()
        scale = ACCESS_IMAGE_LONG_SIDE / max(width, height)
        image = page.render(scale=scale, may_draw_forms=False).to_pil()
    finally:
        page.close()
    return access_image(image)


def _page_text(page: pdfium.PdfPage) -> str:
    """The page's text as its invisible text layer holds it."""
    textpage = page.get_textpage()
    try:
        return normalise_text(textpage.get_text_bounded()) or ""
    finally:
        textpage.close()
        page.close()


@dataclass
class _Before:
    document_id: int
    changes: list[tuple[int, str, object]]  # page number, column, old value


def _point(s, document_id: int, rebuilt: _Rebuilt) -> _Before:
    """Point the page rows at the rebuilt blobs; returns what they held."""
    before = _Before(document_id, [])
    for page in s.scalars(select(Page).where(Page.document_id == document_id)):
        new: dict[str, object] = {}
        if page.number in rebuilt.images:
            ref, width, height = rebuilt.images[page.number]
            new |= {"image_ref": ref.ref, "image_key": ref.wrapped_key,
                    "image_sha256": ref.sha256, "width": width, "height": height}
        if page.number in rebuilt.texts:
            ref, _text = rebuilt.texts[page.number]
            new |= {"text_ref": ref.ref, "text_key": ref.wrapped_key, "text_sha256": ref.sha256}
        for column, value in new.items():
            before.changes.append((page.number, column, getattr(page, column)))
            setattr(page, column, value)
    return before


def _unpoint(s, before: _Before) -> None:
    pages = {p.number: p for p in s.scalars(select(Page).where(
        Page.document_id == before.document_id))}
    for number, column, value in before.changes:
        setattr(pages[number], column, value)


def _fix_page_count(archive: Archive, document_id: int) -> None:
    """The recorded page count, from the page rows (which agree with the archival PDF)."""
    with archive.Session() as s, s.begin():
        doc = s.get(Document, document_id)
        doc.page_count = len(doc.pages)
