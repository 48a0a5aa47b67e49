"""What a complete dossier holds, and what one lacks (DOMAIN.md: 凡申报材料不齐全的一律不予审批).

A minimal version: the seven document types every dossier needs by default. The
configurable vocabulary (a required flag per type) replaces :data:`REQUIRED` and the
body of :func:`missing_types`; the signature stays.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.model import Document, DocumentType, Dossier, Household

# codes of records.doctypes: 申请书, 申报审批表, 入户调查表, 诚信承诺书, 户口簿复印件,
# 身份证复印件, 收入证明
REQUIRED = ("application", "approval_form", "survey", "pledge", "hukou_copy", "id_card_copy",
            "income_certificate")


def missing_types(session: Session, household: Household) -> list[DocumentType]:
    """The types a complete dossier needs that ``household``'s dossier lacks, in the
    vocabulary's order."""
    present = set(session.scalars(
        select(Document.type_code).join(Dossier).where(Dossier.household_id == household.id)))
    return [t for t in session.scalars(select(DocumentType).where(DocumentType.code.in_(REQUIRED))
                                       .order_by(DocumentType.sort_order))
            if t.code not in present]
