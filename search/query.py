"""Turning a user's query string into a Whoosh query, and marking its matches.

A query string is split on whitespace into words; every word must match
(AND), each in any one of the searched fields (OR). Inside a word the tokens
of the analyzer must be consecutive, so 王德胜 is the phrase 王德 德胜 and the
household number 220381105012-0042 is the phrase 220381105012 0042 (it never
matches -0043). A number typed right after Han characters at the end of a
word may be the start of a longer number in the text: 于20 matches 于2015年
(``Unit.open_end``). The same parsed words drive highlighting, so the snippet
marks exactly what made the page match.

Whoosh never checks phrase positions for the exact query: it sees each
phrase as the AND of its tokens (``build_query``), which finds a superset of
the pages and scores them as it would score the phrase (the same terms).
Each unit also compiles to a regular expression over the folded text
(:func:`search.analysis.fold`), which says whether a stored text holds it as
a substring (``matches_stored``); the candidates are checked that way.
Whoosh's phrase matcher checks every page holding all the tokens of a
phrase, and long phrases of common words (a pasted line of a form) made that
cost seconds. A word of four or more characters may also match
approximately, with one Han character different (an OCR look-alike):
:func:`approximate_query` finds candidates, :func:`approx_kind` checks
them.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from functools import lru_cache
from types import MappingProxyType

from whoosh import query as wq
from whoosh.matching import Matcher, NullMatcher, UnionMatcher, WrappingMatcher
from whoosh.query.compound import DefaultOr
from whoosh.query.spans import SpanNear2
from whoosh.util import make_binary_tree

from search.analysis import HAN_CLASS, fold, fold_char, is_han, is_word_char, raw_tokens
from search.deadline import check_time

__all__ = [
    "Unit",
    "QueryWord",
    "parse_query",
    "build_query",
    "word_query",
    "all_of",
    "highlight_fragments",
    "fold_lower",
    "matches_stored",
    "needs_check",
    "approx_words",
    "approximate_query",
    "approx_kind",
    "has_open_end",
]

Analyzer = Callable[..., Iterable]

# Length of a snippet, and how much of it goes before the first match.
SNIPPET_CHARS = 100
SNIPPET_LEAD = 30

# Shortest word (in characters, at least two of them Han) that may match with
# one Han character different. Three would let 王德胜 find 王德发: names are
# two or three characters.
APPROX_MIN_CHARS = 4
# A word of more Han characters than this is looked for, approximately, by
# its two halves instead of by each of its characters: one query per
# character, each over the rest of the word, grew with the square of the
# word's length (9 s of CPU for 252 characters).
APPROX_SPAN_MAX_HAN = 10

# An open end (a number typed right after Han characters) of at least this
# many characters is also looked up in the index, as a prefix; shorter ones
# (于20) would expand to too many numbers and are only checked on the text.
OPEN_END_PREFIX_MIN = 6

# Pieces of a unit's regular expression (on folded, lowercased text).
_NONTOK = r"[\W_]"  # neither Han nor a letter/digit: never part of a token
_IN_RUN = r"\s*"  # between two Han characters of one run (OCR spaces)
_BETWEEN_RUNS = rf"{_NONTOK}*(?:[^\w\s]|_){_NONTOK}*"  # two Han runs: not only spaces between
_WORD_CLASS = rf"[^\W_{HAN_CLASS}]"  # a letter/digit (run character)
_HAN = rf"[{HAN_CLASS}]"


@dataclass(frozen=True)
class Unit:
    """Tokens that must occur consecutively in one field.

    ``prefix`` marks a lone Han character: documents index it inside bigrams,
    so it matches any token that starts with it (a unigram or a bigram).
    ``open_end``: the last token is a letter/digit run typed right after Han
    characters, which may be the start of a longer run in the text.
    ``atoms``: the unit as the text holds it, for regular expressions:
    ("han", char), ("run", letters/digits) and ("sep", separator pattern).
    """

    tokens: tuple[str, ...]
    prefix: bool = False
    open_end: bool = False
    atoms: tuple[tuple[str, str], ...] = ()

    @property
    def index_tokens(self) -> tuple[str, ...]:
        """The tokens the index must hold at consecutive positions (an open
        end's last token is checked on the stored text instead)."""
        return self.tokens[:-1] if self.open_end else self.tokens

    @property
    def han_count(self) -> int:
        return sum(1 for kind, _ in self.atoms if kind == "han")

    @property
    def char_count(self) -> int:
        return sum(len(text) for kind, text in self.atoms if kind != "sep")


@dataclass(frozen=True)
class QueryWord:
    """One whitespace-separated word of the query; all its units must match."""

    raw: str
    units: tuple[Unit, ...]


def parse_query(text: str, analyzer: Analyzer) -> list[QueryWord]:
    """Split ``text`` into words and analyze each one; words without any
    searchable token (punctuation only) are dropped."""
    words: list[QueryWord] = []
    for raw in text.split():
        tokens = [(t.text, t.startchar, t.endchar) for t in analyzer(raw, chars=True, mode="query")]
        if tokens:
            words.append(QueryWord(raw=raw, units=_units(tokens)))
    return words


def _is_lone_han(token: str) -> bool:
    return len(token) == 1 and is_han(token)


def _is_bigram(token: str) -> bool:
    return len(token) == 2 and is_han(token[0]) and is_han(token[1])


def _units(tokens: list[tuple[str, int, int]]) -> tuple[Unit, ...]:
    # A lone Han character is a unigram only in the query; in the document
    # the same character may sit inside a longer run, i.e. inside bigrams, so
    # it cannot be part of a phrase. Split the word around it instead.
    groups: list[list[tuple[str, int, int]]] = []
    pending: list[tuple[str, int, int]] = []
    for tok in tokens:
        if _is_lone_han(tok[0]):
            if pending:
                groups.append(pending)
                pending = []
            groups.append([tok])
        else:
            pending.append(tok)
    if pending:
        groups.append(pending)
    units = []
    for group in groups:
        texts = tuple(t for t, _, _ in group)
        if len(group) == 1 and _is_lone_han(texts[0]):
            units.append(Unit(texts, prefix=True, atoms=(("han", texts[0]),)))
            continue
        open_end = len(group) >= 2 and not _is_bigram(texts[-1]) and _is_bigram(texts[-2])
        units.append(Unit(texts, open_end=open_end, atoms=_atoms(group)))
    return tuple(units)


def _atoms(group: list[tuple[str, int, int]]) -> tuple[tuple[str, str], ...]:
    atoms: list[tuple[str, str]] = []
    prev: tuple[str, int, int] | None = None
    for tok in group:
        text, start, _ = tok
        if _is_bigram(text):
            if prev is not None and _is_bigram(prev[0]) and start == prev[2] - 1:
                atoms += [("sep", _IN_RUN), ("han", text[1])]  # the same run goes on
            else:
                if prev is not None:
                    atoms.append(("sep", _BETWEEN_RUNS if _is_bigram(prev[0]) else f"{_NONTOK}*"))
                atoms += [("han", text[0]), ("sep", _IN_RUN), ("han", text[1])]
        else:
            if prev is not None:
                atoms.append(("sep", f"{_NONTOK}*" if _is_bigram(prev[0]) else f"{_NONTOK}+"))
            atoms.append(("run", text))
        prev = tok
    return tuple(atoms)


def _pattern(unit: Unit, wildcard: int | None = None) -> str:
    """The regular expression of a unit; ``wildcard``: the index of a Han
    atom that may be any Han character."""
    parts = []
    atoms = unit.atoms
    for i, (kind, text) in enumerate(atoms):
        if kind == "sep":
            parts.append(text)
        elif kind == "han":
            parts.append(_HAN if i == wildcard else re.escape(text))
        else:
            if i == 0:
                parts.append(f"(?<!{_WORD_CLASS})")  # the text's run starts here
            parts.append(re.escape(text))
            if i == len(atoms) - 1 and not unit.open_end:
                parts.append(f"(?!{_WORD_CLASS})")  # ... and ends here
    return "".join(parts)


@lru_cache(maxsize=512)
def _unit_re(unit: Unit) -> re.Pattern[str]:
    return re.compile(_pattern(unit))


def fold_lower(text: str) -> str:
    """``text`` folded as the analyzer folds it and lowercased, with the
    same length (offsets in it are offsets in ``text``)."""
    folded = fold(text)
    lowered = folded.lower()
    if len(lowered) == len(folded):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in folded)


# -- Whoosh queries -----------------------------------------------------------


def _unit_queries(field_name: str, unit: Unit, boost: float, positions: bool) -> list[wq.Query]:
    if unit.prefix:
        return [wq.Prefix(field_name, unit.tokens[0], boost=boost)]
    tokens = unit.index_tokens
    if positions and len(tokens) > 1:
        parts = [_span_phrase(field_name, tokens, boost)]
    else:
        # The tokens anywhere in the field: a superset of the phrase. Repeated
        # tokens are kept, as Whoosh's phrase scoring counts them.
        parts = [wq.Term(field_name, t, boost=boost) for t in tokens]
    if unit.open_end and len(unit.tokens[-1]) >= OPEN_END_PREFIX_MIN:
        # A long open end is selective (part of an ID number after 身份证号):
        # the page must hold a token starting with it. Scored 0, so the
        # scores stay those of the phrase before it.
        parts.append(_Unscored(wq.Prefix(field_name, unit.tokens[-1])))
    return parts


class _Unscored(wq.WrappingQuery):
    """The pages of ``child``, adding nothing to the score (a filter).
    (Whoosh's ConstantScoreQuery keeps the child's scores whenever the
    search needs the current match, as ranking does.)"""

    def matcher(self, searcher, context=None):  # type: ignore[no-untyped-def]
        m = self.child.matcher(searcher, context)
        return m if not m.is_active() else _UnscoredMatcher(m)


class _UnscoredMatcher(WrappingMatcher):
    def _replacement(self, newchild):  # type: ignore[no-untyped-def]
        return _UnscoredMatcher(newchild)

    def score(self) -> float:
        return 0.0

    def weight(self) -> float:
        return 0.0

    def supports_block_quality(self) -> bool:
        return False


def all_of(parts: Sequence[wq.Query]) -> wq.Query:
    """AND of ``parts`` (see :class:`_AllOf`); one part is itself."""
    return parts[0] if len(parts) == 1 else _AllOf(list(parts))


class _AllOf(wq.And):
    """Whoosh's And, matched by :class:`_AllMatcher`, rarest part first.

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
        m = _AllMatcher(matchers)
        return m if self.boost == 1.0 else WrappingMatcher(m, self.boost)


class _AllMatcher(Matcher):
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

    def copy(self) -> _AllMatcher:
        copied = _AllMatcher.__new__(_AllMatcher)
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


def word_query(word: QueryWord, text_fields: Mapping[str, float], exact_fields: Mapping[str, float] = {},
               *, positions: bool = False) -> wq.Query:
    """One word: in any of ``text_fields`` (all its units' tokens in the same
    field) or exactly as typed in any of ``exact_fields``."""
    alternatives: list[wq.Query] = []
    for field_name, boost in text_fields.items():
        alternatives.append(all_of([q for u in word.units for q in _unit_queries(field_name, u, boost, positions)]))
    for field_name, boost in exact_fields.items():
        alternatives.append(wq.Term(field_name, word.raw, boost=boost))
    # DefaultOr: a tree of union matchers that follows skip_to. Whoosh's
    # automatic choice preloads every alternative on segments of up to 5,000
    # pages, so a common word of a query was read in full however rare the
    # other words were.
    return DefaultOr(alternatives)


def build_query(
    words: Sequence[QueryWord],
    text_fields: Mapping[str, float],
    exact_fields: Mapping[str, float] = {},
    *,
    positions: bool = False,
) -> wq.Query | None:
    """AND of words; each word matches in any of ``text_fields`` (analysed,
    field -> boost) or exactly as typed in any of ``exact_fields`` (ID fields
    such as the household number).

    Each phrase is the AND of its tokens: the query matches every page that
    holds the words and possibly more (:func:`needs_check` says when), and
    Whoosh scores a page as it would score the phrases, without decoding
    positions. ``positions=True`` makes Whoosh check the phrases itself: only
    worth it where few pages are looked at and the phrases are common (a
    total's sample); see the module's docstring. An open end is never in the
    Whoosh query."""
    per_word = [word_query(w, text_fields, exact_fields, positions=positions) for w in words]
    if not per_word:
        return None
    return all_of(per_word)


def has_open_end(words: Sequence[QueryWord]) -> bool:
    """True if a unit ends in a number that may go on in the text."""
    return any(u.open_end for w in words for u in w.units)


def needs_check(words: Sequence[QueryWord]) -> bool:
    """True if pages matched by :func:`build_query` must still be checked on
    their stored text: a unit of several tokens (Whoosh only saw the tokens
    somewhere in the field) or with an open end (Whoosh only saw the tokens
    before it)."""
    return any(len(u.index_tokens) > 1 or u.open_end for w in words for u in w.units)


# -- checking a candidate against its stored fields ---------------------------


def _tokens_start_with(text: str, ch: str) -> bool:
    return any(tok.startswith(ch) for tok, _, _ in raw_tokens(text))


def matches_stored(
    words: Sequence[QueryWord],
    fields: Mapping[str, str],
    text_fields: Iterable[str],
    exact_fields: Mapping[str, str],
) -> bool:
    """Whether a page matches the query, judged from its stored values:
    every word has all its units in one of ``text_fields`` (``fields`` maps
    each of them to its text), or equals the value of an exact field
    (``exact_fields``: field name -> value). A unit matches where the text
    holds it as a substring (Han characters consecutive in one run, a
    letter/digit run whole, an open end as a prefix of a run)."""
    folded: dict[str, str] = {}

    def text_of(name: str) -> str:
        if name not in folded:
            folded[name] = fold_lower(fields.get(name) or "")
        return folded[name]

    def unit_in(name: str, unit: Unit) -> bool:
        if unit.prefix:
            return _tokens_start_with(fields.get(name) or "", unit.tokens[0])
        return _unit_re(unit).search(text_of(name)) is not None

    for word in words:
        if any(word.raw == value for value in exact_fields.values()):
            continue
        if not any(all(unit_in(f, u) for u in word.units) for f in text_fields):
            return False
    return True


# -- approximate matching: one Han character misread ------------------------------


def approx_words(words: Sequence[QueryWord]) -> dict[int, Unit]:
    """Index of each word that may match approximately -> its unit: a word
    of one unit with at least ``APPROX_MIN_CHARS`` characters, two of them
    Han (only a Han character may differ: a number with one digit wrong is
    another number)."""
    out = {}
    for i, word in enumerate(words):
        if len(word.units) != 1:
            continue
        unit = word.units[0]
        if not unit.prefix and unit.han_count >= 2 and unit.char_count >= APPROX_MIN_CHARS:
            out[i] = unit
    return out


def _token_chars(unit: Unit) -> list[set[int]]:
    """For each token of the unit, the indexes of the Han characters in it."""
    token_chars: list[set[int]] = []
    han = -1
    in_run = False
    last_sep = None
    for kind, text in unit.atoms:
        if kind == "sep":
            last_sep = text
            continue
        if kind == "han":
            han += 1
            if in_run and last_sep == _IN_RUN:
                token_chars.append({han - 1, han})
            in_run = True
        else:
            token_chars.append(set())
            in_run = False
        last_sep = None
    return token_chars


@lru_cache(maxsize=512)
def _misreadable(unit: Unit) -> MappingProxyType[int, bool]:
    """Atom index of each Han character that may be the one misread (one
    that Whoosh sees in a token) -> whether it is interior: characters of the
    unit on both sides of it."""
    covered: set[int] = set()
    for chars in _token_chars(unit)[: len(unit.index_tokens)]:
        covered |= chars
    last = len(unit.atoms) - 1
    han_atoms = [i for i, (kind, _) in enumerate(unit.atoms) if kind == "han"]
    return MappingProxyType({atom: 0 < atom < last for h, atom in enumerate(han_atoms) if h in covered})


def _alternatives(unit: Unit) -> list[tuple[tuple[str, ...], tuple[str, ...], int]]:
    """For each Han character of the unit that may be the one misread: (the
    tokens before its bigrams, the tokens after them, the position distance
    from the last token before to the first after). The tokens after stop
    before an open end (Whoosh never sees it)."""
    tokens = unit.index_tokens
    first: dict[int, int] = {}  # Han character -> first and last token holding it
    last: dict[int, int] = {}
    for j, chars in enumerate(_token_chars(unit)[: len(tokens)]):
        for h in sorted(chars):
            first.setdefault(h, j)
            last[h] = j
    return [(tokens[: first[h]], tokens[last[h] + 1 :], last[h] - first[h] + 2) for h in sorted(first)]


class _MaxMatcher(UnionMatcher):
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


class _BestOf(wq.Or):
    """Pages matching any alternative, scored by the best one."""

    def _matcher(self, subs, searcher, context):  # type: ignore[no-untyped-def]
        ms = [m for m in (q.matcher(searcher, context) for q in subs) if m.is_active()]
        if not ms:
            return NullMatcher()
        return make_binary_tree(_MaxMatcher, ms)


class _SpanNear(SpanNear2):
    """Whoosh's SpanNear2, mended and bounded in time: 2.7.4's estimate_size
    raises NameError (``q.And``), and its matcher checks the positions of one
    candidate page after another inside a single ``next()``, so the search's
    time budget is checked there (:func:`search.deadline.check_time`)."""

    def _and_query(self) -> wq.Query:
        return wq.And(self.qs)

    def matcher(self, searcher, context=None):  # type: ignore[no-untyped-def]
        ms = [q.matcher(searcher, context) for q in self.qs]
        return _TimedSpanNearMatcher(ms, slop=self.slop, ordered=self.ordered, mindist=self.mindist)


class _TimedSpanNearMatcher(SpanNear2.SpanNear2Matcher):
    def _get_spans(self):  # type: ignore[no-untyped-def]
        check_time()
        return super()._get_spans()


def _span_phrase(field_name: str, tokens: Sequence[str], boost: float = 1.0) -> wq.Query:
    """The tokens at consecutive positions (what ``wq.Phrase`` matches)."""
    terms = [wq.Term(field_name, t, boost=boost) for t in tokens]
    return terms[0] if len(terms) == 1 else _SpanNear(terms)


def approximate_query(unit: Unit, field_name: str, *, anchored: bool, reader: object = None,
                      max_pages: int | None = None) -> wq.Query | None:
    """Candidates for ``unit`` with one Han character different.

    Such a page holds the tokens before and after that character's one or
    two bigrams, at their distance: for each Han character, a span query of
    the part before it and the part after it (a phrase each). ``anchored``:
    only characters with whole tokens on both sides (at least two characters
    of the word before and after), whose candidates are few and precise;
    otherwise only the others, whose candidates hold one part of the word
    only. Alternatives with more than ``max_pages`` candidates are left out:
    they cost the most and tell the least. The maximum (not the sum) over the
    alternatives ranks the pages.

    A word of more than ``APPROX_SPAN_MAX_HAN`` Han characters is looked for
    by its halves instead (:func:`_halves_query`), in the anchored pass."""
    if unit.han_count > APPROX_SPAN_MAX_HAN:
        return _halves_query(unit, field_name, reader, max_pages) if anchored else None
    alternatives: list[wq.Query] = []
    seen = set()
    for left, right, dist in _alternatives(unit):
        if bool(left and right) != anchored or (left, right) in seen or not (left or right):
            continue
        seen.add((left, right))
        if left and right:
            alt: wq.Query = _SpanNear([_span_phrase(field_name, left), _span_phrase(field_name, right)],
                                      slop=dist, mindist=dist)
        else:
            alt = _span_phrase(field_name, left or right)
        if reader is not None and max_pages is not None and alt.estimate_size(reader) > max_pages:
            continue
        alternatives.append(alt)
    if not alternatives:
        return None
    return alternatives[0] if len(alternatives) == 1 else _BestOf(alternatives)


def _halves_query(unit: Unit, field_name: str, reader: object, max_pages: int | None) -> wq.Query | None:
    """Candidates for a long ``unit`` with one Han character different: the
    pages holding every token of its first half, or of its second half (a
    misread character spoils at most two neighbouring tokens, and the token
    between the halves belongs to neither, so one half is always whole).

    No positions: Whoosh only intersects postings, lazily, so the other words
    of the query narrow it, and the cost is linear in the word's length. The
    stored-text check (:func:`approx_kind`) decides. Pages holding both
    halves score highest. A half with more than ``max_pages`` candidates is
    left out."""
    tokens = unit.index_tokens
    pivot = len(tokens) // 2
    halves = []
    for half in (tokens[:pivot], tokens[pivot + 1 :]):
        if not half:
            continue
        q = all_of([wq.Term(field_name, t) for t in half])
        if reader is not None and max_pages is not None and q.estimate_size(reader) > max_pages:
            continue
        halves.append(q)
    if not halves:
        return None
    return halves[0] if len(halves) == 1 else DefaultOr(halves)


# -- checking a candidate for one character different (linear in the word) -----------


def _walk(lowered: str, pos: int, unit: Unit, misreadable: Mapping[int, bool]) -> tuple[int, int | None] | None:
    """Match ``unit`` at ``lowered[pos:]`` (folded, lowercased text) with at
    most one of the ``misreadable`` Han atoms different: (end of the match,
    the differing atom or None), or None. The unit's regular expression
    (``_pattern``) one atom at a time: its separators never overlap a token
    character, so each is matched greedily and the first difference is the
    only place the wildcard can go."""
    atoms = unit.atoms
    end = len(atoms) - 1
    size = len(lowered)
    differs: int | None = None
    for i, (kind, value) in enumerate(atoms):
        if kind == "sep":
            m = _sep_re(value).match(lowered, pos)
            if m is None:
                return None
            pos = m.end()
        elif kind == "han":
            if pos >= size:
                return None
            ch = lowered[pos]
            if ch != value:
                if differs is not None or i not in misreadable or not is_han(ch):
                    return None
                differs = i
            pos += 1
        else:
            if i == 0 and pos > 0 and _WORD_RE.match(lowered, pos - 1):
                return None  # the text's run must start here
            if not lowered.startswith(value, pos):
                return None
            pos += len(value)
            if i == end and not unit.open_end and _WORD_RE.match(lowered, pos):
                return None  # ... and end here
    return pos, differs


_WORD_RE = re.compile(_WORD_CLASS)


@lru_cache(maxsize=16)
def _sep_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=512)
def _starts_re(unit: Unit) -> re.Pattern[str]:
    """Where a match of ``unit`` with one character different may start: its
    first atom as typed, or (if that character may be the misread one) any
    Han character followed by the unit's next atom as typed."""
    atoms = unit.atoms
    first = _pattern(Unit(unit.tokens, atoms=atoms[:1], open_end=True))
    if atoms[0][0] != "han" or 0 not in _misreadable(unit) or len(atoms) < 3:
        return re.compile(f"(?={first})")
    return re.compile(f"(?={first}|{_HAN}{atoms[1][1]}{re.escape(atoms[2][1])})")


def _one_off(lowered: str, unit: Unit) -> Iterator[tuple[int, int, int | None]]:
    """(start, end, differing atom or None) of every place in ``lowered``
    that holds ``unit`` with at most one Han character different, by start."""
    misreadable = _misreadable(unit)
    if not misreadable:
        return
    for m in _starts_re(unit).finditer(lowered):
        check_time()
        found = _walk(lowered, m.start(), unit, misreadable)
        if found is not None:
            yield m.start(), found[0], found[1]


def approx_kind(text: str, unit: Unit) -> int:
    """2 if ``text`` holds ``unit`` with one Han character different that
    has characters of the unit on both sides (both ends of what was typed
    are on the page), 1 if only with its first or last character different
    (an exact match of a shorter word), 0 if neither. (Text holding the unit
    exactly counts as either.)"""
    misreadable = _misreadable(unit)
    any_interior = any(misreadable.values())
    kind = 0
    for _, _, differs in _one_off(fold_lower(text), unit):
        interior = any_interior if differs is None else misreadable[differs]
        if interior:
            return 2
        kind = 1
    return kind


# -- snippets -------------------------------------------------------------------


def _match_spans(text: str, words: Sequence[QueryWord], approximate: bool = False) -> list[tuple[int, int]]:
    """Char spans in ``text`` where a unit of the query matches, merged
    (with ``approximate``, also where a word matches with one Han character
    different)."""
    lowered = fold_lower(text)
    toks: list[tuple[str, int, int]] | None = None
    spans: list[tuple[int, int]] = []
    for word in words:
        for unit in word.units:
            if unit.prefix:
                if toks is None:
                    toks = raw_tokens(text)
                ch = unit.tokens[0]
                # Only the character itself is marked, not the whole bigram.
                spans.extend((s, s + 1) for tok, s, _ in toks if tok.startswith(ch))
                continue
            spans.extend(m.span() for m in _unit_re(unit).finditer(lowered))
    if approximate:
        for unit in approx_words(words).values():
            after = 0
            for start, end, _ in _one_off(lowered, unit):  # leftmost, not overlapping
                if start >= after:
                    spans.append((start, end))
                    after = end

    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _window(text_len: int, spans: list[tuple[int, int]]) -> tuple[int, int]:
    """The snippet window: around the densest cluster of matches."""
    if not spans:
        return 0, min(text_len, SNIPPET_CHARS)
    starts = [s for s, _ in spans]
    best_i, best_n = 0, 0
    for i, start in enumerate(starts):
        n = bisect_left(starts, start + SNIPPET_CHARS - SNIPPET_LEAD) - i
        if n > best_n:
            best_i, best_n = i, n
    begin = max(0, spans[best_i][0] - SNIPPET_LEAD)
    end = min(text_len, begin + SNIPPET_CHARS)
    begin = max(0, end - SNIPPET_CHARS)
    return begin, end


def _in_word(text: str, i: int) -> bool:
    """True if offset ``i`` falls inside a letter/digit run."""
    return 0 < i < len(text) and is_word_char(fold_char(text[i - 1])) and is_word_char(fold_char(text[i]))


def _snap(text: str, begin: int, end: int) -> tuple[int, int]:
    # Never show part of a letter/digit run at the edges: a cut-off ID number
    # would slip past the caller's ID masking, which looks for whole numbers.
    while _in_word(text, begin) and begin < end:
        begin += 1
    while _in_word(text, end) and end > begin:
        end -= 1
    return begin, end


_SPACE_RUN = re.compile(r"\s+")


def highlight_fragments(
    text: str, words: Sequence[QueryWord], analyzer: Analyzer | None = None, *, approximate: bool = False
) -> list[tuple[str, bool]]:
    """A snippet of about 100 characters as (segment, is_match) pairs, around
    the best match; the start of the text when nothing in it matches.
    ``approximate`` also marks words matched with one character different.
    (``analyzer`` is not needed any more: matches are found on the text.)"""
    spans = _match_spans(text, words, approximate)
    begin, end = _snap(text, *_window(len(text), spans))
    out: list[tuple[str, bool]] = []
    cursor = begin
    for start, end_ in spans:
        start, end_ = max(start, begin), min(end_, end)
        if start >= end_:
            continue
        if start > cursor:
            out.append((text[cursor:start], False))
        out.append((text[start:end_], True))
        cursor = end_
    if cursor < end:
        out.append((text[cursor:end], False))
    # OCR line breaks and runs of spaces read badly in a one-line snippet.
    cleaned = [(_SPACE_RUN.sub(" ", seg), matched) for seg, matched in out]
    return [(seg, matched) for seg, matched in cleaned if seg]
