"""The audit log from the console: verify the chain (and anchors kept outside), anchor its
head, export events as CSV."""
from __future__ import annotations

import sys
from datetime import datetime, timezone

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
@click.option("--anchor", "anchors", multiple=True, metavar="LINE",
              help="An anchor line kept outside the system ('hudang audit anchor'): check that "
                   "the log still holds it. Repeat for several.")
@guarded(Action.audit_view, event="audit_verify")
def audit_verify(c: Context, who: Principal, anchors: tuple[str, ...]) -> None:
    """Check that the audit log is complete and unaltered (and still holds the anchors)."""
    kept = [audit.Anchor.parse(line) for line in anchors]
    result = c.archive.verify_audit()
    lost = [reason for a in kept if (reason := audit.check_anchor(c.archive.engine, a))]
    c.archive.record(audit.Event(actor=who.name, action="audit_verify",
                                 detail={"events": result.events, "intact": result.ok,
                                         "anchors": len(kept), "anchors_lost": len(lost),
                                         **({} if result.ok else {"first_bad": result.first_bad})}))
    if not result.ok:
        click.echo(f"hudang: audit log broken at event {result.first_bad}: {result.reason}",
                   err=True)
    for reason in lost:
        click.echo(f"hudang: {reason}", err=True)
    if not result.ok or lost:
        sys.exit(int(ExitCode.audit_broken))
    if result.legacy and result.keyed_from is None:
        legacy = (" with plain SHA-256 links, written before the log was keyed (the next "
                  "event keys it)")
    elif result.legacy:
        legacy = (f", {result.legacy} of them from before it was keyed (plain SHA-256 links, "
                  f"attested at event {result.keyed_from})")
    else:
        legacy = ""
    held = f"; it holds all {len(kept)} anchors" if kept else ""
    click.echo(f"audit log intact: {result.events} events{legacy}{held}")


@audit_group.command("anchor")
@guarded(Action.audit_view, event="audit_anchor")
def audit_anchor(c: Context, who: Principal) -> None:
    """Record and print the log's head as a line to keep outside the system (on paper in the
    利用登记 register, or in a second system)."""
    archive = c.archive
    event_id = archive.record(audit.Event(actor=who.name, action="audit_anchor"))
    # the office's date: the line is written into its register
    day = datetime.now(timezone.utc).astimezone(archive.settings.timezone).strftime("%Y-%m-%d")
    click.echo(audit.anchor(archive.engine, event_id, day).line())


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
