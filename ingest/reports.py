"""The reports of the archivist's desk, shared by the screens and ``hudang report``.

Each report passes the one door for its region (``report``: a township clerk
asking for another township, or the county, is refused like a missing object),
is confined to that region, recorded in the audit log, and comes back as a
:class:`Report`: the facts for the screen and a :class:`ingest.printing.Sheet`
that renders as CSV or A4 PDF. The dossier's cover and table of contents
(卷内目录) pass the door as a read of the household.

Printed text shows ID numbers masked, always (DOMAIN.md: mask them on screens
and prints).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import select

from ingest import cataloguing
from ingest.archive import Archive
from ingest.printing import Bar, Cover, Sheet, bar_chart, render_csv, render_pdf
from records import audit, completeness, reporting, reviews
from records.clock import as_utc
from records import reconcile as reconciling
from records.door import NOTHING, Knock, Target
from records.idnumbers import mask_in_text
from records.model import Document, Household, HouseholdStatus, Region
from records.policy import Action, Principal, region_scope

CLASS_NAMES = {"1": "一类", "2": "二类", "3": "三类", "": "未分类"}
AREA_NAMES = {"urban": "城市", "rural": "农村", "": "未填"}
STATUS_NAMES = {"active": "在保", "stopped": "停保"}
# "active": enrolled, whatever else (a paused payment, 停发, is still enrolled); "stopped": 停保
STATUSES = {"active": tuple(s for s in HouseholdStatus if s is not HouseholdStatus.stopped),
            "stopped": (HouseholdStatus.stopped,), "all": tuple(HouseholdStatus)}


@dataclass
class Report:
    kind: str  # gaps / roster / stats / contents / reviews / reconcile
    sheet: Sheet
    data: object  # the facts, for the screen
    region: Region | None = None
    household: str | None = None
    chart: object | None = None  # a ReportLab drawing
    cover: Cover | None = None
    printed_by: str = ""
    printed_at: str = ""
    extra: dict = field(default_factory=dict)

    def csv(self) -> bytes:
        return render_csv(self.sheet)

    def pdf(self) -> bytes:
        footer = f"{self.sheet.title} · {self.printed_by} 打印于 {self.printed_at} · 户档 hudang"
        return render_pdf(self.sheet, footer=footer, chart=self.chart, cover=self.cover)

    def filename(self, extension: str) -> str:
        subject = self.household or (self.region.code if self.region else "all")
        return f"hudang-{self.kind}-{subject}.{extension}"


def today(archive: Archive) -> date:
    return datetime.now(archive.settings.timezone).date()


def office_time(archive: Archive, at: datetime | None) -> str:
    """A stored UTC time as the office's local time on a printed record (``2026-12-08
    14:30``), or ''."""
    return as_utc(at).astimezone(archive.settings.timezone).strftime("%Y-%m-%d %H:%M") \
        if at else ""


def _now_text(archive: Archive) -> str:
    return office_time(archive, datetime.now(timezone.utc))


def _admit_region(archive: Archive, who: Principal, code: str, kind: str) -> Region:
    """The region asked for, if ``who`` may see reports of it; refusals recorded."""
    with archive.Session() as s:
        region = s.get(Region, code)
        archive.admit(Knock(who, Action.report, Target(
            "region", code[:12], region=region and region.code, found=region is not None),
            event=f"report_{kind}"))
        s.expunge(region)
        return region


def _record(archive: Archive, who: Principal, kind: str, fmt: str, *, region: str | None = None,
            household: str | None = None, **detail) -> None:
    archive.record(audit.Event(
        actor=who.name, action=f"report_{kind}", object_type="region" if region else None,
        object_id=region, household=household,
        detail={"format": fmt, **({"region": region} if region else {}), **detail}))


def _finish(archive: Archive, who: Principal, report: Report) -> Report:
    report.printed_by = who.name
    report.printed_at = _now_text(archive)
    return report


def _names(archive: Archive, prefix: str) -> dict[str, str]:
    with archive.Session() as s:
        return {r.code: r.name for r in reporting.regions_under(s, prefix[:9])}


def _region_line(region: Region) -> str:
    return f"区划：{region.name}（{region.code}）"


# -- gaps -------------------------------------------------------------------------------------
def gaps(archive: Archive, who: Principal, region_code: str, fmt: str = "screen") -> Report:
    """低保档案缺件清单: the active households under the region whose dossiers lack a
    required type, and what each lacks."""
    region = _admit_region(archive, who, region_code, "gaps")
    with archive.Session() as s:
        found = completeness.gaps(s, region.code)
        required = [t.name_zh for t in completeness.required_types(s)]
    names = _names(archive, region.code)
    rows = [[g.household, g.head_name, names.get(g.region_code, g.region_code),
             str(g.documents), "、".join(t.name_zh for t in g.missing)] for g in found]
    _record(archive, who, "gaps", fmt, region=region.code, incomplete=len(found))
    sheet = Sheet("低保档案缺件清单", ["户号", "户主", "村（社区）", "件数", "缺少的材料"],
                  rows, lines=[_region_line(region), f"应有材料：{'、'.join(required)}",
                               f"缺件档案：{len(found)} 户"], widths=[2.2, 1.2, 1.5, 0.7, 4])
    return _finish(archive, who, Report("gaps", sheet, found, region))


# -- roster -------------------------------------------------------------------------------------
def roster(archive: Archive, who: Principal, region_code: str, status: str = "active",
           order: str = "number", fmt: str = "screen") -> Report:
    """花名册: the households of a region with a status (active, stopped or all)."""
    region = _admit_region(archive, who, region_code, "roster")
    with archive.Session() as s:
        entries = reporting.roster(s, region.code, STATUSES.get(status, STATUSES["active"]),
                                   order)
    rows = [[str(i), e.household, e.head_name, e.township, e.village,
             CLASS_NAMES[e.review_class], AREA_NAMES[e.area], str(e.persons),
             STATUS_NAMES.get(e.status, e.status), str(e.documents), e.archival_code]
            for i, e in enumerate(entries, start=1)]
    _record(archive, who, "roster", fmt, region=region.code, status=status, rows=len(rows))
    title = {"active": "在保", "stopped": "停保", "all": "全部"}.get(status, "")
    sheet = Sheet(f"低保对象花名册（{title}）",
                  ["序号", "户号", "户主", "乡镇（街道）", "村（社区）", "类别", "城乡", "人数",
                   "状态", "件数", "档号"], rows,
                  lines=[_region_line(region), f"共 {len(rows)} 户，{sum(e.persons for e in entries)} 人"],
                  widths=[0.6, 2.2, 1.1, 1.3, 1.3, 0.7, 0.7, 0.6, 0.7, 0.6, 3.2], landscape=True,
                  notes=["人数：家庭成员表尚未建立，暂按户主 1 人计。"])
    return _finish(archive, who, Report("roster", sheet, entries, region,
                                        extra={"status": status, "order": order}))


# -- statistics -------------------------------------------------------------------------------
STATS_HEADER = ["区划代码", "名称", "户数", "人数", "在保", "停保", "一类", "二类", "三类", "未分类",
                "城市", "农村", "城乡未填"]


def _stats_row(c: reporting.Counts) -> list[str]:
    return [c.code, c.name, *(str(v) for v in (
        c.households, c.persons, c.active, c.stopped, c.by_class["1"], c.by_class["2"],
        c.by_class["3"], c.by_class[""], c.by_area["urban"], c.by_area["rural"],
        c.by_area[""]))]


def stats(archive: Archive, who: Principal, region_code: str, fmt: str = "screen") -> Report:
    """统计表: per region one level down, and in all; with a chart of active and stopped."""
    region = _admit_region(archive, who, region_code, "stats")
    with archive.Session() as s:
        figures = reporting.statistics(s, region.code)
        s.expunge(figures.region)
    rows = [_stats_row(c) for c in figures.rows] + [_stats_row(figures.total)]
    rows[-1][0], rows[-1][1] = "合计", figures.total.name
    _record(archive, who, "stats", fmt, region=region.code, households=figures.total.households)
    chart = stats_chart(figures)
    sheet = Sheet("低保对象统计表", STATS_HEADER, rows,
                  lines=[_region_line(region), f"统计日期：{today(archive).isoformat()}"],
                  widths=[1.6, 1.4, *([0.7] * 11)], landscape=True,
                  notes=["人数：家庭成员表尚未建立，暂按户主 1 人计。"])
    return _finish(archive, who, Report("stats", sheet, figures, region, chart=chart))


def stats_chart(figures: reporting.Statistics):
    bars = [Bar(c.name or c.code, [c.active, c.stopped]) for c in figures.rows]
    return bar_chart(f"{figures.region.name} 在保与停保户数", ["在保", "停保"], bars)


# -- due reviews ---------------------------------------------------------------------------------
def due_reviews(archive: Archive, who: Principal, region_code: str | None, within_days: int,
                fmt: str = "screen", on: date | None = None) -> Report:
    """应复核户: active households due for review within ``within_days`` (overdue ones too)."""
    region = None
    if region_code:
        region = _admit_region(archive, who, region_code, "reviews")
    else:
        archive.admit(Knock(who, Action.report, NOTHING, event="report_reviews"))
    scope = region.code if region else region_scope(who)
    day = on or today(archive)
    with archive.Session() as s:
        due, unclassed = reviews.due_reviews(s, scope, day, archive.settings.review_months,
                                             max(0, within_days))
    names = _names(archive, scope or "")
    rows = [[d.household, d.head_name, names.get(d.region_code, d.region_code),
             CLASS_NAMES[str(d.review_class)],
             d.last_review.isoformat() if d.last_review else "", d.due.isoformat(),
             str(d.overdue_days(day))] for d in due]
    _record(archive, who, "reviews", fmt, region=region.code if region else None,
            within=within_days, due=len(rows))
    lines = [_region_line(region)] if region else []
    lines += [f"截至 {day.isoformat()} 后 {within_days} 天内应复核：{len(rows)} 户"]
    sheet = Sheet("低保对象复核到期表", ["户号", "户主", "村（社区）", "类别", "上次复核",
                                    "应复核日期", "逾期天数"], rows, lines=lines,
                  notes=[f"未分类的在保户 {unclassed} 户不在此表。"] if unclassed else [])
    return _finish(archive, who, Report("reviews", sheet, due, region,
                                        extra={"unclassed": unclassed, "today": day,
                                               "within": within_days}))


# -- the dossier's cover and table of contents ---------------------------------------------------
def contents(archive: Archive, who: Principal, household_no: str, fmt: str = "pdf", *,
             purpose: str | None = None) -> Report:
    """案卷封面 and 卷内目录 (件号, 责任者, 题名, 日期, 页数, 备注) of one household's dossier."""
    with archive.Session() as s:
        household = s.scalar(select(Household).where(Household.number == household_no))
        archive.admit(Knock(who, Action.read_household,
                            cataloguing.household_target(household, household_no),
                            event="report_contents", purpose=purpose))
    with archive.Session() as s, s.begin():
        household = s.scalar(select(Household).where(Household.number == household_no))
        dossier = household.dossier
        if dossier.archival_code is None or any(d.item_no is None for d in dossier.documents):
            cataloguing.number(archive, s, dossier, who.name, "numbering")
        docs = list(s.scalars(select(Document).where(Document.dossier_id == dossier.id)
                              .order_by(Document.seq)))
        rows = [[str(d.seq), f"{d.item_no:04d}" if d.item_no else "",
                 mask_in_text(d.responsible or ""), mask_in_text(d.title),
                 d.date.isoformat() if d.date else "", str(d.page_count), d.type.name_zh]
                for d in docs]
        dates = sorted(d.date for d in docs if d.date)
        facts = [("档号", dossier.archival_code or ""), ("户号", household.number),
                 ("户主", household.head_name),
                 ("村（社区）", f"{household.region.name}（{household.region_code}）"),
                 ("起止日期", f"{dates[0].isoformat()} 至 {dates[-1].isoformat()}" if dates
                  else ""),
                 ("件数", str(len(docs))), ("页数", str(sum(d.page_count for d in docs))),
                 ("保管期限", archive.settings.retention_code)]
        region = household.region
        s.expunge(region)
    archive.record(audit.Event(actor=who.name, action="report_contents",
                               object_type="household", object_id=household_no,
                               household=household_no, purpose=purpose,
                               detail={"format": fmt}))
    sheet = Sheet("卷内目录", ["序号", "件号", "责任者", "题名", "日期", "页数", "备注"], rows,
                  lines=[f"档号：{facts[0][1]}", f"户号：{household_no}　户主：{facts[2][1]}"],
                  widths=[0.8, 0.9, 1.6, 4.0, 1.3, 0.8, 1.5])
    report = Report("contents", sheet, rows, region, household=household_no,
                    cover=Cover("低保对象档案", facts), extra={"facts": facts})
    return _finish(archive, who, report)


# -- reconciliation ----------------------------------------------------------------------------
def reconcile(archive: Archive, who: Principal, data: bytes, name: str,
              region_code: str | None = None, fmt: str = "screen") -> Report:
    """核对: the month's payment roster against the dossiers of the reader's region."""
    if region_code:
        region = _admit_region(archive, who, region_code, "reconcile")
        scope = region.code
    else:
        archive.admit(Knock(who, Action.report, NOTHING, event="report_reconcile"))
        region, scope = None, region_scope(who)
    roster_file = reconciling.parse_roster(data, name)
    with archive.Session() as s:
        dossiers = reporting.reconciliation_dossiers(s, scope)
    result = reconciling.reconcile(roster_file, dossiers, scope)
    rows = []
    for row in result.on_roster_without_dossier:
        rows.append(["名册有、无档案", row.household, row.head_name, "", str(row.amount),
                     str(row.line)])
    for row in result.on_roster_empty_dossier:
        rows.append(["名册有、档案无材料", row.household, row.head_name, "", str(row.amount),
                     str(row.line)])
    for row in result.on_roster_but_stopped:
        rows.append(["名册有、档案已停保", row.household, row.head_name, "", str(row.amount),
                     str(row.line)])
    for row, dossier in result.name_differs:
        rows.append(["户主姓名不符", row.household, row.head_name, dossier.head_name,
                     str(row.amount), str(row.line)])
    for dossier in result.active_not_on_roster:
        rows.append(["在保档案、名册无", dossier.household, "", dossier.head_name, "", ""])
    _record(archive, who, "reconcile", fmt, region=region.code if region else None,
            roster_rows=len(roster_file.rows), differences=len(rows),
            bad_rows=len(roster_file.problems))
    lines = [_region_line(region)] if region else []
    lines += [f"名册 {len(roster_file.rows)} 户，金额合计 {roster_file.total}；相符 {result.matched} 户，"
              f"不符 {len(rows)} 项"]
    if result.outside_scope:
        lines.append(f"另有 {result.outside_scope} 户不在本区划，未核对")
    sheet = Sheet("低保名册与档案核对表", ["问题", "户号", "户主（名册）", "户主（档案）", "金额",
                                     "名册行号"], rows, lines=lines,
                  notes=[mask_in_text(p) for p in roster_file.problems])
    return _finish(archive, who, Report("reconcile", sheet, result, region,
                                        extra={"roster": roster_file}))
