"""The vocabulary of document types (材料类别) in a 低保 dossier.

The vocabulary lives in the ``document_type`` table, which administrators change
(``hudang doctype add``, ``set-required``, the document-types screen). The list
below is what the first migration seeds it with, in the usual order of a
complete dossier (DOMAIN.md: documents are ordered by when they were submitted
in the approval process); :data:`REQUIRED_BY_DEFAULT` is the set a complete
dossier needs out of the box (migration 0010 marks them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from records.exceptions import Conflict, Invalid, NotFound
from records.model import DAILY_RETENTION, DocumentType


@dataclass(frozen=True)
class DocType:
    code: str
    name_zh: str
    name_en: str


DOCUMENT_TYPES: tuple[DocType, ...] = (
    DocType("application", "申请书", "application letter"),
    DocType("approval_form", "申报审批表", "application and approval form"),
    DocType("survey", "入户调查表", "home-visit survey"),
    DocType("pledge", "诚信承诺书", "integrity pledge"),
    DocType("supporters", "法定赡养人员证实表", "statement of legally obliged supporters"),
    DocType("hukou_copy", "户口簿复印件", "household register copy"),
    DocType("id_card_copy", "身份证复印件", "ID card copy"),
    DocType("income_certificate", "收入证明", "income certificate"),
    DocType("disability_certificate", "残疾证", "disability certificate"),
    DocType("layoff_certificate", "下岗证", "lay-off certificate"),
    DocType("social_insurance", "社保证明", "social insurance certificate"),
    DocType("marital_papers", "婚姻证明", "marriage, divorce or court papers"),
    DocType("student_papers", "学生证明", "student card or admission notice"),
    DocType("employment_status", "就业状况证明", "employment status certificate"),
    DocType("work_ability", "劳动能力证明", "work ability certificate"),
    DocType("democratic_review", "民主评议记录", "democratic review minutes"),
    DocType("public_notice", "公示记录", "public notice record"),
    DocType("township_opinion", "乡镇审核意见", "township review opinion"),
    DocType("other", "其他", "other"),
)

# 日常管理档案: records of a region and a period, not of one household (DOMAIN.md); filed in
# the region's volume of the year, with the flag ``daily`` (migration 0011 seeds them)
DAILY_TYPES: tuple[DocType, ...] = (
    DocType("daily_roster", "花名册", "roster of households"),
    DocType("daily_payment", "资金发放名册", "payment list"),
    DocType("daily_changes", "停发调整名单", "stop and adjustment list"),
    DocType("daily_notice", "三榜公示记录", "public-notice record and photos"),
    DocType("daily_review", "民主评议会议记录", "democratic-review minutes"),
    DocType("daily_ledger", "资金台账", "fund ledger"),
    DocType("daily_statistics", "统计报表", "statistics report"),
    DocType("daily_other", "其他日常管理材料", "other daily-management record"),
)

# 申请书, 申报审批表, 入户调查表, 诚信承诺书, 户口簿复印件, 身份证复印件, 收入证明 (issue 13)
REQUIRED_BY_DEFAULT: frozenset[str] = frozenset({
    "application", "approval_form", "survey", "pledge", "hukou_copy", "id_card_copy",
    "income_certificate"})

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def all_types(session: Session, daily: bool | None = None) -> list[DocumentType]:
    """The vocabulary in its order: all of it, or only the daily-management types
    (``daily=True``) or only the household dossier's (``daily=False``)."""
    q = select(DocumentType).order_by(DocumentType.sort_order, DocumentType.code)
    if daily is not None:
        q = q.where(DocumentType.daily.is_(daily))
    return list(session.scalars(q))


def find_type(session: Session, value: str) -> DocumentType | None:
    """A type by its code or its Chinese name (``--type 申请书`` or ``--type application``)."""
    v = value.strip()
    return session.scalar(select(DocumentType).where(
        or_(DocumentType.code == v, DocumentType.name_zh == v)))


def get_type(session: Session, value: str, daily: bool | None = None) -> DocumentType:
    """:func:`find_type`, or :class:`Invalid` naming the known types; with ``daily``, only a
    type of that kind (a household dossier's, or a daily-management record's)."""
    found = find_type(session, value)
    if found is None or (daily is not None and found.daily is not daily):
        names = "、".join(t.name_zh for t in all_types(session, daily))
        if found is not None:
            kind = ("not a daily-management type" if daily else
                    "a daily-management type, filed with a region and a year")
            raise Invalid(f"document type '{value}' is {kind}; use one of: {names}")
        raise Invalid(f"unknown document type '{value}'; use a code or one of: {names}")
    return found


def add_type(session: Session, code: str, name_zh: str, name_en: str,
             required: bool = False, daily: bool = False) -> DocumentType:
    """Add a type at the end of the vocabulary (``daily``: of daily-management records)."""
    code, name_zh, name_en = code.strip(), name_zh.strip(), name_en.strip()
    if not _CODE.match(code):
        raise Invalid(f"document type code '{code}' must be 2-40 lower-case letters, digits "
                      "or '_', starting with a letter")
    if not name_zh or len(name_zh) > 50:
        raise Invalid("the Chinese name of a document type must have 1-50 characters")
    if len(name_en) > 100:
        raise Invalid("the English name of a document type must have at most 100 characters")
    if daily and required:
        raise Invalid("a daily-management type cannot be required in a household's dossier")
    if session.get(DocumentType, code) is not None:
        raise Conflict(f"document type {code} already exists")
    if session.scalar(select(DocumentType).where(DocumentType.name_zh == name_zh)) is not None:
        raise Conflict(f"a document type named {name_zh} already exists")
    last = session.scalar(select(func.max(DocumentType.sort_order))) or 0
    row = DocumentType(code=code, name_zh=name_zh, name_en=name_en or name_zh,
                       sort_order=last + 1, required=required, daily=daily,
                       **({"retention_class": DAILY_RETENTION} if daily else {}))
    session.add(row)
    return row


def set_required(session: Session, value: str, required: bool) -> tuple[DocumentType, bool]:
    """Mark a type required in a complete dossier or not; returns (the type, its old flag)."""
    row = find_type(session, value)
    if row is None:
        raise NotFound(f"document type {value} does not exist")
    if required and row.daily:
        raise Invalid(f"{row.name_zh} is a daily-management type: a household's dossier never "
                      "needs one")
    before = row.required
    row.required = required
    return row, before
