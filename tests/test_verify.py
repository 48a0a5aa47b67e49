"""四性检测: `hudang verify` finds each kind of damage under the property it breaks, repairs
what can be rebuilt, lists what cannot, and records its run.

Real parts: an archive with really ingested pages (``browser_support.build_world``: OCR,
encryption, catalogue, index), damaged the way a bad disk block, a slip of the hand or an
insider would damage it, and the command run in-process through click's runner.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from browser_support import PASSWORD, build_world
from records.model import AuditEvent, Document, Page, VerificationRun
from web.cli import main


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("verify"))


@pytest.fixture
def home(world, tmp_path, no_hudang_env):
    """A private copy of the world's data home (same key), and a way to run hudang on it."""
    return world.copy(tmp_path)


def hudang(w, *args):
    return CliRunner().invoke(main, ["--home", str(w.home), "--key-file", str(w.key_file), *args])


def report(w, *args) -> tuple[int, dict]:
    result = hudang(w, "verify", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def found(rep: dict) -> set[tuple[str, str, int | None]]:
    """(property, kind, document) of every finding that is not a note."""
    return {(f["property"], f["kind"], f["document_id"]) for f in rep["findings"] if not f["note"]}


def blob_path(w, ref: str):
    return w.home / "blobs" / ref[:2] / ref[2:4] / ref


def rows(w):
    archive = w.open()
    with archive.Session() as s:
        a = s.get(Document, w.a.document_id)
        b = s.get(Document, w.b.document_id)
        out = (a, a.pages[0], b, b.pages[0])
    return archive, out


def test_an_intact_archive_passes_and_the_run_is_recorded(home):
    code, rep = report(home)
    assert code == 0 and rep["passed"], rep["findings"]
    assert rep["counts"]["documents"] == 2 and rep["counts"]["originals"] == 2
    # 2 documents x (archival PDF, file as received, 1 access image, 1 page text)
    assert rep["counts"]["blobs"] == 8
    archive = home.open()
    with archive.Session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "verify")).one()
        run = s.scalars(select(VerificationRun)).one()
    assert json.loads(event.detail)["result"] == "passed" and run.passed
    assert json.loads(run.report)["counts"]["blobs"] == 8
    printed = hudang(home, "verify")
    for heading in ("authenticity (真实性)", "integrity (完整性)", "usability (可用性)",
                    "security (安全性)", "result: passed"):
        assert heading in printed.stdout


def test_five_kinds_of_damage_each_under_its_property_and_the_rebuildable_repaired(home):
    archive, (a, a_page, b, b_page) = rows(home)
    # one byte of a's access image flipped (a bad disk block)
    image = blob_path(home, a_page.image_ref)
    raw = bytearray(image.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    image.write_bytes(bytes(raw))
    # b's page text deleted
    blob_path(home, b_page.text_ref).unlink()
    # a stray blob: a file with no catalogue row
    stray = secrets.token_hex(16)
    blob_path(home, stray).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(blob_path(home, a.pdf_ref), blob_path(home, stray))
    # b taken out of the search index
    archive.index.remove_document(b.id)
    # a's page count altered in the catalogue
    with archive.Session() as s, s.begin():
        s.execute(update(Document).where(Document.id == a.id).values(page_count=3))
    archive.close()

    code, rep = report(home)
    assert code == 6 and not rep["passed"]
    assert found(rep) == {("authenticity", "blob_altered", a.id),
                          ("integrity", "blob_missing", b.id),
                          ("integrity", "stray_blob", None),
                          ("integrity", "index_missing", b.id),
                          ("integrity", "page_count", a.id)}
    assert all(f["repairable"] for f in rep["findings"] if f["kind"] != "stray_blob")
    text_report = hudang(home, "verify")
    assert text_report.exit_code == 6
    assert "4 of 5 can be rebuilt with 'hudang verify --repair'" in text_report.stdout

    repaired = hudang(home, "verify", "--repair")
    assert repaired.exit_code == 6  # the stray cannot be repaired: it is listed
    assert repaired.stdout.count("[repaired]") == 4
    assert f"blob {stray} has no catalogue row" in repaired.stdout.split("not repaired:")[1]
    code, rep = report(home)
    assert found(rep) == {("integrity", "stray_blob", None)}
    # what was rebuilt reads again: the image decodes, the text is back, b is found
    archive, (a, a_page, b, b_page) = rows(home)
    try:
        assert archive.blobs.get(a_page.image_ref, a_page.image_key)[:3] == b"\xff\xd8\xff"
        assert "低保申请书" in archive.blobs.get(b_page.text_ref, b_page.text_key).decode()
        assert a.page_count == 1
        assert b.id in archive.index.document_ids()
    finally:
        archive.close()
    blob_path(home, stray).unlink()
    assert report(home)[0] == 0


def test_security_findings_plain_file_wrong_data_key_and_a_broken_audit_log(home):
    archive, (a, a_page, b, b_page) = rows(home)
    # b's archival PDF replaced by the plain PDF (someone with file access)
    pdf = archive.blobs.get(b.pdf_ref, b.pdf_key)
    blob_path(home, b.pdf_ref).write_bytes(pdf)
    # a's page text's wrapped key swapped for another object's
    with archive.Session() as s, s.begin():
        s.execute(update(Page).where(Page.id == a_page.id).values(text_key=b"\x01" + os.urandom(60)))
        s.execute(text("UPDATE audit_event SET actor = 'nobody' WHERE id = 3"))
    archive.close()
    code, rep = report(home)
    assert code == 6
    kinds = found(rep)
    assert ("security", "blob_not_encrypted", b.id) in kinds
    assert ("security", "key_unwrap", a.id) in kinds
    assert ("security", "audit_broken", None) in kinds
    plain = next(f for f in rep["findings"] if f["kind"] == "blob_not_encrypted")
    assert "a plain PDF" in plain["message"]
    repaired = hudang(home, "verify", "--repair")
    assert "[repaired]" not in repaired.stdout
    assert "restore it from the latest backup" in repaired.stdout


def test_usability_an_image_that_does_not_decode_and_a_pdf_that_does_not_open(home):
    archive, (a, a_page, b, b_page) = rows(home)
    garbage = archive.blobs.put(b"\xff\xd8\xff" + os.urandom(500))  # encrypted, but no image
    broken_pdf = archive.blobs.put(b"%PDF-1.7\n" + os.urandom(500))
    with archive.Session() as s, s.begin():
        s.execute(update(Page).where(Page.id == a_page.id).values(
            image_ref=garbage.ref, image_key=garbage.wrapped_key, image_sha256=garbage.sha256))
        s.execute(update(Document).where(Document.id == b.id).values(
            pdf_ref=broken_pdf.ref, pdf_key=broken_pdf.wrapped_key,
            pdf_sha256=broken_pdf.sha256, pdf_size=broken_pdf.size))
    archive.close()
    blob_path(home, a_page.image_ref).unlink()  # the replaced blob, no longer referred to
    blob_path(home, b.pdf_ref).unlink()
    code, rep = report(home)
    assert found(rep) == {("usability", "image_undecodable", a.id),
                          ("usability", "pdf_unreadable", b.id)}
    assert hudang(home, "verify", "--repair").exit_code == 6  # the PDF cannot be rebuilt
    code, rep = report(home)
    assert found(rep) == {("usability", "pdf_unreadable", b.id)}


def test_the_kept_original_is_checked_and_an_older_document_is_a_note(home):
    archive, (a, a_page, b, b_page) = rows(home)
    # the file as received is there, encrypted, and still the upload's SHA-256
    original = archive.blobs.get(a.original_ref, a.original_key)
    assert hashlib.sha256(original).hexdigest() == a.sha256 and len(original) == a.original_size
    assert original[:8] == b"\x89PNG\r\n\x1a\n"  # exactly as received, not the archival PDF
    # b as if ingested before originals were kept
    with archive.Session() as s, s.begin():
        s.execute(update(Document).where(Document.id == b.id).values(
            original_ref=None, original_key=None, original_size=None))
    archive.close()
    blob_path(home, b.original_ref).unlink()
    code, rep = report(home)
    assert code == 0, rep["findings"]
    [note] = [f for f in rep["findings"] if f["note"] and f["kind"] == "original_not_kept"]
    assert note["property"] == "authenticity" and note["document_id"] == b.id
    assert "ingested before catalogue version 0007" in note["message"]
    printed = hudang(home, "verify").stdout
    assert "note: original not kept (ingested before catalogue version 0007) for 1 document" \
        in printed
    # the kept original of a altered: an authenticity finding
    path = blob_path(home, a.original_ref)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x80
    path.write_bytes(bytes(raw))
    code, rep = report(home)
    assert code == 6
    assert found(rep) == {("authenticity", "blob_altered", a.id)}
    [altered] = [f for f in rep["findings"] if f["kind"] == "blob_altered"]
    assert altered["blob"] == "original"
    assert altered["message"].startswith(f"the file as received of document {a.id}")


def test_a_gap_in_the_document_numbers_of_a_dossier(home):
    archive, (a, *_rest) = rows(home)
    with archive.Session() as s, s.begin():
        s.execute(update(Document).where(Document.id == a.id).values(seq=3))
    archive.close()
    code, rep = report(home)
    assert code == 6
    [gap] = [f for f in rep["findings"] if f["kind"] == "seq_gap"]
    assert gap["property"] == "integrity"
    assert f"household {home.a.number} has no document number 1, 2" in gap["message"]


def test_the_last_report_on_screen_for_administrators_and_auditors_only(home):
    from records.catalogue import add_user
    from web.app import create_app

    archive = home.open()
    a_page = rows(home)[1][1]
    with archive.Session() as s, s.begin():
        add_user(s, "v-admin", PASSWORD, "administrator")
        add_user(s, "v-auditor", PASSWORD, "auditor", "220381106")  # b's township only
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)

    def signed_in(user):
        client = app.test_client()
        assert client.post("/login", data={"username": user, "password": PASSWORD}).status_code == 302
        return client

    admin = signed_in("v-admin")
    assert "尚未进行四性检测" in admin.get("/verification/").text
    blob_path(home, a_page.image_ref).unlink()
    assert report(home)[0] == 6
    page = admin.get("/verification/")
    assert page.status_code == 200
    assert "文件缺失" in page.text and "利用图像" in page.text and a_page.image_ref in page.text
    english = admin.get("/verification/", query_string={"lang": "en"}).text
    assert "file missing" in english and "integrity" in english
    downloaded = admin.get("/verification/report.json").get_json()
    assert [f["kind"] for f in downloaded["findings"]] == ["blob_missing"]
    # an auditor of the other township: the finding is about household a, so not listed
    regional = signed_in("v-auditor").get("/verification/")
    assert regional.status_code == 200 and a_page.image_ref not in regional.text
    assert signed_in(home.a.staff).get("/verification/").status_code == 404
    with archive.Session() as s:
        viewed = s.execute(select(AuditEvent.actor, AuditEvent.outcome)
                           .where(AuditEvent.action == "verify_view"))
        assert set(viewed) == {("v-admin", "allowed"), ("v-auditor", "allowed"),
                               (home.a.staff, "refused")}
    archive.close()
