"""The audit screen: filters, CSV export with masked ID numbers, "who read this", and that
looking at the log is itself on the log. Real catalogue and Flask app (test client)."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from records import audit
from records.catalogue import add_household, add_region, add_user
from records.model import AuditEvent
from tests.conftest import make_archive

PASSWORD = "Audit-screen-3"
EAST = "220381105012-0042"
WEST = "220381106001-0007"
ID_NUMBER = "22038119800101123X"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    archive = make_archive(tmp_path_factory.mktemp("audit-screen"))
    with archive.Session() as s, s.begin():
        add_region(s, "220381106", "西山镇")
        add_region(s, "220381106001", "西山村")
        add_household(s, WEST, "张建国", "220381106001")
        add_user(s, "east-clerk", PASSWORD, "staff", "220381105")
        add_user(s, "county-clerk", PASSWORD, "staff", "220381")
        add_user(s, "chief-auditor", PASSWORD, "auditor")
        add_user(s, "east-auditor", PASSWORD, "auditor", "220381105")
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def app(archive):
    from web.app import create_app

    app = create_app(archive=archive, test_config={"WTF_CSRF_ENABLED": False})
    # some reading to audit: the east clerk reads east, is refused west; the county clerk reads both
    east = login(app, "east-clerk")
    east.post(f"/household/{EAST}/purpose", data={"purpose": "审核"})
    east.get(f"/household/{EAST}")
    east.get(f"/household/{WEST}")
    county = login(app, "county-clerk")
    for number in (EAST, WEST):
        county.post(f"/household/{number}/purpose", data={"purpose": "信访"})
        county.get(f"/household/{number}")
    # an event that holds an ID number in the clear (written by an older tool, say)
    archive.record(audit.Event(actor="legacy-import", action="import", household=EAST,
                               detail={"note": f"head {ID_NUMBER}"}))
    return app


def login(app, name):
    client = app.test_client()
    assert client.post("/login", data={"username": name, "password": PASSWORD}).status_code == 302
    return client


def export(client, **filters) -> list[dict]:
    r = client.get("/audit/export.csv", query_string=filters)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))


def _no_token(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


def events(archive, **where) -> list[AuditEvent]:
    with archive.Session() as s:
        q = select(AuditEvent)
        for k, v in where.items():
            q = q.where(getattr(AuditEvent, k) == v)
        return list(s.scalars(q.order_by(AuditEvent.id)))


def test_filters_by_user_household_action_and_outcome(app):
    client = login(app, "chief-auditor")
    rows = export(client, user="east-clerk")
    assert rows and {r["actor"] for r in rows} == {"east-clerk"}
    rows = export(client, household=WEST)
    assert {r["household"] for r in rows} == {WEST}
    assert {(r["actor"], r["action"], r["outcome"]) for r in rows} >= {
        ("east-clerk", "read_household", "refused"), ("county-clerk", "read_household", "allowed")}
    rows = export(client, action="read_household", outcome="refused")
    assert [(r["actor"], r["household"]) for r in rows] == [("east-clerk", WEST)]
    rows = export(client, user="county-clerk", action="read_household")
    assert [(r["household"], r["purpose"]) for r in rows] == [(EAST, "信访"), (WEST, "信访")]
    # the screen shows the same selection
    page = client.get("/audit/", query_string={"action": "read_household", "outcome": "refused"})
    assert page.status_code == 200
    assert len(re.findall(r'<tr class="outcome-', page.text)) == 1 and WEST in page.text


def test_filters_by_date_range(app):
    client = login(app, "chief-auditor")
    today = date.today()  # events are stamped in UTC; allow for the day boundary
    days = {(today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)}
    around = export(client, date_from=min(days), date_to=max(days), action="read_household")
    assert len(around) >= 4 and around == export(client, action="read_household")
    assert export(client, date_from=(today + timedelta(days=2)).isoformat()) == []
    assert export(client, date_to=(today - timedelta(days=2)).isoformat()) == []
    bad = client.get("/audit/", query_string={"date_from": "yesterday"})
    assert bad.status_code == 400


def test_export_has_a_header_and_masks_id_numbers(app):
    client = login(app, "chief-auditor")
    r = client.get("/audit/export.csv")
    text = r.data.decode("utf-8-sig")
    assert text.splitlines()[0] == ("id,at,actor,action,outcome,object_type,object_id,household,"
                                    "page,purpose,detail")
    assert ID_NUMBER not in text
    [legacy] = [row for row in csv.DictReader(io.StringIO(text)) if row["actor"] == "legacy-import"]
    assert "2203**********123X" in legacy["detail"]
    assert "attachment" in r.headers["Content-Disposition"]


def test_viewing_and_exporting_the_log_are_recorded(archive, app):
    client = login(app, "chief-auditor")
    before = len(events(archive, actor="chief-auditor"))
    client.get("/audit/", query_string={"user": "east-clerk"})
    client.get("/audit/export.csv", query_string={"household": EAST})
    client.get(f"/audit/household/{EAST}")
    new = events(archive, actor="chief-auditor")[before:]
    assert [(e.action, e.outcome, e.household) for e in new] == [
        ("audit_view", "allowed", None), ("audit_export", "allowed", None),
        ("audit_view", "allowed", EAST)]
    assert '"user": "east-clerk"' in new[0].detail and EAST in new[1].detail


def test_who_read_this_lists_readers_with_their_purpose(app):
    client = login(app, "chief-auditor")
    page = client.get(f"/audit/household/{EAST}")
    assert page.status_code == 200
    # each row: the reader, the action and outcome (labels; the codes in their titles), the purpose
    rows = re.findall(r'<td data-label="[^"]*">(east-clerk|county-clerk)</td>\s*'
                      r'<td data-label="[^"]*" title="(read_household|state_purpose)">[^<]*</td>\s*'
                      r'<td data-label="[^"]*" title="allowed">[^<]*</td>.*?'
                      r'<td data-label="[^"]*">(审核|信访)</td>', page.text, re.S)
    assert ("east-clerk", "read_household", "审核") in rows
    assert ("county-clerk", "read_household", "信访") in rows
    # the dossier page links to it for auditors
    client.post(f"/household/{EAST}/purpose", data={"purpose": "审计"})
    assert f'href="/audit/household/{EAST}"' in client.get(f"/household/{EAST}").text


def test_an_auditor_with_a_region_sees_only_its_households(app):
    client = login(app, "east-auditor")
    rows = export(client)
    assert rows and {r["household"] for r in rows} == {EAST}
    assert client.get(f"/audit/household/{WEST}").status_code == 404
    assert client.get(f"/audit/household/{EAST}").status_code == 200


def test_non_auditors_get_404_and_a_refused_event(archive, app):
    client = login(app, "east-clerk")
    missing = client.get("/no/such/page").text
    for url, action in (("/audit/", "audit_view"), ("/audit/export.csv", "audit_export"),
                        (f"/audit/household/{EAST}", "audit_view")):
        before = len(events(archive, actor="east-clerk", action=action))
        r = client.get(url)
        assert r.status_code == 404 and _no_token(r.text) == _no_token(missing)
        [event] = events(archive, actor="east-clerk", action=action)[before:]
        assert event.outcome == "refused"
    assert 'href="/audit/"' not in client.get("/").text


def test_the_log_is_paged_a_hundred_events_at_a_time(archive, app):
    for i in range(130):
        archive.record(audit.Event(actor="bulk-reader", action="read_page", household=EAST,
                                   object_type="document", object_id=str(i), page=1))
    client = login(app, "chief-auditor")
    first = client.get("/audit/", query_string={"user": "bulk-reader"}).text
    assert len(re.findall(r'<tr class="outcome-', first)) == 100
    next_url = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).text
    assert len(re.findall(r'<tr class="outcome-', second)) == 30
    assert 'rel="next"' not in second
    with archive.Session() as s:
        assert s.scalar(select(func.count()).where(AuditEvent.actor == "bulk-reader")) == 130
