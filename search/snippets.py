"""Snippets: about 100 characters of a page around what made it match, as
(text, matched) segments."""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence

from search.analysis import fold_char, is_word_char, raw_tokens
from search.lookalike import approx_words, one_off
from search.query import Analyzer, QueryWord, fold_lower, unit_re

__all__ = ["SNIPPET_CHARS", "SNIPPET_LEAD", "highlight_fragments", "match_spans"]

# Length of a snippet, and how much of it goes before the first match.
SNIPPET_CHARS = 100
SNIPPET_LEAD = 30


def match_spans(text: str, words: Sequence[QueryWord], approximate: bool = False) -> list[tuple[int, int]]:
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
            spans.extend(m.span() for m in unit_re(unit).finditer(lowered))
    if approximate:
        for unit in approx_words(words).values():
            after = 0
            for start, end, _ in one_off(lowered, unit):  # leftmost, not overlapping
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
    spans = match_spans(text, words, approximate)
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
