"""Full-text search over dossier pages (Whoosh, Han-bigram analysis).

Self-contained: imports nothing from the project's other packages.
"""
from search.analysis import ChineseAnalyzer, HanBigramTokenizer
from search.index import (Hit, IndexOutOfDate, PageDoc, SearchError, SearchIndex, SearchResult,
                          Total)

__all__ = [
    "ChineseAnalyzer",
    "HanBigramTokenizer",
    "Hit",
    "IndexOutOfDate",
    "PageDoc",
    "SearchError",
    "SearchIndex",
    "SearchResult",
    "Total",
]
