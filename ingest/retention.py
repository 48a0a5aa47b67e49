"""Retention services shared by the screens and ``hudang retention`` / ``hudang hold``.

Each passes the one door (``manage`` for the classes, ``set_retention`` for a dossier's or
a document's class, ``retention_due`` for the review queue, ``hold`` for holds), writes in
one transaction, and leaves an audit event with what changed and why. The rules are in
``records.retention`` and ``records.holds``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.cataloguing import document_target, household_target
from ingest.printing import Sheet
from ingest.reports import Report
from records import audit, holds, retention
from records.door import NOTHING, Knock, Target
from records.idnumbers import mask_in_text
from records.model import Document, Dossier, Hold, Household, Region, RetentionClass
from records.policy import Action, Principal, region_scope
from records.reporting import regions_under


def today(archive: Archive, now: datetime | None = None) -> date:
    """The office's date at ``now`` (default: the clock), as every retention date is."""
    return (now or datetime.now(timezone.utc)).astimezone(archive.settings.timezone).date()


# -- classes --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassView:
    code: str
    name_zh: str
    name_en: str
    years: int
    trigger: str
    action: str
    default_for_dossiers: bool
    locked: bool
    period: str  # 应保管期限 as printed
    types: list[str]  # the document types (Chinese names) it is the default of

    def as_json(self) -> dict:
        return {"code": self.code, "name_zh": self.name_zh, "name_en": self.name_en,
                "years": self.years, "trigger": self.trigger, "action": self.action,
                "default_for_dossiers": self.default_for_dossiers, "locked": self.locked,
                "document_types": self.types}


def classes(archive: Archive) -> list[ClassView]:
    """The retention classes, with the document types each is the default of."""
    from records.doctypes import all_types

    with archive.Session() as s:
        types = all_types(s)
        return [ClassView(c.code, c.name_zh, c.name_en, c.years, c.trigger.value,
                          c.action.value, c.default_for_dossiers, c.locked,
                          retention.period_text(c),
                          [t.name_zh for t in types if t.retention_class == c.code])
                for c in retention.all_classes(s)]


def type_classes(archive: Archive) -> list[tuple[str, str, str, str]]:
    """(type code, Chinese name, English name, class code) of every document type."""
    from records.doctypes import all_types

    with archive.Session() as s:
        return [(t.code, t.name_zh, t.name_en, t.retention_class) for t in all_types(s)]


def add_class(archive: Archive, who: Principal, code: str, facts: retention.ClassFacts) -> str:
    archive.admit(Knock(who, Action.manage, event="retention_class_add"))
    with archive.Session() as s, s.begin():
        row = retention.add_class(s, code, facts)
        code = row.code
        retention.refresh_all(s)
    archive.record(audit.Event(actor=who.name, action="retention_class_add",
                               object_type="retention_class", object_id=code,
                               detail={"years": facts.years, "trigger": facts.trigger.value,
                                       "action": facts.action.value,
                                       "default_for_dossiers": facts.default_for_dossiers}))
    return code


def edit_class(archive: Archive, who: Principal, code: str,
               facts: retention.ClassFacts) -> dict[str, tuple]:
    """Change a class; every dossier's date follows in the same transaction."""
    archive.admit(Knock(who, Action.manage, event="retention_class_edit"))
    with archive.Session() as s, s.begin():
        changed = retention.edit_class(s, code, facts)
        recomputed = retention.refresh_all(s) if changed else 0
    if changed:
        archive.record(audit.Event(
            actor=who.name, action="retention_class_edit", object_type="retention_class",
            object_id=code, detail={"before": {k: v[0] for k, v in changed.items()},
                                    "after": {k: v[1] for k, v in changed.items()},
                                    "dossiers_recomputed": recomputed}))
    return changed


def map_type(archive: Archive, who: Principal, type_code: str, class_code: str) -> bool:
    """Give a document type another default class; returns whether anything changed."""
    archive.admit(Knock(who, Action.manage, event="retention_class_map"))
    with archive.Session() as s, s.begin():
        before, after = retention.map_type(s, type_code, class_code)
        if before != after:
            retention.refresh_all(s)
    if before != after:
        archive.record(audit.Event(actor=who.name, action="retention_class_map",
                                   object_type="doctype", object_id=type_code,
                                   detail={"before": before, "after": after}))
    return before != after


# -- a dossier's and a document's class -------------------------------------------------------------
@dataclass(frozen=True)
class RetentionFacts:
    """What a dossier page shows of retention."""

    class_code: str
    class_name: str
    is_default: bool
    period: str
    disposition_on: date | None
    action: str
    destroyed_at: datetime | None
    destruction_list: int | None
    holds: list[HoldView]  # standing and lifted, oldest first
    changes: list  # records.model.RetentionChange
    document_classes: dict[int, tuple[str, bool]]  # document id -> (class code, is default)

    @property
    def standing_holds(self) -> list[HoldView]:
        return [h for h in self.holds if h.lifted_at is None]


def facts_of(session: Session, household: Household) -> RetentionFacts:
    dossier = household.dossier
    rule = retention.class_of_dossier(session, dossier)
    docs = {d.id: (d.retention_class or d.type.retention_class, d.retention_class is None)
            for d in dossier.documents}
    found = [hold_view(h) for h in holds.holds_of(session, household.id)]
    return RetentionFacts(rule.code, rule.name_zh, dossier.retention_class is None,
                          retention.period_text(rule), dossier.disposition_on, rule.action.value,
                          dossier.destroyed_at, dossier.destruction_list_id, found,
                          retention.changes_of(session, dossier.id), docs)


def _household(s: Session, number: str) -> Household | None:
    return s.scalar(select(Household).where(Household.number == number))


def dossier_for_class(archive: Archive, who: Principal, number: str) -> RetentionFacts:
    """The retention facts of a household's dossier, for one who may change its class."""
    with archive.Session() as s:
        household = _household(s, number)
        archive.admit(Knock(who, Action.set_retention, household_target(household, number),
                            event="retention_set"))
        return facts_of(s, household)


def set_dossier_class(archive: Archive, who: Principal, number: str, code: str | None,
                      reason: str) -> date | None:
    """Give a household's dossier another class (None: the default); returns its new
    disposition date."""
    with archive.Session() as s, s.begin():
        household = _household(s, number)
        archive.admit(Knock(who, Action.set_retention, household_target(household, number),
                            event="retention_set"))
        change = retention.set_dossier_class(s, household.dossier, code, reason, who.name)
        due, before, after = household.dossier.disposition_on, change.before, change.after
        reason = change.reason
    archive.record(audit.Event(
        actor=who.name, action="retention_set", object_type="dossier", object_id=number,
        household=number, detail={"before": before, "after": after,
                                  "reason": mask_in_text(reason)[:200],
                                  "disposition_on": due.isoformat() if due else None}))
    return due


def document_for_class(archive: Archive, who: Principal, document_id: int) -> tuple[Document, str]:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        archive.admit(Knock(who, Action.set_retention, document_target(doc, document_id),
                            event="retention_set"))
        number = doc.dossier.household.number
        s.expunge(doc)
        return doc, number


def set_document_class(archive: Archive, who: Principal, document_id: int, code: str | None,
                       reason: str) -> date | None:
    """Give a document another class (None: its type's); returns its dossier's new date."""
    with archive.Session() as s, s.begin():
        doc = s.get(Document, document_id)
        archive.admit(Knock(who, Action.set_retention, document_target(doc, document_id),
                            event="retention_set"))
        change = retention.set_document_class(s, doc, code, reason, who.name)
        number, due = doc.dossier.household.number, doc.dossier.disposition_on
        before, after, reason = change.before, change.after, change.reason
    archive.record(audit.Event(
        actor=who.name, action="retention_set", object_type="document",
        object_id=str(document_id), household=number,
        detail={"before": before, "after": after, "reason": mask_in_text(reason)[:200],
                "disposition_on": due.isoformat() if due else None}))
    return due


# -- the review queue ---------------------------------------------------------------------------------
@dataclass
class Queue:
    """The dossiers due within ``within`` days (overdue ones too), with counts by region."""

    rows: list[retention.Due]
    held: set[int]
    listed: set[int]
    by_region: list[tuple[str, str, int]]  # (code, name, count)
    names: dict[str, str]
    today: date
    within: int
    region: Region | None = None
    extra: dict = field(default_factory=dict)

    def overdue(self) -> int:
        return sum(1 for d in self.rows if d.due_on < self.today)


def _admit_region(archive: Archive, who: Principal, code: str, action: Action,
                  event: str) -> Region:
    with archive.Session() as s:
        region = s.get(Region, code)
        archive.admit(Knock(who, action, Target("region", code[:12], region=region and region.code,
                                                found=region is not None), event=event))
        s.expunge(region)
        return region


def due(archive: Archive, who: Principal, region_code: str | None, within_days: int,
        fmt: str = "screen", on: date | None = None) -> Report:
    """应到期档案: the review queue of the reader's region (or of ``region_code`` under it)."""
    from records.destruction import listed_dossier_ids

    if region_code:
        region = _admit_region(archive, who, region_code, Action.retention_due, "retention_due")
        scope = region.code
    else:
        archive.admit(Knock(who, Action.retention_due, NOTHING, event="retention_due"))
        region, scope = None, region_scope(who)
    day = on or today(archive)
    within = max(0, within_days)
    with archive.Session() as s:
        rows = retention.due_dossiers(s, scope, day, within)
        held, listed = holds.held_dossier_ids(s), listed_dossier_ids(s)
        names = {r.code: r.name for r in regions_under(s, (scope or "")[:9])}
    width = {None: 6, "": 6}.get(scope, {6: 9, 9: 12}.get(len(scope or ""), 12))
    counted = Counter(d.region_code[:width] for d in rows)
    by_region = [(code, names.get(code, code), n) for code, n in sorted(counted.items())]
    queue = Queue(rows, held, listed, by_region, names, day, within, region)
    archive.record(audit.Event(actor=who.name, action="retention_due",
                               object_type="region" if region else None,
                               object_id=region.code if region else None,
                               detail={"format": fmt, "within": within, "due": len(rows)}))
    sheet = Sheet("到期档案鉴定表",
                  ["户号", "户主", "村（社区）", "档号", "保管期限", "停保日期", "到期日期",
                   "逾期天数", "到期处置", "冻结", "已列入清册"],
                  [[d.household, d.head_name, names.get(d.region_code, d.region_code),
                    d.archival_code or "", d.class_code,
                    d.stop_date.isoformat() if d.stop_date else "", d.due_on.isoformat(),
                    str(d.overdue_days(day)), d.action.value,
                    "是" if d.dossier_id in held else "", "是" if d.dossier_id in listed else ""]
                   for d in rows],
                  lines=[f"截至 {day.isoformat()} 后 {within} 天内到期：{len(rows)} 卷"])
    report = Report("retention", sheet, queue, region)
    report.printed_by = who.name
    return report


# -- holds -----------------------------------------------------------------------------------------------
def _hold_target(s: Session, kind: str, ident: str) -> tuple[holds.HoldTarget | None, Target]:
    if kind not in holds.KINDS:
        holds.find_target(s, kind, ident)  # raises the sentence that names the kinds
    found = holds.find_target(s, kind, ident)
    household = found.household if found else None
    return found, Target(kind, str(ident)[:64], household=household and household.number,
                         region=household and household.region_code, found=found is not None)


def hold_target(archive: Archive, who: Principal, kind: str, ident: str,
                event: str = "hold_add") -> tuple[str, str, str]:
    """(kind, ident, household) of an object ``who`` may hold, for a form."""
    with archive.Session() as s:
        found, target = _hold_target(s, kind, ident)
        archive.admit(Knock(who, Action.hold, target, event=event))
        return kind, ident, found.household.number


def add_hold(archive: Archive, who: Principal, kind: str, ident: str, reason: str,
             now: datetime | None = None) -> int:
    """Place a hold (冻结) on a household, dossier or document; returns its id."""
    return _change_hold(archive, who, kind, ident, reason, now, "hold_add")


def lift_hold(archive: Archive, who: Principal, kind: str, ident: str, reason: str,
              now: datetime | None = None) -> int:
    """Lift the hold standing on a household, dossier or document; returns its id."""
    return _change_hold(archive, who, kind, ident, reason, now, "hold_lift")


def _change_hold(archive: Archive, who: Principal, kind: str, ident: str, reason: str,
                 now: datetime | None, event: str) -> int:
    """Place (``hold_add``) or lift (``hold_lift``) a hold through the door, then record it
    with its reason (masked)."""
    with archive.Session() as s, s.begin():
        found, target = _hold_target(s, kind, ident)
        archive.admit(Knock(who, Action.hold, target, event=event))
        if event == "hold_add":
            hold = holds.place(s, found, reason, who.name, now)
            said = hold.reason
        else:
            hold = holds.lift(s, found, reason, who.name, now)
            said = hold.lift_reason
        hold_id, number = hold.id, found.household.number
    archive.record(audit.Event(actor=who.name, action=event, object_type=kind,
                               object_id=str(ident)[:64], household=number,
                               detail={"hold": hold_id, "reason": mask_in_text(said)[:200]}))
    return hold_id


@dataclass(frozen=True)
class HoldView:
    id: int
    kind: str
    ident: str  # what to give ``hudang hold lift``
    household: str
    region_code: str
    reason: str
    placed_by: str
    placed_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "ident": self.ident,
                "household": self.household, "reason": self.reason,
                "placed_by": self.placed_by, "placed_at": self.placed_at.isoformat(),
                "lifted_by": self.lifted_by,
                "lifted_at": self.lifted_at.isoformat() if self.lifted_at else None,
                "lift_reason": self.lift_reason}


def hold_view(h: Hold) -> HoldView:
    ident = {"household": h.household.number, "dossier": h.household.number,
             "document": str(h.document_id)}[h.object_type]
    return HoldView(h.id, h.object_type, ident, h.household.number, h.household.region_code,
                    h.reason, h.placed_by, h.placed_at, h.lifted_by, h.lifted_at, h.lift_reason)


def hold_list(archive: Archive, who: Principal, standing: bool = True) -> list[HoldView]:
    """The holds of the reader's region, newest first; the listing is recorded."""
    archive.admit(Knock(who, Action.hold, NOTHING, event="hold_list"))
    with archive.Session() as s:
        found = [hold_view(h) for h in holds.listing(s, region_scope(who), standing=standing)]
    archive.record(audit.Event(actor=who.name, action="hold_list",
                               detail={"standing": standing, "holds": len(found)}))
    return found


def class_names(archive: Archive) -> dict[str, tuple[str, str]]:
    """Class code -> (Chinese name, English name), for screens."""
    with archive.Session() as s:
        return {c.code: (c.name_zh, c.name_en) for c in s.scalars(select(RetentionClass))}


def dossier_of(archive: Archive, number: str) -> int | None:
    with archive.Session() as s:
        return s.scalar(select(Dossier.id).join(Household).where(Household.number == number))
