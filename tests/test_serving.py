"""``hudang serve --workers N``: several server processes behave as one server.

Everything is real: ``hudang serve --workers 2`` (gunicorn) in a subprocess on loopback,
the catalogue, the blob store and the index of a data home made here, Tesseract for the
ingests. Which worker answered a request is read from /proc (the worker process holding the
server end of the connection), so each test knows it crossed from one process to the other.
"""
from __future__ import annotations

import os
import subprocess
from collections import Counter
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from records.catalogue import add_user
from records.model import AuditEvent, FailedAttempt, User
from tests.conftest import make_archive
from tests.crash_support import HOUSEHOLD, write_scan
from tests.serving_support import (HUDANG, Client, children, client_on_worker, serve,
                                   served_by)

PASSWORD = "Serving-test-7"
USERS = [f"reader{k}" for k in range(5)]
SESSIONS = 50  # logged-in sessions of the load test, spread over USERS
LOAD_SECONDS = 60
PACE_SECONDS = 1.0  # each session turns a page this often (a person reads one in 2 s)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data home with one two-page document of household 220381105012-0042, readers of
    the whole county, and the environment that points ``hudang`` at it."""
    from ingest.pipeline import IngestRequest, Ingestor

    root = tmp_path_factory.mktemp("serving")
    archive = make_archive(root)
    try:
        with archive.Session() as s, s.begin():
            for name in [*USERS, "locked-reader", "leaving-reader", "switching-reader"]:
                add_user(s, name, PASSWORD, "archivist")
        with Ingestor(archive, engine="tesseract", workers=1) as ingestor:
            result = ingestor.ingest(IngestRequest(
                path=write_scan(root / "doc.tif", pages=2, variant=0), household=HOUSEHOLD,
                doc_type="application", actor="test"))
    finally:
        archive.close()
    env = {**os.environ, "HUDANG_HOME": str(root / "home"),
           "HUDANG_MASTER_KEY_FILE": str(root / "keys" / "master.key"),
           "HUDANG_OCR_ENGINE": "tesseract", "OMP_THREAD_LIMIT": "1"}
    env.pop("HUDANG_MASTER_KEY", None)
    return {"root": root, "env": env, "document": result.document_id, "settings": archive.settings}


@pytest.fixture(scope="module")
def server(world):
    with serve(world["env"], workers=2) as (port, proc):
        yield port, proc


@pytest.fixture
def archive(world):
    from ingest.archive import Archive

    opened = Archive.open(world["settings"])
    yield opened
    opened.close()


def _two_workers(server) -> tuple[int, int]:
    port, proc = server
    workers = children(proc.pid)
    assert len(workers) == 2
    return workers[0], workers[1]


def test_serve_runs_the_number_of_processes_asked_for_and_names_no_server_software(server):
    port, proc = server
    assert len(children(proc.pid)) == 2
    c = Client(port)
    c.conn.request("GET", "/login")
    response = c.conn.getresponse()
    assert response.status == 200 and response.getheader("Server") == "hudang"
    c.close()


def test_a_sign_in_on_one_process_with_its_form_from_the_other_holds_on_both(server):
    port, proc = server
    first, second = _two_workers(server)
    # the login form (and its CSRF token) from one process, the sign-in on the other
    a = client_on_worker(proc, port, first, {})
    token = a.csrf_token("/login")
    assert served_by(proc, port, a) == first
    b = client_on_worker(proc, port, first, a.cookies, other=True)
    assert b.sign_in(USERS[0], PASSWORD, token) == 302
    assert served_by(proc, port, b) == second
    # signed in, whichever process serves the next request
    for worker in (first, second):
        c = client_on_worker(proc, port, worker, b.cookies)
        status, _, page = c.request("GET", "/")
        assert status == 200 and USERS[0] in page.decode("utf-8")
        c.close()
    a.close()
    b.close()


def test_a_csrf_token_from_one_process_is_refused_when_forged_on_the_other(server):
    port, proc = server
    first, _ = _two_workers(server)
    a = client_on_worker(proc, port, first, {})
    a.csrf_token("/login")
    b = client_on_worker(proc, port, first, a.cookies, other=True)
    assert b.sign_in(USERS[0], PASSWORD, token="forged-token") == 400
    a.close()
    b.close()


def test_failed_sign_ins_on_both_processes_add_up_to_one_lock_out(server, archive):
    port, proc = server
    first, second = _two_workers(server)
    clients = [client_on_worker(proc, port, first, {}),
               client_on_worker(proc, port, first, {}, other=True)]
    lockout = archive.settings.sign_in_lockout
    for k in range(lockout.failures):
        assert clients[k % 2].sign_in("locked-reader", "Not-the-password-1") == 401
    assert {served_by(proc, port, c) for c in clients} == {first, second}
    # locked on both, against the right password, after failures spread over both
    for c in clients:
        assert c.sign_in("locked-reader", PASSWORD) == 401
        assert c.request("GET", "/")[0] == 302  # not signed in
    with archive.Session() as s:
        events = list(s.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "login", AuditEvent.actor == "locked-reader")))
        assert sum('"locked"' in d for d in events) >= 2
        s.execute(update(FailedAttempt).where(FailedAttempt.kind == "sign_in")
                  .values(at=FailedAttempt.at - lockout.lookback))
        s.commit()
    assert clients[0].sign_in("locked-reader", PASSWORD) == 302
    for c in clients:
        c.close()


def test_a_disabled_account_is_signed_out_on_every_process(server, archive):
    port, proc = server
    first, second = _two_workers(server)
    a = client_on_worker(proc, port, first, {})
    assert a.sign_in("leaving-reader", PASSWORD) == 302
    b = client_on_worker(proc, port, first, a.cookies, other=True)
    assert b.request("GET", "/")[0] == 200
    with archive.Session() as s, s.begin():
        s.execute(update(User).where(User.username == "leaving-reader").values(active=False))
    for c in (a, b):
        status, location, _ = c.request("GET", "/")
        assert status == 302 and "/login" in location
    a.close()
    b.close()


def test_signing_out_on_one_process_ends_the_session_on_the_other_even_for_a_copied_cookie(
        server):
    port, proc = server
    first, _ = _two_workers(server)
    a = client_on_worker(proc, port, first, {})
    assert a.sign_in("switching-reader", PASSWORD) == 302
    assert a.request("GET", "/")[0] == 200
    copied = dict(a.cookies)  # what a stolen or left-behind cookie would be
    token = a.csrf_token("/")
    status, location, _ = a.request("POST", "/logout", {"csrf_token": token})
    assert status == 302 and "/login" in location
    b = client_on_worker(proc, port, first, copied, other=True)
    status, location, _ = b.request("GET", "/")
    assert status == 302 and "/login" in location
    a.close()
    b.close()


def _read_page_events(archive, document_id: int) -> int:
    with archive.Session() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "read_page", AuditEvent.outcome == "allowed",
            AuditEvent.object_id == str(document_id)))


def _ingest_loop(env: dict, root: Path, stop: threading.Event, done: list, failures: list):
    """``hudang ingest`` of one new generated document after another, until ``stop``."""
    variant = 100
    while not stop.is_set():
        variant += 1
        scan = write_scan(root / f"loop-{variant}.tif", pages=1, variant=variant)
        run = subprocess.run([HUDANG, "ingest", str(scan), "--household", HOUSEHOLD,
                              "--type", "application"], env=env, capture_output=True,
                             text=True, timeout=600)
        (done if run.returncode == 0 else failures).append(run.stderr.strip())


def test_fifty_sessions_reading_for_a_minute_during_an_ingest_see_no_error_and_each_read_is_audited(
        world, server, archive):
    port, proc = server
    document = world["document"]
    pages = [f"/document/{document}/page/{n}/image" for n in (1, 2)]
    sessions = []
    for k in range(SESSIONS):
        c = Client(port)
        assert c.sign_in(USERS[k % len(USERS)], PASSWORD) == 302
        c.state_purpose(HOUSEHOLD)
        sessions.append(c)
    before = _read_page_events(archive, document)

    stop = threading.Event()
    ingested: list[str] = []
    ingest_failures: list[str] = []
    ingest = threading.Thread(target=_ingest_loop,
                              args=(world["env"], world["root"], stop, ingested, ingest_failures))
    served = [0] * SESSIONS
    errors: list[str] = []
    workers_seen: set[int] = set()
    lock = threading.Lock()
    end = [0.0]

    def reader(k: int, c: Client) -> None:
        turn = k
        next_at = time.monotonic() + (k % 10) * PACE_SECONDS / 10
        while time.monotonic() < end[0]:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += PACE_SECONDS
            try:
                status, _, body = c.request("GET", pages[turn % len(pages)])
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                with lock:
                    errors.append(f"session {k}: {type(exc).__name__}: {exc}")
                c.reconnect()
                continue
            turn += 1
            if status == 200 and body.startswith(b"\xff\xd8"):
                served[k] += 1
            else:
                with lock:
                    errors.append(f"session {k}: HTTP {status}: {body[:200]!r}")
            if turn % 20 == 0:
                with lock:
                    workers_seen.add(served_by(proc, port, c))

    ingest.start()
    end[0] = time.monotonic() + LOAD_SECONDS
    threads = [threading.Thread(target=reader, args=(k, c)) for k, c in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    ingest.join()
    for c in sessions:
        c.close()

    print(f"served {sum(served)} page images to {SESSIONS} sessions in {LOAD_SECONDS} s, "
          f"{len(ingested)} documents ingested meanwhile, "
          f"{sum(c.stale_retries for c in sessions)} requests resent on a new connection "
          "after the server had closed an idle kept-alive one")
    assert errors == [], f"{len(errors)} errors; kinds: " + str(Counter(
        e.split(": ", 1)[1][:60] for e in errors).most_common(5))
    assert ingest_failures == [] and ingested, "the ingest ran during the load"
    assert workers_seen == set(children(proc.pid))  # both processes served the readers
    assert sum(served) > 0
    assert _read_page_events(archive, document) - before == sum(served)
