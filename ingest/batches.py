"""Reading digitisation batches (批次): the list, one batch with its rows, findings and process
metadata, its report (CSV, PDF) and the pages with scan-quality findings.

Shared by the screens, the JSON API and the command line. A batch passes the door as
``batches`` (the archivist's and the QC reviewer's; pages with findings stay ``ingest``
work), confined to the operator's jurisdiction it was run in
(``Batch.region_code``); every read is recorded. Nothing shown here holds an ID number or
page text: file names, household numbers, types, counts and the checks' sentences.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from ingest import scanquality
from ingest.archive import Archive
from ingest.printing import Sheet
from ingest.reports import Report, _finish
from records import audit
from records.door import Knock, Target
from records.model import Batch, BatchRow, Document, Page, PageScan
from records.policy import Action, Principal, decide, region_scope

UPLOAD_SOURCE = "upload job {job}"  # the source of a box uploaded in the browser (ingest.jobs)

PROFILE_NAMES = {"standard": "标准", "colour": "彩色"}
OUTCOME_NAMES = {"pending": "未处理", "stored": "已入库", "duplicate": "已存在",
                 "failed": "失败"}
COLOUR_NAMES = {"bitonal": "黑白二值", "greyscale": "灰度", "colour": "彩色"}


@dataclass
class PageView:
    number: int
    dpi: float | None
    colour: str | None
    bit_depth: int | None
    skew: float | None
    findings: list[scanquality.Finding]

    def as_json(self) -> dict:
        return {"page": self.number, "dpi": self.dpi, "colour_mode": self.colour,
                "bit_depth": self.bit_depth, "skew": self.skew,
                "findings": [f.as_json() for f in self.findings]}


@dataclass
class RowView:
    position: int
    item: str
    household: str
    doc_type: str
    outcome: str
    message: str
    document_id: int | None
    pages: int | None
    declared_pages: int | None
    scanner: dict[str, str]
    findings: list[scanquality.Finding]
    page_views: list[PageView] = field(default_factory=list)
    flagged_pages: int = 0  # pages with findings

    @property
    def flagged(self) -> int:
        """Findings of the document plus pages with findings."""
        return len(self.findings) + self.flagged_pages

    def as_json(self) -> dict:
        return {"row": self.position, "item": self.item, "household": self.household,
                "doc_type": self.doc_type, "outcome": self.outcome, "message": self.message,
                "document_id": self.document_id, "pages": self.pages,
                "declared_pages": self.declared_pages, "scanner": self.scanner,
                "findings": [f.as_json() for f in self.findings],
                "page_scans": [p.as_json() for p in self.page_views]}


@dataclass
class BatchView:
    id: int
    source: str
    box: str | None
    profile: str
    state: str
    operator: str
    started_at: datetime
    finished_at: datetime | None
    runs: int
    rows: list[RowView] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def findings(self) -> int:
        return sum(r.flagged for r in self.rows)

    @property
    def name(self) -> str:
        """The source's last part (a directory's or a file's name)."""
        return source_name(self.source)

    @property
    def upload_job(self) -> int | None:
        """The background job of a box uploaded in the browser (None: run from a directory)."""
        return upload_job_of(self.source)

    def summary_json(self) -> dict:
        return {"id": self.id, "source": self.source, "box": self.box,
                "profile": self.profile, "state": self.state, "operator": self.operator,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "runs": self.runs, "rows": len(self.rows),
                "stored": self.count("stored"), "already_stored": self.count("duplicate"),
                "failed": self.count("failed"), "findings": self.findings}

    def as_json(self) -> dict:
        return {**self.summary_json(), "row_list": [r.as_json() for r in self.rows]}


def source_name(source: str) -> str:
    """How a batch is named: its source's last part (a directory's or a file's name)."""
    return source.rstrip("/").rsplit("/", 1)[-1]


def in_jurisdiction(query, who: Principal):
    """``query`` over batches confined to those run in ``who``'s jurisdiction: the one rule of
    which batches a listing holds (each batch shown is admitted by :func:`_place` besides)."""
    scope = region_scope(who)
    return query if scope is None else query.where(Batch.region_code.startswith(scope))


def upload_job_of(source: str) -> int | None:
    """The background job of a batch uploaded in the browser (None: run from a directory)."""
    tail = source.removeprefix(UPLOAD_SOURCE.format(job=""))
    return int(tail) if tail != source and tail.isdigit() else None


def _view(s, batch: Batch, *, pages: bool) -> BatchView:
    view = BatchView(batch.id, batch.source, batch.container.code if batch.container else None,
                     batch.profile.value, batch.state.value, batch.operator, batch.started_at,
                     batch.finished_at, batch.runs)
    scans: dict[int, list[PageView]] = {}
    if pages:
        for number, document_id, scan in s.execute(
                select(Page.number, Page.document_id, PageScan)
                .join(PageScan, PageScan.page_id == Page.id)
                .join(Document, Document.id == Page.document_id)
                .where(Document.batch_id == batch.id).order_by(Page.number)):
            scans.setdefault(document_id, []).append(PageView(
                number, scan.dpi, scan.colour_mode, scan.bit_depth, scan.skew,
                scanquality.loads(scan.findings)))
    for row in s.scalars(select(BatchRow).where(BatchRow.batch_id == batch.id)
                         .order_by(BatchRow.position, BatchRow.id)):
        scanner = {k: v for k, v in (("make", row.scanner_make), ("model", row.scanner_model),
                                     ("software", row.scanner_software)) if v}
        views = scans.get(row.document_id, [])
        view.rows.append(RowView(
            row.position, row.item, row.household_no, row.doc_type, row.outcome.value,
            row.message, row.document_id, row.pages, row.declared_pages, scanner,
            scanquality.loads(row.findings), views, sum(1 for p in views if p.findings)))
    if not pages:  # the list counts the flagged pages without loading each one
        flagged = dict(s.execute(
            select(Document.id, func.count(PageScan.page_id))
            .join(Page, Page.document_id == Document.id)
            .join(PageScan, PageScan.page_id == Page.id)
            .where(Document.batch_id == batch.id, PageScan.flagged).group_by(Document.id)).all())
        for row in view.rows:
            row.flagged_pages = flagged.get(row.document_id, 0)
    return view


def batches(archive: Archive, who: Principal, *, offset: int = 0,
            limit: int = 50) -> list[BatchView]:
    """The batches run in the reader's jurisdiction, newest first."""
    archive.admit(Knock(who, Action.batches, event="batch_list"))
    with archive.Session() as s:
        query = in_jurisdiction(
            select(Batch).order_by(Batch.id.desc()).offset(offset).limit(limit), who)
        found = [_view(s, b, pages=False) for b in s.scalars(query)]
    archive.record(audit.Event(actor=who.name, action="batch_list",
                               detail={"shown": len(found)}))
    return found


def _place(batch: Batch | None, batch_id: int) -> Target:
    """A batch as the door sees it: confined to the jurisdiction it was run in, a batch of the
    whole deployment (no region) is everyone's (``""``, as a container kept for no region),
    which the policy opens only to a reader with no region."""
    if batch is None:
        return Target("batch", str(batch_id), found=False)
    return Target("batch", str(batch_id), region=batch.region_code or "")


def batch(archive: Archive, who: Principal, batch_id: int) -> BatchView:
    """One batch with its rows, their outcomes, findings and process metadata."""
    with archive.Session() as s:
        found = s.get(Batch, batch_id)
        archive.admit(Knock(who, Action.batches, _place(found, batch_id), event="batch_show"))
        view = _view(s, found, pages=True)
    archive.record(audit.Event(actor=who.name, action="batch_show", object_type="batch",
                               object_id=str(batch_id)))
    return view


# -- the report ---------------------------------------------------------------------------------
REPORT_HEADER = ["行", "文件", "户号", "类别", "结果", "文件号", "页", "分辨率(dpi)", "色彩",
                 "位深", "倾斜(°)", "扫描设备", "软件", "质检发现"]


def _finding_text(findings: list[scanquality.Finding]) -> str:
    return "；".join(f"[{f.rule}] {f.sentence()}" for f in findings)


def report(archive: Archive, who: Principal, batch_id: int, fmt: str = "csv") -> Report:
    """The batch report with its process metadata: one line per page stored, one per row that
    failed, with each finding and its rule."""
    view = batch(archive, who, batch_id)
    rows: list[list[str]] = []
    for row in view.rows:
        device = " ".join(v for k, v in row.scanner.items() if k in ("make", "model"))
        common = [str(row.position), row.item, row.household, row.doc_type,
                  OUTCOME_NAMES.get(row.outcome, row.outcome),
                  str(row.document_id or "")]
        if not row.page_views:
            rows.append(common + ["", "", "", "", "", device, row.scanner.get("software", ""),
                                  _finding_text(row.findings) or row.message])
            continue
        for page in row.page_views:
            rows.append(common + [
                str(page.number), f"{page.dpi:.0f}" if page.dpi else "",
                COLOUR_NAMES.get(page.colour or "", page.colour or ""),
                str(page.bit_depth or ""), f"{page.skew:.1f}" if page.skew is not None else "",
                device, row.scanner.get("software", ""),
                _finding_text(row.findings + page.findings)])
    lines = [f"批次 {view.id}：{view.name}" + (f"　盒 {view.box}" if view.box else ""),
             f"要求：{PROFILE_NAMES.get(view.profile, view.profile)}　操作员：{view.operator}　"
             f"开始：{view.started_at:%Y-%m-%d %H:%M} UTC",
             f"已入库 {view.count('stored')}，已存在 {view.count('duplicate')}，"
             f"失败 {view.count('failed')}；质检发现 {view.findings}"]
    sheet = Sheet(f"数字化批次报告（批次 {view.id}）", REPORT_HEADER, rows, lines=lines,
                  widths=[0.5, 2.2, 2.0, 1.2, 0.9, 0.8, 0.5, 0.9, 0.8, 0.5, 0.7, 1.5, 1.5, 5.0],
                  landscape=True,
                  notes=["质检依据 DA/T 31-2017《纸质档案数字化规范》；分辨率、色彩、位深取自文件本身。"])
    archive.record(audit.Event(actor=who.name, action="batch_report", object_type="batch",
                               object_id=str(batch_id), detail={"format": fmt}))
    return _finish(archive, who, Report(f"batch-{view.id}", sheet, view))


# -- pages with findings ---------------------------------------------------------------------
@dataclass
class FlaggedPage:
    document_id: int
    page: int
    household: str | None
    doc_type: str
    batch_id: int | None
    findings: list[scanquality.Finding]

    def as_json(self) -> dict:
        return {"document_id": self.document_id, "page": self.page,
                "household": self.household, "doc_type": self.doc_type,
                "batch": self.batch_id, "findings": [f.as_json() for f in self.findings]}


def flagged_pages(archive: Archive, who: Principal, *, batch_id: int | None = None,
                  check: str | None = None, limit: int = 500) -> list[FlaggedPage]:
    """Pages whose scan-quality checks found something, in the reader's jurisdiction."""
    archive.admit(Knock(who, Action.ingest, event="pages_findings"))
    found: list[FlaggedPage] = []
    with archive.Session() as s:
        query = (select(Page, PageScan, Document)
                 .join(PageScan, PageScan.page_id == Page.id)
                 .join(Document, Document.id == Page.document_id)
                 .where(PageScan.flagged, Document.destroyed_at.is_(None))
                 .order_by(Page.document_id, Page.number))
        if batch_id is not None:
            query = query.where(PageScan.batch_id == batch_id)
        for page, scan, doc in s.execute(query):
            if not decide(who, Action.ingest, doc.region_code, doc.household_number):
                continue
            findings = [f for f in scanquality.loads(scan.findings)
                        if check is None or f.check == check]
            if findings:
                found.append(FlaggedPage(doc.id, page.number, doc.household_number,
                                         doc.type.name_zh, scan.batch_id, findings))
            if len(found) >= limit:
                break
    archive.record(audit.Event(actor=who.name, action="pages_findings",
                               detail={"shown": len(found),
                                       **({"batch": batch_id} if batch_id else {})}))
    return found


def page_findings(archive: Archive, document_id: int) -> dict[int, list[scanquality.Finding]]:
    """The findings of a document's pages, by page number (for a screen that has already
    passed the door for the document)."""
    with archive.Session() as s:
        rows = s.execute(select(Page.number, PageScan.findings)
                         .join(PageScan, PageScan.page_id == Page.id)
                         .where(Page.document_id == document_id, PageScan.flagged)).all()
    return {n: scanquality.loads(text) for n, text in rows}


def document_findings(archive: Archive, document_ids: list[int]) -> dict[int, int]:
    """How many pages of each document have findings (for a dossier's list)."""
    if not document_ids:
        return {}
    with archive.Session() as s:
        return dict(s.execute(
            select(Page.document_id, func.count(PageScan.page_id))
            .join(PageScan, PageScan.page_id == Page.id)
            .where(Page.document_id.in_(document_ids), PageScan.flagged)
            .group_by(Page.document_id)).all())
