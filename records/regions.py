"""Regions (行政区划): the county → township → village tree, renaming, and importing a CSV
of statistical area codes (统计用区划代码).

A code is 6 (county), 9 (township) or 12 (village) digits and nests by prefix
(``records.catalogue.add_region``). The National Bureau of Statistics writes every
level as 12 digits padded with zeros (``220381105000`` for a township): such codes are
read as the 6- or 9-digit code of their level. An import never stops at a bad row: each
bad row is one sentence naming the row and column, the good rows are applied, and a
second import of the same file changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.catalogue import region_level
from records.csvfiles import Columns, ImportReport, Table
from records.exceptions import RecordsError
from records.model import Household, Region, RegionLevel
from records.problems import N_, Problem, fail

NAME_LENGTH = 100

COLUMNS = Columns(
    names={"code": ("代码", "统计用区划代码", "区划代码", "code"),
           "name": ("名称", "name"),
           "level": ("级别", "层级", "level"),
           "parent": ("上级代码", "上级", "parent")},
    required=("code", "name"))

_LEVEL_WORDS = {
    RegionLevel.county: ("county", "县", "区", "县级市", "旗", "县级"),
    RegionLevel.township: ("township", "乡", "镇", "街道", "乡镇", "苏木", "乡级"),
    RegionLevel.village: ("village", "村", "社区", "居委会", "村委会", "嘎查", "村级"),
}
_LEVELS = {w: level for level, words in _LEVEL_WORDS.items() for w in words}
_LENGTH = {RegionLevel.county: 6, RegionLevel.township: 9, RegionLevel.village: 12}


def read_level(text: str | None) -> RegionLevel | None:
    value = (text or "").strip().lower()
    if not value:
        return None
    if value not in _LEVELS:
        raise fail("level", N_("the level must be county, township or village (县, 乡镇 or "
                               "村), not “%(value)s”"), value=value[:20])
    return _LEVELS[value]


def read_code(text: str | None, level: RegionLevel | None = None,
              field_name: str = "code") -> str:
    """A region code as hudang keeps it; a 12-digit code padded with zeros is read as the
    code of its level (given, or read from the zeros)."""
    code = "".join((text or "").split())
    if len(code) == 12 and code.isdigit():
        if code.endswith("000000") and level in (None, RegionLevel.county):
            code = code[:6]
        elif code.endswith("000") and level in (None, RegionLevel.township):
            code = code[:9]
    try:
        found = region_level(code)
    except RecordsError:
        raise fail(field_name, N_("“%(value)s” is not a region code of 6 (county), 9 "
                                  "(township) or 12 (village) digits"), value=code[:20]) from None
    if level is not None and found is not level:
        raise fail(field_name, N_("the code %(code)s has %(n)s digits, which is not the "
                                  "length of the level given"), code=code, n=len(code))
    return code


def read_name(text: str | None) -> str:
    name = " ".join((text or "").split())
    if not name:
        raise fail("name", N_("the region's name is empty"))
    if len(name) > NAME_LENGTH:
        raise fail("name", N_("the name is longer than %(n)s characters"), n=NAME_LENGTH)
    return name


def implied_parent(code: str) -> str | None:
    return {9: code[:6], 12: code[:9]}.get(len(code))


def rename(session: Session, region: Region, name: str) -> bool:
    """Give ``region`` a new name; False when it already has it."""
    name = read_name(name)
    if region.name == name:
        return False
    region.name = name
    return True


# -- importing ------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionRow:
    row: int
    code: str
    name: str
    parent: str | None


def _read_row(number: int, cells: dict[str, str]) -> RegionRow:
    level = read_level(cells.get("level"))
    code = read_code(cells.get("code"), level)
    name = read_name(cells.get("name"))
    parent = implied_parent(code)
    given = cells.get("parent", "").strip()
    if given:
        if read_code(given, field_name="parent") != parent:
            raise fail("parent", N_("%(code)s does not lie under %(parent)s: codes nest by "
                                    "prefix"), code=code, parent=given[:20])
    return RegionRow(number, code, name, parent)


def import_regions(session: Session, table: Table, *,
                   allowed: Callable[[str], bool]) -> ImportReport:
    """Create or rename the regions of ``table`` (read with :data:`COLUMNS`). ``allowed``
    says whether the importer may manage a region (its jurisdiction); a row outside it is
    refused like any bad row. Parents come before children whatever the file's order."""
    report = ImportReport(problems=list(table.skipped))
    rows = [row for _, row in table.read_rows(_read_row, lambda r: r.code, "code", allowed,
                                              report.problems)]
    for row in sorted(rows, key=lambda r: (len(r.code), r.row)):
        existing = session.get(Region, row.code)
        if existing is not None:
            (report.updated if rename(session, existing, row.name) else
             report.unchanged).append(row.code)
            continue
        if row.parent is not None and session.get(Region, row.parent) is None:
            report.problems.append(table.problem(row.row, Problem("parent", N_(
                "the parent region %(parent)s is neither in the catalogue nor a good row of "
                "this file"), {"parent": row.parent})))
            continue
        session.add(Region(code=row.code, name=row.name, level=region_level(row.code),
                           parent_code=row.parent))
        session.flush()
        report.created.append(row.code)
    report.problems.sort(key=lambda p: p.row)
    return report


# -- the tree ---------------------------------------------------------------------------
def children(session: Session, code: str | None) -> list[Region]:
    """The regions right under ``code`` (None: the counties), by code."""
    q = select(Region).where(Region.parent_code.is_(None) if code is None
                             else Region.parent_code == code)
    return list(session.scalars(q.order_by(Region.code)))


def lineage(session: Session, region: Region) -> list[Region]:
    """``region`` and the regions above it, county first (a breadcrumb)."""
    out = [region]
    while out[0].parent_code is not None:
        parent = session.get(Region, out[0].parent_code)
        if parent is None:
            break
        out.insert(0, parent)
    return out


def household_count(session: Session, prefix: str) -> int:
    return session.scalar(select(func.count(Household.id)).where(
        Household.region_code.startswith(prefix, autoescape=True))) or 0
