"""One write of the archive: blobs first, the catalogue in one transaction, then the index.

Every writer (ingest, re-OCR, and each later one) goes through a :class:`Commit`,
so that stored files, catalogue rows and index entries succeed or fail together::

    with Commit(archive, "ingest") as unit:
        pdf = unit.put_file(path)                          # 1. blobs: nothing refers to them yet
        document_id = unit.catalogue(write, undo=delete)   # 2. one transaction
        unit.index(document_id, texts)                     # 3. the index follows the catalogue
        unit.retire(old_refs)                              # shredded once all of it stands

If anything fails inside the ``with`` block, the unit undoes what it did, newest
first: the catalogue change is reversed by ``undo`` (in its own transaction), the
blobs it stored are shredded, and the index entries of the document are made to
agree with the catalogue again. Blobs it was asked to retire are shredded only
after success. So there is never a row without its blobs, a blob without its
row, or an index entry without its row.

The unit is where the crash journal goes: one write-ahead record per unit,
naming its new blobs, its stage and the blobs it retires, is all a recovery
needs to finish or roll back what a killed process left.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.indexing import sync_document
from storage import BlobRef

T = TypeVar("T")


@dataclass
class _Done:
    """What the unit has done so far, to undo in reverse on failure."""

    stored: list[BlobRef] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    undo: Callable[[Session], None] | None = None
    document_id: int | None = None  # whose index entries follow the catalogue
    unindexed: list[int] = field(default_factory=list)  # documents taken out of the index
    committed: bool = False


class Commit:
    """One unit of writing; see the module docstring. Use as a context manager."""

    def __init__(self, archive: Archive, label: str):
        self.archive = archive
        self.label = label  # ingest / reocr / ...: what the journal will call it
        self._done = _Done()

    # -- 1. blobs ------------------------------------------------------------------
    def put(self, data: bytes) -> BlobRef:
        ref = self.archive.blobs.put(data)
        self._done.stored.append(ref)
        return ref

    def put_file(self, path: Path) -> BlobRef:
        ref = self.archive.blobs.put_file(path)
        self._done.stored.append(ref)
        return ref

    # -- 2. the catalogue -------------------------------------------------------------
    def catalogue(self, write: Callable[[Session], T], *,
                  undo: Callable[[Session, T], None]) -> T:
        """Run ``write`` in one transaction; ``undo(session, result)`` reverses it on failure.

        The transaction takes SQLite's write lock up front, so that a check and
        the write it guards (no duplicate, a free document number) see the same
        catalogue.
        """
        with self.archive.Session() as s, s.begin():
            s.connection(execution_options={"hudang_immediate": True})
            result = write(s)
        self._done.undo = lambda session: undo(session, result)
        self._done.committed = True
        return result

    # -- 3. the index -------------------------------------------------------------------
    def index(self, document_id: int, texts: Mapping[int, str],
              pages: Iterable[int] | None = None) -> None:
        """Index ``pages`` (default: all) of the document from ``texts``, by page number."""
        self._done.document_id = document_id
        sync_document(self.archive, document_id, texts, pages)

    def unindex(self, document_ids: Iterable[int]) -> None:
        """Take documents out of the index (the catalogue no longer shows them: destroyed);
        on failure their entries are made to agree with the catalogue again."""
        for document_id in document_ids:
            self._done.unindexed.append(document_id)
            self.archive.index.remove_document(document_id)

    def retire(self, refs: Iterable[str]) -> None:
        """Blobs the catalogue no longer refers to: shredded once the unit has succeeded."""
        self._done.retired.extend(refs)

    # -- the end --------------------------------------------------------------------------
    def __enter__(self) -> Commit:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        done = self._done
        if exc_type is None:
            for ref in done.retired:
                self.archive.blobs.shred(ref)
            return
        if done.committed and done.undo is not None:
            with self.archive.Session() as s, s.begin():
                done.undo(s)
        for ref in reversed(done.stored):
            self.archive.blobs.shred(ref.ref)
        for document_id in ([done.document_id] if done.document_id is not None else []) + \
                done.unindexed:
            try:
                # the index holds again exactly what the catalogue holds for the document
                sync_document(self.archive, document_id)
            except Exception as undo_error:  # the first failure is the one to report
                exc.add_note(f"the index entries of document {document_id} could not be "
                             f"restored ({type(undo_error).__name__}); run 'hudang reindex'")
