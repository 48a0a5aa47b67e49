"""Resident ID numbers (公民身份号码, GB 11643-1999): check and mask.

ID numbers are sensitive personal information: they are stored sealed, looked
up through a blind index, and shown masked (``2203**********1234``).
"""
from __future__ import annotations

import re
import unicodedata

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # ISO 7064 MOD 11-2: remainder -> check character
ID_PATTERN = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9Xx])")
_ID_CHARS = frozenset("0123456789Xx")


def normalise(value: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).upper()


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


def id_number_spans(text: str) -> list[list[int]]:
    """For each ID-number-shaped run in ``text``, the indices of its 18 characters.

    The one reading of "an ID number as OCR writes it", used to mask text
    (``mask_in_text``), to cover page images (``ingest.redaction``) and to
    check fields (``ingest.ocr.fields``): full-width digits count (NFKC), and
    so do spaces or tabs between its characters (Tesseract splits long digit
    runs into words).
    """
    kept: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        norm = unicodedata.normalize("NFKC", char)
        norm = norm if len(norm) == 1 else "\0"  # a ligature or the like breaks a number
        if norm in " \t" and kept and kept[-1] in _ID_CHARS and _next_is_id_char(text, i):
            continue
        kept.append(norm)
        where.append(i)
    cleaned = "".join(kept)
    return [where[m.start():m.end()] for m in ID_PATTERN.finditer(cleaned)]


def _next_is_id_char(text: str, i: int) -> bool:
    rest = text[i:].lstrip(" \t")
    return bool(rest) and unicodedata.normalize("NFKC", rest[0]) in _ID_CHARS


def id_numbers_in(text: str) -> list[str]:
    """The ID-number-shaped runs of ``text``, normalised (ASCII, no spaces, upper case)."""
    return [normalise("".join(unicodedata.normalize("NFKC", text[i]) for i in span))
            for span in id_number_spans(text)]


def mask_in_text(text: str) -> str:
    """Mask every ID-number-shaped run in free text (snippets, titles, exports).

    OCR text also carries numbers with spaces inside or in full-width digits;
    those are masked too (and come out in the usual ``2203**********1234``).
    """
    out, end = [], 0
    for span, value in zip(id_number_spans(text), id_numbers_in(text)):
        out.append(text[end:span[0]])
        out.append(mask(value))
        end = span[-1] + 1
    out.append(text[end:])
    return "".join(out)
