"""The household CSV (低保户花名册导入): its columns and the reading of one row.

One row per household. Columns may be named in Chinese or English (the first name is
the one ``docs/households.md`` shows); only the household number and the head's name
are required. A column the file does not have leaves that fact of an existing household
as it is; a column it has, left empty, clears it. Members go in one cell:
``王小明/子女/220381...；李芳/配偶`` (see :func:`records.households.read_members`).

Reading a row checks everything that needs no catalogue and no key; the import itself
(sealing ID numbers, comparing with the catalogue) is ``ingest.households``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from records.csvfiles import Columns
from records.households import (ADDRESS_LENGTH, MemberIn, check_distinct_ids, read_area,
                                read_class, read_date, read_id_number, read_members, read_name,
                                read_number, read_status, read_text)
from records.model import Area, HouseholdStatus
from records.problems import N_, fail

COLUMNS = Columns(
    names={"number": ("户号", "household_no", "number"),
           "head_name": ("户主姓名", "户主", "head_name"),
           "head_id_number": ("户主身份证号", "户主身份证号码", "head_id_number"),
           "members": ("家庭成员", "成员", "members"),
           "address": ("住址", "家庭住址", "address"),
           "area": ("城乡", "城乡类别", "urban_rural", "area"),
           "review_class": ("分类", "分类管理", "review_class", "class"),
           "certificate_no": ("低保证号", "certificate_no", "certificate"),
           "status": ("状态", "status"),
           "status_date": ("状态日期", "status_date"),
           "enrolled_on": ("纳入日期", "enrolled_on", "enrolment_date")},
    required=("number", "head_name"))

@dataclass
class HouseholdRow:
    """One row, read: plain values, ID numbers normalised and not yet sealed."""

    row: int
    number: str
    head_name: str
    head_id_number: str | None = None
    members: list[MemberIn] = field(default_factory=list)
    address: str | None = None
    area: Area | None = None
    review_class: int | None = None
    certificate_no: str | None = None
    status: HouseholdStatus | None = None
    status_date: date | None = None
    enrolled_on: date | None = None
    columns: set[str] = field(default_factory=set)  # the keys the file has: the facts it gives


def read_row(number: int, cells: dict[str, str]) -> HouseholdRow:
    """Read one row; the first problem found raises :class:`Problems` naming its column."""
    household_no = read_number(cells.get("number"))
    row = HouseholdRow(number, household_no, read_name(cells.get("head_name"), "head_name"),
                       columns=set(cells))
    row.head_id_number = read_id_number(cells.get("head_id_number"), "head_id_number")
    row.members = read_members(cells.get("members"), "members")
    check_distinct_ids(row.head_id_number, row.members)
    row.address = read_text(cells.get("address"), "address", ADDRESS_LENGTH)
    row.area = read_area(cells.get("area"))
    row.review_class = read_class(cells.get("review_class"))
    row.certificate_no = read_text(cells.get("certificate_no"), "certificate_no", 40)
    row.status = read_status(cells.get("status"))
    row.status_date = read_date(cells.get("status_date"), "status_date")
    row.enrolled_on = read_date(cells.get("enrolled_on"), "enrolled_on")
    if row.status not in (None, HouseholdStatus.active) and row.status_date is None:
        raise fail("status_date", N_("a household imported as 停发 or 停保 needs the date it "
                                     "took effect"))
    return row

