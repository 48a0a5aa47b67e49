"""Full-text search over dossier pages (Whoosh, Han-bigram analysis).

Self-contained: imports nothing from the project's other packages.
"""
from search.analysis import ChineseAnalyzer, HanBigramTokenizer
from search.exceptions import QueryTooLong, SearchError, SearchTimedOut
from search.index import Hit, IndexOutOfDate, PageDoc, SearchIndex, SearchResult, Total

__all__ = [
    "ChineseAnalyzer",
    "HanBigramTokenizer",
    "Hit",
    "IndexOutOfDate",
    "PageDoc",
    "QueryTooLong",
    "SearchError",
    "SearchIndex",
    "SearchResult",
    "SearchTimedOut",
    "Total",
]
