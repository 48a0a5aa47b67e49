"""The facade of the search package: :class:`SearchIndex` opens (or creates)
the Whoosh index of dossier pages in one directory, writes pages to it and
searches it.

Where the rest lives: search/schema.py (the fields, ``PageDoc``),
search/query.py (a query's words and its Whoosh query), search/restriction.py
(the region scope inside the query), search/ranking.py (how a search runs),
search/lookalike.py (one character different), search/snippets.py,
search/matchers.py (Whoosh pieces), search/deadline.py (the time budget) and
search/exceptions.py. How a search runs is described in docs/search.md.

Results are per dossier document: the best-scoring page represents it, and
``total`` counts distinct documents (estimated for broad queries). A region
scope is a doc-set restriction inside the query itself, so neither hits,
totals, estimates nor look-alike matches ever include pages of other
regions.

The index stores page text (needed for snippets) and so holds personal data,
including ID numbers. Given ``keys`` (what wraps per-file data keys: the
archive's blob store), every file of it is sealed (search/sealed.py) and
nothing in its directory is readable without the master key; without, it is a
plain Whoosh index (tests of search/ alone, benchmarks of the engine).
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any

from whoosh import index as windex
from whoosh.filedb.filestore import FileStorage
from whoosh.searching import Searcher
from whoosh.writing import CLEAR, SegmentWriter

from search.analysis import ChineseAnalyzer
from search.deadline import Clock, check_time, time_limit as running_within
from search.exceptions import IndexBusy, IndexOutOfDate, QueryTooLong
from search.filters import Facets, Filters, check_sort
from search.lookalike import APPROX_MIN_CHARS, ASKED_MIN_CHARS, approx_words
from search.query import QueryWord, parse_query
from search.ranking import SearchRun
from search.restriction import Restriction, check_scope
from search.results import Hit, SearchResult, Total
from search.schema import INDEX_NAME, PageDoc, make_schema, page_fields, same_schema
from search.sealed import DataKeys, SealedStorage, is_sealed
from search.snippets import highlight_fragments

__all__ = ["SearchIndex", "DEFAULT_LOCK_TIMEOUT", "DEFAULT_TIME_LIMIT", "MAX_QUERY_CHARS", "searchable"]

# Seconds a writer waits for another writer (another thread or process) to let go of the
# index's write lock. Writers hold it for one commit (an ingested document, a batch of a
# reindex), rarely more than seconds; the end of a reindex (merging into one segment) can
# take minutes on a large index, and a writer that waits meanwhile is better than a
# request that fails. The web server's threads do not time out while they wait.
DEFAULT_LOCK_TIMEOUT = 300.0
# How often a waiting writer tries the lock again.
LOCK_RETRY_SECONDS = 0.05
# Longest query accepted, in characters (after trimming whitespace). Longer
# ones raise QueryTooLong before any work: nobody types more, and a pasted
# page is not a search.
MAX_QUERY_CHARS = 100
# Seconds a search may run before it is stopped (SearchTimedOut).
DEFAULT_TIME_LIMIT = 5.0
# Posting pool per bulk_load writer process (see bulk_load): 128 MB, meant to keep the
# two-writer build of 100,000 documents under 1 GB for the whole tree (docs/search.md).
BULK_LIMIT_MB = 128


def searchable(query: str) -> bool:
    """Whether ``query`` holds anything to search for: a query of only
    punctuation or symbols (or blank) does not, and finds nothing."""
    return bool(query and query.strip() and parse_query(query.strip(), ChineseAnalyzer()))


def _batches(pages: Iterable[PageDoc], size: int) -> Iterator[list[PageDoc]]:
    it = iter(pages)
    while batch := list(islice(it, size)):
        yield batch


def _storage(path: str | os.PathLike[str], keys: DataKeys | None) -> FileStorage:
    """The Whoosh storage of the directory: sealed when there are keys."""
    if keys is None:
        return FileStorage(os.fspath(path))
    return SealedStorage(os.fspath(path), keys)


def _toc_exists(storage: FileStorage) -> bool:
    if not any(name.startswith(f"_{INDEX_NAME}_") for name in storage.list()):
        return False
    try:
        return storage.index_exists(INDEX_NAME)
    except windex.EmptyIndexError:
        return False
    except Exception:  # noqa: BLE001 - there is an index, but it cannot be read (old schema, unsealed)
        return True


def _open_dir(storage: FileStorage) -> windex.Index | None:
    """The index in ``storage``; None if its schema cannot even be unpickled
    (classes of an older hudang that no longer exist) or its files cannot be
    decrypted (an unsealed index of an older hudang)."""
    try:
        ix = storage.open_index(INDEX_NAME)
        ix.schema  # noqa: B018 - reads and unpickles the schema now
    except windex.EmptyIndexError:
        raise
    except Exception:  # noqa: BLE001 - see above
        return None
    return ix


def _fresh_index(storage: FileStorage) -> windex.Index:
    """An empty index in ``storage``, replacing what is there. A sealed storage first
    drops every file that is not sealed (an older hudang's readable index)."""
    storage.create()
    if isinstance(storage, SealedStorage):
        for name in storage.list():
            path = os.path.join(storage.folder, name)
            if os.path.isfile(path) and not name.endswith("LOCK") and not is_sealed(path):
                os.remove(path)
    return storage.create_index(make_schema(), indexname=INDEX_NAME)


class _ThreadSearchers:
    """One Whoosh searcher per thread, kept while the index is unchanged.

    Opening a searcher opens every segment's files (about 100 ms on a 30k-page
    index); checking an unchanged one only reads the index generation. A
    changed index gets a new searcher, never ``Searcher.refresh()``: whoosh3
    3.54's refresh re-uses the reader of a segment whose deletions changed (and
    keeps segments a merge removed), so a replaced or removed page would still
    be found (tests/test_search.py, "adding a page again replaces it").
    Searchers are per thread because the old one is closed when replaced.
    """

    def __init__(self, ix: windex.Index) -> None:
        self._ix = ix
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: dict[int, Searcher] = {}  # by thread id, so close() reaches all

    def get(self) -> Searcher:
        current: Searcher | None = getattr(self._local, "searcher", None)
        if current is not None and current.up_to_date():
            return current
        searcher = self._ix.searcher()
        self._local.searcher = searcher
        with self._lock:
            self._open[threading.get_ident()] = searcher
        if current is not None:
            current.close()
        return searcher

    def close(self) -> None:
        with self._lock:
            searchers, self._open = list(self._open.values()), {}
        for searcher in searchers:
            searcher.close()
        self._local = threading.local()


def _commit(writer: SegmentWriter, **kwargs: Any) -> None:
    """``writer.commit``, letting go of the index's write lock if the commit fails (a full
    disk): Whoosh keeps it then, and every later writer of this process would wait for it
    in vain. The table of contents is written last, so the index stays as it was."""
    try:
        writer.commit(**kwargs)
    except BaseException:
        if writer.writelock is not None:
            try:
                writer.writelock.release()
            except Exception:  # noqa: BLE001 - already let go: the first failure is the one
                pass
        raise


class SearchIndex:
    """A Whoosh index of pages in one directory.

    Writers wait up to ``lock_timeout`` seconds for another writer (another
    thread or process) to finish, then raise :class:`IndexBusy` (a
    ``whoosh.index.LockError`` too).
    """

    def __init__(self, ix: windex.Index | None, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 path: str | os.PathLike[str] | None = None, clock: Clock = time.monotonic,
                 keys: DataKeys | None = None) -> None:
        if ix is None and path is None:
            raise ValueError("an index or its path is needed")
        self._ix = ix
        self._clock = clock  # what search time limits are measured on
        self._path = os.fspath(path) if path is not None else ix.storage.folder  # type: ignore[union-attr]
        self._storage = ix.storage if ix is not None else _storage(self._path, keys)
        self._analyzer = ChineseAnalyzer()
        self._lock_timeout = lock_timeout
        self._searchers = _ThreadSearchers(ix) if ix is not None else None
        self._checked_generation: int | None = None
        self._current = False
        self._memos: weakref.WeakKeyDictionary[Searcher, dict[Any, Any]] = weakref.WeakKeyDictionary()
        self._memo_lock = threading.Lock()
        self._state_lock = threading.RLock()  # _ix, _searchers and the schema check

    # -- opening -------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
               clock: Clock = time.monotonic, keys: DataKeys | None = None) -> SearchIndex:
        """Create an empty index at ``path`` (replacing any index there); sealed with
        per-file data keys wrapped by ``keys`` when given."""
        Path(path).mkdir(parents=True, exist_ok=True)
        ix = _fresh_index(_storage(path, keys))
        return cls(ix, lock_timeout=lock_timeout, path=path, clock=clock, keys=keys)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
             clock: Clock = time.monotonic, keys: DataKeys | None = None) -> SearchIndex:
        """Open the index at ``path``. An index written with another schema
        (an older hudang), or not sealed when ``keys`` are given, opens, but
        searching or adding pages raises :class:`IndexOutOfDate` until
        ``rebuild`` has replaced it."""
        return cls(_open_dir(_storage(path, keys)), lock_timeout=lock_timeout, path=path, clock=clock,
                   keys=keys)

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        clock: Clock = time.monotonic, keys: DataKeys | None = None,
    ) -> SearchIndex:
        if Path(path).is_dir() and _toc_exists(_storage(path, keys)):
            return cls.open(path, lock_timeout=lock_timeout, clock=clock, keys=keys)
        return cls.create(path, lock_timeout=lock_timeout, clock=clock, keys=keys)

    @property
    def sealed(self) -> bool:
        """Whether the index's files are encrypted."""
        return isinstance(self._storage, SealedStorage)

    def rewrap(self, keys: DataKeys) -> int:
        """Wrap every index file's data key again with ``keys`` (a key rotation); the
        files' contents stay as they are. Returns the number of files re-wrapped."""
        if not isinstance(self._storage, SealedStorage):
            return 0
        return self._storage.rewrap(keys)

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
                ix = _open_dir(self._storage)
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
                current = same_schema(ix.schema, make_schema())
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

    def _writer(self, **kwargs: Any) -> SegmentWriter:
        """A writer, once the write lock is ours: waits up to ``lock_timeout`` seconds for
        another writer, then raises :class:`IndexBusy` (never a bare Whoosh lock error)."""
        ix = self._require_current()
        try:
            return ix.writer(timeout=self._lock_timeout, delay=LOCK_RETRY_SECONDS, **kwargs)
        except windex.LockError:
            raise IndexBusy(self._path, self._lock_timeout) from None

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
                    writer.add_document(**page_fields(page))
                    count += 1
        except BaseException:
            writer.cancel()
            raise
        if clear:
            # CLEAR drops every existing segment in the same commit, so readers
            # never see an empty index between "clear" and the first batch.
            _commit(writer, mergetype=CLEAR)
        elif count:
            _commit(writer)
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
        _commit(writer)

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
            self._set_index(_fresh_index(self._storage))
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
        The default, 128 MB (``BULK_LIMIT_MB``), is meant to keep the two-writer
        100k build's process tree under 1 GB (2.8 GB at 1024 MB; not yet measured
        to its end, docs/search.md).
        """
        if procs is None:
            procs = os.cpu_count() or 1
        if procs < 1 or limitmb < 1 or batchsize < 1:
            raise ValueError("procs, limitmb and batchsize must be >= 1")
        if procs == 1:
            writer = self._writer(limitmb=limitmb)
        else:
            writer = self._writer(procs=procs, limitmb=limitmb, multisegment=True,
                                  batchsize=batchsize)
        count = 0
        try:
            for page in pages:
                writer.add_document(**page_fields(page))
                count += 1
        except BaseException:
            writer.cancel()
            raise
        if count:
            _commit(writer)
        else:
            writer.cancel()
        return count

    def clear(self) -> None:
        """Empty the index in one commit; an index written by another version (or not
        sealed, or sealed under keys no longer at hand) is replaced by an empty one of
        this version. The first step of a resumable reindex (ingest/indexing.py)."""
        with self._state_lock:
            if not self._is_current():
                self._set_index(_fresh_index(self._storage))
                return
        self._write([], clear=True)

    def optimize(self) -> None:
        """Merge every segment into one (searches open each segment's files). Memory stays
        bounded: Whoosh merges through its posting pool, spilling sorted runs to (sealed)
        temporary files."""
        self._optimize()

    def _optimize(self) -> None:
        writer = self._writer()
        _commit(writer, optimize=True)

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
        time_limit: float | None = DEFAULT_TIME_LIMIT,
        filters: Filters | None = None,
        sort: str = "relevance",
        facets: bool = False,
        close: bool = False,
    ) -> SearchResult:
        """Search text, title, head-of-household name and household number.

        ``region_scope`` is a region-code prefix (6 digits county, 9 township,
        12 village); ``None`` means no restriction, an empty string is an
        error. ``household`` restricts the search to one household number.
        ``filters`` (search/filters.py) narrow it further: types, dates, a
        region inside the scope, household numbers to keep or leave out. With
        filters the query may be empty: every document they allow is a hit.

        Returns at most ``limit`` hits, from the ``offset``-th (0-based) of
        the ranked list on: pages of ``limit`` at offsets 0, ``limit``,
        2 × ``limit``, ... give every hit once, in rank order. ``sort`` is
        ``relevance`` (by score), ``date`` (newest first) or ``household``
        (by household number); ``facets`` also counts the matching
        documents per type and per region (``SearchResult.facets``).

        Hits that match every word exactly come first; when they are fewer
        than ``offset + limit``, pages where a word of four or more
        characters (two of them Han) matches with one Han character
        different (an OCR look-alike) follow, marked ``approximate``;
        ``close`` (the reader asked for close matches) lets words of three
        characters match so too. ``total`` counts the exact hits, and the
        look-alike ones too once a page has reached past the exact ones (so
        the total of the last pages may be larger than that of the first);
        for a broad query it may be an estimate (``total.estimated``).

        A query of more than ``MAX_QUERY_CHARS`` characters raises
        :class:`QueryTooLong` before any work; a search still running after
        ``time_limit`` seconds (None: no limit) is stopped with
        :class:`SearchTimedOut`. A query without any searchable character
        (blank, punctuation only) and no filters finds nothing
        (:func:`searchable` tells them apart).
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        if time_limit is not None and time_limit < 0:
            raise ValueError("time_limit must be >= 0 seconds")
        if region_scope is not None:
            check_scope(region_scope)
        check_sort(sort)
        query = query.strip() if query else ""
        if len(query) > MAX_QUERY_CHARS:
            raise QueryTooLong(len(query), MAX_QUERY_CHARS)
        filters = filters if filters is not None and not filters.empty else None
        if not query and filters is None:
            return SearchResult(hits=[], total=Total(0))
        with running_within(time_limit, self._clock):
            return self._search(query, region_scope, limit, offset, household, filters, sort, facets, close)

    def _search(self, query: str, region_scope: str | None, limit: int, offset: int,
                household: str | None, filters: Filters | None, sort: str, facets: bool,
                close: bool) -> SearchResult:
        words = parse_query(query, self._analyzer) if query else []
        if not words and filters is None:
            return SearchResult(hits=[], total=Total(0))
        self._require_current()

        assert self._searchers is not None
        searcher = self._searchers.get()
        if searcher.doc_count() == 0:  # an empty index has no columns to read
            return SearchResult(hits=[], total=Total(0), facets=Facets() if facets else None)
        # The first offset + limit documents are ranked; the page is the end.
        restriction = Restriction.of(region_scope, household, self._memo(searcher), filters)
        run = SearchRun(searcher, words, offset + limit, restriction, facets=facets,
                        approx_min_chars=ASKED_MIN_CHARS if close else APPROX_MIN_CHARS)
        if not words:
            found = run.browse(sort)
        else:
            found = run.matches() if sort == "relevance" else run.ordered(sort)
            if len(found.pages) < offset + limit or close:
                found = run.add_approximate(found)

        hits = []
        for docnum, score, approximate in found.pages[offset:]:
            check_time()
            stored = searcher.stored_fields(docnum)
            # Belt and braces: the restriction is inside the query already.
            if restriction is not None and not restriction.allows(stored):
                continue
            hits.append(self._hit(stored, score, words, approximate))
        suggest = (not found.pages and not close and bool(words)
                   and approx_words(words, ASKED_MIN_CHARS).keys() != approx_words(words).keys())
        return SearchResult(hits=hits, total=found.total, facets=run.facets, close_match_possible=suggest)

    def _memo(self, searcher: Searcher) -> dict[Any, Any]:
        """Per-searcher memo (restriction doc sets, allowed pages): a searcher
        is replaced whenever the index changes, and its memo with it."""
        with self._memo_lock:
            memo = self._memos.get(searcher)
            if memo is None:
                memo = self._memos[searcher] = {}
            return memo

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
