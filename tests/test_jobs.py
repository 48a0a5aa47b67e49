"""Background jobs (issue 14): real ``hudang worker`` processes take real ingest jobs off the
queue (Huey on a SQLite file in the data home), one worker is killed with SIGKILL in the
middle of an ingest, and every document is still stored exactly once; a job that fails
says why in one sentence and can be retried; the queue and the staged uploads hold nothing
readable. Everything is real: the ``hudang`` console script, Tesseract on small generated
scans, the catalogue (SQLite, or PostgreSQL in the suite's PostgreSQL mode), the encrypted
blob store and the Whoosh index.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import make_archive
from crash_support import HOUSEHOLD, hudang_env, run, start, stop, survivors, write_scan
from redis_support import job_queue, redis_server
from ingest import jobs as background
from ingest.archive import Archive
from ingest.settings import Settings
from records.kinds import FileOutcome, JobState
from records.model import Document, Job, JobFile
from records.policy import Principal, Role, job_scope, may_see_job

pytestmark = pytest.mark.slow

LEASE = "4"  # seconds: a dead worker's job goes back to the queue soon after
OPERATOR = Principal("test", frozenset({Role.operator}))
WAIT = 900  # seconds at most for jobs to end on a loaded two-core machine


def _settings(root: Path) -> Settings:
    return Settings.from_env(root / "home", root / "keys" / "master.key")


def _env(root: Path, archive: Archive) -> dict[str, str]:
    env = hudang_env(root, HUDANG_JOB_LEASE_SECONDS=LEASE)
    if archive.settings.database_url:  # the suite's PostgreSQL mode: the workers share it
        env["HUDANG_DATABASE_URL"] = archive.settings.database_url
    return env


def _jobs(archive: Archive) -> list[Job]:
    with archive.Session() as s:
        found = list(s.scalars(select(Job).order_by(Job.id)))
        for job in found:
            job.files  # noqa: B018 - loaded before the session closes
        s.expunge_all()
        return found


def _wait(archive: Archive, ready, what: str, workers: list[subprocess.Popen]):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        jobs = _jobs(archive)
        if ready(jobs):
            return jobs
        for w in workers:
            assert w.poll() is None, f"a worker ended while waiting for {what}"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: "
                         f"{[(j.id, j.state.value, j.worker) for j in _jobs(archive)]}")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def world(tmp_path):
    archive = make_archive(tmp_path)
    yield tmp_path, archive
    archive.close()


def test_a_job_is_seen_by_its_submitter_and_an_administrator_and_nobody_else():
    """The one policy decides both a job shown or retried and the jobs a listing holds."""
    wang = Principal("wang", frozenset({Role.archivist}))
    admin = Principal("admin", frozenset({Role.administrator}))
    clerk = Principal("clerk", frozenset({Role.staff}))
    assert may_see_job(wang, "wang") and not may_see_job(wang, "li")
    assert job_scope(wang) == "wang"
    assert may_see_job(admin, "li") and job_scope(admin) is None
    assert not may_see_job(clerk, "clerk")  # a clerk has no jobs at all


@pytest.mark.timeout(1800)
def test_two_workers_one_killed_mid_job_store_every_document_once_and_verify_is_clean(world):
    """On the suite's PostgreSQL run the queue is on Redis, as a province runs it (workers on
    several machines); on SQLite it is the data home's own."""
    root, archive = world
    with job_queue(root / "redis") as queue_url:
        if queue_url:
            archive = archive.reconfigured(archive.settings.with_values(
                {"HUDANG_QUEUE_URL": queue_url}))
            assert background.queue_of(archive).huey.__class__.__name__ == "RedisHuey"
        _two_workers_one_killed(root, archive, {**_env(root, archive),
                                                **({"HUDANG_QUEUE_URL": queue_url}
                                                   if queue_url else {})})
    shown = (queue_url or f"sqlite:///{root / 'home' / 'queue.sqlite'}").rsplit("/", 1)[0]
    assert f"waiting for jobs ({shown}" in (root / "worker2.log").read_text()


def _two_workers_one_killed(root: Path, archive: Archive, env: dict[str, str]) -> None:
    scans = [write_scan(root / f"scan{i}.tif", pages=2, variant=i) for i in range(10)]
    # ten jobs: the first as an archivist's script would submit it, the rest by the same
    # service in this process (a command's start-up is slow on a loaded machine)
    queued = run(env, "ingest", str(scans[0]), "--household", HOUSEHOLD, "--type", "申请书",
                 "--background", "--json")
    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout)["job"] == 1
    for scan in scans[1:]:
        background.submit_ingest(archive, OPERATOR, background.IngestJobRequest(
            HOUSEHOLD, "申请书"), [background.Upload(scan.name, scan.read_bytes())])
    workers = [start(env, "worker", log=root / f"worker{n}.log") for n in (1, 2)]
    try:
        victim = workers[0]

        def victim_mid_ingest(jobs: list[Job]) -> bool:  # OCR of its pages under way
            return any(j.state == JobState.running and j.worker
                       and j.worker.endswith(f":{victim.pid}")
                       and any(f.pages_total and f.outcome is None for f in j.files)
                       for j in jobs)

        jobs = _wait(archive, victim_mid_ingest, "the first worker to be mid-ingest", workers)
        killed = next(j.id for j in jobs if j.state == JobState.running
                      and j.worker.endswith(f":{victim.pid}"))
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(30)
        assert survivors(victim.pid) == [], "the killed worker left OCR processes running"
        jobs = _wait(archive, lambda js: all(j.state in (JobState.done, JobState.failed)
                                             for j in js), "every job to end", workers[1:])
    finally:
        for w in workers:
            stop(w)

    assert [(j.id, j.state, j.error) for j in jobs if j.state != JobState.done] == []
    again = next(j for j in jobs if j.id == killed)
    assert again.attempts >= 2, "the killed worker's job was not taken over"
    assert again.worker is None or not again.worker.endswith(f":{victim.pid}")
    assert all(f.outcome == FileOutcome.stored for j in jobs for f in j.files)
    with archive.Session() as s:
        stored = [sha for (sha,) in s.execute(select(Document.sha256))]
        staged = s.scalars(select(JobFile.staged_ref).where(JobFile.staged_ref.is_not(None)))
        assert list(staged) == [], "an ingested upload is still staged"
    assert sorted(stored) == sorted(_sha(scan) for scan in scans)  # each one, exactly once
    checked = run(env, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = json.loads(run(env, "jobs", "list", "--json").stdout)
    assert {j["state"] for j in listed} == {"done"} and len(listed) == 10


@pytest.mark.timeout(900)
def test_an_unreadable_upload_fails_its_job_with_a_sentence_and_can_be_retried(world):
    root, archive = world
    env = _env(root, archive)
    hostile = root / "申请书-220381196503041238.pdf"
    hostile.write_bytes(b"%PDF-1.7\n" + os.urandom(4000) + b"\n%%EOF\n")
    good = write_scan(root / "good.tif", pages=1, variant=1)
    for scan in (hostile, good):
        assert run(env, "ingest", str(scan), "--household", HOUSEHOLD, "--type", "申请书",
                   "--background").returncode == 0
    worker = start(env, "worker", log=root / "worker.log")
    try:
        ended = lambda js: all(j.state in (JobState.done, JobState.failed) for j in js)  # noqa: E731
        failed, done = _wait(archive, ended, "both jobs to end", [worker])
        assert (failed.state, done.state) == (JobState.failed, JobState.done)
        refused = failed.files[0]
        # the sentence from ingest, naming the file (its ID number masked), nothing stored
        assert refused.outcome == FileOutcome.refused
        assert failed.error == refused.sentence
        assert failed.error.startswith("cannot ingest '申请书-2203") and "041238" not in failed.error
        assert "\n" not in failed.error
        shown = run(env, "jobs")
        assert f"job {failed.id}  ingest {HOUSEHOLD}  failed" in shown.stdout
        assert f"why: {failed.error}" in shown.stdout

        retried = run(env, "jobs", "retry", str(failed.id))
        assert retried.returncode == 0 and "queued again" in retried.stdout
        _wait(archive, lambda js: js[0].attempts == 2 and ended(js), "the retry", [worker])
        again = _jobs(archive)[0]
        assert again.state == JobState.failed and again.error == failed.error
        assert run(env, "jobs", "retry", str(done.id)).returncode != 0  # done: nothing to retry
    finally:
        stop(worker)
    # the refused upload waits, encrypted, for another retry; nothing else was stored
    with archive.Session() as s:
        assert s.scalar(select(JobFile.staged_ref).where(JobFile.job_id == failed.id))
        assert [d for (d,) in s.execute(select(Document.sha256))] == [_sha(good)]
    checked = run(env, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_queue_and_staged_uploads_hold_no_name_id_number_or_file_content(world):
    root, archive = world
    settings = _settings(root)
    scan = write_scan(root / "scan.tif", pages=1, variant=3)
    id_number = "220381196503041238"
    job_id = background.submit_ingest(
        archive, OPERATOR, background.IngestJobRequest(HOUSEHOLD, "申请书", None, "王德胜申请书"),
        [background.Upload(f"王德胜-{id_number}.tif", scan.read_bytes())])
    queue = settings.home / "queue.sqlite"
    assert background.Queue(settings.queue).pending() == 1
    secrets = [id_number.encode(), "王德胜".encode(), scan.read_bytes()[:64],
               scan.read_bytes()[-64:]]
    for path in [queue, *settings.blob_dir.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert not any(secret in data for secret in secrets), path
    with archive.Session() as s:
        staged = s.scalar(select(JobFile).where(JobFile.job_id == job_id))
        assert staged.name == "王德胜-2203**********1238.tif"
        assert archive.blobs.get(staged.staged_ref, staged.staged_key) == scan.read_bytes()


def test_a_key_rotation_rewraps_an_upload_waiting_for_its_job(world):
    from ingest.keyrotation import rotate

    root, archive = world
    scan = write_scan(root / "waiting.tif", pages=1, variant=5)
    job_id = background.submit_ingest(
        archive, OPERATOR, background.IngestJobRequest(HOUSEHOLD, "申请书"),
        [background.Upload(scan.name, scan.read_bytes())])
    result = rotate(archive, "test")
    with archive.Session() as s:
        staged = s.scalar(select(JobFile).where(JobFile.job_id == job_id))
        assert staged.key_id == result.new_key == archive.master.fingerprint()
        assert archive.blobs.get(staged.staged_ref, staged.staged_key) == scan.read_bytes()
