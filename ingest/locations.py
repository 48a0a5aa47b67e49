"""Cabinets, boxes and folders as the archivist keeps them: add, open, move, print labels.

The one set of services behind the location screens, ``hudang location ...``,
``hudang labels`` and ``/api/locations``. Each passes the one door: ``locate`` to add,
move or print labels (the archivist), ``read_household`` to open a container and see what
it holds. A container kept for a region is placed there for the jurisdiction check; one
kept for the whole deployment is placed at ``""``, which only readers of the whole
deployment reach. Every change and every opening is recorded in the audit log. The rules
are ``records.locations``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.cataloguing import household_target, volume_target
from ingest.labels import Label, render_labels
from ingest.reports import today
from records import audit, locations as rules
from records.clock import as_utc
from records.catalogue import HOUSEHOLD_NUMBER, find_household
from records.door import Knock, Target
from records.households import read_date
from records.model import Container, ContainerKind, Dossier, LocationMove, Region, Volume
from records.policy import Action, Principal, decide, region_scope
from records.problems import N_, fail, gather


# -- what a reader sees -------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """A container in a line: enough to name it and link to it."""

    code: str
    kind: str
    title: str | None
    region_code: str | None

    def as_json(self) -> dict:
        return {"code": self.code, "kind": self.kind, "title": self.title,
                "region": self.region_code}


def _ref(c: Container) -> Ref:
    return Ref(c.code, c.kind.value, c.title, c.region_code)


@dataclass(frozen=True)
class Held:
    """A dossier or a volume lying in a container."""

    kind: str  # dossier / volume
    key: str  # the household number, or REGION/YEAR
    name: str  # the head's name, or the region's name
    region_code: str
    volume_id: int | None = None
    place: str = ""  # the code of the container it lies in (a folder inside a box)

    def as_json(self) -> dict:
        return {"kind": self.kind, "key": self.key, "name": self.name,
                "region": self.region_code, "in": self.place,
                **({"volume_id": self.volume_id} if self.volume_id else {})}


def _held(thing: Dossier | Volume, place: str = "") -> Held:
    if isinstance(thing, Dossier):
        h = thing.household
        return Held("dossier", h.number, h.head_name, h.region_code, place=place)
    return Held("volume", f"{thing.region_code}/{thing.year}", thing.region.name,
                thing.region_code, thing.id, place)


@dataclass(frozen=True)
class Move:
    """One line of a history: what moved, from where to where, when, by whom."""

    what_kind: str  # dossier / volume / cabinet / box / folder
    what: str
    source: str | None
    destination: str | None
    on: date
    by: str
    note: str
    recorded_at: datetime

    def as_json(self) -> dict:
        return {"what_kind": self.what_kind, "what": self.what, "from": self.source,
                "to": self.destination, "date": self.on.isoformat(), "by": self.by,
                "note": self.note, "recorded_at": as_utc(self.recorded_at).isoformat()}


def _move(m: LocationMove) -> Move:
    if m.dossier is not None:
        kind, what = "dossier", m.dossier.household.number
    elif m.volume is not None:
        kind, what = "volume", f"{m.volume.region_code}/{m.volume.year}"
    else:
        kind, what = m.container.kind.value, m.container.code
    return Move(kind, what, m.source.code if m.source else None,
                m.destination.code if m.destination else None, m.moved_on, m.moved_by, m.note,
                m.recorded_at)


@dataclass(frozen=True)
class Where:
    """Where a dossier or volume is now (outermost first), and how it got there."""

    path: list[Ref]
    history: list[Move]

    @property
    def code(self) -> str | None:
        return self.path[-1].code if self.path else None

    def text(self) -> str:
        return " › ".join(f"{r.kind} {r.code}" for r in self.path)

    def as_json(self) -> dict:
        return {"path": [r.as_json() for r in self.path], "code": self.code,
                "history": [m.as_json() for m in self.history]}


def where(session: Session, thing: Dossier | Volume) -> Where:
    """Where ``thing`` lies now, and its moves (the caller has passed the door for it)."""
    key = {"dossier": thing} if isinstance(thing, Dossier) else {"volume": thing}
    return Where([_ref(c) for c in rules.path(thing.container)],
                 [_move(m) for m in rules.history(session, **key)])


@dataclass
class Opened:
    """A container's page: what it is, where it stands, what it holds, its history."""

    container: Ref
    region_name: str | None
    path: list[Ref]
    children: list[tuple[Ref, int]]  # (container, how many things lie in it, at any depth)
    held: list[Held]  # dossiers and volumes in it or in its folders
    history: list[Move]
    created_by: str = ""
    created_at: datetime | None = None
    may_hold: list[str] = field(default_factory=list)  # kinds that go into it

    def as_json(self) -> dict:
        return {**self.container.as_json(), "region_name": self.region_name,
                "path": [r.as_json() for r in self.path],
                "children": [{**r.as_json(), "holds": n} for r, n in self.children],
                "contents": [h.as_json() for h in self.held],
                "history": [m.as_json() for m in self.history],
                "created_by": self.created_by,
                "created_at": as_utc(self.created_at).isoformat() if self.created_at else None}


def place_of(container: Container | None, code: str = "") -> Target:
    """A container as the door sees it: a region's (its code) or everyone's (``""``)."""
    if container is None:
        return Target("container", code[:40], found=False)
    return Target("container", container.code, region=container.region_code or "")


def _admitted(archive: Archive, s: Session, who: Principal, action: Action, code: str,
              event: str) -> Container:
    container = rules.find(s, code)
    archive.admit(Knock(who, action, place_of(container, code), event=event))
    return container


def _contents(s: Session, container: Container) -> tuple[list[tuple[Ref, int]], list[Held]]:
    kids = []
    for child in rules.children(s, container):
        below = rules.inside(s, child)
        kids.append((_ref(child), len(rules.dossiers_in(s, below))
                     + len(rules.volumes_in(s, below))))
    here = [container, *(c for c in rules.children(s, container)
                         if c.kind is ContainerKind.folder)]
    codes = {c.id: c.code for c in here}
    held = [_held(d, codes[d.container_id]) for d in rules.dossiers_in(s, here)]
    held += [_held(v, codes[v.container_id]) for v in rules.volumes_in(s, here)]
    return kids, held


def open_container(archive: Archive, who: Principal, code: str) -> Opened:
    """A container's page (``read_household``): recorded as a read, since it names
    households."""
    with archive.Session() as s:
        container = _admitted(archive, s, who, Action.read_household, code, "read_container")
        kids, held = _contents(s, container)
        opened = Opened(
            _ref(container), container.region.name if container.region else None,
            [_ref(c) for c in rules.path(container)[:-1]], kids, held,
            [_move(m) for m in rules.history(s, container=container)],
            container.created_by, container.created_at,
            [k.value for k, parent in rules.PARENT_KIND.items() if parent is container.kind])
    archive.record(audit.Event(actor=who.name, action="read_container",
                               object_type="container", object_id=opened.container.code,
                               detail={"holds": len(held)}))
    return opened


@dataclass(frozen=True)
class Listing:
    containers: list[tuple[Ref, str | None, int]]  # (container, region name, children)
    total: int
    offset: int
    limit: int

    def as_json(self) -> dict:
        return {"containers": [{**r.as_json(), "region_name": name, "children": n}
                               for r, name, n in self.containers],
                "total": self.total, "offset": self.offset, "limit": self.limit}


def listing(archive: Archive, who: Principal, *, offset: int = 0, limit: int = 50) -> Listing:
    """The cabinets (and boxes standing nowhere) within the reader's jurisdiction."""
    archive.admit(Knock(who, Action.read_household, event="list_containers"))
    with archive.Session() as s:
        top = rules.top_level(s, region_scope(who), offset=offset, limit=limit)
        rows = [(_ref(c), c.region.name if c.region else None, len(rules.children(s, c)))
                for c in top.containers]
    return Listing(rows, top.total, offset, limit)


# -- adding ------------------------------------------------------------------------------------
def add(archive: Archive, who: Principal, kind: str, code: str, *, parent: str | None = None,
        title: str | None = None, region: str | None = None) -> Ref:
    """Add a cabinet, box or folder. Its region is the one given, else its parent's, else
    the archivist's own (None for an archivist of the whole deployment)."""
    chosen_kind, code, title = gather(lambda: rules.read_kind(kind),
                                      lambda: rules.read_code(code),
                                      lambda: rules.read_title(title))
    region = (region or "").strip() or None
    # one who may not keep containers at all is refused before the parent is looked at
    archive.admit(Knock(who, Action.locate, event="container_add"))
    with archive.Session() as s:
        above = None
        if parent:
            above = rules.find(s, parent)
            if above is None or not decide(who, Action.locate, above.region_code or "").allowed:
                raise fail("parent", N_("there is no container %(code)s"),
                           code=parent.strip().upper()[:40])
        if region is None:
            region = above.region_code if above is not None else region_scope(who)
    archive.admit(Knock(who, Action.locate, Target("container", code, region=region or ""),
                        event="container_add"))
    with archive.Session() as s, s.begin():
        above = rules.find(s, parent) if parent else None
        row = rules.add(s, chosen_kind, code, title=title, parent=above, region=region,
                        by=who.name)
        s.flush()
        ref = _ref(row)
    archive.record(audit.Event(actor=who.name, action="container_add", object_type="container",
                               object_id=ref.code, detail={"kind": ref.kind, "region": region,
                                                           "in": above.code if above else None,
                                                           "title": title}))
    return ref


# -- moving -------------------------------------------------------------------------------------
def _thing(s: Session, what: str) -> tuple[Dossier | Volume | Container | None, Target]:
    """A household's dossier (by its number), a volume (REGION/YEAR) or a container (code),
    and how the door sees it."""
    what = what.strip()
    if HOUSEHOLD_NUMBER.match(what):
        household = find_household(s, what)
        return (household.dossier if household else None), household_target(household, what)
    m = rules.VOLUME_REF.match(what)
    if m:
        volume = s.scalar(select(Volume).where(Volume.region_code == m.group(1),
                                               Volume.year == int(m.group(2))))
        return volume, volume_target(volume, what)
    container = rules.find(s, what) if rules.CODE.match(what.upper()) else None
    return container, place_of(container, what)


def container_place(archive: Archive, who: Principal, code: str) -> tuple[Ref, str | None]:
    """(the container, the code of the one it stands in) of a container ``who`` may keep
    (``locate``): its move form and the form that puts papers into it."""
    with archive.Session() as s:
        container = _admitted(archive, s, who, Action.locate, code, "location_move")
        return _ref(container), container.parent.code if container.parent else None


def dossier_place(archive: Archive, who: Principal, number: str) -> tuple[str, str, Where]:
    """(number, head's name, where its dossier lies) of a household whose dossier ``who``
    may move (``locate``)."""
    with archive.Session() as s:
        household = find_household(s, number)
        archive.admit(Knock(who, Action.locate, household_target(household, number),
                            event="location_move"))
        return household.number, household.head_name, where(s, household.dossier)


def volume_place(archive: Archive, who: Principal, volume_id: int) -> tuple[str, str, Where]:
    """(REGION/YEAR, the region's name and year, where it lies) of a volume ``who`` may move."""
    with archive.Session() as s:
        volume = s.get(Volume, volume_id)
        archive.admit(Knock(who, Action.locate, volume_target(volume, str(volume_id)),
                            event="location_move"))
        return (f"{volume.region_code}/{volume.year}", f"{volume.region.name} {volume.year}",
                where(s, volume))


@dataclass(frozen=True)
class Moved:
    what: str
    source: str | None
    destination: str | None
    on: date
    changed: bool


def move(archive: Archive, who: Principal, what: str, to: str | None, *,
         on: str | date | None = None, note: str = "") -> Moved:
    """Put a dossier (household number), a volume (REGION/YEAR) or a container (code) into
    the container ``to`` (None or "": take it out) on day ``on`` (default today)."""
    day = today(archive)

    def when() -> date:
        chosen = on if isinstance(on, date) else read_date(on, "date")
        if chosen is not None and chosen > day:
            raise fail("date", N_("the date %(date)s is after today"), date=chosen.isoformat())
        return chosen or day

    chosen_day, note, destination = gather(
        when, lambda: rules.read_note(note),
        lambda: rules.read_code(to, "to") if (to or "").strip() else None)
    with archive.Session() as s:
        thing, target = _thing(s, what)
        archive.admit(Knock(who, Action.locate, target, event="location_move"))
        if destination is not None:
            into = rules.find(s, destination)
            if into is None or not decide(who, Action.locate, into.region_code or "").allowed:
                raise fail("to", N_("there is no container %(code)s"), code=destination)
    with archive.Session() as s, s.begin():
        thing, target = _thing(s, what)
        into = rules.find(s, destination) if destination else None
        row = rules.move(s, thing, into, on=chosen_day, by=who.name, note=note)
        current = (thing.parent if isinstance(thing, Container) else thing.container)
        source = row.source.code if row is not None and row.source else (
            current.code if row is None and current else None)
    done = Moved(target.ident, source, destination, chosen_day, row is not None)
    if done.changed:
        archive.record(audit.Event(
            actor=who.name, action="location_move", object_type=target.kind,
            object_id=target.ident, household=target.household,
            detail={"from": done.source, "to": done.destination,
                    "date": chosen_day.isoformat(), **({"note": note} if note else {})}))
    return done


# -- labels --------------------------------------------------------------------------------------
HEADINGS = {ContainerKind.cabinet: "低保档案柜", ContainerKind.box: "低保档案盒",
            ContainerKind.folder: "低保档案袋"}


def _region_line(region: Region | None) -> str:
    return f"{region.name}（{region.code}）" if region else "全部区划"


def _label(s: Session, c: Container) -> Label:
    """What a label says. A folder's: its household's number and head's name (never the ID
    number); a box's: the households (or volumes) it holds."""
    lines: list[str] = []
    big = c.code
    if c.kind is ContainerKind.folder:
        held = rules.holder_of(s, c)
        if isinstance(held, Dossier):
            big = held.household.number
            lines = [f"户主：{held.household.head_name}", _region_line(held.household.region)]
        elif isinstance(held, Volume):
            big = f"{held.region.name} {held.year}年"
            lines = ["日常管理档案", _region_line(held.region)]
        else:
            lines = [_region_line(c.region)]
        if c.title:
            lines.insert(0, c.title)
    else:
        lines = [c.title or "", _region_line(c.region)]
        if c.kind is ContainerKind.box:
            below = rules.inside(s, c)
            numbers = [d.household.number for d in rules.dossiers_in(s, below)]
            if numbers:
                span = numbers[0] if len(numbers) == 1 else f"{numbers[0]} 至 {numbers[-1]}"
                lines.append(f"户号 {span}，共 {len(numbers)} 户")
            years = sorted({v.year for v in rules.volumes_in(s, below)})
            if years:
                lines.append(f"日常管理档案 {'、'.join(str(y) for y in years)} 年")
        if c.parent is not None:
            lines.append(f"所在{rules.KIND_NAMES[c.parent.kind]}：{c.parent.code}")
    return Label(kind=c.kind.value, heading=HEADINGS[c.kind], big=big, code=c.code,
                 lines=[line for line in lines if line])


def labels(archive: Archive, who: Principal, codes: list[str], *,
           with_contents: bool = False) -> bytes:
    """An A4 PDF of the labels of ``codes`` (and, ``with_contents``, of every container
    inside them), each with its code as a Code 128 barcode."""
    wanted = gather(*(lambda c=c: rules.read_code(c) for c in codes)) if codes else []
    if not wanted:
        raise fail("code", N_("give the container's code"))
    made: list[Label] = []
    with archive.Session() as s:
        for code in wanted:
            container = _admitted(archive, s, who, Action.locate, code, "labels_print")
            for c in (rules.inside(s, container) if with_contents else [container]):
                made.append(_label(s, c))
    archive.record(audit.Event(actor=who.name, action="labels_print",
                               object_type="container", object_id=",".join(wanted)[:64],
                               detail={"labels": len(made), "with_contents": with_contents}))
    return render_labels(made)
