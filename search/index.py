"""The full-text index of dossier pages (one Whoosh document per page).

Results are per dossier document: the best-scoring page represents it, and
``total`` counts distinct documents (estimated for broad queries). A region
scope is a doc-set restriction inside the query itself (one ``scope`` term per
page, its doc set kept per index generation), so neither hits, totals,
estimates nor look-alike matches ever include pages of other regions.
How a search runs is described in docs/search.md.

The index stores page text (needed for snippets) and so holds personal data,
including ID numbers: keep its directory wherever the rest of the protected
data lives.
"""
from __future__ import annotations

import os
import threading
import weakref
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any

from whoosh import index as windex
from whoosh import query as wq
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, Schema
from whoosh.matching import NullMatcher, WrappingMatcher
from whoosh.searching import Searcher
from whoosh.writing import CLEAR, SegmentWriter

from search.analysis import ChineseAnalyzer, HanText
from search.query import (
    QueryWord,
    approx_kind,
    approx_words,
    approximate_query,
    build_query,
    highlight_fragments,
    matches_stored,
    needs_check,
    parse_query,
    word_query,
)

__all__ = ["PageDoc", "Hit", "SearchResult", "SearchIndex", "IndexOutOfDate", "Total", "make_schema"]

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
# Posting pool per bulk_load writer process (see bulk_load).
BULK_LIMIT_MB = 1024


def make_schema() -> Schema:
    return Schema(
        key=ID(unique=True, stored=True),  # "document_id:page"
        # sortable: grouping pages into documents reads these columns.
        # One term per value (shift_step=0, no range tiers): only looked up
        # exactly (delete by document), never by range, and every extra
        # trie term per page is an extra posting to write.
        document_id=NUMERIC(int, bits=64, shift_step=0, stored=True, sortable=True),
        page=NUMERIC(int, bits=32, shift_step=0, stored=True, sortable=True),
        household=ID(stored=True),
        household_text=HanText(),
        head_name=HanText(stored=True),
        region=ID(stored=True),
        # The region code's ancestors (province, city, county, township) and
        # itself, space-separated: a permission scope is then one term instead
        # of a Prefix query that expands to every village of the township.
        scope=KEYWORD(),
        doc_type=ID(stored=True),
        doc_type_name=STORED(),
        title=HanText(stored=True),
        date=ID(stored=True),
        text=HanText(stored=True),
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
    region: str = ""  # the household's village code
    # Snippet of the page text as segments; True marks matched text.
    fragments: list[tuple[str, bool]] = field(default_factory=list)
    # True when a word matched with one character different (an OCR
    # look-alike), not exactly; such hits come after every exact hit.
    approximate: bool = False

    def snippet(self, open: str = "[", close: str = "]") -> str:  # noqa: A002 - agreed API
        """The snippet as one string with matches wrapped in ``open``/``close``.
        No escaping is done: HTML callers should escape segments themselves."""
        return "".join(f"{open}{seg}{close}" if matched else seg for seg, matched in self.fragments)


class Total(int):
    """A number of documents; ``estimated`` when it was extrapolated from a
    sample (broad queries) rather than counted. Shown as "约 N" then."""

    estimated: bool

    def __new__(cls, value: int, estimated: bool = False) -> Total:
        obj = super().__new__(cls, value)
        obj.estimated = estimated
        return obj

    def __repr__(self) -> str:
        return f"Total({int(self)}{', estimated=True' if self.estimated else ''})"

    def __str__(self) -> str:  # as a number wherever it is shown
        return int.__repr__(self)


@dataclass
class SearchResult:
    hits: list[Hit]
    total: Total  # distinct matching documents within the region scope

    @property
    def estimated(self) -> bool:
        return getattr(self.total, "estimated", False)


class SearchError(Exception):
    """Base of the search errors a person can act on; the message is one sentence."""


class IndexOutOfDate(SearchError):
    """The index on disk was written with another schema (an older hudang):
    it must be rebuilt (``hudang reindex``) before it can be searched or
    written. A ValueError, so the CLI shows it as one line."""


def _batches(pages: Iterable[PageDoc], size: int) -> Iterator[list[PageDoc]]:
    it = iter(pages)
    while batch := list(islice(it, size)):
        yield batch


# Lengths of region-code prefixes indexed in ``scope`` (GB/T 2260 province,
# city, county; township; village). A scope of another length falls back to a
# Prefix query on ``region``.
SCOPE_LENGTHS = (2, 4, 6, 9, 12)


def _scope_terms(region: str) -> str:
    codes = {region[:n] for n in SCOPE_LENGTHS if n <= len(region)}
    codes.add(region)
    return " ".join(sorted(c for c in codes if c))


def _toc_exists(path: str | os.PathLike[str]) -> bool:
    try:
        return windex.exists_in(os.fspath(path), indexname=INDEX_NAME)
    except windex.EmptyIndexError:
        return False
    except Exception:  # noqa: BLE001 - there is an index, but it cannot be read (old schema)
        return True


def _open_dir(path: str | os.PathLike[str]) -> windex.Index | None:
    """The index at ``path``; None if its schema cannot even be unpickled
    (classes of an older hudang that no longer exist)."""
    try:
        ix = windex.open_dir(os.fspath(path), indexname=INDEX_NAME)
        ix.schema  # noqa: B018 - reads and unpickles the schema now
    except windex.EmptyIndexError:
        raise
    except Exception:  # noqa: BLE001 - see above
        return None
    return ix


def _signature(schema: Schema) -> list[tuple[Any, ...]]:
    return [(name, type(f).__module__, type(f).__qualname__, type(f.format).__qualname__ if f.format else None,
             f.stored, f.unique, f.scorable, getattr(f, "shift_step", None), f.column_type is not None)
            for name, f in schema.items()]


def _same_schema(a: Schema, b: Schema) -> bool:
    return _signature(a) == _signature(b)


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

    def __init__(self, ix: windex.Index | None, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 path: str | os.PathLike[str] | None = None) -> None:
        if ix is None and path is None:
            raise ValueError("an index or its path is needed")
        self._ix = ix
        self._path = os.fspath(path) if path is not None else ix.storage.folder  # type: ignore[union-attr]
        self._analyzer = ChineseAnalyzer()
        self._lock_timeout = lock_timeout
        self._searchers = _ThreadSearchers(ix) if ix is not None else None
        self._checked_generation: int | None = None
        self._current = False
        self._caches: weakref.WeakKeyDictionary[Searcher, dict[Any, Any]] = weakref.WeakKeyDictionary()
        self._cache_lock = threading.Lock()
        self._state_lock = threading.RLock()  # _ix, _searchers and the schema check

    # -- opening -------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> SearchIndex:
        """Create an empty index at ``path`` (replacing any index there)."""
        Path(path).mkdir(parents=True, exist_ok=True)
        ix = windex.create_in(os.fspath(path), make_schema(), indexname=INDEX_NAME)
        return cls(ix, lock_timeout=lock_timeout, path=path)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> SearchIndex:
        """Open the index at ``path``. An index written with another schema
        (an older hudang) opens, but searching or adding pages raises
        :class:`IndexOutOfDate` until ``rebuild`` has replaced it."""
        return cls(_open_dir(path), lock_timeout=lock_timeout, path=path)

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> SearchIndex:
        if Path(path).is_dir() and _toc_exists(path):
            return cls.open(path, lock_timeout=lock_timeout)
        return cls.create(path, lock_timeout=lock_timeout)

    @property
    def needs_rebuild(self) -> bool:
        """True if the index on disk was written with another schema."""
        return not self._is_current()

    def _is_current(self) -> bool:
        with self._state_lock:
            return self._check_current()

    def _check_current(self) -> bool:
        if self._ix is None:
            try:
                ix = _open_dir(self._path)
            except windex.EmptyIndexError:
                ix = None
            if ix is None:
                return False
            self._set_index(ix)
        ix = self._ix
        assert ix is not None
        generation = ix.latest_generation()
        if generation != self._checked_generation:
            try:
                current = _same_schema(ix.schema, make_schema())
            except Exception:  # noqa: BLE001 - an unreadable schema is an old one
                current = False
            self._current, self._checked_generation = current, generation
        return self._current

    def _require_current(self) -> windex.Index:
        if not self._is_current():
            raise IndexOutOfDate(
                f"the search index in {self._path} was built by another version of hudang; "
                "run 'hudang reindex' to rebuild it")
        assert self._ix is not None
        return self._ix

    def _set_index(self, ix: windex.Index) -> None:
        with self._state_lock:
            self._replace_index(ix)

    def _replace_index(self, ix: windex.Index) -> None:
        if self._searchers is not None:
            self._searchers.close()
        if self._ix is not None:
            self._ix.close()
        self._ix = ix
        self._searchers = _ThreadSearchers(ix)
        self._checked_generation = None

    def close(self) -> None:
        if self._searchers is not None:
            self._searchers.close()
        if self._ix is not None:
            self._ix.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def _writer(self) -> SegmentWriter:
        return self._require_current().writer(timeout=self._lock_timeout)

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
            "scope": _scope_terms(page.region),
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
        """Delete every page of a document. On an index that needs a rebuild
        this does nothing: it cannot be searched, and the rebuild (from the
        catalogue) will not contain the document."""
        if not self._is_current():
            return
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

        Searches during a rebuild see the pages committed so far. An index
        written with another schema (an older hudang) is first replaced by an
        empty one with the current schema: that is what ``hudang reindex``
        does after an upgrade.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not self._is_current():
            self._set_index(windex.create_in(self._path, make_schema(), indexname=INDEX_NAME))
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
                  limitmb: int = BULK_LIMIT_MB, batchsize: int = 200) -> int:
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

        ``limitmb`` is each writer's in-memory posting pool (Whoosh's
        estimate of it); beyond it the pool is sorted into runs on disk that
        are merged at the end, one pickled posting at a time. Measured on
        10,000 pages, one writer: 256 MB -> 45 s CPU, 413 MB peak RSS;
        1024 MB -> 30 s CPU, 756 MB peak RSS (no runs at all).
        """
        if procs is None:
            procs = os.cpu_count() or 1
        if procs < 1 or limitmb < 1 or batchsize < 1:
            raise ValueError("procs, limitmb and batchsize must be >= 1")
        ix = self._require_current()
        if procs == 1:
            writer = ix.writer(timeout=self._lock_timeout, limitmb=limitmb)
        else:
            writer = ix.writer(procs=procs, timeout=self._lock_timeout, limitmb=limitmb,
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

    def purge(self) -> None:
        """Rewrite the index without the pages of removed documents: Whoosh only marks a
        deleted page, and its words stay in the segment files until a merge. Run after
        a destruction, so that nothing of a destroyed document is left on disk."""
        if self._is_current():
            self._optimize()

    # -- reading -------------------------------------------------------------

    def doc_count(self) -> int:
        """Number of indexed pages (Whoosh documents), not dossier documents."""
        return self._require_current().doc_count()

    def document_ids(self) -> set[int]:
        """Ids of all documents with at least one indexed page."""
        with self._require_current().reader() as reader:
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
        offset: int = 0,
        household: str | None = None,
    ) -> SearchResult:
        """Search text, title, head-of-household name and household number.

        ``region_scope`` is a region-code prefix (6 digits county, 9 township,
        12 village); ``None`` means no restriction, an empty string is an
        error. ``household`` restricts the search to one household number.

        Hits that match every word exactly come first; when they are fewer
        than ``limit``, pages where a word of four or more characters (two of
        them Han) matches with one Han character different (an OCR
        look-alike) follow, marked ``approximate``. ``total`` counts both;
        for a broad query it may be an estimate (``total.estimated``).
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if region_scope is not None:
            _check_scope(region_scope)
        if not query or not query.strip():
            return SearchResult(hits=[], total=Total(0))
        words = parse_query(query, self._analyzer)
        if not words:
            return SearchResult(hits=[], total=Total(0))
        self._require_current()

        keys: list[tuple[str, str]] = []
        if region_scope is not None:
            keys.append(("scope", region_scope))
        if household is not None:
            keys.append(("household", household))

        assert self._searchers is not None
        searcher = self._searchers.get()
        if searcher.doc_count() == 0:  # an empty index has no columns to read
            return SearchResult(hits=[], total=Total(0))
        want = limit + offset
        run = _Run(searcher, words, want, _Restriction.of(keys, self._cache(searcher)))
        found = run.matches()
        if len(found.pages) < want:
            found = run.add_approximate(found)

        hits = []
        for docnum, score, approximate in found.pages[offset:]:
            stored = searcher.stored_fields(docnum)
            # Belt and braces: the restriction is inside the query already.
            if region_scope is not None and not stored.get("region", "").startswith(region_scope):
                continue
            if household is not None and stored.get("household") != household:
                continue
            hits.append(self._hit(stored, score, words, approximate))
        return SearchResult(hits=hits, total=found.total)

    def _cache(self, searcher: Searcher) -> dict[Any, Any]:
        """Per-searcher memo (restriction doc sets, universes): a searcher is
        replaced whenever the index changes, and its memo with it."""
        with self._cache_lock:
            cache = self._caches.get(searcher)
            if cache is None:
                cache = self._caches[searcher] = {}
            return cache

    def _hit(self, stored: dict[str, Any], score: float, words: list[QueryWord], approximate: bool) -> Hit:
        return Hit(
            document_id=int(stored["document_id"]),
            page=int(stored["page"]),
            household=stored["household"],
            head_name=stored.get("head_name", ""),
            doc_type=stored.get("doc_type", ""),
            doc_type_name=stored.get("doc_type_name", ""),
            title=stored.get("title", ""),
            score=score,
            region=stored.get("region", ""),
            fragments=highlight_fragments(stored.get("text", ""), words, self._analyzer, approximate=approximate),
            approximate=approximate,
        )


# -- how a search runs --------------------------------------------------------

# A query whose candidate pages (an upper bound from the terms' document
# frequencies) are at most this many is answered the plain way: Whoosh checks
# phrase positions on every candidate and the total is exact. Above it the
# query is "broad": candidates are ranked without position checks and only the
# top ones are checked, against their stored text.
EXACT_MAX_PAGES = 500
# A broad query's total is an estimate only from this many documents on;
# fewer are counted exactly.
ESTIMATE_MIN_DOCS = 500
# A broad query ranks (by score) only this many of its newest candidate pages.
BROAD_CANDIDATES = 100
# Pages sampled (from the pages the user may see) to estimate a total, in
# this many evenly spaced runs of neighbouring pages.
ESTIMATE_SAMPLE = 200
ESTIMATE_CLUSTERS = 20
# Candidates examined for approximate (one character different) matches.
APPROX_CANDIDATES = 60
# An alternative of the approximate query (the word around one character)
# with more candidate pages than this is left out (see approximate_query).
APPROX_ALTERNATIVE_MAX = 1000
# Restriction doc sets kept per searcher.
RESTRICTION_CACHE = 32


@dataclass
class _Found:
    pages: list[tuple[int, float, bool]]  # (docnum, score, approximate), best first
    total: Total
    docs: set[int]  # document ids in pages


class _Restriction:
    """Region scope and/or household as a doc-set filter inside the matcher.

    The doc set of each segment is computed once per searcher (i.e. per index
    generation) and kept in the searcher's memo, so a scoped search does not
    walk the township's postings again; the filter jumps the query's matcher
    from one allowed page to the next (see ``_AllowedMatcher``)."""

    def __init__(self, key: tuple[tuple[str, str], ...], query: wq.Query, cache: dict[Any, Any]) -> None:
        self.key = key
        self.query = query
        self._cache = cache

    @classmethod
    def of(cls, keys: list[tuple[str, str]], cache: dict[Any, Any]) -> _Restriction | None:
        if not keys:
            return None
        parts: list[wq.Query] = []
        for field_name, value in keys:
            if field_name == "scope":
                parts.append(wq.Term("scope", value) if len(value) in SCOPE_LENGTHS
                             else wq.Prefix("region", value))
            else:
                parts.append(wq.Term(field_name, value))
        return cls(tuple(keys), parts[0] if len(parts) == 1 else wq.And(parts), cache)

    def ids(self, leaf: Searcher) -> Sequence[int]:
        """Sorted allowed docnums of one segment (leaf searcher), as a
        compact array (4 bytes a page)."""
        key = ("restriction", self.key, id(leaf.reader()))
        ids = self._cache.get(key)
        if ids is None:
            ids = array("I", self.query.matcher(leaf).all_ids())
            memo = [k for k in self._cache if k[0] == "restriction"]
            if len(memo) >= RESTRICTION_CACHE:
                for k in memo[: len(memo) // 2]:
                    del self._cache[k]
            self._cache[key] = ids
        return ids

    def wrap(self, q: wq.Query) -> wq.Query:
        return _Within(q, self)


class _Within(wq.WrappingQuery):
    """``child`` restricted to the pages of a :class:`_Restriction`."""

    def __init__(self, child: wq.Query, restriction: _Restriction) -> None:
        super().__init__(child)
        self.restriction = restriction

    def _rewrap(self, child: wq.Query) -> _Within:
        return _Within(child, self.restriction)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Within) and self.child == other.child
                and self.restriction.key == other.restriction.key)

    def __hash__(self) -> int:
        return hash(self.child) ^ hash(self.restriction.key)

    def estimate_size(self, ixreader: Any) -> int:
        return min(self.child.estimate_size(ixreader), self.restriction.query.estimate_size(ixreader))

    def matcher(self, searcher: Searcher, context: Any = None) -> Any:
        m = self.child.matcher(searcher, context)
        if not m.is_active():
            return m
        ids = self.restriction.ids(searcher)
        if not ids:
            return NullMatcher()
        return _AllowedMatcher(m, ids)


class _AllowedMatcher(WrappingMatcher):
    """The child's postings whose ids are in a sorted list: leapfrogs
    between the list (bisect) and the child (``skip_to``), and passes
    block-quality calls to the child, so Whoosh's top-N shortcut still works."""

    def __init__(self, child: Any, ids: Sequence[int], start: int = 0) -> None:
        super().__init__(child)
        self._ids = ids
        self._i = start
        self._done = False
        self._sync()

    def _sync(self) -> bool:
        child, ids = self.child, self._ids
        moved = False
        while child.is_active():
            cid = child.id()
            i = bisect_left(ids, cid, self._i)
            if i == len(ids):
                self._done = True
                return moved
            self._i = i
            if ids[i] == cid:
                return moved
            child.skip_to(ids[i])
            moved = True
        return moved

    def is_active(self) -> bool:
        return not self._done and self.child.is_active()

    def copy(self) -> _AllowedMatcher:
        return _AllowedMatcher(self.child.copy(), self._ids, self._i)

    def _replacement(self, newchild: Any) -> _AllowedMatcher:
        return _AllowedMatcher(newchild, self._ids, self._i)

    def replace(self, minquality: float = 0) -> Any:
        if not self.is_active():
            return NullMatcher()
        newchild = self.child.replace(minquality)
        if newchild is self.child:
            return self
        if not newchild.is_active():
            return NullMatcher()
        return _AllowedMatcher(newchild, self._ids, self._i)

    def reset(self) -> None:
        self.child.reset()
        self._i = 0
        self._done = False
        self._sync()

    def next(self) -> bool:
        r = self.child.next()
        return self._sync() or bool(r)

    def skip_to(self, id: int) -> bool:  # noqa: A002 - Whoosh's signature
        r = self.child.skip_to(id)
        return self._sync() or bool(r)

    def skip_to_quality(self, minquality: float) -> int:
        skipped = self.child.skip_to_quality(minquality)
        self._sync()
        return skipped

    def all_ids(self) -> Iterator[int]:
        while self.is_active():
            yield self.id()
            self.next()

    def all_items(self) -> Iterator[tuple[int, Any]]:
        while self.is_active():
            yield self.id(), self.value()
            self.next()


class _Run:
    """One search: ranking, checking, counting."""

    def __init__(self, searcher: Searcher, words: list[QueryWord], limit: int,
                 restriction: _Restriction | None) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        self.words = words
        self.limit = limit
        self.restriction = restriction
        self.doc_ids = self.reader.column_reader("document_id")
        self.pages = self.reader.column_reader("page")

    def within(self, q: wq.Query) -> wq.Query:
        return q if self.restriction is None else self.restriction.wrap(q)

    # -- exact matches ---------------------------------------------------------

    def check(self, docnum: int) -> bool:
        """Whether the page's stored fields hold the query (memoized)."""
        ok = self._checked.get(docnum)
        if ok is None:
            stored = self.searcher.stored_fields(docnum)
            fields = {"text": stored.get("text", ""), "title": stored.get("title", ""),
                      "head_name": stored.get("head_name", ""),
                      "household_text": stored.get("household", "")}
            ok = self._checked[docnum] = matches_stored(
                self.words, fields, TEXT_FIELDS, {"household": stored.get("household", "")})
        return ok

    def matches(self) -> _Found:
        self._checked: dict[int, bool] = {}
        self.needs_check = needs_check(self.words)
        exact = self.within(build_query(self.words, TEXT_FIELDS, EXACT_FIELDS))
        limit = EXACT_MAX_PAGES // 2 if self.needs_check else EXACT_MAX_PAGES
        if exact.estimate_size(self.reader) <= limit:
            return self._plain(exact)
        found = self._broad(exact)
        return found if found is not None else self._plain(exact)

    def _plain(self, exact: wq.Query) -> _Found:
        """Whoosh checks the phrases on every candidate (and the stored text
        the open ends, if any); the total is counted."""
        accept = self.check if self.needs_check else None
        best, _ = _best_pages(self.searcher, exact, self.limit, self.doc_ids, self.pages, accept=accept)
        # Counting needs every match but no scores: an unscored pass over
        # the document ids is far cheaper than scoring all matches.
        matched = self.searcher.docs_for_query(exact)
        docs = {self.doc_ids[d] for d in matched if accept is None or accept(d)}
        return self._found(best, Total(len(docs)))

    def _broad(self, exact: wq.Query) -> _Found | None:
        """A query with very many candidate pages: rank the newest of them.

        Scoring every match is what made broad queries slow (and Whoosh's
        block-quality shortcut skips almost nothing when a phrase is on most
        pages), so only the newest ``BROAD_CANDIDATES`` pages that match the
        loose query (phrases as ANDs of their tokens, no position checks) are
        scored; they are checked against their stored text best first until
        ``limit`` documents hold the query. The total is then estimated.
        Returns None when the candidates rarely hold the query (the tokens
        are common but the phrase is not): the plain way is cheaper then."""
        loose = self.within(build_query(self.words, TEXT_FIELDS, EXACT_FIELDS, loose=True))
        want = max(BROAD_CANDIDATES, 3 * self.limit)
        while True:
            candidates, complete = self._newest(loose, want)
            best: dict[int, tuple[float, int, int]] = {}
            cutoff: float | None = None
            for score, docnum in sorted(candidates, key=lambda c: (-c[0], -c[1])):
                if cutoff is not None and score < cutoff:
                    break
                if not self.check(docnum):
                    continue
                key = (score, -self.pages[docnum])
                doc = self.doc_ids[docnum]
                if doc not in best or key > best[doc][:2]:
                    best[doc] = (*key, docnum)
                if len(best) >= self.limit and cutoff is None:
                    cutoff = score  # lower scores cannot enter the top documents
            checked = self._checked
            if len(best) >= self.limit or complete:
                break
            if len(checked) >= 4 * BROAD_CANDIDATES and sum(checked.values()) * 4 < len(checked):
                return None
            want *= 4
        ranked = sorted(best.items(), key=lambda item: (item[1][0], item[0]), reverse=True)
        top = [(docnum, score) for _, (score, _, docnum) in ranked[: self.limit]]
        if complete:  # every candidate was seen
            docs = {self.doc_ids[d] for _, d in candidates if self.check(d)}
            return self._found(top, Total(len(docs)))
        estimate = self._estimate(exact)
        if estimate < ESTIMATE_MIN_DOCS:
            matched = self.searcher.docs_for_query(exact)
            docs = {self.doc_ids[d] for d in matched if not self.needs_check or self.check(d)}
            return self._found(top, Total(len(docs)))
        return self._found(top, Total(_round(max(estimate, len(best))), estimated=True))

    def _newest(self, q: wq.Query, want: int) -> tuple[list[tuple[float, int]], bool]:
        """(score, docnum) of the ``want`` matches of ``q`` with the highest
        docnums (the newest pages), and whether they are all its matches.
        Matchers only move forward: each segment is entered near its end and
        the window is widened until it holds enough matches."""
        context = self.searcher.context(needs_current=True)
        found: list[tuple[float, int]] = []
        complete = True
        # a first guess of the share of pages that match, for the window
        share = min(1.0, max(q.estimate_size(self.reader) / max(1, self.reader.doc_count_all()), 0.01))
        for leaf, offset in reversed(list(self.searcher.leaf_searchers())):
            need = want - len(found)
            if need <= 0:
                complete = False
                break
            n = leaf.doc_count_all()
            window = min(n, int(need / share * 1.5) + 16)
            while True:
                start = n - window
                m = q.matcher(leaf, context)
                got: list[tuple[float, int]] = []
                if start > 0 and m.is_active() and m.id() < start:
                    m.skip_to(start)
                while m.is_active():
                    got.append((m.score(), offset + m.id()))
                    m.next()
                if len(got) >= need or start <= 0:
                    break
                window = min(n, window * 4)
            if len(got) > need or start > 0:
                complete = False
            found.extend(got[-need:])
        return found, complete

    def _found(self, best: list[tuple[int, float]], total: Total) -> _Found:
        return _Found([(d, s, False) for d, s in best], total, {self.doc_ids[d] for d, _ in best})

    # -- estimating a total ------------------------------------------------------

    def _sample(self) -> tuple[list[int], int]:
        """A sample of the pages the search may see (sorted docnums), and
        how many pages that is: ``ESTIMATE_CLUSTERS`` evenly spaced runs of
        neighbouring pages, so that checking them reads few blocks of the
        postings (one sample page per block costs several times more)."""
        if self.restriction is None:
            universe: Sequence[int] = range(self.reader.doc_count_all())
            pages = self.reader.doc_count()
        else:
            cache = self.restriction._cache
            key = ("universe", self.restriction.key)
            universe = cache.get(key)
            if universe is None:
                universe = array("I")
                for leaf, offset in self.searcher.leaf_searchers():
                    reader = leaf.reader()
                    universe.extend(offset + d for d in self.restriction.ids(leaf)
                                    if not reader.has_deletions() or not reader.is_deleted(d))
                cache[key] = universe
            pages = len(universe)
        run = max(1, ESTIMATE_SAMPLE // ESTIMATE_CLUSTERS)
        if len(universe) <= ESTIMATE_SAMPLE:
            picked = list(universe)
        else:
            stride = len(universe) // ESTIMATE_CLUSTERS
            picked = [universe[c * stride + k] for c in range(ESTIMATE_CLUSTERS) for k in range(run)]
        if self.restriction is None and self.reader.has_deletions():
            picked = [d for d in picked if not self.reader.is_deleted(d)]
        return picked, pages

    def _estimate(self, exact: wq.Query) -> float:
        """Matching documents, estimated from a sample of the pages the
        search may see (never from pages outside the restriction): each
        sampled page whose document has a matching page counts 1/(pages of
        that document) -- a document of n pages is n times as likely to be
        sampled -- scaled from the sample to all those pages."""
        sample, pages = self._sample()
        if not sample:
            return 0.0
        cursors: dict[int, Any] = {}  # leaf offset -> matcher, moved forward only
        leaves = list(self.searcher.leaf_searchers())
        memo: dict[int, tuple[bool, int]] = {}  # document id -> (matches, pages)
        weight = 0.0
        for d in sample:
            doc = self.doc_ids[d]
            if doc not in memo:
                first, last = self._doc_range(d)
                memo[doc] = (self._any_match(exact, leaves, cursors, first, last), last - first + 1)
            matches, n = memo[doc]
            if matches:
                weight += 1.0 / n
        return weight * pages / len(sample)

    def _any_match(self, q: wq.Query, leaves: list[tuple[Searcher, int]], cursors: dict[int, Any],
                   first: int, last: int) -> bool:
        """Whether a page in docnums first..last matches ``q`` (called with
        increasing ranges: each segment's matcher only moves forward)."""
        for leaf, offset in leaves:
            end = offset + leaf.doc_count_all() - 1
            if end < first or offset > last:
                continue
            m = cursors.get(offset)
            if m is None:
                m = cursors[offset] = q.matcher(leaf)
            target = max(first, offset) - offset
            if m.is_active() and m.id() < target:
                m.skip_to(target)
            while m.is_active() and m.id() + offset <= last:
                if not self.needs_check or self.check(m.id() + offset):
                    return True
                m.next()
        return False

    def _doc_range(self, docnum: int) -> tuple[int, int]:
        """First and last docnum of the pages of ``docnum``'s document (a
        document's pages are written together, so they are neighbours)."""
        doc = self.doc_ids[docnum]
        limit = self.reader.doc_count_all()
        first = last = docnum
        while first > 0 and docnum - first < 10_000 and self.doc_ids[first - 1] == doc:
            first -= 1
        while last + 1 < limit and last - docnum < 10_000 and self.doc_ids[last + 1] == doc:
            last += 1
        return first, last

    # -- approximate matches -----------------------------------------------------

    def add_approximate(self, found: _Found) -> _Found:
        """Fill up to ``limit`` with pages where each word of four or more
        characters matches with one Han character different (the other words
        exactly), ranked after every exact hit: first those where the
        different character lies inside the word (the page holds both ends
        of what was typed), then those where it is the first or last (an
        exact match of a shorter word), each by score.

        Candidates come from two queries: first the alternatives anchored by
        whole tokens on both sides of the character (few, precise), then,
        only if those found nothing, the others (a part of the word alone:
        more candidates, more noise, more time)."""
        fuzzy = approx_words(self.words)
        if not fuzzy:
            return found
        docs = set(found.docs)
        best: dict[int, tuple[int, float, int, int]] = {}  # doc -> (kind, score, -page, docnum)
        for anchored in (True, False):
            if best or len(found.pages) >= self.limit:
                break  # the second query only when the first found nothing
            parts = []
            units = {}
            for i, word in enumerate(self.words):
                part = None
                if i in fuzzy:
                    part = approximate_query(fuzzy[i], "text", anchored=anchored, reader=self.reader,
                                             max_pages=APPROX_ALTERNATIVE_MAX)
                if part is None:
                    part = word_query(word, TEXT_FIELDS, EXACT_FIELDS)
                else:
                    units[i] = fuzzy[i]
                parts.append(part)
            if not units:
                continue
            q = self.within(parts[0] if len(parts) == 1 else wq.And(parts))
            for score, docnum in self.searcher.search(q, limit=APPROX_CANDIDATES).top_n:
                doc = self.doc_ids[docnum]
                if doc in docs:
                    continue
                if doc in best and (score, -self.pages[docnum]) <= best[doc][1:3]:
                    continue
                kind = self._approx_kind(docnum, units)
                if kind:
                    best[doc] = (kind, score, -self.pages[docnum], docnum)
        ranked = sorted(best.items(), key=lambda item: (item[1][0], item[1][1], item[0]), reverse=True)
        extra = [(docnum, score, True) for _, (_, score, _, docnum) in ranked[: self.limit - len(found.pages)]]
        total = Total(int(found.total) + len(best), estimated=found.total.estimated)
        return _Found(found.pages + extra, total, docs | set(best))

    def _approx_kind(self, docnum: int, units: dict[int, Any]) -> int:
        """The weakest ``approx_kind`` of the approximate ``units`` (by word
        index) in the page's text, 0 if one is missing or another word does
        not hold exactly (their open ends are only checked here)."""
        stored = self.searcher.stored_fields(docnum)
        text = stored.get("text", "")
        kind = min(approx_kind(text, unit) for unit in units.values())
        if not kind or not self.needs_check:
            return kind
        fields = {"text": text, "title": stored.get("title", ""),
                  "head_name": stored.get("head_name", ""), "household_text": stored.get("household", "")}
        others = [w for i, w in enumerate(self.words) if i not in units]
        return kind if matches_stored(others, fields, TEXT_FIELDS, {"household": stored.get("household", "")}) else 0


def _round(n: float) -> int:
    """Two significant digits: an estimate should not look exact."""
    n = int(round(n))
    if n < 100:
        return n
    digits = len(str(n)) - 2
    return int(round(n, -digits))


def _best_pages(
    searcher: Searcher, q: wq.Query, limit: int, doc_ids: Any, pages: Any,
    accept: Callable[[int], bool] | None = None,
) -> tuple[list[tuple[int, float]], bool]:
    """(docnum, score) of the best page of each of the top ``limit``
    documents, and whether every match of ``q`` was seen.

    The top documents are the first distinct documents among the top pages,
    so fetch a few pages per wanted document (Whoosh's top-N collector skips
    blocks that cannot score high enough) and fetch more only if the top pages
    were shared by too few documents (or too few were ``accept``ed). Whoosh's
    own collapse was not used: it needs every match scored and its removal
    from the hit list is quadratic.
    """
    want = limit * 3
    while True:
        top = searcher.search(q, limit=want).top_n  # (score, docnum), best first
        best: dict[int, tuple[float, int, int]] = {}
        cutoff: float | None = None
        for score, docnum in top:
            if cutoff is not None and score < cutoff:
                break
            if accept is not None and not accept(docnum):
                continue
            key = (score, -pages[docnum])  # ties: the earliest page
            doc = doc_ids[docnum]
            if doc not in best or key > best[doc][:2]:
                best[doc] = (*key, docnum)
            if accept is not None and len(best) >= limit:
                # later pages score lower: they cannot enter the top
                # documents (except in a tie, still taken in)
                if cutoff is None:
                    cutoff = score
        exhausted = len(top) < want
        if len(best) >= limit or exhausted:
            break
        want *= 4
    # Ties between documents: newest (highest id) first, so the order does
    # not depend on how the index happens to be segmented.
    ranked = sorted(best.items(), key=lambda item: (item[1][0], item[0]), reverse=True)
    return [(docnum, score) for _, (score, _, docnum) in ranked[:limit]], exhausted
