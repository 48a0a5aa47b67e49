"""How a search runs: which pages are candidates, in what order, how they
are checked, and how many documents match (counted or estimated); see
"How a search runs" in docs/search.md.

:class:`SearchRun` is one search over one searcher: ``matches()`` gives the
best ``limit`` documents that hold the query (plain or broad way) and
``add_approximate()`` fills up with look-alike matches. Results are one hit
per document, ranked in a fixed order so that pages of results continue
each other.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from heapq import heappush, heapreplace
from typing import Any

from whoosh import query as wq
from whoosh.collectors import TopCollector
from whoosh.searching import Searcher

from search.deadline import check_time
from search.filters import Facets
from search.lookalike import APPROX_MIN_CHARS, approx_kind, approx_words, approximate_query
from search.matchers import all_of
from search.ordering import count_facets, distinct_documents, first_pages, sort_pages
from search.query import QueryWord, build_query, has_open_end, matches_stored, needs_check, word_query
from search.restriction import Restriction
from search.results import Total
from search.schema import EXACT_FIELDS, TEXT_FIELDS

__all__ = ["Found", "SearchRun"]

# A query whose candidate pages (an upper bound from the terms' document
# frequencies) are at most this many is answered the plain way: all
# candidates are ranked by score and counted. Above it the query is "broad":
# its newest candidates are ranked, and its total estimated from a sample.
EXACT_MAX_PAGES = 500
# A broad query that fewer documents than this hold (by its estimate) is
# answered the plain way after all: its total is counted.
ESTIMATE_MIN_DOCS = 500
# A broad query ranks its candidate pages newest first, in groups of this
# many (by score within a group).
BROAD_CANDIDATES = 100
# Pages sampled (from the pages the user may see) to estimate a total, in
# this many evenly spaced runs of neighbouring pages.
ESTIMATE_SAMPLE = 200
ESTIMATE_CLUSTERS = 20
# Candidates examined for approximate (one character different) matches.
APPROX_CANDIDATES = 60
# An alternative of the approximate query (the word around one character)
# with more candidate pages than this is left out (see approximate_query).
APPROX_ALTERNATIVE_MAX = 1000


@dataclass
class Found:
    pages: list[tuple[int, float, bool]]  # (docnum, score, approximate), best first
    total: Total
    docs: set[int]  # document ids in pages


class SearchRun:
    """One search over one searcher: ranking, checking, counting.

    ``limit`` is how many documents to rank: a page of results at offset K
    of N hits ranks K + N (the order does not depend on it)."""

    def __init__(self, searcher: Searcher, words: list[QueryWord], limit: int,
                 restriction: Restriction | None, *, facets: bool = False,
                 approx_min_chars: int = APPROX_MIN_CHARS) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        self.words = words
        self.limit = limit
        self.restriction = restriction
        self.doc_ids = self.reader.column_reader("document_id")
        self.pages = self.reader.column_reader("page")
        self.want_facets = facets
        self.facets: Facets | None = None  # set by a search asked for them
        self.approx_min_chars = approx_min_chars

    def within(self, q: wq.Query) -> wq.Query:
        return q if self.restriction is None else self.restriction.wrap(q)

    # -- exact matches ---------------------------------------------------------

    def check(self, docnum: int) -> bool:
        """Whether the page's stored fields hold the query (memoized)."""
        ok = self._checked.get(docnum)
        if ok is None:
            check_time()
            stored = self.searcher.stored_fields(docnum)
            fields = {"text": stored.get("text", ""), "title": stored.get("title", ""),
                      "head_name": stored.get("head_name", ""),
                      "household_text": stored.get("household", "")}
            ok = self._checked[docnum] = matches_stored(
                self.words, fields, TEXT_FIELDS, {"household": stored.get("household", "")})
        return ok

    def matches(self) -> Found:
        self._checked: dict[int, bool] = {}
        self.needs_check = needs_check(self.words)
        query = self.within(build_query(self.words, TEXT_FIELDS, EXACT_FIELDS))
        limit = EXACT_MAX_PAGES // 2 if has_open_end(self.words) else EXACT_MAX_PAGES
        if query.estimate_size(self.reader) <= limit:
            return self._plain(query)
        # Decided from a fixed sample, never from how deep the page is, so
        # that every page of the results is ranked the same way.
        estimate = self._estimate()
        if estimate < ESTIMATE_MIN_DOCS:
            # Few documents hold the query (its tokens may be common, the
            # phrase is not): rank them all by score and count them.
            return self._plain(query)
        return self._broad(query, estimate)

    def _plain(self, query: wq.Query) -> Found:
        """Every candidate is seen: the best are checked on their stored text
        until ``limit`` documents hold the query, and the total is counted."""
        accept = self.check if self.needs_check else None
        best, _ = best_pages(self.searcher, query, self.limit, self.doc_ids, self.pages, accept=accept)
        # Counting needs every match but no scores: an unscored pass over
        # the document ids is far cheaper than scoring all matches.
        matched = [d for d in matching_pages(self.searcher, query) if accept is None or accept(d)]
        if self.want_facets:
            self.facets = count_facets(matched, self.reader, self.doc_ids)
        return self._found(best, Total(distinct_documents(matched, self.doc_ids)))

    def _broad(self, query: wq.Query, estimate: float) -> Found:
        """A query with very many candidate pages: rank the newest of them.

        Scoring every match is what made broad queries slow (and Whoosh's
        block-quality shortcut skips almost nothing when a phrase is on most
        pages), so the pages matching the loose query (phrases as ANDs of
        their tokens, no position checks) are taken newest first, in groups
        of ``BROAD_CANDIDATES``: the newest group is ranked by score and its
        pages checked against their stored text best first, then the next
        group, until ``limit`` documents hold the query. The groups do not
        depend on ``limit``, so a deeper page continues the same order. The
        total is the ``estimate``, the same on every page."""
        group = BROAD_CANDIDATES
        want = group * max(1, -(-3 * self.limit // group))  # whole groups, about 3 pages per document
        accept = self.check if self.needs_check else None
        while True:
            candidates, complete = self._newest(query, want)
            top = self._rank_groups(candidates, group, accept)
            if len(top) >= self.limit or complete:
                break
            want *= 4
        if self.want_facets:
            self.facets = count_facets(matching_pages(self.searcher, query), self.reader, self.doc_ids,
                                       estimated=True)
        return self._found(top, Total(_round(estimate), estimated=True))

    # -- other orders, and no query at all -----------------------------------------

    def ordered(self, sort: str) -> Found:
        """The first ``limit`` documents holding the query in the order
        ``sort`` (search/ordering.py). Every candidate page is put in that
        order (from the columns, unscored); then the way totals are found
        is the relevance order's: a query with few candidates is checked
        and counted page by page, a broad one (see ``matches``) is checked
        only as far as the page of results reaches, and its total (and
        facets) estimated."""
        self._checked = {}
        self.needs_check = needs_check(self.words)
        query = self.within(build_query(self.words, TEXT_FIELDS, EXACT_FIELDS))
        accept = self.check if self.needs_check else None
        candidates = list(matching_pages(self.searcher, query))
        limit = EXACT_MAX_PAGES // 2 if has_open_end(self.words) else EXACT_MAX_PAGES
        estimate = self._estimate() if query.estimate_size(self.reader) > limit else 0.0
        if estimate >= ESTIMATE_MIN_DOCS:
            total = Total(_round(estimate), estimated=True)
            if self.want_facets:
                self.facets = count_facets(candidates, self.reader, self.doc_ids, estimated=True)
        else:
            if accept is not None:
                candidates = [d for d in candidates if accept(d)]
                accept = None
            total = Total(distinct_documents(candidates, self.doc_ids))
            if self.want_facets:
                self.facets = count_facets(candidates, self.reader, self.doc_ids)
        sort_pages(candidates, sort, self.reader, self.doc_ids, self.pages)
        return self._found(first_pages(candidates, self.limit, self.doc_ids, accept), total)

    def browse(self, sort: str) -> Found:
        """No query: every document the restriction allows (the reader's
        filters), in the order ``sort`` (by relevance: newest date first,
        there being no score), counted exactly."""
        assert self.restriction is not None
        candidates = list(self.restriction.pages(self.searcher))
        if self.want_facets:
            self.facets = count_facets(candidates, self.reader, self.doc_ids)
        sort_pages(candidates, "date" if sort == "relevance" else sort, self.reader, self.doc_ids,
                   self.pages)
        total = Total(distinct_documents(candidates, self.doc_ids))
        return self._found(first_pages(candidates, self.limit, self.doc_ids), total)

    def _rank_groups(self, candidates: list[tuple[float, int]], group: int,
                     accept: Callable[[int], bool] | None) -> list[tuple[int, float]]:
        """(docnum, score) of the best page of up to ``limit`` documents: the
        candidates (score, docnum) newest first in groups of ``group``, each
        group by score (ties: the newer document, then the earlier page)."""
        newest_first = sorted(candidates, key=lambda c: -c[1])
        ranked: dict[int, tuple[int, float]] = {}  # document id -> its page; in rank order
        for begin in range(0, len(newest_first), group):
            part = sorted(newest_first[begin : begin + group], reverse=True,
                          key=lambda c: (c[0], self.doc_ids[c[1]], -self.pages[c[1]]))
            for score, docnum in part:
                doc = self.doc_ids[docnum]
                if doc in ranked or (accept is not None and not accept(docnum)):
                    continue
                ranked[doc] = (docnum, score)
                if len(ranked) >= self.limit:
                    return list(ranked.values())
        return list(ranked.values())

    def _newest(self, q: wq.Query, want: int) -> tuple[list[tuple[float, int]], bool]:
        """(score, docnum) of the ``want`` matches of ``q`` with the highest
        docnums (the newest pages), and whether they are all its matches.
        Matchers only move forward: each segment is entered near its end and
        the window is widened until it holds enough matches."""
        context = self.searcher.context(needs_current=True)
        found: list[tuple[float, int]] = []
        complete = True
        # a first guess of the share of pages that match, for the window
        share = min(1.0, max(q.estimate_size(self.reader) / max(1, self.reader.doc_count_all()), 0.01))
        for leaf, offset in reversed(list(self.searcher.leaf_searchers())):
            need = want - len(found)
            if need <= 0:
                complete = False
                break
            n = leaf.doc_count_all()
            window = min(n, int(need / share * 1.5) + 16)
            while True:
                start = n - window
                m = q.matcher(leaf, context)
                got: list[tuple[float, int]] = []
                if start > 0 and m.is_active() and m.id() < start:
                    m.skip_to(start)
                while m.is_active():
                    if not len(got) & 63:
                        check_time()
                    got.append((m.score(), offset + m.id()))
                    m.next()
                if len(got) >= need or start <= 0:
                    break
                window = min(n, window * 4)
            if len(got) > need or start > 0:
                complete = False
            found.extend(got[-need:])
        return found, complete

    def _found(self, best: list[tuple[int, float]], total: Total) -> Found:
        return Found([(d, s, False) for d, s in best], total, {self.doc_ids[d] for d, _ in best})

    # -- estimating a total ------------------------------------------------------

    def _sample(self) -> tuple[list[int], int]:
        """A sample of the pages the search may see (sorted docnums), and
        how many pages that is: ``ESTIMATE_CLUSTERS`` evenly spaced runs of
        neighbouring pages, so that checking them reads few blocks of the
        postings (one sample page per block costs several times more)."""
        if self.restriction is None:
            universe: Sequence[int] = range(self.reader.doc_count_all())
            pages = self.reader.doc_count()
        else:
            universe = self.restriction.pages(self.searcher)
            pages = len(universe)
        run = max(1, ESTIMATE_SAMPLE // ESTIMATE_CLUSTERS)
        if len(universe) <= ESTIMATE_SAMPLE:
            picked = list(universe)
        else:
            # Runs start evenly spread over all the pages (c * len // clusters:
            # with c * (len // clusters), a universe of 39 pages was sampled
            # in its first 20 only).
            size = len(universe)
            starts = sorted({c * size // ESTIMATE_CLUSTERS for c in range(ESTIMATE_CLUSTERS)})
            picked = sorted({universe[min(size - 1, s + k)] for s in starts for k in range(run)})
        if self.restriction is None and self.reader.has_deletions():
            picked = [d for d in picked if not self.reader.is_deleted(d)]
        return picked, pages

    def _estimate(self) -> float:
        """Matching documents, estimated from a sample of the pages the
        search may see (never from pages outside the restriction): each
        sampled page whose document has a matching page counts 1/(pages of
        that document) -- a document of n pages is n times as likely to be
        sampled -- scaled from the sample to all those pages.

        Whoosh checks the phrases' positions here: a broad query's phrases
        are common, so its matchers move from one sampled page to a match
        close by, which measured faster than reading each sampled page's
        stored text."""
        sample, pages = self._sample()
        if not sample:
            return 0.0
        exact = self.within(build_query(self.words, TEXT_FIELDS, EXACT_FIELDS, positions=True))
        check = self.check if has_open_end(self.words) else None
        cursors: dict[int, Any] = {}  # leaf offset -> matcher, moved forward only
        leaves = list(self.searcher.leaf_searchers())
        memo: dict[int, tuple[bool, int]] = {}  # document id -> (matches, pages)
        weight = 0.0
        for d in sample:
            check_time()
            doc = self.doc_ids[d]
            if doc not in memo:
                first, last = self._doc_range(d)
                memo[doc] = (self._any_match(exact, leaves, cursors, first, last, check), last - first + 1)
            matches, n = memo[doc]
            if matches:
                weight += 1.0 / n
        return weight * pages / len(sample)

    def _any_match(self, q: wq.Query, leaves: list[tuple[Searcher, int]], cursors: dict[int, Any],
                   first: int, last: int, check: Callable[[int], bool] | None) -> bool:
        """Whether a page in docnums first..last matches ``q`` (and
        ``check``; called with increasing ranges: each segment's matcher only
        moves forward)."""
        for leaf, offset in leaves:
            end = offset + leaf.doc_count_all() - 1
            if end < first or offset > last:
                continue
            m = cursors.get(offset)
            if m is None:
                m = cursors[offset] = q.matcher(leaf)
            target = max(first, offset) - offset
            if m.is_active() and m.id() < target:
                m.skip_to(target)
            while m.is_active() and m.id() + offset <= last:
                check_time()
                if check is None or check(m.id() + offset):
                    return True
                m.next()
        return False

    def _doc_range(self, docnum: int) -> tuple[int, int]:
        """First and last docnum of the pages of ``docnum``'s document (a
        document's pages are written together, so they are neighbours)."""
        doc = self.doc_ids[docnum]
        limit = self.reader.doc_count_all()
        first = last = docnum
        while first > 0 and docnum - first < 10_000 and self.doc_ids[first - 1] == doc:
            first -= 1
        while last + 1 < limit and last - docnum < 10_000 and self.doc_ids[last + 1] == doc:
            last += 1
        return first, last

    # -- approximate matches -----------------------------------------------------

    def add_approximate(self, found: Found) -> Found:
        """Fill up to ``limit`` with pages where each word of four or more
        characters matches with one Han character different (the other words
        exactly), ranked after every exact hit: first those where the
        different character lies inside the word (the page holds both ends
        of what was typed), then those where it is the first or last (an
        exact match of a shorter word), each by score.

        Candidates come from two queries: first the alternatives anchored by
        whole tokens on both sides of the character (few, precise), then,
        only if those found nothing, the others (a part of the word alone:
        more candidates, more noise, more time)."""
        fuzzy = approx_words(self.words, self.approx_min_chars)
        if not fuzzy:
            return found
        docs = set(found.docs)
        best: dict[int, tuple[int, float, int, int]] = {}  # doc -> (kind, score, -page, docnum)
        for anchored in (True, False):
            if best or len(found.pages) >= self.limit:
                break  # the second query only when the first found nothing
            parts = []
            units = {}
            for i, word in enumerate(self.words):
                part = None
                if i in fuzzy:
                    part = approximate_query(fuzzy[i], "text", anchored=anchored, reader=self.reader,
                                             max_pages=APPROX_ALTERNATIVE_MAX)
                if part is None:
                    part = word_query(word, TEXT_FIELDS, EXACT_FIELDS)  # checked in _approx_kind
                else:
                    units[i] = fuzzy[i]
                parts.append(part)
            if not units:
                continue
            q = self.within(all_of(parts))
            for score, docnum in top_pages(self.searcher, q, APPROX_CANDIDATES):
                doc = self.doc_ids[docnum]
                if doc in docs:
                    continue
                if doc in best and (score, -self.pages[docnum]) <= best[doc][1:3]:
                    continue
                kind = self._approx_kind(docnum, units)
                if kind:
                    best[doc] = (kind, score, -self.pages[docnum], docnum)
        ranked = sorted(best.items(), key=lambda item: (item[1][0], item[1][1], item[0]), reverse=True)
        extra = [(docnum, score, True) for _, (_, score, _, docnum) in ranked[: self.limit - len(found.pages)]]
        total = Total(int(found.total) + len(best), estimated=found.total.estimated)
        return Found(found.pages + extra, total, docs | set(best))

    def _approx_kind(self, docnum: int, units: dict[int, Any]) -> int:
        """The weakest ``approx_kind`` of the approximate ``units`` (by word
        index) in the page's text, 0 if one is missing or another word does
        not hold exactly (their phrases and open ends are only checked here)."""
        check_time()
        stored = self.searcher.stored_fields(docnum)
        text = stored.get("text", "")
        kind = min(approx_kind(text, unit) for unit in units.values())
        if not kind or not self.needs_check:
            return kind
        fields = {"text": text, "title": stored.get("title", ""),
                  "head_name": stored.get("head_name", ""), "household_text": stored.get("household", "")}
        others = [w for i, w in enumerate(self.words) if i not in units]
        return kind if matches_stored(others, fields, TEXT_FIELDS, {"household": stored.get("household", "")}) else 0


def _round(n: float) -> int:
    """Two significant digits: an estimate should not look exact."""
    n = int(round(n))
    if n < 100:
        return n
    digits = len(str(n)) - 2
    return int(round(n, -digits))


def best_pages(
    searcher: Searcher, q: wq.Query, limit: int, doc_ids: Any, pages: Any,
    accept: Callable[[int], bool] | None = None,
) -> tuple[list[tuple[int, float]], bool]:
    """(docnum, score) of the best page of each of the top ``limit``
    documents, best first, and whether every match of ``q`` was seen.

    Pages are ordered by score, then the newer document (higher id), then
    the earlier page (:class:`RankedTopCollector`); a document ranks by its
    first page in that order (its first ``accept``ed one). Any number of top
    pages thus gives the first documents of one order, so a larger
    ``limit`` only adds documents after those of a smaller one (paging).
    A few pages per wanted document are fetched, and more only if they held
    too few documents. Whoosh's own collapse was not used: it needs every
    match scored and its removal from the hit list is quadratic.
    """
    want = limit * 3
    while True:
        top = top_pages(searcher, q, want, doc_ids, pages)  # (score, docnum), in rank order
        ranked: dict[int, tuple[int, float]] = {}  # document id -> its page; in rank order
        for score, docnum in top:
            doc = doc_ids[docnum]
            if doc in ranked or (accept is not None and not accept(docnum)):
                continue
            ranked[doc] = (docnum, score)
            if len(ranked) >= limit:
                break
        exhausted = len(top) < want
        if len(ranked) >= limit or exhausted:
            return list(ranked.values()), exhausted
        want *= 4


class TimedTopCollector(TopCollector):
    """Whoosh's top-N collector, checking the search's time budget as it
    collects."""

    def matches(self) -> Iterator[int]:
        for n, docnum in enumerate(super().matches()):
            if not n & 63:
                check_time()
            yield docnum


class RankedTopCollector(TimedTopCollector):
    """The top pages in the order results are shown: by score, then the
    newer document (higher id), then the earlier page.

    Whoosh's TopCollector breaks score ties by the lower docnum, which is
    neither that order nor stable across limits: of 40 equal pages the top
    10 were documents 30..21, the top 20 documents 40..21."""

    def __init__(self, limit: int, doc_ids: Any, pages: Any) -> None:
        super().__init__(limit=limit)
        self._doc_ids = doc_ids
        self._pages = pages

    def _collect(self, global_docnum: int, score: float) -> float:
        items = self.items
        self.total += 1
        if len(items) >= self.limit and score < items[0][0]:
            return 0
        key = (score, int(self._doc_ids[global_docnum]), -int(self._pages[global_docnum]), global_docnum)
        if len(items) < self.limit:
            heappush(items, key)
        elif key > items[0]:
            heapreplace(items, key)
        else:
            return 0
        if len(items) >= self.limit:
            # Pages with the lowest kept score may still win on the tie
            # order: only blocks that cannot reach it may be skipped.
            self.minscore = math.nextafter(items[0][0], -math.inf)
        return 0 - score

    def results(self) -> Any:
        ordered = sorted(self.items, reverse=True)
        return self._results([(score, docnum) for score, _, _, docnum in ordered])


def top_pages(searcher: Searcher, q: wq.Query, limit: int, doc_ids: Any = None,
               pages: Any = None) -> list[tuple[float, int]]:
    """(score, docnum) of the ``limit`` best pages matching ``q``, best
    first; in the order results are shown when ``doc_ids`` and ``pages``
    (the columns) are given, else in Whoosh's."""
    if doc_ids is None:
        collector: TopCollector = TimedTopCollector(limit=limit)
    else:
        collector = RankedTopCollector(limit, doc_ids, pages)
    searcher.search_with_collector(q, collector)
    return collector.results().top_n


def matching_pages(searcher: Searcher, q: wq.Query) -> Iterator[int]:
    """Docnums of the pages matching ``q``, unscored, one step at a time.

    Not ``searcher.docs_for_query``: Whoosh's IntersectionMatcher.all_ids
    reads the full doc set of both sides and intersects them, so a common
    word of a query was read to the end however rare the others were;
    stepping leapfrogs from one page both sides hold to the next."""
    for leaf, offset in searcher.leaf_searchers():
        m = q.matcher(leaf, leaf.boolean_context())
        n = 0
        while m.is_active():
            if not n & 63:
                check_time()
            n += 1
            yield offset + m.id()
            m.next()
