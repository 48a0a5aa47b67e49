"""Sampling acceptance (验收) of a digitisation batch (批次), as DA/T 31-2017 asks.

A QC reviewer (质检员, the ``inspector`` role: ``Action.accept``) draws a random sample of
the batch's stored documents (:func:`draw`; ``HUDANG_ACCEPT_SAMPLE_PERCENT``, at least one)
and judges each sampled document pass or fail, a failure with its reason (:func:`judge`).
When every sampled document is judged the round is decided: accepted when the pass rate
reaches ``HUDANG_ACCEPT_PASS_PERCENT``, else rejected, and the acceptance report (验收报告)
is rendered as a PDF and kept as an encrypted blob (one :class:`ingest.commit.Commit`).

A failed document goes back to the archivist as rework (返工): :func:`rework` replaces it
with a rescan through :func:`ingest.corrections.replace_document` (which records before
and after in a correction and shreds the old blobs) and marks the item done. A rejected
batch whose rework is all done can be sampled again (a new round).

Separation of duties: the account that ran the batch may not judge its sample
(:func:`records.policy.may_judge_batch`); the refusal is recorded like the door's.
Every function passes the door for the batch's place (``ingest.batches``) and records
what it did. Reasons are masked of ID numbers before they are stored (records.idnumbers).
"""
from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.batches import PROFILE_NAMES, _place, in_jurisdiction, source_name, upload_job_of
from ingest.commit import Commit
from ingest.corrections import replace_document
from ingest.printing import Cover, Sheet, render_pdf
from ingest.reports import office_time
from records import audit
from records.clock import utcnow
from records.door import Knock
from records.exceptions import Conflict
from records.idnumbers import mask_in_text
from records.kinds import AcceptanceOutcome, BatchState, ReworkState, RowOutcome, Verdict
from records.model import Acceptance, AcceptanceItem, Batch, BatchRow, Document
from records.policy import Action, Principal, may_judge_batch
from records.problems import N_, Problem, Problems, fail

MAX_REASON = 500  # characters of a verdict's reason
VERDICT_NAMES = {Verdict.passed: "合格", Verdict.failed: "不合格"}
OUTCOME_NAMES = {AcceptanceOutcome.accepted: "验收合格", AcceptanceOutcome.rejected: "验收不合格"}
REWORK_NAMES = {ReworkState.none: "—", ReworkState.pending: "待返工", ReworkState.done: "已返工"}


class AcceptanceRefused(Conflict, Problems):
    """A step of acceptance the batch's state or the separation of duties does not allow
    now, or not to this person; the sentence says which and why (translated on screens)."""


def _refused(message: str, **params) -> AcceptanceRefused:
    return AcceptanceRefused([Problem("batch", message, params)])


# -- what the screens, the JSON and the command line show -------------------------------------
@dataclass
class ItemView:
    id: int
    document_id: int | None
    household: str | None
    doc_type: str
    verdict: str | None  # pass / fail / None (not judged yet)
    reason: str | None
    judged_by: str | None
    judged_at: datetime | None
    rework: str  # none / pending / done
    correction_id: int | None
    batch_id: int | None = None

    def as_json(self) -> dict:
        return {"item": self.id, "document_id": self.document_id, "household": self.household,
                "doc_type": self.doc_type, "verdict": self.verdict, "reason": self.reason,
                "judged_by": self.judged_by,
                "judged_at": self.judged_at.isoformat() if self.judged_at else None,
                "rework": self.rework, "correction": self.correction_id,
                **({"batch": self.batch_id} if self.batch_id is not None else {})}


@dataclass
class RoundView:
    id: int
    round: int
    sample_rate: float
    threshold: float
    drawn_by: str
    drawn_at: datetime
    decided_at: datetime | None
    outcome: str | None  # accepted / rejected / None (being judged)
    has_report: bool
    items: list[ItemView] = field(default_factory=list)

    @property
    def passes(self) -> int:
        return sum(1 for i in self.items if i.verdict == Verdict.passed.value)

    @property
    def fails(self) -> int:
        return sum(1 for i in self.items if i.verdict == Verdict.failed.value)

    @property
    def judged(self) -> int:
        return self.passes + self.fails

    @property
    def pass_rate(self) -> float | None:
        """Passes over the sample, in per cent (None before anything is judged)."""
        return 100 * self.passes / len(self.items) if self.judged and self.items else None

    @property
    def reviewers(self) -> list[str]:
        return sorted({i.judged_by for i in self.items if i.judged_by})

    def as_json(self) -> dict:
        return {"acceptance": self.id, "round": self.round, "sample_rate": self.sample_rate,
                "threshold": self.threshold, "drawn_by": self.drawn_by,
                "drawn_at": self.drawn_at.isoformat(),
                "decided_at": self.decided_at.isoformat() if self.decided_at else None,
                "outcome": self.outcome, "sample": len(self.items), "passes": self.passes,
                "fails": self.fails, "pass_rate": self.pass_rate,
                "reviewers": self.reviewers, "report": self.has_report,
                "items": [i.as_json() for i in self.items]}


@dataclass
class BatchAcceptance:
    """A batch's acceptance: its state, its stored documents and its rounds, newest last."""

    batch_id: int
    state: str
    operator: str
    stored: int
    sample_rate: float  # what a new round would be drawn with
    threshold: float
    rounds: list[RoundView] = field(default_factory=list)

    @property
    def current(self) -> RoundView | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def pending_rework(self) -> list[ItemView]:
        current = self.current
        return [i for i in current.items if i.rework == ReworkState.pending.value] \
            if current else []

    @property
    def can_draw(self) -> bool:
        """May a sample be drawn now (the person aside: the policy decides that)?"""
        return _draw_problem(self.state, self.stored, len(self.pending_rework)) is None

    def as_json(self) -> dict:
        return {"batch": self.batch_id, "state": self.state, "operator": self.operator,
                "stored_documents": self.stored, "sample_rate": self.sample_rate,
                "threshold": self.threshold, "can_draw": self.can_draw,
                "pending_rework": len(self.pending_rework),
                "rounds": [r.as_json() for r in self.rounds]}


# -- reading -----------------------------------------------------------------------------------
def _stored_documents(s: Session, batch_id: int) -> list[int]:
    """The batch's stored, not destroyed documents, by id."""
    return sorted(set(s.scalars(
        select(BatchRow.document_id).join(Document, Document.id == BatchRow.document_id)
        .where(BatchRow.batch_id == batch_id, BatchRow.outcome == RowOutcome.stored,
               Document.destroyed_at.is_(None)))))


def _item_view(s: Session, item: AcceptanceItem, batch_id: int | None = None) -> ItemView:
    doc = s.get(Document, item.document_id) if item.document_id is not None else None
    return ItemView(item.id, item.document_id, doc.household_number if doc else None,
                    doc.type.name_zh if doc else "",
                    item.verdict.value if item.verdict else None, item.reason, item.judged_by,
                    item.judged_at, item.rework.value, item.rework_correction_id, batch_id)


def _round_view(s: Session, acc: Acceptance) -> RoundView:
    return RoundView(acc.id, acc.round, acc.sample_rate, acc.threshold, acc.drawn_by,
                     acc.drawn_at, acc.decided_at, acc.outcome.value if acc.outcome else None,
                     acc.report_ref is not None, [_item_view(s, i) for i in acc.items])


def _rounds(s: Session, batch_id: int) -> list[Acceptance]:
    return list(s.scalars(select(Acceptance).where(Acceptance.batch_id == batch_id)
                          .order_by(Acceptance.round)))


def _view(archive: Archive, s: Session, batch: Batch) -> BatchAcceptance:
    return BatchAcceptance(batch.id, batch.state.value, batch.operator,
                           len(_stored_documents(s, batch.id)),
                           archive.settings.accept_sample_percent,
                           archive.settings.accept_pass_percent,
                           [_round_view(s, a) for a in _rounds(s, batch.id)])


def admit(archive: Archive, who: Principal, batch_id: int, action: Action,
          event: str) -> None:
    """Pass the door for ``action`` on the batch (refused like a missing batch, recorded)."""
    with archive.Session() as s:
        batch = s.get(Batch, batch_id)
        archive.admit(Knock(who, action, _place(batch, batch_id), event=event))


def show(archive: Archive, who: Principal, batch_id: int) -> BatchAcceptance:
    """A batch's acceptance, for whoever may see the batch."""
    admit(archive, who, batch_id, Action.batches, "accept_show")
    with archive.Session() as s:
        view = _view(archive, s, s.get(Batch, batch_id))
    archive.record(audit.Event(actor=who.name, action="accept_show", object_type="batch",
                               object_id=str(batch_id)))
    return view


def _draw_problem(state: str, stored: int, pending: int) -> tuple[str, dict] | None:
    """Why no sample can be drawn now, or None. The one rule of when a round starts."""
    if state == BatchState.running.value:
        return N_("batch %(n)s is still being ingested; run it to the end first"), {}
    if state == BatchState.sampling.value:
        return N_("batch %(n)s already has a sample being judged"), {}
    if state == BatchState.accepted.value:
        return N_("batch %(n)s has been accepted already"), {}
    if pending:
        return N_("batch %(n)s still has %(k)s failed documents to rework before a new "
                  "sample"), {"k": pending}
    if not stored:
        return N_("batch %(n)s has no stored documents to sample"), {}
    return None


# -- 1. drawing a sample --------------------------------------------------------------------------
def sample_size(rate: float, stored: int) -> int:
    """DA/T 31-2017 抽检: ``rate`` per cent of the stored documents, at least one."""
    return min(stored, max(1, math.ceil(rate * stored / 100)))


def draw(archive: Archive, who: Principal, batch_id: int,
         now: datetime | None = None) -> RoundView:
    """Draw a random sample of the batch's stored documents: the batch is then ``sampling``."""
    now = now or utcnow()
    admit(archive, who, batch_id, Action.accept, "accept_draw")
    rate = archive.settings.accept_sample_percent
    try:
        with archive.Session() as s, s.begin():
            s.connection(execution_options={"hudang_immediate": True})
            batch = s.get(Batch, batch_id)
            rounds = _rounds(s, batch_id)
            pending = sum(1 for i in rounds[-1].items if i.rework is ReworkState.pending) \
                if rounds else 0
            documents = _stored_documents(s, batch_id)
            problem = _draw_problem(batch.state.value, len(documents), pending)
            if problem is not None:
                raise _refused(problem[0], n=batch_id, **problem[1])
            chosen = sorted(secrets.SystemRandom().sample(documents,
                                                          sample_size(rate, len(documents))))
            acc = Acceptance(batch_id=batch_id, round=len(rounds) + 1, sample_rate=rate,
                             threshold=archive.settings.accept_pass_percent,
                             drawn_by=who.name, drawn_at=now,
                             items=[AcceptanceItem(document_id=d) for d in chosen])
            s.add(acc)
            batch.state = BatchState.sampling
            s.flush()
            view = _round_view(s, acc)
    except AcceptanceRefused as exc:
        _record_refusal(archive, who, "accept_draw", batch_id, exc)
        raise
    archive.record(audit.Event(actor=who.name, action="accept_draw", object_type="batch",
                               object_id=str(batch_id),
                               detail={"round": view.round, "sample": len(view.items),
                                       "stored": len(documents), "rate": rate}))
    return view


def _record_refusal(archive: Archive, who: Principal, event: str, batch_id: int,
                    exc: Exception, **detail) -> None:
    archive.record(audit.Event(actor=who.name, action=event, outcome=audit.REFUSED,
                               object_type="batch", object_id=str(batch_id),
                               detail={"reason": str(exc), **detail}))


# -- 2. judging it ---------------------------------------------------------------------------
def parse_verdict(value: str | Verdict) -> Verdict:
    try:
        return Verdict(value)
    except ValueError:
        raise fail("verdict", N_("the verdict must be pass or fail")) from None


def _reason(verdict: Verdict, reason: str | None) -> str | None:
    reason = mask_in_text((reason or "").strip())
    if verdict is Verdict.failed and not reason:
        raise fail("reason", N_("say why the document fails, so that it can be reworked"))
    if len(reason) > MAX_REASON:
        raise fail("reason", N_("the reason is longer than %(n)s characters"), n=MAX_REASON)
    return reason or None


def judge(archive: Archive, who: Principal, batch_id: int, document_id: int,
          verdict: str | Verdict, reason: str | None = None,
          now: datetime | None = None) -> RoundView:
    """Judge one sampled document pass or fail (a failure needs its reason). The verdict that
    completes the sample decides the round and stores its report."""
    now = now or utcnow()
    verdict = parse_verdict(verdict)
    reason = _reason(verdict, reason)
    admit(archive, who, batch_id, Action.accept, "accept_judge")
    with archive.Session() as s:
        operator = s.get(Batch, batch_id).operator
    allowed = may_judge_batch(who, operator)
    if not allowed:  # separation of duties, refused and recorded like the door's refusals
        exc = _refused(N_("batch %(n)s was run by %(who)s: the account that ran a batch may "
                          "not judge its sample"), n=batch_id, who=operator)
        _record_refusal(archive, who, "accept_judge", batch_id, exc, document=document_id)
        raise exc
    try:
        with archive.Session() as s, s.begin():
            s.connection(execution_options={"hudang_immediate": True})
            batch = s.get(Batch, batch_id)
            acc = (_rounds(s, batch_id) or [None])[-1]
            if batch.state is not BatchState.sampling or acc is None:
                raise _refused(N_("batch %(n)s has no sample being judged"), n=batch_id)
            item = next((i for i in acc.items if i.document_id == document_id), None)
            if item is None:
                raise _refused(N_("document %(d)s is not in the sample of batch %(n)s"),
                               d=document_id, n=batch_id)
            item.verdict, item.reason = verdict, reason
            item.judged_by, item.judged_at = who.name, now
            decided = _decide(batch, acc, now)
            s.flush()
            acceptance_id = acc.id
    except AcceptanceRefused as exc:
        _record_refusal(archive, who, "accept_judge", batch_id, exc, document=document_id)
        raise
    archive.record(audit.Event(actor=who.name, action="accept_judge", object_type="document",
                               object_id=str(document_id),
                               detail={"batch": batch_id, "verdict": verdict.value}))
    if decided:
        _store_report(archive, who, acceptance_id)
    with archive.Session() as s:
        return _round_view(s, s.get(Acceptance, acceptance_id))


def _decide(batch: Batch, acc: Acceptance, now: datetime) -> bool:
    """Decide the round once every sampled document is judged (True if it was just now)."""
    if any(i.verdict is None for i in acc.items):
        return False
    passes = sum(1 for i in acc.items if i.verdict is Verdict.passed)
    accepted = 100 * passes / len(acc.items) >= acc.threshold
    acc.outcome = AcceptanceOutcome.accepted if accepted else AcceptanceOutcome.rejected
    acc.decided_at = now
    batch.state = BatchState.accepted if accepted else BatchState.rejected
    for item in acc.items:
        if item.verdict is Verdict.failed:
            item.rework = ReworkState.pending
    return True


# -- the acceptance report (验收报告) -----------------------------------------------------------
REPORT_HEADER = ["序号", "文件号", "户号", "类别", "结论", "原因", "评判人", "评判时间", "返工"]


def report_pdf(archive: Archive, s: Session, acc: Acceptance) -> bytes:
    """The acceptance report of a decided round: the batch, the sample, each verdict with its
    reason, who judged when, the pass rate, the outcome. Text already masked."""
    batch = acc.batch
    view = _round_view(s, acc)
    box = batch.container.code if batch.container else "—"
    name = source_name(batch.source)
    rows = [[str(n), str(i.document_id or "—"), i.household or "—", i.doc_type,
             VERDICT_NAMES[Verdict(i.verdict)] if i.verdict else "—", i.reason or "",
             i.judged_by or "", office_time(archive, i.judged_at),
             REWORK_NAMES[ReworkState(i.rework)]] for n, i in enumerate(view.items, 1)]
    rate = f"{view.pass_rate:.1f}%" if view.pass_rate is not None else "—"
    outcome = OUTCOME_NAMES[acc.outcome] if acc.outcome else "未完成"
    decided = office_time(archive, acc.decided_at)
    lines = [f"批次 {batch.id}：{name}　盒 {box}　要求：{PROFILE_NAMES.get(batch.profile.value)}"
             f"　操作员：{batch.operator}",
             f"第 {acc.round} 轮　抽样比例 {acc.sample_rate:g}%　合格率要求 {acc.threshold:g}%　"
             f"样本 {len(view.items)} 件（共 {len(_stored_documents(s, batch.id))} 件）",
             f"合格 {view.passes} 件，不合格 {view.fails} 件，合格率 {rate}：{outcome}",
             f"质检员：{'、'.join(view.reviewers)}　抽样：{acc.drawn_by}　日期：{decided}"]
    title = f"数字化验收报告（批次 {batch.id}，第 {acc.round} 轮）"
    sheet = Sheet(title, REPORT_HEADER, rows, lines=lines,
                  widths=[0.5, 0.8, 2.0, 1.4, 0.8, 3.4, 1.0, 1.5, 0.8], landscape=True,
                  notes=["依据 DA/T 31-2017《纸质档案数字化规范》抽检验收；不合格文件退回返工，"
                         "重新扫描后替换原文件，替换前后记录于更正记录。"])
    cover = Cover("数字化验收报告", [("批次", f"{batch.id}（{name}）"), ("盒", box),
                                   ("样本", f"{len(view.items)} 件"), ("合格率", rate),
                                   ("结论", outcome),
                                   ("质检员", "、".join(view.reviewers)), ("日期", decided)])
    return render_pdf(sheet, footer=f"{title} · 户档 hudang", cover=cover)


def _store_report(archive: Archive, who: Principal, acceptance_id: int) -> None:
    """Render a decided round's report and keep it as an encrypted blob (one Commit)."""
    with archive.Session() as s:
        acc = s.get(Acceptance, acceptance_id)
        if acc.report_ref is not None or acc.outcome is None:
            return
        data = report_pdf(archive, s, acc)
        outcome, batch_id = acc.outcome.value, acc.batch_id
        counts = {"sample": len(acc.items),
                  "passes": sum(1 for i in acc.items if i.verdict is Verdict.passed)}
    try:
        with Commit(archive, "accept_report") as unit:
            blob = unit.put(data)

            def write(s: Session) -> None:
                acc = s.get(Acceptance, acceptance_id, with_for_update=True)
                if acc.report_ref is not None:
                    raise _StoredMeanwhile  # the unit shreds the blob it just stored
                acc.report_ref, acc.report_key = blob.ref, blob.wrapped_key
                acc.report_sha256 = hashlib.sha256(data).hexdigest()

            def undo(s: Session, _done: None) -> None:
                acc = s.get(Acceptance, acceptance_id)
                acc.report_ref = acc.report_key = acc.report_sha256 = None

            unit.catalogue(write, undo=undo)
            archive.record(audit.Event(
                actor=who.name, action="accept_decide", object_type="batch",
                object_id=str(batch_id),
                detail={"acceptance": acceptance_id, "outcome": outcome, **counts,
                        "fails": counts["sample"] - counts["passes"]}))
    except _StoredMeanwhile:
        return


class _StoredMeanwhile(Exception):
    """Another process stored the round's report first: one report per round stands."""


def report(archive: Archive, who: Principal, batch_id: int,
           round_no: int | None = None) -> bytes:
    """The stored acceptance report of the batch's latest decided round (or ``round_no``)."""
    admit(archive, who, batch_id, Action.batches, "accept_report")
    with archive.Session() as s:
        decided = [a for a in _rounds(s, batch_id) if a.outcome is not None
                   and (round_no is None or a.round == round_no)]
        acceptance_id = decided[-1].id if decided else None
    if acceptance_id is None:
        raise _refused(N_("batch %(n)s has no decided acceptance yet"), n=batch_id)
    _store_report(archive, who, acceptance_id)  # made now if its making was interrupted
    with archive.Session() as s:
        acc = s.get(Acceptance, acceptance_id)
        data = archive.blobs.get(acc.report_ref, acc.report_key)
        round_no = acc.round
    archive.record(audit.Event(actor=who.name, action="accept_report", object_type="batch",
                               object_id=str(batch_id),
                               detail={"round": round_no, "format": "pdf"}))
    return data


# -- 3. rework of failed documents ---------------------------------------------------------------
def rework(archive: Archive, who: Principal, batch_id: int, document_id: int, path: Path, *,
           reason: str | None = None, ingestor=None) -> ItemView:
    """Replace a failed sampled document with its rescan (the archivist's ``ingest`` work):
    a correction records before and after, the old blobs are shredded, the item is done."""
    admit(archive, who, batch_id, Action.ingest, "accept_rework")
    with archive.Session() as s:
        acc = (_rounds(s, batch_id) or [None])[-1]
        item = next((i for i in acc.items if i.document_id == document_id
                     and i.rework is ReworkState.pending), None) if acc else None
        if item is None:
            exc = _refused(N_("document %(d)s has no rework pending in batch %(n)s"),
                           d=document_id, n=batch_id)
            _record_refusal(archive, who, "accept_rework", batch_id, exc,
                            document=document_id)
            raise exc
        item_id, failed_for = item.id, item.reason
    reason = mask_in_text((reason or "").strip()) or f"验收返工：{failed_for or ''}"
    result = replace_document(archive, who, document_id, Path(path), reason=reason[:500],
                              ingestor=ingestor)
    with archive.Session() as s, s.begin():
        item = s.get(AcceptanceItem, item_id)
        item.rework, item.rework_correction_id = ReworkState.done, result.correction_id
    archive.record(audit.Event(actor=who.name, action="accept_rework", object_type="document",
                               object_id=str(document_id),
                               detail={"batch": batch_id, "correction": result.correction_id}))
    with archive.Session() as s:
        return _item_view(s, s.get(AcceptanceItem, item_id), batch_id)


def pending_rework(archive: Archive, who: Principal,
                   batch_id: int | None = None) -> list[ItemView]:
    """Failed sampled documents waiting for their rescan, in the reader's jurisdiction."""
    if batch_id is not None:
        admit(archive, who, batch_id, Action.ingest, "accept_rework_list")
    else:
        archive.admit(Knock(who, Action.ingest, event="accept_rework_list"))
    with archive.Session() as s:
        query = (select(AcceptanceItem, Acceptance.batch_id)
                 .join(Acceptance, Acceptance.id == AcceptanceItem.acceptance_id)
                 .join(Batch, Batch.id == Acceptance.batch_id)
                 .where(AcceptanceItem.rework == ReworkState.pending)
                 .order_by(Acceptance.batch_id, AcceptanceItem.id))
        if batch_id is not None:
            query = query.where(Acceptance.batch_id == batch_id)
        found = [_item_view(s, item, b) for item, b in s.execute(in_jurisdiction(query, who))]
    archive.record(audit.Event(actor=who.name, action="accept_rework_list",
                               detail={"shown": len(found),
                                       **({"batch": batch_id} if batch_id else {})}))
    return found


def awaiting(archive: Archive, who: Principal) -> list[tuple[int, str, str, int | None]]:
    """Batches waiting for acceptance in the reader's jurisdiction: (id, source name, state,
    the upload job of a box uploaded in the browser), ingested ones and those being sampled
    (the inspector's home)."""
    archive.admit(Knock(who, Action.accept, event="accept_queue"))
    with archive.Session() as s:
        query = in_jurisdiction(select(Batch).where(Batch.state.in_(
            [BatchState.ingested, BatchState.sampling])).order_by(Batch.id), who)
        found = [(b.id, source_name(b.source), b.state.value, upload_job_of(b.source))
                 for b in s.scalars(query)]
    archive.record(audit.Event(actor=who.name, action="accept_queue",
                               detail={"shown": len(found)}))
    return found
