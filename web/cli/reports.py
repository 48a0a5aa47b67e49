"""Reports from the console: gaps, roster, statistics, a dossier's contents; reconciliation."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import click

from ingest import reports
from records.exceptions import Invalid
from records.policy import Action, Principal
from web.cli.context import Context, write_out
from web.cli.door import guarded
from web.cli.root import main


@main.command("report")
@click.argument("kind", type=click.Choice(["gaps", "roster", "stats", "contents"]))
@click.option("--region", "region_code", metavar="CODE",
              help="The region (6, 9 or 12 digits); not needed with --household.")
@click.option("--household", "household_no", metavar="NO",
              help="The household whose dossier's cover and contents (卷内目录) to print.")
@click.option("--status", default="active", show_default=True,
              type=click.Choice(["active", "stopped", "all"]), help="Roster: which households.")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "pdf"]))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), metavar="FILE")
@guarded(Action.report, per_object=True)
def report(c: Context, who: Principal, kind: str, region_code: str | None,
           household_no: str | None, status: str, fmt: str, out: Path) -> None:
    """Write a report as CSV or A4 PDF (Chinese text embedded; ID numbers masked)."""
    if kind == "contents":
        if not household_no:
            raise Invalid("the contents report needs --household NO")
        made = reports.contents(c.archive, who, household_no, fmt)
    elif not region_code:
        raise Invalid(f"the {kind} report needs --region CODE")
    elif kind == "gaps":
        made = reports.gaps(c.archive, who, region_code, fmt)
    elif kind == "roster":
        made = reports.roster(c.archive, who, region_code, status, fmt=fmt)
    else:
        made = reports.stats(c.archive, who, region_code, fmt)
    write_out(out, made.csv() if fmt == "csv" else made.pdf())
    click.echo(f"wrote {out} ({len(made.sheet.rows)} rows)")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@main.command("reconcile")
@click.argument("roster", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--region", "region_code", metavar="CODE", help="Only this region (default: yours).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.report, per_object=True)
def reconcile(c: Context, who: Principal, roster: Path, region_code: str | None,
              as_json: bool) -> None:
    """Compare the month's payment roster (CSV: 户号, 户主, 金额) with the dossiers."""
    try:
        data = roster.read_bytes()
    except OSError as exc:
        raise Invalid(f"cannot read '{roster.name}': {exc.strerror}") from None
    made = reports.reconcile(c.archive, who, data, roster.name, region_code,
                             fmt="json" if as_json else "text")
    result, parsed = made.data, made.extra["roster"]
    if as_json:
        row = lambda r: {"household": r.household, "head_name": r.head_name,  # noqa: E731
                         "amount": _money(r.amount), "line": r.line}
        click.echo(json.dumps({
            "agrees": result.agrees and not parsed.problems, "roster_rows": len(parsed.rows),
            "amount_total": str(parsed.total), "matched": result.matched,
            "outside_scope": result.outside_scope,
            "on_roster_without_dossier": [row(r) for r in result.on_roster_without_dossier],
            "on_roster_empty_dossier": [row(r) for r in result.on_roster_empty_dossier],
            "on_roster_but_stopped": [row(r) for r in result.on_roster_but_stopped],
            "name_differs": [{**row(r), "dossier_head_name": d.head_name}
                             for r, d in result.name_differs],
            "active_not_on_roster": [{"household": d.household, "head_name": d.head_name}
                                     for d in result.active_not_on_roster],
            "bad_rows": parsed.problems}, ensure_ascii=False, indent=1))
        return
    for line in made.sheet.lines:
        click.echo(line)
    for cells in made.sheet.rows:
        click.echo("  ".join(c for c in cells if c))
    for problem in parsed.problems:
        click.echo(f"{roster.name}: {problem}", err=True)
