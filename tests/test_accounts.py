"""Accounts kept in the browser (issue 13): administrators create accounts, give roles and a
region, lock and unlock, and reset a password with a one-time code (shown once, stored
only as a hash, good once, expiring; the user must then choose a password); every user
changes their own password; all through the one policy, every change an audit event.

Real parts: a SQLite catalogue built by the migrations, the app through Flask's test
client (sessions, redirects, CSRF off), the ``hudang`` command tree through click's runner.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from records.catalogue import add_user
from records.model import AuditEvent, User
from tests.conftest import make_archive
from web.cli import main

PASSWORD = "Accounts-test-7"
NEW_PASSWORD = "Chosen-by-me-42"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    archive = make_archive(tmp_path_factory.mktemp("accounts"))
    from records.catalogue import add_region

    with archive.Session() as s, s.begin():
        add_region(s, "220381106", "西山镇")
        add_user(s, "admin", PASSWORD, "administrator")
        add_user(s, "town-admin", PASSWORD, "administrator", "220381105")
        add_user(s, "archivist", PASSWORD, "archivist")
        add_user(s, "clerk", PASSWORD, "staff", "220381105")
        add_user(s, "west-clerk", PASSWORD, "staff", "220381106")
        add_user(s, "plain-clerk", PASSWORD, "staff", "220381105")
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def app(archive):
    from web.app import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)


def sign_in(app, user: str, password: str = PASSWORD):
    client = app.test_client()
    return client, client.post("/login", data={"username": user, "password": password})


def signed_in(app, user: str, password: str = PASSWORD):
    client, answer = sign_in(app, user, password)
    assert answer.status_code == 302, (user, answer.status_code)
    return client


def events(archive, action: str) -> list[AuditEvent]:
    with archive.Session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)))


def code_on(page: str) -> str:
    return re.search(r'id="one-time-code">([^<]+)<', page).group(1)


def test_an_administrator_creates_an_account_and_its_holder_chooses_a_password(app, archive):
    admin = signed_in(app, "admin")
    bad = admin.post("/admin/users/new", data={"username": "x", "region": ""})
    assert bad.status_code == 400
    assert 'class="error-summary"' in bad.text
    assert "用户名“x”须为 2 至 64 个字母" in bad.text and "请至少选择一个角色" in bad.text
    made = admin.post("/admin/users/new", data={"username": "new-clerk", "roles": ["staff"],
                                                "region": "220381105"})
    assert made.status_code == 200
    code = code_on(made.text)
    with archive.Session() as s:
        user = s.scalar(select(User).where(User.username == "new-clerk"))
        assert (user.roles, user.region_code, user.must_change_password) == \
            ("staff", "220381105", True)
        assert code.replace("-", "") not in user.password_hash  # only a hash is kept
    # the code is shown once: the account page does not show it again
    assert code not in admin.get("/admin/users/new-clerk").text
    client, answer = sign_in(app, "new-clerk", code.lower())  # typed as read aloud
    assert answer.status_code == 302 and answer.location.endswith("/account/password")
    # nothing else opens before a password is chosen
    assert client.get("/home").location.endswith("/account/password")
    assert client.get("/browse/220381105").status_code == 302
    short = client.post("/account/password", data={"new": "short", "again": "short"})
    assert short.status_code == 400 and "密码至少需要 10 个字符" in short.text
    differ = client.post("/account/password", data={"new": NEW_PASSWORD, "again": "Other-one-42"})
    assert "两次输入的新密码不一致" in differ.text
    done = client.post("/account/password", data={"new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert done.status_code == 302 and done.location.endswith("/home")
    assert client.get("/home").status_code == 200
    # the code worked once; the chosen password works
    assert sign_in(app, "new-clerk", code)[1].status_code == 401
    signed_in(app, "new-clerk", NEW_PASSWORD)
    assert [json.loads(e.detail) for e in events(archive, "user_add")
            if e.object_id == "new-clerk"] == [{"one_time_code": True, "region": "220381105",
                                               "roles": "staff"}]
    assert [e.actor for e in events(archive, "password_change")] == ["new-clerk"]


def test_a_reset_replaces_the_password_by_a_code_that_works_once_until_it_expires(app, archive):
    admin = signed_in(app, "admin")
    asked = admin.post("/admin/users/clerk", data={"do": "reset"})
    assert 'id="confirm"' in asked.text  # named and asked once
    assert "当前密码将立即失效" in asked.text
    page = admin.post("/admin/users/clerk", data={"do": "reset", "confirmed": "yes"})
    code = code_on(page.text)
    assert sign_in(app, "clerk", PASSWORD)[1].status_code == 401  # the old password is gone
    # an expired code does not open the account
    with archive.Session() as s, s.begin():
        s.execute(update(User).where(User.username == "clerk").values(
            password_expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    assert sign_in(app, "clerk", code)[1].status_code == 401
    refused = [json.loads(e.detail) for e in events(archive, "login") if e.actor == "clerk"
               and e.outcome == "refused"]
    assert refused[-1] == {"reason": "code_expired"}
    code = code_on(admin.post("/admin/users/clerk", data={"do": "reset",
                                                          "confirmed": "yes"}).text)
    client = signed_in(app, "clerk", code)
    client.post("/account/password", data={"new": PASSWORD + "x", "again": PASSWORD + "x"})
    signed_in(app, "clerk", PASSWORD + "x")
    assert len(events(archive, "user_reset_password")) == 2


def test_the_cli_resets_a_password_and_prints_the_code_once(archive):
    base = ["--home", str(archive.settings.home), "--key-file",
            str(archive.settings.master_key_file)]
    result = CliRunner().invoke(main, [*base, "user", "reset-password", "west-clerk",
                                       "--as", "admin"])
    assert result.exit_code == 0
    code = re.search(r"one-time code for west-clerk: (\S+)", result.stdout).group(1)
    with archive.Session() as s:
        assert s.scalar(select(User.must_change_password).where(User.username == "west-clerk"))
    refused = CliRunner().invoke(main, [*base, "user", "reset-password", "west-clerk",
                                        "--as", "archivist"])
    assert refused.exit_code == 3 and "user west-clerk was not found" in refused.stderr
    assert code not in refused.output


def test_a_locked_account_cannot_sign_in_and_its_session_ends(app, archive):
    archivist = signed_in(app, "archivist")
    admin = signed_in(app, "admin")
    assert 'id="confirm"' in admin.post("/admin/users/archivist", data={"do": "lock"}).text
    admin.post("/admin/users/archivist", data={"do": "lock", "confirmed": "yes"})
    assert archivist.get("/home").location.startswith("/login")  # signed out at once
    assert sign_in(app, "archivist")[1].status_code == 401
    assert "已锁定，无法登录" in admin.get("/admin/users/archivist").text
    admin.post("/admin/users/archivist", data={"do": "unlock"})
    signed_in(app, "archivist")
    assert [e.action for e in events(archive, "user_lock")] == ["user_lock"]
    assert [e.object_id for e in events(archive, "user_unlock")] == ["archivist"]
    # nobody locks themselves out
    own = admin.post("/admin/users/admin", data={"do": "lock", "confirmed": "yes"})
    assert own.status_code == 400 and "不能锁定自己的账号" in own.text


def test_roles_and_region_are_changed_and_recorded_with_before_and_after(app, archive):
    admin = signed_in(app, "admin")
    answer = admin.post("/admin/users/west-clerk", data={
        "do": "save", "roles": ["staff", "auditor"], "region": "220381106"})
    assert answer.status_code == 302
    detail = json.loads(events(archive, "user_edit")[-1].detail)
    assert detail == {"changed": ["roles"], "before": {"roles": "staff", "region": "220381106"},
                      "after": {"roles": "auditor,staff", "region": "220381106"}}
    no_role = admin.post("/admin/users/west-clerk", data={"do": "save", "roles": [],
                                                          "region": "220381106"})
    assert no_role.status_code == 400 and "请至少选择一个角色" in no_role.text


def test_a_township_administrator_keeps_only_that_townships_accounts(app, archive):
    town = signed_in(app, "town-admin")
    listed = town.get("/admin/users").text
    assert "clerk" in listed and "west-clerk" not in listed and ">admin<" not in listed
    before = len([e for e in events(archive, "manage") if e.outcome == "refused"])
    assert town.get("/admin/users/west-clerk").status_code == 404
    assert town.post("/admin/users/new", data={"username": "county-wide", "roles": ["staff"],
                                               "region": ""}).status_code == 404
    assert len([e for e in events(archive, "manage") if e.outcome == "refused"]) == before + 2


@pytest.mark.parametrize("url", ["/admin/users", "/admin/users/new", "/admin/users/clerk",
                                 "/admin/regions", "/admin/regions/220381105"])
def test_others_are_refused_the_administrators_screens_as_if_missing(app, archive, url):
    for user in ("archivist", "plain-clerk"):
        client = signed_in(app, user)
        before = len(events(archive, "manage"))
        answer = client.get(url)
        assert answer.status_code == 404, (user, url)
        refused = events(archive, "manage")[before:]
        assert [(e.actor, e.outcome) for e in refused] == [(user, "refused")]


def test_every_user_changes_their_own_password(app, archive):
    with archive.Session() as s, s.begin():
        add_user(s, "own", PASSWORD, "auditor")
    client = signed_in(app, "own")
    page = client.get("/account/password")
    assert page.status_code == 200 and 'name="current"' in page.text
    wrong = client.post("/account/password", data={"current": "not-it-at-all",
                                                   "new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.text
    assert 'href="#f-current"' in wrong.text  # the summary links to the field
    same = client.post("/account/password", data={"current": PASSWORD, "new": "ownownownown",
                                                  "again": "ownownownown"})
    assert "密码须包含小写字母、大写字母、数字、其他符号中的至少两类" in same.text
    english = client.post("/account/password?lang=en", data={
        "current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD + "!"})
    assert "The two new passwords are not the same" in english.text
    ok = client.post("/account/password", data={"current": PASSWORD, "new": NEW_PASSWORD,
                                                "again": NEW_PASSWORD})
    assert ok.status_code == 302
    signed_in(app, "own", NEW_PASSWORD)
    assert sign_in(app, "own", PASSWORD)[1].status_code == 401
