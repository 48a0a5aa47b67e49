"""Background jobs in the catalogue: their state, lease, progress and outcomes.

The queue (``ingest.jobs``, on Huey) only wakes a worker with a job's id; what a job is and
where it stands lives in the ``job`` table, so that every process and machine sees the same.
The rules of a job's life are here, as small functions over a session:

- a job is *queued* when submitted; a worker *claims* it (one atomic update: only one worker
  can win) and holds it under a lease it renews while it runs;
- a job whose lease ran out belonged to a worker that died (SIGKILL, a power cut): it is
  queued again (:func:`requeue_expired`) for the next worker, which first lets the crash
  journal finish or roll back what the dead worker was writing;
- a job ends *done* (with a summary) or *failed* (with one sentence saying why); a failed
  job may be retried (:func:`retry`).

Who sees which job is the policy's (:func:`records.policy.may_see_job`, :func:`records.policy.job_scope`).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from records.clock import as_utc, utcnow
from records.exceptions import Invalid
from records.kinds import FileOutcome, JobKind, JobState
from records.model import Job, JobFile
from records.policy import Principal, job_scope

SENTENCE_MAX = 1000  # the error and refusal columns' width


@dataclass(frozen=True)
class StagedFile:
    """An uploaded file, already stored encrypted (``ref``, its wrapped data ``key``)."""

    name: str  # ID numbers masked
    size: int
    sha256: str
    ref: str
    key: bytes


MANIFEST_POSITION = 0  # a box job's manifest.csv: staged like a file, not ingested


def create(s: Session, kind: JobKind, who: Principal, *, household: str | None = None,
           document_id: int | None = None, params: dict | None = None,
           files: Iterable[StagedFile] = (), manifest: StagedFile | None = None) -> Job:
    """A new queued job (flushed: its id is known); the caller commits and then enqueues.
    A box job's ``manifest`` is kept as its file at :data:`MANIFEST_POSITION`."""
    job = Job(kind=kind, state=JobState.queued, submitted_by=who.name,
              submitted_as=",".join(sorted(r.value for r in who.roles)),
              household=household, document_id=document_id,
              params=json.dumps(params or {}, ensure_ascii=False), attempts=0,
              progress_done=0, progress_total=0)
    for position, f in enumerate(files, start=1):
        job.files.append(_staged(f, position))
    job.progress_total = len(job.files)
    if manifest is not None:
        job.files.append(_staged(manifest, MANIFEST_POSITION))
    s.add(job)
    s.flush()
    return job


def _staged(f: StagedFile, position: int) -> JobFile:
    return JobFile(position=position, name=f.name[:255], size=f.size, sha256=f.sha256,
                   staged_ref=f.ref, staged_key=f.key, pages_done=0, pages_total=0)


def scans(job: Job) -> list[JobFile]:
    """The job's files to ingest (a box job's manifest is not one of them)."""
    return [f for f in job.files if f.position != MANIFEST_POSITION]


def manifest_of(job: Job) -> JobFile | None:
    return next((f for f in job.files if f.position == MANIFEST_POSITION), None)


def set_param(s: Session, job_id: int, name: str, value) -> None:
    """Record what a running job learnt (a box job's batch, once it is opened)."""
    job = s.get(Job, job_id)
    job.params = json.dumps({**params_of(job), name: value}, ensure_ascii=False)


def params_of(job: Job) -> dict:
    return json.loads(job.params or "{}")


def destroying(s: Session, number: int) -> Job | None:
    """The destroy job of destruction list ``number`` that is queued or running, if any."""
    jobs = s.scalars(select(Job).where(Job.kind == JobKind.destroy,
                                       Job.state.in_((JobState.queued, JobState.running)))
                     .order_by(Job.id))
    return next((job for job in jobs if params_of(job).get("list") == number), None)


def claim(s: Session, job_id: int, worker: str, lease: timedelta) -> bool:
    """Take a queued job for ``worker``; False if another worker has it, or it is not queued."""
    now = utcnow()
    taken = s.execute(
        update(Job).where(Job.id == job_id, Job.state == JobState.queued)
        .values(state=JobState.running, worker=worker, lease_until=now + lease,
                attempts=Job.attempts + 1, started_at=now, finished_at=None, error=None)
        .execution_options(synchronize_session=False))
    return taken.rowcount == 1


def renew(s: Session, job_ids: Iterable[int], worker: str, lease: timedelta) -> None:
    """The heartbeat: ``worker`` still holds these running jobs."""
    ids = list(job_ids)
    if ids:
        s.execute(update(Job).where(Job.id.in_(ids), Job.worker == worker,
                                    Job.state == JobState.running)
                  .values(lease_until=utcnow() + lease)
                  .execution_options(synchronize_session=False))


def requeue_expired(s: Session, now: datetime | None = None) -> list[int]:
    """Running jobs whose worker stopped renewing its lease (it died): queued again. Returns
    their ids, for the caller to put on the queue once this commits."""
    now = now or utcnow()
    ids = list(s.scalars(select(Job.id).where(Job.state == JobState.running,
                                              Job.lease_until < now)))
    if ids:
        s.execute(update(Job).where(Job.id.in_(ids), Job.state == JobState.running,
                                    Job.lease_until < now)
                  .values(state=JobState.queued, worker=None, lease_until=None)
                  .execution_options(synchronize_session=False))
    return ids


def waiting(s: Session, older_than: datetime) -> list[int]:
    """Queued jobs submitted before ``older_than``: their wake-up may have been lost (the
    queue emptied, a submitter killed between its commit and the enqueue)."""
    return list(s.scalars(select(Job.id).where(Job.state == JobState.queued,
                                               Job.created_at < older_than)))


def finish(s: Session, job_id: int, worker: str, *, summary: str | None = None,
           error: str | None = None) -> bool:
    """End a running job: failed with ``error`` (one sentence), else done with ``summary``.
    False if ``worker`` no longer held it (its lease ran out and another took it)."""
    ended = s.execute(
        update(Job).where(Job.id == job_id, Job.worker == worker, Job.state == JobState.running)
        .values(state=JobState.failed if error else JobState.done, summary=summary,
                error=error[:SENTENCE_MAX] if error else None, finished_at=utcnow(),
                lease_until=None)
        .execution_options(synchronize_session=False))
    return ended.rowcount == 1


def progress(s: Session, job_id: int, done: int, total: int | None = None) -> None:
    values = {"progress_done": done} if total is None else {"progress_done": done,
                                                            "progress_total": total}
    s.execute(update(Job).where(Job.id == job_id).values(**values)
              .execution_options(synchronize_session=False))


def file_pages(s: Session, file_id: int, done: int, total: int | None = None) -> None:
    values = {"pages_done": done} if total is None else {"pages_done": done,
                                                         "pages_total": total}
    s.execute(update(JobFile).where(JobFile.id == file_id).values(**values)
              .execution_options(synchronize_session=False))


def file_outcome(s: Session, file_id: int, outcome: FileOutcome, *, sentence: str | None = None,
                 document_id: int | None = None) -> None:
    f = s.get(JobFile, file_id)
    f.outcome, f.stored_document = outcome, document_id
    f.sentence = sentence[:SENTENCE_MAX] if sentence else None
    if outcome != FileOutcome.refused:
        f.pages_done = f.pages_total = max(f.pages_total, f.pages_done)


def retry(s: Session, job: Job) -> bool:
    """Queue a failed job again (its refused files too). True if it was queued; False if it
    is queued or running already. A job that is done cannot be retried."""
    if job.state in (JobState.queued, JobState.running):
        return False
    if job.state == JobState.done:
        raise Invalid(f"job {job.id} is done; there is nothing to retry")
    job.state, job.error, job.worker, job.lease_until = JobState.queued, None, None, None
    job.finished_at = None
    for f in scans(job):
        if f.outcome == FileOutcome.refused:
            f.outcome, f.sentence, f.pages_done = None, None, 0
    return True


def listing(s: Session, who: Principal, *, states: Iterable[JobState] = (),
            limit: int = 50) -> list[Job]:
    """The jobs ``who`` may see, newest first (their files loaded)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    submitter = job_scope(who)
    if submitter is not None:
        query = query.where(Job.submitted_by == submitter)
    states = list(states)
    if states:
        query = query.where(or_(*(Job.state == st for st in states)))
    return list(s.scalars(query))


def as_json(job: Job) -> dict:
    """A job as the CLI's ``--json`` and ``/api/jobs`` show it: ids and sentences, never a
    page's text or an ID number (file names are stored with ID numbers masked)."""
    return {
        "id": job.id, "kind": job.kind.value, "state": job.state.value,
        "submitted_by": job.submitted_by, "household": job.household,
        "document_id": job.document_id, "attempts": job.attempts,
        "batch": params_of(job).get("batch"), "list": params_of(job).get("list"),
        "manifest": manifest.name if (manifest := manifest_of(job)) else None,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "summary": job.summary, "error": job.error,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "files": [{"name": f.name, "size": f.size,
                   "outcome": f.outcome.value if f.outcome else None,
                   "sentence": f.sentence, "document_id": f.stored_document,
                   "pages": {"done": f.pages_done, "total": f.pages_total}}
                  for f in scans(job)],
    }


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None
