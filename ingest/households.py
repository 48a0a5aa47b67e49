"""Households as the offices keep them: create, edit, members, status changes, import, show.

The one set of services behind the household screens, ``hudang household ...`` and
``/api/households``. Each passes the one door (``Archive.admit``) for its household and
records what it changed in the audit log after the catalogue commits. The rules are
``records.households`` (facts, members, status changes) and ``records.household_import``
(the CSV); ID numbers are sealed here, where the key is, and shown masked unless the
policy lets the reader see them in full (``records.policy.full_ids``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.locations import Where, where
from records import audit, households as rules, retention
from records.catalogue import find_household
from records.completeness import missing_types
from records.csvfiles import ImportReport, decode, read_table
from records.door import Knock, Target
from records.household_import import COLUMNS, HouseholdRow, read_row
from records.households import HouseholdFacts, MemberIn, SealedMember
from records.idnumbers import mask
from records.model import (Area, Household, HouseholdStatus, Region, RegionLevel, StatusChange)
from records.policy import Action, Principal, decide, full_ids
from records.problems import N_, Problem, Problems, fail, gather, taken


# -- what a reader sees ------------------------------------------------------------------
@dataclass(frozen=True)
class MemberView:
    position: int
    name: str
    relation: str
    id_shown: str | None  # masked unless the reader may see it in full


@dataclass(frozen=True)
class EventView:
    change: str  # a records.model.StatusChange value
    on: date
    reason: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Sheet:
    """A household's facts, members, status history and what its dossier lacks."""

    number: str
    head_name: str
    head_id_shown: str | None
    region_code: str
    region_name: str
    address: str | None
    area: str | None
    review_class: int | None
    certificate_on_file: bool
    status: str
    stop_date: date | None
    enrolled_on: date | None
    members: list[MemberView]
    history: list[EventView]
    missing: list[tuple[str, str]]  # (type code, Chinese name)
    allowed_changes: list[str] = field(default_factory=list)
    location: Where | None = None  # the folder or box its dossier lies in, and its moves

    def as_json(self) -> dict:
        return {
            "number": self.number, "head_name": self.head_name,
            "head_id_number": self.head_id_shown, "region": self.region_code,
            "region_name": self.region_name, "address": self.address, "area": self.area,
            "review_class": self.review_class, "certificate_on_file": self.certificate_on_file,
            "status": self.status, "stop_date": _iso(self.stop_date),
            "enrolled_on": _iso(self.enrolled_on),
            "members": [{"position": m.position, "name": m.name, "relation": m.relation,
                         "id_number": m.id_shown} for m in self.members],
            "history": [{"change": e.change, "date": e.on.isoformat(), "reason": e.reason,
                         "recorded_by": e.recorded_by,
                         "recorded_at": e.recorded_at.isoformat()} for e in self.history],
            "missing": [{"type": code, "name": name} for code, name in self.missing],
            "location": self.location.as_json() if self.location else None,
        }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _shown_id(archive: Archive, sealed: bytes | None, full: bool) -> str | None:
    if sealed is None:
        return None
    value = archive.open_id_number(sealed)
    return value if full else mask(value)


def sheet(archive: Archive, session: Session, who: Principal, household: Household) -> Sheet:
    """The household as ``who`` may see it (the caller has passed the door)."""
    full = full_ids(who, household.region_code, household.number)
    return Sheet(
        number=household.number, head_name=household.head_name,
        head_id_shown=_shown_id(archive, household.head_id_sealed, full),
        region_code=household.region_code, region_name=household.region.name,
        address=household.address, area=household.area.value if household.area else None,
        review_class=household.review_class,
        certificate_on_file=rules.certificate_on_file(session, household),
        status=household.status.value, stop_date=household.stop_date,
        enrolled_on=household.enrolled_on,
        members=[MemberView(m.position, m.name, m.relation,
                            _shown_id(archive, m.id_sealed, full)) for m in household.members],
        history=[EventView(e.change.value, e.effective_on, e.reason, e.recorded_by,
                           e.recorded_at) for e in household.status_events],
        missing=[(t.code, t.name_zh) for t in missing_types(session, household)],
        allowed_changes=[c.value for c in rules.allowed_changes(household.status)],
        location=where(session, household.dossier) if household.dossier else None)


def _target(household: Household | None, number: str) -> Target:
    return Target("household", number[:40], household=household and household.number,
                  region=household and household.region_code, found=household is not None)


def _admitted(archive: Archive, session: Session, who: Principal, action: Action,
              number: str) -> Household:
    household = find_household(session, number)
    archive.admit(Knock(who, action, _target(household, number)))
    return household


def show(archive: Archive, who: Principal, number: str, *, purpose: str | None = None) -> Sheet:
    """``hudang household show`` and ``/api/households/<number>``: a recorded read."""
    with archive.Session() as s:
        household = _admitted(archive, s, who, Action.read_household, number)
        archive.record(audit.Event(actor=who.name, action="read_household",
                                   object_type="household", object_id=number,
                                   household=number, purpose=purpose,
                                   detail={"view": "household"}))
        return sheet(archive, s, who, household)


def today(archive: Archive) -> date:
    """Today in the office's time zone (a status change may not be dated later)."""
    return datetime.now(archive.settings.timezone).date()


# -- what a person gives -----------------------------------------------------------------
@dataclass
class HouseholdInput:
    """A household's facts as typed (a form, command options); ``given`` names those given."""

    head_name: str | None = None
    head_id_number: str | None = None
    address: str | None = None
    area: Area | None = None
    review_class: int | None = None
    certificate_no: str | None = None
    enrolled_on: date | None = None
    members: list[MemberIn] | None = None
    given: set[str] = field(default_factory=set)


# sealed facts: typed again to change them, left empty to keep what is stored (they can
# never be shown back in full to be edited)
_KEPT_WHEN_EMPTY = ("head_id_number", "certificate_no")


def read_input(fields: Mapping[str, str | None]) -> HouseholdInput:
    """A form's or command's values (``{"head_name": ..., "review_class": "一类", ...}``):
    the keys present are the facts given. Every field is read; all problems are raised
    together, each naming its field."""
    readers = {"head_name": rules.read_name, "head_id_number": rules.read_id_number,
               "address": lambda v, k: rules.read_text(v, k, rules.ADDRESS_LENGTH),
               "area": rules.read_area, "review_class": rules.read_class,
               "certificate_no": lambda v, k: rules.read_text(v, k, 40),
               "enrolled_on": rules.read_date}
    keys = [k for k in readers if k in fields
            and not (k in _KEPT_WHEN_EMPTY and not (fields[k] or "").strip())]
    values = gather(*(lambda k=k: readers[k](fields[k], k) for k in keys))
    return HouseholdInput(**dict(zip(keys, values)), given=set(keys))


def for_editing(archive: Archive, who: Principal, number: str) -> Sheet:
    """The household for its edit screens (admitted for editing; recorded as a read)."""
    with archive.Session() as s:
        household = _admitted(archive, s, who, Action.edit_household, number)
        archive.record(audit.Event(actor=who.name, action="read_household",
                                   object_type="household", object_id=number,
                                   household=number, detail={"view": "edit"}))
        return sheet(archive, s, who, household)


def _seal(archive: Archive, id_number: str | None) -> tuple[bytes, str] | None:
    return archive.seal_id_number(id_number) if id_number else None


def _facts(archive: Archive, given: HouseholdInput) -> HouseholdFacts:
    members = None if given.members is None else [
        SealedMember(m.name, m.relation, _seal(archive, m.id_number)) for m in given.members]
    certificate = (given.certificate_no or "").strip()
    sealed, index = archive.seal_certificate(certificate) if certificate else (None, None)
    facts_given = {{"head_id_number": "head_id", "certificate_no": "certificate_index"}.get(g, g)
                   for g in given.given}
    return HouseholdFacts(
        head_name=given.head_name, head_id=_seal(archive, given.head_id_number),
        address=given.address, area=given.area, review_class=given.review_class,
        enrolled_on=given.enrolled_on,
        certificate_index=index, certificate_sealed=sealed,
        members=members, given=facts_given)


def _check_village(session: Session, number: str) -> str:
    village = number[:12]
    region = session.get(Region, village)
    if region is None or region.level is not RegionLevel.village:
        raise fail("number", N_("there is no village %(code)s for household %(number)s; add "
                                "the village first"), code=village, number=number)
    return village


def _check_new(session: Session, number: str) -> str:
    """The village of a household number not yet taken."""
    if find_household(session, number) is not None:
        raise taken("number", N_("household %(number)s already exists"), number=number)
    return _check_village(session, number)


def create(archive: Archive, who: Principal, number: str,
           fields: Mapping[str, str | None]) -> str:
    """Add a household with the facts ``fields`` gives (:func:`read_input`) and open its
    dossier; returns its number. Every problem of the number and the fields is raised
    together."""
    number, given = gather(lambda: rules.read_number(number),
                           lambda: read_input({"head_name": "", **fields}))
    archive.admit(Knock(who, Action.edit_household, Target(
        "household", number, household=number, region=number[:12])))
    facts = _facts(archive, given)
    facts.given |= {"head_name", "head_id"}
    with archive.Session() as s, s.begin():
        village = _check_new(s, number)
        rules.create(s, number, village, facts)
    archive.record(audit.Event(actor=who.name, action="household_add", object_type="household",
                               object_id=number, household=number,
                               detail={"facts": sorted(facts.given)}))
    return number


def edit(archive: Archive, who: Principal, number: str,
         fields: Mapping[str, str | None]) -> list[str]:
    """Change the facts ``fields`` gives (:func:`read_input`); returns those that changed."""
    facts = _facts(archive, read_input(fields))
    with archive.Session() as s, s.begin():
        household = _admitted(archive, s, who, Action.edit_household, number)
        changed = rules.update(s, household, facts)
    if changed:
        archive.record(audit.Event(actor=who.name, action="household_edit",
                                   object_type="household", object_id=number,
                                   household=number, detail={"changed": changed}))
    return changed


def add_member(archive: Archive, who: Principal, number: str, member: MemberIn) -> int:
    """Add one member at the end of the roster; returns its position."""
    with archive.Session() as s, s.begin():
        household = _admitted(archive, s, who, Action.edit_household, number)
        row = rules.add_member(household, SealedMember(member.name, member.relation,
                                                       _seal(archive, member.id_number)))
        s.flush()
        position = row.position
    archive.record(audit.Event(actor=who.name, action="member_add", object_type="household",
                               object_id=number, household=number,
                               detail={"position": position, "name": member.name,
                                       "relation": member.relation}))
    return position


def remove_member(archive: Archive, who: Principal, number: str, position: int) -> str:
    """Remove the member at ``position``; returns the member's name."""
    with archive.Session() as s, s.begin():
        household = _admitted(archive, s, who, Action.edit_household, number)
        removed = rules.remove_member(s, household, position)
        name, relation = removed.name, removed.relation
    archive.record(audit.Event(actor=who.name, action="member_remove", object_type="household",
                               object_id=number, household=number,
                               detail={"position": position, "name": name,
                                       "relation": relation}))
    return name


@dataclass(frozen=True)
class Recorded:
    """A status change as recorded, and where it left the household."""

    change: StatusChange
    on: date
    status: HouseholdStatus
    stop_date: date | None


def change_status(archive: Archive, who: Principal, number: str, change: StatusChange,
                  on: date, reason: str) -> Recorded:
    """Record 停发, 增发, 减发, 停保 or 恢复; the household's status and stop date follow."""
    with archive.Session() as s, s.begin():
        household = _admitted(archive, s, who, Action.edit_household, number)
        event = rules.record_change(s, household, change, on, reason, by=who.name,
                                    today=today(archive))
        # 停保 starts the retention clock, a later 停保 corrects it, 恢复 clears it
        retention.refresh_dossier(s, household.dossier)
        done = Recorded(change, on, household.status, household.stop_date)
        reason = event.reason
    archive.record(audit.Event(actor=who.name, action="household_status",
                               object_type="household", object_id=number, household=number,
                               detail={"change": change.value, "date": on.isoformat(),
                                       "reason": reason, "status": done.status.value,
                                       "stop_date": _iso(done.stop_date)}))
    return done


# -- importing a CSV ---------------------------------------------------------------------
def import_file(archive: Archive, who: Principal, data: bytes, name: str) -> ImportReport:
    """Create or update the households of a CSV file (``records.household_import``).

    Each bad row is one problem (row, column, sentence) and changes nothing; the good
    rows are applied, each in its own savepoint. Unchanged households are left alone (ID
    and certificate numbers compared by their blind index), so importing the same file
    again changes nothing.
    """
    table = read_table(decode(data, name), COLUMNS, name)
    report = ImportReport(problems=list(table.skipped))
    events: list[audit.Event] = []
    on = today(archive)
    allowed = (lambda number: decide(who, Action.edit_household, number[:12], number).allowed)
    with archive.Session() as s, s.begin():
        for number, row in table.read_rows(read_row, lambda r: r.number, "number", allowed,
                                           report.problems):
            try:
                with s.begin_nested():
                    kind, detail = _import_row(archive, s, who, row, name, on)
            except Problems as exc:
                report.problems.append(table.problem(number, exc.problems[0]))
                continue
            getattr(report, kind).append(row.number)
            if detail is not None:
                events.append(audit.Event(
                    actor=who.name, action="household_add" if kind == "created"
                    else "household_edit", object_type="household", object_id=row.number,
                    household=row.number, detail={**detail, "file": name[:100]}))
    for event in events:
        archive.record(event)
    report.problems.sort(key=lambda p: p.row)
    archive.record(audit.Event(actor=who.name, action="household_import",
                               detail={"file": name[:100], **report.counts()}))
    return report


def _import_row(archive: Archive, s: Session, who: Principal, row: HouseholdRow, name: str,
                on: date) -> tuple[str, dict | None]:
    given = HouseholdInput(
        head_name=row.head_name, head_id_number=row.head_id_number, address=row.address,
        area=row.area, review_class=row.review_class, certificate_no=row.certificate_no,
        enrolled_on=row.enrolled_on, members=row.members,
        given={"head_name"} | (row.columns & _INPUT))
    facts = _facts(archive, given)
    household = find_household(s, row.number)
    if household is None:
        village = _check_village(s, row.number)
        facts.given |= {"head_name", "head_id"}
        household = rules.create(s, row.number, village, facts)
        s.flush()
        change = {HouseholdStatus.suspended: StatusChange.suspend,
                  HouseholdStatus.stopped: StatusChange.stop}.get(row.status)
        if change is not None:
            try:
                rules.record_change(s, household, change, row.status_date,
                                    f"导入 {name}"[:rules.REASON_LENGTH], by=who.name, today=on)
                retention.refresh_dossier(s, household.dossier)
            except Problems as exc:
                raise Problems([Problem("status_date", exc.problems[0].message,
                                        exc.problems[0].params)]) from None
        return "created", {"facts": sorted(facts.given)}
    if row.status is not None and row.status is not household.status:
        raise fail("status", N_("household %(number)s is %(status)s in the catalogue; record "
                                "a status change instead of importing another status"),
                   number=row.number, status=rules.STATUS_NAMES[household.status])
    changed = rules.update(s, household, facts)
    return ("updated", {"changed": changed}) if changed else ("unchanged", None)


# the CSV columns that are facts of HouseholdInput (same names)
_INPUT = {"head_name", "head_id_number", "members", "address", "area", "review_class",
          "certificate_no", "enrolled_on"}


# -- lists for the region tree -----------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One household in a list: enough to find it and see what it needs."""

    number: str
    head_name: str
    region_code: str
    status: str
    review_class: int | None
    missing: list[str]  # the Chinese names of the document types its dossier lacks

    def as_json(self) -> dict:
        return {"number": self.number, "head_name": self.head_name, "region": self.region_code,
                "status": self.status, "review_class": self.review_class,
                "complete": not self.missing, "missing": self.missing}


def lines(session: Session, found: Iterable[Household]) -> list[Line]:
    return [Line(h.number, h.head_name, h.region_code, h.status.value, h.review_class,
                 [t.name_zh for t in missing_types(session, h)]) for h in found]
