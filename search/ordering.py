"""Results in another order than by score (by date, by household number), and
the facets counted beside them: both read the index's columns (one value per
page, search/schema.py), never the stored fields.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from search.deadline import check_time
from search.filters import Facets

__all__ = ["count_facets", "distinct_documents", "first_pages", "sort_pages"]


def sort_pages(docnums: list[int], sort: str, reader: Any, doc_ids: Any, pages: Any) -> None:
    """Order ``docnums`` in place as results of ``sort`` are shown.

    ``date``: the newest document date first, documents without a date
    last; ``household``: by household number, pages without a household
    (daily-management records) last, then by date, oldest first. Ties: the
    newer document, then -- within a document -- the earlier page, as the
    relevance order breaks them."""
    # Python's sort is stable, also reversed: the last key sorted decides first.
    docnums.sort(key=pages.__getitem__)
    docnums.sort(key=doc_ids.__getitem__, reverse=True)
    dates = reader.column_reader("date")
    if sort == "date":
        docnums.sort(key=lambda d: (dates[d] != "", dates[d]), reverse=True)
    elif sort == "household":
        numbers = reader.column_reader("household")
        docnums.sort(key=lambda d: (numbers[d] == "", numbers[d], dates[d] == "", dates[d]))
    else:
        raise ValueError(f"no order '{sort}' of pages")


def first_pages(docnums: Iterable[int], limit: int, doc_ids: Any,
                accept: Callable[[int], bool] | None = None) -> list[tuple[int, float]]:
    """(docnum, 0.0) of the first accepted page of each of the first ``limit``
    documents, in the order of ``docnums``."""
    seen: set[int] = set()
    out: list[tuple[int, float]] = []
    for n, d in enumerate(docnums):
        if not n & 63:
            check_time()
        doc = doc_ids[d]
        if doc in seen or (accept is not None and not accept(d)):
            continue
        seen.add(doc)
        out.append((d, 0.0))
        if len(out) >= limit:
            break
    return out


def count_facets(docnums: Iterable[int], reader: Any, doc_ids: Any, *, estimated: bool = False) -> Facets:
    """Documents per type code and per region code among the pages
    ``docnums`` (each document counted once: its pages share both)."""
    types, regions = reader.column_reader("doc_type"), reader.column_reader("region")
    facets = Facets(estimated=estimated)
    seen: set[int] = set()
    for n, d in enumerate(docnums):
        if not n & 63:
            check_time()
        doc = doc_ids[d]
        if doc in seen:
            continue
        seen.add(doc)
        facets.types[types[d]] += 1
        facets.regions[regions[d]] += 1
    return facets


def distinct_documents(docnums: Sequence[int], doc_ids: Any) -> int:
    """How many documents the pages ``docnums`` belong to."""
    return len({doc_ids[d] for d in docnums})
