"""Sampling acceptance (验收) of a digitisation batch (ingest.acceptance): a sample drawn,
the batch's operator refused, one failure and the rest passes, the batch rejected, the
acceptance report kept encrypted, the failed document reworked with a rescan, a new round.

Real parts: a SQLite archive, a box of generated one-page scans ingested with the one
pipeline (the pages carry a text layer, so no page needs OCR), the blob store, the PDF read
back with pikepdf, the Flask app through its test client, the ``hudang`` command.
"""
from __future__ import annotations

import hashlib
import io
import json

import pikepdf
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from conftest import make_archive
from ingest import acceptance
from ingest import synthetic_box as sb
from ingest.acceptance import AcceptanceRefused
from ingest.box import from_directory, ingest_box
from records.door import Refused
from records.kinds import BatchState
from records.model import AuditEvent, Batch, Correction, Document
from records.policy import Principal, Role
from records.problems import Problems

A = "220381105012-0042"
ARCHIVIST = Principal("archivist-1", frozenset({Role.archivist}))
INSPECTOR = Principal("inspector-1", frozenset({Role.inspector}))
STAFF = Principal("staff-1", frozenset({Role.staff}))
FAIL_REASON = "第1页倾斜严重，字迹不清"


@pytest.fixture(autouse=True)
def _env(no_hudang_env):
    pass


def _scan(path, lines, seed):
    sb.save_pdf(path, [(sb.note_page(lines, seed=seed), (300, 300), " ".join(lines))])
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An archive whose batch of three one-page documents was run by ``archivist-1``, under
    settings that sample the whole batch (100 %) and accept at 95 %."""
    root = tmp_path_factory.mktemp("acceptance")
    archive = make_archive(root)
    archive = archive.reconfigured(archive.settings.with_values(
        {"HUDANG_ACCEPT_SAMPLE_PERCENT": "100", "HUDANG_ACCEPT_PASS_PERCENT": "95"}))
    folder = root / "box1"
    folder.mkdir()
    rows = []
    for n, (name, doc_type, lines) in enumerate([
            ("a.pdf", "申请书", ["个人申请书", "申请人 王德胜"]),
            ("b.pdf", "入户调查表", ["入户调查表", "家庭人口 3"]),
            ("c.pdf", "收入证明", ["收入证明", "月收入 300 元"])]):
        _scan(folder / name, lines, 10 * (n + 1))
        rows.append({"file": name, "household_no": A, "doc_type": doc_type, "pages": 1})
    sb.write_manifest(folder / "manifest.csv", rows)
    result = ingest_box(archive, ARCHIVIST, from_directory(folder))
    yield root, archive, result.batch_id
    archive.close()


def _documents(archive, batch_id):
    with archive.Session() as s:
        return sorted(s.scalars(select(Document.id).where(Document.batch_id == batch_id)))


def _events(archive, action, outcome=None):
    with archive.Session() as s:
        query = select(AuditEvent).where(AuditEvent.action == action)
        if outcome:
            query = query.where(AuditEvent.outcome == outcome)
        return list(s.scalars(query))


def _pdf_text(data: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        return "".join(page.get_textpage().get_text_bounded() for page in document)
    finally:
        document.close()


def test_sample_size_is_the_rate_of_stored_documents_and_at_least_one():
    assert acceptance.sample_size(5, 3) == 1
    assert acceptance.sample_size(5, 40) == 2
    assert acceptance.sample_size(5, 41) == 3
    assert acceptance.sample_size(100, 3) == 3


def test_a_sampling_acceptance_with_one_failure_and_its_rework(world, tmp_path):
    root, archive, batch_id = world
    documents = _documents(archive, batch_id)
    assert len(documents) == 3
    assert acceptance.show(archive, INSPECTOR, batch_id).can_draw

    drawn = acceptance.draw(archive, INSPECTOR, batch_id)
    assert [i.document_id for i in drawn.items] == documents  # 100 %: the whole batch
    assert drawn.round == 1 and drawn.threshold == 95
    with pytest.raises(AcceptanceRefused, match="already has a sample"):
        acceptance.draw(archive, INSPECTOR, batch_id)

    # separation of duties: the account that ran the batch may not judge it, even when it
    # also holds the inspector's role; the refusal is recorded
    both = Principal(ARCHIVIST.name, frozenset({Role.archivist, Role.inspector}))
    with pytest.raises(AcceptanceRefused, match="may not judge its sample"):
        acceptance.judge(archive, both, batch_id, documents[0], "pass")
    refused = _events(archive, "accept_judge", "refused")
    assert [e.actor for e in refused] == ["archivist-1"]

    failed, *passed = documents
    with pytest.raises(Problems, match="say why the document fails"):
        acceptance.judge(archive, INSPECTOR, batch_id, failed, "fail", "  ")
    acceptance.judge(archive, INSPECTOR, batch_id, failed, "fail", FAIL_REASON)
    acceptance.judge(archive, INSPECTOR, batch_id, passed[0], "pass")
    decided = acceptance.judge(archive, INSPECTOR, batch_id, passed[1], "pass")
    # 2 of 3 = 66.7 % < 95 %: rejected, the failed document goes back for rework
    assert decided.outcome == "rejected" and decided.passes == 2 and decided.fails == 1
    with archive.Session() as s:
        batch = s.get(Batch, batch_id)
        assert batch.state is BatchState.rejected
        acc = s.scalars(select(acceptance.Acceptance)
                        .where(acceptance.Acceptance.batch_id == batch_id)).one()
        report_ref, report_sha = acc.report_ref, acc.report_sha256
    assert [i.rework for i in decided.items] == ["pending", "none", "none"]
    assert [e.actor for e in _events(archive, "accept_decide")] == ["inspector-1"]
    assert json.loads(_events(archive, "accept_decide")[0].detail)["outcome"] == "rejected"

    # the report: kept encrypted, names the batch, the verdicts, the reason and the reviewer
    blob_file = next(p for p in archive.settings.blob_dir.rglob("*") if report_ref in p.name)
    assert b"%PDF" not in blob_file.read_bytes()
    pdf = acceptance.report(archive, INSPECTOR, batch_id)
    assert hashlib.sha256(pdf).hexdigest() == report_sha
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        assert len(opened.pages) >= 2  # the cover and the table
    text = _pdf_text(pdf)
    for words in (f"批次 {batch_id}", "不合格", "合格", FAIL_REASON, "inspector-1",
                  "验收不合格"):
        assert words in text, words
    # a staff member may not see batches at all (the same answer as a missing batch)
    with pytest.raises(Refused):
        acceptance.report(archive, STAFF, batch_id)

    # no new round while the rework is pending
    with pytest.raises(AcceptanceRefused, match="to rework before a new sample"):
        acceptance.draw(archive, INSPECTOR, batch_id)
    assert [i.document_id for i in acceptance.pending_rework(archive, ARCHIVIST)] == [failed]

    # rework: the archivist's rescan replaces the failed document, old blobs shredded
    with archive.Session() as s:
        doc = s.get(Document, failed)
        old_sha, old_pdf = doc.sha256, doc.pdf_ref
    rescan = _scan(tmp_path / "rescan.pdf", ["个人申请书", "申请人 王德胜", "重新扫描"], 99)
    with pytest.raises(AcceptanceRefused, match="no rework pending"):
        acceptance.rework(archive, ARCHIVIST, batch_id, passed[0], rescan)
    done = acceptance.rework(archive, ARCHIVIST, batch_id, failed, rescan)
    assert done.rework == "done" and done.correction_id is not None
    with archive.Session() as s:
        doc = s.get(Document, failed)
        assert doc.sha256 != old_sha
        assert doc.sha256 == hashlib.sha256(rescan.read_bytes()).hexdigest()
        correction = s.get(Correction, done.correction_id)
        assert correction.kind == "replace_document"
        assert json.loads(correction.before)["pdf"] == old_pdf
        assert json.loads(correction.after)["pdf"] == doc.pdf_ref
    assert old_pdf not in set(archive.blobs.iter_refs())
    assert acceptance.pending_rework(archive, ARCHIVIST) == []

    # a new round can be drawn now
    again = acceptance.draw(archive, INSPECTOR, batch_id)
    assert again.round == 2 and len(again.items) == 3


# -- the browser, the JSON and the command line ------------------------------------------------
PASSWORD = "Accept-password-1"


@pytest.fixture(scope="module")
def web_batch(world):
    """A second batch of the same box's files under another source, for the screens."""
    root, archive, _batch_id = world
    folder = root / "box2"
    folder.mkdir()
    rows = []
    for n, (name, doc_type, lines) in enumerate([
            ("d.pdf", "申请书", ["个人申请书", "申请人 王德胜", "二"]),
            ("e.pdf", "收入证明", ["收入证明", "月收入 200 元"])]):
        _scan(folder / name, lines, 50 + n)
        rows.append({"file": name, "household_no": A, "doc_type": doc_type, "pages": 1})
    sb.write_manifest(folder / "manifest.csv", rows)
    return ingest_box(archive, ARCHIVIST, from_directory(folder)).batch_id


def _signed_in(app, name: str):
    client = app.test_client()
    assert client.post("/login", data={"username": name, "password": PASSWORD}
                       ).status_code == 302
    return client


def test_an_inspector_draws_and_judges_in_the_browser_and_staff_are_refused(world, web_batch):
    from records.catalogue import add_user
    from web.app import create_app

    _root, archive, _first = world
    with archive.Session() as s, s.begin():
        add_user(s, "qc-1", PASSWORD, "inspector", None)
        add_user(s, "clerk-1", PASSWORD, "staff", None)
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)
    inspector = _signed_in(app, "qc-1")
    home = inspector.get("/home?lang=en").text  # the inspector lands on the batches to accept
    assert "Batches awaiting acceptance" in home and f"/batches/{web_batch}#acceptance" in home
    page = inspector.get(f"/batches/{web_batch}?lang=en")
    assert page.status_code == 200 and "Draw a sample" in page.text
    assert "验收" in inspector.get(f"/batches/{web_batch}?lang=zh").text
    assert inspector.post(f"/batches/{web_batch}/acceptance/draw").status_code == 302
    sample = inspector.get(f"/api/batches/{web_batch}/acceptance").get_json()
    assert sample["state"] == "sampling"
    items = [i["document_id"] for i in sample["rounds"][-1]["items"]]
    assert len(items) == 2  # 100 % of two stored documents
    # a failure without a reason is refused beside its document, with a sentence
    missing = inspector.post(f"/batches/{web_batch}/acceptance/judge?lang=en",
                             data={f"verdict-{items[0]}": "fail"})
    assert missing.status_code == 400 and "say why the document fails" in missing.text.lower()
    judged = inspector.post(f"/batches/{web_batch}/acceptance/judge",
                            data={f"verdict-{d}": "pass" for d in items})
    assert judged.status_code == 302
    done = inspector.get(f"/api/batches/{web_batch}/acceptance").get_json()
    assert done["state"] == "accepted" and done["rounds"][-1]["pass_rate"] == 100
    report = inspector.get(f"/batches/{web_batch}/acceptance/report.pdf")
    assert report.status_code == 200 and report.data.startswith(b"%PDF")
    # JSON: the same service; nothing more to draw on an accepted batch (a conflict)
    again = inspector.post(f"/api/batches/{web_batch}/acceptance/draw")
    assert again.status_code == 409 and "accepted already" in again.get_json()["error"]
    # a staff member may not see batches or their acceptance: the same 404 as a missing one
    clerk = _signed_in(app, "clerk-1")
    for url in (f"/batches/{web_batch}", f"/api/batches/{web_batch}/acceptance",
                f"/batches/{web_batch}/acceptance/report.pdf"):
        assert clerk.get(url).status_code == 404, url
    assert clerk.post(f"/batches/{web_batch}/acceptance/draw").status_code == 404
    refused = _events(archive, "accept_draw", "refused")
    assert "clerk-1" in [e.actor for e in refused]


def test_accept_show_prints_json_on_the_command_line(world, web_batch):
    from web.cli import main

    root, archive, _first = world
    result = CliRunner().invoke(main, ["--home", str(root / "home"), "--key-file",
                                       str(root / "keys" / "master.key"),
                                       "accept", "show", str(web_batch), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["batch"] == web_batch and shown["state"] == "accepted"
    assert shown["rounds"][0]["outcome"] == "accepted"
