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

Speed: tokenizing is most of the CPU of indexing, so runs are found with one
compiled regular expression over a folded copy of the text (``str.translate``
with a cached table) instead of a Python loop per character, and the index
format :class:`BigramPositions` builds its postings from plain token lists
without Whoosh's per-token ``Token`` objects. The tokens are the same as the
per-character definition above (tests compare the two on random text).

The schema pickles these classes by module path, so renaming or moving them
makes existing indexes unreadable: rebuild the index after doing that.
"""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache

from whoosh.analysis import Token, Tokenizer
from whoosh.analysis.analyzers import CompositeAnalyzer
from whoosh.fields import TEXT
from whoosh.formats import Positions

__all__ = [
    "BigramPositions",
    "ChineseAnalyzer",
    "HanBigramTokenizer",
    "HAN_CLASS",
    "HanText",
    "RUN_RE",
    "fold",
    "fold_char",
    "is_han",
    "is_word_char",
    "raw_tokens",
    "token_texts",
]

# CJK Unified (incl. Ext A and the supplementary planes, where rare characters
# of personal names live), compatibility ideographs, and 〇 (written as a digit
# in Chinese dates: 二〇二三年).
HAN_CLASS = _HAN_RANGES = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"


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


class _FoldTable(dict):
    """``str.translate`` table applying :func:`fold_char`, filled on demand
    (at most one entry per distinct character ever seen)."""

    def __missing__(self, cp: int) -> str:
        folded = fold_char(chr(cp))
        self[cp] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """``text`` with :func:`fold_char` applied to every character (same length)."""
    return text if text.isascii() else text.translate(_FOLD)


def is_word_char(ch: str) -> bool:
    """True for a character of a letter/digit run (pass it folded)."""
    # Letters and digits outside the Han ranges (ASCII after folding, but also
    # e.g. kana) form whole-run tokens.
    return ch.isalnum() and not is_han(ch)


# One match per run, on folded text: group 1 a Han run (whitespace between two
# Han characters does not end it), group 2 a letter/digit run ([^\W_] is
# str.isalnum(); the Han ranges are excluded from it).
RUN_RE = re.compile(rf"([{_HAN_RANGES}](?:\s*[{_HAN_RANGES}])*)|([^\W_{_HAN_RANGES}]+)")
_HAN_RE = re.compile(rf"[{_HAN_RANGES}]")


def raw_tokens(value: str) -> list[tuple[str, int, int]]:
    """(token text, start offset, end offset) in text order."""
    folded = fold(value)
    out: list[tuple[str, int, int]] = []
    add = out.append
    for m in RUN_RE.finditer(folded):
        start, end = m.span()
        if m.group(2) is not None:
            add((m.group(2).lower(), start, end))
            continue
        run = m.group(1)
        if end - start == 1:
            add((run, start, end))
        elif not _has_space(run):
            for i in range(start, end - 1):
                add((folded[i : i + 2], i, i + 2))
        else:
            at = [h.start() for h in _HAN_RE.finditer(folded, start, end)]
            for a, b in zip(at, at[1:]):
                add((folded[a] + folded[b], a, b + 1))
    return out


def token_texts(value: str) -> list[str]:
    """The token texts of :func:`raw_tokens` (positions are list indexes)."""
    folded = fold(value)
    out: list[str] = []
    add = out.append
    extend = out.extend
    for m in RUN_RE.finditer(folded):
        word = m.group(2)
        if word is not None:
            add(word.lower())
            continue
        run = m.group(1)
        n = len(run)
        if n == 1:
            add(run)
        elif not _has_space(run):
            extend([run[i : i + 2] for i in range(n - 1)])
        else:
            chars = _HAN_RE.findall(run)
            extend([a + b for a, b in zip(chars, chars[1:])])
    return out


_SPACE_RE = re.compile(r"\s")


def _has_space(run: str) -> bool:
    return _SPACE_RE.search(run) is not None


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
        for text, start, end in raw_tokens(value):
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


def ChineseAnalyzer() -> CompositeAnalyzer:
    """The analyzer used for every searchable text field of the index."""
    # Lowercasing happens inside the tokenizer, so no filters are needed;
    # wrapping it keeps the usual Analyzer interface (composition, equality).
    return CompositeAnalyzer(HanBigramTokenizer())


def _is_ours(analyzer: object) -> bool:
    items = getattr(analyzer, "items", None)
    return (isinstance(analyzer, CompositeAnalyzer) and len(items) == 1
            and type(items[0]) is HanBigramTokenizer)


class BigramPositions(Positions):
    """Whoosh's ``Positions`` format (positions, no character offsets), filled
    straight from :func:`token_texts` when the field uses our analyzer: the
    same postings as ``Positions`` without a ``Token`` object per token.

    No character offsets: the snippets re-analyse the stored text, and
    offsets in the postings only made phrase checks decode more."""

    def word_values(self, value, analyzer, **kwargs):  # type: ignore[override]
        if not isinstance(value, str) or not _is_ours(analyzer) or kwargs.get("start_pos"):
            yield from super().word_values(value, analyzer, **kwargs)
            return
        poses: defaultdict[str, list[int]] = defaultdict(list)
        for pos, text in enumerate(token_texts(value)):
            poses[text].append(pos)
        fb = self.field_boost
        encode = self.encode
        for w, poslist in poses.items():
            yield (w, len(poslist), len(poslist) * fb, encode(poslist))


class HanText(TEXT):
    """A TEXT field with :class:`ChineseAnalyzer` and :class:`BigramPositions`."""

    def __init__(self, *, stored: bool = False, field_boost: float = 1.0) -> None:
        super().__init__(analyzer=ChineseAnalyzer(), phrase=True, stored=stored, field_boost=field_boost)
        self.format = BigramPositions(field_boost=field_boost)
