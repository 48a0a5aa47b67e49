"""Full-text search over dossier pages (Whoosh, Han-bigram analysis).

Self-contained: imports nothing from the project's other packages. The
facade is :class:`SearchIndex`; what goes in is a :class:`PageDoc`, what
comes out a :class:`SearchResult`; every error a person may see is a
:class:`SearchError`. How the package is laid out: docs/search.md.
"""
from search.analysis import ChineseAnalyzer, HanBigramTokenizer
from search.exceptions import IndexOutOfDate, IndexUnreadable, QueryTooLong, SearchError, SearchTimedOut
from search.index import SearchIndex
from search.results import Hit, SearchResult, Total
from search.schema import PageDoc

__all__ = [
    "ChineseAnalyzer",
    "HanBigramTokenizer",
    "Hit",
    "IndexOutOfDate",
    "IndexUnreadable",
    "PageDoc",
    "QueryTooLong",
    "SearchError",
    "SearchIndex",
    "SearchResult",
    "SearchTimedOut",
    "Total",
]
