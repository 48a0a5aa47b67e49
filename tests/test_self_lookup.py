"""Citizen self-lookup (本人查阅): request, staff approval, one-time code, reading, limits.

The real app (Flask test client, Flask-WTF CSRF on) over a real SQLite archive
with two households in two townships and one really ingested page each.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from browser_support import PASSWORD, build_world
from records.lockout import Lockout
from records.model import AccessRequest, FailedAttempt, RequestStatus
from records.self_lookup import CODE_ALPHABET, new_code
from web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NOT_ON_FILE_ID = "110101199003074514"  # well formed, belongs to no household


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("self-lookup"))


@pytest.fixture
def world(template, tmp_path):
    return template.copy(tmp_path)


@pytest.fixture
def archive(world):
    arch = world.open()
    yield arch
    arch.close()


@pytest.fixture
def app(archive):
    return create_app({"TESTING": True}, archive=archive)


def _token(client, path: str) -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def ask(app, name: str, id_number: str, certificate: str, ip: str = "10.0.0.1"):
    client = app.test_client()
    token = _token(client, "/self/")
    return client.post("/self/", data={"csrf_token": token, "name": name,
                                       "id_number": id_number, "certificate": certificate},
                       environ_base={"REMOTE_ADDR": ip})


def staff(app, username: str):
    client = app.test_client()
    token = _token(client, "/login")
    r = client.post("/login", data={"csrf_token": token, "username": username,
                                    "password": PASSWORD})
    assert r.status_code in (200, 302), r.status_code
    return client


def request_id(archive, household: str) -> int:
    with archive.Session() as s:
        return s.scalar(select(AccessRequest.id).join(AccessRequest.household)
                        .where(text("household.number = :n")).params(n=household)
                        .order_by(AccessRequest.id.desc()))


def approve(client, req_id: int):
    token = _token(client, "/self/queue")
    return client.post(f"/self/queue/{req_id}/approve", data={"csrf_token": token})


def issued_code(app, archive, person) -> str:
    assert ask(app, person.name, person.id_number, person.certificate or "任意").status_code == 200
    r = approve(staff(app, person.staff), request_id(archive, person.number))
    assert r.status_code == 200
    return re.search(r'id="access-code">([^<]+)<', r.get_data(as_text=True)).group(1)


def redeem(app, id_number: str, code: str, ip: str = "10.9.0.1", client=None):
    client = client or app.test_client()
    token = _token(client, "/self/read")
    r = client.post("/self/read", data={"csrf_token": token, "id_number": id_number,
                                        "code": code}, environ_base={"REMOTE_ADDR": ip})
    return client, r


def audit_rows(archive, action: str):
    with archive.engine.connect() as conn:
        return conn.execute(text("SELECT actor, outcome, object_id, household, detail "
                                 "FROM audit_event WHERE action = :a ORDER BY id"),
                            {"a": action}).all()


# -- the request form ------------------------------------------------------------------
def test_wrong_and_right_answers_get_the_same_page_until_approval(app, world, archive):
    a, b = world.a, world.b
    answers = [
        (a.name, a.id_number, a.certificate),  # right
        (a.name, a.id_number, "DB0000000000"),  # wrong certificate (one is on file)
        ("王德顺", a.id_number, a.certificate),  # wrong name
        (a.name, NOT_ON_FILE_ID, a.certificate),  # nobody's ID number
        (b.name, b.id_number, "随便写"),  # right: no certificate on file for b
    ]
    responses = [ask(app, *answer, ip=f"10.1.0.{i}") for i, answer in enumerate(answers)]
    assert {r.status_code for r in responses} == {200}
    bodies = {CSRF.sub("csrf", r.get_data(as_text=True)) for r in responses}
    assert len(bodies) == 1
    body = bodies.pop()
    assert "申请已收到" in body
    for secret in (a.id_number, a.certificate, a.name):
        assert secret not in body  # nothing typed is echoed back
    # only the two right answers became requests; every attempt is recorded, none with an ID
    with archive.Session() as s:
        households = sorted(r.household.number for r in s.scalars(select(AccessRequest)))
    assert households == sorted([a.number, b.number])
    rows = audit_rows(archive, "self_lookup_request")
    assert [r.outcome for r in rows] == ["allowed", "refused", "refused", "refused", "allowed"]
    with archive.engine.connect() as conn:
        log = " ".join(str(v) for row in conn.execute(text("SELECT * FROM audit_event"))
                       for v in row)
    for secret in (a.id_number, b.id_number, NOT_ON_FILE_ID, a.certificate, "DB0000000000"):
        assert secret not in log


def test_request_form_needs_a_csrf_token(app, world):
    r = app.test_client().post("/self/", data={"name": world.a.name,
                                               "id_number": world.a.id_number,
                                               "certificate": world.a.certificate})
    assert r.status_code == 400
    assert "申请已收到" not in r.get_data(as_text=True)


# -- the staff queue ---------------------------------------------------------------
def test_request_waits_only_in_its_own_townships_queue(app, world, archive):
    a = world.a
    ask(app, a.name, a.id_number, a.certificate)
    ask(app, "张三", NOT_ON_FILE_ID, "X1", ip="10.0.0.2")  # matches nothing
    own = staff(app, a.staff).get("/self/queue").get_data(as_text=True)
    assert a.name in own and a.number in own
    assert a.id_number[:4] + "*" * 10 + a.id_number[-4:] in own  # masked
    assert a.id_number not in own
    assert own.count('class="self-request"') == 1  # the non-matching request left nothing
    other = staff(app, world.b.staff)
    page = other.get("/self/queue").get_data(as_text=True)
    assert a.name not in page and a.number not in page
    req_id = request_id(archive, a.number)
    r = approve(other, req_id)
    assert r.status_code == 404
    assert audit_rows(archive, "self_lookup_approve")[-1][:3] == (world.b.staff, "refused",
                                                                  str(req_id))
    with archive.Session() as s:
        assert s.get(AccessRequest, req_id).status is RequestStatus.pending


def test_queue_needs_a_staff_sign_in(app):
    r = app.test_client().get("/self/queue")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_approval_shows_a_code_once_and_stores_only_its_hash(app, world, archive):
    code = issued_code(app, archive, world.a)
    plain = code.replace("-", "")
    assert len(plain) == 10 and set(plain) <= set(CODE_ALPHABET)
    # approving the same request again is refused: the code is never shown a second time
    r = approve(staff(app, world.a.staff), request_id(archive, world.a.number))
    assert r.status_code == 404 and code not in r.get_data(as_text=True)
    with archive.Session() as s:
        req = s.scalars(select(AccessRequest)).one()
        assert req.status is RequestStatus.approved and req.decided_by == world.a.staff
        assert re.fullmatch(r"[0-9a-f]{64}", req.code_hash)
    archive.engine.dispose()  # checkpoint nothing away: read the file and its WAL as they are
    raw = b"".join(p.read_bytes() for p in world.home.glob("catalogue.sqlite*"))
    for secret in (plain, code, plain.lower(), world.a.id_number, world.a.certificate):
        assert secret.encode() not in raw


# -- reading with the code ---------------------------------------------------------------
def test_code_opens_the_own_dossier_read_only_masked_and_watermarked(app, world, archive):
    a = world.a
    code = issued_code(app, archive, a)
    client, r = redeem(app, a.id_number, code)
    assert r.status_code == 302 and r.headers["Location"].endswith("/self/read/dossier")
    page = client.get("/self/read/dossier").get_data(as_text=True)
    assert a.name in page and "申请书" in page
    assert a.id_number not in page and a.id_number[-4:] in page
    assert f"/self/read/document/{a.document_id}/page/1" in page
    assert "download" not in page.lower() and ".pdf" not in page.lower()
    image = client.get(f"/self/read/document/{a.document_id}/page/1/image")
    assert image.status_code == 200 and image.content_type == "image/jpeg"
    assert image.data[:3] == b"\xff\xd8\xff"
    assert image.headers["Cache-Control"] == "no-store"
    assert "attachment" not in image.headers.get("Content-Disposition", "")
    req_id = request_id(archive, a.number)
    with archive.engine.connect() as conn:
        row = conn.execute(text("SELECT actor, outcome, household, purpose FROM audit_event "
                                "WHERE action = 'read_page' ORDER BY id DESC")).first()
    assert tuple(row) == (f"citizen:{req_id}", "allowed", a.number, "本人查阅")
    # the citizen session is not a staff session
    staff_view = client.get(f"/document/{a.document_id}/page/1/image")
    assert staff_view.status_code == 302 and "/login" in staff_view.headers["Location"]


def test_a_code_never_reaches_another_households_documents(app, world, archive):
    a, b = world.a, world.b
    code = issued_code(app, archive, a)
    client, r = redeem(app, a.id_number, code)
    assert r.status_code == 302
    for path in (f"/self/read/document/{b.document_id}/page/1",
                 f"/self/read/document/{b.document_id}/page/1/image"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert b.name not in r.get_data(as_text=True)
    actor = f"citizen:{request_id(archive, a.number)}"
    with archive.engine.connect() as conn:
        refused = conn.execute(text("SELECT action FROM audit_event WHERE actor = :a AND "
                                    "outcome = 'refused' AND object_id = :d"),
                               {"a": actor, "d": str(b.document_id)}).scalars().all()
    assert sorted(refused) == ["read_document", "read_page"]


def test_a_code_does_not_work_with_another_id_number(app, world, archive):
    code = issued_code(app, archive, world.a)
    _, r = redeem(app, world.b.id_number, code)
    assert r.status_code == 403
    _, r = redeem(app, world.a.id_number, code)
    assert r.status_code == 302


def test_a_code_works_once(app, world, archive):
    code = issued_code(app, archive, world.a)
    first, r = redeem(app, world.a.id_number, code)
    assert r.status_code == 302
    _, again = redeem(app, world.a.id_number, code.lower().replace("-", " "))
    assert again.status_code == 403
    assert "已使用" in again.get_data(as_text=True)
    assert first.get("/self/read/dossier").status_code == 200  # the first session goes on
    outcomes = [(r.outcome, r.detail) for r in audit_rows(archive, "self_lookup_redeem")]
    assert outcomes[0][0] == "allowed"
    assert outcomes[1][0] == "refused" and "redeemed" in outcomes[1][1]


def test_an_expired_code_is_refused_and_an_expired_session_ends(app, world, archive):
    a = world.a
    code = issued_code(app, archive, a)
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    with archive.Session() as s, s.begin():
        s.execute(update(AccessRequest).values(expires_at=past))
    _, r = redeem(app, a.id_number, code)
    assert r.status_code == 403
    assert "expired" in audit_rows(archive, "self_lookup_redeem")[-1].detail
    # a session opened in time ends at the code's expiry
    code = issued_code(app, archive, a)
    client, r = redeem(app, a.id_number, code)
    assert client.get("/self/read/dossier").status_code == 200
    with archive.Session() as s, s.begin():
        s.execute(update(AccessRequest).values(expires_at=past))
    r = client.get(f"/self/read/document/{a.document_id}/page/1/image")
    assert r.status_code == 302 and "/self/read" in r.headers["Location"]
    assert client.get("/self/read/dossier").status_code == 302


def test_code_lifetime_follows_the_setting(archive, world):
    app = create_app({"TESTING": True, "HUDANG_SELF_LOOKUP_HOURS": "2"}, archive=archive)
    issued_code(app, archive, world.a)
    with archive.Session() as s:
        req = s.scalars(select(AccessRequest)).one()
        lifetime = req.expires_at - req.decided_at
    assert lifetime == timedelta(hours=2)


def test_ending_the_session_closes_it(app, world, archive):
    code = issued_code(app, archive, world.a)
    client, _ = redeem(app, world.a.id_number, code)
    token = _token(client, "/self/read/dossier")
    r = client.post("/self/read/end", data={"csrf_token": token})
    assert r.status_code == 302
    assert client.get("/self/read/dossier").status_code == 302


# -- rate limit and lock-out ---------------------------------------------------------
def test_five_failed_codes_lock_the_address_even_for_the_right_code(app, world, archive):
    code = issued_code(app, archive, world.a)
    for i in range(5):
        _, r = redeem(app, NOT_ON_FILE_ID if i % 2 else world.b.id_number, "AAAAA-AAAAA",
                      ip="10.5.5.5")
        assert r.status_code == 403
    _, r = redeem(app, world.a.id_number, code, ip="10.5.5.5")
    assert r.status_code == 429 and "分钟后再试" in r.get_data(as_text=True)
    # persisted in the database: another worker (a second app) sees the same lock
    second = create_app({"TESTING": True}, archive=archive)
    _, r = redeem(second, world.a.id_number, code, ip="10.5.5.5")
    assert r.status_code == 429
    assert audit_rows(archive, "self_lookup_redeem")[-1].outcome == "refused"
    # from another address the right code still works: the lock was per address
    _, r = redeem(app, world.a.id_number, code, ip="10.6.6.6")
    assert r.status_code == 302


def test_five_failed_codes_lock_the_id_number_from_any_address(app, world, archive):
    code = issued_code(app, archive, world.a)
    for i in range(5):
        _, r = redeem(app, world.a.id_number, "BBBBB-BBBBB", ip=f"10.7.0.{i}")
        assert r.status_code == 403
    _, r = redeem(app, world.a.id_number, code, ip="10.7.1.1")
    assert r.status_code == 429
    # 45 minutes later (15-minute window + 30-minute lock-out) the lock has lapsed
    with archive.Session() as s, s.begin():
        s.execute(update(FailedAttempt).values(at=FailedAttempt.at - timedelta(minutes=46)))
    _, r = redeem(app, world.a.id_number, code, ip="10.7.1.1")
    assert r.status_code == 302


def test_requests_are_limited_alike_whether_they_match_or_not(app, world):
    a = world.a
    right = [ask(app, a.name, a.id_number, a.certificate, ip="10.8.0.1") for _ in range(6)]
    wrong = [ask(app, "无此人", NOT_ON_FILE_ID, "X", ip="10.8.0.2") for _ in range(6)]
    assert [r.status_code for r in right] == [200] * 5 + [429]
    assert [r.status_code for r in wrong] == [200] * 5 + [429]
    assert CSRF.sub("", right[-1].get_data(as_text=True)) == \
        CSRF.sub("", wrong[-1].get_data(as_text=True))
    # the ID number is locked from a new address too
    assert ask(app, a.name, a.id_number, a.certificate, ip="10.8.0.3").status_code == 429


def test_lock_out_rule():
    rule = Lockout(failures=5, window=timedelta(minutes=15), lock=timedelta(minutes=30))
    t0 = datetime(2026, 1, 1, 8, 0, tzinfo=timezone.utc)
    five = [t0 + timedelta(minutes=3 * i) for i in range(5)]  # the fifth at 08:12
    assert rule.locked_until(five[:4], t0 + timedelta(minutes=13)) is None
    assert rule.locked_until(five, t0 + timedelta(minutes=13)) == t0 + timedelta(minutes=42)
    assert rule.locked_until(five, t0 + timedelta(minutes=42)) is None
    spread = [t0 + timedelta(minutes=4 * i) for i in range(5)]  # 16 minutes: not in one window
    assert rule.locked_until(spread, t0 + timedelta(minutes=17)) is None


def test_codes_are_random():
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200


# -- the certificate on file -----------------------------------------------------------
def test_household_add_with_certificate_makes_it_required(world, archive, app):
    from web.cli import main

    id_number = "220381198802021236"
    result = CliRunner().invoke(main, [
        "--home", str(world.home), "--key-file", str(world.key_file), "household", "add",
        "220381105012-0050", "--head", "赵春梅", "--region", "220381105012",
        "--id-number", id_number, "--certificate", "DB-777"])
    assert result.exit_code == 0, result.output
    assert "DB-777" not in result.output
    ask(app, "赵春梅", id_number, "DB-778", ip="10.3.0.1")
    assert request_id(archive, "220381105012-0050") is None
    ask(app, "赵春梅", id_number, " db-777 ", ip="10.3.0.2")  # spacing and case do not matter
    assert request_id(archive, "220381105012-0050") is not None


def test_pages_speak_chinese_by_default_and_english_on_request(app):
    client = app.test_client()
    assert "本人查阅" in client.get("/self/").get_data(as_text=True)
    english = client.get("/self/?lang=en").get_data(as_text=True)
    assert "View my own records" in english and "Allowance-certificate number" in english
    assert "Start reading" in client.get("/self/read").get_data(as_text=True)
