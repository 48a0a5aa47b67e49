"""Narrowing a search, as a reader asks for it on the search page, in ``/api/search`` and
in ``hudang search``: document type, a range of dates, a region inside the reader's own
scope, the household's status, and the order of the results; the counts per type and per
region shown beside them (facets).

Where each is applied (docs/search.md): type, dates and region are fields of the index
(``search.Filters``); the household status is looked up in the catalogue when the search
runs, because it changes after a page was indexed (a household stopped yesterday is
stopped today, whatever its pages said when they were indexed).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.doctypes import all_types, find_type
from records.households import STATUS_NAMES
from records.kinds import HouseholdStatus
from records.model import Household, Region
from records.policy import Principal, in_jurisdiction, region_scope
from records.problems import N_, fail
from search import SORTS, Facets, Filters

__all__ = ["Narrowing", "FacetCount", "FacetsView", "read_narrowing", "to_filters",
           "facets_view", "choices", "effective_scope", "STATUSES"]

STATUSES = tuple(s.value for s in HouseholdStatus)  # active, suspended, stopped
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# levels of a region code (county, township, village): the region facet counts the
# level below the scope, or deeper while that level holds one region only
LEVELS = (6, 9, 12)


@dataclass(frozen=True)
class Narrowing:
    """What a reader asked for besides the words: every field optional."""

    types: tuple[str, ...] = ()  # type codes or Chinese names
    date_from: str | None = None
    date_to: str | None = None
    region: str | None = None
    status: str | None = None  # a HouseholdStatus value
    sort: str = "relevance"
    close: bool = False  # look for close matches (one character different) too

    @property
    def filtering(self) -> bool:
        """Whether a filter is set (enough to search without words)."""
        return bool(self.types or self.date_from or self.date_to or self.region or self.status)

    def as_args(self) -> dict[str, object]:
        """As the query string of the search page and ``/api/search`` spells it."""
        args: dict[str, object] = {}
        if self.types:
            args["type"] = list(self.types)
        for key, value in (("from", self.date_from), ("to", self.date_to),
                           ("region", self.region), ("status", self.status)):
            if value:
                args[key] = value
        if self.sort != "relevance":
            args["sort"] = self.sort
        if self.close:
            args["close"] = "1"
        return args

    def as_json(self) -> dict[str, object]:
        return {"type": list(self.types), "from": self.date_from, "to": self.date_to,
                "region": self.region, "status": self.status, "sort": self.sort,
                "close": self.close}


def _date(value: str | None, name: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if _DATE.match(value):
        try:
            date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise fail(name, N_("“%(value)s” is not a date; write it as YYYY-MM-DD"), value=value[:20])


def read_narrowing(get: Callable[[str], str | None], types: Iterable[str] = ()) -> Narrowing:
    """A :class:`Narrowing` from named values (a query string, CLI options): ``from``,
    ``to``, ``region``, ``status``, ``sort``, ``close``; ``types`` given apart (repeatable).
    Raises :class:`records.problems.Problems` naming the value that cannot be used."""
    date_from, date_to = _date(get("from"), "from"), _date(get("to"), "to")
    if date_from and date_to and date_from > date_to:
        raise fail("to", N_("the date range ends (%(to)s) before it begins (%(from)s)"),
                   to=date_to, **{"from": date_from})
    region = (get("region") or "").strip() or None
    if region is not None and (not region.isascii() or not region.isdigit()
                               or len(region) not in LEVELS):
        raise fail("region", N_("“%(value)s” is not a region code (6, 9 or 12 digits)"),
                   value=region[:20])
    status = (get("status") or "").strip() or None
    if status is not None and status not in STATUSES:
        raise fail("status", N_("unknown household status “%(value)s”; use active, suspended "
                                "or stopped"), value=status[:20])
    sort = (get("sort") or "").strip() or "relevance"
    if sort not in SORTS:
        raise fail("sort", N_("unknown order “%(value)s”; use relevance, date or household"),
                   value=sort[:20])
    close = (get("close") or "").strip().lower() in ("1", "true", "yes", "on")
    return Narrowing(tuple(t.strip() for t in types if t and t.strip()), date_from, date_to,
                     region, status, sort, close)


def effective_scope(who: Principal, narrowing: Narrowing) -> str | None:
    """The region prefix the search is confined to: the picked region, else the reader's
    jurisdiction (a picked region has been checked to lie inside it)."""
    return narrowing.region or region_scope(who)


def to_filters(session: Session, who: Principal, narrowing: Narrowing) -> Filters:
    """The index filters of ``narrowing``, checked against the catalogue: known types, a
    region that exists inside the reader's jurisdiction (one outside it is answered as one
    that does not exist), and the households of the chosen status as they are now."""
    codes = []
    for value in narrowing.types:
        found = find_type(session, value)
        if found is None:
            raise fail("type", N_("unknown document type “%(value)s”"), value=value[:50])
        codes.append(found.code)
    region = narrowing.region
    if region is not None and (session.get(Region, region) is None
                               or not in_jurisdiction(who, region)):
        raise fail("region", N_("there is no region %(value)s among those you may search"),
                   value=region)
    households, exclude, only = None, frozenset(), False
    if narrowing.status is not None:
        scope = effective_scope(who, narrowing)
        q = select(Household.number, Household.status)
        if scope:
            q = q.where(Household.region_code.startswith(scope, autoescape=True))
        wanted = HouseholdStatus(narrowing.status)
        keep: set[str] = set()
        drop: set[str] = set()
        for number, status in session.execute(q):
            (keep if status is wanted else drop).add(number)
        # whichever list is shorter: few stopped households among many active ones
        if len(keep) <= len(drop):
            households = frozenset(keep)
        else:
            exclude, only = frozenset(drop), True
    return Filters.of(doc_types=codes, date_from=narrowing.date_from, date_to=narrowing.date_to,
                      region=region, households=households, exclude_households=exclude,
                      households_only=only)


@dataclass(frozen=True)
class FacetCount:
    code: str
    name_zh: str
    name_en: str
    count: int

    def as_json(self) -> dict[str, object]:
        return {"code": self.code, "name": self.name_zh, "name_en": self.name_en,
                "count": self.count}


@dataclass(frozen=True)
class FacetsView:
    """Documents per type and per region beside the results, only over what the reader may
    see (the counts come from inside the search's scope). ``estimated`` as for a total."""

    types: list[FacetCount] = field(default_factory=list)
    regions: list[FacetCount] = field(default_factory=list)
    estimated: bool = False

    def as_json(self) -> dict[str, object]:
        return {"types": [t.as_json() for t in self.types],
                "regions": [r.as_json() for r in self.regions], "estimated": self.estimated}


def _region_level(counts: Counter[str], scope: str | None) -> Counter[str]:
    """The counts by region code summed to the level below ``scope`` (deeper while that
    level has one region only). A record filed under a region above that level (a
    township's daily-management volume) keeps its own code."""
    grouped: Counter[str] = Counter()
    for length in [n for n in LEVELS if n > len(scope or "")] or [12]:
        grouped = Counter()
        for code, n in counts.items():
            grouped[code[:length]] += n
        if len(grouped) > 1:
            break
    return grouped


def facets_view(session: Session, who: Principal, narrowing: Narrowing,
                facets: Facets | None) -> FacetsView | None:
    if facets is None:
        return None
    types = {t.code: t for t in all_types(session)}
    type_counts = [FacetCount(code, types[code].name_zh if code in types else code,
                              types[code].name_en if code in types else code, n)
                   for code, n in facets.types.items()]
    order = {code: i for i, code in enumerate(types)}
    type_counts.sort(key=lambda f: (-f.count, order.get(f.code, len(order)), f.code))
    grouped = _region_level(facets.regions, effective_scope(who, narrowing))
    names = {r.code: r.name for r in session.scalars(select(Region).where(
        Region.code.in_(list(grouped))))} if grouped else {}
    regions = sorted((FacetCount(code, names.get(code, code), names.get(code, code), n)
                      for code, n in grouped.items()), key=lambda f: (-f.count, f.code))
    return FacetsView(type_counts, regions, facets.estimated)


@dataclass(frozen=True)
class Choices:
    """What the filter form offers: the types, and the regions the reader may search."""

    types: list[tuple[str, str, str]]  # (code, name_zh, name_en)
    regions: list[tuple[str, str, int]]  # (code, name, depth under the scope)
    statuses: list[tuple[str, str]]  # (value, Chinese name)


def choices(session: Session, who: Principal) -> Choices:
    scope = region_scope(who)
    q = select(Region).order_by(Region.code)
    if scope:
        q = q.where(Region.code.startswith(scope, autoescape=True))
    regions = [(r.code, r.name, LEVELS.index(len(r.code)) if len(r.code) in LEVELS else 0)
               for r in session.scalars(q)]
    return Choices([(t.code, t.name_zh, t.name_en) for t in all_types(session)], regions,
                   [(s.value, STATUS_NAMES[s]) for s in HouseholdStatus])
