"""Where the paper is: cabinets, boxes and folders (柜、盒、袋), and every move.

一村一柜、一组一盒、一户一袋 (DOMAIN.md): a cabinet stands on its own, a box stands in a
cabinet (or nowhere yet), a folder lies in a box. A household's dossier lies in a folder or
a box; a region's volume of daily-management records in a box or a folder. A folder holds
one dossier or one volume. Each container has a code, which its barcode says too: an
upper-case letter first (so that a code never reads as a household number), then letters,
digits and '-', at most 40 (Code 128 prints them all).

A container kept for a region holds only what lies in that region: a township's cabinet
takes the boxes of its villages, not another township's. Every move is a
:class:`records.model.LocationMove` row (what, from where, to where, the day, who); the
current place is the row's column (``container_id``), so both always agree here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from records.model import (Container, ContainerKind, Dossier, Household, LocationMove, Region,
                           Volume)
from records.problems import N_, fail, gather, taken

CODE = re.compile(r"^[A-Z][A-Z0-9-]{0,39}$")
TITLE_LENGTH = 100
NOTE_LENGTH = 200
# what stands in what (None: on its own)
PARENT_KIND = {ContainerKind.cabinet: None, ContainerKind.box: ContainerKind.cabinet,
               ContainerKind.folder: ContainerKind.box}
HOLDS_RECORDS = (ContainerKind.box, ContainerKind.folder)  # where a dossier or volume lies
KIND_NAMES = {ContainerKind.cabinet: "柜", ContainerKind.box: "盒", ContainerKind.folder: "袋"}
# a volume of daily-management records, as the command line names it: REGION/YEAR
VOLUME_REF = re.compile(r"^([0-9]{6}|[0-9]{9}|[0-9]{12})/([0-9]{4})$")


def read_code(text: str | None, field: str = "code") -> str:
    """A container code as typed or scanned (case and spaces forgiven)."""
    code = (text or "").strip().upper()
    if not code:
        raise fail(field, N_("give the container's code"))
    if not CODE.match(code):
        raise fail(field, N_("the code “%(code)s” must start with a letter and have only "
                             "letters, digits and '-', at most 40"), code=code[:40])
    return code


def read_kind(text: str | None) -> ContainerKind:
    try:
        return ContainerKind((text or "").strip())
    except ValueError:
        raise fail("kind", N_("choose cabinet, box or folder")) from None


def read_title(text: str | None) -> str | None:
    title = (text or "").strip()
    if len(title) > TITLE_LENGTH:
        raise fail("title", N_("the title must have at most %(n)s characters"), n=TITLE_LENGTH)
    return title or None


def read_note(text: str | None) -> str:
    note = (text or "").strip()
    if len(note) > NOTE_LENGTH:
        raise fail("note", N_("the note must have at most %(n)s characters"), n=NOTE_LENGTH)
    return note


def find(session: Session, code: str) -> Container | None:
    return session.scalar(select(Container).where(Container.code == code.strip().upper()))


def within(region: str | None, inner: str | None) -> bool:
    """Does a container kept for ``region`` (None: everyone's) take what lies in ``inner``?"""
    return region is None or (inner is not None and inner.startswith(region))


def path(container: Container | None) -> list[Container]:
    """The container and those it stands in, outermost first (cabinet, box, folder)."""
    chain: list[Container] = []
    while container is not None and container not in chain:
        chain.insert(0, container)
        container = container.parent
    return chain


def add(session: Session, kind: ContainerKind, code: str, *, title: str | None,
        parent: Container | None, region: str | None, by: str) -> Container:
    """A new container (the caller has read its code and found its parent)."""
    code = read_code(code)

    def unique() -> None:
        if find(session, code) is not None:
            raise taken("code", N_("a container with the code %(code)s already exists"),
                        code=code)

    def placed() -> None:
        wanted = PARENT_KIND[kind]
        if parent is not None and parent.kind is not wanted:
            if wanted is None:
                raise fail("parent", N_("a cabinet stands on its own, not in %(code)s"),
                           code=parent.code)
            raise fail("parent", N_("a %(kind)s goes into a %(wanted)s, and %(code)s is a "
                                    "%(other)s"), kind=kind.value, wanted=wanted.value,
                       code=parent.code, other=parent.kind.value)

    def in_region() -> None:
        if region is not None and session.get(Region, region) is None:
            raise fail("region", N_("there is no region %(code)s"), code=region[:12])
        if parent is not None and not within(parent.region_code, region):
            raise fail("region", N_("%(code)s keeps the papers of region %(region)s only"),
                       code=parent.code, region=parent.region_code)

    gather(unique, placed, in_region)
    row = Container(kind=kind, code=code, title=title, parent=parent, region_code=region,
                    created_by=by)
    session.add(row)
    return row


def region_of(thing: Dossier | Volume | Container) -> str | None:
    if isinstance(thing, Dossier):
        return thing.household.region_code
    return thing.region_code


def _check_destination(session: Session, thing: Dossier | Volume | Container,
                       to: Container | None) -> None:
    if to is None:
        return
    if isinstance(thing, Container):
        wanted = PARENT_KIND[thing.kind]
        if wanted is None:
            raise fail("to", N_("a cabinet stands on its own; it is not put into %(code)s"),
                       code=to.code)
        if to.kind is not wanted:
            raise fail("to", N_("a %(kind)s goes into a %(wanted)s, and %(code)s is a "
                                "%(other)s"), kind=thing.kind.value, wanted=wanted.value,
                       code=to.code, other=to.kind.value)
    elif to.kind not in HOLDS_RECORDS:
        raise fail("to", N_("papers go into a box or a folder, and %(code)s is a cabinet"),
                   code=to.code)
    elif to.kind is ContainerKind.folder:
        held = holder_of(session, to)
        if held is not None and held is not thing:
            raise fail("to", N_("folder %(code)s already holds %(what)s"), code=to.code,
                       what=describe(held))
    if not within(to.region_code, region_of(thing)):
        raise fail("to", N_("%(code)s keeps the papers of region %(region)s only"),
                   code=to.code, region=to.region_code)


def holder_of(session: Session, folder: Container) -> Dossier | Volume | None:
    """The dossier or volume a folder holds, if any."""
    return (session.scalar(select(Dossier).where(Dossier.container_id == folder.id))
            or session.scalar(select(Volume).where(Volume.container_id == folder.id)))


def describe(thing: Dossier | Volume | Container) -> str:
    if isinstance(thing, Dossier):
        return f"the dossier of household {thing.household.number}"
    if isinstance(thing, Volume):
        return f"the volume {thing.region_code}/{thing.year}"
    return f"{thing.kind.value} {thing.code}"


def move(session: Session, thing: Dossier | Volume | Container, to: Container | None, *,
         on: date, by: str, note: str = "") -> LocationMove | None:
    """Put ``thing`` into ``to`` (None: take it out) on day ``on``; None when it is there
    already. The history row and the current place change together."""
    if to is not None and isinstance(thing, Container) and any(
            c.id == thing.id for c in path(to)):
        raise fail("to", N_("%(code)s cannot go into itself"), code=thing.code)
    _check_destination(session, thing, to)
    source = thing.parent if isinstance(thing, Container) else thing.container
    if (source.id if source else None) == (to.id if to else None):
        return None
    row = LocationMove(moved_on=on, moved_by=by, note=read_note(note),
                       source=source, destination=to)
    if isinstance(thing, Dossier):
        row.dossier, thing.container = thing, to
    elif isinstance(thing, Volume):
        row.volume, thing.container = thing, to
    else:
        row.container, thing.parent = thing, to
    session.add(row)
    return row


# -- what a container holds ------------------------------------------------------------------
def children(session: Session, container: Container) -> list[Container]:
    return list(session.scalars(select(Container).where(Container.parent_id == container.id)
                                .order_by(Container.code)))


def dossiers_in(session: Session, containers: list[Container]) -> list[Dossier]:
    """The dossiers lying in any of ``containers``, by household number."""
    ids = [c.id for c in containers]
    if not ids:
        return []
    return list(session.scalars(select(Dossier).join(Household)
                                .where(Dossier.container_id.in_(ids))
                                .order_by(Household.number)))


def volumes_in(session: Session, containers: list[Container]) -> list[Volume]:
    ids = [c.id for c in containers]
    if not ids:
        return []
    return list(session.scalars(select(Volume).where(Volume.container_id.in_(ids))
                                .order_by(Volume.region_code, Volume.year)))


def inside(session: Session, container: Container) -> list[Container]:
    """``container`` and every container inside it, at any depth."""
    found, queue = [], [container]
    while queue:
        current = queue.pop(0)
        found.append(current)
        queue.extend(children(session, current))
    return found


def history(session: Session, *, dossier: Dossier | None = None, volume: Volume | None = None,
            container: Container | None = None, limit: int = 200) -> list[LocationMove]:
    """The moves of one dossier or volume; for a container, its own moves and every move
    into or out of it or any container inside it; newest first."""
    q = select(LocationMove)
    if dossier is not None:
        q = q.where(LocationMove.dossier_id == dossier.id)
    elif volume is not None:
        q = q.where(LocationMove.volume_id == volume.id)
    else:
        ids = [c.id for c in inside(session, container)]
        q = q.where(or_(LocationMove.container_id == container.id,
                        LocationMove.from_id.in_(ids), LocationMove.to_id.in_(ids)))
    return list(session.scalars(q.order_by(LocationMove.moved_on.desc(),
                                           LocationMove.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Top:
    """What the list of containers shows first: cabinets, and boxes that stand nowhere."""

    containers: list[Container]
    total: int


def top_level(session: Session, scope: str | None, *, offset: int = 0,
              limit: int = 50) -> Top:
    q = select(Container).where(
        or_(Container.kind == ContainerKind.cabinet, Container.parent_id.is_(None)))
    if scope is not None:
        q = q.where(Container.region_code.startswith(scope, autoescape=True))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    cabinets_first = case((Container.kind == ContainerKind.cabinet, 0), else_=1)
    rows = list(session.scalars(q.order_by(cabinets_first, Container.code)
                                .offset(offset).limit(limit)))
    return Top(rows, total)
