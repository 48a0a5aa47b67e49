"""Digitising boxes: ingest a whole box as a batch (批次), print separator sheets, read a
batch and its report, list pages with scan-quality findings.

The same services as the batch screens (``ingest.box``, ``ingest.batches``,
``ingest.separators``); every command passes the door for ``ingest``, reading batches for
``batches`` (the archivist's and the QC reviewer's).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ingest import batches as service
from ingest.box import MANIFEST, RowsFailed, from_directory, ingest_box, long_scan
from ingest.scanquality import RULES
from records.kinds import ScanProfile
from records.policy import Action, Principal
from web.cli.context import Context, progress, write_out
from web.cli.door import guarded
from web.cli.documents import pages
from web.cli.root import main


@main.command("ingest-box")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--profile", type=click.Choice([p.value for p in ScanProfile]),
              default=ScanProfile.standard.value, show_default=True,
              help="What the batch asks of the scans: 'colour' flags pages scanned in "
                   "black-and-white or greyscale (DA/T 31-2017 9.3).")
@click.option("--box", "container", metavar="CODE",
              help="The box (盒) the papers came from (hudang location).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--ocr-engine", metavar="NAME", help="OCR engine (default: the deployment's).")
@click.option("--background", is_flag=True,
              help="Queue the directory's files and manifest as a job for 'hudang worker', "
                   "as the browser's box upload does; follow it with 'hudang jobs'.")
@guarded(Action.ingest, per_object=True)
def ingest_box_command(c: Context, who: Principal, path: Path, profile: str,
                       container: str | None, as_json: bool, ocr_engine: str | None,
                       background: bool) -> None:
    """Ingest a box as one batch: PATH is a directory with manifest.csv (file, household_no,
    doc_type, seq, date, title, pages), or one long scan (PDF or TIFF) with a separator
    sheet before each document. Run it again after an interruption: nothing is stored
    twice. Exits with code 8 when rows failed (the others went in)."""
    if background:
        _queue_box(c, who, path, ScanProfile(profile), container, as_json)
        return
    box = long_scan(path) if path.is_file() else from_directory(path)
    with progress("box", total=len(box.rows), unit="row") as bar:
        def moved(step) -> None:
            if step.result is not None:
                bar.update(1)
                if not as_json:
                    bar.write(step.result.sentence())
                    for number, findings in sorted(step.result.page_findings.items()):
                        for finding in findings:
                            bar.write(f"    page {number}: [{finding.rule}] "
                                      f"{finding.sentence()}")

        result = ingest_box(c.archive, who, box, profile=ScanProfile(profile),
                            container=container, engine=ocr_engine, progress=moved)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=1))
    else:
        if result.separator_pages:
            click.echo(f"{result.separator_pages} separator pages found (not stored)")
        click.echo(result.summary())
    if result.failed:
        raise RowsFailed(f"{result.failed} of {len(result.rows)} rows of batch "
                         f"{result.batch_id} failed; mend them and run it again")


def _queue_box(c: Context, who: Principal, path: Path, profile: ScanProfile,
               container: str | None, as_json: bool) -> None:
    from ingest import jobs

    box = from_directory(path)  # the same sentences for a missing or unreadable manifest
    manifest = jobs.Upload(MANIFEST, (path / MANIFEST).read_bytes())
    named = {r.file for r in box.rows}
    uploads = [jobs.Upload(name, box.files[name].read_bytes())
               for name in sorted(box.files) if name in named]
    job_id = jobs.submit_box(c.archive, who, jobs.BoxJobRequest(manifest, profile, container),
                             uploads)
    if as_json:
        click.echo(json.dumps({"job": job_id}))
    else:
        click.echo(f"queued {len(uploads)} files of '{path.name}' as job {job_id}; follow it "
                   "with 'hudang jobs'")


@main.command()
@click.option("--household", "households", metavar="NO", multiple=True, required=True,
              help="A household (repeatable): one sheet per household and type.")
@click.option("--type", "doc_types", metavar="TYPE", multiple=True, required=True,
              help="A document type, code or Chinese name (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The PDF file to write.")
@guarded(Action.ingest, per_object=True)
def separators(c: Context, who: Principal, households: tuple[str, ...],
               doc_types: tuple[str, ...], out: Path) -> None:
    """Print separator sheets (分隔页, A4 PDF): a QR code with the household number and the
    document type, and the same in large type. Scan one before each document of a box."""
    from ingest.box import separator_sheets

    data, count = separator_sheets(c.archive, who, list(households), list(doc_types))
    write_out(out, data)
    click.echo(f"wrote {count} separator sheets to {out}")


@main.group()
def batch() -> None:
    """Digitisation batches (批次): outcomes, findings, process metadata, reports."""


@batch.command("manifest-template")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The CSV file to write (manifest.csv).")
@guarded(Action.ingest, event="manifest_template")
def batch_manifest_template(c: Context, who: Principal, out: Path) -> None:
    """Write a blank manifest.csv to fill in: its columns (in Chinese) and an example row."""
    from ingest.box import manifest_template

    write_out(out, manifest_template())
    click.echo(f"wrote a blank manifest to {out}")


@batch.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@guarded(Action.batches, per_object=True)
def batch_list(c: Context, who: Principal, as_json: bool) -> None:
    """The batches, newest first."""
    found = service.batches(c.archive, who)
    if as_json:
        click.echo(json.dumps([b.summary_json() for b in found], ensure_ascii=False, indent=1))
        return
    if not found:
        click.echo("no batches")
    for b in found:
        click.echo(f"batch {b.id}  {b.name}  {b.state}  {b.profile}  stored "
                   f"{b.count('stored')}, already {b.count('duplicate')}, failed "
                   f"{b.count('failed')}, findings {b.findings}  {b.operator}")


@batch.command("show")
@click.argument("batch_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.batches, per_object=True)
def batch_show(c: Context, who: Principal, batch_id: int, as_json: bool) -> None:
    """One batch: each row's outcome, the findings of its pages, the process metadata."""
    view = service.batch(c.archive, who, batch_id)
    if as_json:
        click.echo(json.dumps(view.as_json(), ensure_ascii=False, indent=1))
        return
    click.echo(f"batch {view.id}: {view.source}  ({view.state}, profile {view.profile}, "
               f"operator {view.operator}, box {view.box or '-'}, runs {view.runs})")
    for row in view.rows:
        where = f"{row.household} {row.doc_type}".strip()
        doc = f"document {row.document_id}" if row.document_id else "-"
        click.echo(f"row {row.position} {row.item}: {row.outcome} {doc} {where} "
                   f"{row.message}".rstrip())
        for finding in row.findings:
            click.echo(f"    [{finding.rule}] {finding.sentence()}")
        for page in row.page_views:
            for finding in page.findings:
                click.echo(f"    page {page.number}: [{finding.rule}] {finding.sentence()}")


@batch.command("report")
@click.argument("batch_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["csv", "pdf"]), default="csv",
              show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@guarded(Action.batches, per_object=True)
def batch_report(c: Context, who: Principal, batch_id: int, fmt: str, out: Path) -> None:
    """The batch report with its process metadata, as CSV or PDF."""
    report = service.report(c.archive, who, batch_id, fmt)
    write_out(out, report.csv() if fmt == "csv" else report.pdf())
    click.echo(f"wrote the report of batch {batch_id} to {out}")


@pages.command("findings")
@click.option("--batch", "batch_id", type=int, help="Only this batch's pages.")
@click.option("--check", type=click.Choice(sorted(RULES)), help="Only this check's findings.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@guarded(Action.ingest, per_object=True)
def pages_findings(c: Context, who: Principal, batch_id: int | None, check: str | None,
                   as_json: bool) -> None:
    """Pages whose scan-quality checks (数据质检, DA/T 31-2017) found something."""
    found = service.flagged_pages(c.archive, who, batch_id=batch_id, check=check)
    if as_json:
        click.echo(json.dumps([p.as_json() for p in found], ensure_ascii=False, indent=1))
        return
    if not found:
        click.echo("no pages with findings")
    for p in found:
        for finding in p.findings:
            click.echo(f"document {p.document_id:>6} page {p.page:>3}  {p.household or '-'}  "
                       f"{p.doc_type}  [{finding.rule}] {finding.sentence()}")

