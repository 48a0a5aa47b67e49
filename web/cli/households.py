"""Households (低保户): add, edit, members, import a CSV, status changes, show.

The same services as the household screens (``ingest.households``): each passes the one
door for its household and records what it changed.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ingest import households as service
from records import households as rules
from records.model import StatusChange
from records.policy import Action, Principal
from records.problems import N_, Problems, fail
from web.cli.admin import print_report
from web.cli.context import Context
from web.cli.door import guarded
from web.cli.root import main
from web.errors import exit_code_for


@main.group()
def household() -> None:
    """Households (低保户) and their dossiers."""


def _facts_options(f):
    """The options that set a household's facts (shared by add and edit)."""
    for option in reversed((
        click.option("--head", help="Name of the head of household (户主)."),
        click.option("--id-number", help="Head's ID number; stored encrypted, shown masked."),
        click.option("--address", help="Address (住址)."),
        click.option("--urban", "area", flag_value="urban", help="Urban allowance (城市)."),
        click.option("--rural", "area", flag_value="rural", help="Rural allowance (农村)."),
        click.option("--class", "review_class", metavar="1|2|3",
                     help="Review class: 1 一类, 2 二类, 3 三类."),
        click.option("--certificate", metavar="NO",
                     help="Allowance-certificate number (低保证号); only its blind index is "
                          "stored."),
        click.option("--enrolled", metavar="YYYY-MM-DD", help="Enrolment date (纳入日期)."),
    )):
        f = option(f)
    return f


def _fields(head, id_number, address, area, review_class, certificate, enrolled):
    """The facts given on the command line (the others are left as they are)."""
    given = {"head_name": head, "head_id_number": id_number, "address": address, "area": area,
             "review_class": review_class, "certificate_no": certificate,
             "enrolled_on": enrolled}
    return {k: v for k, v in given.items() if v is not None}


def _fail_on(exc: Problems) -> None:
    """Every problem of a command's values, one line each, then the exit code of the first."""
    for p in exc.problems:
        click.echo(f"hudang: {p}", err=True)
    raise SystemExit(int(exit_code_for(exc)))


@household.command("add")
@click.argument("number")
@click.option("--region", "region_code", metavar="CODE",
              help="12-digit village code (default: the number's first 12 digits).")
@_facts_options
@guarded(Action.edit_household, per_object=True)
def household_add(c: Context, who: Principal, number: str, region_code: str | None, head,
                  id_number, address, area, review_class, certificate, enrolled) -> None:
    """Add a household and open its dossier."""
    if region_code and not number.startswith(region_code):
        raise fail("region", N_("household number %(number)s does not start with its village "
                                "code %(code)s"), number=number, code=region_code)
    try:
        service.create(c.archive, who, number,
                       _fields(head, id_number, address, area, review_class, certificate,
                               enrolled))
    except Problems as exc:
        _fail_on(exc)
    click.echo(f"added household {number}")


@household.command("edit")
@click.argument("number")
@_facts_options
@guarded(Action.edit_household, per_object=True)
def household_edit(c: Context, who: Principal, number: str, head, id_number, address, area,
                   review_class, certificate, enrolled) -> None:
    """Change the facts given; the others stay as they are."""
    try:
        changed = service.edit(c.archive, who, number,
                               _fields(head, id_number, address, area, review_class,
                                       certificate, enrolled))
    except Problems as exc:
        _fail_on(exc)
    click.echo(f"changed {', '.join(changed)} of household {number}" if changed else
               f"household {number} already says so: nothing changed")


@household.command("certificate")
@click.argument("number")
@click.argument("certificate")
@guarded(Action.edit_household, per_object=True)
def household_certificate(c: Context, who: Principal, number: str, certificate: str) -> None:
    """Record (or enter again, after a key rotation) a household's allowance-certificate
    number (低保证号); only its blind index and the number sealed are stored."""
    try:
        service.edit(c.archive, who, number, {"certificate_no": certificate})
    except Problems as exc:
        _fail_on(exc)
    click.echo(f"recorded the certificate number of household {number}")


@household.group("member")
def member() -> None:
    """The members of a household besides its head."""


@member.command("add")
@click.argument("number")
@click.argument("name")
@click.argument("relation")
@click.option("--id-number", help="The member's ID number; stored encrypted, shown masked.")
@guarded(Action.edit_household, per_object=True)
def member_add(c: Context, who: Principal, number: str, name: str, relation: str,
               id_number: str | None) -> None:
    """Add a member (name, relation to the head: 配偶, 子女 ...) at the end of the roster."""
    try:
        position = service.add_member(c.archive, who, number,
                                      rules.read_member(name, relation, id_number))
    except Problems as exc:
        _fail_on(exc)
    click.echo(f"added member {position} of household {number}: {name} ({relation})")


@member.command("remove")
@click.argument("number")
@click.argument("position", type=int)
@guarded(Action.edit_household, per_object=True)
def member_remove(c: Context, who: Principal, number: str, position: int) -> None:
    """Remove the member at POSITION (as 'hudang household show' numbers them)."""
    name = service.remove_member(c.archive, who, number, position)
    click.echo(f"removed member {position} of household {number}: {name}")


@household.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.edit_household)
def household_import(c: Context, who: Principal, file: Path, as_json: bool) -> None:
    """Create or update households from a CSV file, one row per household.

    Columns (Chinese or English names): 户号, 户主姓名 (both required), 户主身份证号,
    家庭成员 (name/relation/ID number, separated by ；), 住址, 城乡, 分类, 低保证号, 状态,
    状态日期, 纳入日期 (docs/households.md). Prints one line per bad row, then a summary;
    exits 2 when any row was refused. Importing the same file again changes nothing.
    """
    print_report(service.import_file(c.archive, who, file.read_bytes(), file.name), file.name,
                 as_json)


CHANGES = {"stop": StatusChange.stop, "resume": StatusChange.resume,
           "suspend": StatusChange.suspend, "raise": StatusChange.increase,
           "lower": StatusChange.decrease}


@household.command("status")
@click.argument("number")
@click.option("--stop", "change", flag_value="stop", help="停保: the allowance stops (the "
              "retention clock starts on --date).")
@click.option("--resume", "change", flag_value="resume", help="恢复: payment resumes.")
@click.option("--suspend", "change", flag_value="suspend", help="停发: payment is suspended.")
@click.option("--raise", "change", flag_value="raise", help="增发: the allowance is raised.")
@click.option("--lower", "change", flag_value="lower", help="减发: the allowance is lowered.")
@click.option("--date", "on", required=True, metavar="YYYY-MM-DD",
              help="The day the change takes effect.")
@click.option("--reason", required=True, help="Why (recorded with the change).")
@guarded(Action.edit_household, per_object=True)
def household_status(c: Context, who: Principal, number: str, change: str | None, on: str,
                     reason: str) -> None:
    """Record a status change (停发, 增发, 减发, 停保, 恢复) with its date and reason."""
    if change is None:
        raise click.UsageError("give one of --stop, --resume, --suspend, --raise, --lower")
    day = rules.read_date(on, "date")
    if day is None:
        raise click.UsageError("--date must not be empty")
    done = service.change_status(c.archive, who, number, CHANGES[change], day, reason)
    stop = f", stopped on {done.stop_date.isoformat()}" if done.stop_date else ""
    click.echo(f"recorded {rules.CHANGE_NAMES[done.change]} ({done.change.value}) of household "
               f"{number} on {done.on.isoformat()}; status now {done.status.value}{stop}")


@household.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.read_household, per_object=True)
def household_show(c: Context, who: Principal, number: str, as_json: bool) -> None:
    """A household: its facts, members (ID numbers masked), status history and what its
    dossier lacks. A recorded read."""
    sheet = service.show(c.archive, who, number)
    if as_json:
        click.echo(json.dumps(sheet.as_json(), ensure_ascii=False, indent=1))
        return
    click.echo(f"household {sheet.number}  {sheet.head_name}  {sheet.head_id_shown or ''}".rstrip())
    click.echo(f"  region        {sheet.region_code} {sheet.region_name}")
    click.echo(f"  status        {sheet.status}"
               + (f" (stopped on {sheet.stop_date.isoformat()})" if sheet.stop_date else ""))
    for label, value in (("class", sheet.review_class), ("area", sheet.area),
                         ("address", sheet.address), ("enrolled", sheet.enrolled_on),
                         ("certificate", "on file" if sheet.certificate_on_file else None)):
        if value is not None:
            click.echo(f"  {label:<13} {value}")
    click.echo(f"members ({len(sheet.members)} besides the head)")
    for m in sheet.members:
        click.echo(f"  {m.position:>2}  {m.name}  {m.relation}  {m.id_shown or '-'}")
    click.echo(f"status history ({len(sheet.history)})")
    for e in sheet.history:
        click.echo(f"  {e.on.isoformat()}  {rules.CHANGE_NAMES[StatusChange(e.change)]} "
                   f"({e.change})  {e.reason}  by {e.recorded_by}")
    missing = "、".join(name for _, name in sheet.missing)
    click.echo(f"dossier lacks: {missing}" if missing else "dossier lacks nothing")
    where = sheet.location
    if where is None or where.code is None:
        click.echo("location: not recorded")
    else:
        moved = where.history[0].on.isoformat() if where.history else "?"
        click.echo(f"location: {where.text()} (since {moved})")

