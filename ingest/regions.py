"""Regions as administrators keep them, and the region tree everyone browses: the services
the region screens, ``hudang region ...`` and ``/api/regions`` share.

Changing a region passes the one door for ``manage`` with the region as its object;
browsing passes it for ``read_household`` with the region browsed, and lists only
households inside the reader's jurisdiction (``records.policy.region_scope``). Every
change and every list of households is recorded in the audit log.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.households import Line, lines
from records import audit, households as household_rules, regions as rules
from records.catalogue import add_region
from records.csvfiles import ImportReport, decode, read_table
from records.door import Knock, Target
from records.model import HouseholdStatus, Region
from records.policy import Action, Principal, decide, region_scope
from records.problems import N_, fail, gather, taken


def _record(archive: Archive, who: Principal, action: str, code: str | None, **detail) -> None:
    archive.record(audit.Event(actor=who.name, action=action, object_type="region",
                               object_id=code, detail=detail))


def _admit(archive: Archive, who: Principal, action: Action, code: str, found: bool) -> None:
    archive.admit(Knock(who, action, Target("region", code[:12], region=code[:12],
                                            found=found)))


def add(archive: Archive, who: Principal, code: str, name: str) -> Region:
    """Add a region; its level follows from its code, its parent from the code's prefix."""
    code, name = gather(lambda: rules.read_code(code), lambda: rules.read_name(name))
    _admit(archive, who, Action.manage, code, True)
    with archive.Session() as s, s.begin():
        if s.get(Region, code) is not None:
            raise taken("code", N_("region %(code)s already exists"), code=code)
        parent = rules.implied_parent(code)
        if parent is not None and s.get(Region, parent) is None:
            raise fail("code", N_("the region above it, %(parent)s, is not in the catalogue; "
                                  "add it first"), parent=parent)
        region = add_region(s, code, name)
    _record(archive, who, "region_add", code, level=region.level.value, name=name)
    return region


def check(archive: Archive, who: Principal, code: str) -> None:
    """Pass the door to change ``code`` (refused as missing when it does not exist)."""
    with archive.Session() as s:
        _admit(archive, who, Action.manage, code, s.get(Region, code) is not None)


def rename(archive: Archive, who: Principal, code: str, name: str) -> bool:
    with archive.Session() as s, s.begin():
        region = s.get(Region, code)
        _admit(archive, who, Action.manage, code, region is not None)
        before = region.name
        changed = rules.rename(s, region, name)
        after = region.name
    if changed:
        _record(archive, who, "region_rename", code, before=before, after=after)
    return changed


def import_file(archive: Archive, who: Principal, data: bytes, name: str) -> ImportReport:
    """Create or rename the regions of a CSV of statistical area codes (code, name, level,
    parent); each bad row is one problem and changes nothing."""
    table = read_table(decode(data, name), rules.COLUMNS, name)
    with archive.Session() as s, s.begin():
        report = rules.import_regions(
            s, table, allowed=lambda code: decide(who, Action.manage, code).allowed)
    _record(archive, who, "region_import", None, file=name[:100], **report.counts())
    return report


# -- the tree ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    code: str
    name: str
    level: str
    households: int

    def as_json(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level,
                "households": self.households}


@dataclass
class Place:
    """One region of the tree as a reader sees it: where it lies, what lies under it, and
    one page of its households (None: the top of the tree)."""

    region: Node | None
    lineage: list[Node]
    children: list[Node]
    households: list[Line]
    total: int
    offset: int
    limit: int
    filters: dict = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.households) < self.total

    def as_json(self) -> dict:
        return {"region": self.region and self.region.as_json(),
                "lineage": [n.as_json() for n in self.lineage],
                "children": [n.as_json() for n in self.children],
                "households": [h.as_json() for h in self.households], "total": self.total,
                "offset": self.offset, "limit": self.limit, "has_next": self.has_next}


def start(who: Principal, code: str | None) -> str | None:
    """Where the tree opens for ``who`` when asked for ``code``: a reader with a
    jurisdiction never sees above it, so the tree starts at their own region."""
    scope = region_scope(who)
    if scope is not None and (code is None or (scope.startswith(code) and code != scope)):
        return scope
    return code


def _enter(archive: Archive, s: Session, who: Principal, code: str | None) -> Region | None:
    """Pass the door into region ``code`` of the tree (None: its top)."""
    region = s.get(Region, code) if code is not None else None
    if code is None:
        archive.admit(Knock(who, Action.read_household))
    else:
        _admit(archive, who, Action.read_household, code, region is not None)
    return region


def enter(archive: Archive, who: Principal, code: str | None) -> None:
    """Pass the door into region ``code`` without listing it (a redirect to it)."""
    with archive.Session() as s:
        _enter(archive, s, who, code)


def _node(s: Session, region: Region) -> Node:
    return Node(region.code, region.name, region.level.value,
                rules.household_count(s, region.code))


def browse(archive: Archive, who: Principal, code: str | None, *, offset: int = 0,
           limit: int = 50, sort: str = "number", status: str = "",
           incomplete: bool = False) -> Place:
    """The region ``code`` (None: the top), its subregions and a page of its households.

    ``incomplete`` lists only the households whose dossier lacks a required document.
    The list is recorded in the audit log (it names households)."""
    code = start(who, code)
    wanted = HouseholdStatus(status) if status in HouseholdStatus._value2member_map_ else None
    with archive.Session() as s:
        region = _enter(archive, s, who, code)
        lineage = [_node(s, r) for r in rules.lineage(s, region)] if region else []
        children = [_node(s, r) for r in rules.children(s, code)]
        if incomplete:
            found, total = _incomplete(s, code, offset, limit, sort, wanted)
        else:
            rows, total = household_rules.households_under(s, code, offset=offset, limit=limit,
                                                           sort=sort, status=wanted)
            found = lines(s, rows)
    filters = {k: v for k, v in (("sort", sort if sort != "number" else ""), ("status", status),
                                 ("incomplete", "1" if incomplete else "")) if v}
    if found:  # a list that names households is a read
        archive.record(audit.Event(actor=who.name, action="list_households",
                                   object_type="region", object_id=code,
                                   detail={**filters, "offset": offset, "shown": len(found)}))
    return Place(lineage[-1] if lineage else None, lineage, children, found, total, offset,
                 limit, filters)


def _incomplete(s: Session, code: str | None, offset: int, limit: int, sort: str,
                status: HouseholdStatus | None) -> tuple[list[Line], int]:
    """Households under ``code`` whose dossier lacks something: every one is looked at
    (completeness is a rule of records.completeness, asked per household)."""
    found: list[Line] = []
    batch, start_at = 500, 0
    while True:
        rows, _ = household_rules.households_under(s, code, offset=start_at, limit=batch,
                                                   sort=sort, status=status)
        found.extend(line for line in lines(s, rows) if line.missing)
        if len(rows) < batch:
            break
        start_at += batch
    return found[offset:offset + limit], len(found)


def all_lines(archive: Archive, who: Principal, code: str | None) -> list[Line]:
    """Every household under ``code`` within the reader's jurisdiction, for a CSV export
    (recorded)."""
    code = start(who, code)
    with archive.Session() as s:
        _enter(archive, s, who, code)
        rows, _ = household_rules.households_under(s, code, limit=100_000)
        found = lines(s, rows)
    archive.record(audit.Event(actor=who.name, action="export_households",
                               object_type="region", object_id=code,
                               detail={"rows": len(found)}))
    return found

