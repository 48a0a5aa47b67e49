"""Where the catalogue and the blob store meet the search index.

The index is a cache: :func:`reindex` rebuilds it from the catalogue and the
encrypted page texts, one document at a time, so memory stays bounded.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from sqlalchemy import select

from records.model import Document
from search import PageDoc


def page_docs(doc: Document, texts: Mapping[int, str]) -> Iterator[PageDoc]:
    """The index entries of one document, given its page texts by page number.

    A daily-management record has no household: its entries carry an empty household and
    head's name, and the region of its volume, which confines searches as a village does."""
    household = doc.dossier.household if doc.dossier is not None else None
    for page in doc.pages:
        yield PageDoc(
            document_id=doc.id, page=page.number,
            household=household.number if household else "",
            head_name=household.head_name if household else "", region=doc.region_code,
            doc_type=doc.type_code, doc_type_name=doc.type.name_zh, title=doc.title,
            date=doc.date.isoformat() if doc.date else None, text=texts.get(page.number, ""))


def sync_document(archive, document_id: int, texts: Mapping[int, str] | None = None,
                  pages: Iterable[int] | None = None) -> None:
    """Make the index agree with the catalogue for one document.

    With ``texts`` (page texts by number, as a writer has them in hand) the
    entries of ``pages`` (default: all) are added or replaced. Without, the
    document's entries are rebuilt from the catalogue and the encrypted page
    texts, or removed when the catalogue no longer holds the document: what a
    failed write's undo and a repair need.
    """
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        if doc is None or doc.destroyed_at is not None:  # deleted, or destroyed (已销毁)
            archive.index.remove_document(document_id)
            return
        if texts is None:
            texts = {p.number: archive.blobs.get(p.text_ref, p.text_key).decode("utf-8")
                     for p in doc.pages}
            archive.index.remove_document(document_id)
        wanted = None if pages is None else set(pages)
        archive.index.add_pages(d for d in page_docs(doc, texts)
                                if wanted is None or d.page in wanted)


def iter_catalogue(archive) -> Iterator[PageDoc]:
    """Every page of every document, with its text decrypted from the blob store (a
    destroyed document has neither)."""
    with archive.Session() as s:
        ids = list(s.scalars(select(Document.id).where(Document.destroyed_at.is_(None))
                             .order_by(Document.id)))
    for document_id in ids:
        with archive.Session() as s:
            doc = s.get(Document, document_id)
            texts = {p.number: archive.blobs.get(p.text_ref, p.text_key).decode("utf-8")
                     for p in doc.pages}
            yield from page_docs(doc, texts)


def reindex(archive) -> int:
    """Rebuild the whole index from the catalogue; returns the number of pages indexed."""
    count = 0

    def counted() -> Iterator[PageDoc]:
        nonlocal count
        for doc in iter_catalogue(archive):
            count += 1
            yield doc

    archive.index.rebuild(counted())
    return count
