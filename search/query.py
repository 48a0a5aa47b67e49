"""Turning a user's query string into a Whoosh query, and marking its matches.

A query string is split on whitespace into words; every word must match
(AND), each in any one of the searched fields (OR). Inside a word the tokens
of the analyzer must be consecutive, so 王德胜 is the phrase 王德 德胜 and the
household number 220381105012-0042 is the phrase 220381105012 0042 (it never
matches -0043). A number typed right after Han characters at the end of a
word may be the start of a longer number in the text: 于20 matches 于2015年
(``Unit.open_end``). The same parsed words drive highlighting, so the snippet
marks exactly what made the page match.

Each unit also compiles to a regular expression over the folded text
(:func:`search.analysis.fold`), which says whether a stored text holds it as a
substring (``matches_stored``): broad queries are ranked by Whoosh with their
phrases loosened to an AND of tokens (``build_query(..., loose=True)``), and
only the top candidates are then checked this way. A word of four or more
characters may also match approximately, with one Han character different
(an OCR look-alike): :func:`approximate_query` finds candidates,
:func:`approx_matches` checks them.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from whoosh import query as wq
from whoosh.matching import NullMatcher, UnionMatcher
from whoosh.query.spans import SpanNear2
from whoosh.util import make_binary_tree

from search.analysis import HAN_CLASS, fold, fold_char, is_han, is_word_char, raw_tokens

__all__ = [
    "Unit",
    "QueryWord",
    "parse_query",
    "build_query",
    "word_query",
    "highlight_fragments",
    "fold_lower",
    "matches_stored",
    "needs_check",
    "approx_words",
    "approximate_query",
    "approx_matches",
    "approx_kind",
]

Analyzer = Callable[..., Iterable]

# Length of a snippet, and how much of it goes before the first match.
SNIPPET_CHARS = 100
SNIPPET_LEAD = 30

# Shortest word (in characters, at least two of them Han) that may match with
# one Han character different. Three would let 王德胜 find 王德发: names are
# two or three characters.
APPROX_MIN_CHARS = 4

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


def _alternatives(unit: Unit) -> list[tuple[int, tuple[str, ...], tuple[str, ...], int]]:
    """For each Han character of the unit that may be the one misread:
    (its atom index, the tokens before its bigrams, the tokens after them,
    the position distance from the last token before to the first after).
    The tokens after stop before an open end (Whoosh never sees it)."""
    tokens = unit.index_tokens
    token_chars = _token_chars(unit)[: len(tokens)]
    han_atoms = [i for i, (kind, _) in enumerate(unit.atoms) if kind == "han"]
    out = []
    for h, atom in enumerate(han_atoms):
        hit = [j for j, chars in enumerate(token_chars) if h in chars]
        if not hit:
            continue
        out.append((atom, tokens[: hit[0]], tokens[hit[-1] + 1 :], hit[-1] - hit[0] + 2))
    return out


@lru_cache(maxsize=512)
def _approx_re(unit: Unit, interior: bool | None = None) -> re.Pattern[str]:
    """One Han character may differ: any (``interior`` None), only one with
    characters of the unit on both sides (True), or only its first or last
    (False)."""
    atoms = [atom for atom, _, _, _ in _alternatives(unit)
             if interior is None or (0 < atom < len(unit.atoms) - 1) == interior]
    if not atoms:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile("|".join(f"(?:{_pattern(unit, i)})" for i in atoms))


def fold_lower(text: str) -> str:
    """``text`` folded as the analyzer folds it and lowercased, with the
    same length (offsets in it are offsets in ``text``)."""
    folded = fold(text)
    lowered = folded.lower()
    if len(lowered) == len(folded):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in folded)


# -- Whoosh queries -----------------------------------------------------------


def _unit_queries(field_name: str, unit: Unit, boost: float, loose: bool) -> list[wq.Query]:
    if unit.prefix:
        return [wq.Prefix(field_name, unit.tokens[0], boost=boost)]
    tokens = unit.index_tokens
    if len(tokens) == 1:
        return [wq.Term(field_name, tokens[0], boost=boost)]
    if loose:  # the tokens anywhere in the field: a superset of the phrase
        return [wq.Term(field_name, t, boost=boost) for t in dict.fromkeys(tokens)]
    return [wq.Phrase(field_name, list(tokens), boost=boost)]


def _and(parts: Sequence[wq.Query]) -> wq.Query:
    return parts[0] if len(parts) == 1 else wq.And(list(parts))


def word_query(
    word: QueryWord, text_fields: Mapping[str, float], exact_fields: Mapping[str, float] = {},
    *, loose: bool = False,
) -> wq.Query:
    """One word: in any of ``text_fields`` (all its units in the same field)
    or exactly as typed in any of ``exact_fields``."""
    alternatives: list[wq.Query] = []
    for field_name, boost in text_fields.items():
        alternatives.append(_and([q for u in word.units for q in _unit_queries(field_name, u, boost, loose)]))
    for field_name, boost in exact_fields.items():
        alternatives.append(wq.Term(field_name, word.raw, boost=boost))
    return wq.Or(alternatives)


def build_query(
    words: Sequence[QueryWord],
    text_fields: Mapping[str, float],
    exact_fields: Mapping[str, float] = {},
    *,
    loose: bool = False,
) -> wq.Query | None:
    """AND of words; each word matches in any of ``text_fields`` (analysed,
    field -> boost) or exactly as typed in any of ``exact_fields`` (ID fields
    such as the household number).

    ``loose=True`` replaces every phrase by the AND of its tokens: it matches
    every page the exact query matches and more, and Whoosh scores it without
    decoding positions (broad queries score candidates this way and check
    only the best on their stored text). An open end is never in the Whoosh
    query (see :func:`needs_check`)."""
    per_word = [word_query(w, text_fields, exact_fields, loose=loose) for w in words]
    if not per_word:
        return None
    return _and(per_word)


def needs_check(words: Sequence[QueryWord]) -> bool:
    """True if Whoosh's matches must still be checked on the stored text
    (a unit with an open end: Whoosh only saw the tokens before it)."""
    return any(u.open_end for w in words for u in w.units)


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
    """Whoosh 2.7.4's SpanNear2.estimate_size raises NameError (``q.And``)."""

    def _and_query(self) -> wq.Query:
        return wq.And(self.qs)


def _span_phrase(field_name: str, tokens: Sequence[str]) -> wq.Query:
    terms = [wq.Term(field_name, t) for t in tokens]
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
    only. Alternatives with more than
    ``max_pages`` candidates are left out: they cost the most and tell the
    least. The maximum (not the sum) over the alternatives ranks the pages."""
    alternatives: list[wq.Query] = []
    seen = set()
    for _, left, right, dist in _alternatives(unit):
        if bool(left and right) != anchored or (left, right) in seen or not (left or right):
            continue
        seen.add((left, right))
        if left and right:
            alt: wq.Query = _SpanNear([_span_phrase(field_name, left), _span_phrase(field_name, right)],
                                      slop=dist, mindist=dist)
        else:
            part = left or right
            alt = wq.Term(field_name, part[0]) if len(part) == 1 else wq.Phrase(field_name, list(part))
        if reader is not None and max_pages is not None and alt.estimate_size(reader) > max_pages:
            continue
        alternatives.append(alt)
    if not alternatives:
        return None
    return alternatives[0] if len(alternatives) == 1 else _BestOf(alternatives)


def approx_matches(text: str, unit: Unit, interior: bool | None = None) -> bool:
    """Whether ``text`` holds ``unit`` with at most one Han character
    different (where: see ``_approx_re``)."""
    return _approx_re(unit, interior).search(fold_lower(text)) is not None


def approx_kind(text: str, unit: Unit) -> int:
    """2 if ``text`` holds ``unit`` with one Han character different that
    has characters of the unit on both sides (both ends of what was typed
    are on the page), 1 if only with its first or last character different
    (an exact match of a shorter word), 0 if neither."""
    lowered = fold_lower(text)
    if _approx_re(unit, True).search(lowered):
        return 2
    return 1 if _approx_re(unit, False).search(lowered) else 0


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
            spans.extend(m.span() for m in _approx_re(unit).finditer(lowered))

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
