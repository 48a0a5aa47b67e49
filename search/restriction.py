"""Who may see what, inside the query: a region scope (the user's
jurisdiction), one household and/or the reader's filters (search/filters.py)
as a doc-set filter that every matcher of
a search runs within, so that neither hits, totals, estimates nor look-alike
matches ever include pages outside it.

The allowed pages of each segment come from one ``scope`` term (the region
code's prefixes are indexed, see search/schema.py) and are kept per
searcher, i.e. per index generation.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

from whoosh import query as wq
from whoosh.matching import NullMatcher, WrappingMatcher
from whoosh.searching import Searcher

from search.filters import Filters
from search.schema import SCOPE_LENGTHS

__all__ = ["AllowedMatcher", "Restriction", "Within", "check_scope"]

# Restriction doc sets kept per searcher.
RESTRICTION_CACHE = 32


def check_scope(region_scope: str) -> None:
    """Refuse a region scope that is not 1-12 digits of a region code."""
    # An empty prefix would match every region: refuse it rather than let a
    # missing permission widen the search to the whole index.
    if not region_scope or not region_scope.isascii() or not region_scope.isdigit() or len(region_scope) > 12:
        raise ValueError("region_scope must be 1-12 digits of a region code")


class Restriction:
    """Region scope and/or household as a doc-set filter inside the matcher.

    The doc set of each segment is computed once per searcher (i.e. per index
    generation) and kept in the searcher's memo, so a scoped search does not
    walk the township's postings again; the filter jumps the query's matcher
    from one allowed page to the next (see ``AllowedMatcher``)."""

    def __init__(self, key: tuple[tuple[str, Any], ...], query: wq.Query, memo: dict[Any, Any],
                 households: Filters | None = None, *, scope: str | None = None,
                 household: str | None = None) -> None:
        self.key = key
        self.query = query
        self.memo = memo  # the searcher's memo
        self.households = households  # filters on household numbers, checked on the column
        # the region prefix and the household every allowed page has (the scope narrowed by
        # the reader's region filter): the one place this is decided
        self.scope = scope
        self.household = household

    def allows(self, stored: dict[str, Any]) -> bool:
        """Does a page's stored fields lie within the scope and household? The hits are
        checked once more with this after the query (which holds the restriction already)."""
        if self.scope is not None and not stored.get("region", "").startswith(self.scope):
            return False
        return self.household is None or stored.get("household") == self.household

    @classmethod
    def of(cls, region_scope: str | None, household: str | None, memo: dict[Any, Any],
           filters: Filters | None = None) -> Restriction | None:
        """The restriction to ``region_scope`` (a region-code prefix, checked
        with :func:`check_scope`), ``household`` and ``filters``; None for
        none of them. ``memo`` is kept per searcher (per index generation).

        A ``filters.region`` inside the scope narrows it; one outside it
        allows nothing (a reader cannot widen their scope by picking a
        region)."""
        filters = filters if filters is not None and not filters.empty else None
        scope = region_scope
        disjoint = False
        if filters is not None and filters.region is not None:
            if scope is None or filters.region.startswith(scope):
                scope = filters.region
            elif not scope.startswith(filters.region):
                disjoint = True
        keys: list[tuple[str, Any]] = []
        if scope is not None:
            keys.append(("scope", scope))
        if household is not None:
            keys.append(("household", household))
        if filters is not None:
            keys.append(("filters", filters.key()))
        if not keys:
            return None
        parts: list[wq.Query] = []
        if disjoint:
            parts.append(wq.NullQuery)
        if scope is not None:
            parts.append(wq.Term("scope", scope) if len(scope) in SCOPE_LENGTHS else wq.Prefix("region", scope))
        if household is not None:
            parts.append(wq.Term("household", household))
        if filters is not None:
            if filters.doc_types:
                types = sorted(filters.doc_types)
                parts.append(wq.Term("doc_type", types[0]) if len(types) == 1
                             else wq.Or([wq.Term("doc_type", t) for t in types]))
            if filters.date_from or filters.date_to:
                parts.append(wq.TermRange("date", filters.date_from, filters.date_to))
        if not parts:
            parts.append(wq.Every())
        query = parts[0] if len(parts) == 1 else wq.And(parts)
        return cls(tuple(keys), query, memo,
                   filters if filters is not None and filters.on_households else None,
                   scope=scope, household=household)

    def ids(self, leaf: Searcher) -> Sequence[int]:
        """Sorted allowed docnums of one segment (leaf searcher), as a
        compact array (4 bytes a page)."""
        key = ("restriction", self.key, id(leaf.reader()))
        ids = self.memo.get(key)
        if ids is None:
            found = self.query.matcher(leaf).all_ids()
            if self.households is not None:
                numbers = leaf.reader().column_reader("household")
                keeps = self.households.keeps_household
                found = (d for d in found if keeps(numbers[d]))
            ids = array("I", found)
            kept = [k for k in self.memo if k[0] == "restriction"]
            if len(kept) >= RESTRICTION_CACHE:
                for k in kept[: len(kept) // 2]:
                    del self.memo[k]
            self.memo[key] = ids
        return ids

    def pages(self, searcher: Searcher) -> Sequence[int]:
        """Sorted docnums of every page the restriction allows that is not
        deleted, over all segments (kept in the memo)."""
        key = ("universe", self.key)
        universe = self.memo.get(key)
        if universe is None:
            universe = array("I")
            for leaf, offset in searcher.leaf_searchers():
                reader = leaf.reader()
                universe.extend(offset + d for d in self.ids(leaf)
                                if not reader.has_deletions() or not reader.is_deleted(d))
            self.memo[key] = universe
        return universe

    def wrap(self, q: wq.Query) -> wq.Query:
        return Within(q, self)


class Within(wq.WrappingQuery):
    """``child`` restricted to the pages of a :class:`Restriction`."""

    def __init__(self, child: wq.Query, restriction: Restriction) -> None:
        super().__init__(child)
        self.restriction = restriction

    def _rewrap(self, child: wq.Query) -> Within:
        return Within(child, self.restriction)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Within) and self.child == other.child
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
        return AllowedMatcher(m, ids)


class AllowedMatcher(WrappingMatcher):
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

    def copy(self) -> AllowedMatcher:
        return AllowedMatcher(self.child.copy(), self._ids, self._i)

    def _replacement(self, newchild: Any) -> AllowedMatcher:
        return AllowedMatcher(newchild, self._ids, self._i)

    def replace(self, minquality: float = 0) -> Any:
        if not self.is_active():
            return NullMatcher()
        newchild = self.child.replace(minquality)
        if newchild is self.child:
            return self
        if not newchild.is_active():
            return NullMatcher()
        return AllowedMatcher(newchild, self._ids, self._i)

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
