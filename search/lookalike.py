"""A word with one Han character different: what OCR makes of a look-alike
character (因 read as 固, 已 as 己).

A word of at least ``APPROX_MIN_CHARS`` characters, two of them Han, may
match approximately. :func:`approximate_query` finds candidate pages in
Whoosh, :func:`approx_kind` checks a candidate's text, and :func:`one_off`
finds the places a snippet marks. Their work grows linearly with the length
of the word (one query per character over the rest of the word, and an
alternation of one regular expression per character, grew with its square).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType

from whoosh import query as wq
from whoosh.query.compound import DefaultOr

from search.analysis import is_han
from search.deadline import check_time
from search.matchers import BestOf, SpanNear, all_of, span_phrase
from search.query import HAN, IN_RUN, WORD_CLASS, QueryWord, Unit, fold_lower, unit_pattern

__all__ = ["APPROX_MIN_CHARS", "ASKED_MIN_CHARS", "approx_words", "approximate_query", "approx_kind", "one_off", "token_chars"]

# Shortest word (in characters, at least two of them Han) that may match with
# one Han character different. Three would let 王德胜 find 王德发: names are
# two or three characters.
APPROX_MIN_CHARS = 4
# The same when the reader asked for close matches (a search that found
# nothing suggests it): a name of three characters may then be 王德发 for 王德胜.
ASKED_MIN_CHARS = 3
# A word of more Han characters than this is looked for, approximately, by
# its two halves instead of by each of its characters: one query per
# character, each over the rest of the word, grew with the square of the
# word's length (9 s of CPU for 252 characters).
APPROX_SPAN_MAX_HAN = 10


def approx_words(words: Sequence[QueryWord], min_chars: int = APPROX_MIN_CHARS) -> dict[int, Unit]:
    """Index of each word that may match approximately -> its unit: a word
    of one unit with at least ``min_chars`` characters, two of them Han
    (only a Han character may differ: a number with one digit wrong is
    another number). ``min_chars`` is ``APPROX_MIN_CHARS`` when look-alikes
    fill up a search unasked, ``ASKED_MIN_CHARS`` when the reader asked for
    close matches (a three-character name then may differ in one)."""
    out = {}
    for i, word in enumerate(words):
        if len(word.units) != 1:
            continue
        unit = word.units[0]
        if not unit.prefix and unit.han_count >= 2 and unit.char_count >= min_chars:
            out[i] = unit
    return out


def token_chars(unit: Unit) -> list[set[int]]:
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
            if in_run and last_sep == IN_RUN:
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
    for chars in token_chars(unit)[: len(unit.index_tokens)]:
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
    for j, chars in enumerate(token_chars(unit)[: len(tokens)]):
        for h in sorted(chars):
            first.setdefault(h, j)
            last[h] = j
    return [(tokens[: first[h]], tokens[last[h] + 1 :], last[h] - first[h] + 2) for h in sorted(first)]


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
            alt: wq.Query = SpanNear([span_phrase(field_name, left), span_phrase(field_name, right)],
                                      slop=dist, mindist=dist)
        else:
            alt = span_phrase(field_name, left or right)
        if reader is not None and max_pages is not None and alt.estimate_size(reader) > max_pages:
            continue
        alternatives.append(alt)
    if not alternatives:
        return None
    return alternatives[0] if len(alternatives) == 1 else BestOf(alternatives)


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
    (``unit_pattern``) one atom at a time: its separators never overlap a token
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


_WORD_RE = re.compile(WORD_CLASS)


@lru_cache(maxsize=16)
def _sep_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=512)
def _starts_re(unit: Unit) -> re.Pattern[str]:
    """Where a match of ``unit`` with one character different may start: its
    first atom as typed, or (if that character may be the misread one) any
    Han character followed by the unit's next atom as typed."""
    atoms = unit.atoms
    first = unit_pattern(Unit(unit.tokens, atoms=atoms[:1], open_end=True))
    if atoms[0][0] != "han" or 0 not in _misreadable(unit) or len(atoms) < 3:
        return re.compile(f"(?={first})")
    return re.compile(f"(?={first}|{HAN}{atoms[1][1]}{re.escape(atoms[2][1])})")


def one_off(lowered: str, unit: Unit) -> Iterator[tuple[int, int, int | None]]:
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
    for _, _, differs in one_off(fold_lower(text), unit):
        interior = any_interior if differs is None else misreadable[differs]
        if interior:
            return 2
        kind = 1
    return kind
