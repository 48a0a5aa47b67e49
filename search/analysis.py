"""Text analysis for Chinese dossier pages.

Whoosh's standard analyzer keeps a whole run of Han characters as one token,
which makes Chinese unsearchable, and dictionary segmenters (jieba) lose short
names inside longer ones (王德 in 王德胜). Overlapping character bigrams have no
dictionary and find every substring of two or more characters, so:

* a run of Han characters becomes overlapping bigrams (王德胜 -> 王德, 德胜);
  a lone Han character becomes a unigram;
* a run of letters/digits becomes ONE lowercased token, because bigrams over
  digits turn an 18-digit ID number into 17 very common pairs (measured:
  1.3 s per lookup on 100k pages);
* punctuation and whitespace are dropped.

Positions are consecutive across both kinds of token, so a phrase query over
consecutive bigrams (or a household number's two digit runs) works, and char
offsets point at the original text so highlights land on the right characters.

OCR sometimes puts spaces between Han characters (低 保 申 请). Whitespace
between two Han characters does not end the run, so that text still yields
the bigram 低保 (its char span then covers the space).

The schema pickles these classes by module path, so renaming or moving them
makes existing indexes unreadable: rebuild the index after doing that.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from whoosh.analysis import CompositeAnalyzer, Token, Tokenizer

__all__ = ["ChineseAnalyzer", "HanBigramTokenizer", "fold_char", "is_han", "is_word_char"]


def is_han(ch: str) -> bool:
    """True for a Han ideograph: CJK Unified (incl. Ext A and the supplementary
    planes, where rare characters of personal names live) and compatibility."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF  # CJK Unified Ideographs
        or 0x3400 <= cp <= 0x4DBF  # Extension A
        or 0xF900 <= cp <= 0xFAFF  # Compatibility Ideographs
        or 0x20000 <= cp <= 0x323AF  # Extensions B-H and Compatibility Supplement
        or cp == 0x3007  # 〇, written as a digit in Chinese dates (二〇二三年)
    )


@lru_cache(maxsize=4096)
def _fold_non_ascii(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    # Only one-to-one foldings are applied so that char offsets stay valid.
    return folded if len(folded) == 1 else ch


def fold_char(ch: str) -> str:
    """Fold one character for matching: full-width letters/digits (common in
    Chinese forms and OCR output) become ASCII, compatibility ideographs become
    their unified form; everything keeps its length of one character."""
    if ch < "\x80":
        return ch
    return _fold_non_ascii(ch)


def is_word_char(ch: str) -> bool:
    """True for a character of a letter/digit run (pass it folded)."""
    # Letters and digits outside the Han ranges (ASCII after folding, but also
    # e.g. kana) form whole-run tokens.
    return ch.isalnum() and not is_han(ch)


class HanBigramTokenizer(Tokenizer):
    """Han runs -> overlapping bigrams; letter/digit runs -> one lowercased token.

    Behaves the same in ``mode="index"`` and ``mode="query"`` and fills in
    ``pos``/``startchar``/``endchar`` when asked, as Whoosh's indexing and
    highlighting require. Like Whoosh's own tokenizers it re-uses one Token
    object, so callers that keep tokens must copy them.
    """

    def __call__(  # type: ignore[override]
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        assert isinstance(value, str), f"{type(value)!r} is not str"
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)

        if not tokenize:
            # Whoosh asks for the whole value as a single token in this case.
            t.original = t.text = value
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar = start_char
                t.endchar = start_char + len(value)
            yield t
            return

        pos = start_pos
        for text, start, end in _raw_tokens(value):
            t.text = text
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = value[start:end]
            if positions:
                t.pos = pos
            if chars:
                t.startchar = start_char + start
                t.endchar = start_char + end
            pos += 1
            yield t


def _raw_tokens(value: str) -> Iterator[tuple[str, int, int]]:
    """Yield (token text, start offset, end offset) in text order."""
    n = len(value)
    i = 0
    while i < n:
        ch = fold_char(value[i])
        if is_han(ch):
            run, i = _han_run(value, i)
            if len(run) == 1:
                c, at = run[0]
                yield c, at, at + 1
            else:
                for (c1, at1), (c2, at2) in zip(run, run[1:]):
                    yield c1 + c2, at1, at2 + 1
        elif is_word_char(ch):
            start = i
            chunk = [ch]
            i += 1
            while i < n:
                ch = fold_char(value[i])
                if not is_word_char(ch):
                    break
                chunk.append(ch)
                i += 1
            yield "".join(chunk).lower(), start, i
        else:
            i += 1


def _han_run(value: str, i: int) -> tuple[list[tuple[str, int]], int]:
    """Collect the Han run starting at ``i`` as (folded char, offset) pairs,
    bridging whitespace between Han characters. Returns the run and the offset
    just past its last Han character."""
    n = len(value)
    run = [(fold_char(value[i]), i)]
    j = i + 1
    while j < n:
        ch = fold_char(value[j])
        if is_han(ch):
            run.append((ch, j))
            j += 1
        elif ch.isspace():
            k = j + 1
            while k < n and value[k].isspace():
                k += 1
            if k < n and is_han(fold_char(value[k])):
                j = k
            else:
                break
        else:
            break
    return run, run[-1][1] + 1


def ChineseAnalyzer() -> CompositeAnalyzer:
    """The analyzer used for every searchable text field of the index."""
    # Lowercasing happens inside the tokenizer, so no filters are needed;
    # wrapping it keeps the usual Analyzer interface (composition, equality).
    return CompositeAnalyzer(HanBigramTokenizer())
