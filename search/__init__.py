"""Full-text search over dossier pages (Whoosh, Han-bigram analysis).

Self-contained: imports nothing from the project's other packages. The
facade is :class:`SearchIndex`; what goes in is a :class:`PageDoc`, what
comes out a :class:`SearchResult`; every error a person may see is a
:class:`SearchError`. How the package is laid out: docs/search.md.
"""
from search.analysis import ChineseAnalyzer, HanBigramTokenizer
from search.exceptions import (IndexBusy, IndexOutOfDate, IndexUnreadable, QueryTooLong,
                               SearchError, SearchTimedOut)
from search.filters import SORTS, Facets, Filters
from search.index import SearchIndex, searchable
from search.results import Hit, SearchResult, Total
from search.schema import PageDoc

__all__ = [
    "ChineseAnalyzer",
    "Facets",
    "Filters",
    "SORTS",
    "HanBigramTokenizer",
    "Hit",
    "IndexBusy",
    "IndexOutOfDate",
    "IndexUnreadable",
    "PageDoc",
    "QueryTooLong",
    "SearchError",
    "SearchIndex",
    "SearchResult",
    "SearchTimedOut",
    "Total",
    "searchable",
]
