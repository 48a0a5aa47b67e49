"""Digitising a box (DA/T 31-2017): whole-box ingest with a manifest, separator sheets and the
scan quality checks, on generated boxes (``ingest.synthetic_box``).

Real parts: a SQLite archive, the ``hudang`` command line through click's runner, the one
ingest pipeline. The pages carry a text layer (as a scanner's own OCR gives them), so that
no page needs OCR and a box stays quick; the checks look at the images all the same.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from conftest import make_archive
from ingest import scanquality
from ingest import synthetic_box as sb
from records.kinds import ScanProfile
from records.model import Batch, Document, Page, PageScan
from web.cli import main

A, B = "220381105012-0042", "220381105012-0043"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from records.catalogue import add_household

    root = tmp_path_factory.mktemp("box")
    archive = make_archive(root)
    with archive.Session() as s, s.begin():
        add_household(s, B, "李秀英", "220381105012")
    archive.close()
    return root


@pytest.fixture(autouse=True)
def _env(no_hudang_env):
    pass


def hudang(root, *args: str):
    return CliRunner().invoke(main, ["--home", str(root / "home"), "--key-file",
                                     str(root / "keys" / "master.key"), *args])


def _page(lines, seed, **kw):
    return sb.note_page(lines, seed=seed, **kw)


@pytest.fixture(scope="module")
def box(root):
    """A box of five scans and a manifest with four bad rows besides."""
    folder = root / "box1"
    folder.mkdir()
    form = _page(["户口簿复印件", "户主 李秀英"], 30)
    sb.save_pdf(folder / "a.pdf", [(_page(["个人申请书", "申请人 王德胜"], 10, dpi=150),
                                    (150, 150), "个人申请书 王德胜")])
    sb.save_pdf(folder / "b.pdf", [(_page(["入户调查表", "家庭人口 3"], 20, seal=True)
                                    .convert("L"), (300, 300), "入户调查表")],
                producer="ScanSnap Manager")
    sb.save_pdf(folder / "c.pdf", [(form, (300, 300), "户口簿复印件"),
                                   (sb.blank_page(seed=31), (300, 300), "空白"),
                                   (sb.rescanned(form, 32), (300, 300), "户口簿复印件")])
    pledge = ["诚信承诺书", "本人承诺 如实申报家庭收入 接受调查", "如有虚报 自愿退还"]
    sb.save_pdf(folder / "d.pdf", [(_page(pledge, 40, skew=3.0),
                                    (300, 300), "诚信承诺书")])
    sb.save_pdf(folder / "e.pdf", [(_page(["收入证明", "月收入 300 元"], 50), (300, 300),
                                    "收入证明")])
    sb.write_manifest(folder / "manifest.csv", [
        {"file": "a.pdf", "household_no": A, "doc_type": "申请书", "pages": 1},
        {"file": "b.pdf", "household_no": A, "doc_type": "入户调查表", "pages": 1,
         "date": "2024-03-01", "title": "王德胜户入户调查表"},
        {"file": "c.pdf", "household_no": B, "doc_type": "户口簿复印件", "pages": 3},
        {"file": "d.pdf", "household_no": B, "doc_type": "诚信承诺书"},
        {"file": "e.pdf", "household_no": B, "doc_type": "收入证明", "pages": 2},
        {"file": "missing.pdf", "household_no": A, "doc_type": "申请书", "pages": 1},
        {"file": "a.pdf", "household_no": "220381105012-9999", "doc_type": "申请书"},
        {"file": "a.pdf", "household_no": A, "doc_type": "菜谱"},
        {"file": "a.pdf", "household_no": A, "doc_type": "申请书", "pages": "两"},
    ])
    first = hudang(root, "ingest-box", str(folder), "--profile", "colour")
    second = hudang(root, "ingest-box", str(folder), "--profile", "colour", "--json")
    return folder, first, second


def _archive(root):
    from ingest.archive import Archive, Settings

    return Archive.open(Settings.from_env(root / "home", root / "keys" / "master.key"))


def test_manifest_with_bad_rows_stores_the_rest_and_a_run_again_duplicates_nothing(root, box):
    _, first, second = box
    assert first.exit_code == 8, first.output
    lines = first.output.splitlines()
    for row, item in ((2, "a.pdf"), (3, "b.pdf"), (4, "c.pdf"), (5, "d.pdf")):
        assert any(line.startswith(f"row {row} {item}: stored as document") for line in lines)
    assert "row 6 e.pdf: failed: cannot ingest 'e.pdf': 1 pages were scanned but the " \
           "manifest says 2" in first.output
    assert "row 7 missing.pdf: failed: cannot ingest 'missing.pdf': no such file in the box" \
        in first.output
    assert "row 8 a.pdf: failed: household 220381105012-9999 was not found" in first.output
    assert "row 9 a.pdf: failed: cannot ingest 'a.pdf': unknown document type '菜谱'" \
        in first.output
    assert "row 10 a.pdf: failed: row 10 the pages “两” is not a whole number" in first.output
    assert "batch 1: 4 stored, 0 already stored, 5 failed" in first.output
    assert "5 of 9 rows of batch 1 failed" in first.output

    assert second.exit_code == 8
    again = json.loads(second.output[:second.output.rindex("}") + 1])
    assert (again["batch"], again["stored"], again["already_stored"], again["failed"]) == \
        (1, 0, 4, 5)
    archive = _archive(root)
    try:
        with archive.Session() as s:
            assert s.scalar(select(func.count(Document.id))) == 4
            assert s.scalar(select(func.count(Page.id))) == 6  # a blank page is kept too
            batch = s.scalar(select(Batch))
            assert (batch.runs, batch.state.value, batch.profile) == (2, "ingested",
                                                                     ScanProfile.colour)
            assert {d.batch_id for d in s.scalars(select(Document))} == {batch.id}
            stored = s.scalar(select(Document).where(Document.title == "王德胜户入户调查表"))
            assert stored.date.isoformat() == "2024-03-01"
    finally:
        archive.close()


def _findings(root) -> dict[tuple[str, int], list[dict]]:
    shown = hudang(root, "batch", "show", "1", "--json")
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.output)
    found = {}
    for row in view["row_list"]:
        if row["findings"]:
            found[(row["item"], 0)] = row["findings"]
        for page in row["page_scans"]:
            if page["findings"]:
                found[(row["item"], page["page"])] = page["findings"]
    return found


def test_each_scan_finding_names_its_rule_and_no_page_is_dropped(root, box):
    found = _findings(root)
    checks = {key: [(f["check"], f["rule"]) for f in value] for key, value in found.items()}
    assert checks == {
        ("a.pdf", 1): [("resolution", "DA/T 31-2017 9.4")],
        ("b.pdf", 1): [("colour_mode", "DA/T 31-2017 9.3")],
        ("c.pdf", 2): [("blank", "DA/T 31-2017 数据质检")],
        ("c.pdf", 3): [("duplicate", "DA/T 31-2017 数据质检")],
        ("d.pdf", 1): [("skew", "DA/T 31-2017 图像处理·纠偏")],
        ("e.pdf", 0): [("page_count", "DA/T 31-2017 数据质检")],
    }
    assert "scanned at 150 dpi, below the 200 dpi" in found[("a.pdf", 1)][0]["message"]
    assert "scanned in greyscale; the batch asks for colour" in found[("b.pdf", 1)][0]["message"]
    assert "the same image as page 1 of this document" in found[("c.pdf", 3)][0]["message"]
    assert found[("d.pdf", 1)][0]["angle"] > 1.5


def test_process_metadata_is_kept_per_page_and_per_file(root, box):
    view = json.loads(hudang(root, "batch", "show", "1", "--json").output)
    rows = {r["item"]: r for r in view["row_list"] if r["outcome"] == "stored"}
    assert rows["b.pdf"]["scanner"]["software"].startswith("ScanSnap Manager")
    page = rows["b.pdf"]["page_scans"][0]
    assert (page["dpi"], page["colour_mode"], page["bit_depth"]) == (300, "greyscale", 8)
    assert rows["a.pdf"]["page_scans"][0]["colour_mode"] == "colour"
    assert view["operator"] and view["started_at"] and view["profile"] == "colour"


def test_pages_listing_and_batch_report_show_the_findings(root, box, tmp_path):
    listed = hudang(root, "pages", "findings", "--batch", "1")
    assert listed.exit_code == 0, listed.output
    assert "[DA/T 31-2017 9.4] scanned at 150 dpi" in listed.output
    only = json.loads(hudang(root, "pages", "findings", "--check", "blank", "--json").output)
    assert [(p["household"], p["page"]) for p in only] == [(B, 2)]
    out = tmp_path / "report.csv"
    assert hudang(root, "batch", "report", "1", "--format", "csv", "--out",
                  str(out)).exit_code == 0
    text = out.read_bytes().decode("utf-8-sig")
    assert "分辨率(dpi)" in text and "[DA/T 31-2017 9.3] scanned in greyscale" in text
    assert "ScanSnap Manager" in text and "no such file in the box" in text
    pdf = tmp_path / "report.pdf"
    assert hudang(root, "batch", "report", "1", "--format", "pdf", "--out",
                  str(pdf)).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")


def test_check_page_names_the_rule_of_each_check():
    def facts(**kw):
        values = {"number": 1, "dpi": 300.0, "colour": "colour", "bit_depth": 24,
                  "skew": 0.2, "blank": False, "phash": "0" * 64, **kw}
        return scanquality.PageFacts(**values)

    def check(fact, **kw):
        args = {"profile": ScanProfile.standard, "needs_ocr": True, "skew_limit": 1.5,
                "earlier": [], **kw}
        return [(f.check, f.rule) for f in scanquality.check_page(fact, **args)]

    assert check(facts(dpi=250.0)) == [("resolution_ocr", "DA/T 31-2017 9.4")]
    assert check(facts(dpi=250.0), needs_ocr=False) == []
    assert check(facts(colour="bitonal"), profile=ScanProfile.colour) == \
        [("colour_mode", "DA/T 31-2017 9.3")]
    assert check(facts(colour="bitonal")) == []
    assert check(facts(skew=-2.0)) == [("skew", "DA/T 31-2017 图像处理·纠偏")]
    assert check(facts(), earlier=[("0" * 63 + "7", 4, 9)]) == \
        [("duplicate", "DA/T 31-2017 数据质检")]
    assert scanquality.page_count(3, 3) is None
    assert scanquality.page_count(2, 3).rule == "DA/T 31-2017 数据质检"


# -- separator sheets ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def long_scan(root, box, tmp_path_factory):
    """A box scanned in one go: separator sheets printed by hudang, then scanned again
    crooked (2 degrees) at 200 dpi in greyscale, as a fax-quality bitonal image, and in
    colour, each before its document."""
    folder = tmp_path_factory.mktemp("sheets")
    sheets = folder / "sheets.pdf"
    printed = hudang(root, "separators", "--household", A, "--household", B,
                     "--type", "申请书", "--type", "income_certificate", "--out", str(sheets))
    assert printed.exit_code == 0, printed.output
    assert "wrote 4 separator sheets" in printed.output
    pdf = sheets.read_bytes()
    grey = sb.separator_scans(pdf, dpi=200, angle=2.0, mode="L")
    fax = sb.separator_scans(pdf, dpi=200, angle=-2.0, mode="fax")
    colour = sb.separator_scans(pdf, dpi=300, angle=2.0, mode="RGB")
    # sheets in order: A 申请书, A 收入证明, B 申请书, B 收入证明
    pages = [(*grey[0], ""), (_page(["申请书 第一页"], 60), (300, 300), "申请书 第一页"),
             (*fax[3], ""), (_page(["收入证明 第一页"], 61), (300, 300), "收入证明 第一页"),
             (_page(["收入证明 第二页"], 62), (300, 300), "收入证明 第二页"),
             (*colour[2], ""), (_page(["李秀英 申请书"], 63), (300, 300), "李秀英 申请书")]
    scan = sb.save_pdf(folder / "box2-long.pdf", pages)
    return scan, hudang(root, "ingest-box", str(scan), "--json"), \
        hudang(root, "ingest-box", str(scan))


def test_separator_pdf_says_household_and_type_in_large_text(long_scan, root, tmp_path):
    import pypdfium2 as pdfium

    sheets = tmp_path / "one.pdf"
    assert hudang(root, "separators", "--household", A, "--type", "收入证明", "--out",
                  str(sheets)).exit_code == 0
    document = pdfium.PdfDocument(str(sheets))
    text = document[0].get_textpage().get_text_bounded()
    assert A in text and "收入证明" in text and "文件分隔页" in text


def test_long_scan_is_split_at_the_separators_into_the_right_documents(root, long_scan):
    _, first, second = long_scan
    assert first.exit_code == 0, first.output
    result = json.loads(first.output[:first.output.rindex("}") + 1])
    assert result["separator_pages"] == 3
    got = [(r["household"], r["doc_type"], r["outcome"], r["pages"]) for r in result["rows"]]
    assert got == [(A, "application", "stored", 1), (B, "income_certificate", "stored", 2),
                   (B, "application", "stored", 1)]
    assert second.exit_code == 0, second.output
    assert "0 stored, 3 already stored, 0 failed" in second.output
    archive = _archive(root)
    try:
        with archive.Session() as s:
            ids = [r["document_id"] for r in result["rows"]]
            docs = [s.get(Document, i) for i in ids]
            assert [(d.household_number, d.type_code, d.page_count) for d in docs] == \
                [(A, "application", 1), (B, "income_certificate", 2), (B, "application", 1)]
            # the separator pages were not stored: 4 pages in all, none of them a sheet
            assert s.scalar(select(func.count(PageScan.page_id))
                            .join(Page, Page.id == PageScan.page_id)
                            .where(Page.document_id.in_(ids))) == 4
    finally:
        archive.close()


# -- screens and JSON ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(root, box):
    from records.catalogue import add_user
    from web.app import create_app

    archive = _archive(root)
    with archive.Session() as s, s.begin():
        add_user(s, "box-archivist", "Box-password-1", "archivist", None)
        add_user(s, "box-clerk", "Box-password-1", "staff", "220381105")
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)
    client = app.test_client()
    assert client.post("/login", data={"username": "box-archivist",
                                       "password": "Box-password-1"}).status_code == 302
    yield client
    archive.close()


def test_batch_screens_show_outcomes_findings_and_reports(client):
    listing = client.get("/batches/?lang=en")
    assert listing.status_code == 200 and "Batch 1" in listing.text
    page = client.get("/batches/1?lang=en").text
    assert "no such file in the box" in page and "Document 1" in page
    assert "scanned at 150 dpi, below the 200 dpi" in page and "ScanSnap Manager" in page
    chinese = client.get("/batches/1?lang=zh").text
    assert "批次 1" in chinese and "扫描分辨率" in chinese and "已入库" in chinese
    csv = client.get("/batches/1/report.csv")
    assert csv.status_code == 200 and "质检发现" in csv.data.decode("utf-8-sig")
    assert client.get("/batches/1/report.pdf").data.startswith(b"%PDF")
    data = client.get("/api/batches/1").get_json()
    assert data["failed"] == 5 and data["stored"] == 4
    assert [b["id"] for b in client.get("/api/batches").get_json()["batches"]] == [2, 1]


def test_a_batch_is_confined_to_the_jurisdiction_it_was_run_in(client):
    """The batches here were run at the console (no region): a township's archivist, a clerk
    and an administrator are answered as if there were none."""
    from records.catalogue import add_user

    with client.application.extensions["hudang"].Session() as s, s.begin():
        add_user(s, "box-township", "Box-password-1", "archivist", "220381105")
        add_user(s, "box-admin", "Box-password-1", "administrator", None)
    for name in ("box-township", "box-clerk", "box-admin"):
        other = client.application.test_client()
        assert other.post("/login", data={"username": name, "password": "Box-password-1"}
                          ).status_code == 302
        assert other.get("/batches/1").status_code == 404
        assert other.get("/api/batches/1").status_code == 404
        assert other.get("/batches/1/report.csv").status_code == 404
        listing = other.get("/api/batches")
        assert listing.status_code == 404 or listing.get_json()["batches"] == []


def test_findings_show_on_the_page_and_in_the_dossier(client):
    data = client.get("/api/batches/1").get_json()
    low = next(r for r in data["row_list"] if r["item"] == "a.pdf" and r["document_id"])
    client.post(f"/household/{A}/purpose", data={"purpose": "审核"})
    viewer = client.get(f"/document/{low['document_id']}/page/1?lang=en").text
    assert 'id="scan-findings"' in viewer and "DA/T 31-2017 9.4" in viewer
    dossier = client.get(f"/household/{A}?lang=en").text
    assert "1 page flagged by the scan checks" in dossier


def test_separator_sheets_print_from_the_screen(client):
    form = client.get("/batches/separators")
    assert form.status_code == 200
    made = client.post("/batches/separators", data={"households": f"{A}\n{B}",
                                                    "types": ["application"]})
    assert made.status_code == 200 and made.data.startswith(b"%PDF")
    empty = client.post("/batches/separators", data={"households": ""})
    assert empty.status_code == 400


def test_long_tiff_is_cut_at_its_separators_into_the_same_lossless_parts(tmp_path):
    import hashlib

    from PIL import Image, ImageChops

    from ingest import separators

    sheets = separators.render_sheets([separators.Sheet(A, "application", "申请书"),
                                       separators.Sheet(B, "income_certificate", "收入证明")])
    fax = sb.separator_scans(sheets, dpi=200, angle=2.0, mode="fax")
    grey = sb.separator_scans(sheets, dpi=200, angle=-2.0, mode="L")
    colour_page = _page(["申请书"], 70)
    grey_page = _page(["申请书 第二页"], 71, dpi=150).convert("L")
    scan = sb.save_tiff(tmp_path / "long.tif", [
        fax[0], (colour_page, (300, 300)), (grey_page, (150, 150)), grey[1],
        (_page(["收入证明"], 72), (300, 300))], make="Fujitsu", model="fi-7160",
        software="PaperStream Capture")
    digests = []
    for run in ("one", "two"):
        work = tmp_path / run
        work.mkdir()
        parts, found, scanner = separators.split(scan, work)
        assert found == 2
        assert [(p.household, p.type_code, p.pages) for p in parts] == \
            [(A, "application", [2, 3]), (B, "income_certificate", [5])]
        assert scanner == {"make": "Fujitsu", "model": "fi-7160",
                           "software": "PaperStream Capture"}
        digests.append([hashlib.sha256(p.path.read_bytes()).hexdigest() for p in parts])
    assert digests[0] == digests[1]  # a run again finds the parts stored already
    with Image.open(parts[0].path) as first:
        frames = []
        for n in range(first.n_frames):
            first.seek(n)
            frames.append((first.mode, tuple(round(v) for v in first.info["dpi"])))
            if n == 0:
                assert ImageChops.difference(first.convert("RGB"), colour_page).getbbox() is None
    assert frames == [("RGB", (300, 300)), ("L", (150, 150))]


def test_batch_keeps_file_names_with_id_numbers_masked(root, tmp_path):
    import random
    from datetime import date

    from ingest.synthetic import make_id_number
    from records.idnumbers import mask
    from records.model import BatchRow

    number = make_id_number(random.Random(7), "220381", date(1961, 5, 4), "F")
    folder = tmp_path / f"scans-{number}"
    folder.mkdir()
    sb.save_pdf(folder / f"{number}.pdf", [(_page(["个人申请书"], 60), (300, 300), "申请书")])
    sb.write_manifest(folder / "manifest.csv", [
        {"file": f"{number}.pdf", "household_no": B, "doc_type": "申请书", "pages": 1},
        {"file": f"{number}-2.pdf", "household_no": B, "doc_type": "申请书"}])
    run = hudang(root, "ingest-box", str(folder))
    assert run.exit_code == 8, run.output
    assert number not in run.output
    assert f"row 3 {mask(number)}-2.pdf: failed: cannot ingest '{mask(number)}-2.pdf'" \
        in run.output
    archive = _archive(root)
    try:
        with archive.Session() as s:
            batch = s.scalar(select(Batch).where(Batch.source.contains(mask(number))))
            kept = [(r.item, r.message) for r in s.scalars(
                select(BatchRow).where(BatchRow.batch_id == batch.id))]
    finally:
        archive.close()
    assert number not in batch.source and batch.source.endswith(f"scans-{mask(number)}")
    assert [item for item, _ in kept] == [f"{mask(number)}.pdf", f"{mask(number)}-2.pdf"]
    assert not any(number in message for _, message in kept)
    assert hudang(root, "ingest-box", str(folder)).exit_code == 8
    listed = hudang(root, "batch", "list", "--json").output
    assert number not in listed
    again = [b for b in json.loads(listed) if b["id"] == batch.id]
    assert again[0]["runs"] == 2  # a run again continues the batch of the masked source


def test_a_box_queued_in_the_background_runs_as_its_own_batch_under_masked_names(root, tmp_path):
    """``hudang ingest-box DIR --background`` stages the box as the browser's upload does; the
    worker finds each manifest row's file by its masked name, and nothing of the box stays
    staged once every row is stored."""
    import random
    from datetime import date

    from ingest.jobs import Worker
    from ingest.synthetic import make_id_number
    from records.idnumbers import mask
    from records.model import BatchRow, Job

    number = make_id_number(random.Random(11), "220381", date(1958, 2, 3), "M")
    folder = tmp_path / "box-bg"
    folder.mkdir()
    sb.save_pdf(folder / f"{number}.pdf", [(_page(["诚信承诺书", "承诺人 李秀英"], 70),
                                            (300, 300), "诚信承诺书")])
    sb.save_pdf(folder / "f.pdf", [(_page(["残疾证", "持证人 李秀英"], 71), (300, 300), "残疾证")])
    sb.write_manifest(folder / "manifest.csv", [
        {"file": f"{number}.pdf", "household_no": B, "doc_type": "诚信承诺书", "pages": 1},
        {"file": "f.pdf", "household_no": B, "doc_type": "残疾证", "pages": 1}])
    queued = hudang(root, "ingest-box", str(folder), "--background", "--json")
    assert queued.exit_code == 0, queued.output
    job_id = json.loads(queued.output)["job"]
    archive = _archive(root)
    worker = Worker(archive)
    try:
        worker.run(job_id)
        with archive.Session() as s:
            job = s.get(Job, job_id)
            assert (job.state.value, job.error) == ("done", None)
            assert [(f.name, f.outcome.value) for f in job.files if f.position] == \
                [(f"{mask(number)}.pdf", "stored"), ("f.pdf", "stored")]
            assert all(f.staged_ref is None for f in job.files)  # the manifest too
            batch = s.scalar(select(Batch).where(Batch.source == f"upload job {job_id}"))
            rows = s.scalars(select(BatchRow).where(BatchRow.batch_id == batch.id)).all()
            assert [(r.item, r.outcome.value) for r in rows] == \
                [(f"{mask(number)}.pdf", "stored"), ("f.pdf", "stored")]
            assert all(s.get(Document, r.document_id) is not None for r in rows)
    finally:
        worker.close()
        archive.close()
    listed = hudang(root, "jobs", "list", "--json")
    assert number not in listed.output and f'"batch": {batch.id}' in listed.output


def test_an_out_file_that_cannot_be_written_is_one_sentence_and_a_blank_manifest_reads_back(
        root, tmp_path):
    """Every command's ``--out`` goes through web.cli.context.write_out: a folder that is not
    there is a sentence and the invalid-input exit code, never a traceback."""
    from ingest.box import read_manifest
    from web.errors import ExitCode

    missing = tmp_path / "no-such-folder" / "manifest.csv"
    refused = hudang(root, "batch", "manifest-template", "--out", str(missing))
    assert refused.exit_code == int(ExitCode.bad_input), refused.output
    assert f"cannot write '{missing}'" in refused.output and "Traceback" not in refused.output
    written = hudang(root, "batch", "manifest-template", "--out", str(tmp_path / "m.csv"))
    assert written.exit_code == 0, written.output
    [example] = read_manifest((tmp_path / "m.csv").read_bytes())
    assert (example.file, example.doc_type, example.pages) == ("0001.pdf", "申请书", 2)
