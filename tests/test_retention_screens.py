"""Retention and destruction in the browser, through Flask's test client (issue 16).

Each screen for each role it names: the review queue (screen, CSV, JSON) for reviewers;
retention classes for administrators; a dossier's class and holds for archivists; a
destruction list walked from draft to certificate by four different people (reviewer,
approver, two witnesses), with the four-eyes rules said on the step's page; what an
auditor sees (read only) and what staff do not; the destroyed dossier's page and viewer.

Real parts: the small archive of ``retention_support`` (SQLite, encrypted blobs, Whoosh),
the app with its door, the services behind it. The waiting period is 0 days here (the
services' tests hold it to 7).
"""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import select

from records.model import Household
from retention_support import EAST, PASSWORD, build_retained

STOPPED = ("220381105012-0001", "220381105012-0002", "220381105012-0003")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    retained = build_retained(tmp_path_factory.mktemp("screens"))
    arch = retained.open(HUDANG_DESTRUCTION_WAIT_DAYS="0")
    yield arch
    arch.close()


@pytest.fixture(scope="module")
def app(archive):
    from web.app import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)


def login(app, name: str, lang: str = "en"):
    client = app.test_client()
    client.get(f"/login?lang={lang}")
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code == 302, name
    return client


def _list_no(location: str) -> int:
    return int(re.search(r"/destruction/(\d+)", location).group(1))


def _queued_job(page: str) -> int:
    """The job carrying out the list, as its page names it."""
    return int(re.search(r'id="destroy-job" data-job="(\d+)"', page).group(1))


def _work(archive, job_id: int) -> None:
    """Run a job with the worker's own code, in this process (as ``hudang worker`` would)."""
    from ingest.jobs import Worker

    worker = Worker(archive, log=lambda _line: None)
    try:
        worker.run(job_id)
    finally:
        worker.close()


def test_the_review_queue_lists_due_dossiers_on_screen_csv_and_json(app):
    reviewer = login(app, "reviewer")
    page = reviewer.get("/retention/?within=0")
    assert page.status_code == 200
    for number in STOPPED:
        assert number in page.text
    assert "220381105012-0004" not in page.text  # still receiving
    assert "220381106003-0001" not in page.text  # another township: not theirs
    rows = list(csv.reader(io.StringIO(reviewer.get("/retention/?format=csv").text
                                       .lstrip("\ufeff"))))
    assert {n for n in STOPPED} <= {cell for row in rows for cell in row}
    data = reviewer.get("/api/retention/due").get_json()
    assert data["due"] == 3 and {d["household"] for d in data["dossiers"]} == set(STOPPED)
    # Chinese by default
    assert "到期鉴定" in login(app, "reviewer", "zh").get("/retention/").text
    # staff have no queue
    assert login(app, "clerk").get("/retention/").status_code == 404


def test_the_administrator_adds_and_changes_a_retention_class(app):
    admin = login(app, "admin")
    page = admin.get("/retention/classes")
    assert page.status_code == 200 and "approval-3y" in page.text
    bad = admin.post("/retention/classes", data={"code": "", "name_zh": "", "years": "x",
                                                 "trigger": "stop_date", "action": "destroy"})
    assert bad.status_code == 400
    r = admin.post("/retention/classes", data={
        "code": "survey-10y", "name_zh": "调查类十年", "name_en": "surveys, 10 years",
        "years": "10", "trigger": "document_date", "action": "review"})
    assert r.status_code == 302
    assert "survey-10y" in admin.get("/retention/classes").text
    r = admin.post("/retention/classes/survey-10y", data={
        "name_zh": "调查类十二年", "name_en": "surveys, 12 years", "years": "12",
        "trigger": "document_date", "action": "review"})
    assert r.status_code == 302
    assert "调查类十二年" in admin.get("/retention/classes?lang=zh").text
    # an archivist does not manage classes
    assert login(app, "archivist").get("/retention/classes").status_code == 404


def test_an_archivist_changes_a_dossiers_class_with_a_reason(app):
    archivist = login(app, "archivist")
    number = "220381105012-0004"
    archivist.post(f"/household/{number}/purpose", data={"purpose": "审核"})
    form = archivist.get(f"/household/{number}/retention")
    assert form.status_code == 200
    assert archivist.post(f"/household/{number}/retention",
                          data={"retention_class": "permanent", "reason": ""}).status_code == 400
    r = archivist.post(f"/household/{number}/retention",
                       data={"retention_class": "permanent", "reason": "典型案例"})
    assert r.status_code == 302
    page = archivist.get(f"/household/{number}")
    assert "典型案例" in page.text and 'id="retention-changes"' in page.text


def test_a_hold_placed_and_lifted_in_the_browser_keeps_a_dossier_off_a_list(app):
    archivist = login(app, "archivist")
    number = "220381105012-0003"
    new = archivist.get(f"/holds/new?kind=household&ident={number}")
    assert new.status_code == 200
    assert archivist.post("/holds/new", data={"kind": "household", "ident": number,
                                              "reason": ""}).status_code == 400
    r = archivist.post("/holds/new", data={"kind": "household", "ident": number,
                                           "reason": "信访复议中"})
    assert r.status_code == 302 and "held=placed" in r.location
    listing = archivist.get("/holds/")
    assert number in listing.text and "信访复议中" in listing.text
    # a list drafted now leaves it out
    reviewer = login(app, "reviewer")
    r = reviewer.post("/destruction/new", data={"region": EAST, "due_within": "0"})
    assert r.status_code == 302
    n = _list_no(r.location)
    shown = reviewer.get(f"/destruction/{n}").text
    assert "220381105012-0001" in shown and number not in shown
    assert reviewer.post(f"/destruction/{n}/cancel", data={"comment": "测试"}).status_code == 302
    # lifted, with a reason
    r = archivist.post("/holds/lift", data={"kind": "household", "ident": number,
                                            "reason": "复议结束"})
    assert r.status_code == 302 and "held=lifted" in r.location
    assert number not in archivist.get("/holds/").text


def test_a_list_from_draft_to_certificate_with_four_people(app, archive):
    both, approver = login(app, "both"), login(app, "approver")
    witness_a, witness_b = login(app, "witness-a"), login(app, "witness-b")
    reviewer, auditor, clerk = login(app, "reviewer"), login(app, "auditor"), login(app, "clerk")

    # drafted and submitted by one who holds the approver role too
    r = both.post("/destruction/new", data={"region": EAST, "due_within": "0"})
    assert r.status_code == 302
    n = _list_no(r.location)
    shown = both.get(f"/destruction/{n}")
    for number in STOPPED:
        assert number in shown.text
    # the retention period and the time kept, in the reader's language (printed: 停保后3年)
    assert "3 years after the stop" in shown.text and "停保后" not in shown.text
    assert re.search(r"\d+ years?( \d+ months?)?</td>", shown.text)
    assert "停保后3年" in login(app, "reviewer", lang="zh").get(f"/destruction/{n}").text
    assert both.post(f"/destruction/{n}/submit").status_code == 302
    # ...still cannot approve it: the page says why and offers no button
    page = both.get(f"/destruction/{n}/approve")
    assert "drew up list" in page.text and 'id="confirm"' not in page.text
    assert both.post(f"/destruction/{n}/approve").status_code == 409

    # the approver returns it with a comment (required), the reviewer takes one off
    assert approver.post(f"/destruction/{n}/return", data={"comment": ""}).status_code == 400
    assert approver.post(f"/destruction/{n}/return",
                         data={"comment": "王五户尚有争议"}).status_code == 302
    assert "王五户尚有争议" in both.get(f"/destruction/{n}").text
    with archive.Session() as s:
        from records.model import DestructionList
        lst = s.get(DestructionList, n)
        wangwu = next(i.dossier_id for i in lst.items if i.household_no == STOPPED[2])
    assert both.post(f"/destruction/{n}/remove/{wangwu}").status_code == 302
    assert both.post(f"/destruction/{n}/submit").status_code == 302
    assert approver.post(f"/destruction/{n}/approve").status_code == 302

    # witnesses: not the approver (who lacks the role anyway), not twice the same person
    assert approver.get(f"/destruction/{n}/witness").status_code == 404
    assert witness_a.post(f"/destruction/{n}/witness").status_code == 302
    again = witness_a.get(f"/destruction/{n}/witness")
    assert "second witness must be someone else" in again.text
    # not executed before the second witness
    assert "two witnesses" in reviewer.get(f"/destruction/{n}/execute").text
    assert witness_b.post(f"/destruction/{n}/witness").status_code == 302
    # the auditor reads, and is offered no step
    view = auditor.get(f"/destruction/{n}")
    assert view.status_code == 200 and 'id="execute-list"' not in view.text
    assert auditor.get(f"/destruction/{n}/execute").status_code == 404
    assert clerk.get(f"/destruction/{n}").status_code == 404

    # carrying it out is queued as a job (the list's page says so); a worker runs it
    r = reviewer.post(f"/destruction/{n}/execute")
    assert r.status_code == 302 and r.location.endswith(f"/destruction/{n}")
    queued = reviewer.get(r.location).text
    job_id = _queued_job(queued)
    assert f"Carrying out list {n} runs as job {job_id}; the jobs page" in queued
    _work(archive, job_id)
    done = reviewer.get(f"/destruction/{n}")
    assert 'id="destroy-job"' not in done.text
    assert 'id="certificate-pdf"' in done.text
    data = auditor.get(f"/api/destruction/{n}").get_json()
    assert data["status"] == "executed"
    assert {i["household"]: i["status"] for i in data["items"]} == {
        STOPPED[0]: "destroyed", STOPPED[1]: "destroyed"}
    pdf = auditor.get(f"/destruction/{n}/certificate.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert auditor.get(f"/destruction/{n}/list.pdf").data.startswith(b"%PDF")
    # the lists and the home page show it
    assert f'data-list="{n}"' in auditor.get("/destruction/").text

    # the destroyed dossier: its page says so; its pages cannot be opened
    reviewer.post(f"/household/{STOPPED[0]}/purpose", data={"purpose": "审核"})
    page = reviewer.get(f"/household/{STOPPED[0]}")
    assert 'id="destroyed-notice"' in page.text and f"list {n}" in page.text
    assert "open-document" not in page.text
    with archive.Session() as s:
        h = s.scalar(select(Household).where(Household.number == STOPPED[0]))
        document_id = h.dossier.documents[0].id
    viewer = reviewer.get(f"/document/{document_id}/page/1")
    assert viewer.status_code == 410 and f"list {n}" in viewer.text
    archivist = login(app, "archivist")  # the reviewer may not download; an archivist may
    archivist.post(f"/household/{STOPPED[0]}/purpose", data={"purpose": "审核"})
    download = archivist.get(f"/document/{document_id}/download")
    assert download.status_code == 410 and f"list {n}" in download.text
    # search finds nothing of it
    assert STOPPED[0] not in reviewer.get("/?q=zhangsan").text


def _job_rows(archive) -> int:
    from sqlalchemy import func

    from records.model import Job
    with archive.Session() as s:
        return s.scalar(select(func.count(Job.id)))


def test_carrying_out_a_list_is_one_background_job_that_its_executor_follows(app, archive):
    """The dossiers still due (after the walk above: the one it took off) on a list: a
    submission before the second witness is refused with the rules' sentence and stores no
    job; queued from the console with --background, a second submission (browser or
    service) is refused; the list's page shows the job instead of the button; the reviewer
    who executes it follows it in /api/jobs to the end."""
    from click.testing import CliRunner

    from ingest.jobs import submit_destruction
    from records.destruction import OutOfTurn
    from records.model import AuditEvent
    from retention_support import principal
    from web.cli import main

    both, approver, reviewer = login(app, "both"), login(app, "approver"), login(app, "reviewer")
    r = both.post("/destruction/new", data={"region": EAST, "due_within": "0"})
    n = _list_no(r.location)
    dossiers = len(reviewer.get(f"/api/destruction/{n}").get_json()["items"])
    assert dossiers >= 1
    assert both.post(f"/destruction/{n}/submit").status_code == 302
    assert approver.post(f"/destruction/{n}/approve").status_code == 302
    assert login(app, "witness-a").post(f"/destruction/{n}/witness").status_code == 302

    # one witness: refused at submission, with the sentence execute says, recorded; no job
    before = _job_rows(archive)
    with pytest.raises(OutOfTurn, match=r"two witnesses before it is executed \(1 of 2"):
        submit_destruction(archive, principal(archive, "reviewer"), n)
    assert reviewer.post(f"/destruction/{n}/execute").status_code == 409
    assert _job_rows(archive) == before
    with archive.Session() as s:
        refused = s.scalar(select(AuditEvent).where(
            AuditEvent.action == "destruction_execute", AuditEvent.outcome == "refused",
            AuditEvent.object_id == str(n), AuditEvent.actor == "reviewer"))
    assert refused is not None and "two witnesses" in refused.detail

    # queued from the console as the reviewer: one job, and only one
    assert login(app, "witness-b").post(f"/destruction/{n}/witness").status_code == 302
    console = ["--home", str(archive.settings.home), "--key-file",
               str(archive.settings.master_key_file), "destruction", "execute", str(n),
               "--background", "--as", "reviewer"]
    queued = CliRunner().invoke(main, [*console, "--json"])
    assert queued.exit_code == 0, queued.output
    job_id = json.loads(queued.output)["job"]
    again = CliRunner().invoke(main, console)
    assert again.exit_code == 4 and f"list {n} is being carried out already, by job {job_id}" \
        in again.output
    here = CliRunner().invoke(main, console[:-3] + console[-2:])  # in the foreground: not beside it
    assert here.exit_code == 4 and f"by job {job_id}" in here.output, here.output
    assert reviewer.get(f"/api/destruction/{n}").get_json()["status"] != "executed"
    with pytest.raises(OutOfTurn, match=f"by job {job_id}"):
        submit_destruction(archive, principal(archive, "approver"), n)
    confirm = reviewer.get(f"/destruction/{n}/execute")
    assert f"by job {job_id}" in confirm.text and 'id="confirm"' not in confirm.text
    assert reviewer.post(f"/destruction/{n}/execute").status_code == 409
    assert _job_rows(archive) == before + 1
    page = reviewer.get(f"/destruction/{n}").text
    assert _queued_job(page) == job_id and f"/jobs#job-{job_id}" in page
    assert 'id="execute-list"' not in page
    assert "正在执行本清册的销毁" in login(app, "reviewer", "zh").get(f"/destruction/{n}").text

    # the executor sees it (the reviewer holds `jobs` for this), waiting, then done
    mine = reviewer.get("/api/jobs").get_json()
    assert [(j["id"], j["kind"], j["state"], j["list"]) for j in mine[:1]] == [
        (job_id, "destroy", "queued", n)]
    _work(archive, job_id)
    job = reviewer.get("/api/jobs").get_json()[0]
    assert job["state"] == "done", job
    assert job["progress"] == {"done": dossiers, "total": dossiers}
    assert job["summary"] == f"list {n}: {dossiers} destroyed"
    assert f"/destruction/{n}" in reviewer.get("/jobs").text
    assert reviewer.get(f"/api/destruction/{n}").get_json()["status"] == "executed"
    shown = reviewer.get(f"/destruction/{n}").text
    assert 'id="destroy-job"' not in shown and 'id="certificate-pdf"' in shown
    # another reviewer's job is not the approver's to see
    assert all(j["id"] != job_id for j in approver.get("/api/jobs").get_json())
