"""Destruction lists (销毁清册), step by step: draft, submit, approve or return, witness.

Each step passes the one door for the list's region (``destruction_draft``,
``destruction_approve``, ``destruction_witness``; seeing a list is ``destruction_view``),
then checks the list's state and the four-eyes rules (``records.destruction.check_step``)
inside one write transaction, so that two people acting at once cannot both pass, and is
recorded in the audit log; a step the rules refuse is recorded as refused, with why.
Executing a list is ``ingest.shredding``. The printed list and certificate are built here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import cataloguing
from ingest.archive import Archive
from ingest.printing import Cover, Sheet, render_pdf
from ingest.retention import today
from records import audit
from records import destruction as rules
from records.clock import as_utc, utcnow
from records.destruction import OutOfTurn, Step
from records.door import NOTHING, Knock, Target
from records.exceptions import Invalid
from records.idnumbers import mask_in_text
from records.model import (ArchiveRecord, DestructionList, Dossier, ItemStatus, ListStatus,
                           Region)
from records.policy import Action, Principal, region_scope
from records.problems import N_, fail

STEP_ACTIONS = {Step.remove: Action.destruction_draft, Step.submit: Action.destruction_draft,
                Step.cancel: Action.destruction_draft, Step.approve: Action.destruction_approve,
                Step.return_: Action.destruction_approve,
                Step.witness: Action.destruction_witness,
                Step.execute: Action.destruction_execute}


def list_target(lst: DestructionList | None, number: int) -> Target:
    return Target("destruction_list", str(number), region=lst and lst.region_code,
                  found=lst is not None)


def admit_list(archive: Archive, who: Principal, number: int, action: Action,
               event: str) -> None:
    """Pass the door for list ``number`` (refused like a missing list, and recorded)."""
    with archive.Session() as s:
        lst = s.get(DestructionList, number)
        archive.admit(Knock(who, action, list_target(lst, number), event=event))


def office_date(archive: Archive, at: datetime | None) -> str:
    """A stored UTC time as the office's date (``2026-12-08``), or ''."""
    return as_utc(at).astimezone(archive.settings.timezone).date().isoformat() if at else ""


# -- drafting --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drafted:
    number: int | None  # None: nothing was due, no list was drafted
    region: str
    dossiers: int
    held: list[str]  # household numbers left out, and why
    listed: list[str]
    other_action: list[str]

    def as_json(self) -> dict:
        return {"list": self.number, "region": self.region, "dossiers": self.dossiers,
                "left_out": {"held": self.held, "on_another_list": self.listed,
                             "review_or_transfer": self.other_action}}


def draft(archive: Archive, who: Principal, region_code: str, due_within: int = 0,
          now: datetime | None = None) -> Drafted:
    """Draw up a list of the region's dossiers that are due (within ``due_within`` days),
    not held, not on another open list, and whose class ends in destruction."""
    now = now or utcnow()
    with archive.Session() as s:
        region = s.get(Region, region_code)
        archive.admit(Knock(who, Action.destruction_draft, Target(
            "region", region_code[:12], region=region and region.code,
            found=region is not None), event="destruction_draft"))
    day = today(archive, now)
    within = max(0, due_within)
    with archive.Session() as s, s.begin():
        s.connection(execution_options={"hudang_immediate": True})
        found = rules.candidates(s, region_code, day, within)
        number = None
        if found.chosen:
            lst = DestructionList(region_code=region_code, status=ListStatus.draft,
                                  fonds=archive.settings.fonds, due_within=within,
                                  drafted_by=who.name, drafted_at=now)
            for i, due in enumerate(found.chosen, start=1):
                dossier = s.get(Dossier, due.dossier_id)
                if dossier.archival_code is None:  # 档号 given once, as the printed list needs
                    cataloguing.number(archive, s, dossier, who.name, "numbering")
                lst.items.append(rules.make_item(s, dossier, i,
                                                 cataloguing.dossier_year(archive, dossier)))
            rules.record_step(lst, "draft", who.name, now)
            s.add(lst)
            s.flush()
            number = lst.id
    result = Drafted(number, region_code, len(found.chosen),
                     [d.household for d in found.held], [d.household for d in found.listed],
                     [d.household for d in found.other_action])
    archive.record(audit.Event(actor=who.name, action="destruction_draft",
                               object_type="destruction_list" if number else "region",
                               object_id=str(number) if number else region_code,
                               detail={"region": region_code, "within": within,
                                       "dossiers": result.dossiers, "held": len(result.held),
                                       "on_another_list": len(result.listed)}))
    return result


# -- the steps ---------------------------------------------------------------------------------------
def _take(archive: Archive, who: Principal, number: int, step: Step, event: str,
          change: Callable[[Session, DestructionList, datetime], dict],
          now: datetime | None, comment: str = "") -> dict:
    """One step: the door, then the rules and the change in one write transaction, then the
    audit event (a refusal by the rules is recorded too, with its sentence)."""
    now = now or utcnow()
    admit_list(archive, who, number, STEP_ACTIONS[step], event)
    try:
        with archive.Session() as s, s.begin():
            s.connection(execution_options={"hudang_immediate": True})
            lst = s.get(DestructionList, number)
            rules.check_step(lst, step, who.name, now, archive.settings.timezone)
            detail = change(s, lst, now)
            rules.record_step(lst, step.value, who.name, now, comment)
    except OutOfTurn as exc:
        archive.record(audit.Event(actor=who.name, action=event, outcome=audit.REFUSED,
                                   object_type="destruction_list", object_id=str(number),
                                   detail={"reason": str(exc)}))
        raise
    archive.record(audit.Event(actor=who.name, action=event, object_type="destruction_list",
                               object_id=str(number), detail=detail))
    return detail


def _comment(text: str, *, required: bool) -> str:
    text = mask_in_text((text or "").strip())
    if required and not text:
        raise fail("comment", N_("say in a comment what the list needs before it can be "
                                 "approved"))
    if len(text) > rules.COMMENT_LENGTH:
        raise fail("comment", N_("the comment is longer than %(n)s characters"),
                   n=rules.COMMENT_LENGTH)
    return text


def remove(archive: Archive, who: Principal, number: int, dossier_id: int,
           now: datetime | None = None) -> str:
    """Take a dossier off a draft (or returned) list; returns its household number."""
    def change(s: Session, lst: DestructionList, _now: datetime) -> dict:
        item = rules.remove_item(s, lst, dossier_id)
        return {"dossier": dossier_id, "household": item.household_no}

    return _take(archive, who, number, Step.remove, "destruction_remove", change, now)["household"]


def submit(archive: Archive, who: Principal, number: int, now: datetime | None = None) -> None:
    def change(_s: Session, lst: DestructionList, at: datetime) -> dict:
        lst.status, lst.submitted_by, lst.submitted_at = ListStatus.submitted, who.name, at
        return {"dossiers": len(lst.items)}

    _take(archive, who, number, Step.submit, "destruction_submit", change, now)


def cancel(archive: Archive, who: Principal, number: int, comment: str = "",
           now: datetime | None = None) -> None:
    """Withdraw a list before approval: its dossiers are free for another list."""
    comment = _comment(comment, required=False)

    def change(_s: Session, lst: DestructionList, _at: datetime) -> dict:
        lst.status = ListStatus.cancelled
        return {"comment": comment}

    _take(archive, who, number, Step.cancel, "destruction_cancel", change, now, comment)


def approve(archive: Archive, who: Principal, number: int, now: datetime | None = None) -> datetime:
    """Approve a submitted list; returns the end of its waiting period."""
    wait = archive.settings.destruction_wait_days

    def change(_s: Session, lst: DestructionList, at: datetime) -> dict:
        lst.status, lst.approved_by, lst.approved_at = ListStatus.approved, who.name, at
        lst.wait_until = rules.wait_until(at, wait)
        return {"dossiers": len(lst.items), "wait_days": wait,
                "wait_until": lst.wait_until.isoformat()}

    return datetime.fromisoformat(
        _take(archive, who, number, Step.approve, "destruction_approve", change, now)["wait_until"])


def return_list(archive: Archive, who: Principal, number: int, comment: str,
                now: datetime | None = None) -> None:
    """Send a submitted list back to its reviewer with a comment."""
    comment = _comment(comment, required=True)

    def change(_s: Session, lst: DestructionList, _at: datetime) -> dict:
        lst.status, lst.comment = ListStatus.returned, comment
        lst.submitted_by = lst.submitted_at = None
        return {"comment": comment}

    _take(archive, who, number, Step.return_, "destruction_return", change, now, comment)


def witness(archive: Archive, who: Principal, number: int, now: datetime | None = None) -> int:
    """Confirm the list as a witness (监销人); returns how many have confirmed."""
    def change(_s: Session, lst: DestructionList, at: datetime) -> dict:
        if lst.witness_1_by is None:
            lst.witness_1_by, lst.witness_1_at = who.name, at
        else:
            lst.witness_2_by, lst.witness_2_at = who.name, at
        return {"witnesses": rules.witnessed(lst)}

    return _take(archive, who, number, Step.witness, "destruction_witness", change,
                 now)["witnesses"]


# -- seeing a list ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemView:
    position: int
    dossier_id: int
    household: str
    title: str
    years: str
    archival_code: str
    retention: str
    kept: str
    pages: int
    note: str
    due_on: date | None
    status: str
    outcome: str | None
    done_at: datetime | None

    def as_json(self) -> dict:
        return {"position": self.position, "dossier": self.dossier_id,
                "household": self.household, "title": self.title, "years": self.years,
                "archival_code": self.archival_code, "retention": self.retention,
                "kept": self.kept, "pages": self.pages, "note": self.note,
                "due_on": self.due_on.isoformat() if self.due_on else None,
                "status": self.status, "outcome": self.outcome,
                "done_at": self.done_at.isoformat() if self.done_at else None}


@dataclass(frozen=True)
class StepView:
    step: str
    by: str
    at: datetime
    comment: str


@dataclass(frozen=True)
class ListView:
    number: int
    region_code: str
    region_name: str
    status: str
    fonds: str
    drafted_by: str
    drafted_at: datetime
    submitted_by: str | None
    approved_by: str | None
    approved_at: datetime | None
    wait_until: datetime | None
    witnesses: list[tuple[str, datetime]]
    executed_by: str | None
    executed_at: datetime | None
    comment: str | None
    items: list[ItemView]
    steps: list[StepView]
    counts: dict[str, int]
    next_steps: list[str]
    records: list[str] = field(default_factory=list)  # kinds of stored permanent records

    @property
    def pages(self) -> int:
        return sum(i.pages for i in self.items)

    def waiting(self, now: datetime) -> bool:
        return self.wait_until is not None and now < as_utc(self.wait_until)

    def as_json(self) -> dict:
        def iso(v):
            return as_utc(v).isoformat() if v else None
        return {"list": self.number, "region": self.region_code, "status": self.status,
                "fonds": self.fonds, "drafted_by": self.drafted_by,
                "drafted_at": iso(self.drafted_at), "submitted_by": self.submitted_by,
                "approved_by": self.approved_by, "approved_at": iso(self.approved_at),
                "wait_until": iso(self.wait_until),
                "witnesses": [{"by": w, "at": iso(at)} for w, at in self.witnesses],
                "executed_by": self.executed_by, "executed_at": iso(self.executed_at),
                "comment": self.comment, "counts": self.counts, "next": self.next_steps,
                "records": self.records,
                "items": [i.as_json() for i in self.items],
                "steps": [{"step": st.step, "by": st.by, "at": iso(st.at),
                           "comment": st.comment} for st in self.steps]}


def _view(archive: Archive, s: Session, lst: DestructionList, day: date) -> ListView:
    kinds = list(s.scalars(select(ArchiveRecord.kind).where(
        ArchiveRecord.destruction_list_id == lst.id).order_by(ArchiveRecord.kind)))
    on = date.fromisoformat(office_date(archive, lst.executed_at)) if lst.executed_at else day
    items = [ItemView(i.position, i.dossier_id, i.household_no, i.title, i.years,
                      i.archival_code, i.retention, row[5], i.pages, i.note, i.due_on,
                      i.status.value, i.outcome, i.done_at)
             for i, row in zip(lst.items, rules.rows(lst, on))]
    witnesses = [(by, at) for by, at in ((lst.witness_1_by, lst.witness_1_at),
                                         (lst.witness_2_by, lst.witness_2_at)) if by]
    return ListView(lst.id, lst.region_code, lst.region.name, lst.status.value, lst.fonds,
                    lst.drafted_by, lst.drafted_at, lst.submitted_by, lst.approved_by,
                    lst.approved_at, lst.wait_until, witnesses, lst.executed_by,
                    lst.executed_at, lst.comment, items,
                    [StepView(st.step, st.by, st.at, st.comment) for st in lst.steps],
                    rules.counts(lst), [st.value for st in rules.next_steps(lst)], kinds)


def show(archive: Archive, who: Principal, number: int, fmt: str = "screen",
         now: datetime | None = None) -> ListView:
    """A list with its rows, per-item status and history; the reading is recorded."""
    admit_list(archive, who, number, Action.destruction_view, "destruction_show")
    with archive.Session() as s:
        view = _view(archive, s, s.get(DestructionList, number), today(archive, now))
    archive.record(audit.Event(actor=who.name, action="destruction_show",
                               object_type="destruction_list", object_id=str(number),
                               detail={"format": fmt}))
    return view


@dataclass(frozen=True)
class ListLine:
    number: int
    region_code: str
    region_name: str
    status: str
    dossiers: int
    drafted_by: str
    drafted_at: datetime
    witnesses: int


def lists(archive: Archive, who: Principal, status: str | None = None) -> list[ListLine]:
    """The lists of the reader's region, newest first."""
    archive.admit(Knock(who, Action.destruction_view, NOTHING, event="destruction_lists"))
    scope = region_scope(who)
    with archive.Session() as s:
        query = select(DestructionList).order_by(DestructionList.id.desc())
        if scope:
            query = query.where(DestructionList.region_code.like(f"{scope}%"))
        if status:
            query = query.where(DestructionList.status == ListStatus(status))
        found = [ListLine(lst.id, lst.region_code, lst.region.name, lst.status.value,
                          len(lst.items), lst.drafted_by, lst.drafted_at, rules.witnessed(lst))
                 for lst in s.scalars(query)]
    archive.record(audit.Event(actor=who.name, action="destruction_lists",
                               detail={"status": status or "", "lists": len(found)}))
    return found


# -- the printed list and certificate -------------------------------------------------------------
LIST_WIDTHS = [0.5, 2.6, 0.9, 3.2, 1.1, 1.0, 0.5, 2.2]


def _people(archive: Archive, lst: DestructionList) -> list[tuple[str, str]]:
    def who_when(name: str | None, at: datetime | None) -> str:
        return f"{name}（{office_date(archive, at)}）" if name else "（未签）"
    return [("鉴定小组负责人", who_when(lst.submitted_by or lst.drafted_by,
                                  lst.submitted_at or lst.drafted_at)),
            ("批准人", who_when(lst.approved_by, lst.approved_at)),
            ("监销人", who_when(lst.witness_1_by, lst.witness_1_at)),
            ("监销人", who_when(lst.witness_2_by, lst.witness_2_at))]


def _cover_facts(archive: Archive, lst: DestructionList, items: list) -> list[tuple[str, str]]:
    return [("全宗号", lst.fonds), ("清册编号", f"第 {lst.id} 号"),
            ("区划", f"{lst.region.name}（{lst.region_code}）"),
            ("数量", f"{len(items)} 卷，{sum(i.pages for i in items)} 页"),
            *_people(archive, lst)]


def list_pdf(archive: Archive, lst: DestructionList, printed_by: str, day: date, *,
             executed_at: datetime | None = None) -> bytes:
    """销毁清册: a cover (fonds, quantity, the appraisal lead, the approver and the two
    witnesses with their dates) and the rows; a list not yet executed is marked a draft."""
    executed_at = executed_at or lst.executed_at
    final = executed_at is not None
    title = f"档案销毁清册（第 {lst.id} 号）" + ("" if final else "（草稿）")
    sheet = Sheet(title, rules.HEADER, rules.rows(lst, date.fromisoformat(
        office_date(archive, executed_at)) if final else day),
                  lines=[f"全宗号：{lst.fonds}　区划：{lst.region.name}（{lst.region_code}）"],
                  widths=LIST_WIDTHS, landscape=True)
    facts = _cover_facts(archive, lst, lst.items)
    if final:
        facts.append(("销毁日期", office_date(archive, executed_at)))
    cover = Cover("档案销毁清册" + ("" if final else "（草稿）"), facts)
    return render_pdf(sheet, footer=f"{title} · {printed_by} 打印于 {day.isoformat()} · 户档 hudang",
                      cover=cover)


def certificate_pdf(archive: Archive, lst: DestructionList, printed_by: str, day: date, *,
                    executed_at: datetime | None = None) -> bytes:
    """销毁证明书: who destroyed what, when and how, with every row's outcome."""
    destroyed = [i for i in lst.items if i.status is ItemStatus.destroyed]
    kept = [i for i in lst.items if i.status is not ItemStatus.destroyed]
    when = office_date(archive, executed_at or lst.executed_at) or day.isoformat()
    notes = [f"上列第 {lst.id} 号销毁清册所列档案 {len(destroyed)} 卷、"
             f"{sum(i.pages for i in destroyed)} 页，经批准，于 {when} 销毁：其数据密钥已销毁，"
             "加密文件已删除，检索索引已清除；档案目录保留，标注“已销毁”。"]
    if kept:
        notes.append(f"另有 {len(kept)} 卷未销毁，原因见备注。")
    notes.append("鉴定小组负责人（签字）：＿＿＿＿＿＿＿＿　　批准人（签字）：＿＿＿＿＿＿＿＿")
    notes.append("监销人（签字）：＿＿＿＿＿＿＿＿　　监销人（签字）：＿＿＿＿＿＿＿＿")
    facts = [*_cover_facts(archive, lst, destroyed), ("销毁日期", when),
             ("执行人", lst.executed_by or "")]
    sheet = Sheet(f"档案销毁证明书（第 {lst.id} 号清册）", rules.HEADER,
                  rules.rows(lst, date.fromisoformat(when), with_status=True),
                  lines=[f"全宗号：{lst.fonds}　区划：{lst.region.name}（{lst.region_code}）"],
                  widths=LIST_WIDTHS, landscape=True)
    return render_pdf(sheet, footer=f"档案销毁证明书 · 第 {lst.id} 号清册 · {printed_by} · "
                                    f"{day.isoformat()} · 户档 hudang",
                      cover=Cover("档案销毁证明书", facts, notes))


def stored_record(archive: Archive, number: int, kind: str) -> bytes | None:
    """The stored PDF of a list's permanent record, decrypted, or None."""
    with archive.Session() as s:
        record = s.scalar(select(ArchiveRecord).where(ArchiveRecord.destruction_list_id == number,
                                                      ArchiveRecord.kind == kind))
        return archive.blobs.get(record.pdf_ref, record.pdf_key) if record else None


def printed(archive: Archive, who: Principal, number: int, kind: str = "list",
            now: datetime | None = None) -> bytes:
    """The list (清册) or the certificate (证明书) as PDF: the permanent record once the list
    is executed, else the list as it stands (a draft); a certificate only after execution."""
    if kind not in ("list", "certificate"):
        raise Invalid("choose the list or the certificate")
    event = f"destruction_{kind}"
    admit_list(archive, who, number, Action.destruction_view, event)
    stored = stored_record(archive, number, f"destruction_{kind}")
    if stored is None and kind == "certificate":
        raise rules.out_of_turn(N_("list %(n)s has not been executed; its certificate is "
                                   "made when it is"), n=number)
    if stored is None:
        with archive.Session() as s:
            stored = list_pdf(archive, s.get(DestructionList, number), who.name,
                              today(archive, now))
    archive.record(audit.Event(actor=who.name, action=event, object_type="destruction_list",
                               object_id=str(number), detail={"format": "pdf"}))
    return stored

