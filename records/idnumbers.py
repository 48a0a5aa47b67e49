"""Resident ID numbers (公民身份号码, GB 11643-1999): check, find and mask.

ID numbers are sensitive personal information: they are stored sealed, looked
up through a blind index, and shown masked (``2203**********1234``).

An ID number is 18 characters: a 6-digit region code, the birth date
(YYYYMMDD), a 3-digit sequence and a check character (0-9 or X, ISO 7064
MOD 11-2). :func:`id_number_spans` is the one reading of "an ID number as it
appears in text", used to mask text (:func:`mask_in_text`), to cover page
images (``ingest.redaction``) and to check fields (``ingest.ocr.fields``).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # ISO 7064 MOD 11-2: remainder -> check character
ID_LENGTH = 18
_ID_CHARS = frozenset("0123456789X")
_SPACES = frozenset(" \t")
_RUN = re.compile(r"[0-9X]{18,}")
_BIRTH = 6  # the birth date is characters 7-14 (0-based 6..13)
_CENTURIES = frozenset(("19", "20"))  # birth years 1900-2099
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MMDD = frozenset(f"{m:02d}{d:02d}" for m in range(1, 13) for d in range(1, _MONTH_DAYS[m - 1] + 1))
_INVERSE = {w: pow(w, -1, 11) for w in set(_WEIGHTS)}  # to solve for one misread digit
# GB/T 2260 province codes (the first two digits), 83 for residents of Taiwan, 9x for
# foreigners' permanent-residence cards
_PROVINCES = frozenset(
    f"{code}" for code in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42,
                           43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
                           83, *range(90, 100)))

VALID = "valid"  # right check digit
MISREAD = "misread"  # wrong check digit: a digit misread (or not a number of this kind at all)


def normalise(value: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).upper()


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def is_valid(value: str) -> bool:
    v = normalise(value)
    if not re.fullmatch(r"[1-9][0-9]{16}[0-9X]", v):
        return False
    return check_digit(v[:17]) == v[17]


def plausible_birth_date(yyyymmdd: str) -> bool:
    """A calendar date from 1900 to 2099 (``19840217``), as characters 7-14 of an ID number."""
    if len(yyyymmdd) != 8 or not yyyymmdd.isdigit() or yyyymmdd[:2] not in _CENTURIES:
        return False
    mmdd = yyyymmdd[4:]
    if mmdd not in _MMDD:
        return False
    if mmdd == "0229":
        year = int(yyyymmdd[:4])
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


MASK_KEEP = 4  # characters left readable at each end; page images cover the same digits


def mask(value: str) -> str:
    """``220381198001011234`` -> ``2203**********1234``."""
    v = normalise(value)
    if len(v) <= 2 * MASK_KEEP:
        return "*" * len(v)
    return v[:MASK_KEEP] + "*" * (len(v) - 2 * MASK_KEEP) + v[-MASK_KEEP:]


# -- finding ID numbers in text ------------------------------------------------------------
@dataclass(frozen=True)
class _Found:
    start: int  # index of the first character in the cleaned text
    kind: str  # VALID or MISREAD


def _clean(text: str) -> tuple[str, list[int]]:
    """``text`` as OCR'd ID characters read: NFKC, ``x`` as ``X``, without the spaces or
    tabs between two ID characters; and, for each kept character, its index in ``text``.

    Tesseract splits long digit runs into words, and snippets join OCR lines
    with a space, so a number may come with spaces inside (``110105 19491231 002X``).
    """
    norm = []
    for char in text:
        if char < "\x80":
            norm.append("X" if char == "x" else char)
        else:
            n = unicodedata.normalize("NFKC", char)
            # a ligature or the like (more than one character) breaks a number
            norm.append(("X" if n in "xX" else n) if len(n) == 1 else "\0")
    # before_id[i]: the first character from i on that is not a space or tab is an ID character
    before_id = [False] * (len(norm) + 1)
    following = False
    for i in range(len(norm) - 1, -1, -1):
        if norm[i] not in _SPACES:
            following = norm[i] in _ID_CHARS
        before_id[i] = following
    kept: list[str] = []
    where: list[int] = []
    for i, char in enumerate(norm):
        if char in _SPACES and kept and kept[-1] in _ID_CHARS and before_id[i]:
            continue
        kept.append(char)
        where.append(i)
    return "".join(kept), where


def _misread_date_digit(window: str) -> bool:
    """Does changing one birth-date digit to the value the check character asks for give a
    plausible date? (OCR misread that digit, which broke both the date and the check.)"""
    digits = [ord(c) - 48 for c in window[:17]]
    want = _CHECK.index(window[17])
    off = (want - sum(d * w for d, w in zip(digits, _WEIGHTS))) % 11
    birth = window[_BIRTH:_BIRTH + 8]
    for k in range(8):
        i = _BIRTH + k
        digit = (digits[i] + off * _INVERSE[_WEIGHTS[i]]) % 11
        if digit < 10 and digit != digits[i] and plausible_birth_date(
                birth[:k] + chr(48 + digit) + birth[k + 1:]):
            return True
    return False


def _windows(cleaned: str) -> list[_Found]:
    """Every 18-character window of ``cleaned`` that reads as an ID number, in text order.

    A run of exactly 18 ID characters counts whatever its digits (when unsure,
    mask). Inside a longer run (a date, a phone number or another ID number
    joined to it), a window counts when its birth date is plausible, or when
    one date digit misread explains both a broken date and a wrong check
    character (its province code intact). A right check digit alone does not
    decide there: one window in eleven of any digits has one, while every
    correctly read ID number has a birth date. A window starts with 1-9
    (region codes do) and has X only last.
    """
    found = []
    for run in _RUN.finditer(cleaned):
        begin, end = run.span()
        alone = end - begin == ID_LENGTH
        has_x = "X" in run.group()
        for start in range(begin, end - ID_LENGTH + 1):
            window = cleaned[start:start + ID_LENGTH]
            if window[0] in "0X" or (has_x and "X" in window[:17]):
                continue
            if alone or plausible_birth_date(window[_BIRTH:_BIRTH + 8]):
                right = check_digit(window[:17]) == window[17]
                found.append(_Found(start, VALID if right else MISREAD))
            elif (window[:2] in _PROVINCES and check_digit(window[:17]) != window[17]
                  and _misread_date_digit(window)):
                found.append(_Found(start, MISREAD))
    return found


def id_number_spans(text: str) -> list[list[int]]:
    """For each 18-character window of ``text`` that reads as an ID number, the indices of
    its characters in ``text``, in text order.

    Full-width digits count (NFKC), and so do spaces or tabs between the
    characters. Windows may overlap where the digits allow more than one
    reading (an ID number with a date or phone number joined to it): callers
    that hide characters hide those of every window.
    """
    if len(text) < ID_LENGTH:
        return []
    cleaned, where = _clean(text)
    return [where[f.start:f.start + ID_LENGTH] for f in _windows(cleaned)]


def id_numbers_in(text: str) -> list[str]:
    """The ID numbers read in ``text``, normalised (ASCII, no spaces, upper case), in order.

    The same windows as :func:`id_number_spans`; where windows overlap, only
    the likeliest reading is given (a right check digit first, then the
    earliest), so that a date joined to a number does not count as a second,
    misread number.
    """
    if len(text) < ID_LENGTH:
        return []
    cleaned, _ = _clean(text)
    chosen: list[_Found] = []
    for f in sorted(_windows(cleaned), key=lambda f: (f.kind != VALID, f.start)):
        if all(abs(f.start - c.start) >= ID_LENGTH for c in chosen):
            chosen.append(f)
    return [cleaned[f.start:f.start + ID_LENGTH] for f in sorted(chosen, key=lambda f: f.start)]


def _replacements(text: str) -> list[tuple[int, int, str]]:
    """Where ``text`` must change to mask its ID numbers: (start, end, masked form), in order.

    Overlapping readings are merged into one stretch whose hidden characters
    are those of every reading, so a number with digits joined to it never
    shows whole.
    """
    if len(text) < ID_LENGTH:
        return []
    cleaned, where = _clean(text)
    hidden: set[int] = set()
    clusters: list[list[int]] = []  # [first, end) in cleaned, overlapping windows merged
    for f in _windows(cleaned):
        hidden.update(range(f.start + MASK_KEEP, f.start + ID_LENGTH - MASK_KEEP))
        if clusters and f.start < clusters[-1][1]:
            clusters[-1][1] = f.start + ID_LENGTH
        else:
            clusters.append([f.start, f.start + ID_LENGTH])
    return [(where[first], where[last - 1] + 1,
             "".join("*" if i in hidden else cleaned[i] for i in range(first, last)))
            for first, last in clusters]


def mask_in_text(text: str) -> str:
    """Mask every ID number in free text (titles, page text, exports, the audit log).

    Each number comes out as ``2203**********1234`` (ASCII, its inner spaces
    dropped), wherever it stands: alone, or with a date, a phone number or
    another ID number joined to it.
    """
    out, end = [], 0
    for start, stop, masked in _replacements(text):
        out += [text[end:start], masked]
        end = stop
    return "".join(out) + text[end:] if out else text


Piece = TypeVar("Piece")


def mask_in_pieces(pieces: Sequence[tuple[str, Piece]]) -> list[tuple[str, Piece]]:
    """:func:`mask_in_text` for text cut into tagged pieces (a search snippet's plain and
    highlighted parts): the pieces are read joined, so a number that a highlight cuts
    in two (``220381 [19840217] 6941``) is found whole.

    Each masked number goes into the piece where it starts; pieces left empty are dropped.
    """
    joined = "".join(text for text, _ in pieces)
    plan = _replacements(joined)
    if not plan:
        return list(pieces)
    out, begin = [], 0
    for text, tag in pieces:
        end, parts, at = begin + len(text), [], begin
        for start, stop, masked in plan:
            if stop <= begin or start >= end:
                continue
            if start >= begin:
                parts += [joined[at:start], masked]
            at = max(at, min(stop, end))
        parts.append(joined[at:end])
        if "".join(parts):
            out.append(("".join(parts), tag))
        begin = end
    return out
