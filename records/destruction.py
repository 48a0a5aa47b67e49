"""Destruction lists (销毁清册): the procedure and its four-eyes rules.

A reviewer (鉴定小组) drafts a list from the dossiers that are due and submits it; a
different person with the approver role approves it or returns it with a comment; a
waiting period follows (``HUDANG_DESTRUCTION_WAIT_DAYS``); two witnesses (监销人), both
different from the approver and from each other, confirm; then it is executed. The rules
compare people (user names), never roles: one person may hold several roles, and still
cannot approve a list they drew up.

:func:`check_step` is the pure decision (a list's state, a step, a person, a time);
the rest builds a list's rows from the catalogue. Executing is ``ingest.shredding``.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from records import holds, retention
from records.clock import as_utc
from records.exceptions import Conflict, NotFound
from records.idnumbers import mask_in_text
from records.problems import N_, Problem, Problems
from records.model import (DestructionItem, DestructionList, DestructionStep, Dossier, EndAction,
                           ItemStatus, ListStatus)

COMMENT_LENGTH = 1000
# lists whose items are spoken for: a dossier is on at most one of these
OPEN = (ListStatus.draft, ListStatus.submitted, ListStatus.returned, ListStatus.approved,
        ListStatus.executing)
HEADER = ["序号", "题名", "年度", "档号", "应保管期限", "已保管期限", "页数", "备注"]


class Step(str, enum.Enum):
    remove = "remove"  # take a dossier off a draft
    submit = "submit"
    cancel = "cancel"
    approve = "approve"
    return_ = "return"
    witness = "witness"
    execute = "execute"


class OutOfTurn(Conflict, Problems):
    """A step the list's state or the four-eyes rules do not allow now, or not to this
    person; the sentence says which and why (translated on screens)."""


def out_of_turn(message: str, **params) -> OutOfTurn:
    return OutOfTurn([Problem("step", message, params)])


def being_executed(n: int, job: int) -> OutOfTurn:
    """A second request to carry out a list while its job is queued or running."""
    return out_of_turn(N_("list %(n)s is being carried out already, by job %(job)s; the jobs "
                          "page shows its progress"), n=n, job=job)


def _names(lst: DestructionList) -> set[str]:
    return {n for n in (lst.drafted_by, lst.submitted_by) if n}


def witnessed(lst: DestructionList) -> int:
    return sum(1 for n in (lst.witness_1_by, lst.witness_2_by) if n)


def check_step(lst: DestructionList, step: Step, person: str, now: datetime,
               zone: tzinfo = timezone.utc) -> None:
    """Raise :class:`OutOfTurn` unless ``person`` may take ``step`` on ``lst`` at ``now``
    (``zone``: the office's, for the times the sentences name)."""
    n, status = lst.id, lst.status
    if step in (Step.remove, Step.submit, Step.cancel):
        allowed = (ListStatus.draft, ListStatus.returned) + (
            (ListStatus.submitted,) if step is Step.cancel else ())
        if status not in allowed:
            raise out_of_turn(N_("list %(n)s can no longer be changed, submitted or "
                                 "withdrawn"), n=n)
        if step is Step.submit and not lst.items:
            raise out_of_turn(N_("list %(n)s has no dossiers; draft another one"), n=n)
        return
    if step in (Step.approve, Step.return_):
        if status is not ListStatus.submitted:
            raise out_of_turn(N_("list %(n)s is not waiting for approval"), n=n)
        if person in _names(lst):  # people, not roles: an approver may be a reviewer too
            raise out_of_turn(N_("%(person)s drew up list %(n)s; another approver must "
                                 "decide on it"), person=person, n=n)
        return
    if step is Step.witness:
        if status is not ListStatus.approved or witnessed(lst) >= 2:
            raise out_of_turn(N_("list %(n)s is not waiting for a witness"), n=n)
        if person == lst.approved_by:
            raise out_of_turn(N_("%(person)s approved list %(n)s; a witness must be someone "
                                 "else"), person=person, n=n)
        if person == lst.witness_1_by:
            raise out_of_turn(N_("%(person)s has witnessed list %(n)s already; the second "
                                 "witness must be someone else"), person=person, n=n)
        until = as_utc(lst.wait_until)
        if until is not None and now < until:
            raise out_of_turn(N_("list %(n)s is in its waiting period until %(until)s; "
                                 "witnesses confirm after it"), n=n,
                              until=until.astimezone(zone).strftime("%Y-%m-%d %H:%M"))
        return
    if step is Step.execute:
        if status in (ListStatus.executing, ListStatus.executed):
            return  # resumable and idempotent
        if status is not ListStatus.approved or witnessed(lst) < 2:
            raise out_of_turn(N_("list %(n)s needs approval and two witnesses before it is "
                                 "executed (%(count)s of 2 have confirmed)"), n=n,
                              count=witnessed(lst))
        return
    raise ValueError(f"unknown step {step}")  # pragma: no cover


def refusal(lst: DestructionList, step: Step, person: str, now: datetime,
            zone: tzinfo = timezone.utc) -> OutOfTurn | None:
    """What :func:`check_step` would say, or None (for a screen that asks before acting)."""
    try:
        check_step(lst, step, person, now, zone)
    except OutOfTurn as exc:
        return exc
    return None


def wait_until(approved_at: datetime, wait_days: int) -> datetime:
    return approved_at + timedelta(days=max(0, wait_days))


def next_steps(lst: DestructionList) -> list[Step]:
    """What may come next for the list, whoever takes it (for screens and ``show``)."""
    status = lst.status
    if status in (ListStatus.draft, ListStatus.returned):
        return [Step.remove, Step.submit, Step.cancel]
    if status is ListStatus.submitted:
        return [Step.approve, Step.return_, Step.cancel]
    if status is ListStatus.approved:
        return [Step.witness] if witnessed(lst) < 2 else [Step.execute]
    if status is ListStatus.executing:
        return [Step.execute]
    return []


def record_step(lst: DestructionList, step: str, by: str, at: datetime, comment: str = "") -> None:
    lst.steps.append(DestructionStep(step=step, by=by, at=at, comment=comment))


def get_list(session: Session, number: int) -> DestructionList | None:
    return session.get(DestructionList, number)


# -- choosing and describing the dossiers ---------------------------------------------------------
def listed_dossier_ids(session: Session) -> set[int]:
    """Dossiers on a list that is still open (not executed, not withdrawn)."""
    return set(session.scalars(
        select(DestructionItem.dossier_id).join(DestructionList)
        .where(DestructionList.status.in_(OPEN))))


@dataclass(frozen=True)
class Candidates:
    chosen: list[retention.Due]
    held: list[retention.Due]  # due, but a hold keeps them
    listed: list[retention.Due]  # due, on another open list already
    other_action: list[retention.Due]  # due, but their class says review or transfer


def candidates(session: Session, region: str, on: date, within_days: int) -> Candidates:
    """The due dossiers of ``region`` that a new list takes, and those it leaves out."""
    due = retention.due_dossiers(session, region, on, within_days)
    held, listed = holds.held_dossier_ids(session), listed_dossier_ids(session)
    out = Candidates([], [], [], [])
    for d in due:
        if d.dossier_id in held:
            out.held.append(d)
        elif d.dossier_id in listed:
            out.listed.append(d)
        elif d.action is not EndAction.destroy:
            out.other_action.append(d)
        else:
            out.chosen.append(d)
    return out


def years_of(dossier: Dossier, opened_year: int) -> str:
    """年度: the span of the documents' years (``2019-2023``), or the year it was opened."""
    years = sorted({d.date.year for d in dossier.documents if d.date})
    if not years:
        return str(opened_year)
    return str(years[0]) if years[0] == years[-1] else f"{years[0]}-{years[-1]}"


def make_item(session: Session, dossier: Dossier, position: int, opened_year: int) -> DestructionItem:
    """A list's row for ``dossier``, as it is when listed (题名, 年度, 档号, 应保管期限 ...)."""
    household = dossier.household
    rule = retention.class_of_dossier(session, dossier)
    start = retention.stop_date([(e.change, e.effective_on) for e in household.status_events])
    note = f"停保日期 {start.isoformat()}" if start else ""
    return DestructionItem(
        dossier_id=dossier.id, position=position, household_no=household.number,
        title=mask_in_text(f"{household.head_name}户低保对象档案")[:300],
        years=years_of(dossier, opened_year), archival_code=dossier.archival_code or "",
        retention=retention.period_text(rule), retained_from=start,
        due_on=dossier.disposition_on, pages=sum(d.page_count for d in dossier.documents),
        note=note, status=ItemStatus.pending)


def renumber(lst: DestructionList) -> None:
    for i, item in enumerate(sorted(lst.items, key=lambda it: it.position), start=1):
        item.position = i


def remove_item(session: Session, lst: DestructionList, dossier_id: int) -> DestructionItem:
    item = next((it for it in lst.items if it.dossier_id == dossier_id), None)
    if item is None:
        raise NotFound(f"dossier {dossier_id} is not on list {lst.id}")
    lst.items.remove(item)
    session.flush()
    renumber(lst)
    return item


def rows(lst: DestructionList, on: date, *, with_status: bool = False) -> list[list[str]]:
    """The printed rows: 序号, 题名, 年度, 档号, 应保管期限, 已保管期限, 页数, 备注."""
    out = []
    for item in lst.items:
        note = item.note
        if with_status and item.status is not ItemStatus.destroyed:
            word = {ItemStatus.held: "未销毁（冻结）", ItemStatus.skipped: "未销毁（已不到期）",
                    ItemStatus.pending: "未销毁"}[item.status]
            note = "；".join(x for x in (note, word, item.outcome or "") if x)
        out.append([str(item.position), item.title, item.years, item.archival_code,
                    item.retention, retention.kept_for(item.retained_from, on), str(item.pages),
                    note])
    return out


def counts(lst: DestructionList) -> dict[str, int]:
    found = {s.value: 0 for s in ItemStatus}
    for item in lst.items:
        found[item.status.value] += 1
    return found
