"""Uploads and jobs in the browser (issues 14, 13 and 15): an archivist uploads scans to a
household's dossier, a worker ingests them, and the jobs page, ``/api/jobs`` and the
archivist's home page show each file's outcome; limits are enforced with a sentence and
store nothing; another archivist never sees the job, an administrator does.

Real parts: an archive with a household, the app through Flask's test client, the worker's
own code running the job (``ingest.jobs.Worker.run``, Tesseract on generated scans).
"""
from __future__ import annotations

import io

import markupsafe
import pytest
from sqlalchemy import func, select

from browser_support import PASSWORD
from conftest import make_archive
from crash_support import HOUSEHOLD, write_scan
from records.catalogue import add_user
from records.model import Document, Job, JobFile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs-web")
    archive = make_archive(root)
    archive = archive.reconfigured(archive.settings.with_values({
        "HUDANG_UPLOAD_MAX_FILES": "3", "HUDANG_UPLOAD_MAX_MB": "1",
        "HUDANG_OCR_ENGINE": "tesseract"}))
    with archive.Session() as s, s.begin():
        add_user(s, "archivist", PASSWORD, "archivist")
        add_user(s, "other-archivist", PASSWORD, "archivist")
        add_user(s, "admin", PASSWORD, "administrator")
    yield root, archive
    archive.close()


@pytest.fixture(scope="module")
def app(world):
    from web.app import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=world[1])


def sign_in(app, user: str):
    client = app.test_client()
    assert client.post("/login", data={"username": user, "password": PASSWORD}).status_code == 302
    return client


def _counts(archive) -> tuple[int, int]:
    with archive.Session() as s:
        return s.scalar(select(func.count(Job.id))), s.scalar(select(func.count(JobFile.id)))


def test_too_many_or_too_large_files_are_refused_with_a_sentence_and_nothing_is_kept(app, world):
    root, archive = world
    client = sign_in(app, "archivist")
    blobs_before = sorted(archive.blobs.iter_refs())
    before = _counts(archive)
    scan = write_scan(root / "small.tif", pages=1, variant=9).read_bytes()
    four = [(io.BytesIO(scan), f"p{i}.tif") for i in range(4)]
    r = client.post(f"/household/{HOUSEHOLD}/upload", data={"type": "application", "files": four},
                    content_type="multipart/form-data")
    assert r.status_code == 400
    assert "4 个文件超过了一次上传的上限（3 个）" in r.text  # web.sentences, in Chinese
    big = [(io.BytesIO(b"\0" * (1024 * 1024 + 1)), "big.pdf")]
    r = client.post(f"/household/{HOUSEHOLD}/upload", data={"type": "application", "files": big},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and "“big.pdf”大于 1 MB" in r.text
    assert _counts(archive) == before
    assert sorted(archive.blobs.iter_refs()) == blobs_before  # nothing half-stored


def test_an_upload_runs_as_a_job_and_each_file_ends_with_its_outcome(app, world):
    from ingest.jobs import Worker

    root, archive = world
    client = sign_in(app, "archivist")
    first = write_scan(root / "a.tif", pages=1, variant=1)
    second = write_scan(root / "b.tif", pages=1, variant=2)
    files = [(io.BytesIO(first.read_bytes()), "a.tif"), (io.BytesIO(second.read_bytes()), "b.tif"),
             (io.BytesIO(first.read_bytes()), "a-again.tif")]
    page = client.get(f"/household/{HOUSEHOLD}/upload")
    assert page.status_code == 200 and 'type="file" multiple' in page.text
    assert "upload.js" in page.text and "<script>" not in page.text  # CSP: no inline script
    r = client.post(f"/household/{HOUSEHOLD}/upload",
                    data={"type": "application", "date": "2025-03-01", "title": "申请材料",
                          "files": files}, content_type="multipart/form-data")
    assert r.status_code == 302 and "/jobs#job-" in r.location
    job_id = int(r.location.rsplit("-", 1)[1])
    waiting = client.get("/api/jobs").get_json()
    assert waiting[0]["id"] == job_id and waiting[0]["state"] == "queued"
    assert [f["outcome"] for f in waiting[0]["files"]] == [None, None, None]

    worker = Worker(archive)
    try:
        worker.run(job_id)
    finally:
        worker.close()

    done = client.get("/api/jobs").get_json()[0]
    assert done["state"] == "done" and done["summary"] == "2 stored, 1 duplicate"
    assert [f["outcome"] for f in done["files"]] == ["stored", "stored", "duplicate"]
    assert done["files"][2]["document_id"] == done["files"][0]["document_id"]
    with archive.Session() as s:
        doc = s.get(Document, done["files"][0]["document_id"])
        assert (doc.title, doc.date.isoformat(), doc.created_by) == \
            ("申请材料", "2025-03-01", "archivist")
    listing = client.get("/jobs").text
    assert f'id="job-{job_id}"' in listing and "已入库" in listing and "已在档案中" in listing
    home = client.get("/home").text
    recent = home.split('id="recent-jobs"')[1].split("</table>")[0]
    assert f'id="job-{job_id}"' in recent and "a-again.tif" in recent
    english = client.get("/jobs?lang=en").text
    assert "already in the dossier" in english

    other = sign_in(app, "other-archivist")
    assert other.get("/api/jobs").get_json() == []
    assert other.post(f"/jobs/{job_id}/retry").status_code == 404
    admin = sign_in(app, "admin")
    assert [j["id"] for j in admin.get("/api/jobs").get_json()] == [job_id]


def test_a_failed_upload_is_retried_from_the_jobs_page(app, world):
    from ingest.jobs import Worker

    root, archive = world
    client = sign_in(app, "archivist")
    files = [(io.BytesIO(b"GIF89a not really an image"), "broken.png")]
    r = client.post(f"/household/{HOUSEHOLD}/upload", data={"type": "application", "files": files},
                    content_type="multipart/form-data")
    job_id = int(r.location.rsplit("-", 1)[1])
    worker = Worker(archive)
    try:
        worker.run(job_id)
        failed = client.get("/api/jobs").get_json()[0]
        assert failed["state"] == "failed" and failed["error"].startswith("cannot ingest 'broken.png'")
        assert failed["files"][0]["outcome"] == "refused"
        page = client.get("/jobs?lang=en").text
        assert f'id="retry-{job_id}"' in page and str(markupsafe.escape(failed["error"])) in page
        r = client.post(f"/jobs/{job_id}/retry?lang=en", follow_redirects=True)
        assert f"Job {job_id} is queued again." in r.text
        assert client.get("/api/jobs").get_json()[0]["state"] == "queued"
        worker.run(job_id)
    finally:
        worker.close()
    again = client.get("/api/jobs").get_json()[0]
    assert again["state"] == "failed" and again["attempts"] == 2


def test_an_administrator_starts_a_verification_from_the_jobs_page(app, world):
    from ingest.jobs import Worker

    root, archive = world
    assert sign_in(app, "archivist").post("/jobs/start", data={"kind": "verify"}).status_code == 404
    admin = sign_in(app, "admin")
    assert 'id="start-verify"' in admin.get("/jobs").text
    r = admin.post("/jobs/start", data={"kind": "verify"})
    assert r.status_code == 302
    job_id = int(r.location.rsplit("-", 1)[1])
    worker = Worker(archive)
    try:
        worker.run(job_id)
    finally:
        worker.close()
    job = next(j for j in admin.get("/api/jobs").get_json() if j["id"] == job_id)
    assert job["kind"] == "verify" and job["state"] == "done", job
    assert job["summary"].endswith("no findings")


def _manifest(*rows: str) -> bytes:
    return ("file,household_no,doc_type,seq,date,title,pages\n" + "\n".join(rows) + "\n"
            ).encode("utf-8")


def test_a_box_uploaded_with_its_manifest_runs_as_one_batch_and_a_retry_stores_nothing_twice(
        app, world):
    """Issue 15: a whole box from the browser, as ``hudang ingest-box`` runs a directory:
    rows that fail say why and the rest go in; files the manifest does not name are refused
    before anything is stored; a retry after the mend stores the rest and nothing twice."""
    from ingest.jobs import Worker
    from records.catalogue import add_household
    from records.model import Batch, BatchRow

    root, archive = world
    client = sign_in(app, "archivist")
    form = client.get("/batches/upload")
    assert form.status_code == 200 and 'name="manifest"' in form.text
    assert 'id="upload-box"' in client.get("/batches/").text
    blank = client.get("/batches/manifest.csv")  # the form links a blank manifest to fill in
    assert blank.status_code == 200 and "attachment" in blank.headers["Content-Disposition"]
    assert blank.data.decode("utf-8-sig").startswith("文件,户号,材料类别,顺序号,日期,题名,页数")
    assert 'id="manifest-template"' in form.text
    a = write_scan(root / "box-a.tif", pages=1, variant=21).read_bytes()
    b = write_scan(root / "box-b.tif", pages=1, variant=22).read_bytes()
    c = write_scan(root / "box-c.tif", pages=2, variant=23).read_bytes()
    manifest = _manifest(f"box-a.tif,{HOUSEHOLD},application,,2025-04-01,申请书,1",
                         "box-b.tif,220381105012-0077,application,,,,",
                         f"box-c.tif,{HOUSEHOLD},income_certificate,,,,3",
                         f"box-missing.tif,{HOUSEHOLD},income_certificate,,,,")

    # a file the manifest does not name: refused with a sentence, nothing kept
    blobs_before, counts_before = sorted(archive.blobs.iter_refs()), _counts(archive)
    r = client.post("/batches/upload?lang=en", content_type="multipart/form-data", data={
        "manifest": (io.BytesIO(manifest), "manifest.csv"),
        "files": [(io.BytesIO(a), "box-a.tif"), (io.BytesIO(b"x" * 10), "notes.tif")]})
    assert r.status_code == 400
    assert "&#39;notes.tif&#39; is not named in manifest.csv" in r.text
    beside = r.text.split('id="f-files-error"')[1].split("</p>")[0]  # beside its field
    assert "is not named in manifest.csv" in beside
    r = client.post("/batches/upload?lang=en", content_type="multipart/form-data", data={
        "files": [(io.BytesIO(a), "box-a.tif")]})
    assert r.status_code == 400 and "Choose the box&#39;s manifest.csv" in r.text
    assert "Choose the box&#39;s manifest.csv" in r.text.split('id="f-manifest-error"')[1]
    assert sorted(archive.blobs.iter_refs()) == blobs_before and _counts(archive) == counts_before

    # the folder's files, its manifest among them (as a folder picker sends them); the
    # manifest is not one of the scans the limit of 3 counts
    r = client.post("/batches/upload", content_type="multipart/form-data", data={
        "profile": "standard",
        "files": [(io.BytesIO(a), "box/box-a.tif"), (io.BytesIO(b), "box/box-b.tif"),
                  (io.BytesIO(c), "box/box-c.tif"), (io.BytesIO(manifest), "box/manifest.csv")]})
    assert r.status_code == 302 and "/jobs#job-" in r.location
    job_id = int(r.location.rsplit("-", 1)[1])
    queued = client.get("/api/jobs").get_json()[0]
    assert queued["id"] == job_id and queued["kind"] == "box"
    assert [f["name"] for f in queued["files"]] == ["box-a.tif", "box-b.tif", "box-c.tif"]
    assert queued["manifest"] == "manifest.csv" and queued["progress"]["total"] == 3

    worker = Worker(archive)
    try:
        worker.run(job_id)
        failed = client.get("/api/jobs").get_json()[0]
        assert failed["state"] == "failed", failed
        assert failed["error"].startswith(f"3 of 4 rows of batch {failed['batch']} failed")
        outcomes = {f["name"]: (f["outcome"], f["sentence"]) for f in failed["files"]}
        assert outcomes["box-a.tif"] == ("stored", None)
        assert outcomes["box-b.tif"][0] == "refused" and \
            "220381105012-0077" in outcomes["box-b.tif"][1]
        assert outcomes["box-c.tif"][0] == "refused"
        assert outcomes["box-c.tif"][1].startswith(
            "cannot ingest 'box-c.tif': 2 pages were scanned but the manifest says 3")
        assert failed["progress"] == {"done": 3, "total": 3}
        batch_id = failed["batch"]
        page = client.get(f"/batches/{batch_id}?lang=zh").text
        assert f"在网页上传，后台任务 {job_id}" in page
        rows = page.split('id="batch-rows"')[1].split("</table>")[0]
        assert "box-missing.tif" in rows and "box-b.tif" in rows
        # the refusals in the reader's language (web.sentences), as the CLI says them in English
        assert "无法入库“box-missing.tif”：盒中没有这个文件" in rows
        assert "未找到低保户 220381105012-0077" in rows
        assert "扫描了 2 页，清单为 3 页" in rows and "cannot ingest" not in rows
        jobs_zh = client.get("/jobs").text.split(f'id="job-{job_id}"')[1].split("</tr>")[0]
        assert f"批次 {batch_id} 的 4 行中有 3 行失败；第一处：第 3 行 box-b.tif：失败：" \
            "未找到低保户 220381105012-0077" in jobs_zh
        assert "cannot ingest" not in jobs_zh and "was not found" not in jobs_zh
        assert f'href="/batches/{batch_id}"' in client.get("/jobs").text
        with archive.Session() as s:
            batch = s.get(Batch, batch_id)
            assert batch.source == f"upload job {job_id}" and batch.operator == "archivist"
            stored_a = s.scalar(select(BatchRow.document_id).where(
                BatchRow.batch_id == batch_id, BatchRow.item == "box-a.tif"))
            doc = s.get(Document, stored_a)
            assert (doc.title, doc.date.isoformat()) == ("申请书", "2025-04-01")
            staged = {f.name: f.staged_ref for f in s.get(Job, job_id).files}
        assert staged["box-a.tif"] is None  # stored: its staged copy is shredded
        assert staged["box-b.tif"] and staged["manifest.csv"]  # kept for the retry

        # the household is added; the retry stores b, fails c again, and a is not run again
        with archive.Session() as s, s.begin():
            add_household(s, "220381105012-0077", "李四", "220381105012")
        docs_before = _document_count(archive)
        assert client.post(f"/jobs/{job_id}/retry").status_code == 302
        worker.run(job_id)
    finally:
        worker.close()
    again = client.get("/api/jobs").get_json()[0]
    assert again["state"] == "failed" and again["batch"] == batch_id
    assert again["error"].startswith(f"2 of 3 rows of batch {batch_id} failed"), again["error"]
    outcomes = {f["name"]: f["outcome"] for f in again["files"]}
    assert outcomes == {"box-a.tif": "stored", "box-b.tif": "stored", "box-c.tif": "refused"}
    assert _document_count(archive) == docs_before + 1
    with archive.Session() as s:
        rows = s.scalars(select(BatchRow).where(BatchRow.batch_id == batch_id)).all()
        assert sorted((r.item, r.outcome.value) for r in rows) == [
            ("box-a.tif", "stored"), ("box-b.tif", "stored"), ("box-c.tif", "failed"),
            ("box-missing.tif", "failed")]
        assert s.get(Batch, batch_id).runs == 2


def _document_count(archive) -> int:
    with archive.Session() as s:
        return s.scalar(select(func.count(Document.id)))
