"""Retention (保管期限): classes, the disposition date, and the review queue.

A retention class says how long a record is kept, counted from what (a document's date,
the household's stop date 停保, or never: permanent) and what happens at the end
(destroy, review, transfer). Each document type maps to a default class; a document and a
dossier may be given another by an archivist, with a reason.

:func:`disposition_date` is the one pure function that says when a dossier (or a document,
or a daily-management record of desk-c's) falls due, from its class and its household's
status events: 停保 starts the clock, a later 停保 corrects it, 恢复 clears it. Everything
else here reads and writes the catalogue around it: :func:`refresh_dossier` stores the date
on the dossier whenever something it depends on changes, and :func:`due_dossiers` is the
review queue.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from records.clock import as_utc
from records.exceptions import Conflict, Destroyed, Invalid, NotFound
from records.households import Change, replay
from records.model import (Document, DocumentType, Dossier, EndAction, Household,
                           RetentionChange, RetentionClass, RetentionTrigger, StatusChange)
from records.problems import N_, Problem, Problems, fail

MAX_YEARS = 100
REASON_LENGTH = 500
# the class of the archive's own permanent records (destruction lists and certificates)
PERMANENT = "permanent"


# -- the pure part ------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A retention class as the date computation needs it."""

    code: str
    years: int
    trigger: RetentionTrigger
    action: EndAction = EndAction.destroy

    @classmethod
    def of(cls, row: RetentionClass) -> Rule:
        return cls(row.code, row.years, row.trigger, row.action)


def add_years(day: date, years: int) -> date:
    """``day`` plus whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def stop_date(events: Iterable[tuple[StatusChange, date]]) -> date | None:
    """The stop date the status events lead to (停保 sets it, a later 停保 corrects it,
    恢复 clears it); None while the household receives the allowance."""
    changes = [Change(change, on, order) for order, (change, on) in enumerate(events)]
    return replay(changes).stop_date


def start_of(rule: Rule, *, stop: date | None, document_date: date | None) -> date | None:
    """Where ``rule``'s period starts for one record, or None if it has not started."""
    if rule.trigger is RetentionTrigger.stop_date:
        return stop
    if rule.trigger is RetentionTrigger.document_date:
        return document_date
    return None


def disposition_date(rule: Rule, events: Iterable[tuple[StatusChange, date]] = (), *,
                     document_date: date | None = None,
                     parts: Sequence[tuple[Rule, date | None]] = ()) -> date | None:
    """When a record under ``rule`` falls due; None: not (yet) known, or never.

    ``events`` are the household's status changes (change, date) in the order recorded;
    ``document_date`` is the record's own date (for a dossier, its latest document's);
    ``parts`` are the documents inside a dossier, each with its class and date: a dossier
    falls due when it and everything in it has, so one permanent document keeps it.
    A daily-management record is ``disposition_date(its_class, document_date=its_date)``.
    """
    stop = stop_date(events) if rule.trigger is RetentionTrigger.stop_date or any(
        r.trigger is RetentionTrigger.stop_date for r, _ in parts) else None
    start = start_of(rule, stop=stop, document_date=document_date)
    if start is None:
        return None
    due = add_years(start, rule.years)
    for part_rule, part_date in parts:
        part_start = start_of(part_rule, stop=stop, document_date=part_date)
        if part_start is None:
            return None
        due = max(due, add_years(part_start, part_rule.years))
    return due


def kept_for(start: date | None, on: date) -> str:
    """已保管期限: how long a record has been kept since its period started, in Chinese
    (``3年2个月``), as the printed list says it."""
    if start is None or on < start:
        return ""
    months = (on.year - start.year) * 12 + on.month - start.month - (on.day < start.day)
    years, months = divmod(max(0, months), 12)
    if years and months:
        return f"{years}年{months}个月"
    return f"{years}年" if years else f"{months}个月"


def period_text(rule: RetentionClass) -> str:
    """应保管期限 as the printed list says it: ``停保后3年``, ``5年``, ``永久``."""
    if rule.trigger is RetentionTrigger.permanent:
        return "永久"
    if rule.trigger is RetentionTrigger.stop_date:
        return f"停保后{rule.years}年"
    return f"{rule.years}年"


# -- classes ---------------------------------------------------------------------------------
def all_classes(session: Session) -> list[RetentionClass]:
    return list(session.scalars(select(RetentionClass).order_by(RetentionClass.sort_order,
                                                                RetentionClass.code)))


def get_class(session: Session, code: str) -> RetentionClass:
    row = session.get(RetentionClass, code.strip())
    if row is None:
        names = ", ".join(c.code for c in all_classes(session))
        raise NotFound(f"retention class {code} does not exist; use one of: {names}")
    return row


def dossier_default(session: Session) -> RetentionClass:
    row = session.scalar(select(RetentionClass).where(RetentionClass.default_for_dossiers))
    if row is None:  # the migration seeds one and editing never leaves none
        raise NotFound("no retention class is marked as the default of household dossiers")
    return row


@dataclass(frozen=True)
class ClassFacts:
    """What an administrator gives for a class (the form, the CLI)."""

    name_zh: str
    name_en: str
    years: int
    trigger: RetentionTrigger
    action: EndAction
    default_for_dossiers: bool = False


_CODE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def read_class_facts(name_zh: str | None, name_en: str | None, years: str | int | None,
                     trigger: str | None, action: str | None,
                     default_for_dossiers: bool = False) -> ClassFacts:
    """The facts of a class as typed, or :class:`Problems` naming every field that is wrong."""
    problems: list[Problem] = []
    name_zh, name_en = (name_zh or "").strip(), (name_en or "").strip()
    if not name_zh or len(name_zh) > 100:
        problems.append(Problem("name_zh", N_("give the Chinese name (at most 100 characters)")))
    try:
        kind = RetentionTrigger((trigger or "").strip())
    except ValueError:
        problems.append(Problem("trigger", N_("choose when the period starts")))
        kind = None
    try:
        end = EndAction((action or "").strip())
    except ValueError:
        problems.append(Problem("action", N_("choose what happens at the end of the period")))
        end = None
    try:
        count = int(str(years).strip()) if years not in (None, "") else 0
    except ValueError:
        count = -1
    if kind is not RetentionTrigger.permanent and not 1 <= count <= MAX_YEARS:
        problems.append(Problem("years", N_("the period must be 1 to %(n)s whole years"),
                                {"n": MAX_YEARS}))
    if problems:
        raise Problems(problems)
    if kind is RetentionTrigger.permanent:
        count = 0
    return ClassFacts(name_zh, name_en[:100] or name_zh, count, kind, end, default_for_dossiers)


def add_class(session: Session, code: str, facts: ClassFacts) -> RetentionClass:
    code = code.strip().lower()
    if not 2 <= len(code) <= 40 or not set(code) <= _CODE_CHARS:
        raise fail("code", N_("the code must be 2-40 lower-case letters, digits, '-' or '_'"))
    if session.get(RetentionClass, code) is not None:
        raise Conflict(f"retention class {code} already exists")
    last = session.scalar(select(func.max(RetentionClass.sort_order))) or 0
    row = RetentionClass(code=code, sort_order=last + 1, locked=False,
                         default_for_dossiers=False, name_zh="", name_en="", years=0,
                         trigger=facts.trigger, action=facts.action)
    session.add(row)
    _apply(session, row, facts)
    return row


def edit_class(session: Session, code: str, facts: ClassFacts) -> dict[str, tuple]:
    """Change a class; returns what changed as {field: (before, after)}. The permanent class
    of the archive's own records stays permanent."""
    row = get_class(session, code)
    if row.locked and (facts.trigger is not RetentionTrigger.permanent):
        raise fail("trigger", N_("the class of destruction lists and certificates stays "
                                 "permanent"))
    if row.default_for_dossiers and not facts.default_for_dossiers:
        raise fail("default_for_dossiers", N_("another class must become the default of "
                                              "household dossiers first"))
    before = _facts_of(row)
    _apply(session, row, facts)
    after = _facts_of(row)
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def _facts_of(row: RetentionClass) -> dict:
    return {"name_zh": row.name_zh, "name_en": row.name_en, "years": row.years,
            "trigger": row.trigger.value, "action": row.action.value,
            "default_for_dossiers": row.default_for_dossiers}


def _apply(session: Session, row: RetentionClass, facts: ClassFacts) -> None:
    row.name_zh, row.name_en, row.years = facts.name_zh, facts.name_en, facts.years
    row.trigger, row.action = facts.trigger, facts.action
    if facts.default_for_dossiers and not row.default_for_dossiers:
        session.execute(update(RetentionClass).values(default_for_dossiers=False))
        row.default_for_dossiers = True


def map_type(session: Session, type_code: str, class_code: str) -> tuple[str, str]:
    """Give a document type another default class; returns (before, after)."""
    doc_type = session.get(DocumentType, type_code)
    if doc_type is None:
        raise NotFound(f"document type {type_code} does not exist")
    rule = get_class(session, class_code)
    before = doc_type.retention_class
    doc_type.retention_class = rule.code
    return before, rule.code


# -- a dossier's and a document's class and date --------------------------------------------
def class_of_document(session: Session, doc: Document) -> RetentionClass:
    return get_class(session, doc.retention_class or doc.type.retention_class)


def class_of_dossier(session: Session, dossier: Dossier) -> RetentionClass:
    return get_class(session, dossier.retention_class) if dossier.retention_class \
        else dossier_default(session)


def _events(household: Household) -> list[tuple[StatusChange, date]]:
    return [(e.change, e.effective_on) for e in household.status_events]


def compute_dossier(session: Session, dossier: Dossier) -> date | None:
    """The dossier's disposition date from the catalogue (:func:`disposition_date`)."""
    rule = Rule.of(class_of_dossier(session, dossier))
    dates = [d.date for d in dossier.documents if d.date is not None]
    parts = [(Rule.of(class_of_document(session, d)), d.date) for d in dossier.documents]
    return disposition_date(rule, _events(dossier.household),
                            document_date=max(dates) if dates else None, parts=parts)


def refresh_dossier(session: Session, dossier: Dossier | None) -> date | None:
    """Store the dossier's disposition date again (a destroyed dossier keeps its own)."""
    if dossier is None or dossier.destroyed_at is not None:
        return dossier.disposition_on if dossier is not None else None
    session.flush()
    dossier.disposition_on = compute_dossier(session, dossier)
    return dossier.disposition_on


def refresh_all(session: Session) -> int:
    """Recompute every dossier's date (after a class or a type's class changed)."""
    count = 0
    for dossier in session.scalars(select(Dossier).where(Dossier.destroyed_at.is_(None))):
        before = dossier.disposition_on
        if refresh_dossier(session, dossier) != before:
            count += 1
    return count


def set_dossier_class(session: Session, dossier: Dossier, code: str | None, reason: str,
                      by: str) -> RetentionChange:
    """Give a dossier another class (None: back to the default), with a reason."""
    return _set(session, dossier, None, code, reason, by)


def set_document_class(session: Session, doc: Document, code: str | None, reason: str,
                       by: str) -> RetentionChange:
    """Give a document another class (None: back to its type's), with a reason."""
    return _set(session, doc.dossier, doc, code, reason, by)


def _set(session: Session, dossier: Dossier, doc: Document | None, code: str | None,
         reason: str, by: str) -> RetentionChange:
    reason = (reason or "").strip()
    problems = []
    if not reason:
        problems.append(Problem("reason", N_("say why the retention class changes")))
    elif len(reason) > REASON_LENGTH:
        problems.append(Problem("reason", N_("the reason is longer than %(n)s characters"),
                                {"n": REASON_LENGTH}))
    if code and session.get(RetentionClass, code) is None:
        problems.append(Problem("retention_class", N_("choose a retention class from the list")))
    if problems:
        raise Problems(problems)
    if dossier.destroyed_at is not None:
        raise Invalid("a destroyed dossier keeps the class it was destroyed under")
    holder = doc if doc is not None else dossier
    before, after = holder.retention_class, (code or None)
    holder.retention_class = after
    change = RetentionChange(dossier_id=dossier.id, document_id=doc.id if doc else None,
                             before=before, after=after, reason=reason, changed_by=by)
    session.add(change)
    refresh_dossier(session, dossier)
    return change


def destroyed_on(dossier: Dossier, zone: tzinfo) -> str:
    """The office's date (in ``zone``) the dossier was destroyed, as ``2026-12-08``."""
    return as_utc(dossier.destroyed_at).astimezone(zone).date().isoformat()


def refuse_destroyed(dossier: Dossier | None, what: str, zone: tzinfo) -> None:
    """Raise :class:`Destroyed` (saying when and under which list) if ``dossier`` was
    destroyed: nothing of its content is read, changed or added to any more."""
    if dossier is not None and dossier.destroyed_at is not None:
        raise Destroyed(what, destroyed_on(dossier, zone), dossier.destruction_list_id)


def changes_of(session: Session, dossier_id: int) -> list[RetentionChange]:
    return list(session.scalars(select(RetentionChange).where(
        RetentionChange.dossier_id == dossier_id).order_by(RetentionChange.id)))


# -- the review queue -------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    """One dossier in the review queue."""

    dossier_id: int
    household: str
    head_name: str
    region_code: str
    archival_code: str | None
    class_code: str
    action: EndAction
    stop_date: date | None
    due_on: date

    def overdue_days(self, on: date) -> int:
        return max(0, (on - self.due_on).days)


def due_dossiers(session: Session, scope: str | None, on: date, within_days: int) -> list[Due]:
    """Dossiers not destroyed whose disposition date is on or before ``on + within_days``
    (overdue ones included), under the region prefix ``scope`` (None: all), earliest first."""
    from datetime import timedelta

    limit = on + timedelta(days=max(0, within_days))
    query = (select(Dossier, Household).join(Household, Household.id == Dossier.household_id)
             .where(Dossier.destroyed_at.is_(None), Dossier.disposition_on.is_not(None),
                    Dossier.disposition_on <= limit)
             .order_by(Dossier.disposition_on, Household.number))
    if scope:
        query = query.where(or_(Household.region_code == scope,
                                Household.region_code.like(f"{scope}%")))
    found = []
    for dossier, household in session.execute(query).all():
        rule = class_of_dossier(session, dossier)
        found.append(Due(dossier.id, household.number, household.head_name,
                         household.region_code, dossier.archival_code, rule.code, rule.action,
                         household.stop_date, dossier.disposition_on))
    return found
