"""Whole-box ingest (整盒数字化): a box's scans and their manifest, run as one batch (批次).

:func:`ingest_box` is the service the command line (``hudang ingest-box``) calls. It
takes a :class:`BoxInput` (a directory with its ``manifest.csv``, or one long scan with
separator sheets) and ingests every row through the one ingest pipeline
(:class:`ingest.pipeline.Ingestor`), each row on its own: a row naming an unknown
household or type, a missing file, or a page count that does not match fails with its
sentence, and the rest go in. Each row's outcome is written to the batch as soon as it is
known, so a run that is interrupted is simply run again: the batch of the same source is
continued, and the rows already stored are found by their content hash and reported as
already stored, never stored twice.

The manifest is a CSV file (``records.csvfiles``: UTF-8 or GB18030, Chinese or English
column names): file, household_no, doc_type, seq, date, title, pages. A row with a file
but no household and no type is a long scan to split at its separator sheets
(``ingest.separators``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import select

from ingest import scanquality, separators
from ingest.archive import Archive
from ingest.batches import UPLOAD_SOURCE, page_findings
from ingest.exceptions import IngestError, NoSpace
from ingest.journal import work_dir
from ingest.pipeline import IngestRequest, IngestResult, Ingestor, PageCountMismatch
from records import audit
from records.catalogue import find_household
from records.csvfiles import Columns, decode, read_table
from records.doctypes import get_type
from records.door import Knock, Target
from records.exceptions import Invalid, RecordsError
from records.idnumbers import mask_in_text
from records.kinds import BatchState, ContainerKind, RowOutcome, ScanProfile
from records.locations import find as find_container
from records.model import Batch, BatchRow
from records.policy import Action, Principal
from records.problems import Problems

MANIFEST = "manifest.csv"
COLUMNS = Columns(
    names={"file": ("文件", "文件名", "file"),
           "household_no": ("户号", "household_no", "household"),
           "doc_type": ("材料类别", "类型", "doc_type", "type"),
           "seq": ("顺序号", "件号", "seq"),
           "date": ("日期", "形成日期", "date"),
           "title": ("题名", "title"),
           "pages": ("页数", "pages")},
    required=("file",))
SOURCE_LENGTH = 300


class BoxError(IngestError):
    """The box as a whole cannot be run (no manifest, a manifest that cannot be read)."""


class RowsFailed(IngestError):
    """Some rows of a box failed (each with its sentence); the others went in."""


@dataclass
class ManifestRow:
    position: int  # the row number a spreadsheet shows (the header is row 1)
    file: str
    household: str = ""
    doc_type: str = ""
    seq: int | None = None
    date: date | None = None
    title: str | None = None
    pages: int | None = None
    problem: str | None = None  # a cell that cannot be read: the row fails with this

    @property
    def separated(self) -> bool:
        """A long scan with separator sheets: no household, no type."""
        return not self.household and not self.doc_type


@dataclass
class BoxInput:
    """What a box run ingests: its rows and where each named file is."""

    source: str  # how the batch is known: the directory or the file as given
    rows: list[ManifestRow]
    files: dict[str, Path]


@dataclass
class RowResult:
    position: int
    item: str
    household: str
    doc_type: str
    outcome: RowOutcome
    message: str = ""
    document_id: int | None = None
    pages: int | None = None
    findings: list[scanquality.Finding] = field(default_factory=list)  # of the document
    page_findings: dict[int, list[scanquality.Finding]] = field(default_factory=dict)

    def sentence(self) -> str:
        where = f"{self.household} {self.doc_type}".strip()
        if self.outcome is RowOutcome.failed:
            return f"row {self.position} {self.item}: failed: {self.message}"
        what = "already stored" if self.outcome is RowOutcome.duplicate else "stored"
        pages = "1 page" if self.pages == 1 else f"{self.pages} pages"
        return (f"row {self.position} {self.item}: {what} as document {self.document_id} "
                f"({where}, {pages})")

    def as_json(self) -> dict:
        return {"row": self.position, "item": self.item, "household": self.household,
                "doc_type": self.doc_type, "outcome": self.outcome.value,
                "message": self.message, "document_id": self.document_id, "pages": self.pages,
                "already_stored": self.outcome is RowOutcome.duplicate,
                "findings": [f.as_json() for f in self.findings],
                "page_findings": {str(n): [f.as_json() for f in fs]
                                  for n, fs in sorted(self.page_findings.items())}}


@dataclass
class BoxResult:
    batch_id: int
    source: str
    rows: list[RowResult]
    separator_pages: int = 0

    def count(self, outcome: RowOutcome) -> int:
        return sum(1 for r in self.rows if r.outcome is outcome)

    @property
    def failed(self) -> int:
        return self.count(RowOutcome.failed)

    def summary(self) -> str:
        flagged = sum(len(fs) for r in self.rows for fs in r.page_findings.values())
        return (f"batch {self.batch_id}: {self.count(RowOutcome.stored)} stored, "
                f"{self.count(RowOutcome.duplicate)} already stored, {self.failed} failed; "
                f"{flagged} page findings")

    def as_json(self) -> dict:
        return {"batch": self.batch_id, "source": self.source,
                "stored": self.count(RowOutcome.stored),
                "already_stored": self.count(RowOutcome.duplicate), "failed": self.failed,
                "separator_pages": self.separator_pages,
                "rows": [r.as_json() for r in self.rows]}


@dataclass
class BoxProgress:
    """Where a run is: row ``row`` of ``rows`` (1-based), its pages done so far, and the
    row's result once it has one."""

    row: int
    rows: int
    item: str
    pages_done: int = 0
    pages: int | None = None
    result: RowResult | None = None


Progress = Callable[[BoxProgress], None]


# -- reading a box -------------------------------------------------------------------------------
def from_directory(directory: Path) -> BoxInput:
    """A directory holding the scans and ``manifest.csv``."""
    directory = Path(directory)
    manifest = directory / MANIFEST
    if not directory.is_dir():
        raise BoxError(f"cannot ingest the box '{directory}': it is not a directory")
    if not manifest.is_file():
        raise BoxError(f"cannot ingest the box '{directory.name}': it has no {MANIFEST}")
    files = {p.name: p for p in directory.iterdir() if p.is_file() and p.name != MANIFEST}
    rows = read_manifest(manifest.read_bytes(), MANIFEST)
    return BoxInput(_source(str(directory.resolve())), rows, files)


def long_scan(path: Path) -> BoxInput:
    """One long scan of a box, with a separator sheet before each document."""
    path = Path(path)
    return BoxInput(_source(str(path.resolve())), [ManifestRow(2, path.name)],
                    {path.name: path})


def uploaded(job_id: int, rows: list[ManifestRow], files: dict[str, Path]) -> BoxInput:
    """A box uploaded in the browser and run by background job ``job_id``: its batch is
    known by the job (a retry of the job continues the same batch)."""
    return BoxInput(UPLOAD_SOURCE.format(job=job_id), rows, files)


def _source(text: str) -> str:
    """How a batch names its source in the catalogue: ID numbers masked (a folder or a file
    may be named after a person's), the last :data:`SOURCE_LENGTH` characters."""
    return mask_in_text(text)[-SOURCE_LENGTH:]


def manifest_template() -> str:
    """A blank ``manifest.csv`` to fill in: the header in Chinese (each column's first name)
    and one example row; with a byte-order mark, so that a spreadsheet reads it as UTF-8."""
    header = ",".join(names[0] for names in COLUMNS.names.values())
    return (f"\ufeff{header}\r\n"
            "0001.pdf,220381105012-0042,申请书,1,2024-03-01,个人申请书,2\r\n")


def read_manifest(data: bytes, name: str = MANIFEST) -> list[ManifestRow]:
    try:
        table = read_table(decode(data, name), COLUMNS, name)
    except Problems as exc:
        raise BoxError(f"cannot read {name}: {exc}") from None
    rows = [_row(number, cells) for number, cells in table.rows]
    rows += [ManifestRow(p.row, "", problem=str(p.problem)) for p in table.skipped]
    return sorted(rows, key=lambda r: r.position)


def _row(number: int, cells: dict[str, str]) -> ManifestRow:
    row = ManifestRow(number, cells.get("file", "").strip(),
                      household=cells.get("household_no", "").strip(),
                      doc_type=cells.get("doc_type", "").strip(),
                      title=cells.get("title", "").strip() or None)
    try:
        if not row.file:
            raise ValueError("names no file")
        row.seq = _whole(cells.get("seq"), "seq")
        row.pages = _whole(cells.get("pages"), "pages")
        text = cells.get("date", "").strip()
        if text:
            try:
                row.date = date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"the date “{text[:20]}” is not YYYY-MM-DD") from None
        if bool(row.household) != bool(row.doc_type):
            raise ValueError("gives a household without a type or a type without a "
                             "household (give both, or neither for a long scan with "
                             "separator sheets)")
    except ValueError as exc:
        row.problem = str(exc)
    return row


def _whole(text: str | None, column: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"the {column} “{text[:20]}” is not a whole number from 1")
    return int(text)


# -- running a box -------------------------------------------------------------------------------
def ingest_box(archive: Archive, who: Principal, box: BoxInput, *,
               profile: ScanProfile = ScanProfile.standard, container: str | None = None,
               engine: str | None = None, progress: Progress | None = None,
               ingestor: Ingestor | None = None,
               on_batch: Callable[[int], None] | None = None) -> BoxResult:
    """Ingest every row of ``box`` as one batch; see the module docstring. A background
    job passes its own ``ingestor`` (its OCR processes are kept between jobs) and learns
    the batch's id as soon as it is opened (``on_batch``)."""
    archive.admit(Knock(who, Action.ingest, event="ingest_box"))
    batch_id = _open_batch(archive, who, box.source, profile, container)
    if on_batch is not None:
        on_batch(batch_id)
    results: list[RowResult] = []
    separator_pages = 0
    total = len(box.rows)
    with nullcontext(ingestor) if ingestor else Ingestor(archive, engine=engine) as ingestor:
        for index, row in enumerate(box.rows, 1):
            step = BoxProgress(index, total, row.file)
            if row.problem is None and row.separated and row.file in box.files:
                done, seps = _run_long_scan(archive, who, ingestor, batch_id, profile, row,
                                            box.files[row.file], step, progress)
                results += done
                separator_pages += seps
                continue
            result = _run_row(archive, who, ingestor, batch_id, profile, row,
                              box.files.get(row.file), step, progress)
            results.append(result)
    _finish(archive, batch_id)
    outcome = BoxResult(batch_id, box.source, results, separator_pages)
    archive.record(audit.Event(
        actor=who.name, action="ingest_box", object_type="batch", object_id=str(batch_id),
        detail={"stored": outcome.count(RowOutcome.stored),
                "already_stored": outcome.count(RowOutcome.duplicate),
                "failed": outcome.failed, "profile": profile.value}))
    return outcome


def _open_batch(archive: Archive, who: Principal, source: str, profile: ScanProfile,
                container: str | None) -> int:
    """The batch of ``source``: continued when it was run before, else a new one."""
    with archive.Session() as s, s.begin():
        box = None
        if container:
            box = find_container(s, container)
            if box is None or box.kind is not ContainerKind.box:
                raise Invalid(f"there is no box {container.strip().upper()[:40]}")
        batch = s.scalar(select(Batch).where(Batch.source == source))
        if batch is None:
            batch = Batch(source=source, profile=profile, operator=who.name,
                          region_code=who.region, container=box, runs=1)
            s.add(batch)
        else:
            batch.runs += 1
            batch.state = BatchState.running
            batch.profile = profile
            if box is not None:
                batch.container = box
        s.flush()
        return batch.id


def _finish(archive: Archive, batch_id: int) -> None:
    with archive.Session() as s, s.begin():
        batch = s.get(Batch, batch_id)
        pending = any(r.outcome is RowOutcome.pending for r in batch.rows)
        batch.state = BatchState.running if pending else BatchState.ingested
        batch.finished_at = datetime.now(timezone.utc)


def _admit_household(archive: Archive, who: Principal, number: str) -> None:
    with archive.Session() as s:
        household = find_household(s, number)
        archive.admit(Knock(who, Action.ingest, Target(
            "household", number[:40], household=household and household.number,
            region=household and household.region_code, found=household is not None)))


def _run_row(archive: Archive, who: Principal, ingestor: Ingestor, batch_id: int,
             profile: ScanProfile, row: ManifestRow, path: Path | None, step: BoxProgress,
             progress: Progress | None, *, item: str | None = None,
             scanner: dict[str, str] | None = None) -> RowResult:
    item = item or row.file
    result = RowResult(row.position, item, row.household, row.doc_type, RowOutcome.failed)
    scanned: IngestResult | None = None
    try:
        if row.problem is not None:
            raise Invalid(f"row {row.position} {row.problem}")
        if path is None or not path.is_file():
            raise IngestError(f"cannot ingest '{row.file}': no such file in the box")
        _admit_household(archive, who, row.household)
        req = IngestRequest(path=path, household=row.household, doc_type=row.doc_type,
                            seq=row.seq, date=row.date, title=row.title, actor=who.name,
                            pages=row.pages, batch_id=batch_id, profile=profile)

        def pages_done(n: int) -> None:
            step.pages_done += n
            if progress:
                progress(step)

        def page_total(n: int) -> None:
            step.pages = n

        scanned = ingestor.ingest(req, progress=pages_done, on_pages=page_total)
    except NoSpace:
        raise
    except PageCountMismatch as exc:
        result.message, result.findings = str(exc), [exc.finding]
    except (IngestError, RecordsError) as exc:
        result.message = str(exc)
    if scanned is not None:
        result.document_id, result.pages = scanned.document_id, scanned.pages
        result.outcome = RowOutcome.duplicate if scanned.duplicate else RowOutcome.stored
        result.page_findings = {p.number: p.findings for p in scanned.scans if p.findings}
    _keep_row(archive, batch_id, row, result, scanner or (scanned.scanner if scanned else {}))
    step.result = result
    if progress:
        progress(step)
    return result


def _run_long_scan(archive: Archive, who: Principal, ingestor: Ingestor, batch_id: int,
                   profile: ScanProfile, row: ManifestRow, path: Path, step: BoxProgress,
                   progress: Progress | None) -> tuple[list[RowResult], int]:
    """Split a long scan at its separator sheets and ingest each document as a row."""
    settings = archive.settings
    with work_dir(settings.tmp_dir, "separate") as work:
        try:
            parts, separator_pages, scanner = separators.split(path, work, ingestor.limits)
        except NoSpace:
            raise
        except IngestError as exc:
            failed = RowResult(row.position, row.file, "", "", RowOutcome.failed, str(exc))
            _keep_row(archive, batch_id, row, failed, {})
            return [failed], 0
        results = []
        for part in parts:
            item = f"{row.file}{part.item}"
            if part.household is None:
                pages = ", ".join(str(n) for n in part.pages)
                failed = RowResult(row.position, item, "", "", RowOutcome.failed,
                                   f"cannot ingest '{row.file}': pages {pages} come before the "
                                   "first separator sheet; scan a separator before them")
                _keep_row(archive, batch_id, row, failed, {})
                results.append(failed)
                continue
            if part.path is None:  # a separator followed by nothing
                failed = RowResult(row.position, item, part.household, part.type_code,
                                   RowOutcome.failed, f"cannot ingest '{row.file}': separator "
                                   f"{part.index} is followed by no pages")
                _keep_row(archive, batch_id, row, failed, {})
                results.append(failed)
                continue
            sub = ManifestRow(row.position, part.path.name, household=part.household,
                              doc_type=part.type_code)
            results.append(_run_row(archive, who, ingestor, batch_id, profile, sub, part.path,
                                    step, progress, item=item, scanner=scanner))
    return results, separator_pages


def _keep_row(archive: Archive, batch_id: int, row: ManifestRow, result: RowResult,
              scanner: dict[str, str]) -> None:
    """Write the row's outcome at once (a run again continues from here). A row stored by an
    earlier run stays "stored" in the batch; this run reports it as already stored. The file's
    name and the sentence (which names the file) are kept, and reported, with ID numbers
    masked, as the jobs keep an upload's name."""
    result.item = mask_in_text(result.item)[:300]
    result.message = mask_in_text(result.message)
    with archive.Session() as s, s.begin():
        kept = s.scalar(select(BatchRow).where(BatchRow.batch_id == batch_id,
                                               BatchRow.position == row.position,
                                               BatchRow.item == result.item))
        if kept is None:
            kept = BatchRow(batch_id=batch_id, position=row.position, item=result.item)
            s.add(kept)
        earlier = kept.outcome is RowOutcome.stored and kept.document_id == result.document_id
        kept.household_no = result.household[:40]
        kept.doc_type = result.doc_type[:50]
        kept.declared_pages = row.pages
        kept.outcome = RowOutcome.stored if earlier else result.outcome
        kept.message = result.message
        kept.document_id = result.document_id
        kept.pages = result.pages
        kept.findings = scanquality.dumps(result.findings)
        kept.finished_at = datetime.now(timezone.utc)
        if scanner or not earlier:
            kept.scanner_make = scanner.get("make")
            kept.scanner_model = scanner.get("model")
            kept.scanner_software = scanner.get("software")
    if result.outcome is RowOutcome.duplicate and result.document_id is not None:
        result.page_findings = page_findings(archive, result.document_id)


def separator_sheets(archive: Archive, who: Principal, households: Sequence[str],
                     doc_types: Sequence[str]) -> tuple[bytes, int]:
    """The separator sheets of each household and type, as an A4 PDF, and how many."""
    sheets = []
    with archive.Session() as s:
        types = []
        for value in doc_types:
            try:
                types.append(get_type(s, value, daily=False))
            except RecordsError as exc:
                raise Invalid(str(exc)) from None
    for number in households:
        _admit_household(archive, who, number.strip())
        sheets += [separators.Sheet(number.strip(), t.code, t.name_zh) for t in types]
    archive.record(audit.Event(actor=who.name, action="separators",
                               detail={"households": len(households), "sheets": len(sheets)}))
    return separators.render_sheets(sheets), len(sheets)


__all__ = ["BoxError", "BoxInput", "BoxProgress", "BoxResult", "COLUMNS", "MANIFEST",
           "ManifestRow", "RowResult", "RowsFailed", "from_directory",
           "ingest_box", "long_scan", "manifest_template", "read_manifest", "separator_sheets",
           "uploaded"]
