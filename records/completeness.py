"""What a complete dossier holds, and what each one lacks (材料齐全).

A type marked ``required`` in the vocabulary (records.doctypes; by default
申请书, 申报审批表, 入户调查表, 诚信承诺书, 户口簿复印件, 身份证复印件, 收入证明) must
be present at least once. DOMAIN.md: an incomplete application is not
approved, and gaps in existing dossiers are filled at the annual review.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.model import Document, DocumentType, Dossier, Household, HouseholdStatus


def missing_codes(required: Sequence[str], present: Iterable[str]) -> list[str]:
    """The required codes not in ``present``, in the order of ``required``. Pure."""
    have = set(present)
    return [code for code in required if code not in have]


def required_types(session: Session) -> list[DocumentType]:
    """The required household types (a daily-management type is never asked of a dossier)."""
    return list(session.scalars(select(DocumentType).where(DocumentType.required.is_(True),
                                                           DocumentType.daily.is_(False))
                                .order_by(DocumentType.sort_order, DocumentType.code)))


def missing_types(session: Session, household: Household) -> list[DocumentType]:
    """The types a complete dossier needs that this household's dossier lacks."""
    required = required_types(session)
    present = session.scalars(select(Document.type_code).join(Dossier)
                              .where(Dossier.household_id == household.id).distinct())
    lacking = set(missing_codes([t.code for t in required], present))
    return [t for t in required if t.code in lacking]


@dataclass(frozen=True)
class Gap:
    """One incomplete dossier of a gaps report."""

    household: str
    head_name: str
    region_code: str
    status: str
    documents: int
    missing: list[DocumentType]


def gaps(session: Session, region_prefix: str | None, *,
         include_stopped: bool = False) -> list[Gap]:
    """Every incomplete dossier of the enrolled households (and the stopped ones with
    ``include_stopped``) under ``region_prefix`` (None: all), by household number. Three
    queries, whatever the number of households."""
    required = required_types(session)
    q = select(Household).order_by(Household.number)
    if not include_stopped:
        q = q.where(Household.status != HouseholdStatus.stopped)
    if region_prefix:
        q = q.where(Household.region_code.startswith(region_prefix, autoescape=True))
    households = list(session.scalars(q))
    present: dict[int, set[str]] = {}
    counts: dict[int, int] = {}
    docs = select(Dossier.household_id, Document.type_code).join(Document)
    if region_prefix:
        docs = docs.join(Household).where(
            Household.region_code.startswith(region_prefix, autoescape=True))
    for household_id, code in session.execute(docs):
        present.setdefault(household_id, set()).add(code)
        counts[household_id] = counts.get(household_id, 0) + 1
    codes = [t.code for t in required]
    found = []
    for h in households:
        lacking = set(missing_codes(codes, present.get(h.id, ())))
        if lacking:
            found.append(Gap(h.number, h.head_name, h.region_code, h.status.value,
                             counts.get(h.id, 0), [t for t in required if t.code in lacking]))
    return found
