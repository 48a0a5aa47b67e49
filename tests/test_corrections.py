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
from records.model import AuditEvent, Correction, Document, Page
from records.policy import Principal, Role

HUDANG = str(Path(sys.executable).with_name("hudang"))
ARCHIVIST = Principal("archivist-1", frozenset({Role.archivist}))
NEW_WORD = "鹦鹉螺"  # not on any generated page


def _one_page(path: Path, lines: tuple[str, ...], *, turn: int = 0) -> Path:
    """A one-page PNG scan (820 x 420 px at 150 dpi) of ``lines``, stored turned ``turn``
    degrees counter-clockwise."""
    from PIL import Image, ImageDraw

    from ingest.fonts import cjk_font

    image = Image.new("L", (820, 420), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 95 * i), line, font=cjk_font(34), fill=0)
    image.rotate(turn, expand=True).save(path, dpi=(150, 150))
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
    target = next(line for line in shown.lines if "申请" in line.text and line.boxed)
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
