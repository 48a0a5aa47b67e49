"""The archivist's desk from the console: document types, corrections, order, reviews."""
from __future__ import annotations

import json
from datetime import date

import click

from ingest import cataloguing
from ingest.reports import due_reviews
from records import doctypes
from records.exceptions import Invalid
from records.idnumbers import mask_in_text
from records.policy import Action, Principal
from web.cli.context import Context
from web.cli.door import guarded, unguarded
from web.cli.root import main


def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{what} '{value}' is not a date; write YYYY-MM-DD") from None


# -- document types ------------------------------------------------------------------------
@main.group()
def doctype() -> None:
    """The vocabulary of document types (材料类别) and which a complete dossier needs."""


@doctype.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@unguarded
def doctype_list(c: Context, as_json: bool) -> None:
    """List the document types; 'required' ones make a dossier complete."""
    with c.archive.Session() as s:
        types = [{"code": t.code, "name_zh": t.name_zh, "name_en": t.name_en,
                  "required": t.required} for t in doctypes.all_types(s)]
    if as_json:
        click.echo(json.dumps(types, ensure_ascii=False, indent=1))
        return
    for t in types:
        click.echo(f"{t['code']:<24} {'required' if t['required'] else '-':<9} {t['name_zh']}  "
                   f"{t['name_en']}")


@doctype.command("add")
@click.argument("code")
@click.argument("name_zh")
@click.option("--en", "name_en", default="", help="English name (default: the Chinese one).")
@click.option("--required", is_flag=True, help="A complete dossier needs one of this type.")
@guarded(Action.manage, per_object=True)
def doctype_add(c: Context, who: Principal, code: str, name_zh: str, name_en: str,
                required: bool) -> None:
    """Add a document type: a code (letters, digits, _) and its Chinese name."""
    cataloguing.add_doctype(c.archive, who, code, name_zh, name_en, required)
    click.echo(f"added document type {code} {name_zh}{' (required)' if required else ''}")


@doctype.command("set-required")
@click.argument("code")
@click.argument("required", type=click.Choice(["yes", "no"]))
@guarded(Action.manage, per_object=True)
def doctype_set_required(c: Context, who: Principal, code: str, required: str) -> None:
    """Say whether a complete dossier needs a document of this type (yes or no)."""
    changed = cataloguing.set_doctype_required(c.archive, who, code, required == "yes")
    state = "required" if required == "yes" else "not required"
    click.echo(f"document type {code} is {state}" + ("" if changed else " (unchanged)"))


# -- documents ----------------------------------------------------------------------------------
@main.group()
def document() -> None:
    """A document's metadata and its place in the dossier."""


@document.command("edit")
@click.argument("document_id", type=int)
@click.option("--type", "doc_type", help="Document type: code or Chinese name.")
@click.option("--date", "doc_date", metavar="YYYY-MM-DD", help="Its date ('none' clears it).")
@click.option("--title", help="Its title (题名).")
@click.option("--responsible", help="Responsible party (责任者); '' clears it.")
@click.option("--reason", required=True, help="Why it is corrected (kept in the audit log).")
@guarded(Action.catalogue, per_object=True)
def document_edit(c: Context, who: Principal, document_id: int, doc_type: str | None,
                  doc_date: str | None, title: str | None, responsible: str | None,
                  reason: str) -> None:
    """Correct a document's type, date, title or responsible party (an audit event keeps
    before and after)."""
    clear = doc_date is not None and doc_date.strip().lower() == "none"
    changes = cataloguing.Changes(
        type=doc_type, date=None if clear or doc_date is None else _day(doc_date, "date"),
        clear_date=clear, title=title, responsible=responsible)
    edited = cataloguing.edit_document(c.archive, who, document_id, changes, reason)
    if not edited.changed:
        click.echo(f"document {document_id}: nothing changed")
        return
    for key in sorted(k for k in edited.before if edited.before[k] != edited.after[k]):
        click.echo(mask_in_text(f"document {document_id} {key}: {edited.before[key] or '-'} -> "
                                f"{edited.after[key] or '-'}"))


@document.command("move")
@click.argument("document_id", type=int)
@click.option("--to-seq", "to_seq", type=int, required=True, metavar="N",
              help="Its new place in the dossier (1 = first).")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@guarded(Action.catalogue, per_object=True)
def document_move(c: Context, who: Principal, document_id: int, to_seq: int, reason: str) -> None:
    """Move a document to another place in its dossier; item numbers (件号) follow the new
    order, and a number once given is never given again."""
    moved = cataloguing.move_document(c.archive, who, document_id, to_seq, reason)
    if moved.before == moved.after:
        click.echo(f"document {document_id} is already at place {moved.after}")
        return
    click.echo(f"document {document_id}: place {moved.before} -> {moved.after}")
    for r in moved.renumbered:
        click.echo(f"  document {r.document_id}: item {r.before or '-'} -> {r.after}")


# -- reviews ------------------------------------------------------------------------------------
@main.group()
def review() -> None:
    """Reviews (复核) of households by their class."""


@review.command("record")
@click.argument("number")
@click.option("--date", "reviewed_on", required=True, metavar="YYYY-MM-DD")
@click.option("--note", default="", help="What the review found (ID numbers are masked).")
@click.option("--outcome", default="continued", show_default=True,
              type=click.Choice(["continued", "adjusted", "stop_proposed"]))
@guarded(Action.record_review, per_object=True)
def review_record(c: Context, who: Principal, number: str, reviewed_on: str, note: str,
                  outcome: str) -> None:
    """Record that a household was reviewed."""
    day = _day(reviewed_on, "review date")
    cataloguing.record_review(c.archive, who, number, day, outcome, note)
    click.echo(f"recorded the review of {number} on {day.isoformat()} ({outcome})")


@review.command("due")
@click.option("--region", "region_code", metavar="CODE", help="Only this region (default: yours).")
@click.option("--within", default=30, show_default=True, metavar="DAYS",
              help="Due within this many days (overdue ones always listed).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@guarded(Action.report, per_object=True)
def review_due(c: Context, who: Principal, region_code: str | None, within: int,
               as_json: bool) -> None:
    """List households due for review, earliest first, with their last review."""
    report = due_reviews(c.archive, who, region_code, within, fmt="json" if as_json else "text")
    day = report.extra["today"]
    if as_json:
        click.echo(json.dumps([{"household": d.household, "head_name": d.head_name,
                                "region": d.region_code, "class": d.review_class,
                                "last_review": d.last_review.isoformat() if d.last_review
                                else None, "due": d.due.isoformat(),
                                "overdue_days": d.overdue_days(day)} for d in report.data],
                              ensure_ascii=False, indent=1))
        return
    if not report.data:
        click.echo(f"no household due for review within {within} days")
    for d in report.data:
        last = d.last_review.isoformat() if d.last_review else "never"
        late = f"  overdue {d.overdue_days(day)} days" if d.overdue_days(day) else ""
        click.echo(f"{d.household}  {d.head_name}  class {d.review_class}  last {last}  "
                   f"due {d.due.isoformat()}{late}")
    if report.extra["unclassed"]:
        click.echo(f"({report.extra['unclassed']} active households have no review class)")
