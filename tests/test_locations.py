"""Cabinets, boxes and folders (issue 13, physical locations) and daily-management records
(日常管理档案), through the CLI and through the browser's screens: the same services, the
same door.

- Containers nest cabinet → box → folder; a dossier or a volume is put into one, each move
  is kept with its date and who made it; a box's page lists what it holds.
- Labels print as an A4 PDF whose Code 128 barcodes are read back by a barcode reader
  (zxing-cpp) from the rendered page, and whose text names the household and its head,
  never the head's ID number.
- A daily-management record is filed (CLI and upload) into its region's volume of the
  year, listed, and read under a stated purpose, within the reader's region only.

Real parts: a SQLite archive with born-digital documents ingested by the real pipeline
(``desk_support``), the CLI through click's runner, the app through Flask's test client,
PDFs rendered with pypdfium2.
"""
from __future__ import annotations

import io
import json
import os

import pypdfium2 as pdfium
import pytest
import zxingcpp
from click.testing import CliRunner
from sqlalchemy import select

from desk_support import (COMPLETE, HEAD_ID, OTHER, PARTIAL, PASSWORD, build_desk, pdf_text,
                          text_pdf)
from records.model import AuditEvent, LocationMove
from web.app import create_app
from web.cli import main

VILLAGE = "220381105012"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    return build_desk(tmp_path_factory.mktemp("locations"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("HUDANG_HOME", "HUDANG_MASTER_KEY_FILE", "HUDANG_MASTER_KEY",
                 "HUDANG_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def archive(desk):
    arch = desk.open()
    yield arch
    arch.close()


@pytest.fixture(scope="module")
def app(archive):
    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)


def run(desk, *words, ok=True):
    result = CliRunner().invoke(main, [*desk.cli(), *words])
    if ok:
        assert result.exit_code == 0, (words, result.output, result.exception)
    return result


def signed_in(app, user: str):
    client = app.test_client()
    assert client.post("/login", data={"username": user, "password": PASSWORD}).status_code == 302
    return client


def barcodes(data: bytes) -> list[str]:
    """What a barcode reader reads off the rendered pages."""
    pdf = pdfium.PdfDocument(data)
    try:
        found = []
        for i in range(len(pdf)):
            image = pdf[i].render(scale=4).to_pil().convert("L")
            found += [(b.format.name, b.text) for b in zxingcpp.read_barcodes(image)]
    finally:
        pdf.close()
    assert all(fmt == "Code128" for fmt, _ in found), found
    return sorted(text for _, text in found)


# -- the CLI ---------------------------------------------------------------------------------
def test_cabinet_box_folder_moves_and_labels_read_back_by_a_barcode_reader(desk, tmp_path):
    run(desk, "location", "add", "cabinet", "DF-G01", "--region", "220381105", "--title", "东风镇")
    run(desk, "location", "add", "box", "DF-H03", "--in", "DF-G01", "--title", "红星村一组")
    run(desk, "location", "add", "folder", "DF-F0001", "--in", "DF-H03")
    run(desk, "location", "move", COMPLETE, "--to", "DF-F0001", "--date", "2026-02-01")
    run(desk, "location", "move", PARTIAL, "--to", "DF-H03", "--note", "上架")
    # a box does not go into a folder; a date after today is refused; both name the problem
    run(desk, "location", "add", "folder", "DF-F0099", "--region", "220381105")
    wrong = run(desk, "location", "move", "DF-H03", "--to", "DF-F0099", ok=False)
    assert wrong.exit_code != 0 and "DF-F0099" in wrong.output
    assert run(desk, "location", "move", "DF-H03", "--to", "DF-F0001", ok=False).exit_code != 0
    late = run(desk, "location", "move", PARTIAL, "--to", "DF-F0001", "--date", "2999-01-01",
               ok=False)
    assert late.exit_code != 0 and "2999-01-01" in late.output

    shown = json.loads(run(desk, "location", "show", "DF-H03", "--json").output)
    held = {h["key"] for h in shown["contents"]}
    assert held == {COMPLETE, PARTIAL}
    assert [c["code"] for c in shown["children"]] == ["DF-F0001"]
    assert run(desk, "household", "show", COMPLETE).output.count("DF-F0001") >= 1

    out = tmp_path / "labels.pdf"
    run(desk, "labels", "DF-H03", "--with-contents", "--out", str(out))
    data = out.read_bytes()
    assert barcodes(data) == ["DF-F0001", "DF-H03"]
    text = pdf_text(data)
    assert "低保档案盒" in text and "红星村一组" in text and "低保档案袋" in text
    assert COMPLETE in text and "张三" in text  # the folder's household and its head
    assert HEAD_ID not in text and HEAD_ID[-4:] not in text  # never the ID number


def test_a_clerk_may_look_into_a_box_but_not_move_or_label_it(desk, tmp_path):
    run(desk, "location", "add", "box", "DF-H09", "--region", VILLAGE)
    assert "DF-H09" in run(desk, "location", "show", "DF-H09", "--as", "clerk").output
    refused = run(desk, "location", "move", PARTIAL, "--to", "DF-H09", "--as", "clerk", ok=False)
    assert refused.exit_code == 3
    refused = run(desk, "labels", "DF-H09", "--out", str(tmp_path / "x.pdf"), "--as", "clerk",
                  ok=False)
    assert refused.exit_code == 3 and not (tmp_path / "x.pdf").exists()
    # another township's clerk is told it does not exist
    other = run(desk, "location", "show", "DF-H09", "--as", "other-clerk", ok=False)
    assert other.exit_code == 3 and "DF-H09" not in other.output.replace("DF-H09 was", "")


def test_a_daily_record_is_filed_in_its_regions_volume_and_read_only_there(desk, tmp_path):
    scan = text_pdf(tmp_path / "roster.pdf", "roster of Hongxing village March 2025")
    run(desk, "ingest", str(scan), "--region", VILLAGE, "--year", "2025", "--month", "3",
        "--type", "花名册", "--title", "红星村2025年3月花名册")
    listed = json.loads(run(desk, "records", "list", "--json", "--as", "clerk").output)
    titles = [r["title"] for r in listed["records"]]
    assert "红星村2025年3月花名册" in titles
    volume = json.loads(run(desk, "records", "show", f"{VILLAGE}/2025", "--json").output)
    assert volume["retention_class"] == "daily-5y" and volume["year"] == 2025
    assert [(r["title"], r["month"]) for r in volume["records"]] == [("红星村2025年3月花名册", 3)]
    # the other township sees none of it
    theirs = json.loads(run(desk, "records", "list", "--json", "--as", "other-clerk").output)
    assert "红星村2025年3月花名册" not in [r["title"] for r in theirs["records"]]
    refused = run(desk, "records", "show", f"{VILLAGE}/2025", "--as", "other-clerk", ok=False)
    assert refused.exit_code == 3


# -- the browser -------------------------------------------------------------------------------
def test_an_archivist_keeps_cabinets_and_boxes_in_the_browser(app, archive):
    web = signed_in(app, "archivist")
    page = web.get("/locations/")
    assert page.status_code == 200 and 'id="add-cabinet"' in page.text
    r = web.post("/locations/new", data={"kind": "cabinet", "code": "xs-g01", "title": "西山镇",
                                         "region": "220381106"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/locations/XS-G01")
    r = web.post("/locations/new", data={"kind": "box", "code": "XS-H01", "parent": "XS-G01",
                                         "title": "青石村"})
    assert r.status_code == 302
    # a bad code is a field error on the form, naming the code
    bad = web.post("/locations/new", data={"kind": "box", "code": "9box", "parent": "XS-G01"})
    assert bad.status_code == 400 and "9BOX" in bad.text.upper()
    assert 'class="field-message"' in bad.text

    # the dossier is put into the box from the box's page; then moved from its household page
    r = web.post("/locations/XS-H01/put", data={"what": OTHER})
    assert r.status_code == 302
    box = web.get("/locations/XS-H01")
    assert OTHER in box.text and "李秀英" in box.text and 'id="print-label"' in box.text
    assert 'class="cards contents"' in box.text and 'data-label=' in box.text
    web.post(f"/household/{OTHER}/purpose", data={"purpose": "审核"})
    assert 'id="current-location"' in (dossier := web.get(f"/household/{OTHER}").text)
    assert "XS-H01" in dossier and 'id="move-location"' in dossier
    r = web.post(f"/household/{OTHER}/location", data={"to": "XS-G01"})
    assert r.status_code == 400  # papers do not lie loose in a cabinet
    r = web.post(f"/household/{OTHER}/location", data={"to": "XS-H01", "date": "2026-01-05",
                                                       "note": "复核"})
    assert r.status_code == 302  # already there: nothing moved
    with archive.Session() as s:
        moves = list(s.scalars(select(LocationMove).where(LocationMove.note == "复核")))
    assert moves == []

    # a scanner types the code and Enter: the box opens
    r = web.get("/locations/scan", query_string={"code": " xs-h01 "})
    assert r.status_code == 302 and r.headers["Location"].endswith("/locations/XS-H01")
    assert web.get("/locations/scan", query_string={"code": "#?!"}).status_code == 400

    label = web.get("/locations/XS-H01/labels.pdf")
    assert label.status_code == 200 and label.mimetype == "application/pdf"
    assert "attachment" in label.headers["Content-Disposition"]
    assert barcodes(label.data) == ["XS-H01"]
    assert "青石村" in pdf_text(label.data)

    shown = web.get("/api/locations/XS-H01").get_json()
    assert shown["code"] == "XS-H01" and [h["key"] for h in shown["contents"]] == [OTHER]
    assert "XS-G01" in [c["code"] for c in web.get("/api/locations").get_json()["containers"]]
    english = web.get("/locations/XS-H01?lang=en").text
    assert "Print its label (PDF)" in english
    assert "打印标签（PDF）" in web.get("/locations/XS-H01?lang=zh").text


def test_a_box_moves_to_another_cabinet_and_its_history_says_so(app):
    web = signed_in(app, "archivist")
    for kind, code, parent in (("cabinet", "MV-G01", ""), ("cabinet", "MV-G02", ""),
                               ("box", "MV-H01", "MV-G01")):
        assert web.post("/locations/new", data={"kind": kind, "code": code, "parent": parent,
                                                "region": VILLAGE}).status_code == 302
    form = web.get("/locations/MV-H01/move")
    assert form.status_code == 200 and 'id="now-in">MV-G01' in form.text
    wrong = web.post("/locations/MV-H01/move", data={"to": "MV-H01"})
    assert wrong.status_code == 400 and "MV-H01" in wrong.text
    r = web.post("/locations/MV-H01/move", data={"to": "MV-G02", "date": "2026-03-01",
                                                 "note": "换柜"})
    assert r.status_code == 302
    history = web.get("/locations/MV-H01?lang=en").text.split('id="container-history"')[1]
    assert "2026-03-01" in history and "MV-G01" in history and "MV-G02" in history
    assert "换柜" in history and "archivist" in history
    def inside(code: str) -> str:  # the "Inside" table of a container's page
        return web.get(f"/locations/{code}").text.split('id="container-history"')[0]

    assert "MV-H01" in inside("MV-G02")
    assert "MV-H01" not in inside("MV-G01")  # only its history still names it


def test_who_may_see_or_keep_a_box_in_the_browser(app, desk):
    run(desk, "location", "add", "box", "DF-H20", "--region", VILLAGE)
    run(desk, "location", "move", PARTIAL, "--to", "DF-H20")
    clerk = signed_in(app, "clerk")
    page = clerk.get("/locations/DF-H20")
    assert page.status_code == 200 and PARTIAL in page.text
    assert 'id="print-label"' not in page.text and 'id="put-form"' not in page.text
    assert clerk.get("/locations/DF-H20/labels.pdf").status_code == 404
    assert clerk.get("/locations/DF-H20/move").status_code == 404
    assert clerk.post("/locations/DF-H20/put", data={"what": PARTIAL}).status_code == 404
    assert clerk.get(f"/household/{PARTIAL}/location").status_code == 404
    assert clerk.get("/locations/new").status_code == 404
    assert 'id="header-scan"' not in clerk.get("/locations/").text
    for user in ("other-clerk",):
        other = signed_in(app, user)
        assert other.get("/locations/DF-H20").status_code == 404
        assert other.get("/api/locations/DF-H20").status_code == 404
        assert "DF-H20" not in other.get("/locations/").text
    auditor = signed_in(app, "auditor")
    assert auditor.get("/locations/new").status_code == 404
    assert auditor.get("/locations/DF-H20/move").status_code == 404


def test_daily_records_are_filed_and_read_in_the_browser(app, archive, tmp_path):
    web = signed_in(app, "archivist")
    form = web.get("/records/new")
    assert form.status_code == 200 and "花名册" in form.text
    missing = web.post("/records/new", data={"region": VILLAGE, "year": "20x5", "type": ""})
    assert missing.status_code == 400
    assert missing.text.count('class="field-message"') >= 3  # file, year, type
    scan = text_pdf(tmp_path / "minutes.pdf", "democratic review minutes 2024")
    r = web.post("/records/new", data={
        "region": VILLAGE, "year": "2024", "month": "11", "type": "daily_review",
        "title": "红星村民主评议会议记录", "date": "2024-11-20",
        "file": (io.BytesIO(scan.read_bytes()), "minutes.pdf")},
        content_type="multipart/form-data")
    assert r.status_code == 302 and "/records/volume/" in r.headers["Location"]
    volume_url = r.headers["Location"]

    listed = web.get("/records/", query_string={"year": 2024})
    assert "红星村民主评议会议记录" in listed.text and 'class="cards records"' in listed.text
    assert web.get("/records/", query_string={"year": 2023}).text.count("红星村民主评议会议记录") == 0
    api = web.get("/api/records", query_string={"region": VILLAGE}).get_json()
    assert "红星村民主评议会议记录" in [x["title"] for x in api["records"]]

    # the volume opens after a purpose is stated, like a dossier
    first = web.get(volume_url)
    assert first.status_code == 302 and "/purpose" in first.headers["Location"]
    assert web.post(first.headers["Location"], data={"purpose": "审核"}).status_code == 302
    page = web.get(volume_url)
    assert page.status_code == 200 and "红星村民主评议会议记录" in page.text
    assert 'id="stated-purpose">审核' in page.text and 'id="location-panel"' in page.text

    # its pages open in the same viewer, which leads back to the volume
    document_id = int(page.text.split('data-document="')[1].split('"')[0])
    viewer = web.get(f"/document/{document_id}/page/1")
    assert viewer.status_code == 200 and volume_url.split("localhost")[-1] in viewer.text
    download = web.get(f"/document/{document_id}/download")
    assert download.status_code == 200 and download.mimetype == "application/pdf"

    # the paper volume is put into a box from its page; its metadata corrected like a dossier's
    web.post("/locations/new", data={"kind": "box", "code": "DF-R2024", "region": VILLAGE})
    volume_id = volume_url.rstrip("/").split("/")[-1]
    r = web.post(f"/records/volume/{volume_id}/location", data={"to": "df-r2024"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/records/volume/{volume_id}")
    page = web.get(volume_url).text
    assert "DF-R2024" in page.split('id="current-location"')[1].split("</p>")[0]
    assert f"{VILLAGE}/2024" in web.get("/locations/DF-R2024").text
    edit = web.get(f"/document/{document_id}/edit")
    assert edit.status_code == 200 and f'href="/records/volume/{volume_id}"' in edit.text
    assert "民主评议会议记录" in edit.text and "入户调查表" not in edit.text  # daily types only

    clerk = signed_in(app, "clerk")
    assert "红星村民主评议会议记录" in clerk.get("/records/").text
    found = clerk.get("/", query_string={"q": "democratic review minutes"})
    assert 'class="volume-link"' in found.text  # found by search, shown as the volume's
    assert clerk.get("/records/new").status_code == 404  # a clerk does not file records
    other = signed_in(app, "other-clerk")
    assert "红星村民主评议会议记录" not in other.get("/records/").text
    assert other.get(volume_url).status_code == 404
    with archive.Session() as s:
        refused = s.scalars(select(AuditEvent).where(AuditEvent.actor == "other-clerk",
                                                     AuditEvent.outcome == "refused")).all()
    assert refused


def test_a_scanner_typing_a_box_code_opens_the_box_and_its_label_downloads(desk, tmp_path):
    """In Debian's chromium against ``hudang serve``: the code typed into the header's field
    and Enter (what a USB scanner does) opens the box; its label downloads as a PDF."""
    from browser_support import chromium, serve

    run(desk, "location", "add", "box", "SC-H01", "--region", VILLAGE, "--title", "扫码测试")
    run(desk, "location", "move", PARTIAL, "--to", "SC-H01")
    env = {**os.environ, "HUDANG_HOME": str(desk.home),
           "HUDANG_MASTER_KEY_FILE": str(desk.key_file)}
    with serve(env) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844}, accept_downloads=True)
        page.goto(base + "/login")
        page.fill("input[name=username]", "archivist")
        page.fill("input[name=password]", PASSWORD)
        page.click("form.login button[type=submit]")
        page.wait_for_selector("#current-user")
        page.fill("#header-scan", "sc-h01")
        page.keyboard.press("Enter")
        page.wait_for_url("**/locations/SC-H01")
        assert PARTIAL in page.inner_text("#contents")
        with page.expect_download() as download:
            page.click("#print-label")
        data = download.value.path().read_bytes()
        assert barcodes(data) == ["SC-H01"] and "扫码测试" in pdf_text(data)
        page.close()
