"""Whoosh queries and matchers that Whoosh 2.7.4 lacks or gets wrong.

Nothing here knows about dossiers: these are the general pieces the query
(search/query.py), the look-alike search (search/lookalike.py) and the
ranking (search/ranking.py) are built from.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from whoosh import query as wq
from whoosh.matching import Matcher, NullMatcher, UnionMatcher, WrappingMatcher
from whoosh.query.spans import SpanNear2
from whoosh.util import make_binary_tree

from search.deadline import check_time

__all__ = ["AllMatcher", "AllOf", "BestOf", "MaxMatcher", "SpanNear", "Unscored", "all_of", "span_phrase"]


class Unscored(wq.WrappingQuery):
    """The pages of ``child``, adding nothing to the score (a filter).
    (Whoosh's ConstantScoreQuery keeps the child's scores whenever the
    search needs the current match, as ranking does.)"""

    def matcher(self, searcher, context=None):  # type: ignore[no-untyped-def]
        m = self.child.matcher(searcher, context)
        return m if not m.is_active() else UnscoredMatcher(m)


class UnscoredMatcher(WrappingMatcher):
    def _replacement(self, newchild):  # type: ignore[no-untyped-def]
        return UnscoredMatcher(newchild)

    def score(self) -> float:
        return 0.0

    def weight(self) -> float:
        return 0.0

    def supports_block_quality(self) -> bool:
        return False


def all_of(parts: Sequence[wq.Query]) -> wq.Query:
    """AND of ``parts`` (see :class:`AllOf`); one part is itself."""
    return parts[0] if len(parts) == 1 else AllOf(list(parts))


class AllOf(wq.And):
    """Whoosh's And, matched by :class:`AllMatcher`, rarest part first.

    Whoosh builds a binary tree of intersections with the most frequent
    parts innermost, and opens every part's postings even when one has no
    page in the segment. A long phrase (up to 100 tokens) made that tree
    costly: each step of it walks the tree. Same pages, same scores (the sum
    of the parts')."""

    def _matcher(self, subs, searcher, context):  # type: ignore[no-untyped-def]
        reader = searcher.reader()
        sized = sorted(((q.estimate_size(reader), i) for i, q in enumerate(subs)))
        if sized[0][0] == 0:
            return NullMatcher()
        matchers = []
        for _, i in sized:
            m = subs[i].matcher(searcher, context)
            if not m.is_active():
                return NullMatcher()
            matchers.append(m)
        m = AllMatcher(matchers)
        return m if self.boost == 1.0 else WrappingMatcher(m, self.boost)


class AllMatcher(Matcher):
    """The pages all of ``matchers`` are on (each active), found by
    leapfrogging: the first (the rarest) leads, the others skip_to its page.
    Each step costs one skip_to per part. Scored by the sum of the parts;
    no block-quality shortcuts (top-N then scores every match)."""

    def __init__(self, matchers: list[Any]) -> None:
        self._ms = matchers
        self._id: int | None = None
        self._settle(matchers[0].id())

    def _settle(self, target: int) -> None:
        """Move to the first page >= ``target`` that every part is on."""
        ms = self._ms
        while True:
            for m in ms:
                if m.id() < target:
                    m.skip_to(target)
                    if not m.is_active():
                        self._id = None
                        return
                if m.id() > target:
                    target = m.id()
                    break
            else:
                self._id = target
                return

    def is_active(self) -> bool:
        return self._id is not None

    def id(self) -> int:
        assert self._id is not None
        return self._id

    def next(self) -> bool:
        lead = self._ms[0]
        lead.next()
        if not lead.is_active():
            self._id = None
        else:
            self._settle(lead.id())
        return False

    def skip_to(self, id: int) -> bool:  # noqa: A002 - Whoosh's signature
        if self._id is not None and id > self._id:
            self._settle(id)
        return False

    def score(self) -> float:
        return sum(m.score() for m in self._ms)

    def weight(self) -> float:
        return sum(m.weight() for m in self._ms)

    def copy(self) -> AllMatcher:
        copied = AllMatcher.__new__(AllMatcher)
        copied._ms, copied._id = [m.copy() for m in self._ms], self._id
        return copied

    def reset(self) -> None:
        for m in self._ms:
            m.reset()
        self._id = None
        if all(m.is_active() for m in self._ms):
            self._settle(self._ms[0].id())

    def children(self) -> list[Any]:
        return list(self._ms)

    def depth(self) -> int:
        return 1 + max(m.depth() for m in self._ms)

    def replace(self, minquality: float = 0) -> Any:
        return self if self.is_active() else NullMatcher()

    def supports_block_quality(self) -> bool:
        return False

    def supports(self, astype: str) -> bool:
        return False


class MaxMatcher(UnionMatcher):
    """OR of two matchers scored by the better one at the current document.

    Whoosh 2.7.4's DisjunctionMaxMatcher compares the scores of sub-matchers
    that may sit on different documents, and its ``replace`` can drop a live
    sub-matcher; this one scores only sub-matchers on the current document
    and opts out of the block-quality shortcuts."""

    def score(self) -> float:
        a, b = self.a, self.b
        if not a.is_active():
            return b.score()
        if not b.is_active():
            return a.score()
        a_id, b_id = a.id(), b.id()
        if a_id < b_id:
            return a.score()
        if b_id < a_id:
            return b.score()
        return max(a.score(), b.score())

    def supports_block_quality(self) -> bool:
        return False

    def replace(self, minquality: float = 0) -> object:
        return self if self.is_active() else NullMatcher()


class BestOf(wq.Or):
    """Pages matching any alternative, scored by the best one."""

    def _matcher(self, subs, searcher, context):  # type: ignore[no-untyped-def]
        ms = [m for m in (q.matcher(searcher, context) for q in subs) if m.is_active()]
        if not ms:
            return NullMatcher()
        return make_binary_tree(MaxMatcher, ms)


class SpanNear(SpanNear2):
    """Whoosh's SpanNear2, mended and bounded in time: 2.7.4's estimate_size
    raises NameError (``q.And``), and its matcher checks the positions of one
    candidate page after another inside a single ``next()``, so the search's
    time budget is checked there (:func:`search.deadline.check_time`)."""

    def _and_query(self) -> wq.Query:
        return wq.And(self.qs)

    def matcher(self, searcher, context=None):  # type: ignore[no-untyped-def]
        ms = [q.matcher(searcher, context) for q in self.qs]
        return TimedSpanNearMatcher(ms, slop=self.slop, ordered=self.ordered, mindist=self.mindist)


class TimedSpanNearMatcher(SpanNear2.SpanNear2Matcher):
    def _get_spans(self):  # type: ignore[no-untyped-def]
        check_time()
        return super()._get_spans()


def span_phrase(field_name: str, tokens: Sequence[str], boost: float = 1.0) -> wq.Query:
    """The tokens at consecutive positions (what ``wq.Phrase`` matches)."""
    terms = [wq.Term(field_name, t, boost=boost) for t in tokens]
    return terms[0] if len(terms) == 1 else SpanNear(terms)
