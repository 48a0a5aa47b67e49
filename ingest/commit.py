"""One write of the archive: blobs first, the catalogue in one transaction, then the index.

Every writer (ingest, re-OCR, and each later one) goes through a :class:`Commit`,
so that stored files, catalogue rows and index entries succeed or fail together::

    with Commit(archive, "ingest") as unit:                # 0. the journal is written
        pdf = unit.put_file(path)                          # 1. blobs: nothing refers to them yet
        document_id = unit.catalogue(write, undo=delete)   # 2. one transaction
        unit.index(document_id, texts)                     # 3. the index follows the catalogue
        archive.record(event)                              #    on record before it counts
        # unit.retire(old_refs), called inside ``write``: shredded once all of it stands

If anything fails inside the ``with`` block, the unit undoes what it did, newest
first: the catalogue change is reversed by ``undo`` (in its own transaction), the
blobs it stored are shredded, and the index entries of the document are made to
agree with the catalogue again. Blobs it was asked to retire are shredded only
after success. So there is never a row without its blobs, a blob without its
row, or an index entry without its row.

On a full disk the journal directory's reserve is given back first, so that the
undo has room to write. If the process dies instead (SIGKILL, a power cut), its crash journal
(:mod:`ingest.journal`) names every blob before it is written, the blobs the
catalogue change retires before it commits, and the document before its index
entries are written; :mod:`ingest.recovery` reads it when the archive is next
opened and finishes or rolls back the unit by asking the catalogue which blobs it
refers to.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.indexing import sync_document
from ingest.exceptions import is_no_space
from ingest.journal import Journal, keep_reserve, release_reserve
from ingest.recovery import blobs_in_use
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
        self.label = label  # ingest / reocr / ...: what the journal calls it
        self._done = _Done()
        self._journal: Journal | None = None

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("a Commit is used inside 'with'")
        return self._journal

    # -- 1. blobs ------------------------------------------------------------------
    def put(self, data: bytes) -> BlobRef:
        ref = self.archive.blobs.new_ref()
        self.journal.blob(ref)  # written down before the file exists
        stored = self.archive.blobs.put(data, ref=ref)
        self._done.stored.append(stored)
        return stored

    def put_file(self, path: Path) -> BlobRef:
        return self.put(path.read_bytes())

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

    def retire(self, refs: Iterable[str]) -> None:
        """Blobs the catalogue change stops referring to: shredded once the unit has succeeded.

        Call it inside ``write``, before the change commits: the journal must name them
        first, or a crash just after the commit would leave them behind unnamed.
        """
        refs = list(refs)
        self.journal.retire(refs)
        self._done.retired.extend(refs)

    # -- 3. the index -------------------------------------------------------------------
    def index(self, document_id: int, texts: Mapping[int, str],
              pages: Iterable[int] | None = None) -> None:
        """Index ``pages`` (default: all) of the document from ``texts``, by page number."""
        self._done.document_id = document_id
        self.journal.document(document_id)
        sync_document(self.archive, document_id, texts, pages)
        self.journal.stage("indexed")

    def unindex(self, document_ids: Iterable[int]) -> None:
        """Take documents out of the index (the catalogue no longer shows them: destroyed);
        on failure their entries are made to agree with the catalogue again."""
        for document_id in document_ids:
            self.journal.document(document_id)  # recovery makes its entries agree again
            self._done.unindexed.append(document_id)
            self.archive.index.remove_document(document_id)

    # -- the end --------------------------------------------------------------------------
    def __enter__(self) -> Commit:
        journal_dir = self.archive.settings.journal_dir
        keep_reserve(journal_dir)  # taken back after a unit gave it away, if there is room
        self._journal = Journal.begin(journal_dir, self.label)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        journal, done = self.journal, self._done
        journal_dir = self.archive.settings.journal_dir
        if exc_type is None:
            try:
                for ref in done.retired:
                    self.archive.blobs.shred(ref)
            except BaseException:
                journal.leave()  # recovery shreds the rest
                raise
            journal.end()
            return
        if is_no_space(exc, self.archive.settings.home):
            release_reserve(journal_dir)  # room for the undo to write
        if self._undo(exc):
            journal.end()
        else:  # what could not be undone now, recovery finishes from the journal
            journal.leave()

    def _undo(self, exc: BaseException) -> bool:
        """Undo newest first. True if all of it was undone; otherwise the journal stays."""
        done = self._done
        ok = True
        if done.committed and done.undo is not None:
            ok = _attempt(exc, "the catalogue change", self._undo_catalogue)
        if ok:  # if the catalogue may still refer to them, recovery decides about the blobs
            ok = _attempt(exc, "the new blobs", self._shred_unused)
        documents = ([done.document_id] if done.document_id is not None else []) + done.unindexed
        for document_id in documents:
            # the index holds again exactly what the catalogue holds for the document
            ok = _attempt(exc, f"the index entries of document {document_id}",
                          lambda d=document_id: sync_document(self.archive, d)) and ok
        return ok

    def _undo_catalogue(self) -> None:
        with self.archive.Session() as s, s.begin():
            self._done.undo(s)

    def _shred_unused(self) -> None:
        """Shred the unit's new blobs, asking the catalogue first, as recovery does: a
        commit that reported failure but went through (a server database's lost answer)
        must not lose its blobs."""
        refs = [stored.ref for stored in self._done.stored]
        with self.archive.Session() as s:
            in_use, _ = blobs_in_use(s, refs)
        for ref in reversed(refs):
            if ref not in in_use:
                self.archive.blobs.shred(ref)
        if in_use:
            raise _StillReferred(f"the catalogue refers to {len(in_use)} of them")


class _StillReferred(Exception):
    """The catalogue change went through after all: recovery finishes the unit."""


def _attempt(exc: BaseException, what: str, step: Callable[[], None]) -> bool:
    """One undo step; a failure becomes a note on ``exc`` (the first failure is the one
    to report)."""
    try:
        step()
    except Exception as undo_error:
        exc.add_note(f"{what} could not be undone ({type(undo_error).__name__}); "
                     "'hudang recover' finishes it")
        return False
    return True
