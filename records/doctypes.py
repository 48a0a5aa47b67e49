"""The controlled vocabulary of document types (材料类别) in a 低保 dossier.

The order is the usual order of a complete dossier (DOMAIN.md: documents are
ordered by when they were submitted in the approval process). The first
migration seeds the ``document_type`` table from this list.
"""
from __future__ import annotations

from dataclasses import dataclass


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


def resolve(value: str) -> DocType | None:
    """A type by its code or its Chinese name (``--type 申请书`` or ``--type application``)."""
    v = value.strip()
    for t in DOCUMENT_TYPES:
        if v in (t.code, t.name_zh):
            return t
    return None
