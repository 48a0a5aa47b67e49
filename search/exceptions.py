"""The errors a search caller may have to show a person.

Every one is a :class:`SearchError` with a one-line English message that says
what happened and what to do. search/ defines no exit codes or HTTP statuses:
the web app and the CLI map these classes to theirs.
"""
from __future__ import annotations

from whoosh.index import LockError

__all__ = ["SearchError", "IndexBusy", "IndexOutOfDate", "IndexUnreadable", "QueryTooLong",
           "SearchTimedOut"]


class SearchError(Exception):
    """Base of the search package's user-facing errors."""


class IndexOutOfDate(SearchError):
    """The index on disk was written with another schema (an older hudang):
    it must be rebuilt (``hudang reindex``) before it can be searched or
    written."""


class IndexUnreadable(SearchError):
    """An index file cannot be decrypted: not a sealed file (an index of an older hudang),
    a data key no key at hand unwraps, or a corrupt chunk. The index is a cache:
    ``hudang reindex`` rebuilds it."""


class QueryTooLong(SearchError):
    """The query has more characters than a search accepts. Raised before any
    work is done."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"the query is {length} characters long; searches are limited to {limit} characters")
        self.length = length
        self.limit = limit


class SearchTimedOut(SearchError):
    """A search used up its time budget and was stopped (no partial results)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the search took longer than {seconds:g} seconds and was stopped; "
                         "narrow it with more specific words")
        self.seconds = seconds


class IndexBusy(SearchError, LockError):
    """Another writer (another process: an ingest, a reindex) held the index's write lock for
    longer than this writer waits. A :class:`whoosh.index.LockError` too, so that code
    written against Whoosh still recognises it; but it says in one sentence what happened."""

    def __init__(self, path: str, seconds: float) -> None:
        super().__init__(f"the search index in {path} was being written by another process "
                         f"for more than {seconds:g} seconds; nothing was changed, try again "
                         "when the ingest or reindex running now has finished")
        self.seconds = seconds
