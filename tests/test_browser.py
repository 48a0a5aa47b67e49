"""Two whole flows in a real browser (Debian's Chromium via Playwright) against the real
server (``hudang serve``, one process per core) on a real archive with really ingested pages.

1. Staff sign in, search, state a purpose, open the dossier, read a page, sign out.
2. A citizen asks, staff approve, the citizen reads with the one-time code and
   ID number, and is refused once the code has expired.
3. The archivist's desk: an administrator creates a clerk, an archivist creates a
   household and records its members, and the clerk, signed in with the one-time code
   and a password of their own, finds the household in the region tree.

A screenshot of each page's last state is saved in the test's tmp_path.
"""
from __future__ import annotations

import contextlib
import shutil

import pytest

from browser_support import CHROMIUM, PASSWORD, build_world, chromium, serve, sign_in
from conftest import catalogue_sql

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



def last_read_page(world) -> tuple:
    return catalogue_sql(world.home, "SELECT actor, object_id, outcome, purpose FROM "
                         "audit_event WHERE action = 'read_page' ORDER BY id DESC LIMIT 1")[0]


def test_staff_search_state_a_purpose_read_a_page_and_sign_out(world, server, pages):
    a = world.a
    page = pages()
    sign_in(page, server, a.staff)
    page.click("#search-link")  # from the home page a clerk lands on
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
    catalogue_sql(world.home, "UPDATE self_lookup_request SET expires_at = "
                  "'2000-01-01 00:00:00.000000'")
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


PHONE = {"width": 390, "height": 844}
WIDTH = "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"


def test_the_language_chosen_before_signing_in_stays_and_switching_keeps_the_query(
        world, server, pages):
    a = world.a
    page = pages()
    page.goto(server + "/login")
    page.click("#switch-language")
    assert page.inner_text("button[type=submit]") == "Sign in"
    page.fill("input[name=username]", a.staff)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#current-user")
    assert page.inner_text("#logout") == "Sign out"  # still English after signing in
    page.click("#search-link")
    page.fill("form.search input[name=q]", a.name)
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#result-count")
    page.click("#switch-language")  # to Chinese, on the same results
    page.wait_for_selector("#result-count")
    assert "件" in page.inner_text("#result-count")
    assert page.input_value("form.search input[name=q]") == a.name


def test_switching_language_on_the_code_page_loses_no_work(world, server, pages):
    a = world.a
    citizen = pages()
    citizen.goto(server + "/self/")
    citizen.fill("#self-name", a.name)
    citizen.fill("#self-id-number", a.id_number)
    citizen.fill("#self-certificate", a.certificate)
    citizen.click("#self-submit")
    clerk = pages()
    sign_in(clerk, server, a.staff)
    clerk.click("#self-queue-link")  # the queue is linked from every page
    clerk.locator("tr.self-request", has_text=a.number).locator("button.approve").click()
    first = clerk.inner_text("#access-code").strip()
    clerk.click("#switch-language")  # this page answered a POST: no 405, no lost approval
    clerk.wait_for_selector("#request-status")
    assert "Method Not Allowed" not in clerk.content()
    assert clerk.inner_text("#request-status") == "approved, code not used yet"
    clerk.click("#reissue")  # the code was lost on the way: a new one
    second = clerk.inner_text("#access-code").strip()
    assert second != first and len(second.replace("-", "")) == 10
    # the old code no longer opens anything; the new one does
    citizen.goto(server + "/self/read")
    citizen.fill("#self-id-number", a.id_number)
    citizen.fill("#self-code", first)
    citizen.click("#self-start")
    assert citizen.locator("#self-error").count() == 1
    citizen.fill("#self-id-number", a.id_number)
    citizen.fill("#self-code", second)
    citizen.click("#self-start")
    citizen.wait_for_url("**/self/read/dossier")


def test_search_results_the_dossier_and_the_audit_screen_fit_a_phone(world, server, browser,
                                                                     tmp_path):
    a = world.a
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, server, a.staff)
        page.click("#search-link")
        page.fill("form.search input[name=q]", a.name)
        page.click("form.search button[type=submit]")
        page.wait_for_selector("#result-count")
        page.screenshot(path=str(tmp_path / "phone-results.png"), full_page=True)
        assert page.evaluate(WIDTH) <= PHONE["width"], "the results page scrolls sideways"
        page.goto(server + f"/household/{a.number}/purpose")
        page.select_option("#purpose", "审核")
        page.click("#state-purpose")
        page.wait_for_url(f"**/household/{a.number}")
        assert page.evaluate(WIDTH) <= PHONE["width"], "the dossier page scrolls sideways"
        page.click("button#logout")
        sign_in(page, server, "auditor")
        page.goto(server + "/audit/")
        page.wait_for_selector("#audit-events")
        page.screenshot(path=str(tmp_path / "phone-audit.png"), full_page=True)
        assert page.evaluate(WIDTH) <= PHONE["width"], "the audit screen scrolls sideways"
    finally:
        context.close()


def test_an_administrator_creates_a_clerk_who_finds_the_household_an_archivist_created(
        world, server, pages):
    from records.catalogue import add_user
    from records.idnumbers import check_digit, mask

    archive = world.open()
    try:
        with archive.Session() as s, s.begin():
            add_user(s, "desk-admin", PASSWORD, "administrator")
            add_user(s, "desk-archivist", PASSWORD, "archivist")
    finally:
        archive.close()
    number, member_id = "220381105012-0777", "22038120100505201"
    member_id += check_digit(member_id)

    # an administrator creates a clerk of 东风镇 and is given a one-time code for them
    admin = pages()
    sign_in(admin, server, "desk-admin")
    admin.click("#create-user")
    admin.fill("#f-username", "desk-clerk")
    admin.check("#f-roles-staff")
    admin.select_option("#f-region", "220381105")
    admin.click("#create-account")
    code = admin.inner_text("#one-time-code").strip()
    assert len(code.replace("-", "")) == 10

    # an archivist creates a household in 红星村 and records its members
    archivist = pages()
    sign_in(archivist, server, "desk-archivist")
    archivist.click("#create-household")
    archivist.fill("#f-number", "220381105012-077")  # a digit short: said beside the field
    archivist.fill("#f-head_name", "周建国")
    archivist.check("#f-review_class-2")
    archivist.check("#f-area-rural")
    archivist.click("#save-household")
    assert archivist.locator(".error-summary a[href='#f-number']").count() == 1
    assert "不是有效户号" in archivist.inner_text(".field-error")
    archivist.fill("#f-number", number)
    archivist.click("#save-household")
    archivist.wait_for_url(f"**/household/{number}/members")
    for name, relation, id_number in (("刘芳", "配偶", member_id), ("周小华", "子女", "")):
        archivist.fill("#f-member_name", name)
        archivist.fill("#f-member_relation", relation)
        archivist.fill("#f-member_id_number", id_number)
        archivist.click("#add-member-button")
        archivist.wait_for_selector(f"#member-list >> text={name}")
    members = archivist.inner_text("#member-list")
    assert mask(member_id) in members and member_id not in archivist.content()
    archivist.click("#done-members")
    archivist.wait_for_url(f"**/household/{number}/purpose")
    archivist.select_option("#purpose", "审核")
    archivist.click("#state-purpose")
    archivist.wait_for_url(f"**/household/{number}")
    assert "刘芳" in archivist.inner_text("#household-members")
    assert "申请书" in archivist.inner_text("#dossier-lacks")

    # the clerk signs in with the code, chooses a password, and finds the household
    clerk = pages()
    clerk.goto(server + "/login")
    clerk.fill("input[name=username]", "desk-clerk")
    clerk.fill("input[name=password]", code)
    clerk.click("form.login button[type=submit]")
    clerk.wait_for_url("**/account/password")
    clerk.fill("#f-new", "Desk-clerk-2026")
    clerk.fill("#f-again", "Desk-clerk-2026")
    clerk.click("#change-password")
    clerk.wait_for_url("**/home")
    clerk.click("#browse-link")
    clerk.wait_for_url("**/browse/220381105")
    clerk.click("a.region-link >> text=红星村")
    clerk.wait_for_url("**/browse/220381105012")
    row = clerk.locator("#households tr", has_text=number)
    assert "周建国" in row.inner_text() and "二类" in row.inner_text()
    assert world.b.number not in clerk.content()  # another township's household
def test_archivist_corrects_reorders_prints_the_contents_and_sees_what_the_dossier_lacks(
        world, server, pages):
    """Issue 13: an archivist corrects a document's metadata, reorders the dossier, prints
    the 卷内目录 (the downloaded PDF's text is read back) and sees what the dossier lacks."""
    import pypdfium2 as pdfium

    from desk_support import text_pdf
    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_user

    a = world.a
    archive = world.open()
    try:
        with archive.Session() as s, s.begin():
            add_user(s, "toc-archivist", PASSWORD, "archivist")
        with Ingestor(archive, workers=1) as ingestor:
            second = ingestor.ingest(IngestRequest(
                path=text_pdf(world.root / "pledge.pdf", "integrity pledge"), household=a.number,
                doc_type="诚信承诺书", title="诚信承诺书", actor="test")).document_id
    finally:
        archive.close()
    page = pages()
    sign_in(page, server, "toc-archivist")
    page.goto(f"{server}/household/{a.number}")
    page.wait_for_url(f"**/household/{a.number}/purpose")
    page.select_option("#purpose", "审核")
    page.click("#state-purpose")
    page.wait_for_url(f"**/household/{a.number}")
    lacks = page.locator("#dossier-lacks ul.missing-types li").all_inner_texts()
    assert lacks == ["申报审批表", "入户调查表", "户口簿复印件", "身份证复印件", "收入证明"]

    # correct the first document's metadata
    page.click(f"tr[data-document='{a.document_id}'] a.edit-document")
    page.fill("#title", "低保申请书（王德胜）")
    page.fill("#date", "2024-03-01")
    page.fill("#responsible", "红星村委会")
    page.click("#save-document")
    assert page.locator("#error-summary").count() == 1  # no reason given: said at the top
    assert page.locator("#reason-error").count() == 1
    page.fill("#reason", "按原件更正")
    page.click("#save-document")
    page.wait_for_selector("#done-message")
    row = page.locator(f"tr[data-document='{a.document_id}']")
    assert row.locator(".doc-responsible").inner_text() == "红星村委会"
    assert row.locator(".doc-title").inner_text() == "低保申请书（王德胜）"

    # reorder: the pledge moves up to the first place, item numbers follow
    page.click(f"tr[data-document='{second}'] button.move-up")
    page.wait_for_selector("#done-message")
    order = page.eval_on_selector_all("table.dossier tbody tr", "rs => rs.map(r => r.dataset.document)")
    assert order == [str(second), str(a.document_id)]
    items = page.locator("table.dossier td.item-no").all_inner_texts()
    assert items == ["0002", "0003"]  # 0001 was the application's, never given again

    # print the cover and table of contents
    with page.expect_download() as info:
        page.click("#print-contents")
    data = open(info.value.path(), "rb").read()
    pdf = pdfium.PdfDocument(data)
    text = "\n".join(pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf)))
    pdf.close()
    assert "卷内目录" in text and "低保对象档案" in text and "红星村委会" in text
    assert text.index("诚信承诺书") < text.index("低保申请书（王德胜）")
    assert a.id_number not in text
