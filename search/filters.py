"""Narrowing a search: filters, the order of its results, and the counts
beside them (facets).

What the index knows when it is written is filtered on index fields: the
document type (``doc_type``), the date (``date``, an ISO date, so a range of
dates is a range of terms) and the region (``scope``, one term per level of
the code). What changes after a page was indexed -- a household's status --
is not in the index: the caller looks it up in the catalogue at query time
and passes the household numbers to keep (``households``) or to leave out
(``exclude_households``), whichever set is smaller. See docs/search.md.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Facets", "Filters", "SORTS", "check_sort"]

# relevance: by score (what ``search`` always did); date: newest document date
# first (documents without a date last); household: by household number, then
# the document's date (daily-management records, which have no household, last).
SORTS = ("relevance", "date", "household")

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")


@dataclass(frozen=True)
class Filters:
    """What a search is narrowed to, on top of the caller's ``region_scope``.

    ``region``: a region-code prefix inside the scope (a township or village
    the reader picked). ``date_from``/``date_to``: ISO dates, both ends
    included; a document without a date is left out once either is given.
    ``households``: only pages of these household numbers;
    ``exclude_households``: none of these; ``households_only``: no
    daily-management records (pages without a household)."""

    doc_types: frozenset[str] = frozenset()
    date_from: str | None = None
    date_to: str | None = None
    region: str | None = None
    households: frozenset[str] | None = None
    exclude_households: frozenset[str] = frozenset()
    households_only: bool = False

    def __post_init__(self) -> None:
        for value in (self.date_from, self.date_to):
            if value is not None and not _ISO_DATE.match(value):
                raise ValueError("dates must be ISO dates (YYYY-MM-DD)")
        if self.region is not None and (not self.region.isascii() or not self.region.isdigit()
                                        or not 1 <= len(self.region) <= 12):
            raise ValueError("region must be 1-12 digits of a region code")

    @classmethod
    def of(cls, *, doc_types: Iterable[str] = (), date_from: str | None = None,
           date_to: str | None = None, region: str | None = None,
           households: Iterable[str] | None = None, exclude_households: Iterable[str] = (),
           households_only: bool = False) -> Filters:
        return cls(frozenset(doc_types), date_from or None, date_to or None, region or None,
                   None if households is None else frozenset(households),
                   frozenset(exclude_households), households_only)

    @property
    def empty(self) -> bool:
        return self == Filters()

    @property
    def on_households(self) -> bool:
        return self.households is not None or bool(self.exclude_households) or self.households_only

    def key(self) -> tuple[Any, ...]:
        """Hashable, for the per-searcher memo of allowed pages."""
        return (self.doc_types, self.date_from, self.date_to, self.region, self.households,
                self.exclude_households, self.households_only)

    def keeps_household(self, number: str) -> bool:
        if self.households_only and not number:
            return False
        if self.households is not None and number not in self.households:
            return False
        return number not in self.exclude_households


@dataclass
class Facets:
    """Documents per type code and per region code among the matches (inside
    the scope and the filters). ``estimated``: counted over a broad query's
    candidate pages without checking every phrase (see docs/search.md), like
    an estimated total."""

    types: Counter[str] = field(default_factory=Counter)
    regions: Counter[str] = field(default_factory=Counter)
    estimated: bool = False
