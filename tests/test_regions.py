"""Regions kept by administrators (issue 13): a CSV of statistical area codes imported with
bad rows named one sentence each (row, column), the good rows applied, a re-import that
changes nothing; adding and renaming in the browser and from the command line, each an
audit event; others refused as if the screen did not exist.

Real parts: a SQLite catalogue built by the migrations, real CSV files, the app through
Flask's test client and the ``hudang`` command tree through click's runner.
"""
from __future__ import annotations

import json
from io import BytesIO

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from records.catalogue import add_user
from records.model import AuditEvent, Region, RegionLevel
from tests.conftest import make_archive
from web.cli import main

PASSWORD = "Regions-test-77"

# what the National Bureau of Statistics publishes: every level as 12 digits
NBS_CSV = """统计用区划代码,名称,级别,上级代码
220381000000,示范县,县,
220381106000,西山镇,镇,220381000000
220381106003,青石村,村,220381106000
220381106004,,村,
22038110600X,坏村,村,
220382106001,邻县村,村,
220381106005,绿水村,乡,
220381106006,白云村,村,220381105000
220381106003,青石村,村,
220381107000,南湖街道,街道,
220381107001,湖滨社区,社区,
"""
PROBLEMS = [
    "row 5, column 名称: the region's name is empty",
    "row 6, column 统计用区划代码: “22038110600X” is not a region code of 6 (county), 9 "
    "(township) or 12 (village) digits",
    "row 7, column 上级代码: the parent region 220382106 is neither in the catalogue nor a "
    "good row of this file",
    "row 8, column 统计用区划代码: the code 220381106005 has 12 digits, which is not the "
    "length of the level given",
    "row 9, column 上级代码: 220381106006 does not lie under 220381105000: codes nest by prefix",
    "row 10, column 统计用区划代码: “220381106003” is already in row 4",
]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    archive = make_archive(tmp_path_factory.mktemp("regions"))
    with archive.Session() as s, s.begin():
        add_user(s, "admin", PASSWORD, "administrator")
        add_user(s, "archivist", PASSWORD, "archivist")
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def app(archive):
    from web.app import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)


def cli(archive, *args):
    base = ["--home", str(archive.settings.home), "--key-file",
            str(archive.settings.master_key_file)]
    return CliRunner().invoke(main, [*base, *args])


def regions(archive) -> dict[str, tuple]:
    with archive.Session() as s:
        return {r.code: (r.name, r.level, r.parent_code) for r in s.scalars(select(Region))}


def signed_in(app, user):
    client = app.test_client()
    assert client.post("/login", data={"username": user, "password": PASSWORD}).status_code == 302
    return client


def test_a_csv_of_area_codes_is_imported_row_by_row_and_again_changes_nothing(archive, tmp_path):
    path = tmp_path / "区划.csv"
    path.write_text(NBS_CSV, encoding="utf-8-sig")
    result = cli(archive, "region", "import", str(path), "--as", "admin")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"区划.csv: {p}" for p in PROBLEMS]
    assert "4 created, 0 updated, 1 unchanged, 6 rows refused" in result.stdout
    found = regions(archive)
    assert found["220381106"] == ("西山镇", RegionLevel.township, "220381")
    assert found["220381106003"] == ("青石村", RegionLevel.village, "220381106")
    assert found["220381107001"] == ("湖滨社区", RegionLevel.village, "220381107")
    assert "220381106004" not in found and "220382106001" not in found
    before = regions(archive)
    again = cli(archive, "region", "import", str(path), "--as", "admin", "--json")
    report = json.loads(again.stdout)
    assert (report["created"], report["updated"], report["unchanged"],
            report["refused"]) == (0, 0, 5, 6)
    assert regions(archive) == before
    # a name changed in the file renames the region, and only that
    path.write_text(NBS_CSV.replace("湖滨社区", "湖滨新社区"), encoding="utf-8")
    third = json.loads(cli(archive, "region", "import", str(path), "--as", "admin",
                           "--json").stdout)
    assert third["updated_ids"] == ["220381107001"]
    with archive.Session() as s:
        imports = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "region_import")))
    assert [json.loads(e.detail)["created"] for e in imports] == [4, 0, 0]


def test_an_import_through_the_browser_lists_the_bad_rows_in_the_readers_language(app):
    admin = signed_in(app, "admin")
    data = "代码,名称\n220381108,北山镇\n220381108001,\n".encode("gb18030")
    page = admin.post("/admin/regions", data={"do": "import", "file": (BytesIO(data), "r.csv")},
                      content_type="multipart/form-data")
    assert page.status_code == 200
    assert "新增 1 个，更名 0 个，未变 0 个，1 行未导入。" in page.text
    assert "第 3 行“名称”列：区划名称未填写" in page.text
    english = admin.post("/admin/regions?lang=en", data={
        "do": "import", "file": (BytesIO(data), "r.csv")}, content_type="multipart/form-data")
    assert "Row 3, column “名称”: the region&#39;s name is empty" in english.text


def test_regions_are_added_and_renamed_in_the_browser_and_from_the_cli(app, archive):
    admin = signed_in(app, "admin")
    bad = admin.post("/admin/regions", data={"do": "add", "code": "22038110", "name": ""})
    assert bad.status_code == 400
    assert "“22038110”不是区划代码" in bad.text and "区划名称未填写" in bad.text
    orphan = admin.post("/admin/regions", data={"do": "add", "code": "220399001",
                                                "name": "无县镇"})
    assert "其上级区划 220399 尚未登记，请先添加" in orphan.text
    assert admin.post("/admin/regions", data={"do": "add", "code": "220381109",
                                              "name": "东山乡"}).status_code == 302
    twice = admin.post("/admin/regions", data={"do": "add", "code": "220381109", "name": "x"})
    assert "区划 220381109 已存在" in twice.text
    assert admin.post("/admin/regions/220381109", data={"name": "东山镇"}).status_code == 302
    assert regions(archive)["220381109"][0] == "东山镇"
    result = cli(archive, "region", "rename", "220381109", "东山街道", "--as", "admin")
    assert result.exit_code == 0 and regions(archive)["220381109"][0] == "东山街道"
    with archive.Session() as s:
        renames = [json.loads(e.detail) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "region_rename"))]
    assert renames[-2:] == [{"before": "东山乡", "after": "东山镇"},
                            {"before": "东山镇", "after": "东山街道"}]


def test_an_archivist_may_not_import_regions(archive, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("代码,名称\n220381110,西湖镇\n", encoding="utf-8")
    result = cli(archive, "region", "import", str(path), "--as", "archivist")
    assert result.exit_code == 3
    assert "this account may not manage users, regions, document types and retention classes" in result.stderr
    assert "220381110" not in regions(archive)
