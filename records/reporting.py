"""The facts behind the reports: the roster (花名册) and the statistics of a region.

Plain queries over the catalogue, confined to a region prefix; rendering them
(screen, CSV, PDF, chart) is the interface's and ``ingest.reports``'s job.

Persons: the household-members table is not in this catalogue yet, so a
household counts as one person (its head) until it is.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.exceptions import NotFound
from records.model import Area, Document, Dossier, Household, HouseholdStatus, Region, RegionLevel
from records import reconcile as reconciling


def get_region(session: Session, code: str) -> Region:
    region = session.get(Region, code)
    if region is None:
        raise NotFound(f"region {code} does not exist")
    return region


def regions_under(session: Session, prefix: str | None) -> list[Region]:
    """Every region under ``prefix`` (itself included), by code."""
    q = select(Region).order_by(Region.code)
    if prefix:
        q = q.where(Region.code.startswith(prefix, autoescape=True))
    return list(session.scalars(q))


@dataclass(frozen=True)
class RosterEntry:
    household: str
    head_name: str
    village_code: str
    village: str
    township: str
    status: str
    review_class: str  # "1", "2", "3" or "" (not classed)
    area: str  # urban / rural / ""
    persons: int
    documents: int
    archival_code: str


def roster(session: Session, region_prefix: str, statuses: Sequence[HouseholdStatus],
           order: str = "number") -> list[RosterEntry]:
    """The households under ``region_prefix`` with one of ``statuses``; ``order`` is
    ``number``, ``name`` or ``village``."""
    names = {r.code: r.name for r in regions_under(session, region_prefix[:9])}
    counts = dict(session.execute(
        select(Dossier.household_id, func.count(Document.id)).join(Document)
        .group_by(Dossier.household_id)).all())
    q = (select(Household, Dossier.archival_code).join(Dossier, isouter=True)
         .where(Household.region_code.startswith(region_prefix, autoescape=True),
                Household.status.in_(list(statuses))))
    entries = [RosterEntry(
        h.number, h.head_name, h.region_code, names.get(h.region_code, ""),
        names.get(h.region_code[:9], ""), h.status.value,
        _class(h), h.area.value if h.area else "", 1, counts.get(h.id, 0), code or "")
        for h, code in session.execute(q)]
    keys = {"name": lambda e: (e.head_name, e.household),
            "village": lambda e: (e.village_code, e.household)}
    return sorted(entries, key=keys.get(order, lambda e: e.household))


def _class(h: Household) -> str:
    return str(h.review_class) if h.review_class in (1, 2, 3) else ""


@dataclass
class Counts:
    """The statistics of one region (or the total)."""

    code: str
    name: str
    households: int = 0
    persons: int = 0  # heads only, until the members table exists
    active: int = 0
    stopped: int = 0
    by_class: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("1", "2", "3", ""),
                                                                           0))
    by_area: dict[str, int] = field(default_factory=lambda: {a.value: 0 for a in Area}
                                    | {"": 0})

    def add(self, h: Household) -> None:
        self.households += 1
        self.persons += 1
        if h.status is HouseholdStatus.stopped:
            self.stopped += 1
        else:  # receiving (a paused payment, 停发, is still enrolled)
            self.active += 1
        self.by_class[_class(h)] += 1
        self.by_area[h.area.value if h.area else ""] += 1


@dataclass(frozen=True)
class Statistics:
    region: Region
    rows: list[Counts]  # one per region one level down (a village: itself)
    total: Counts


def statistics(session: Session, region_code: str) -> Statistics:
    """Households, persons, active and stopped, by class and urban or rural, for each region
    one level below ``region_code`` (townships of a county, villages of a township)."""
    region = get_region(session, region_code)
    width = {RegionLevel.county: 9, RegionLevel.township: 12,
             RegionLevel.village: 12}[region.level]
    parts = {r.code: Counts(r.code, r.name) for r in regions_under(session, region_code)
             if len(r.code) == width}
    total = Counts(region.code, region.name)
    for h in session.scalars(select(Household).where(
            Household.region_code.startswith(region_code, autoescape=True))):
        key = h.region_code[:width]
        parts.setdefault(key, Counts(key, "")).add(h)
        total.add(h)
    return Statistics(region, [parts[k] for k in sorted(parts)], total)


def reconciliation_dossiers(session: Session, region_prefix: str | None
                            ) -> list[reconciling.Dossier]:
    """Every household under ``region_prefix`` as reconciliation needs it."""
    counts = dict(session.execute(
        select(Dossier.household_id, func.count(Document.id)).join(Document)
        .group_by(Dossier.household_id)).all())
    q = select(Household)
    if region_prefix:
        q = q.where(Household.region_code.startswith(region_prefix, autoescape=True))
    return [reconciling.Dossier(h.number, h.head_name, h.status.value, counts.get(h.id, 0))
            for h in session.scalars(q)]
