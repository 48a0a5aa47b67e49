"""Households (低保户) and their history: the facts kept about each, its members, and the
status changes of its allowance (动态管理: 停发, 增发, 减发, 停保, 恢复).

Pure rules first (reading typed values, which change may follow which, replaying the
events), then the catalogue operations that apply them. ID numbers arrive sealed with a
blind index (the caller holds the key: ``ingest.archive.Archive.seal_id_number``), so
two values are compared by their blind index, never by their sealed bytes, which differ
each time.

The status of a household and its stop date are not typed in: they follow its events,
replayed in date order (:func:`replay`). A 停保 sets the stop date (the retention clock's
start), a later 停保 corrects it, a 恢复 clears it.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.catalogue import add_household, check_household_number
from records.idnumbers import is_valid, mask, normalise
from records.model import (Area, Household, HouseholdCertificate, HouseholdMember,
                           HouseholdStatus, StatusChange, StatusEvent)
from records.problems import N_, Problems, fail, gather
from records.self_lookup import set_certificate

NAME_LENGTH = 50
RELATION_LENGTH = 20
ADDRESS_LENGTH = 200
REASON_LENGTH = 500
CLASSES = (1, 2, 3)  # 一类, 二类, 三类

# -- reading typed values (forms, CSV cells, command options) ---------------------------
_CLASS_WORDS = {"1": 1, "2": 2, "3": 3, "一": 1, "二": 2, "三": 3,
                "一类": 1, "二类": 2, "三类": 3}
_AREA_WORDS = {"urban": Area.urban, "城市": Area.urban, "城镇": Area.urban, "城": Area.urban,
               "rural": Area.rural, "农村": Area.rural, "乡村": Area.rural, "农": Area.rural}
_STATUS_WORDS = {"active": HouseholdStatus.active, "在保": HouseholdStatus.active,
                 "正常": HouseholdStatus.active,
                 "suspended": HouseholdStatus.suspended, "停发": HouseholdStatus.suspended,
                 "stopped": HouseholdStatus.stopped, "停保": HouseholdStatus.stopped}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _clean(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def read_number(text: str | None, field_name: str = "number") -> str:
    """A household number (``220381105012-0042``)."""
    value = _clean(text)
    try:
        check_household_number(value)
    except ValueError:
        raise fail(field_name, N_("“%(value)s” is not a household number like "
                                  "220381105012-0042 (the village's 12-digit code, a dash, "
                                  "4 digits)"), value=value[:30]) from None
    return value


def _word(words: dict, text: str | None, field_name: str, message: str):
    """The value a word of ``words`` stands for; empty -> None; another word: ``message``."""
    value = _clean(text).lower()
    if not value:
        return None
    if value not in words:
        raise fail(field_name, message, value=value[:20])
    return words[value]


def read_class(text: str | None, field_name: str = "review_class") -> int | None:
    """``一类``, ``2`` or ``三类`` -> 1, 2, 3; empty -> None."""
    return _word(_CLASS_WORDS, text, field_name, N_(
        "the review class must be 一类, 二类 or 三类 (or 1, 2, 3), not “%(value)s”"))


def read_area(text: str | None, field_name: str = "area") -> Area | None:
    return _word(_AREA_WORDS, text, field_name, N_(
        "urban or rural must be 城市 or 农村 (urban or rural), not “%(value)s”"))


def read_status(text: str | None, field_name: str = "status") -> HouseholdStatus | None:
    return _word(_STATUS_WORDS, text, field_name, N_(
        "the status must be 在保, 停发 or 停保 (active, suspended or stopped), not "
        "“%(value)s”"))


def read_date(text: str | None, field_name: str = "date") -> date | None:
    """``2024-03-01``, ``2024/3/1`` or ``2024年3月1日`` -> a date; empty -> None."""
    value = _clean(text)
    if not value:
        return None
    m = _DATE.match(value)
    try:
        if m is None:
            raise ValueError
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise fail(field_name, N_("“%(value)s” is not a date; write it as YYYY-MM-DD, "
                                  "e.g. 2024-03-01"), value=value[:20]) from None


def read_name(text: str | None, field_name: str = "head_name") -> str:
    value = _clean(text)
    if not value:
        raise fail(field_name, N_("the name is empty"))
    if len(value) > NAME_LENGTH:
        raise fail(field_name, N_("the name is longer than %(n)s characters"), n=NAME_LENGTH)
    return value


def read_id_number(text: str | None, field_name: str = "head_id_number") -> str | None:
    """A resident ID number, normalised; empty -> None. The sentence shows it masked."""
    value = normalise(text or "")
    if not value:
        return None
    if not is_valid(value):
        raise fail(field_name, N_("%(masked)s is not a valid ID number: it must have 18 "
                                  "characters and its check digit must match (a digit is "
                                  "missing or mistyped)"), masked=mask(value))
    return value


def read_text(text: str | None, field_name: str, limit: int) -> str | None:
    value = _clean(text)
    if len(value) > limit:
        raise fail(field_name, N_("this is longer than %(n)s characters"), n=limit)
    return value or None


@dataclass(frozen=True)
class MemberIn:
    """A member as typed: ID number in the clear (normalised), not yet sealed."""

    name: str
    relation: str
    id_number: str | None = None


def read_member(name: str | None, relation: str | None, id_number: str | None) -> MemberIn:
    return MemberIn(*gather(lambda: read_name(name, "member_name"),
                            lambda: _relation(relation),
                            lambda: read_id_number(id_number, "member_id_number")))


def _relation(text: str | None) -> str:
    value = _clean(text)
    if not value:
        raise fail("member_relation", N_("say how the member is related to the head "
                                         "(配偶, 子女, 父母 ...)"))
    if len(value) > RELATION_LENGTH:
        raise fail("member_relation", N_("the relation is longer than %(n)s characters"),
                   n=RELATION_LENGTH)
    return value


_MEMBER_SPLIT = re.compile(r"[;；\n]")


def read_members(text: str | None, field_name: str = "members") -> list[MemberIn]:
    """A members cell: ``王小明/子女/220381...；李芳/配偶`` (``;`` or ``；`` between members,
    ``/`` between name, relation and the optional ID number)."""
    members = []
    for i, part in enumerate(p for p in _MEMBER_SPLIT.split(_clean(text)) if p.strip()):
        pieces = [x.strip() for x in part.split("/")]
        if len(pieces) not in (2, 3):
            raise fail(field_name, N_("member %(n)s must be written name/relation/ID number "
                                      "(the ID number may be left out)"), n=i + 1)
        try:
            members.append(read_member(*pieces, *([None] * (3 - len(pieces)))))
        except Problems as exc:
            raise fail(field_name, N_("member %(n)s: %(problem)s"), n=i + 1,
                       problem=str(exc.problems[0])) from None
    return members


def check_distinct_ids(head_id: str | None, members: Sequence[MemberIn],
                       field_name: str = "members") -> None:
    """No ID number twice in one household (the head's included)."""
    seen = {head_id} if head_id else set()
    for i, m in enumerate(members):
        if m.id_number and m.id_number in seen:
            raise fail(field_name, N_("member %(n)s has the ID number %(masked)s, which is "
                                      "already given in this household"),
                       n=i + 1, masked=mask(m.id_number))
        if m.id_number:
            seen.add(m.id_number)


# -- status changes: which may follow which --------------------------------------------
# (status before, change) -> status after. A 停保 of a stopped household corrects its
# stop date; 增发 and 减发 change the amount of an allowance being paid.
TRANSITIONS: dict[tuple[HouseholdStatus, StatusChange], HouseholdStatus] = {
    (HouseholdStatus.active, StatusChange.suspend): HouseholdStatus.suspended,
    (HouseholdStatus.active, StatusChange.increase): HouseholdStatus.active,
    (HouseholdStatus.active, StatusChange.decrease): HouseholdStatus.active,
    (HouseholdStatus.active, StatusChange.stop): HouseholdStatus.stopped,
    (HouseholdStatus.suspended, StatusChange.resume): HouseholdStatus.active,
    (HouseholdStatus.suspended, StatusChange.stop): HouseholdStatus.stopped,
    (HouseholdStatus.stopped, StatusChange.stop): HouseholdStatus.stopped,
    (HouseholdStatus.stopped, StatusChange.resume): HouseholdStatus.active,
}

# the Chinese names, for sentences that both languages read
CHANGE_NAMES = {StatusChange.suspend: "停发", StatusChange.increase: "增发",
                StatusChange.decrease: "减发", StatusChange.stop: "停保",
                StatusChange.resume: "恢复"}
STATUS_NAMES = {HouseholdStatus.active: "在保", HouseholdStatus.suspended: "停发",
                HouseholdStatus.stopped: "停保"}


def allowed_changes(status: HouseholdStatus) -> list[StatusChange]:
    """The changes that may be recorded for a household in ``status`` today."""
    return [change for change in StatusChange if (status, change) in TRANSITIONS]


@dataclass(frozen=True)
class Change:
    """A status change as the rules see it."""

    change: StatusChange
    on: date
    order: int = 0  # ties on one date keep the order they were recorded in


@dataclass(frozen=True)
class Replayed:
    status: HouseholdStatus
    stop_date: date | None


def replay(changes: Iterable[Change]) -> Replayed:
    """The status and stop date that ``changes`` lead to from 在保, in date order; raises
    :class:`Problems` naming the first change that cannot follow the ones before it."""
    status, stop = HouseholdStatus.active, None
    for c in sorted(changes, key=lambda c: (c.on, c.order)):
        after = TRANSITIONS.get((status, c.change))
        if after is None:
            raise fail("change", N_("on %(date)s the household was %(status)s, so %(change)s "
                                    "cannot be recorded for that day"),
                       date=c.on.isoformat(), status=STATUS_NAMES[status],
                       change=CHANGE_NAMES[c.change])
        if c.change is StatusChange.stop:
            stop = c.on
        elif c.change is StatusChange.resume:
            stop = None
        status = after
    return Replayed(status, stop)


NO_REASON = N_("give the reason for the change")


def check_change(change: Change, *, today: date, enrolled_on: date | None,
                 reason: str) -> None:
    if change.on > today:
        raise fail("date", N_("%(date)s is in the future; record a change on or after the day "
                              "it takes effect"), date=change.on.isoformat())
    if enrolled_on is not None and change.on < enrolled_on:
        raise fail("date", N_("%(date)s is before the household was enrolled (%(enrolled)s)"),
                   date=change.on.isoformat(), enrolled=enrolled_on.isoformat())
    if not reason.strip():
        raise fail("reason", NO_REASON)
    if len(reason) > REASON_LENGTH:
        raise fail("reason", N_("the reason is longer than %(n)s characters"), n=REASON_LENGTH)


def record_change(session: Session, household: Household, change: StatusChange, on: date,
                  reason: str, *, by: str, today: date) -> StatusEvent:
    """Add a status event and bring the household's status and stop date in line with all
    its events; nothing is added when the change cannot follow (:class:`Problems`)."""
    reason = reason.strip()
    order = len(household.status_events) + 1
    proposed = Change(change, on, order)
    check_change(proposed, today=today, enrolled_on=household.enrolled_on, reason=reason)
    past = [Change(e.change, e.effective_on, i) for i, e in enumerate(household.status_events)]
    after = replay([*past, proposed])
    event = StatusEvent(change=change, effective_on=on, reason=reason, recorded_by=by)
    household.status_events.append(event)
    household.status, household.stop_date = after.status, after.stop_date
    return event


# -- the facts kept about a household -----------------------------------------------
SealedId = tuple[bytes, str]  # (sealed ID number, blind index)


@dataclass(frozen=True)
class SealedMember:
    name: str
    relation: str
    id: SealedId | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.name, self.relation, self.id[1] if self.id else None)


@dataclass
class HouseholdFacts:
    """What a form or a CSV row says about a household. ``given`` names the facts it
    gives: one not given is left as it is, one given empty is cleared."""

    head_name: str | None = None
    head_id: SealedId | None = None
    address: str | None = None
    area: Area | None = None
    review_class: int | None = None
    enrolled_on: date | None = None
    certificate_index: str | None = None
    certificate_sealed: bytes | None = None  # so that a key rotation can index it again
    members: list[SealedMember] | None = None
    given: set[str] = field(default_factory=set)


EDITABLE = ("head_name", "head_id", "address", "area", "review_class", "enrolled_on",
            "certificate_index", "members")


def create(session: Session, number: str, region_code: str, facts: HouseholdFacts) -> Household:
    """A new household with its dossier (``records.catalogue.add_household`` checks the
    number and the village), then the other facts."""
    sealed, index = facts.head_id or (None, None)
    household = add_household(session, number, facts.head_name or "", region_code,
                              head_id_sealed=sealed, head_id_index=index)
    session.flush()
    update(session, household, HouseholdFacts(**{**facts.__dict__,
                                                 "given": set(facts.given) - {"head_name",
                                                                              "head_id"}}))
    return household


def _member_keys(household: Household) -> list[tuple[str, str, str | None]]:
    return [(m.name, m.relation, m.id_index) for m in household.members]


def _certificate(session: Session, household: Household) -> HouseholdCertificate | None:
    return session.get(HouseholdCertificate, household.id) if household.id else None


def update(session: Session, household: Household, facts: HouseholdFacts) -> list[str]:
    """Apply the facts ``facts.given`` names; returns those that changed (an empty list
    when the household already says all of it: a re-import changes nothing)."""
    changed = []
    given = facts.given
    if "head_name" in given and facts.head_name and facts.head_name != household.head_name:
        household.head_name = facts.head_name
        changed.append("head_name")
    if "head_id" in given:
        new_index = facts.head_id[1] if facts.head_id else None
        if new_index != household.head_id_index:
            household.head_id_sealed = facts.head_id[0] if facts.head_id else None
            household.head_id_index = new_index
            changed.append("head_id")
    for name in ("address", "area", "review_class", "enrolled_on"):
        if name in given and getattr(household, name) != getattr(facts, name):
            setattr(household, name, getattr(facts, name))
            changed.append(name)
    if "certificate_index" in given:
        row = _certificate(session, household)
        current = row.certificate_no_index if row else None
        if facts.certificate_index != current:
            if facts.certificate_index is None:
                session.delete(row)
            else:
                set_certificate(session, household, facts.certificate_index,
                                sealed=facts.certificate_sealed)
            changed.append("certificate")
    if "members" in given and facts.members is not None:
        if [m.key for m in facts.members] != _member_keys(household):
            household.members.clear()
            session.flush()  # the old positions go before the new ones take them
            for m in facts.members:
                _append_member(household, m)
            changed.append("members")
    return changed


def _append_member(household: Household, member: SealedMember) -> HouseholdMember:
    position = max((m.position for m in household.members), default=0) + 1
    row = HouseholdMember(position=position, name=member.name, relation=member.relation,
                          id_sealed=member.id[0] if member.id else None,
                          id_index=member.id[1] if member.id else None)
    household.members.append(row)
    return row


def add_member(household: Household, member: SealedMember) -> HouseholdMember:
    """Add one member at the end of the roster; an ID number already in the household is
    refused."""
    if member.id is not None:
        taken = {m.id_index for m in household.members} | {household.head_id_index}
        if member.id[1] in taken:
            raise fail("member_id_number", N_("this ID number is already given in this "
                                              "household"))
    return _append_member(household, member)


def remove_member(session: Session, household: Household, position: int) -> HouseholdMember:
    for m in household.members:
        if m.position == position:
            household.members.remove(m)
            session.flush()
            return m
    raise fail("member", N_("there is no member %(n)s in this household"), n=position)


def certificate_on_file(session: Session, household: Household) -> bool:
    return _certificate(session, household) is not None


# -- listing ------------------------------------------------------------------------
SORTS = {"number": Household.number, "head": Household.head_name,
         "status": Household.status, "class": Household.review_class}


def households_under(session: Session, prefix: str | None, *, offset: int = 0,
                     limit: int = 50, sort: str = "number",
                     status: HouseholdStatus | None = None) -> tuple[list[Household], int]:
    """One page of the households whose village code starts with ``prefix`` (None: all),
    and how many there are."""
    q = select(Household)
    if prefix:
        q = q.where(Household.region_code.startswith(prefix, autoescape=True))
    if status is not None:
        q = q.where(Household.status == status)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    key = SORTS.get(sort, Household.number)
    rows = list(session.scalars(q.order_by(key, Household.number).offset(offset).limit(limit)))
    return rows, total
