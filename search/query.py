"""Turning a user's query string into a Whoosh query, and marking its matches.

A query string is split on whitespace into words; every word must match
(AND), each in any one of the searched fields (OR). Inside a word the tokens
of the analyzer must be consecutive, so 王德胜 is the phrase 王德 德胜 and the
household number 220381105012-0042 is the phrase 220381105012 0042 (it never
matches -0043). The same parsed words drive highlighting, so the snippet marks
exactly what made the page match.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from whoosh import query as wq

from search.analysis import fold_char, is_han, is_word_char

__all__ = ["Unit", "QueryWord", "parse_query", "build_query", "highlight_fragments"]

Analyzer = Callable[..., Iterable]

# Length of a snippet, and how much of it goes before the first match.
SNIPPET_CHARS = 100
SNIPPET_LEAD = 30


@dataclass(frozen=True)
class Unit:
    """Tokens that must occur consecutively in one field.

    ``prefix`` marks a lone Han character: documents index it inside bigrams,
    so it matches any token that starts with it (a unigram or a bigram).
    """

    tokens: tuple[str, ...]
    prefix: bool = False


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
        tokens = [t.text for t in analyzer(raw, mode="query")]
        if tokens:
            words.append(QueryWord(raw=raw, units=_units(tokens)))
    return words


def _is_lone_han(token: str) -> bool:
    return len(token) == 1 and is_han(token)


def _units(tokens: list[str]) -> tuple[Unit, ...]:
    if not any(_is_lone_han(t) for t in tokens):
        return (Unit(tuple(tokens)),)
    # A lone Han character is a unigram only in the query; in the document
    # the same character may sit inside a longer run, i.e. inside bigrams, so
    # it cannot be part of a phrase. Split the word around it instead.
    units: list[Unit] = []
    pending: list[str] = []
    for t in tokens:
        if _is_lone_han(t):
            if pending:
                units.append(Unit(tuple(pending)))
                pending = []
            units.append(Unit((t,), prefix=True))
        else:
            pending.append(t)
    if pending:
        units.append(Unit(tuple(pending)))
    return tuple(units)


def _unit_query(field: str, unit: Unit, boost: float) -> wq.Query:
    if unit.prefix:
        return wq.Prefix(field, unit.tokens[0], boost=boost)
    if len(unit.tokens) == 1:
        return wq.Term(field, unit.tokens[0], boost=boost)
    return wq.Phrase(field, list(unit.tokens), boost=boost)


def build_query(
    words: Sequence[QueryWord],
    text_fields: Mapping[str, float],
    exact_fields: Mapping[str, float] = {},
) -> wq.Query | None:
    """AND of words; each word matches in any of ``text_fields`` (analysed,
    field -> boost) or exactly as typed in any of ``exact_fields`` (ID fields
    such as the household number)."""
    per_word: list[wq.Query] = []
    for word in words:
        alternatives: list[wq.Query] = []
        for field, boost in text_fields.items():
            parts = [_unit_query(field, u, boost) for u in word.units]
            alternatives.append(parts[0] if len(parts) == 1 else wq.And(parts))
        for field, boost in exact_fields.items():
            alternatives.append(wq.Term(field, word.raw, boost=boost))
        per_word.append(wq.Or(alternatives))
    if not per_word:
        return None
    return per_word[0] if len(per_word) == 1 else wq.And(per_word)


def _match_spans(text: str, words: Sequence[QueryWord], analyzer: Analyzer) -> list[tuple[int, int]]:
    """Char spans in ``text`` where a unit of the query matches, merged."""
    # Copy out of the re-used Token object; positions are consecutive, so the
    # list index doubles as the token position.
    toks = [(t.text, t.startchar, t.endchar) for t in analyzer(text, chars=True, mode="index")]
    where: dict[str, list[int]] = defaultdict(list)
    for i, (tok, _, _) in enumerate(toks):
        where[tok].append(i)

    spans: list[tuple[int, int]] = []
    for word in words:
        for unit in word.units:
            if unit.prefix:
                ch = unit.tokens[0]
                # Only the character itself is marked, not the whole bigram.
                spans.extend((s, s + 1) for tok, s, _ in toks if tok.startswith(ch))
                continue
            k = len(unit.tokens)
            for i in where.get(unit.tokens[0], ()):
                if tuple(tok for tok, _, _ in toks[i : i + k]) == unit.tokens:
                    spans.append((toks[i][1], toks[i + k - 1][2]))

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
    text: str, words: Sequence[QueryWord], analyzer: Analyzer
) -> list[tuple[str, bool]]:
    """A snippet of about 100 characters as (segment, is_match) pairs, around
    the best match; the start of the text when nothing in it matches."""
    spans = _match_spans(text, words, analyzer)
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
