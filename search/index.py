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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import TracebackType

from whoosh import index as windex
from whoosh import query as wq
from whoosh import sorting
from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema
from whoosh.searching import Hit as WhooshHit
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

# Ties are broken explicitly so results do not depend on segment layout (an
# incrementally built index and a rebuilt one must answer alike): documents by
# score, then newest (highest id) first; pages within a document by score,
# then the earliest page.
_RESULT_ORDER = sorting.MultiFacet([sorting.ScoreFacet(), sorting.FieldFacet("document_id", reverse=True)])
_BEST_PAGE_ORDER = sorting.MultiFacet([sorting.ScoreFacet(), sorting.FieldFacet("page")])


def make_schema() -> Schema:
    ana = ChineseAnalyzer()
    return Schema(
        key=ID(unique=True, stored=True),  # "document_id:page"
        # sortable: collapsing to one hit per document reads this column.
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


class SearchIndex:
    """A Whoosh index of pages in one directory.

    Writers wait up to ``lock_timeout`` seconds for another writer (another
    thread or process) to finish, then raise ``whoosh.index.LockError``.
    """

    def __init__(self, ix: windex.Index, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self._ix = ix
        self._analyzer = ChineseAnalyzer()
        self._lock_timeout = lock_timeout

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
            for page in pages:
                writer.update_document(**self._fields(page))
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
        return total

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

        with self._ix.searcher() as searcher:
            # limit=None scores every match so that collapsing keeps each
            # document's truly best page and the count of documents is exact.
            results = searcher.search(
                q,
                filter=flt,
                limit=None,
                sortedby=_RESULT_ORDER,
                collapse="document_id",
                collapse_limit=1,
                collapse_order=_BEST_PAGE_ORDER,
            )
            # With limit=None every collapsed hit is kept, so this counts
            # distinct documents (len(results) would count matching pages).
            total = results.scored_length()
            hits = [self._hit(h, words) for h in results[:limit]]
        return SearchResult(hits=hits, total=total)

    def _hit(self, h: WhooshHit, words: list[QueryWord]) -> Hit:
        return Hit(
            document_id=int(h["document_id"]),
            page=int(h["page"]),
            household=h["household"],
            head_name=h.get("head_name", ""),
            doc_type=h.get("doc_type", ""),
            doc_type_name=h.get("doc_type_name", ""),
            title=h.get("title", ""),
            # Under sortedby, Whoosh reports the sort key as the "score"; its
            # first element is ScoreFacet's key, the negated relevance score.
            score=-float(h.score[0]),
            fragments=highlight_fragments(h.get("text", ""), words, self._analyzer),
        )
