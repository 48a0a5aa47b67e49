"""The audit log from the console: verify the chain, export events as CSV."""
from __future__ import annotations

import sys

import click

from records import audit
from records.policy import Action, Principal
from web.cli.root import main
from web.cli.context import Context
from web.cli.door import guarded
from web.errors import ExitCode


@main.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("verify")
@guarded(Action.audit_view, event="audit_verify")
def audit_verify(c: Context, who: Principal) -> None:
    """Check that the audit log is complete and unaltered."""
    result = audit.verify(c.archive.engine)
    c.archive.record(audit.Event(actor=who.name, action="audit_verify",
                                 detail={"events": result.events, "intact": result.ok,
                                         **({} if result.ok else {"first_bad": result.first_bad})}))
    if not result.ok:
        click.echo(f"hudang: audit log broken at event {result.first_bad}: {result.reason}",
                   err=True)
        sys.exit(int(ExitCode.audit_broken))
    click.echo(f"audit log intact: {result.events} events")


@audit_group.command("export")
@click.option("--user", "user_name", default="", help="Only events of this user.")
@click.option("--household", default="", metavar="NO", help="Only events about this household.")
@click.option("--from", "date_from", default="", metavar="YYYY-MM-DD",
              help="First day (in the office's time zone, HUDANG_TIMEZONE).")
@click.option("--to", "date_to", default="", metavar="YYYY-MM-DD", help="Last day.")
@click.option("--action", default="", help="e.g. read_page, download, login.")
@click.option("--outcome", default="", type=click.Choice(["", "allowed", "refused"]))
@guarded(Action.audit_view, event="audit_export")
def audit_export(c: Context, who: Principal, user_name: str, household: str, date_from: str,
                 date_to: str, action: str, outcome: str) -> None:
    """Write audit events as CSV to standard output (ID numbers masked; recorded)."""
    from web.audit_views import AuditFilter, BadFilter, write_csv

    try:
        flt = AuditFilter.from_args({"user": user_name, "household": household,
                                     "date_from": date_from, "date_to": date_to,
                                     "action": action, "outcome": outcome})
    except BadFilter as exc:
        raise click.BadParameter(f"'{exc}' is not a date; write YYYY-MM-DD") from None
    c.archive.record(audit.Event(actor=who.name, action="audit_export",
                                 detail=flt.query_args()))
    with c.archive.Session() as s:
        write_csv(s, flt, who, sys.stdout, c.settings.timezone)
