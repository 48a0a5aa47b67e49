"""Retention, holds and destruction lists from the console (``docs/retention.md``).

``hudang retention classes|due|class add|class edit|map|set``, ``hudang hold add|lift|list``
and ``hudang destruction draft|submit|approve|return|witness|execute|certificate|show|list|
remove|cancel|reapply``: each acts as the operating-system user or ``--as USER`` through
the one door, on the same services as the screens.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ingest import destruction, retention, shredding
from ingest.reports import office_time
from records.policy import Action, Principal
from records.retention import read_class_facts
from web.cli.context import Context, write_out
from web.cli.door import guarded, unguarded
from web.cli.root import main


def _echo_json(value) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=1))


# -- retention ---------------------------------------------------------------------------------------
@main.group("retention")
def retention_group() -> None:
    """Retention classes (保管期限) and the queue of dossiers whose retention runs out."""


@retention_group.command("classes")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@unguarded
def retention_classes(c: Context, as_json: bool) -> None:
    """List the retention classes: period, trigger, end action, and the document types
    each is the default of."""
    found = retention.classes(c.archive)
    if as_json:
        _echo_json([k.as_json() for k in found])
        return
    for k in found:
        marks = ", ".join(m for m, on in (("default for dossiers", k.default_for_dossiers),
                                          ("locked", k.locked)) if on)
        click.echo(f"{k.code:<16} {k.period:<10} {k.trigger:<14} {k.action:<9} {k.name_zh}"
                   + (f"  ({marks})" if marks else ""))
        if k.types:
            click.echo(f"{'':<16} types: {'、'.join(k.types)}")


@retention_group.command("due")
@click.option("--within", default=0, show_default=True, metavar="DAYS",
              help="Due within this many days (overdue ones always listed).")
@click.option("--region", "region_code", metavar="CODE", help="Only this region (default: yours).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.retention_due, per_object=True)
def retention_due(c: Context, who: Principal, within: int, region_code: str | None,
                  as_json: bool) -> None:
    """Dossiers whose retention has run out or runs out within DAYS, earliest first, with
    counts by region."""
    report = retention.due(c.archive, who, region_code, within, fmt="json" if as_json else "text")
    q = report.data
    if as_json:
        _echo_json({"today": q.today.isoformat(), "within": q.within, "due": len(q.rows),
                    "overdue": q.overdue(),
                    "by_region": [{"region": code, "name": name, "due": n}
                                  for code, name, n in q.by_region],
                    "dossiers": [{"household": d.household, "head_name": d.head_name,
                                  "region": d.region_code, "archival_code": d.archival_code,
                                  "class": d.class_code, "action": d.action.value,
                                  "stop_date": d.stop_date.isoformat() if d.stop_date else None,
                                  "due_on": d.due_on.isoformat(),
                                  "overdue_days": d.overdue_days(q.today),
                                  "held": d.dossier_id in q.held,
                                  "on_a_list": d.dossier_id in q.listed} for d in q.rows]})
        return
    if not q.rows:
        click.echo(f"no dossier is due within {q.within} days")
        return
    for d in q.rows:
        marks = [m for m, on in (("held", d.dossier_id in q.held),
                                 ("on a list", d.dossier_id in q.listed)) if on]
        late = f"  overdue {d.overdue_days(q.today)} days" if d.overdue_days(q.today) else ""
        click.echo(f"{d.household}  {d.head_name}  {d.class_code}  due {d.due_on.isoformat()}"
                   f"{late}  {d.action.value}" + (f"  ({', '.join(marks)})" if marks else ""))
    click.echo("; ".join(f"{name} ({code}): {n}" for code, name, n in q.by_region)
               + f"; in all {len(q.rows)}, overdue {q.overdue()}")


@retention_group.group("class")
def retention_class() -> None:
    """Add or change a retention class (administrators)."""


def _class_options(f):
    f = click.option("--default-for-dossiers", "default", is_flag=True,
                     help="Household dossiers without a class of their own get this one.")(f)
    f = click.option("--action", "end_action", required=True,
                     type=click.Choice(["destroy", "review", "transfer"]),
                     help="What happens at the end of the period.")(f)
    f = click.option("--trigger", required=True,
                     type=click.Choice(["stop_date", "document_date", "permanent"]),
                     help="Count from the household's stop date (停保), from the document's "
                          "date, or never (permanent).")(f)
    f = click.option("--years", default=0, help="The period in whole years.")(f)
    f = click.option("--en", "name_en", default="", help="English name.")(f)
    return click.option("--name", "name_zh", required=True, help="Chinese name.")(f)


@retention_class.command("add")
@click.argument("code")
@_class_options
@guarded(Action.manage, per_object=True)
def class_add(c: Context, who: Principal, code: str, name_zh: str, name_en: str, years: int,
              trigger: str, end_action: str, default: bool) -> None:
    """Add a retention class."""
    facts = read_class_facts(name_zh, name_en, years, trigger, end_action, default)
    code = retention.add_class(c.archive, who, code, facts)
    click.echo(f"added retention class {code}")


@retention_class.command("edit")
@click.argument("code")
@_class_options
@guarded(Action.manage, per_object=True)
def class_edit(c: Context, who: Principal, code: str, name_zh: str, name_en: str, years: int,
               trigger: str, end_action: str, default: bool) -> None:
    """Change a retention class; every dossier's disposition date follows."""
    facts = read_class_facts(name_zh, name_en, years, trigger, end_action, default)
    changed = retention.edit_class(c.archive, who, code, facts)
    if not changed:
        click.echo(f"retention class {code}: nothing changed")
    for name, (before, after) in sorted(changed.items()):
        click.echo(f"retention class {code} {name}: {before} -> {after}")


@retention_group.command("map")
@click.argument("doc_type", metavar="TYPE")
@click.argument("class_code", metavar="CLASS")
@guarded(Action.manage, per_object=True)
def retention_map(c: Context, who: Principal, doc_type: str, class_code: str) -> None:
    """Give a document type another default retention class."""
    changed = retention.map_type(c.archive, who, doc_type, class_code)
    click.echo(f"document type {doc_type} -> {class_code}" + ("" if changed else " (unchanged)"))


@retention_group.command("set")
@click.argument("kind", type=click.Choice(["dossier", "document"]))
@click.argument("ident", metavar="ID")
@click.argument("class_code", metavar="CLASS")
@click.option("--reason", required=True, help="Why (kept with the change and in the audit log).")
@guarded(Action.set_retention, per_object=True)
def retention_set(c: Context, who: Principal, kind: str, ident: str, class_code: str,
                  reason: str) -> None:
    """Give a dossier (by household number) or a document (by id) another retention class;
    CLASS 'default' goes back to the default."""
    code = None if class_code == "default" else class_code
    if kind == "dossier":
        due = retention.set_dossier_class(c.archive, who, ident, code, reason)
    else:
        due = retention.set_document_class(c.archive, who, int(ident) if ident.isdigit() else -1,
                                           code, reason)
    click.echo(f"{kind} {ident}: retention class {class_code}; disposition date "
               f"{due.isoformat() if due else 'none'}")


# -- holds ------------------------------------------------------------------------------------------------
@main.group()
def hold() -> None:
    """Holds (冻结): a held household, dossier or document is never destroyed."""


_KIND = click.Choice(["household", "dossier", "document"])


@hold.command("add")
@click.argument("kind", type=_KIND)
@click.argument("ident", metavar="ID")
@click.option("--reason", required=True, help="Why it is held (a dispute, an investigation).")
@guarded(Action.hold, per_object=True)
def hold_add(c: Context, who: Principal, kind: str, ident: str, reason: str) -> None:
    """Place a hold on a household (number), a dossier (household number or archival code)
    or a document (id)."""
    hold_id = retention.add_hold(c.archive, who, kind, ident, reason)
    click.echo(f"hold {hold_id} placed on {kind} {ident}")


@hold.command("lift")
@click.argument("kind", type=_KIND)
@click.argument("ident", metavar="ID")
@click.option("--reason", required=True, help="Why the hold is lifted.")
@guarded(Action.hold, per_object=True)
def hold_lift(c: Context, who: Principal, kind: str, ident: str, reason: str) -> None:
    """Lift the hold standing on a household, dossier or document."""
    hold_id = retention.lift_hold(c.archive, who, kind, ident, reason)
    click.echo(f"hold {hold_id} on {kind} {ident} lifted")


@hold.command("list")
@click.option("--all", "everything", is_flag=True, help="Lifted holds too.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@guarded(Action.hold, per_object=True)
def hold_list(c: Context, who: Principal, everything: bool, as_json: bool) -> None:
    """The holds of your region, newest first."""
    found = retention.hold_list(c.archive, who, standing=not everything)
    if as_json:
        _echo_json([h.as_json() for h in found])
        return
    if not found:
        click.echo("no hold stands" if not everything else "no hold was ever placed")
    for h in found:
        lifted = f"  lifted by {h.lifted_by}: {h.lift_reason}" if h.lifted_at else ""
        click.echo(f"{h.id:>4}  {h.kind:<9} {h.ident:<20} by {h.placed_by}: {h.reason}{lifted}")


# -- destruction lists -------------------------------------------------------------------------------------
@main.group("destruction")
def destruction_group() -> None:
    """Destruction lists (销毁清册): draft, submit, approve or return, witness, execute."""


@destruction_group.command("draft")
@click.option("--region", "region_code", required=True, metavar="CODE")
@click.option("--due-within", default=0, show_default=True, metavar="DAYS",
              help="Take dossiers due within this many days too.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.destruction_draft, per_object=True)
def destruction_draft(c: Context, who: Principal, region_code: str, due_within: int,
                      as_json: bool) -> None:
    """Draw up a list of the region's due dossiers; prints the list's number."""
    drafted = destruction.draft(c.archive, who, region_code, due_within)
    if as_json:
        _echo_json(drafted.as_json())
        return
    if drafted.number is None:
        click.echo(f"no dossier of region {region_code} is due; no list was drafted",
                   err=True)
    else:
        click.echo(drafted.number)
    for word, found in (("held", drafted.held), ("on another list", drafted.listed),
                        ("to review or transfer, not destroy", drafted.other_action)):
        if found:
            click.echo(f"left out, {word}: {', '.join(found)}", err=True)


def _list_command(name: str, action: Action, doc: str):
    def decorate(f):
        f.__doc__ = doc
        f = guarded(action, per_object=True)(f)
        f = click.argument("number", type=int)(f)
        return destruction_group.command(name)(f)
    return decorate


@_list_command("submit", Action.destruction_draft, "Submit a draft list to an approver.")
def destruction_submit(c: Context, who: Principal, number: int) -> None:
    destruction.submit(c.archive, who, number)
    click.echo(f"list {number} submitted; an approver other than its author approves it")


@_list_command("approve", Action.destruction_approve,
               "Approve a submitted list (not one you drew up); the waiting period starts.")
def destruction_approve(c: Context, who: Principal, number: int) -> None:
    until = destruction.approve(c.archive, who, number)
    click.echo(f"list {number} approved; two witnesses may confirm it from "
               f"{office_time(c.archive, until)}")


@destruction_group.command("return")
@click.argument("number", type=int)
@click.option("--comment", required=True, help="What the list needs.")
@guarded(Action.destruction_approve, per_object=True)
def destruction_return(c: Context, who: Principal, number: int, comment: str) -> None:
    """Send a submitted list back to its reviewer with a comment."""
    destruction.return_list(c.archive, who, number, comment)
    click.echo(f"list {number} returned to its reviewer")


@_list_command("witness", Action.destruction_witness,
               "Confirm a list as a witness (监销人): after its waiting period, not its approver.")
def destruction_witness(c: Context, who: Principal, number: int) -> None:
    count = destruction.witness(c.archive, who, number)
    click.echo(f"list {number}: witness {count} of 2 confirmed"
               + ("; it may be executed" if count == 2 else ""))


@destruction_group.command("execute")
@click.argument("number", type=int)
@click.option("--background", is_flag=True,
              help="Queue it as a job for 'hudang worker' (as the browser does); prints the "
                   "job's number; follow it with 'hudang jobs'.")
@click.option("--json", "as_json", is_flag=True, help="With --background: print {\"job\": J}.")
@guarded(Action.destruction_execute, per_object=True)
def destruction_execute(c: Context, who: Principal, number: int, background: bool,
                        as_json: bool) -> None:
    """Destroy the dossiers of an approved, witnessed list (resumes after a crash), here
    and now, one line per dossier; with --background, as a job."""
    if background:
        from ingest.jobs import submit_destruction

        job_id = submit_destruction(c.archive, who, number)
        click.echo(json.dumps({"job": job_id}) if as_json else
                   f"list {number} queued as job {job_id}; follow it with 'hudang jobs'")
        return

    def told(position: int, household: str, status: str) -> None:
        click.echo(f"{position} {household} {status}")
        sys.stdout.flush()

    done = shredding.execute(c.archive, who, number, on_item=told)
    counts = ", ".join(f"{n} {k}" for k, n in done.counts.items() if n)
    click.echo(f"list {number} executed: {counts}" if not done.already
               else f"list {number} was executed before: {counts}")


@destruction_group.command("certificate")
@click.argument("number", type=int)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), metavar="FILE.pdf")
@click.option("--list", "as_list", is_flag=True,
              help="The destruction list (销毁清册) instead of the certificate.")
@guarded(Action.destruction_view, per_object=True)
def destruction_certificate(c: Context, who: Principal, number: int, out: str,
                            as_list: bool) -> None:
    """Write the destruction certificate (销毁证明书) of an executed list, or with --list
    the list itself (a draft until executed), as PDF."""
    pdf = destruction.printed(c.archive, who, number, "list" if as_list else "certificate")
    write_out(out, pdf)
    click.echo(f"wrote {out}")


@destruction_group.command("show")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.destruction_view, per_object=True)
def destruction_show(c: Context, who: Principal, number: int, as_json: bool) -> None:
    """A list: its state, who did what, and each dossier's status."""
    view = destruction.show(c.archive, who, number, fmt="json" if as_json else "text")
    if as_json:
        _echo_json(view.as_json())
        return

    def at(value) -> str:
        return office_time(c.archive, value) or "-"

    click.echo(f"list {view.number}  {view.region_name} ({view.region_code})  {view.status}")
    click.echo(f"drafted by {view.drafted_by} {at(view.drafted_at)}"
               + (f"; approved by {view.approved_by} {at(view.approved_at)}, waiting until "
                  f"{at(view.wait_until)}" if view.approved_by else ""))
    for n, (name, when) in enumerate(view.witnesses, start=1):
        click.echo(f"witness {n}: {name} {at(when)}")
    if view.comment and view.status == "returned":
        click.echo(f"returned: {view.comment}")
    for item in view.items:
        click.echo(f"{item.position:>3} {item.household} {item.archival_code} {item.retention} "
                   f"kept {item.kept or '-'} {item.pages}p {item.status}"
                   + (f" ({item.outcome})" if item.outcome else ""))
    click.echo(", ".join(f"{n} {k}" for k, n in view.counts.items() if n) or "no dossiers")


@destruction_group.command("list")
@click.option("--status", type=click.Choice(["draft", "submitted", "returned", "approved",
                                             "executing", "executed", "cancelled"]))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@guarded(Action.destruction_view, per_object=True)
def destruction_list(c: Context, who: Principal, status: str | None, as_json: bool) -> None:
    """The destruction lists of your region, newest first."""
    found = destruction.lists(c.archive, who, status)
    if as_json:
        _echo_json([{"list": x.number, "region": x.region_code, "status": x.status,
                     "dossiers": x.dossiers, "drafted_by": x.drafted_by,
                     "witnesses": x.witnesses} for x in found])
        return
    for x in found:
        click.echo(f"{x.number:>4}  {x.region_code:<12} {x.status:<10} {x.dossiers} dossiers  "
                   f"drafted by {x.drafted_by}")


@destruction_group.command("remove")
@click.argument("number", type=int)
@click.option("--dossier", "dossier", required=True, metavar="HOUSEHOLD",
              help="The household number of the dossier to take off the list.")
@guarded(Action.destruction_draft, per_object=True)
def destruction_remove(c: Context, who: Principal, number: int, dossier: str) -> None:
    """Take a dossier off a draft or returned list."""
    dossier_id = retention.dossier_of(c.archive, dossier)
    household = destruction.remove(c.archive, who, number, dossier_id or -1)
    click.echo(f"list {number}: {household} taken off")


@destruction_group.command("cancel")
@click.argument("number", type=int)
@click.option("--comment", default="", help="Why (kept in the list's history).")
@guarded(Action.destruction_draft, per_object=True)
def destruction_cancel(c: Context, who: Principal, number: int, comment: str) -> None:
    """Withdraw a list before it is approved; its dossiers may go on another list."""
    destruction.cancel(c.archive, who, number, comment)
    click.echo(f"list {number} withdrawn")


@destruction_group.command("reapply")
@click.option("--register", "registers", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="A destruction register (default: the data home's and its "
                                   "copies); may be given several times.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.destruction_execute)
def destruction_reapply(c: Context, who: Principal, registers: tuple[str, ...],
                        as_json: bool) -> None:
    """Destroy again what the destruction register says was destroyed (after a restore)."""
    paths = [Path(r) for r in registers] or [
        p for p in (shredding.register_path(c.archive),
                   *shredding.copy_paths(c.archive, every_key=True))
        if p.exists()]
    done = shredding.reapply_destructions(c.archive, paths, actor=who.name)
    if as_json:
        _echo_json(done.as_json())
        return
    click.echo(f"{len(done.dossiers)} dossiers destroyed again, {len(done.lists)} lists put "
               f"back, {done.finished} checked")
