"""The archivist's desk through its three doors (issue 13): document types and completeness,
corrections and order with item numbers never given twice, reviews, reports as CSV and PDF,
reconciliation, and the region scope of every report.

Real parts: a SQLite archive with documents ingested through the real pipeline
(``desk_support``), the CLI through click's runner, the app through Flask's test client,
PDFs read back with pypdfium2, CSVs parsed back with the csv module.
"""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from desk_support import (COMPLETE, EMPTY, HEAD_ID, OTHER, PARTIAL, PASSWORD, REQUIRED,
                          build_desk, pdf_text, text_pdf)
from records.model import AuditEvent, Document, ItemNumber, Page
from web.cli import main

MASKED = HEAD_ID[:4] + "*" * 10 + HEAD_ID[-4:]


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    return build_desk(tmp_path_factory.mktemp("desk"))


@pytest.fixture
def own(desk, tmp_path):
    """A private copy of the desk's archive, for a test that changes it."""
    return desk.copy(tmp_path)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("HUDANG_HOME", "HUDANG_MASTER_KEY_FILE", "HUDANG_MASTER_KEY",
                 "HUDANG_DATABASE_URL", "HUDANG_REVIEW_MONTHS"):
        monkeypatch.delenv(name, raising=False)


def run(desk, *words, ok=True, env=None):
    result = CliRunner().invoke(main, [*desk.cli(), *words], env=env)
    if ok:
        assert result.exit_code == 0, (words, result.output, result.exception)
    return result


def events(desk, action: str) -> list[AuditEvent]:
    archive = desk.open()
    try:
        with archive.Session() as s:
            return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)))
    finally:
        archive.close()


def csv_rows(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheet programs read it as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


# -- document types and completeness ---------------------------------------------------------
def test_the_required_set_is_seeded_and_configurable_with_audit_events(own, tmp_path):
    listed = json.loads(run(own, "doctype", "list", "--json").output)
    assert [t["name_zh"] for t in listed if t["required"]] == REQUIRED
    out = tmp_path / "gaps.csv"
    run(own, "report", "gaps", "--region", "220381105", "--format", "csv", "--out", str(out))
    assert COMPLETE not in {r["户号"] for r in csv_rows(out.read_bytes())}

    refused = run(own, "doctype", "add", "medical", "病历", "--as", "archivist", ok=False)
    assert refused.exit_code == 3 and "may not manage" in refused.output
    run(own, "doctype", "add", "medical", "病历", "--en", "medical record", "--required")
    run(own, "report", "gaps", "--region", "220381105", "--format", "csv", "--out", str(out))
    rows = {r["户号"]: r for r in csv_rows(out.read_bytes())}
    assert rows[COMPLETE]["缺少的材料"] == "病历"  # complete no more
    run(own, "doctype", "set-required", "病历", "no")
    run(own, "report", "gaps", "--region", "220381105", "--format", "csv", "--out", str(out))
    assert COMPLETE not in {r["户号"] for r in csv_rows(out.read_bytes())}
    change = events(own, "doctype_set_required")[-1]
    assert json.loads(change.detail) == {"before": {"required": True},
                                        "after": {"required": False}}
    assert run(own, "doctype", "add", "medical", "病历二", ok=False).exit_code == 4


# -- corrections ----------------------------------------------------------------------------------
def test_a_correction_is_an_audit_event_with_before_and_after_and_id_numbers_masked(own):
    first = own.documents[PARTIAL][0]
    result = run(own, "document", "edit", str(first), "--type", "诚信承诺书", "--date",
                 "2024-03-01", "--title", f"承诺书 户主{HEAD_ID}", "--responsible", "红星村委会",
                 "--reason", f"类别录错 {HEAD_ID}", "--as", "archivist")
    assert HEAD_ID not in result.output and MASKED in result.output
    event = events(own, "document_edit")[-1]
    assert event.actor == "archivist" and event.household == PARTIAL
    detail = json.loads(event.detail)
    assert detail["before"] == {"type": "application", "date": "", "title": "申请书（0042）",
                                "responsible": ""}
    assert detail["after"] == {"type": "pledge", "date": "2024-03-01",
                               "title": f"承诺书 户主{MASKED}", "responsible": "红星村委会"}
    assert HEAD_ID not in event.detail and detail["reason"] == f"类别录错 {MASKED}"
    archive = own.open()
    try:
        with archive.Session() as s:
            doc = s.get(Document, first)
            assert (doc.type_code, doc.responsible) == ("pledge", "红星村委会")
            assert doc.title == f"承诺书 户主{HEAD_ID}"  # stored as typed, shown masked
        # the search index follows the catalogue: the document is found under its new type
        hits = archive.index.search("承诺书", region_scope=None, limit=10).hits
        assert first in {h.document_id for h in hits}
    finally:
        archive.close()
    staff = run(own, "document", "edit", str(first), "--title", "x", "--reason", "r",
                "--as", "clerk", ok=False)
    assert staff.exit_code == 3 and f"document {first} was not found" in staff.output
    assert events(own, "document_edit")[-1].outcome == "refused"
    assert run(own, "document", "edit", str(first), "--reason", "r", ok=False).exit_code == 2


# -- order and numbers ----------------------------------------------------------------------------
def _numbers(desk, number: str) -> tuple[list[tuple[int, int, int]], list[int]]:
    """(document id, place, item number) in order, and every item number ever given."""
    archive = desk.open()
    try:
        with archive.Session() as s:
            from records.catalogue import get_household

            dossier = get_household(s, number).dossier
            docs = [(d.id, d.seq, d.item_no) for d in s.scalars(
                select(Document).where(Document.dossier_id == dossier.id).order_by(Document.seq))]
            given = list(s.scalars(select(ItemNumber.number)
                                   .where(ItemNumber.dossier_id == dossier.id)))
            return docs, given
    finally:
        archive.close()


def test_reordering_renumbers_and_a_number_once_given_is_never_given_again(own, tmp_path):
    a, b, c = own.documents[PARTIAL]
    docs, given = _numbers(own, PARTIAL)
    assert docs == [(a, 1, 1), (b, 2, 2), (c, 3, 3)] and sorted(given) == [1, 2, 3]
    out = run(own, "document", "move", str(c), "--to-seq", "1", "--reason", "按形成时间").output
    assert "place 3 -> 1" in out
    docs, given = _numbers(own, PARTIAL)
    assert docs == [(c, 1, 3), (a, 2, 4), (b, 3, 5)]
    move = json.loads(events(own, "document_move")[-1].detail)
    assert move["before"] == {"position": 3} and move["after"] == {"position": 1}
    assert move["renumbered"] == [{"document": a, "before": 1, "after": 4},
                                  {"document": b, "before": 2, "after": 5}]
    # a document deleted: its number stays in the history and is not given again
    archive = own.open()
    try:
        with archive.Session() as s, s.begin():
            s.execute(delete(Page).where(Page.document_id == b))
            s.execute(delete(Document).where(Document.id == b))
    finally:
        archive.close()
    new = text_pdf(tmp_path / "new.pdf", "a later addition")
    added = json.loads(run(own, "ingest", str(new), "--household", PARTIAL, "--type", "收入证明",
                           "--json").output)["document_id"]
    run(own, "document", "move", str(added), "--to-seq", "1")
    docs, given = _numbers(own, PARTIAL)
    items = [item for _, _, item in docs]
    assert [d for d, _, _ in docs] == [added, c, a]
    assert items == sorted(items) and items == [6, 7, 8]
    assert len(given) == len(set(given)) == 8  # 1..8, each given once
    assert run(own, "document", "move", str(a), "--to-seq", "9", ok=False).exit_code == 2


# -- reports -------------------------------------------------------------------------------------
def test_reports_as_csv_parse_back_with_the_right_rows(desk, tmp_path):
    out = tmp_path / "r.csv"
    run(desk, "report", "gaps", "--region", "220381", "--format", "csv", "--out", str(out))
    gaps = {r["户号"]: r for r in csv_rows(out.read_bytes())}
    assert set(gaps) == {PARTIAL, EMPTY, OTHER}
    assert gaps[PARTIAL]["缺少的材料"] == "诚信承诺书、户口簿复印件、身份证复印件、收入证明"
    assert gaps[EMPTY]["件数"] == "0" and gaps[EMPTY]["缺少的材料"] == "、".join(REQUIRED)
    run(desk, "report", "roster", "--region", "220381105", "--format", "csv", "--out", str(out))
    roster = csv_rows(out.read_bytes())
    assert [r["户号"] for r in roster] == [COMPLETE, EMPTY, PARTIAL]
    assert roster[0]["类别"] == "一类" and roster[1]["城乡"] == "城市"
    assert roster[0]["档号"] == f"0001-DB·2026-D5-{COMPLETE}"
    run(desk, "report", "stats", "--region", "220381", "--format", "csv", "--out", str(out))
    stats = {r["区划代码"]: r for r in csv_rows(out.read_bytes())}
    assert stats["220381105"]["户数"] == "3" and stats["220381106"]["户数"] == "1"
    assert stats["合计"]["在保"] == "4" and stats["合计"]["二类"] == "2"
    assert stats["合计"]["农村"] == "3" and stats["合计"]["城市"] == "1"


def test_printed_reports_carry_their_chinese_text(desk, tmp_path):
    out = tmp_path / "c.pdf"
    run(desk, "report", "contents", "--household", PARTIAL, "--format", "pdf", "--out", str(out))
    text = pdf_text(out.read_bytes())
    assert out.read_bytes().startswith(b"%PDF")
    for words in ("低保对象档案", "卷内目录", "件号", "责任者", "题名", "页数", "备注",
                  f"0001-DB·2026-D5-{PARTIAL}", "王德胜", "申报审批表（0042）"):
        assert words in text, words
    # the rows in their order: 申请书 before 申报审批表 before 入户调查表
    assert text.index("申请书（0042）") < text.index("申报审批表（0042）") < text.index("入户调查表（0042）")
    run(desk, "report", "roster", "--region", "220381105", "--format", "pdf", "--out", str(out))
    text = pdf_text(out.read_bytes())
    assert "低保对象花名册" in text and "东风镇" in text and "张三" in text
    assert OTHER not in text and "李秀英" not in text
    run(desk, "report", "stats", "--region", "220381", "--format", "pdf", "--out", str(out))
    text = pdf_text(out.read_bytes())
    assert "低保对象统计表" in text and "西山镇" in text and "在保与停保户数" in text  # chart
    run(desk, "report", "gaps", "--region", "220381106", "--format", "pdf", "--out", str(out))
    assert "低保档案缺件清单" in pdf_text(out.read_bytes())


def test_a_township_clerk_never_sees_another_township_in_reports(desk, tmp_path):
    out = tmp_path / "x.csv"
    for region in ("220381", "220381106", "220381106003", "999999"):
        result = run(desk, "report", "gaps", "--region", region, "--format", "csv",
                     "--out", str(out), "--as", "clerk", ok=False)
        assert result.exit_code == 3 and f"region {region} was not found" in result.output
        assert not out.exists()
    refused = events(desk, "report_gaps")[-1]
    assert refused.outcome == "refused" and refused.actor == "clerk"
    run(desk, "report", "roster", "--region", "220381105", "--status", "all", "--format",
        "csv", "--out", str(out), "--as", "clerk")
    assert OTHER not in out.read_text(encoding="utf-8")
    other = run(desk, "report", "contents", "--household", OTHER, "--format", "pdf",
                "--out", str(out), "--as", "clerk", ok=False)
    assert other.exit_code == 3
    due = json.loads(run(desk, "review", "due", "--within", "3650", "--json", "--as",
                         "clerk").output)
    assert {d["household"] for d in due} == {COMPLETE, PARTIAL, EMPTY}


# -- reviews -----------------------------------------------------------------------------------------
def test_reviews_are_recorded_and_the_due_list_follows_the_class(own):
    # enrolled 2026-01-10: class 3 due 2026-03-10, class 2 on 2026-07-10, class 1 on 2027-01-10
    due = json.loads(run(own, "review", "due", "--within", "0", "--json").output)
    assert [d["household"] for d in due][:2] == [EMPTY, PARTIAL]
    assert due[0]["due"] == "2026-03-10" and due[0]["last_review"] is None
    run(own, "review", "record", PARTIAL, "--date", "2026-11-02", "--note",
        f"入户核查 {HEAD_ID} 无变化", "--as", "clerk")
    event = events(own, "review_record")[-1]
    assert event.household == PARTIAL and HEAD_ID not in event.detail and MASKED in event.detail
    due = json.loads(run(own, "review", "due", "--within", "400", "--json").output)
    partial = next(d for d in due if d["household"] == PARTIAL)
    assert (partial["last_review"], partial["due"]) == ("2026-11-02", "2027-05-02")
    # the intervals are a setting
    due = json.loads(run(own, "review", "due", "--within", "400", "--json",
                         env={"HUDANG_REVIEW_MONTHS": "12,3,1"}).output)
    assert next(d for d in due if d["household"] == PARTIAL)["due"] == "2027-02-02"
    assert run(own, "review", "record", OTHER, "--date", "2026-11-02", "--as", "clerk",
               ok=False).exit_code == 3
    assert run(own, "review", "record", PARTIAL, "--date", "2999-01-01",
               ok=False).exit_code == 2


# -- reconciliation -----------------------------------------------------------------------------
def test_reconciliation_lists_the_roster_against_the_dossiers(desk, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_bytes(("户号,户主,金额\n"
                        f"{COMPLETE},张三,520.00\n"
                        f"{EMPTY},李四,300\n"
                        "220381105012-0099,周九,280\n"
                        f"{OTHER},李秀英,310\n"
                        "oops,x,1\n").encode("gb18030"))
    found = json.loads(run(desk, "reconcile", str(roster), "--json").output)
    assert [r["household"] for r in found["on_roster_without_dossier"]] == ["220381105012-0099"]
    assert [r["household"] for r in found["on_roster_empty_dossier"]] == [EMPTY]
    assert [r["household"] for r in found["active_not_on_roster"]] == [PARTIAL]
    assert found["matched"] == 2 and found["amount_total"] == "1410.00"
    assert found["bad_rows"] == ["row 6, column 户号: 'oops' is not a household number like "
                                 "220381105012-0042"]
    clerk = json.loads(run(desk, "reconcile", str(roster), "--json", "--as", "clerk").output)
    assert clerk["outside_scope"] == 1 and clerk["matched"] == 1  # 李秀英's township: not looked at
    assert events(desk, "report_reconcile")[-1].actor == "clerk"


# -- the browser's door ---------------------------------------------------------------------------
@pytest.fixture
def app(own):
    from web.app import create_app

    archive = own.open()
    yield create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)
    archive.close()


def client(app, user: str):
    c = app.test_client()
    assert c.post("/login", data={"username": user, "password": PASSWORD}).status_code == 302
    return c


def test_the_dossier_page_shows_what_it_lacks_and_numbers(app):
    c = client(app, "archivist")
    c.post(f"/household/{PARTIAL}/purpose", data={"purpose": "审核"})
    page = c.get(f"/household/{PARTIAL}?lang=en").text
    lacks = page[page.index('id="dossier-lacks"'):page.index("Dossier contents")]
    assert re.findall(r'data-type="(\w+)"', lacks) == ["pledge", "hukou_copy", "id_card_copy",
                                                     "income_certificate"]
    assert f"0001-DB·2026-D5-{PARTIAL}" in page and "0003" in page
    c.post(f"/household/{COMPLETE}/purpose", data={"purpose": "审核"})
    assert 'id="dossier-complete"' in c.get(f"/household/{COMPLETE}").text
    # the table of contents prints under the stated purpose, and is recorded with it
    pdf = c.get(f"/household/{PARTIAL}/contents.pdf")
    assert pdf.status_code == 200 and "卷内目录" in pdf_text(pdf.data)
    staff = client(app, "clerk")
    assert staff.get(f"/household/{PARTIAL}/contents.pdf").status_code == 302  # purpose first


def test_correcting_in_the_browser_shows_errors_beside_the_field_and_records_the_change(
        app, own):
    c = client(app, "archivist")
    document = own.documents[PARTIAL][1]
    bad = c.post(f"/document/{document}/edit", data={"type": "approval_form", "date": "2024-13-01",
                                                    "title": "", "responsible": "", "reason": ""})
    assert bad.status_code == 400 and 'id="error-summary"' in bad.text
    assert {"date-error", "title-error", "reason-error"} <= set(re.findall(r'id="(\w+-error)"',
                                                                         bad.text))
    done = c.post(f"/document/{document}/edit", data={
        "type": "approval_form", "date": "2024-03-05", "title": "低保申报审批表",
        "responsible": "东风镇民政办", "reason": "按原件更正"})
    assert done.status_code == 302
    event = events(own, "document_edit")[-1]
    assert json.loads(event.detail)["after"] == {"date": "2024-03-05", "title": "低保申报审批表",
                                                 "responsible": "东风镇民政办"}
    moved = c.post(f"/document/{document}/move", data={"to_seq": "1"})
    assert moved.status_code == 302 and events(own, "document_move")
    # staff may not correct: the same 404 as a missing document, and a refused event
    staff = client(app, "clerk")
    assert staff.get(f"/document/{document}/edit").status_code == 404
    assert events(own, "document_edit")[-1].outcome == "refused"


def test_report_screens_page_download_and_refuse_another_township(app, own):
    staff = client(app, "clerk")
    page = staff.get("/reports/gaps?region=220381105")
    assert page.status_code == 200 and PARTIAL in page.text and OTHER not in page.text
    assert "cards" in page.text and "data-label" in page.text
    download = staff.get("/reports/gaps?region=220381105&format=csv")
    assert {r["户号"] for r in csv_rows(download.data)} == {PARTIAL, EMPTY}
    assert "attachment" in download.headers["Content-Disposition"]
    roster = staff.get("/reports/roster?region=220381105&format=pdf")
    assert roster.mimetype == "application/pdf" and "张三" in pdf_text(roster.data)
    before = len(events(own, "report_stats"))
    other = staff.get("/reports/stats?region=220381106")
    assert other.status_code == 404
    assert events(own, "report_stats")[before:][-1].outcome == "refused"
    assert staff.get("/reports/stats/chart.svg?region=220381").status_code == 404
    chart = staff.get("/reports/stats/chart.svg?region=220381105")
    assert chart.mimetype == "image/svg+xml" and "红星村" in chart.text
    assert client(app, "auditor").get("/reports/").status_code == 404
    api = staff.get("/api/reports/gaps?region=220381105").json
    assert api["title"] == "低保档案缺件清单"
    assert {r["户号"] for r in api["rows"]} == {PARTIAL, EMPTY}
    refused = staff.get("/api/reports/stats?region=220381")
    assert refused.status_code == 404 and "error" in refused.json
    reconciled = staff.post("/reports/reconcile", data={
        "roster": (io.BytesIO(f"户号,户主,金额\n{COMPLETE},张三,1\n".encode()), "r.csv")},
        content_type="multipart/form-data")
    assert reconciled.status_code == 200 and 'id="reconcile-missing"' in reconciled.text
    not_a_roster = staff.post("/reports/reconcile", data={
        "roster": (io.BytesIO("名字,钱\n张三,1\n".encode()), "r.csv")},
        content_type="multipart/form-data")
    assert not_a_roster.status_code == 400 and "has no column 户号" in not_a_roster.text
    admin = client(app, "admin")
    assert admin.get("/doctypes/").status_code == 200
    assert admin.post("/doctypes/", data={"code": "", "name_zh": ""}).status_code == 400
    assert admin.post("/doctypes/", data={"code": "medical", "name_zh": "病历",
                                          "required": "yes"}).status_code == 302
    assert "病历" in admin.get("/doctypes/").text
    assert staff.get("/doctypes/").status_code == 404


def test_reviews_from_the_household_page(app, own):
    staff = client(app, "clerk")
    assert staff.post(f"/household/{PARTIAL}/review",
                      data={"date": "2026-13-01", "outcome": "continued"}).status_code == 400
    assert staff.post(f"/household/{PARTIAL}/review",
                      data={"date": "2026-10-01", "outcome": "adjusted",
                            "note": "收入增加"}).status_code == 302
    staff.post(f"/household/{PARTIAL}/purpose", data={"purpose": "复核"})
    page = staff.get(f"/household/{PARTIAL}").text
    assert "收入增加" in page and "2026-10-01" in page and "2027-04-01" in page
    assert staff.get(f"/household/{OTHER}/review").status_code == 404
