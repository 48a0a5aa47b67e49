"""Two whole flows in a real browser (Debian's Chromium via Playwright) against the real
server (``hudang serve``, waitress) on a real archive with really ingested pages.

1. Staff sign in, search, state a purpose, open the dossier, read a page, sign out.
2. A citizen asks, staff approve, the citizen reads with the one-time code and
   ID number, and is refused once the code has expired.

A screenshot of each page's last state is saved in the test's tmp_path.
"""
from __future__ import annotations

import contextlib
import shutil
import sqlite3

import pytest

from browser_support import CHROMIUM, PASSWORD, build_world, chromium, serve

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")
playwright = pytest.importorskip("playwright.sync_api")

IMAGE_LOADED = ("() => { const i = document.getElementById('page-image');"
                " return i !== null && i.complete && i.naturalWidth > 0; }")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def server(world):
    with serve(world.env()) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


@pytest.fixture
def pages(browser, tmp_path):
    """Open pages, each in its own browser context (own cookies). Each page's last state is
    saved as a screenshot in tmp_path (pytest keeps the last runs' tmp dirs) to look at when
    a test fails."""
    opened = []

    def new_page():
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(15_000)
        opened.append(page)
        return page

    try:
        yield new_page
    finally:
        for i, page in enumerate(opened):
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / f"page-{i}.png"), full_page=True)
            page.context.close()


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#current-user")
    assert page.inner_text("#current-user") == username


def last_read_page(world) -> tuple:
    db = sqlite3.connect(world.home / "catalogue.sqlite")
    try:
        return db.execute("SELECT actor, object_id, outcome, purpose FROM audit_event "
                          "WHERE action = 'read_page' ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        db.close()


def test_staff_search_state_a_purpose_read_a_page_and_sign_out(world, server, pages):
    a = world.a
    page = pages()
    sign_in(page, server, a.staff)
    page.fill("form.search input[name=q]", a.name)
    page.click("form.search button[type=submit]")
    page.click(f"a[href='/household/{a.number}']")
    # no purpose stated yet for this household: the purpose form comes first
    page.wait_for_url(f"**/household/{a.number}/purpose")
    page.select_option("#purpose", "审核")
    page.click("#state-purpose")
    page.wait_for_url(f"**/household/{a.number}")
    assert a.id_number not in page.content()
    page.click("a.open-document")
    page.wait_for_function(IMAGE_LOADED)
    src = page.eval_on_selector("#page-image", "i => i.src")
    assert f"/document/{a.document_id}/page/1/image" in src
    assert last_read_page(world) == (a.staff, str(a.document_id), "allowed", "审核")
    page.click("button#logout")
    page.wait_for_url("**/login*")
    after = page.request.get(src, max_redirects=0)
    assert after.status == 302 and "/login" in after.headers["location"]


def test_citizen_requests_staff_approve_citizen_reads_until_the_code_expires(
        world, server, pages):
    a = world.a
    citizen = pages()
    citizen.goto(server + "/self/")
    citizen.fill("#self-name", a.name)
    citizen.fill("#self-id-number", a.id_number)
    citizen.fill("#self-certificate", a.certificate)
    citizen.click("#self-submit")
    assert "申请已收到" in citizen.inner_text("#self-message")

    clerk = pages()
    sign_in(clerk, server, a.staff)
    clerk.goto(server + "/self/queue")
    row = clerk.locator("tr.self-request", has_text=a.number)
    assert a.id_number[:4] + "*" * 10 + a.id_number[-4:] in row.inner_text()
    row.locator("button.approve").click()
    code = clerk.inner_text("#access-code").strip()
    assert len(code.replace("-", "")) == 10

    citizen.goto(server + "/self/read")
    citizen.fill("#self-id-number", a.id_number)
    citizen.fill("#self-code", code)
    citizen.click("#self-start")
    citizen.wait_for_url("**/self/read/dossier")
    assert a.name in citizen.content() and a.id_number not in citizen.content()
    citizen.click("a.open-document")
    citizen.wait_for_function(IMAGE_LOADED)
    src = citizen.eval_on_selector("#page-image", "i => i.src")
    assert last_read_page(world)[2:] == ("allowed", "本人查阅")

    # the code's time is up (as if HUDANG_SELF_LOOKUP_HOURS had passed)
    db = sqlite3.connect(world.home / "catalogue.sqlite")
    with db:
        db.execute("UPDATE self_lookup_request SET expires_at = '2000-01-01 00:00:00.000000'")
    db.close()
    citizen.reload()
    citizen.wait_for_url("**/self/read?ended=1")
    assert "已结束或已过期" in citizen.inner_text("#self-message")
    image = citizen.request.get(src, max_redirects=0)
    assert image.status == 302 and "/self/read" in image.headers["location"]
    # and the code does not open a second session
    citizen.fill("#self-id-number", a.id_number)
    citizen.fill("#self-code", code)
    citizen.click("#self-start")
    assert "查阅码或身份证号不正确" in citizen.inner_text("#self-error")
