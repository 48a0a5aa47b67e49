"""Corrections without re-ingesting (ingest.corrections): a page's OCR text line by line,
a page turned, a page and a whole document replaced by a rescan.

Real parts: a SQLite archive, real Tesseract on small generated scans (crash_support's
two-line-high pages), the real index through ``hudang search`` and ``/api/search``, the PDF's
text layer read back with pdfium as a viewer would.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select

from conftest import make_archive
from crash_support import HOUSEHOLD, broken_invariants, write_scan
from ingest import corrections
from ingest.corrections import CorrectionRefused
from ingest.exceptions import IngestError
from ingest.pipeline import IngestRequest, Ingestor
from records.model import AuditEvent, Correction, Document, Page, PageScan
from records.policy import Principal, Role

HUDANG = str(Path(sys.executable).with_name("hudang"))
ARCHIVIST = Principal("archivist-1", frozenset({Role.archivist}))
NEW_WORD = "鹦鹉螺"  # not on any generated page


def _one_page(path: Path, lines: tuple[str, ...], *, turn: int = 0, dpi: int = 150) -> Path:
    """A one-page PNG scan (820 x 420 px, stated as ``dpi``) of ``lines``, stored turned
    ``turn`` degrees counter-clockwise."""
    from PIL import Image, ImageDraw

    from ingest.fonts import cjk_font

    image = Image.new("L", (820, 420), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 95 * i), line, font=cjk_font(34), fill=0)
    image.rotate(turn, expand=True).save(path, dpi=(dpi, dpi))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("corrections")
    archive = make_archive(root)
    with Ingestor(archive, engine="tesseract", workers=1) as ingestor:
        doc = ingestor.ingest(IngestRequest(path=write_scan(root / "scan.tif", pages=2,
                                                            variant=0),
                                            household=HOUSEHOLD, doc_type="申请书",
                                            actor="test"))
        yield root, archive, ingestor, doc.document_id
    archive.close()


def _page(archive, document_id: int, number: int) -> Page:
    with archive.Session() as s:
        page = s.scalar(select(Page).where(Page.document_id == document_id,
                                           Page.number == number))
        s.expunge(page)
        return page


def _pdf_text(archive, document_id: int, number: int) -> str:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        pdf = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[number - 1]
        text = page.get_textpage().get_text_bounded()
        return text
    finally:
        document.close()


def _rotate(archive, document_id: int, number: int) -> int:
    """The /Rotate of a page of the archival PDF."""
    import io

    import pikepdf

    with archive.Session() as s:
        doc = s.get(Document, document_id)
        pdf = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        return int(opened.pages[number - 1].obj.get("/Rotate", 0))


def _search(root: Path, archive, query: str) -> list[dict]:
    env = {**os.environ, "HUDANG_HOME": str(archive.settings.home),
           "HUDANG_MASTER_KEY_FILE": str(root / "keys" / "master.key")}
    env.pop("HUDANG_MASTER_KEY", None)
    env.pop("HUDANG_DATABASE_URL", None)
    out = subprocess.run([HUDANG, "search", query, "--json"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _blobs(archive) -> set[str]:
    return set(archive.blobs.iter_refs())


def test_a_corrected_line_is_found_by_search_and_is_in_the_pdf_text_layer(world):
    root, archive, _ingestor, document_id = world
    shown = corrections.page_lines(archive, ARCHIVIST, document_id, 1, purpose="核对")
    assert [line.number for line in shown.lines] == list(range(1, len(shown.lines) + 1))
    assert all(line.boxed for line in shown.lines if line.text.strip())
    target = next(line for line in shown.lines if "申请人" in line.text and line.boxed)
    before = _page(archive, document_id, 1)
    old_pdf = _pdf_text(archive, document_id, 1)
    assert NEW_WORD not in old_pdf
    assert _search(root, archive, NEW_WORD) == []
    result = corrections.correct_text(archive, ARCHIVIST, document_id, 1,
                                      {target.number: f"{NEW_WORD}申请人王德胜"},
                                      base=shown.base)
    assert result.lines == [target.number] and result.layer
    after = _page(archive, document_id, 1)
    text = archive.blobs.get(after.text_ref, after.text_key).decode("utf-8")
    assert text.split("\n")[target.number - 1] == f"{NEW_WORD}申请人王德胜"
    assert after.text_source == "corrected"
    # the index follows: the CLI and the JSON API find the corrected word on page 1
    hits = _search(root, archive, NEW_WORD)
    assert [(h["document_id"], h["page"]) for h in hits] == [(document_id, 1)]
    from web.app import create_app

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)
    with archive.Session() as s, s.begin():
        from records.catalogue import add_user

        add_user(s, "fix-staff", "Correct-horse-9", "staff", None)
    client = app.test_client()
    assert client.post("/login", data={"username": "fix-staff",
                                       "password": "Correct-horse-9"}).status_code == 302
    api = client.get("/api/search", query_string={"q": NEW_WORD}).get_json()
    assert [(h["document_id"], h["page"]) for h in api["hits"]] == [(document_id, 1)]
    # the archival PDF's text layer says it, and the other lines are as they were
    new_pdf = _pdf_text(archive, document_id, 1)
    assert NEW_WORD in new_pdf
    assert "最低生活保障" in old_pdf and "最低生活保障" in new_pdf
    # old blobs shredded, nothing left over
    assert before.text_ref not in _blobs(archive)
    assert broken_invariants(archive) == []
    # the audit event names the correction, and neither it nor the row hold the text in clear
    with archive.Session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "correct_text")).one()
        row = s.get(Correction, result.correction_id)
        assert json.loads(event.detail)["correction"] == row.id
        assert NEW_WORD not in event.detail and NEW_WORD not in row.before + row.after
        assert NEW_WORD.encode("utf-8") not in row.lines_sealed
        lines = json.loads(archive.open_correction(row))
    assert lines == [{"line": target.number, "before": target.text,
                      "after": f"{NEW_WORD}申请人王德胜"}]


def test_a_stale_or_unknown_line_is_refused_and_changes_nothing(world):
    _root, archive, _ingestor, document_id = world
    shown = corrections.page_lines(archive, ARCHIVIST, document_id, 2)
    before = _page(archive, document_id, 2)
    with pytest.raises(CorrectionRefused, match="has no line 99"):
        corrections.correct_text(archive, ARCHIVIST, document_id, 2, {99: "x"})
    with pytest.raises(CorrectionRefused, match="changed since it was opened"):
        corrections.correct_text(archive, ARCHIVIST, document_id, 2, {1: "x"}, base="0" * 64)
    unchanged = corrections.correct_text(archive, ARCHIVIST, document_id, 2,
                                         {1: shown.lines[0].text})
    assert unchanged.correction_id is None
    assert _page(archive, document_id, 2).text_ref == before.text_ref


def test_a_line_with_an_id_number_is_masked_and_locked_for_one_who_may_not_see_it(world):
    _root, archive, _ingestor, document_id = world
    id_number = "220381198402176941"
    first = corrections.page_lines(archive, ARCHIVIST, document_id, 2)
    corrections.correct_text(archive, Principal("console", frozenset({Role.operator}),
                                                granted=frozenset({"see_full_id"})),
                             document_id, 2, {1: f"身份证 {id_number}"}, base=first.base)
    shown = corrections.page_lines(archive, ARCHIVIST, document_id, 2)
    assert id_number not in json.dumps(shown.as_json(), ensure_ascii=False)
    assert not shown.lines[0].editable and shown.lines[1].editable
    with pytest.raises(CorrectionRefused, match="ID number"):
        corrections.correct_text(archive, ARCHIVIST, document_id, 2, {1: "身份证 无"})
    # the page image covers the number written by the correction
    assert _page(archive, document_id, 2).id_regions not in (None, "[]")


def test_the_correction_screen_and_its_json(world):
    from records.catalogue import add_user
    from web.app import create_app

    _root, archive, _ingestor, document_id = world
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)
    with archive.Session() as s, s.begin():
        add_user(s, "fix-archivist", "Correct-horse-9", "archivist", None)
    client = app.test_client()
    client.post("/login", data={"username": "fix-archivist", "password": "Correct-horse-9"})
    url = f"/document/{document_id}/page/1/correct"
    assert "/purpose" in client.get(url).headers["Location"]  # no purpose, no page
    client.post(f"/household/{HOUSEHOLD}/purpose", data={"purpose": "审核"})
    page = client.get(url)
    assert page.status_code == 200 and f"/document/{document_id}/page/1/image" in page.text
    shown = client.get(f"/api/document/{document_id}/page/1/lines").get_json()
    line = next(li for li in shown["lines"] if li["text"].startswith("最低生活"))
    assert f'name="line-{line["line"]}"' in page.text
    saved = client.post(url, data={"base": shown["base"],
                                   f"line-{line['line']}": "最低生活保障申请书海螺号"})
    assert saved.status_code == 302 and "done=text" in saved.headers["Location"]
    assert 'id="saved"' in client.get(saved.headers["Location"]).text
    assert corrections.page_lines(archive, ARCHIVIST, document_id, 1).lines[
        line["line"] - 1].text == "最低生活保障申请书海螺号"
    # the JSON: a correction, a refusal in one sentence, the list of corrections
    api = f"/api/document/{document_id}/page/1/lines"
    done = client.post(api, json={"lines": {str(line["line"]): "最低生活保障申请书"}})
    assert done.status_code == 200 and done.get_json()["text_layer"] is True
    refused = client.post(api, json={"lines": {"99": "x"}})
    assert refused.status_code == 422 and "has no line 99" in refused.get_json()["error"]
    history = client.get(f"/api/document/{document_id}/replace").get_json()["corrections"]
    assert [c["kind"] for c in history][-2:] == ["text", "text"]
    # one without the right is answered as if there were no such page
    with archive.Session() as s, s.begin():
        add_user(s, "fix-clerk", "Correct-horse-9", "staff", None)
    clerk = app.test_client()
    clerk.post("/login", data={"username": "fix-clerk", "password": "Correct-horse-9"})
    clerk.post(f"/household/{HOUSEHOLD}/purpose", data={"purpose": "审核"})
    assert clerk.get(url).status_code == 404 and clerk.get(api).status_code == 404


def test_the_commands_print_the_lines_and_correct_one(world):
    root, archive, _ingestor, document_id = world
    env = {**os.environ, "HUDANG_HOME": str(archive.settings.home),
           "HUDANG_MASTER_KEY_FILE": str(root / "keys" / "master.key")}
    env.pop("HUDANG_MASTER_KEY", None)
    env.pop("HUDANG_DATABASE_URL", None)

    def hudang(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([HUDANG, *args], env=env, capture_output=True, text=True,
                              timeout=300)

    shown = hudang("pages", "lines", str(document_id), "1", "--json")
    assert shown.returncode == 0, shown.stderr
    lines = json.loads(shown.stdout)["lines"]
    last = max(line["line"] for line in lines if line["text"].strip())
    done = hudang("pages", "correct", str(document_id), "1", "--line", f"{last}=户号更正",
                  "--reason", "命令行", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lines"] == [last]
    assert corrections.page_lines(archive, ARCHIVIST, document_id, 1).lines[
        last - 1].text == "户号更正"
    refused = hudang("pages", "correct", str(document_id), "1", "--line", "99=x")
    assert refused.returncode == 1 and "has no line 99" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_turning_a_page_reads_it_again_as_it_is_shown(world):
    _root, archive, ingestor, document_id = world
    before = _page(archive, document_id, 2)
    turned = corrections.rotate_page(archive, ARCHIVIST, document_id, 2, 90, ingestor=ingestor)
    sideways = _page(archive, document_id, 2)
    assert sideways.rotation == (before.rotation + 90) % 360
    assert before.width > before.height and sideways.width < sideways.height  # now portrait
    assert turned.before["rotation"] == before.rotation and turned.after["rotation"] == 90
    assert _rotate(archive, document_id, 2) == 90
    corrections.rotate_page(archive, ARCHIVIST, document_id, 2, 270, ingestor=ingestor)
    upright = _page(archive, document_id, 2)
    assert upright.rotation == before.rotation and _rotate(archive, document_id, 2) == 0
    text = archive.blobs.get(upright.text_ref, upright.text_key).decode("utf-8")
    assert "最低生活保障" in text and upright.text_source == "ocr"
    assert "最低生活保障" in _pdf_text(archive, document_id, 2)
    assert not {before.image_ref, before.text_ref, sideways.image_ref} & _blobs(archive)
    assert broken_invariants(archive) == []
    with pytest.raises(CorrectionRefused, match="90, 180 or 270"):
        corrections.rotate_page(archive, ARCHIVIST, document_id, 2, 45)


def test_turning_a_page_whose_text_came_with_its_file_keeps_the_text(world):
    from desk_support import text_pdf

    root, archive, ingestor, _document_id = world
    born_digital = ingestor.ingest(IngestRequest(
        path=text_pdf(root / "typed.pdf", "typed statement of income"), household=HOUSEHOLD,
        doc_type="收入证明", actor="test")).document_id
    before = _page(archive, born_digital, 1)
    text = archive.blobs.get(before.text_ref, before.text_key)
    corrections.rotate_page(archive, ARCHIVIST, born_digital, 1, 90, ingestor=ingestor)
    after = _page(archive, born_digital, 1)
    assert _rotate(archive, born_digital, 1) == 90 and after.text_source == "pdf"
    assert archive.blobs.get(after.text_ref, after.text_key) == text
    assert before.text_ref not in _blobs(archive)
    assert "typed statement" in _pdf_text(archive, born_digital, 1)
    assert broken_invariants(archive) == []


def _scans(archive, document_id: int) -> dict[int, tuple]:
    """Page number -> its page_scan row (resolution, hash, findings) of a document."""
    with archive.Session() as s:
        rows = s.execute(select(Page.number, PageScan.dpi, PageScan.phash, PageScan.findings,
                                PageScan.flagged)
                         .join(PageScan, PageScan.page_id == Page.id)
                         .where(Page.document_id == document_id)).all()
    return {number: tuple(rest) for number, *rest in rows}


def _state(archive, document_id: int) -> dict:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        rows = (doc.pdf_ref, doc.original_ref, doc.page_count,
                [(p.number, p.image_ref, p.text_ref) for p in doc.pages],
                len(doc.corrections), _scans(archive, document_id))
    return {"rows": rows, "blobs": sorted(_blobs(archive)),
            "pages": archive.index.doc_count(),
            "journal": sorted(p.name for p in archive.settings.journal_dir.glob("*.wal")),
            "tmp": sorted(p.name for p in archive.settings.tmp_dir.glob("*"))}


def test_refused_and_hostile_rescans_leave_nothing_half_stored(world):
    root, archive, ingestor, document_id = world
    before = _state(archive, document_id)
    two = write_scan(root / "two.tif", pages=2, variant=7)
    with pytest.raises(CorrectionRefused, match="has 2 pages; a rescan of one page"):
        corrections.replace_page(archive, ARCHIVIST, document_id, 1, two, ingestor=ingestor)
    fake = root / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(IngestError):
        corrections.replace_page(archive, ARCHIVIST, document_id, 1, fake, ingestor=ingestor)
    with pytest.raises(IngestError):
        corrections.replace_document(archive, ARCHIVIST, document_id, fake, ingestor=ingestor)
    with pytest.raises(CorrectionRefused, match="already holds"):
        corrections.replace_document(archive, ARCHIVIST, document_id, root / "scan.tif",
                                     ingestor=ingestor)
    assert _state(archive, document_id) == before
    assert broken_invariants(archive) == []


def test_a_replacement_that_fails_after_the_catalogue_changed_is_undone(world):
    from whoosh import index as windex

    from ingest.archive import Archive
    from search import SearchIndex
    from search.sealed import SealedStorage

    root, archive, ingestor, document_id = world
    scan = _one_page(root / "locked.png", ("入户调查表", "更换页面"))
    before = _state(archive, document_id)
    archive.index.close()
    archive.index = SearchIndex.open(archive.settings.index_dir, lock_timeout=0.3,
                                     keys=archive.blobs)
    holder = SealedStorage(str(archive.settings.index_dir), archive.blobs).open_index(
        "pages").writer()
    try:
        with pytest.raises(windex.LockError):
            corrections.replace_document(archive, ARCHIVIST, document_id, scan,
                                         ingestor=ingestor)
        after = _state(archive, document_id)
        # the catalogue change is undone and the new blobs shredded; the index was never
        # written, and making sure of it needs the lock: the recovery's part
        assert {**after, "journal": []} == before and len(after["journal"]) == 1
    finally:
        holder.cancel()
    reopened = Archive.open(archive.settings)
    try:
        assert _state(reopened, document_id) == before
        assert broken_invariants(reopened) == []
    finally:
        reopened.close()


def test_a_page_replaced_by_a_rescan(world):
    root, archive, ingestor, document_id = world
    before = _page(archive, document_id, 2)
    with archive.Session() as s:
        old_pdf = s.get(Document, document_id).pdf_ref
    scan = _one_page(root / "rescan.png", ("入户调查表", "家庭人口三人"))
    result = corrections.replace_page(archive, ARCHIVIST, document_id, 2, scan,
                                      ingestor=ingestor, reason="页面模糊")
    after = _page(archive, document_id, 2)
    text = archive.blobs.get(after.text_ref, after.text_key).decode("utf-8")
    assert "入户调查" in text and "入户调查" in _pdf_text(archive, document_id, 2)
    assert "最低生活保障" in _pdf_text(archive, document_id, 1)  # the other page as it was
    assert not {before.image_ref, before.text_ref, old_pdf} & _blobs(archive)
    assert result.before == {"pdf": old_pdf, "text": before.text_ref,
                             "image": before.image_ref, "rotation": before.rotation}
    with archive.Session() as s:
        row = s.get(Correction, result.correction_id)
        assert (row.kind, row.page, row.reason, row.actor) == ("replace_page", 2, "页面模糊",
                                                               ARCHIVIST.name)
        assert s.get(Document, document_id).page_count == 2
    assert broken_invariants(archive) == []


def test_a_page_rescan_replaces_the_pages_scan_checks(world):
    """A page flagged by the scan checks (150 dpi, under the 200 the standard asks) and
    rescanned at 300 dpi: its page_scan row is the rescan's, and no longer flagged; the
    other page's row stays as it was."""
    from PIL import Image

    from ingest import scanquality

    root, archive, ingestor, document_id = world
    before = _scans(archive, document_id)
    assert round(before[1][0]) == round(before[2][0]) == 150
    assert "resolution" in [f.check for f in scanquality.loads(before[2][2])]
    scan = _one_page(root / "rescan-300.png", ("入户调查表", "家庭人口三人"), dpi=300)
    result = corrections.replace_page(archive, ARCHIVIST, document_id, 2, scan,
                                      ingestor=ingestor, reason="分辨率不足")
    after = _scans(archive, document_id)
    assert after[1] == before[1]
    dpi, phash, findings, flagged = after[2]
    assert round(dpi) == 300 and not flagged and scanquality.loads(findings) == []
    with Image.open(scan) as raster:
        assert scanquality.distance(phash, scanquality.measure(raster)[1]) <= 4
    with archive.Session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "replace_page")
                          .order_by(AuditEvent.id.desc())).first()
        assert json.loads(event.detail)["correction"] == result.correction_id
        assert "findings" not in json.loads(event.detail)
    assert broken_invariants(archive) == []


def test_a_key_rotation_reseals_the_corrected_lines(world):
    from ingest import keyrotation

    _root, archive, _ingestor, document_id = world
    with archive.Session() as s:
        rows = list(s.scalars(select(Correction).where(Correction.lines_sealed.is_not(None))))
        before = {r.id: (r.lines_sealed, archive.open_correction(r)) for r in rows}
    assert before
    keyrotation.rotate(archive, "test")
    with archive.Session() as s:
        for row in s.scalars(select(Correction).where(Correction.id.in_(before))):
            assert row.key_id == archive.master.fingerprint()
            assert row.lines_sealed != before[row.id][0]
            assert archive.open_correction(row) == before[row.id][1]


def test_a_whole_document_replaced_by_a_rescan_keeps_its_place(world):
    root, archive, ingestor, document_id = world
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        place = (doc.dossier_id, doc.type_code, doc.seq, doc.item_no, doc.title)
        old = {doc.pdf_ref, doc.original_ref, *(p.image_ref for p in doc.pages),
               *(p.text_ref for p in doc.pages)}
    scan = _one_page(root / "whole.png", ("诚信承诺书", "申请人王德胜"))
    result = corrections.replace_document(archive, ARCHIVIST, document_id, scan,
                                          ingestor=ingestor, reason="抽检不合格")
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        assert (doc.dossier_id, doc.type_code, doc.seq, doc.item_no, doc.title) == place
        assert doc.page_count == 1 and [p.number for p in doc.pages] == [1]
        assert doc.source_kind == "png"
        import hashlib

        assert doc.sha256 == hashlib.sha256(scan.read_bytes()).hexdigest()
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "replace_document")
                          ).one()
        assert json.loads(event.detail)["before"]["page_count"] == 2
    assert result.before["page_count"] == 2 and result.after["page_count"] == 1
    assert not old & _blobs(archive)
    assert "诚信承诺" in _pdf_text(archive, document_id, 1)
    # the rescan's scan checks, in place of the old pages' (150 dpi: flagged again)
    scans = _scans(archive, document_id)
    assert list(scans) == [1] and round(scans[1][0]) == 150 and scans[1][3]
    assert json.loads(event.detail)["findings"] == {"1": ["resolution"]}
    assert broken_invariants(archive) == []
