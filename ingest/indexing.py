"""Where the catalogue and the blob store meet the search index.

The index is a cache: :func:`reindex` rebuilds it from the catalogue and the
encrypted page texts, a batch of documents at a time, so memory stays bounded, and goes
on where it stopped when it was interrupted.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from records.model import Document
from search import PageDoc

# Documents per commit of a reindex: a commit costs a few ms plus a segment, and what a
# kill loses (a batch is written again on resume)
REINDEX_BATCH = 200


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


def _live_documents():
    return select(Document.id).where(Document.destroyed_at.is_(None))


@dataclass
class ReindexProgress:
    """Where a reindex stands: documents done of ``total``, pages written, and whether it
    went on from an interrupted run."""

    done: int
    total: int
    pages: int
    resumed: bool


def _read_checkpoint(path: Path) -> dict | None:
    try:
        state = json.loads(path.read_text("utf-8"))
        return state if isinstance(state.get("after"), int) and isinstance(state.get("pages"), int) else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        return None  # unreadable: start over (the index is a cache)


def _write_checkpoint(path: Path, state: dict) -> None:
    """Durably: a temporary file, fsync, rename, fsync of the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reindex(archive, *, batch: int = REINDEX_BATCH,
            progress: Callable[[ReindexProgress], None] | None = None) -> int:
    """Rebuild the whole index from the catalogue; returns the number of pages indexed.

    Resumable: the documents go in by id, ``batch`` documents per commit, and after each
    commit the last id done is written to the checkpoint file
    (``settings.reindex_checkpoint``). Killed at any moment (Ctrl-C, SIGTERM, SIGKILL), a
    second run goes on after that id; a batch committed just before the kill, its
    checkpoint not yet written, is written again and replaces its own pages (pages are
    keyed by document and page), so every page is in the index once. Memory is one batch
    of pages plus Whoosh's posting pool; the end merges the segments into one.
    ``progress`` is called at the start and after every batch."""
    path = archive.settings.reindex_checkpoint
    state = _read_checkpoint(path)
    resumed = state is not None and not archive.index.needs_rebuild
    if not resumed:
        archive.index.clear()
        state = {"after": 0, "pages": 0}
        _write_checkpoint(path, state)
    with archive.Session() as s:
        total = s.scalar(select(func.count()).select_from(_live_documents().subquery()))
        done = s.scalar(select(func.count()).select_from(
            _live_documents().where(Document.id <= state["after"]).subquery()))
        todo = list(s.scalars(_live_documents().where(Document.id > state["after"])
                              .order_by(Document.id)))
    if progress:
        progress(ReindexProgress(done, total, state["pages"], resumed))
    for start in range(0, len(todo), batch):
        ids = todo[start:start + batch]
        pages: list[PageDoc] = []
        with archive.Session() as s:
            for doc in s.scalars(select(Document).where(Document.id.in_(ids))
                                 .where(Document.destroyed_at.is_(None))):
                texts = {p.number: archive.blobs.get(p.text_ref, p.text_key).decode("utf-8")
                         for p in doc.pages}
                pages.extend(page_docs(doc, texts))
        archive.index.add_pages(pages)
        done += len(ids)
        state = {"after": ids[-1], "pages": state["pages"] + len(pages)}
        _write_checkpoint(path, state)
        if progress:
            progress(ReindexProgress(done, total, state["pages"], resumed))
    archive.index.optimize()
    path.unlink(missing_ok=True)
    return state["pages"]
