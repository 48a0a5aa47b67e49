"""Where each role lands, and the region tree (issue 13, "Home, browsing and accounts").

- After signing in, an archivist lands on the dossiers that lack documents, the pages OCR
  flagged and the recent ingests; a clerk on their township's villages and households; an
  auditor on the audit screen; an administrator on users and regions; a user with several
  roles on a page combining theirs.
- The region tree (county → township → village) lists households with status, class and
  completeness, a page at a time, with CSV and JSON, and never shows a township clerk
  another township's households.

Real parts: an archive with really ingested pages (``browser_support.build_world``, real
OCR; one more page naming another household's number, which OCR's field check flags),
the app through Flask's test client.
"""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from browser_support import PASSWORD, build_world
from ingest import households as service
from records.catalogue import add_user
from records.model import AuditEvent, StatusChange
from records.policy import Principal, Role

OPERATOR = Principal("test", frozenset({Role.operator}))
VILLAGE_A = "220381105012"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ingest.fonts import cjk_font
    from ingest.pipeline import IngestRequest, Ingestor

    root = tmp_path_factory.mktemp("home")
    world = build_world(root)
    archive = world.open()
    with archive.Session() as s, s.begin():
        add_user(s, "archivist", PASSWORD, "archivist")
        add_user(s, "admin", PASSWORD, "administrator")
        add_user(s, "clerk-auditor", PASSWORD, "staff,auditor", "220381105")
    # a page of household a that names household b: OCR's field check flags it
    scan = root / "foreign.png"
    image = Image.new("L", (1240, 877), 255)
    ImageDraw.Draw(image).text((90, 200), f"入户调查表 户号 {world.b.number}", font=cjk_font(44),
                                fill=0)
    image.save(scan, dpi=(150, 150))
    with Ingestor(archive, workers=1) as ingestor:
        ingestor.ingest(IngestRequest(path=scan, household=world.a.number, doc_type="入户调查表",
                                      actor="archivist"))
    # 60 more households in a's village: more than a page of the tree
    for n in range(1, 61):
        service.create(archive, OPERATOR, f"{VILLAGE_A}-{n + 100:04d}",
                       {"head_name": f"户主{n}", "review_class": str(n % 3 + 1)})
    service.change_status(archive, OPERATOR, f"{VILLAGE_A}-0101", StatusChange.stop,
                          date(2025, 1, 1), "迁出")
    archive.close()
    return world


@pytest.fixture(scope="module")
def archive(world):
    arch = world.open()
    yield arch
    arch.close()


@pytest.fixture(scope="module")
def app(archive):
    from web.app import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)


def sign_in(app, user):
    client = app.test_client()
    answer = client.post("/login", data={"username": user, "password": PASSWORD})
    assert answer.status_code == 302
    return client, answer.location


def refused_since(archive, after: int) -> list[AuditEvent]:
    with archive.Session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.id > after,
                                                       AuditEvent.outcome == "refused")))


def last_id(archive) -> int:
    with archive.Session() as s:
        return s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))


def test_an_archivist_lands_on_the_work_that_waits(app, world):
    client, landing = sign_in(app, "archivist")
    assert landing == "/home"
    page = client.get(landing).text
    assert 'id="panel-work"' in page
    incomplete = page.split('id="incomplete-dossiers"')[1].split("</table>")[0]
    assert f"/household/{world.a.number}" in incomplete and "缺 5 项" in incomplete
    flagged = page.split('id="flagged-pages"')[1].split("</table>")[0]
    assert f"/household/{world.a.number}" in flagged and "出现其他户的户号" in flagged
    assert "/document/" in flagged  # one click to the page itself
    ingests = page.split('id="recent-ingests"')[1].split("</table>")[0]
    assert world.a.number in ingests and world.b.number in ingests
    assert 'id="create-household"' in page and 'id="import-households"' in page


def test_a_clerk_lands_on_the_townships_villages_and_households(app, world):
    client, landing = sign_in(app, world.a.staff)
    page = client.get(landing).text
    assert 'id="panel-area"' in page and 'id="panel-work"' not in page
    assert "东风镇" in page and "红星村" in page and world.a.number in page
    assert world.b.number not in page and "西山镇" not in page and "青石村" not in page
    assert 'id="all-households"' in page  # 61 households: the rest one click away


def test_an_auditor_lands_on_the_audit_screen(app):
    client, landing = sign_in(app, "auditor")
    assert client.get(landing).location == "/audit/"


def test_an_administrator_lands_on_users_and_regions(app):
    client, landing = sign_in(app, "admin")
    page = client.get(landing).text
    assert 'id="panel-admin"' in page and 'id="user-list"' in page and "示范县" in page
    assert 'id="create-user"' in page and "/admin/users/clerk" in page


def test_a_user_with_two_roles_gets_both_on_one_page(app):
    client, landing = sign_in(app, "clerk-auditor")
    page = client.get(landing).text
    assert 'id="panel-area"' in page and 'id="panel-audit"' in page


def test_the_region_tree_lists_households_a_page_at_a_time_with_status_class_completeness(
        app, world):
    client, _ = sign_in(app, "archivist")
    first = client.get(f"/browse/{VILLAGE_A}").text
    assert "共 61 户" in first and first.count('class="household-link"') == 50
    assert 'rel="next"' in first
    second = client.get(f"/browse/{VILLAGE_A}?page=2").text
    assert second.count('class="household-link"') == 11
    stopped = client.get(f"/browse/{VILLAGE_A}?status=stopped").text
    assert "共 1 户" in stopped and f"{VILLAGE_A}-0101" in stopped and "停保" in stopped
    by_head = client.get(f"/browse/{VILLAGE_A}?sort=head").text
    assert by_head.index("户主1<") < by_head.index("户主10<")
    county = client.get("/browse/220381").text
    assert "东风镇" in county and "西山镇" in county and "共 62 户" in county


def test_the_csv_export_lists_every_household_of_the_region(app, world, archive):
    client, _ = sign_in(app, "archivist")
    answer = client.get(f"/browse/{VILLAGE_A}/households.csv")
    assert answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 61
    row = {r["household_no"]: r for r in rows}[f"{VILLAGE_A}-0102"]
    assert (row["status"], row["review_class"], row["complete"]) == ("active", "3", "no")
    assert row["missing"].startswith("申请书、申报审批表")
    with archive.Session() as s:
        assert s.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)) == \
            "export_households"


def test_a_township_clerk_never_sees_another_townships_households(app, world, archive):
    client, _ = sign_in(app, world.a.staff)
    assert client.get("/browse").location == "/browse/220381105"
    assert client.get("/browse/220381").location == "/browse/220381105"  # above: own region
    tree = client.get("/browse/220381105").text
    assert world.a.number in tree and world.b.number not in tree and "西山镇" not in tree
    exported = client.get("/browse/220381105/households.csv").get_data(as_text=True)
    assert world.a.number in exported and world.b.number not in exported
    api = client.get("/api/regions").get_json()
    assert api["region"]["code"] == "220381105"
    assert world.b.number not in str(api)
    for url in ("/browse/220381106", "/browse/220381106003", "/browse/220381106/households.csv",
                "/api/regions/220381106", f"/api/households/{world.b.number}"):
        before = last_id(archive)
        assert client.get(url).status_code == 404, url
        assert refused_since(archive, before), url


def test_the_json_doors_answer_like_the_screens(app, world):
    client, _ = sign_in(app, "archivist")
    region = client.get(f"/api/regions/{VILLAGE_A}?page=2").get_json()
    assert region["total"] == 61 and region["offset"] == 50 and len(region["households"]) == 11
    assert region["lineage"][0]["code"] == "220381"
    one = client.get(f"/api/households/{world.a.number}").get_json()
    assert one["number"] == world.a.number and world.a.id_number not in str(one)
    assert [m["name"] for m in one["missing"]] == ["申报审批表", "诚信承诺书", "户口簿复印件",
                                                   "身份证复印件", "收入证明"]
