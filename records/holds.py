"""Holds (冻结): a record under dispute or investigation must not be destroyed.

A hold is placed on a household, a dossier or a document, with a reason, by a named
person; it is lifted with a reason too, and never deleted. While a hold stands on a
household, on its dossier or on any document of it, the dossier does not enter a
destruction list, and execution checks again (records.destruction).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.clock import utcnow
from records.exceptions import Conflict, NotFound
from records.model import Document, Dossier, Hold, Household
from records.problems import N_, fail

KINDS = ("household", "dossier", "document")
REASON_LENGTH = 500


@dataclass(frozen=True)
class HoldTarget:
    """What a hold is placed on, found in the catalogue."""

    kind: str
    ident: str  # as shown: a household number, a dossier's archival code or id, a document id
    household: Household
    dossier: Dossier | None = None
    document: Document | None = None


def find_target(session: Session, kind: str, ident: str) -> HoldTarget | None:
    """The object ``ident`` names: a household by number; a dossier by id, archival code or
    its household's number; a document by id. None when there is none."""
    ident = (ident or "").strip()
    if kind == "household":
        household = session.scalar(select(Household).where(Household.number == ident))
        return HoldTarget(kind, ident, household) if household else None
    if kind == "dossier":
        dossier = session.scalar(select(Dossier).where(Dossier.archival_code == ident))
        if dossier is None and ident.isdigit():
            dossier = session.get(Dossier, int(ident))
        if dossier is None:
            household = session.scalar(select(Household).where(Household.number == ident))
            dossier = household.dossier if household else None
        return HoldTarget(kind, ident, dossier.household, dossier) if dossier else None
    if kind == "document":
        doc = session.get(Document, int(ident)) if ident.isdigit() else None
        return HoldTarget(kind, ident, doc.dossier.household, doc.dossier, doc) if doc else None
    raise fail("kind", N_("a hold is placed on a household, a dossier or a document"))


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise fail("reason", N_("give the reason for the hold"))
    if len(reason) > REASON_LENGTH:
        raise fail("reason", N_("the reason is longer than %(n)s characters"), n=REASON_LENGTH)
    return reason


def _same_object(target: HoldTarget):
    clauses = [Hold.object_type == target.kind, Hold.household_id == target.household.id,
               Hold.lifted_at.is_(None)]
    if target.kind == "dossier":
        clauses.append(Hold.dossier_id == target.dossier.id)
    elif target.kind == "document":
        clauses.append(Hold.document_id == target.document.id)
    return clauses


def active_on(session: Session, target: HoldTarget) -> Hold | None:
    """The hold standing on exactly this object, if any."""
    return session.scalar(select(Hold).where(*_same_object(target)))


def place(session: Session, target: HoldTarget, reason: str, by: str,
          now: datetime | None = None) -> Hold:
    reason = _reason(reason)
    standing = active_on(session, target)
    if standing is not None:
        raise Conflict(f"{target.kind} {target.ident} is held already (by {standing.placed_by}: "
                       f"{standing.reason})")
    hold = Hold(object_type=target.kind, household_id=target.household.id,
                dossier_id=target.dossier.id if target.dossier else None,
                document_id=target.document.id if target.document else None,
                reason=reason, placed_by=by, placed_at=now or utcnow())
    session.add(hold)
    session.flush()
    return hold


def lift(session: Session, target: HoldTarget, reason: str, by: str,
         now: datetime | None = None) -> Hold:
    reason = (reason or "").strip()
    if not reason:
        raise fail("reason", N_("give the reason for lifting the hold"))
    if len(reason) > REASON_LENGTH:
        raise fail("reason", N_("the reason is longer than %(n)s characters"), n=REASON_LENGTH)
    hold = active_on(session, target)
    if hold is None:
        raise NotFound(f"{target.kind} {target.ident} has no hold to lift")
    hold.lifted_by, hold.lifted_at, hold.lift_reason = by, now or utcnow(), reason
    return hold


def blocking(session: Session, dossier: Dossier) -> Hold | None:
    """The first hold that keeps ``dossier`` from destruction: on its household, on itself or
    on any of its documents."""
    # every hold carries its household, so one column finds holds on all three
    return session.scalar(select(Hold).where(
        Hold.lifted_at.is_(None), Hold.household_id == dossier.household_id)
        .order_by(Hold.id).limit(1))


def held_dossier_ids(session: Session) -> set[int]:
    """Every dossier a standing hold keeps from destruction."""
    rows = session.execute(select(Hold.household_id).where(Hold.lifted_at.is_(None))).all()
    households = {r[0] for r in rows}
    if not households:
        return set()
    return set(session.scalars(select(Dossier.id).where(Dossier.household_id.in_(households))))


def listing(session: Session, scope: str | None, *, standing: bool = True) -> list[Hold]:
    """Holds under the region prefix ``scope`` (None: all), newest first; standing ones only
    unless ``standing`` is False."""
    query = select(Hold).join(Household, Household.id == Hold.household_id)
    if standing:
        query = query.where(Hold.lifted_at.is_(None))
    if scope:
        query = query.where(Household.region_code.like(f"{scope}%"))
    return list(session.scalars(query.order_by(Hold.id.desc())))


def holds_of(session: Session, household_id: int) -> list[Hold]:
    """Every hold ever placed on a household or anything of it, oldest first."""
    return list(session.scalars(select(Hold).where(Hold.household_id == household_id)
                                .order_by(Hold.id)))
