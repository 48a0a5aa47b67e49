"""The full-text index of dossier pages (one Whoosh document per page).

Results are per dossier document: the best-scoring page represents it, and
``total`` counts distinct documents. A region scope is applied as a Whoosh
filter inside the search, so neither hits nor totals ever include pages of
other regions.

The index stores page text (needed for snippets) and so holds personal data,
including ID numbers: keep its directory wherever the rest of the protected
data lives.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any

from whoosh import index as windex
from whoosh import query as wq
from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema
from whoosh.searching import Searcher
from whoosh.writing import CLEAR, SegmentWriter

from search.analysis import ChineseAnalyzer
from search.query import QueryWord, build_query, highlight_fragments, parse_query

__all__ = ["PageDoc", "Hit", "SearchResult", "SearchIndex", "make_schema"]

INDEX_NAME = "pages"

# Where a query word may match, with its weight: a hit on the head of
# household's name or the household number says more than one in page text.
TEXT_FIELDS: dict[str, float] = {
    "text": 1.0,
    "title": 2.0,
    "head_name": 3.0,
    "household_text": 3.0,
}
EXACT_FIELDS: dict[str, float] = {"household": 5.0}

DEFAULT_LOCK_TIMEOUT = 30.0


def make_schema() -> Schema:
    ana = ChineseAnalyzer()
    return Schema(
        key=ID(unique=True, stored=True),  # "document_id:page"
        # sortable: grouping pages into documents reads these columns.
        document_id=NUMERIC(int, bits=64, stored=True, sortable=True),
        page=NUMERIC(int, stored=True, sortable=True),
        household=ID(stored=True),
        household_text=TEXT(analyzer=ana, phrase=True),
        head_name=TEXT(analyzer=ana, stored=True, phrase=True),
        region=ID(stored=True),
        doc_type=ID(stored=True),
        doc_type_name=STORED(),
        title=TEXT(analyzer=ana, stored=True, phrase=True),
        date=ID(stored=True),
        text=TEXT(analyzer=ana, stored=True, chars=True, phrase=True),
    )


@dataclass
class PageDoc:
    """One page of a dossier document, as given to the index."""

    document_id: int
    page: int  # 1-based
    household: str  # household number, e.g. "220381105012-0042"
    head_name: str
    region: str  # 12-digit village code of the household
    doc_type: str  # code, e.g. "application"
    doc_type_name: str  # display name, e.g. "申请书"
    title: str
    date: str | None  # ISO date
    text: str  # OCR text of the page

    @property
    def key(self) -> str:
        return f"{self.document_id}:{self.page}"


@dataclass
class Hit:
    """A matching document, represented by its best-scoring page."""

    document_id: int
    page: int
    household: str
    head_name: str
    doc_type: str
    doc_type_name: str
    title: str
    score: float
    # Snippet of the page text as segments; True marks matched text.
    fragments: list[tuple[str, bool]] = field(default_factory=list)

    def snippet(self, open: str = "[", close: str = "]") -> str:  # noqa: A002 - agreed API
        """The snippet as one string with matches wrapped in ``open``/``close``.
        No escaping is done: HTML callers should escape segments themselves."""
        return "".join(f"{open}{seg}{close}" if matched else seg for seg, matched in self.fragments)


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int  # distinct matching documents within the region scope


def _batches(pages: Iterable[PageDoc], size: int) -> Iterator[list[PageDoc]]:
    it = iter(pages)
    while batch := list(islice(it, size)):
        yield batch


def _check_scope(region_scope: str) -> None:
    # An empty prefix would match every region: refuse it rather than let a
    # missing permission widen the search to the whole index.
    if not region_scope or not region_scope.isascii() or not region_scope.isdigit() or len(region_scope) > 12:
        raise ValueError("region_scope must be 1-12 digits of a region code")


class _ThreadSearchers:
    """One Whoosh searcher per thread, refreshed before each use.

    Opening a searcher opens every segment's files (about 100 ms on a 30k-page
    index); refreshing an unchanged one only checks the index generation, and
    a changed one re-uses the readers of unchanged segments. Searchers are
    per thread because a refresh may close resources of the old searcher.
    """

    def __init__(self, ix: windex.Index) -> None:
        self._ix = ix
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: dict[int, Searcher] = {}  # by thread id, so close() reaches all

    def get(self) -> Searcher:
        current: Searcher | None = getattr(self._local, "searcher", None)
        searcher = self._ix.searcher() if current is None else current.refresh()
        if searcher is not current:
            self._local.searcher = searcher
            with self._lock:
                self._open[threading.get_ident()] = searcher
        return searcher

    def close(self) -> None:
        with self._lock:
            searchers, self._open = list(self._open.values()), {}
        for searcher in searchers:
            searcher.close()
        self._local = threading.local()


class SearchIndex:
    """A Whoosh index of pages in one directory.

    Writers wait up to ``lock_timeout`` seconds for another writer (another
    thread or process) to finish, then raise ``whoosh.index.LockError``.
    """

    def __init__(self, ix: windex.Index, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self._ix = ix
        self._analyzer = ChineseAnalyzer()
        self._lock_timeout = lock_timeout
        self._searchers = _ThreadSearchers(ix)

    # -- opening -------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> SearchIndex:
        """Create an empty index at ``path`` (replacing any index there)."""
        Path(path).mkdir(parents=True, exist_ok=True)
        return cls(windex.create_in(os.fspath(path), make_schema(), indexname=INDEX_NAME), lock_timeout=lock_timeout)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> SearchIndex:
        return cls(windex.open_dir(os.fspath(path), indexname=INDEX_NAME), lock_timeout=lock_timeout)

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> SearchIndex:
        if Path(path).is_dir() and windex.exists_in(os.fspath(path), indexname=INDEX_NAME):
            return cls.open(path, lock_timeout=lock_timeout)
        return cls.create(path, lock_timeout=lock_timeout)

    def close(self) -> None:
        self._searchers.close()
        self._ix.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def _writer(self) -> SegmentWriter:
        return self._ix.writer(timeout=self._lock_timeout)

    @staticmethod
    def _fields(page: PageDoc) -> dict[str, object]:
        fields: dict[str, object] = {
            "key": page.key,
            "document_id": page.document_id,
            "page": page.page,
            "household": page.household,
            "household_text": page.household,
            "head_name": page.head_name,
            "region": page.region,
            "doc_type": page.doc_type,
            "doc_type_name": page.doc_type_name,
            "title": page.title,
            "text": page.text,
        }
        if page.date:
            fields["date"] = page.date
        return fields

    def _write(self, pages: Iterable[PageDoc], *, clear: bool = False) -> int:
        writer = self._writer()
        count = 0
        try:
            # One searcher for the whole batch: update_document() would open
            # one per page, a measurable share of bulk indexing time.
            with writer.searcher() as existing:
                for page in pages:
                    if not clear:  # after CLEAR there is nothing to replace
                        for docnum in existing.document_numbers(key=page.key):
                            writer.delete_document(docnum)
                    writer.add_document(**self._fields(page))
                    count += 1
        except BaseException:
            writer.cancel()
            raise
        if clear:
            # CLEAR drops every existing segment in the same commit, so readers
            # never see an empty index between "clear" and the first batch.
            writer.commit(mergetype=CLEAR)
        elif count:
            writer.commit()
        else:
            writer.cancel()
        return count

    def add_pages(self, pages: Iterable[PageDoc]) -> int:
        """Add or replace pages (keyed by document and page number) in one
        commit. Returns the number of pages written."""
        return self._write(pages)

    def remove_document(self, document_id: int) -> None:
        """Delete every page of a document."""
        writer = self._writer()
        try:
            writer.delete_by_term("document_id", document_id)
        except BaseException:
            writer.cancel()
            raise
        writer.commit()

    def rebuild(self, pages: Iterable[PageDoc], *, batch_size: int = 500) -> int:
        """Replace the whole index with ``pages``, committing every
        ``batch_size`` pages so memory stays bounded. Returns pages written.

        Searches during a rebuild see the pages committed so far. The schema
        is kept; after a schema change use ``create`` and then ``rebuild``.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        total = 0
        first = True
        for batch in _batches(pages, batch_size):
            total += self._write(batch, clear=first)
            first = False
        if first:  # no pages at all: still clear
            self._write([], clear=True)
        else:
            # One segment instead of one per batch: every search opens each
            # segment's files, which dominated query time on a 30k-page index.
            self._optimize()
        return total

    def bulk_load(self, pages: Iterable[PageDoc], *, procs: int | None = None,
                  limitmb: int = 256, batchsize: int = 200) -> int:
        """Add many new pages fast, with ``procs`` writer processes (default:
        one per CPU), in one commit. Returns the number of pages written.

        For filling a freshly created (or empty) index, e.g. from a catalogue
        export: it does not look for existing pages with the same key, so
        loading a page that is already indexed gives a duplicate. With more
        than one process, Whoosh's multiprocessing writer analyses the pages
        in child processes and each child's pages become one segment
        (``multisegment``: merging them into one would be a single-core step
        as long as the indexing itself); searches open ``procs`` segments.
        Pages become visible together at the commit.
        """
        if procs is None:
            procs = os.cpu_count() or 1
        if procs < 1 or limitmb < 1 or batchsize < 1:
            raise ValueError("procs, limitmb and batchsize must be >= 1")
        if procs == 1:
            writer = self._ix.writer(timeout=self._lock_timeout, limitmb=limitmb)
        else:
            writer = self._ix.writer(procs=procs, timeout=self._lock_timeout, limitmb=limitmb,
                                     multisegment=True, batchsize=batchsize)
        count = 0
        try:
            for page in pages:
                writer.add_document(**self._fields(page))
                count += 1
        except BaseException:
            writer.cancel()
            raise
        if count:
            writer.commit()
        else:
            writer.cancel()
        return count

    def _optimize(self) -> None:
        writer = self._writer()
        writer.commit(optimize=True)

    # -- reading -------------------------------------------------------------

    def doc_count(self) -> int:
        """Number of indexed pages (Whoosh documents), not dossier documents."""
        return self._ix.doc_count()

    def document_ids(self) -> set[int]:
        """Ids of all documents with at least one indexed page."""
        with self._ix.reader() as reader:
            if reader.doc_count() == 0:
                return set()
            column = reader.column_reader("document_id")
            return {int(column[docnum]) for docnum in reader.all_doc_ids()}

    def search(
        self,
        query: str,
        *,
        region_scope: str | None = None,
        limit: int = 20,
        household: str | None = None,
    ) -> SearchResult:
        """Search text, title, head-of-household name and household number.

        ``region_scope`` is a region-code prefix (6 digits county, 9 township,
        12 village); ``None`` means no restriction, an empty string is an
        error. ``household`` restricts the search to one household number.
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if region_scope is not None:
            _check_scope(region_scope)
        if not query or not query.strip():
            return SearchResult(hits=[], total=0)
        words = parse_query(query, self._analyzer)
        q = build_query(words, TEXT_FIELDS, EXACT_FIELDS)
        if q is None:
            return SearchResult(hits=[], total=0)

        filters: list[wq.Query] = []
        if region_scope is not None:
            filters.append(wq.Prefix("region", region_scope))
        if household is not None:
            filters.append(wq.Term("household", household))
        flt = None if not filters else filters[0] if len(filters) == 1 else wq.And(filters)

        searcher = self._searchers.get()
        if searcher.doc_count() == 0:  # an empty index has no columns to read
            return SearchResult(hits=[], total=0)
        reader = searcher.reader()
        doc_ids = reader.column_reader("document_id")
        pages = reader.column_reader("page")
        best = _best_pages(searcher, q, flt, limit, doc_ids, pages)
        hits = [self._hit(searcher.stored_fields(docnum), score, words) for docnum, score in best]
        # Counting needs every match but no scores: an unscored pass over
        # the document ids is far cheaper than scoring all matches.
        matched = searcher.docs_for_query(q if flt is None else wq.And([q, flt]))
        total = len({doc_ids[docnum] for docnum in matched})
        return SearchResult(hits=hits, total=total)

    def _hit(self, stored: dict[str, Any], score: float, words: list[QueryWord]) -> Hit:
        return Hit(
            document_id=int(stored["document_id"]),
            page=int(stored["page"]),
            household=stored["household"],
            head_name=stored.get("head_name", ""),
            doc_type=stored.get("doc_type", ""),
            doc_type_name=stored.get("doc_type_name", ""),
            title=stored.get("title", ""),
            score=score,
            fragments=highlight_fragments(stored.get("text", ""), words, self._analyzer),
        )


def _best_pages(
    searcher: Searcher, q: wq.Query, flt: wq.Query | None, limit: int, doc_ids: Any, pages: Any
) -> list[tuple[int, float]]:
    """(docnum, score) of the best page of each of the top ``limit`` documents.

    The top documents are the first distinct documents among the top pages,
    so fetch a few pages per wanted document (Whoosh's top-N collector skips
    blocks that cannot score high enough) and fetch more only if the top pages
    were shared by too few documents. Whoosh's own collapse was not used: it
    needs every match scored and its removal from the hit list is quadratic.
    """
    want = limit * 3
    while True:
        results = searcher.search(q, filter=flt, limit=want)
        top = results.top_n  # (score, docnum), best first
        best: dict[int, tuple[float, int, int]] = {}
        for score, docnum in top:
            key = (score, -pages[docnum])  # ties: the earliest page
            doc = doc_ids[docnum]
            if doc not in best or key > best[doc][:2]:
                best[doc] = (*key, docnum)
        if len(best) >= limit or len(top) < want:
            break
        want *= 4
    # Ties between documents: newest (highest id) first, so the order does
    # not depend on how the index happens to be segmented.
    ranked = sorted(best.items(), key=lambda item: (item[1][0], item[0]), reverse=True)
    return [(docnum, score) for _, (score, _, docnum) in ranked[:limit]]
