"""Documents: ingest a scan, search, print page text, the reading order, list pages to
look at, re-OCR."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click

from records.catalogue import get_household
from records.door import Knock, Target
from records.exceptions import NotFound
from records.model import Region
from records.policy import Action, Principal
from web import reading
from web.cli.root import main
from web.cli.context import Context, progress
from web.cli.door import guarded
from web.narrowing import Narrowing, read_narrowing


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--household", "household_no", metavar="NO",
              help="The household whose dossier it goes into.")
@click.option("--region", "region_code", metavar="CODE",
              help="A daily-management record (日常管理档案, no --household): its region.")
@click.option("--year", type=int, metavar="YYYY", help="With --region: the year it is of.")
@click.option("--month", type=click.IntRange(1, 12), metavar="M",
              help="With --region: the month, for monthly records.")
@click.option("--type", "doc_type", required=True, help="Document type: code or Chinese name.")
@click.option("--seq", type=int, help="Number in the dossier (default: next).")
@click.option("--date", "doc_date", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option("--title")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--ocr-engine", metavar="NAME",
              help="OCR engine: rapidocr, tesseract or tesseract+rapidocr (alias auto); "
                   "default HUDANG_OCR_ENGINE, else rapidocr (docs/ocr.md).")
@click.option("--background", is_flag=True,
              help="Queue it as a job for 'hudang worker' (into a household's dossier); "
                   "follow it with 'hudang jobs'.")
@guarded(Action.ingest, per_object=True)
def ingest(c: Context, who: Principal, file: Path, household_no: str | None,
           region_code: str | None, year: int | None, month: int | None, doc_type: str,
           seq: int | None, doc_date, title: str | None, as_json: bool,
           ocr_engine: str | None, background: bool) -> None:
    """Ingest a scan (PDF, TIFF, JPEG or PNG) into a household's dossier (--household), or
    file a daily-management record of a region and a year (--region, --year, a daily type
    such as 花名册 or 资金台账)."""
    from ingest.pipeline import IngestRequest, Ingestor

    if (household_no is None) == (region_code is None):
        raise click.UsageError("give --household NO, or --region CODE --year YYYY for a "
                               "daily-management record")
    if region_code is not None and year is None:
        raise click.UsageError("--region needs --year")
    if household_no is not None and (year is not None or month is not None):
        raise click.UsageError("--year and --month go with --region, not --household")
    c.archive.admit(Knock(who, Action.ingest, _ingest_target(c, household_no, region_code)))
    if background:
        _queue_ingest(c, who, file, household_no, doc_type, seq, doc_date, title, as_json)
        return
    req = IngestRequest(path=file, household=household_no, doc_type=doc_type, seq=seq,
                        date=doc_date.date() if doc_date else None, title=title,
                        actor=who.name, region=region_code, year=year, month=month)
    with progress(f"{file.name}") as bar, Ingestor(c.archive, engine=ocr_engine) as ingestor:
        result = ingestor.ingest(req, progress=bar.update, on_pages=bar.reset)
    for warning in result.warnings:
        click.echo(f"warning: {file.name}: {warning}", err=True)
    where = result.household or f"volume {result.volume}"
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    elif result.duplicate:
        click.echo(f"duplicate: {file.name} is already document {result.document_id} of "
                   f"{where}")
    else:
        click.echo(f"ingested {file.name} as document {result.document_id} of "
                   f"{where} ({result.pages} pages)")


def _queue_ingest(c: Context, who: Principal, file: Path, household_no: str | None,
                  doc_type: str, seq: int | None, doc_date, title: str | None,
                  as_json: bool) -> None:
    from ingest import jobs

    if household_no is None or seq is not None:
        raise click.UsageError("--background takes a file for a household's dossier "
                               "(--household), without --seq")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read '{file.name}': {exc.strerror}") from None
    job_id = jobs.submit_ingest(
        c.archive, who, jobs.IngestJobRequest(household_no, doc_type,
                                              doc_date.date() if doc_date else None, title),
        [jobs.Upload(file.name, data)])
    if as_json:
        click.echo(json.dumps({"job": job_id}))
    else:
        click.echo(f"queued {file.name} as job {job_id}; 'hudang jobs' shows how it goes")


def _queue_reocr(c: Context, who: Principal, document_id: int, engine: str,
                 page_numbers: tuple[int, ...]) -> None:
    from ingest import jobs
    from ingest.cataloguing import document_target
    from records.kinds import JobKind
    from records.model import Document

    if page_numbers:
        raise click.UsageError("--background re-OCRs every page; leave out --page")
    with c.archive.Session() as s:
        target = document_target(s.get(Document, document_id), document_id)
    c.archive.admit(Knock(who, Action.ingest, target, event="reocr"))
    job_id = jobs.submit(c.archive, who, JobKind.reocr, document_id=document_id, engine=engine)
    click.echo(f"queued as job {job_id}")


def _ingest_target(c: Context, household_no: str | None, region_code: str | None) -> Target:
    """Where an ingest goes, as the door sees it: a household, or a region's volume."""
    with c.archive.Session() as s:
        if household_no is None:
            region = s.get(Region, region_code)
            return Target("region", region_code[:12], region=region and region.code,
                          found=region is not None)
        try:
            household = get_household(s, household_no)
        except NotFound:
            household = None
        return Target("household", household_no[:40], household=household and household.number,
                      region=household and household.region_code, found=household is not None)


@main.command()
@click.argument("query", required=False, default="")
@click.option("--json", "as_json", is_flag=True,
              help="Print the hits as one JSON array (with --facets: one object with the "
                   "total, the hits, the counts and the suggestion).")
@click.option("--limit", default=20, show_default=True, help="Documents per page of results.")
@click.option("--offset", default=0, show_default=True,
              help="Skip this many documents (the next page: --offset 20).")
@click.option("--type", "types", multiple=True, metavar="TYPE",
              help="Only documents of this type (code or Chinese name, e.g. 收入证明); "
                   "repeat for several.")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="Only documents dated on or after.")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Only documents dated on or before.")
@click.option("--region", metavar="CODE",
              help="Only this township or village (inside your own jurisdiction).")
@click.option("--status", type=click.Choice(["active", "suspended", "stopped"]),
              help="Only households whose status is this now (在保, 停发, 停保).")
@click.option("--sort", type=click.Choice(["relevance", "date", "household"]),
              default="relevance", show_default=True,
              help="Order: by relevance, by date (newest first) or by household number.")
@click.option("--close", is_flag=True,
              help="Also find close matches: a word of three or more characters with one "
                   "character different (a misread name).")
@click.option("--facets", is_flag=True, help="Also print the documents per type and region.")
@guarded(Action.search, per_object=True)
def search(c: Context, who: Principal, query: str, as_json: bool, limit: int,
           offset: int, types: tuple[str, ...], date_from: str | None, date_to: str | None,
           region: str | None, status: str | None, sort: str, close: bool,
           facets: bool) -> None:
    """Search by a Chinese word, a name, a household number or an ID number; narrow by
    type, date, region and household status, or list what the filters allow with no QUERY
    (hudang search --type 收入证明 --region 220381105012)."""
    given = {"from": date_from, "to": date_to, "region": region, "status": status,
             "sort": sort, "close": "1" if close else None}
    narrowing = read_narrowing(given.get, types)
    if not query.strip() and not narrowing.filtering:
        raise click.UsageError("give a QUERY, or a filter (--type, --from, --to, --region, "
                               "--status)")
    found = reading.search(c.archive, who, query, limit=max(1, limit), offset=max(0, offset),
                           narrowing=narrowing, facets=facets)
    if as_json and facets:
        click.echo(json.dumps({
            "total": int(found.total), "estimated": getattr(found.total, "estimated", False),
            "offset": found.offset, "has_next": found.has_next,
            "hits": [h.as_json() for h in found.hits],
            "facets": found.facets.as_json() if found.facets else None,
            "suggestion": _suggestion(query, narrowing) if found.suggest_close else None},
            ensure_ascii=False, indent=1))
        return
    if as_json:  # one array of hits, as scripts have read it; page on with --offset
        click.echo(json.dumps([h.as_json() for h in found.hits], ensure_ascii=False, indent=1))
        if found.suggest_close:
            click.echo(f"hint: {_suggestion(query, narrowing)}", err=True)
        return
    if not found.hits:
        click.echo("no documents found" if not found.offset else
                   f"no documents after the first {found.offset}")
        if found.suggest_close:
            click.echo(_suggestion(query, narrowing))
        return
    total = found.total
    count = f"about {total}" if getattr(total, "estimated", False) else f"{total}"
    first, last = found.offset + 1, found.offset + len(found.hits)
    click.echo(f"{count} documents; showing {first}-{last}")
    for h in found.hits:
        close_match = "  (close match: one character differs)" if h.approximate else ""
        whose = f"{h.household}  {h.head_name}" if h.household else \
            f"{h.region_code} {h.region_name} {h.year or ''}".rstrip()
        click.echo(f"{whose}  {h.type_name}  document {h.document_id} "
                   f"page {h.page}{close_match}\n    {h.snippet}")
    if found.has_next:
        click.echo(f"more: --offset {last}")
    if found.facets:
        about = "about " if found.facets.estimated else ""
        click.echo(f"by type ({about}documents): " + ", ".join(
            f"{t.name_zh} [{t.code}] {t.count}" for t in found.facets.types))
        click.echo(f"by region ({about}documents): " + ", ".join(
            f"{r.name_zh} [{r.code}] {r.count}" for r in found.facets.regions))


def _suggestion(query: str, narrowing: Narrowing) -> str:
    """The close-match search to try, as a command."""
    options = "".join(f" {o}" for o in narrowing_options(narrowing))
    return (f"nothing matched exactly; for close matches (a word with one character "
            f"different, perhaps misread) run: hudang search {_shell(query)}{options} --close")


def _shell(word: str) -> str:
    """``word`` as typed in a shell: quoted only when it must be (a Chinese name need not)."""
    return word if re.fullmatch(r"[\w.:/-]+", word) else shlex.quote(word)


def narrowing_options(narrowing: Narrowing) -> list[str]:
    out = [f"--type {_shell(t)}" for t in narrowing.types]
    for option, value in (("--from", narrowing.date_from), ("--to", narrowing.date_to),
                          ("--region", narrowing.region), ("--status", narrowing.status)):
        if value:
            out.append(f"{option} {value}")
    if narrowing.sort != "relevance":
        out.append(f"--sort {narrowing.sort}")
    return out


@main.command()
@click.argument("document_id", type=int)
@click.option("--page", type=int, help="Only this page (default: all).")
@guarded(Action.read_text, per_object=True)
def text(c: Context, who: Principal, document_id: int, page: int | None) -> None:
    """Print a document's OCR text (a recorded read; ID numbers masked unless you may see
    them in full)."""
    count = reading.document_page_count(c.archive, document_id)
    numbers = [page] if page else list(range(1, (count or 1) + 1))
    for n in numbers:
        body = reading.page_text(c.archive, who, document_id, n)
        if len(numbers) > 1:
            click.echo(f"--- page {n} ---")
        click.echo(body)


@main.command("reader")
@click.argument("document_id", type=int)
@click.option("--page", "number", default=1, show_default=True, help="The page shown.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.read_page, per_object=True)
def reader(c: Context, who: Principal, document_id: int, number: int, as_json: bool) -> None:
    """Where a page lies in its dossier's (or volume's) reading order: the documents in order
    and where the previous and next page and document lead, as the browser's reader shows
    them. No page content is read."""
    found = reading.open_reader(c.archive, who, document_id, number)
    if as_json:
        click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=1))
        return
    doc = found.doc
    whose = f"{doc.household}  {doc.head_name}" if doc.household else doc.head_name
    click.echo(f"{whose}: document {found.current + 1} of {len(found.documents)}, "
               f"page {number} of {doc.page_count}")
    for i, d in enumerate(found.documents):
        mark = ">" if i == found.current else " "
        click.echo(f"{mark} {d.seq:>3}  document {d.id}  {d.type_name}  {d.title}  "
                   f"{d.date or ''}  {d.page_count} pages".rstrip())
    for label, place in (("previous page", found.prev_page), ("next page", found.next_page),
                         ("previous document", found.prev_document),
                         ("next document", found.next_document)):
        click.echo(f"{label}: " + (f"document {place.document_id} page {place.page}"
                                   if place else "none"))


@main.group()
def pages() -> None:
    """Pages that need an archivist's look."""


@pages.command("low-confidence")
@click.option("--below", default=70.0, show_default=True, metavar="N",
              help="List OCR'd pages whose confidence (0-100) is below N.")
@click.option("--flagged", is_flag=True,
              help="Also list flagged pages (ingest.ocr.fields) whatever their confidence.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@guarded(Action.ingest, event="pages_low_confidence")
def pages_low_confidence(c: Context, who: Principal, below: float, flagged: bool,
                         as_json: bool) -> None:
    """List low-confidence and flagged pages (worst first), to re-OCR with 'hudang reocr'."""
    from ingest.reocr import low_confidence_pages

    found = low_confidence_pages(c.archive, who, below, flagged=flagged)
    if as_json:
        click.echo(json.dumps([p.as_json() for p in found], ensure_ascii=False, indent=1))
        return
    if not found:
        click.echo(f"no pages below confidence {below:g}")
        return
    for p in found:
        confidence = "-" if p.confidence is None else f"{p.confidence:5.1f}"
        click.echo(f"document {p.document_id:>6} page {p.page:>3}  {confidence}  {p.household}  "
                   f"{p.doc_type}  {p.engine or '-'}  {p.flag or ''}".rstrip())


@main.command()
@click.argument("document_id", type=int)
@click.option("--page", "page_numbers", type=int, multiple=True,
              help="Page to re-OCR (repeatable; default: every page).")
@click.option("--ocr-engine", required=True, metavar="NAME",
              help="Engine to read the pages with: rapidocr, tesseract or tesseract+rapidocr.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--background", is_flag=True,
              help="Queue it as a job for 'hudang worker' (every page).")
@guarded(Action.ingest, per_object=True)
def reocr(c: Context, who: Principal, document_id: int, page_numbers: tuple[int, ...],
          ocr_engine: str, as_json: bool, background: bool) -> None:
    """Re-run OCR on pages of a stored document; replaces its text layer, text and index entries."""
    from ingest.reocr import reocr as run_reocr

    if background:
        _queue_reocr(c, who, document_id, ocr_engine, page_numbers)
        return

    result = run_reocr(c.archive, who, document_id, engine=ocr_engine,
                       pages=list(page_numbers) or None)
    if as_json:
        click.echo(json.dumps({"document_id": result.document_id, "pages": result.pages,
                               "engine": result.engine,
                               "confidence": {str(k): v for k, v in result.confidence.items()},
                               "flags": {str(k): v for k, v in result.flags.items()}}))
        return
    for number in result.pages:
        value = result.confidence[number]
        confidence = "-" if value is None else f"{value:.1f}"
        flag = f"  flag: {result.flags[number]}" if result.flags[number] else ""
        click.echo(f"document {document_id} page {number}: re-OCR'd with {result.engine}, "
                   f"confidence {confidence}{flag}")
