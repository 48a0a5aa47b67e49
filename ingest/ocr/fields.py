"""Structured fields in OCR text are checked, not trusted.

An 18-digit ID number read from a page counts only when its GB 11643 check
digit is right (``records.idnumbers.is_valid``); a household number only when
it has the catalogue's shape (``records.catalogue.HOUSEHOLD_NUMBER``). A page
that carries its own dossier's household number, or the head's ID number
(compared by blind index: the catalogue never holds it in the clear), is
confirmed and its confidence raised. A page of a type that must identify the
household and does not, a page naming another household, or an ID-shaped
number with a wrong check digit (almost always a misread digit) gets a flag
for an archivist's look.

Nothing here logs or returns the numbers themselves beyond the caller.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from records.catalogue import HOUSEHOLD_NUMBER
from records.idnumbers import id_numbers_in, is_valid

# document types (records.doctypes codes) whose pages identify the household:
# by its number (application, approval form, household register) or by the
# head's ID number (ID card copy, household register)
IDENTIFYING_TYPES = frozenset({"application", "approval_form", "hukou_copy", "id_card_copy"})

CONFIRMED_BONUS = 10.0  # confidence points for a page carrying its own dossier's identifier
INVALID_ID_PENALTY = 20.0  # an ID-shaped number with a wrong check digit: a digit was misread

# flags (Page.flag holds them comma-separated, in this order)
MISSING_IDENTIFIER = "missing_identifier"
FOREIGN_HOUSEHOLD = "foreign_household"
INVALID_ID_NUMBER = "invalid_id_number"
FLAG_ORDER = (MISSING_IDENTIFIER, FOREIGN_HOUSEHOLD, INVALID_ID_NUMBER)

_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−﹣－"})
# OCR splits long digit runs now and then: digits separated by spaces are one run
_SPACED_DIGITS = re.compile(r"(?<=[0-9Xx])[ \t]+(?=[0-9Xx])")
_HOUSEHOLD_SHAPED = re.compile(r"(?<![0-9])[0-9]{12}-[0-9]{4}(?![0-9])")


def _clean(text: str) -> str:
    # NFKC turns full-width digits and letters into ASCII
    return _SPACED_DIGITS.sub("", unicodedata.normalize("NFKC", text).translate(_DASHES))


def id_numbers(text: str) -> tuple[list[str], list[str]]:
    """(valid, invalid) 18-digit ID numbers found in ``text``; invalid = wrong check digit."""
    valid, invalid = [], []
    for value in id_numbers_in(text):
        (valid if is_valid(value) else invalid).append(value)
    return valid, invalid


def household_numbers(text: str) -> list[str]:
    """Household numbers (220381105012-0042) found in ``text``, in order, without repeats."""
    found = [m.group(0) for m in _HOUSEHOLD_SHAPED.finditer(_clean(text))]
    return list(dict.fromkeys(n for n in found if HOUSEHOLD_NUMBER.match(n)))


@dataclass(frozen=True)
class Dossier:
    """What the check needs to know about the page's dossier."""

    household_number: str
    head_id_index: str | None  # blind index of the head's ID number (Household.head_id_index)
    doc_type: str  # records.doctypes code


@dataclass
class FieldCheck:
    confirmed: bool  # the page carries its own household number or the head's ID number
    flags: list[str] = field(default_factory=list)
    valid_ids: int = 0
    invalid_ids: int = 0

    @property
    def flag(self) -> str | None:
        """The value stored in ``Page.flag``: comma-separated flags, or None."""
        return ",".join(f for f in FLAG_ORDER if f in self.flags) or None

    def adjust(self, confidence: float | None) -> float | None:
        """The engine's page confidence raised for a confirmed page, lowered for a misread ID."""
        if confidence is None:
            return None
        value = confidence + (CONFIRMED_BONUS if self.confirmed else 0.0)
        value -= INVALID_ID_PENALTY if self.invalid_ids else 0.0
        return max(0.0, min(100.0, value))


def check_page(text: str, dossier: Dossier, id_index: Callable[[str], str]) -> FieldCheck:
    """Check the numbers on one page against its dossier.

    ``id_index`` turns an ID number into its blind index (``Archive.id_index``).
    """
    valid, invalid = id_numbers(text)
    households = household_numbers(text)
    own_number = dossier.household_number in households
    own_head = dossier.head_id_index is not None and any(
        id_index(value) == dossier.head_id_index for value in dict.fromkeys(valid))
    check = FieldCheck(confirmed=own_number or own_head, valid_ids=len(valid),
                       invalid_ids=len(invalid))
    if dossier.doc_type in IDENTIFYING_TYPES and not check.confirmed:
        check.flags.append(MISSING_IDENTIFIER)
    if any(n != dossier.household_number for n in households):
        check.flags.append(FOREIGN_HOUSEHOLD)
    if invalid:
        check.flags.append(INVALID_ID_NUMBER)
    return check
