"""Resident ID numbers (公民身份号码, GB 11643-1999): check and mask.

ID numbers are sensitive personal information: they are stored sealed, looked
up through a blind index, and shown masked (``2203**********1234``).
"""
from __future__ import annotations

import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # ISO 7064 MOD 11-2: remainder -> check character
ID_PATTERN = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9Xx])")
# as OCR writes them: a space between any two characters (Tesseract splits long
# digit runs into words), full-width digits (０-９, Ｘ)
_SPACED_ID = re.compile(r"(?<![0-9０-９])[1-9１-９](?:[ \u3000]?[0-9０-９]){16}[ \u3000]?[0-9０-９XxＸｘ]"
                        r"(?![0-9０-９XxＸｘ])")


_FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")


def normalise(value: str) -> str:
    return re.sub(r"\s+", "", value.translate(_FULL_WIDTH)).upper()


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def is_valid(value: str) -> bool:
    v = normalise(value)
    if not re.fullmatch(r"[1-9][0-9]{16}[0-9X]", v):
        return False
    return check_digit(v[:17]) == v[17]


MASK_KEEP = 4  # characters left readable at each end; page images cover the same digits


def mask(value: str) -> str:
    """``220381198001011234`` -> ``2203**********1234``."""
    v = normalise(value)
    if len(v) <= 2 * MASK_KEEP:
        return "*" * len(v)
    return v[:MASK_KEEP] + "*" * (len(v) - 2 * MASK_KEEP) + v[-MASK_KEEP:]


def mask_in_text(text: str) -> str:
    """Mask every ID-number-shaped run in free text (snippets, titles, exports).

    OCR text also carries numbers with spaces inside or in full-width digits;
    those are masked too (and come out in the usual ``2203**********1234``).
    """
    return _SPACED_ID.sub(lambda m: mask(m.group(0)), text)
