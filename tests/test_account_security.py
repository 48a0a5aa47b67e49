"""Account security: lock-out, idle sessions, CSRF, security headers, the password policy.

Real components: the catalogue built by migrations, the Flask app through its test client, and
the ``hudang`` console script in a subprocess.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from records.catalogue import add_user
from records.model import AuditEvent, FailedAttempt, User
from tests.conftest import make_archive

PASSWORD = "Security-test-7"
HUDANG = str(Path(sys.executable).with_name("hudang"))
TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    archive = make_archive(tmp_path_factory.mktemp("security"))
    with archive.Session() as s, s.begin():
        for name in ("clerk", "locked-clerk", "idle-clerk", "csrf-clerk"):
            add_user(s, name, PASSWORD, "staff", "220381105")
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def app(archive):
    from web.app import create_app

    return create_app(archive=archive, test_config={"WTF_CSRF_ENABLED": False})


def sign_in(client, name: str, password: str):
    return client.post("/login", data={"username": name, "password": password})


def error_sentence(response) -> str:
    return re.search(r'<p class="error" role="alert">([^<]*)</p>', response.text).group(1)


def login_events(archive, name: str) -> list[AuditEvent]:
    with archive.Session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "login",
                                                       AuditEvent.actor == name)
                              .order_by(AuditEvent.id)))


def test_five_failures_lock_the_account_even_against_the_right_password(archive, app):
    client = app.test_client()
    wrong = [sign_in(client, "locked-clerk", "Not-the-password-1") for _ in range(5)]
    assert all(r.status_code == 401 for r in wrong)
    locked = sign_in(client, "locked-clerk", PASSWORD)
    assert locked.status_code == 401
    assert client.get("/").status_code == 302  # not signed in
    # the same neutral sentence for a wrong password and a locked account
    assert error_sentence(locked) == error_sentence(wrong[0])
    events = login_events(archive, "locked-clerk")
    assert [e.outcome for e in events] == ["refused"] * 6
    assert [('"locked"' in e.detail) for e in events] == [False] * 4 + [True, True]
    # once the lock has run out (the failures are 16 minutes old), the right password works
    with archive.Session() as s, s.begin():
        s.execute(update(FailedAttempt).where(FailedAttempt.kind == "sign_in")
                  .values(at=FailedAttempt.at - timedelta(minutes=16)))
    assert sign_in(client, "locked-clerk", PASSWORD).status_code == 302


def test_failures_spread_beyond_the_window_do_not_lock(archive, app):
    client = app.test_client()
    for _ in range(4):
        sign_in(client, "clerk", "Not-the-password-1")
    with archive.Session() as s, s.begin():  # those four were 16 minutes ago
        s.execute(update(FailedAttempt).where(FailedAttempt.kind == "sign_in")
                  .values(at=FailedAttempt.at - timedelta(minutes=16)))
    sign_in(client, "clerk", "Not-the-password-1")
    assert sign_in(client, "clerk", PASSWORD).status_code == 302


def test_a_wrong_password_and_an_unknown_name_read_the_same(app):
    client = app.test_client()
    assert error_sentence(sign_in(client, "nobody-here", PASSWORD)) == \
        error_sentence(sign_in(client, "clerk", "Not-the-password-1"))


def test_an_idle_session_ends_and_is_recorded(archive, app):
    client = app.test_client()
    assert sign_in(client, "idle-clerk", PASSWORD).status_code == 302
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:  # 29 minutes without a request: still in
        session["seen"] = int(time.time()) - 29 * 60
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:  # 31 minutes: out
        session["seen"] = int(time.time()) - 31 * 60
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    # coming back does not revive the session
    assert client.get("/").status_code == 302
    with archive.Session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "logout",
                                                   AuditEvent.actor == "idle-clerk")).one()
    assert '"idle"' in event.detail


def test_idle_minutes_are_configurable(archive):
    from web.app import create_app

    app = create_app(archive=archive, test_config={"WTF_CSRF_ENABLED": False,
                                                   "HUDANG_IDLE_MINUTES": 5})
    client = app.test_client()
    sign_in(client, "idle-clerk", PASSWORD)
    with client.session_transaction() as session:
        session["seen"] = int(time.time()) - 6 * 60
    assert client.get("/").status_code == 302


def test_every_response_carries_the_security_headers(app):
    client = app.test_client()
    sign_in(client, "clerk", PASSWORD)
    responses = [client.get("/login"), client.get("/"), client.get("/household/999999999999-0001"),
                 client.get("/static/style.css"), client.get("/no/such/route")]
    for r in responses:
        assert r.headers["Content-Security-Policy"] == CSP
        assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"


def test_templates_use_no_inline_script_style_or_event_handlers():
    """style-src 'self' and script-src 'self' would block these in the browser."""
    for template in TEMPLATES.glob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), template.name
        assert not re.search(r"<style\b", html), template.name
        assert not re.search(r"\sstyle\s*=", html), template.name
        assert not re.search(r"\son[a-z]+\s*=", html), template.name
        assert "javascript:" not in html, template.name


def test_with_csrf_on_every_post_needs_its_token(archive):
    from web.app import create_app

    app = create_app(archive=archive)  # CSRF protection as in production
    client = app.test_client()
    assert client.post("/login", data={"username": "csrf-clerk",
                                       "password": PASSWORD}).status_code == 400
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"csrf_token": token, "username": "csrf-clerk",
                                       "password": PASSWORD}).status_code == 302
    home = client.get("/").text
    assert re.search(r'<form method="post" action="/logout"[^>]*>\s*<input type="hidden" '
                     r'name="csrf_token"', home)
    # a forged sign-out (no token) does nothing; a purpose without a token is not taken
    assert client.post("/logout").status_code == 400
    assert client.post("/household/220381105012-0042/purpose",
                       data={"purpose": "审核"}).status_code == 400
    assert client.post("/household/220381105012-0042/purpose", json={"purpose": "审核"}
                       ).status_code == 400
    assert client.get("/").status_code == 200  # still signed in
    token = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


# -- the password policy at the command line -------------------------------------------------
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-security")
    e = {**os.environ, "HUDANG_HOME": str(root / "home"),
         "HUDANG_MASTER_KEY_FILE": str(root / "keys" / "master.key")}
    e.pop("HUDANG_MASTER_KEY", None)
    e.pop("HUDANG_DATABASE_URL", None)
    e.pop("HUDANG_GRANTS", None)
    assert subprocess.run([HUDANG, "init"], env=e, capture_output=True).returncode == 0
    return e


def hudang(env, *args, password: str):
    return subprocess.run([HUDANG, *args, "--password-stdin"], env=env, input=password + "\n",
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, password, says", [
    ("weak1", "Sh0rt-pw", "at least 10 characters"),
    ("weak2", "abcdefghijklmn", "two kinds of character"),
    ("weak3", "12345678901234", "two kinds of character"),
    ("Weak4.Clerk", "weak4.clerk", "must not be the user name"),
])
def test_hudang_user_add_refuses_a_weak_password_in_one_line(env, name, password, says):
    proc = hudang(env, "user", "add", name, "--role", "staff", password=password)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert says in lines[0] and password not in lines[0]


def test_hudang_user_add_gives_several_roles(env):
    from sqlalchemy import create_engine

    from conftest import catalogue_url

    assert hudang(env, "user", "add", "both", "--role", "staff", "--role", "auditor",
                  password=PASSWORD).returncode == 0
    assert hudang(env, "user", "add", "both2", "--role", "staff,auditor",
                  password=PASSWORD).returncode == 0
    engine = create_engine(catalogue_url(Path(env["HUDANG_HOME"])))
    with engine.connect() as conn:
        roles = dict(conn.execute(select(User.username, User.roles)
                                  .where(User.username.in_(["both", "both2"]))).all())
    engine.dispose()
    assert roles == {"both": "auditor,staff", "both2": "auditor,staff"}


def test_a_copy_of_the_session_cookie_opens_nothing_once_signed_out(app):
    client = app.test_client()
    assert sign_in(client, "clerk", PASSWORD).status_code == 302
    assert client.get("/").status_code == 200
    copied = client.get_cookie("hudang_session").value
    assert client.post("/logout").status_code == 302
    other = app.test_client()
    other.set_cookie("hudang_session", copied)
    r = other.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
