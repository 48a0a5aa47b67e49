"""Text clean-up shared by OCR engines.

Spacing rule (``remove_han_spaces``): a run of spaces or tabs is removed when
the character on either side of it is CJK (Han ideograph, kana, CJK symbol or
punctuation, full-width form). Spaces between two non-CJK characters are kept.
So ``申 请 人 王 德 胜`` becomes ``申请人王德胜``, ``户 号 220381`` becomes
``户号220381`` and ``ID 220381 No. 5`` keeps its spaces.

Why also between Han and digits/Latin: Tesseract emits a word break at every
script change whether or not the paper had a gap, and Chinese typesetting
normally sets ``户号220381`` solid, so the removal is right far more often
than wrong and keeps numbers searchable together with their label.
Hangul is deliberately not treated as CJK here because Korean uses spaces.
"""
from __future__ import annotations

import re

_CJK_RANGES = (
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3000-\u303f"  # CJK symbols and punctuation (。、「」 ideographic space)
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u312f"  # bopomofo
    "\u31c0-\u31ef"  # CJK strokes
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms (vertical punctuation)
    "\uff00-\uffef"  # full-width and half-width forms (，：（）１２)
    "\U00020000-\U0003134f"  # CJK extensions B..G
)
_CJK = f"[{_CJK_RANGES}]"
_SPACES_NEXT_TO_CJK = re.compile(rf"(?<={_CJK})[ \t]+|[ \t]+(?={_CJK})")


def is_cjk(char: str) -> bool:
    """True for characters around which OCR word spaces are dropped."""
    return re.fullmatch(_CJK, char) is not None


def remove_han_spaces(text: str) -> str:
    """Drop the spaces OCR engines put next to CJK characters (see module doc)."""
    return _SPACES_NEXT_TO_CJK.sub("", text)


def join_words(words: list[str]) -> str:
    """Join OCR words of one line into the line text with the spacing rule applied."""
    return remove_han_spaces(" ".join(w for w in words if w))
