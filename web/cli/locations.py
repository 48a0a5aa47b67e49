"""Cabinets, boxes and folders (柜、盒、袋): add, move, show, list, and print their labels.

The same services as the location screens (``ingest.locations``): adding, moving and
printing labels pass the door for ``locate``, showing for ``read_household``; each is
recorded in the audit log.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ingest import locations as service
from records.policy import Action, Principal
from records.problems import Problems
from web.cli.context import Context, write_out
from web.cli.door import guarded
from web.cli.households import _fail_on
from web.cli.root import main


@main.group()
def location() -> None:
    """Where the paper is: cabinets, boxes and folders, and moves between them."""


@location.command("add")
@click.argument("kind", type=click.Choice(["cabinet", "box", "folder"]))
@click.argument("code")
@click.option("--in", "parent", metavar="PARENT",
              help="The cabinet a box stands in, or the box a folder lies in.")
@click.option("--title", help="What is written on it, e.g. 红星村一组.")
@click.option("--region", metavar="CODE",
              help="The region whose papers it keeps (default: its parent's, else yours).")
@guarded(Action.locate, per_object=True)
def location_add(c: Context, who: Principal, kind: str, code: str, parent: str | None,
                 title: str | None, region: str | None) -> None:
    """Add a cabinet, box or folder with its CODE (what its barcode says too)."""
    try:
        ref = service.add(c.archive, who, kind, code, parent=parent, title=title, region=region)
    except Problems as exc:
        _fail_on(exc)
    where = f" in {parent.strip().upper()}" if parent else ""
    click.echo(f"added {ref.kind} {ref.code}{where}"
               + (f" for region {ref.region_code}" if ref.region_code else ""))


@location.command("move")
@click.argument("what", metavar="HOUSEHOLD_NO|REGION/YEAR|CODE")
@click.option("--to", "to", required=True, metavar="CODE",
              help="The folder or box to put it in (a box: the cabinet; '' takes it out).")
@click.option("--date", "on", metavar="YYYY-MM-DD", help="The day it was moved (default today).")
@click.option("--note", default="", help="Why, or anything worth keeping with the move.")
@guarded(Action.locate, per_object=True)
def location_move(c: Context, who: Principal, what: str, to: str, on: str | None,
                  note: str) -> None:
    """Move a household's dossier, a volume of daily-management records, or a container."""
    try:
        done = service.move(c.archive, who, what, to, on=on, note=note)
    except Problems as exc:
        _fail_on(exc)
    if not done.changed:
        click.echo(f"{done.what} is already in {done.destination or 'no container'}: "
                   "nothing moved")
    else:
        click.echo(f"moved {done.what} from {done.source or 'nowhere'} to "
                   f"{done.destination or 'nowhere'} on {done.on.isoformat()}")


@location.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.read_household, per_object=True)
def location_show(c: Context, who: Principal, code: str, as_json: bool) -> None:
    """A container: where it stands, what it holds, and its history (a recorded read)."""
    opened = service.open_container(c.archive, who, code)
    if as_json:
        click.echo(json.dumps(opened.as_json(), ensure_ascii=False, indent=1))
        return
    ref = opened.container
    click.echo(f"{ref.kind} {ref.code}  {ref.title or ''}".rstrip())
    if ref.region_code:
        click.echo(f"  region   {ref.region_code} {opened.region_name}")
    if opened.path:
        click.echo(f"  in       {' › '.join(r.code for r in opened.path)}")
    for child, holds in opened.children:
        click.echo(f"  {child.kind:<7} {child.code}  {child.title or ''}  ({holds} held)")
    for held in opened.held:
        place = f"  [{held.place}]" if held.place != ref.code else ""
        click.echo(f"  {held.kind:<7} {held.key}  {held.name}{place}")
    click.echo(f"history ({len(opened.history)})")
    for m in opened.history:
        click.echo(f"  {m.on.isoformat()}  {m.what_kind} {m.what}: {m.source or '-'} -> "
                   f"{m.destination or '-'}  by {m.by}" + (f"  {m.note}" if m.note else ""))


@location.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.read_household)
def location_list(c: Context, who: Principal, as_json: bool) -> None:
    """The cabinets (and boxes that stand in none) within your jurisdiction."""
    found = service.listing(c.archive, who, limit=10_000)
    if as_json:
        click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=1))
        return
    if not found.containers:
        click.echo("no cabinets or boxes yet: add one with 'hudang location add cabinet CODE'")
    for ref, region_name, children in found.containers:
        click.echo(f"{ref.kind:<7} {ref.code}  {ref.title or ''}  "
                   f"{region_name or ''}  ({children} inside)")


@main.command()
@click.argument("codes", nargs=-1, required=True, metavar="CODE...")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The PDF to write.")
@click.option("--with-contents", is_flag=True,
              help="Also the labels of every box and folder inside.")
@guarded(Action.locate, per_object=True)
def labels(c: Context, who: Principal, codes: tuple[str, ...], out: Path,
           with_contents: bool) -> None:
    """Print labels (A4, eight a page, Code 128 barcodes) of cabinets, boxes and folders."""
    pdf = service.labels(c.archive, who, list(codes), with_contents=with_contents)
    write_out(out, pdf)
    click.echo(f"wrote {out}")
