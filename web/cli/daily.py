"""Daily-management records (日常管理档案): list them, and show a region's volume of a year.

Filing one is ``hudang ingest FILE --region CODE --year YYYY --type TYPE`` (``documents``);
reading one's text is ``hudang text ID``; both pass the door like a household's documents.
"""
from __future__ import annotations

import json

import click

from ingest import volumes
from records.policy import Action, Principal
from web import reading
from web.cli.context import Context
from web.cli.door import guarded
from web.cli.root import main


@main.group("records")
def records_group() -> None:
    """Daily-management records (日常管理档案) of a region and a year."""


@records_group.command("list")
@click.option("--region", metavar="CODE", help="Only this region and the regions under it.")
@click.option("--year", type=int, metavar="YYYY")
@click.option("--month", type=click.IntRange(1, 12), metavar="M")
@click.option("--type", "doc_type", help="A daily-management type: code or Chinese name.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.read_household, per_object=True)
def records_list(c: Context, who: Principal, region: str | None, year: int | None,
                 month: int | None, doc_type: str | None, as_json: bool) -> None:
    """List daily-management records within your jurisdiction, newest year first."""
    found = volumes.records(c.archive, who, region=region, year=year, month=month,
                            doc_type=doc_type, limit=100_000)
    if as_json:
        click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=1))
        return
    if not found.records:
        click.echo("no daily-management records found")
    for r in found.records:
        when = f"{r.year}-{r.month:02d}" if r.month else f"{r.year}"
        click.echo(f"document {r.document_id:>6}  {r.region_code} {r.region_name}  {when:<7}  "
                   f"{r.type_name}  {r.title}  ({r.page_count} pages, {r.retention_class})")


@records_group.command("show")
@click.argument("volume", metavar="REGION/YEAR")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.read_household, per_object=True)
def records_show(c: Context, who: Principal, volume: str, as_json: bool) -> None:
    """A region's volume of a year: its records in order, its code, retention class and
    location (a recorded read)."""
    view = reading.open_volume(c.archive, who, volume)
    if as_json:
        click.echo(json.dumps(view.as_json(), ensure_ascii=False, indent=1))
        return
    f = view.facts
    click.echo(f"volume {f.key}  {f.region_name} {f.year}  {f.archival_code or ''}".rstrip())
    click.echo(f"  retention  {f.retention_class}")
    click.echo(f"  location   {f.location.text() or 'not recorded'}")
    for d in view.documents:
        when = f"{d.month:>2}月" if d.month else "   "
        click.echo(f"  {d.seq:>3}  {when}  {d.type_name}  {d.title}  {d.date or ''}  "
                   f"({d.page_count} pages, document {d.id})")
