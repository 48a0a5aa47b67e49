"""Long work in the background: submitting jobs, the queue, and the worker that runs them.

The queue is Huey's (``docs/dependencies.md`` says why): a SQLite file in the data home by
default (no server), or Redis (``HUDANG_QUEUE_URL``) for workers on several machines. It
carries a job's id and nothing else; the job itself (what, for whom, its files, its state,
progress and outcome) is a row of the catalogue (``records.jobs``), and an upload waits as
an encrypted blob, never as a plain file.

A worker (``hudang worker``) takes one job at a time::

    claim (one atomic update: one worker wins)  ──►  run as the submitter, through the door
      │  a heartbeat thread renews the lease and puts back the jobs of dead workers
      ▼
    done (a summary) / failed (one sentence; ``hudang jobs retry``)

A worker killed mid-job (SIGKILL) stops renewing its lease; when the lease has run out the
next worker's heartbeat queues the job again, and the worker that takes it first lets the
crash journal (``ingest.recovery``) finish or roll back what the dead one was writing. The
retry then ingests each file again: a file whose document the dead worker had committed is
found as that document (the SHA-256 of the upload), so every document is stored once. A
destruction list's job (``JobKind.destroy``) runs ``ingest.shredding.execute`` again, which
finishes a list a crash interrupted: each dossier is destroyed once.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import verify as checks
from ingest.archive import Archive
from ingest.cataloguing import household_target
from ingest.commit import Commit
from ingest.exceptions import IngestError
from ingest.journal import work_dir
from records import audit
from records import jobs as rules
from records.catalogue import find_household, principal_of
from records.clock import utcnow
from records.door import Knock, Target
from records.doctypes import get_type
from records.exceptions import Invalid, NotFound, RecordsError
from records.idnumbers import mask_in_text
from records.kinds import ContainerKind, FileOutcome, JobKind, JobState, RowOutcome, ScanProfile
from records.model import DestructionList, Document, Job, JobFile, User
from records.policy import Action, Principal, Role, may_see_job
from records.problems import N_, fail
from search.exceptions import SearchError
from storage.exceptions import StorageError

# errors whose message is a sentence a person can act on; anything else is a defect
SENTENCE_ERRORS = (IngestError, RecordsError, StorageError, SearchError)
TASK_NAME = "hudang.job"


# -- the queue ------------------------------------------------------------------------------
class Queue:
    """Huey on ``settings.queue``: ``enqueue(job_id)`` wakes a worker."""

    def __init__(self, url: str):
        self.huey = _huey(url)
        self._task = self.huey.task(name=TASK_NAME)(_run_job)

    def enqueue(self, job_id: int) -> None:
        self._task(job_id)

    def pending(self) -> int:
        return self.huey.pending_count()


def _huey(url: str):
    from huey import RedisHuey, SqliteHuey

    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name="hudang", filename=str(path), results=False, utc=True)
    return RedisHuey(name="hudang", url=url, results=False, utc=True)


def queue_of(archive: Archive) -> Queue:
    return Queue(archive.settings.queue)


# -- submitting -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Upload:
    """One file to ingest, as received (from the browser or ``hudang ingest --background``)."""

    name: str
    data: bytes


@dataclass(frozen=True)
class IngestJobRequest:
    household: str
    doc_type: str
    date: date | None = None
    title: str | None = None


def check_uploads(archive: Archive, uploads: Sequence[Upload]) -> None:
    """The deployment's limits on one upload (HUDANG_UPLOAD_MAX_FILES, _MB), as problems of
    the form's ``files`` field (``records.problems``: a screen says them in its language)."""
    settings = archive.settings
    if not uploads:
        raise fail("files", N_("choose at least one file to upload"))
    if len(uploads) > settings.upload_max_files:
        raise fail("files", N_("%(n)s files are more than one upload may hold (%(most)s); "
                               "upload them in parts"),
                   n=len(uploads), most=settings.upload_max_files)
    for upload in uploads:
        if len(upload.data) > settings.upload_max_mb * 1024 * 1024:
            raise fail("files", N_("'%(name)s' is larger than %(mb)s MB, the most one file "
                                   "may be"), name=shown_name(upload.name),
                       mb=settings.upload_max_mb)
        if not upload.data:
            raise fail("files", N_("'%(name)s' is empty"), name=shown_name(upload.name))


def shown_name(name: str) -> str:
    """A file's name as jobs keep and show it: no folders, ID numbers masked."""
    base = Path(name.replace("\\", "/")).name.strip() or "upload"
    return mask_in_text(base)[:200]


def submit_ingest(archive: Archive, who: Principal, req: IngestJobRequest,
                  uploads: Sequence[Upload], *, queue: Queue | None = None) -> int:
    """Stage ``uploads`` encrypted and queue one job ingesting them into ``req.household``'s
    dossier. Checked first (the door, the type, the limits): a refusal stores nothing."""
    import hashlib

    with archive.Session() as s:
        household = find_household(s, req.household)
        archive.admit(Knock(who, Action.ingest, household_target(household, req.household)))
        get_type(s, req.doc_type, daily=False)  # an unknown type: a sentence, nothing stored
    check_uploads(archive, uploads)
    params = {"type": req.doc_type, "date": req.date.isoformat() if req.date else None,
              "title": req.title}
    with Commit(archive, "upload") as unit:
        staged = []
        for upload in uploads:
            blob = unit.put(upload.data)
            staged.append(rules.StagedFile(shown_name(upload.name), len(upload.data),
                                           hashlib.sha256(upload.data).hexdigest(),
                                           blob.ref, blob.wrapped_key))
        job_id = unit.catalogue(
            lambda s: rules.create(s, JobKind.ingest, who, household=household.number,
                                   params=params, files=staged).id,
            undo=_delete_job)
    _enqueue(archive, job_id, queue)
    return job_id


@dataclass(frozen=True)
class BoxJobRequest:
    """A box uploaded in the browser: its ``manifest.csv`` (file, household_no, doc_type, seq,
    date, title, pages), what the batch asks of the scans, and the box it came from."""

    manifest: Upload
    profile: ScanProfile = ScanProfile.standard
    container: str | None = None


def submit_box(archive: Archive, who: Principal, req: BoxJobRequest,
               uploads: Sequence[Upload], *, queue: Queue | None = None) -> int:
    """Stage a box's files and manifest encrypted and queue one job ingesting them as a batch
    (``ingest.box``). Checked first, a refusal storing nothing: the door, a manifest that
    cannot be read, the upload limits, and every file named by the manifest (a file the
    manifest does not name was chosen by mistake). A row naming a household, a type or a
    file that is not there fails in the batch with its sentence, as ``hudang ingest-box``."""
    import hashlib

    from ingest.box import read_manifest

    archive.admit(Knock(who, Action.ingest, event="ingest_box"))
    if not req.manifest.data:
        raise fail("manifest", N_("choose the box's manifest.csv (file, household_no, "
                                  "doc_type, seq, date, title, pages)"))
    manifest = shown_name(req.manifest.name)
    rows = read_manifest(req.manifest.data, manifest)  # BoxError: the manifest's sentence
    uploads = [u for u in uploads if not shown_name(u.name).startswith(".")]
    check_uploads(archive, uploads)
    names = [shown_name(u.name) for u in uploads]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise fail("files", N_("two files are named '%(name)s'; a box's files need names of "
                               "their own"), name=twice[0])
    named = {shown_name(r.file) for r in rows if r.file}
    unnamed = [n for n in names if n not in named]
    if len(unnamed) == 1:
        raise fail("files", N_("'%(name)s' is not named in %(manifest)s; add it to the "
                               "manifest or leave it out"), name=unnamed[0], manifest=manifest)
    if unnamed:
        raise fail("files", N_("'%(name)s' is not named in %(manifest)s (nor are %(more)s "
                               "more files); add it to the manifest or leave it out"),
                   name=unnamed[0], manifest=manifest, more=len(unnamed) - 1)
    if req.container:
        from records.locations import find as find_container

        with archive.Session() as s:
            box = find_container(s, req.container)
            if box is None or box.kind is not ContainerKind.box:
                raise fail("box", N_("there is no box %(code)s"),
                           code=req.container.strip().upper()[:40])

    def staged(unit: Commit, upload: Upload) -> rules.StagedFile:
        blob = unit.put(upload.data)
        return rules.StagedFile(shown_name(upload.name), len(upload.data),
                                hashlib.sha256(upload.data).hexdigest(), blob.ref,
                                blob.wrapped_key)

    params = {"profile": req.profile.value, "box": req.container or None}
    with Commit(archive, "upload") as unit:
        files = [staged(unit, u) for u in uploads]
        manifest = staged(unit, req.manifest)
        job_id = unit.catalogue(
            lambda s: rules.create(s, JobKind.box, who, params=params, files=files,
                                   manifest=manifest).id,
            undo=_delete_job)
    _enqueue(archive, job_id, queue)
    return job_id


def submit(archive: Archive, who: Principal, kind: JobKind, *, document_id: int | None = None,
           engine: str | None = None, queue: Queue | None = None) -> int:
    """Queue a reindex, a verification or a re-OCR of ``document_id`` with ``engine``."""
    action = {JobKind.reindex: Action.manage, JobKind.verify: Action.verify,
              JobKind.reocr: Action.ingest}[kind]
    if kind != JobKind.reocr:  # a re-OCR's document is admitted by the worker, as by the CLI
        archive.admit(Knock(who, action, event=kind.value))
    elif not engine:
        raise Invalid("a re-OCR job needs an OCR engine")
    with _writing(archive) as s:
        job_id = rules.create(s, kind, who, document_id=document_id,
                              params={"engine": engine} if engine else {}).id
    _enqueue(archive, job_id, queue)
    return job_id


def submit_destruction(archive: Archive, who: Principal, number: int, *,
                       queue: Queue | None = None) -> int:
    """Queue one job carrying out destruction list ``number`` (销毁清册), as
    ``hudang destruction execute N`` does in the foreground. Checked first, as the execution
    checks it (``ingest.shredding.check_execute``: the door, then approved and witnessed by
    two, or executing after a crash), a refusal recorded the same way and no job stored; a
    list whose job is queued or running already is refused with a sentence (one job a list)."""
    from ingest.shredding import check_execute
    from records.destruction import being_executed

    check_execute(archive, who, number)
    with _writing(archive) as s:  # the check and the new row in one write: never two jobs
        running = rules.destroying(s, number)
        if running is not None:
            raise being_executed(number, running.id)
        job = rules.create(s, JobKind.destroy, who, params={"list": number})
        job.progress_total = len(s.get(DestructionList, number).items)  # shown while queued
        job_id = job.id
    _enqueue(archive, job_id, queue)
    return job_id


def destruction_job(archive: Archive, number: int) -> dict | None:
    """``{"id": J, "state": "queued"|"running"}`` of list ``number``'s job carrying it out
    now, or None (for the list's page, which the door has admitted)."""
    with archive.Session() as s:
        job = rules.destroying(s, number)
        return {"id": job.id, "state": job.state.value} if job is not None else None


def _enqueue(archive: Archive, job_id: int, queue: Queue | None) -> None:
    # a lost wake-up is not a lost job: a worker queues waiting jobs again when it starts
    (queue or queue_of(archive)).enqueue(job_id)


def _delete_job(s, job_id: int) -> None:
    job = s.get(Job, job_id)
    if job is not None:
        s.delete(job)


def retry(archive: Archive, who: Principal, job_id: int, *, queue: Queue | None = None) -> bool:
    """Queue a failed job again (only its files not yet stored); True if it was queued."""
    with archive.Session() as s:  # the door first: a refusal is written in its own transaction
        job = s.get(Job, job_id)
        visible = job is not None and may_see_job(who, job.submitted_by).allowed
    archive.admit(Knock(who, Action.jobs, Target("job", str(job_id), found=visible),
                        event="job_retry"))
    with _writing(archive) as s:
        queued = rules.retry(s, s.get(Job, job_id))
    if queued:
        archive.record(audit.Event(actor=who.name, action="job_retry", object_type="job",
                                   object_id=str(job_id)))
        _enqueue(archive, job_id, queue)
    return queued


def listing(archive: Archive, who: Principal, *, states: Sequence[JobState] = (),
            limit: int = 50) -> list[dict]:
    """The jobs ``who`` may see, newest first, as JSON-ready dicts."""
    archive.admit(Knock(who, Action.jobs, event="jobs"))
    with archive.Session() as s:
        return [rules.as_json(job) for job in rules.listing(s, who, states=states, limit=limit)]


# -- the worker -------------------------------------------------------------------------------
_WORKER: Worker | None = None  # the worker of this process (``hudang worker``)


def _run_job(job_id: int) -> None:
    """The one Huey task: run job ``job_id`` in this process's worker."""
    if _WORKER is None:
        raise RuntimeError("a job reached a process that is not a hudang worker")
    _WORKER.run(job_id)


class Worker:
    """Runs jobs of one archive, one at a time, keeping its OCR processes between them."""

    def __init__(self, archive: Archive, *, engine: str | None = None,
                 log: Callable[[str], None] | None = None):
        self.archive = archive
        self.engine = engine
        self.name = f"{socket.gethostname()}:{os.getpid()}"[:100]
        self.lease = timedelta(seconds=archive.settings.job_lease_seconds)
        self.queue = queue_of(archive)
        self.log = log or (lambda line: print(f"hudang worker: {line}", file=sys.stderr,
                                              flush=True))
        self.current: int | None = None
        self._ingestor = None
        self._stop = threading.Event()

    # -- the loop ----------------------------------------------------------------------------
    def serve(self) -> None:
        """Take jobs until SIGINT or SIGTERM (Huey's consumer, one worker thread)."""
        global _WORKER
        _WORKER = self
        self.sweep(waiting=True)
        beat = threading.Thread(target=self._heartbeat, name="hudang-heartbeat", daemon=True)
        beat.start()
        consumer = self.queue.huey.create_consumer(
            workers=1, worker_type="thread", periodic=False, initial_delay=0.1, backoff=1.15,
            max_delay=1.0)
        self.log(f"{self.name} waiting for jobs ({_shown_queue(self.archive.settings.queue)})")
        try:
            consumer.run()
        finally:
            self._stop.set()
            self.close()

    def close(self) -> None:
        if self._ingestor is not None:
            self._ingestor.close()
            self._ingestor = None

    def _heartbeat(self) -> None:
        interval = max(1.0, self.lease.total_seconds() / 3)
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception as exc:  # a busy database must not stop the heartbeat
                self.log(f"heartbeat: {type(exc).__name__}: {exc}")

    def sweep(self, *, waiting: bool = False) -> list[int]:
        """Renew this worker's lease; queue again the jobs of workers that died (and, with
        ``waiting``, queued jobs whose wake-up may have been lost)."""
        with _writing(self.archive) as s:
            if self.current is not None:
                rules.renew(s, [self.current], self.name, self.lease)
            orphans = rules.requeue_expired(s)
            lost = rules.waiting(s, utcnow() - self.lease) if waiting else []
        for job_id in orphans:
            self.log(f"job {job_id}: queued again (its worker stopped renewing its lease)")
        for job_id in dict.fromkeys(orphans + lost):
            self.queue.enqueue(job_id)
        return orphans

    # -- one job -----------------------------------------------------------------------------
    def run(self, job_id: int) -> None:
        with _writing(self.archive) as s:
            if not rules.claim(s, job_id, self.name, self.lease):
                return  # another worker has it, or it is done
        self.current = job_id
        try:
            summary, error = self._run(job_id)
        finally:
            self.current = None
        with _writing(self.archive) as s:
            ended = rules.finish(s, job_id, self.name, summary=summary, error=error)
        if not ended:
            self.log(f"job {job_id}: another worker took it over (this worker's lease ran out)")
        else:
            self.log(f"job {job_id}: {'failed: ' + error if error else 'done: ' + summary}")

    def _run(self, job_id: int) -> tuple[str | None, str | None]:
        with self.archive.Session() as s:
            job = s.get(Job, job_id)
            kind, attempts = job.kind, job.attempts
            self.log(f"job {job_id}: {kind.value}, attempt {attempts}")
        try:
            if attempts > 1:  # a worker died on it: finish or roll back what it was writing
                self.archive.recover(self.name)
            with self.archive.Session() as s:
                who = _submitter(s, s.get(Job, job_id), self.archive)
            runner = {JobKind.ingest: self._ingest, JobKind.reindex: self._reindex,
                      JobKind.verify: self._verify, JobKind.reocr: self._reocr,
                      JobKind.box: self._box, JobKind.destroy: self._destroy}[kind]
            return runner(job_id, who)
        except SENTENCE_ERRORS as exc:
            return None, str(exc)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            return None, (f"the {kind.value} job stopped on an unexpected error "
                          f"({type(exc).__name__}); see the worker's log, then retry it")

    # -- the kinds ---------------------------------------------------------------------------
    def _ingest(self, job_id: int, who: Principal) -> tuple[str | None, str | None]:
        from ingest.pipeline import IngestRequest

        with self.archive.Session() as s:
            job = s.get(Job, job_id)
            household, params = job.household, rules.params_of(job)
            pending = [(f.id, f.position, f.name) for f in job.files if f.outcome is None]
            total = len(job.files)
            household_row = find_household(s, household)
        self.archive.admit(Knock(who, Action.ingest, household_target(household_row, household)))
        for file_id, position, name in pending:
            with work_dir(self.archive.settings.tmp_dir, "job") as work:
                path = work / f"{position:04d}" / name
                path.parent.mkdir()
                started = self._unstage(file_id, path)
                req = IngestRequest(path=path, household=household, doc_type=params["type"],
                                    date=date.fromisoformat(params["date"])
                                    if params.get("date") else None,
                                    title=params.get("title"), actor=who.name)
                try:
                    result = self.ingestor.ingest(req, progress=self._pages(file_id),
                                                  on_pages=self._page_count(file_id))
                except SENTENCE_ERRORS as exc:
                    self._settle(file_id, FileOutcome.refused, sentence=str(exc))
                else:
                    stored = not result.duplicate or self._ours(result.document_id, who,
                                                                started)
                    self._settle(file_id, FileOutcome.stored if stored else
                                 FileOutcome.duplicate, document_id=result.document_id)
            with _writing(self.archive) as s:
                done = s.scalar(select(_count_settled(job_id)))
                rules.progress(s, job_id, done, total)
        return _ingest_outcome(self.archive, job_id)

    def _box(self, job_id: int, who: Principal) -> tuple[str | None, str | None]:
        """A box uploaded with its manifest, as ``hudang ingest-box`` runs a directory: one
        batch, each row on its own. Each file's outcome is settled as soon as its rows have
        one; a retry runs the rows whose files are still staged (and those naming a file
        that was never uploaded, which fail again with their sentence)."""
        from ingest import box as boxes

        with self.archive.Session() as s:
            job = s.get(Job, job_id)
            params, manifest = rules.params_of(job), rules.manifest_of(job)
            pending = {f.name: f.id for f in rules.scans(job) if f.outcome is None}
            uploaded = {f.name for f in rules.scans(job)}
            total = len(rules.scans(job))
            manifest_id, manifest_name = manifest.id, manifest.name
        rows = boxes.read_manifest(self._staged(manifest_id), manifest_name)
        rows = [r for r in rows if shown_name(r.file) in pending
                or shown_name(r.file) not in uploaded]
        with work_dir(self.archive.settings.tmp_dir, "box") as work:
            started, paths = {}, {}
            for name, file_id in pending.items():
                paths[name] = work / str(file_id) / name  # its own name, in sentences
                paths[name].parent.mkdir()
                started[file_id] = self._unstage(file_id, paths[name])
            files = {r.file: paths[shown_name(r.file)] for r in rows
                     if shown_name(r.file) in paths}
            last_row = {}  # file id -> the last row (1-based, as the progress counts) naming it
            for index, r in enumerate(rows, 1):
                if shown_name(r.file) in pending:
                    last_row[pending[shown_name(r.file)]] = index
            results: dict[int, list] = {}

            def moved(step) -> None:
                row = rows[step.row - 1]
                file_id = pending.get(shown_name(row.file))
                if file_id is None:
                    return
                if step.result is None:
                    with _writing(self.archive) as s:
                        rules.file_pages(s, file_id, step.pages_done, step.pages)
                    return
                results.setdefault(file_id, []).append(step.result)
                if row.separated or step.row != last_row[file_id]:
                    return  # more to come (a long scan's parts are settled at the end)
                self._settle_box_file(file_id, results[file_id], who, started[file_id])
                with _writing(self.archive) as s:
                    rules.progress(s, job_id, s.scalar(select(_count_settled(job_id))),
                                   total)

            def opened(batch_id: int) -> None:
                with _writing(self.archive) as s:
                    rules.set_param(s, job_id, "batch", batch_id)

            outcome = boxes.ingest_box(
                self.archive, who, boxes.uploaded(job_id, rows, files),
                profile=ScanProfile(params.get("profile", ScanProfile.standard.value)),
                container=params.get("box"), progress=moved, ingestor=self.ingestor,
                on_batch=opened)
            for file_id in pending.values():  # long scans, and files of rows not reached
                with self.archive.Session() as s:
                    settled = s.get(JobFile, file_id).outcome is not None
                if not settled:
                    self._settle_box_file(file_id, results.get(file_id, []), who,
                                          started[file_id])
        with _writing(self.archive) as s:
            rules.progress(s, job_id, s.scalar(select(_count_settled(job_id))), total)
        if not outcome.failed:
            self._settle(manifest_id, FileOutcome.stored)  # the manifest is shredded too
            return outcome.summary(), None
        first = next(r for r in outcome.rows if r.outcome is RowOutcome.failed)
        return None, (f"{outcome.failed} of {len(outcome.rows)} rows of batch "
                      f"{outcome.batch_id} failed; the first: {first.sentence()}")

    def _settle_box_file(self, file_id: int, results: list, who: Principal,
                         started) -> None:
        failed = [r for r in results if r.outcome is RowOutcome.failed]
        if failed or not results:
            self._settle(file_id, FileOutcome.refused, sentence=failed[0].message if failed
                         else "the run stopped before this file was reached")
            return
        ours = [r for r in results if r.outcome is RowOutcome.stored
                or self._ours(r.document_id, who, started)]
        self._settle(file_id, FileOutcome.stored if ours else FileOutcome.duplicate,
                     document_id=results[0].document_id)

    def _staged(self, file_id: int) -> bytes:
        with self.archive.Session() as s:
            f = s.get(JobFile, file_id)
            ref, key = f.staged_ref, f.staged_key
        return self.archive.blobs.get(ref, key)

    @property
    def ingestor(self):
        if self._ingestor is None:
            from ingest.pipeline import Ingestor

            self._ingestor = Ingestor(self.archive, engine=self.engine)
        return self._ingestor

    def _unstage(self, file_id: int, path: Path):
        """Write the staged upload to ``path`` in a private work directory (as ``hudang
        ingest`` reads a scan from disk); returns when this file was first attempted."""
        with _writing(self.archive) as s:
            f = s.get(JobFile, file_id)
            if f.started_at is None:
                f.started_at = utcnow()
            ref, key, started = f.staged_ref, f.staged_key, f.started_at
        path.write_bytes(self.archive.blobs.get(ref, key))
        return started

    def _ours(self, document_id: int, who: Principal, started) -> bool:
        """A "duplicate" that this job stored itself, in an attempt a killed worker did not
        get to record: same submitter, committed after this file was first attempted."""
        from records.clock import as_utc

        with self.archive.Session() as s:
            doc = s.get(Document, document_id)
            return (doc is not None and doc.created_by == who.name
                    and as_utc(doc.created_at) >= as_utc(started))

    def _pages(self, file_id: int) -> Callable[[int], None]:
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            with _writing(self.archive) as s:
                rules.file_pages(s, file_id, done)
        return advance

    def _page_count(self, file_id: int) -> Callable[[int], None]:
        def count(total: int) -> None:
            with _writing(self.archive) as s:
                rules.file_pages(s, file_id, 0, total)
        return count

    def _settle(self, file_id: int, outcome: FileOutcome, *, sentence: str | None = None,
                document_id: int | None = None) -> None:
        """Record a file's outcome; once it is in the archive, its staged copy is shredded
        (in one unit: the catalogue stops naming it, then it goes). A refused file stays
        staged, for a retry."""
        with Commit(self.archive, "job") as unit:
            def write(s) -> None:
                f = s.get(JobFile, file_id)
                if outcome != FileOutcome.refused and f.staged_ref:
                    unit.retire([f.staged_ref])
                    f.staged_ref = f.staged_key = None
                rules.file_outcome(s, file_id, outcome, sentence=sentence,
                                   document_id=document_id)
            unit.catalogue(write, undo=lambda s, _r: None)

    def _reindex(self, job_id: int, who: Principal) -> tuple[str, None]:
        from ingest.indexing import reindex

        self.archive.admit(Knock(who, Action.manage, event="reindex"))
        pages = reindex(self.archive)
        self.archive.record(audit.Event(actor=who.name, action="reindex",
                                        detail={"pages": pages, "job": job_id}))
        with _writing(self.archive) as s:
            rules.progress(s, job_id, 1, 1)
        return f"reindexed {pages} pages", None

    def _verify(self, job_id: int, who: Principal) -> tuple[str | None, str | None]:
        self.archive.admit(Knock(who, Action.verify, event="verify"))
        total = len(checks.document_ids(self.archive))
        with _writing(self.archive) as s:
            rules.progress(s, job_id, 0, total)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if done % 20 == 0 or done == total:
                with _writing(self.archive) as s:
                    rules.progress(s, job_id, done)
        report = checks.check(self.archive, progress=advance)
        run_id = checks.record_run(self.archive, who.name, report, repair=False)
        if report.passed:
            return f"verification {run_id}: no findings", None
        return None, (f"verification {run_id} found {len(report.problems)} problems; "
                      "see 'hudang verify' or the verification screen")

    def _reocr(self, job_id: int, who: Principal) -> tuple[str, None]:
        from ingest.reocr import reocr

        with self.archive.Session() as s:
            job = s.get(Job, job_id)
            document_id, engine = job.document_id, rules.params_of(job)["engine"]
        result = reocr(self.archive, who, document_id, engine=engine)
        with _writing(self.archive) as s:
            rules.progress(s, job_id, len(result.pages), len(result.pages))
        return f"re-OCR'd {len(result.pages)} pages of document {document_id} with " \
               f"{result.engine}", None

    def _destroy(self, job_id: int, who: Principal) -> tuple[str, None]:
        """Carry out a destruction list with ``ingest.shredding.execute``, as the submitter
        (who passes the door and the four-eyes rules again), the progress counting the
        list's dossiers. A worker killed mid-list leaves each dossier destroyed or untouched
        and the list ``executing``; the retry (the next worker, once the lease has run out,
        or ``hudang jobs retry``) runs ``execute`` again, which finishes a list a crash
        interrupted: the dossiers already destroyed are not destroyed twice."""
        from ingest import shredding
        from records.model import DestructionList

        with self.archive.Session() as s:
            number = rules.params_of(s.get(Job, job_id))["list"]
            found = s.get(DestructionList, number)
            total = len(found.items) if found is not None else 0
        with _writing(self.archive) as s:
            rules.progress(s, job_id, 0, total)
        done = 0

        def told(_position: int, _household: str, _status: str) -> None:
            nonlocal done
            done += 1
            with _writing(self.archive) as s:
                rules.progress(s, job_id, done)
        executed = shredding.execute(self.archive, who, number, on_item=told, job=job_id)
        counts = ", ".join(f"{n} {k}" for k, n in executed.counts.items() if n) or "no dossiers"
        return (f"list {number} was executed before: {counts}" if executed.already
                else f"list {number}: {counts}"), None


@contextmanager
def _writing(archive: Archive) -> Iterator[Session]:
    """A write transaction holding SQLite's write lock from its start: a read-then-write
    begun deferred fails at once (SQLITE_BUSY) when another worker wrote in between, instead
    of waiting its turn."""
    with archive.Session() as s, s.begin():
        s.connection(execution_options={"hudang_immediate": True})
        yield s


def _count_settled(job_id: int):
    from sqlalchemy import func

    return (select(func.count()).select_from(JobFile)
            .where(JobFile.job_id == job_id, JobFile.outcome.is_not(None),
                   JobFile.position != rules.MANIFEST_POSITION).scalar_subquery())


def _ingest_outcome(archive: Archive, job_id: int) -> tuple[str | None, str | None]:
    with archive.Session() as s:
        files = s.get(Job, job_id).files
        counts = {o: sum(1 for f in files if f.outcome == o) for o in FileOutcome}
        refused = [f for f in files if f.outcome == FileOutcome.refused]
    summary = ", ".join(f"{n} {o.value}" for o, n in counts.items() if n)
    if not refused:
        return summary, None
    first = refused[0].sentence
    many = f"{len(refused)} of {len(files)} files were refused; the first: " \
        if len(files) > 1 else ""
    return None, f"{many}{first}"


def _submitter(s, job: Job, archive: Archive) -> Principal:
    """Who the job acts as: the submitter's account with its rights now (a locked or removed
    account runs nothing), or the console operator who submitted it."""
    user = s.scalar(select(User).where(User.username == job.submitted_by))
    if user is not None:
        if not user.active:
            raise Invalid(f"the account {job.submitted_by} that submitted job {job.id} is "
                          "locked; an administrator may unlock it, then retry the job")
        return principal_of(user, archive.settings.grants)
    if job.submitted_as == Role.operator.value:
        return Principal(job.submitted_by, frozenset({Role.operator}))
    raise NotFound(f"the account {job.submitted_by} that submitted job {job.id} no longer "
                   "exists")


def _shown_queue(url: str) -> str:
    """The queue's URL without a password."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://…@{rest.rpartition('@')[2]}"
    return url


__all__ = ["BoxJobRequest", "IngestJobRequest", "Queue", "Upload", "Worker", "check_uploads",
           "destruction_job", "listing", "retry", "submit", "submit_box", "submit_destruction",
           "submit_ingest"]
