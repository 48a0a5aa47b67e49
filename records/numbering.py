"""档号 and 件号: the archival code of a dossier and the item numbers of its documents.

A dossier's archival code (档号) and each document's item code come from
patterns in the spirit of DA/T 22-2015 (全宗号-门类·年度-保管期限-机构-件号), set
by the deployment (``HUDANG_DOSSIER_CODE``, ``HUDANG_ITEM_CODE``, with the
fonds code ``HUDANG_FONDS`` and the retention code ``HUDANG_RETENTION_CODE``).

Order and number are two things. ``Document.seq`` is the document's place in
the dossier (1..n, what the 卷内目录 lists in order); ``Document.item_no`` is
its item number (件号), which is never given twice in a dossier: every number
ever given is kept in ``item_number``, whose unique (dossier, number) makes a
second use impossible, and a new number is always above every number used
before. Reordering renumbers: walking the dossier in its new order, a document
keeps its number while numbers still rise, and gets the next unused number
where they would not (:func:`plan_numbers`), so numbers always rise with the
order and the fewest documents change number. Each change is a history row
(the old number retired, the new one given) and an audit event.
"""
from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.clock import utcnow
from records.exceptions import Invalid
from records.model import Document, Dossier, ItemNumber

DEFAULT_DOSSIER_CODE = "{fonds}-DB·{year}-{retention}-{household_no}"
DEFAULT_ITEM_CODE = "{dossier}-{item:04}"
# the fields a pattern may name; {seq} is the item number too (the example)
DOSSIER_FIELDS = frozenset({"fonds", "year", "retention", "household_no", "county",
                            "township", "village"})
ITEM_FIELDS = DOSSIER_FIELDS | {"dossier", "item", "seq"}


def check_pattern(pattern: str, allowed: frozenset[str], needs: Sequence[set[str]]) -> str:
    """``pattern`` if it names only ``allowed`` fields and at least one of each of ``needs``
    (so that codes stay unique); ValueError with a sentence otherwise."""
    try:
        names = {field.split(".")[0].split("[")[0]
                 for _, field, _, _ in string.Formatter().parse(pattern) if field is not None}
    except ValueError as exc:
        raise ValueError(f"'{pattern}' is not a pattern: {exc}") from None
    unknown = sorted(n for n in names if n not in allowed)
    if unknown or "" in names:
        raise ValueError(f"'{pattern}' names unknown fields {unknown or ['{}']}; use "
                         f"{', '.join('{' + f + '}' for f in sorted(allowed))}")
    for group in needs:
        if not names & group:
            raise ValueError(f"'{pattern}' must contain "
                             f"{' or '.join('{' + f + '}' for f in sorted(group))}")
    try:
        _format(pattern, _sample(allowed))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"'{pattern}' cannot be filled in: {exc}") from None
    return pattern


def _sample(allowed: frozenset[str]) -> dict[str, object]:
    values = {"fonds": "0001", "year": 2026, "retention": "D5",
              "household_no": "220381105012-0042", "county": "220381", "township": "220381105",
              "village": "220381105012", "dossier": "X", "item": 1, "seq": 1}
    return {k: v for k, v in values.items() if k in allowed}


def _format(pattern: str, values: Mapping[str, object]) -> str:
    return pattern.format(**values)


def check_dossier_pattern(pattern: str) -> str:
    return check_pattern(pattern, DOSSIER_FIELDS, [{"household_no"}])


def check_item_pattern(pattern: str) -> str:
    return check_pattern(pattern, ITEM_FIELDS, [{"item", "seq"}, {"dossier", "household_no"}])


@dataclass(frozen=True)
class Scheme:
    """The deployment's numbering: fonds code, retention code and the two patterns."""

    fonds: str = "0001"
    retention: str = "D5"
    dossier_pattern: str = DEFAULT_DOSSIER_CODE
    item_pattern: str = DEFAULT_ITEM_CODE

    def dossier_code(self, household_no: str, year: int) -> str:
        return _format(self.dossier_pattern, self._dossier_values(household_no, year))

    def item_code(self, dossier_code: str, household_no: str, year: int, item: int) -> str:
        return _format(self.item_pattern, {**self._dossier_values(household_no, year),
                                           "dossier": dossier_code, "item": item, "seq": item})

    def _dossier_values(self, household_no: str, year: int) -> dict[str, object]:
        village = household_no[:12]
        return {"fonds": self.fonds, "year": year, "retention": self.retention,
                "household_no": household_no, "county": village[:6],
                "township": village[:9], "village": village}


def plan_numbers(current: Sequence[int | None], next_free: int) -> list[int]:
    """Item numbers for documents in their (new) order, given their current numbers.

    A document keeps its number while numbers still rise along the order; one
    without a number, or whose number is not above the one before, gets
    ``next_free`` (then the one after). Pure: the table-driven tests show it.
    """
    planned: list[int] = []
    last = 0
    for number in current:
        if number is None or number <= last:
            number, next_free = next_free, next_free + 1
        planned.append(number)
        last = number
    return planned


@dataclass(frozen=True)
class Renumbered:
    document_id: int
    before: int | None
    after: int


def next_free_number(session: Session, dossier_id: int) -> int:
    """One above every item number ever given in the dossier (history included)."""
    used = session.scalar(select(func.max(ItemNumber.number))
                          .where(ItemNumber.dossier_id == dossier_id))
    return (used or 0) + 1


def number_dossier(session: Session, dossier: Dossier, scheme: Scheme, *, year: int,
                   by: str, reason: str, now: datetime | None = None) -> list[Renumbered]:
    """Give the dossier its archival code (once) and its documents item numbers following
    their order (:func:`plan_numbers`); write the history; return what changed."""
    now = now or utcnow()
    number = dossier.household.number
    if dossier.archival_code is None:
        dossier.archival_code = scheme.dossier_code(number, year)
        # numbers given before the dossier had a code (the migration) get their full code
        for row in session.scalars(select(ItemNumber).where(
                ItemNumber.dossier_id == dossier.id, ItemNumber.retired_at.is_(None))):
            row.code = scheme.item_code(dossier.archival_code, number, year, row.number)
    docs = list(session.scalars(select(Document).where(Document.dossier_id == dossier.id)
                                .order_by(Document.seq)))
    planned = plan_numbers([d.item_no for d in docs], next_free_number(session, dossier.id))
    changed = []
    for doc, item in zip(docs, planned):
        if doc.item_no == item:
            continue
        if doc.item_no is not None:
            for row in session.scalars(select(ItemNumber).where(
                    ItemNumber.dossier_id == dossier.id, ItemNumber.number == doc.item_no)):
                row.retired_at = now
        session.add(ItemNumber(dossier_id=dossier.id, number=item, document_id=doc.id,
                               code=scheme.item_code(dossier.archival_code, number, year, item),
                               assigned_at=now, assigned_by=by, reason=reason))
        changed.append(Renumbered(doc.id, doc.item_no, item))
        doc.item_no = item
    session.flush()
    return changed


def item_code(session: Session, document: Document) -> str | None:
    """The archival code the document's current item number was given with."""
    if document.item_no is None:
        return None
    return session.scalar(select(ItemNumber.code).where(
        ItemNumber.dossier_id == document.dossier_id, ItemNumber.number == document.item_no))


def move(session: Session, document: Document, to_position: int) -> tuple[int, int]:
    """Put ``document`` at ``to_position`` (1..n) in its dossier, closing up the others;
    returns (old position, new position). Positions stay 1..n."""
    docs = list(session.scalars(select(Document).where(
        Document.dossier_id == document.dossier_id).order_by(Document.seq)))
    if not 1 <= to_position <= len(docs):
        raise Invalid(f"position {to_position} is outside the dossier (1 to {len(docs)})")
    old = docs.index(document) + 1
    docs.remove(document)
    docs.insert(to_position - 1, document)
    # two steps: the unique (dossier, seq) must hold after each statement
    for i, doc in enumerate(docs, start=1):
        doc.seq = -i
    session.flush()
    for i, doc in enumerate(docs, start=1):
        doc.seq = i
    session.flush()
    return old, to_position
