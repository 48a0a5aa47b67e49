"""Who sees what: the access matrix, jurisdiction probing, purpose of use, download, masking.

Everything is real: a SQLite catalogue built by the migrations, Tesseract OCR of a few small
generated pages, the encrypted blob store, the Whoosh index and the Flask app, driven through
Flask's test client. The matrix below is written out by hand from the issue, NOT derived from
``records.policy``, so that a change of policy that breaks it fails here.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont
from sqlalchemy import func, select

from records import audit
from records.catalogue import add_household, add_region, add_user
from records.model import AuditEvent, Document, Household, Page
from records.policy import ROLE_ACTIONS, Action, Role
from search import PageDoc
from tests.conftest import make_archive

PASSWORD = "Access-test-9"
USER_VILLAGE = "220381105012"  # every matrix user's jurisdiction
# the objects of the matrix, by where they lie relative to the user's village
PLACES = {
    "own": "220381105012-0042",  # in the user's own village
    "parent": "220381105013-0001",  # in the parent township, another village
    "sibling": "220381106001-0001",  # in a sibling township of the same county
    "other_county": "220382101001-0001",  # in another county
}
HEAD_ID = "22038119800101123X"  # the own household's head; shown masked

# What each role may do to an object in its OWN jurisdiction (issue 4). Outside it: nothing.
#                 household page   download search audit
MATRIX = {
    "administrator": (True, False, False, True, False),
    "archivist": (True, True, True, True, False),
    "staff": (True, True, False, True, False),
    "reviewer": (True, True, False, True, False),
    "auditor": (True, False, False, True, True),
}
COLUMNS = ("household", "page", "download", "search", "audit")
# the audit action each column's request leaves behind
EVENT_ACTION = {"household": "read_household", "page": "read_page", "download": "download",
                "search": "search", "audit": "audit_view"}


def _page(text: str, size=(900, 500)) -> Image.Image:
    from ingest.synthetic import fonts_available

    image = Image.new("L", size, 255)
    font = ImageFont.truetype(fonts_available()[0], 44)
    for i, line in enumerate(text.splitlines()):
        ImageDraw.Draw(image).text((50, 60 + i * 80), line, font=font, fill=0)
    return image


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ingest.pipeline import IngestRequest, Ingestor

    root = tmp_path_factory.mktemp("access")
    archive = make_archive(root)
    sealed, index = archive.seal_id_number(HEAD_ID)
    with archive.Session() as s, s.begin():
        s.scalar(select(Household).where(Household.number == PLACES["own"])).head_id_sealed = sealed
        s.scalar(select(Household).where(Household.number == PLACES["own"])).head_id_index = index
        add_region(s, "220381105013", "前进村")
        add_region(s, "220381106", "西山镇")
        add_region(s, "220381106001", "西山村")
        add_region(s, "220382", "邻县")
        add_region(s, "220382101", "北岭镇")
        add_region(s, "220382101001", "北岭村")
        add_household(s, PLACES["parent"], "李秀英", "220381105013")
        add_household(s, PLACES["sibling"], "张建国", "220381106001")
        add_household(s, PLACES["other_county"], "赵玉兰", "220382101001")
        for role in MATRIX:
            add_user(s, f"v-{role}", PASSWORD, role, USER_VILLAGE)
        add_user(s, "east-clerk", PASSWORD, "staff", "220381105")  # a township's staff
        add_user(s, "chief-auditor", PASSWORD, "auditor")  # the whole deployment
    scans = root / "scans"
    scans.mkdir()
    docs = {}
    with Ingestor(archive, workers=2) as ingestor:
        for place, number in PLACES.items():
            path = scans / f"{place}.tiff"
            first = _page(f"低保申请书\n户号 {number}")
            pages = [first, _page("家庭收入证明\n月收入 三百元")] if place == "own" else [first]
            first.save(path, save_all=True, append_images=pages[1:])
            result = ingestor.ingest(IngestRequest(path=path, household=number, doc_type="申请书",
                                                   actor="test"))
            docs[place] = result.document_id
    yield {"archive": archive, "docs": docs}
    archive.close()


@pytest.fixture(scope="module")
def app(world):
    from web.app import create_app

    return create_app(archive=world["archive"], test_config={"WTF_CSRF_ENABLED": False,
                                                             "TESTING": True})


@pytest.fixture(scope="module")
def signed_in(app):
    """One signed-in client per user for the matrix (signing in costs an Argon2 check)."""
    clients = {}

    def get(name: str):
        if name not in clients:
            clients[name] = login(app, name)
        return clients[name]

    return get


def login(app, name: str):
    client = app.test_client()
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code == 302, f"{name} could not sign in"
    return client


def state_purpose(client, number: str, purpose: str = "审核", other: str = ""):
    return client.post(f"/household/{number}/purpose",
                       data={"purpose": purpose, "purpose_other": other})


def events_after(archive, last_id: int, **where) -> list[AuditEvent]:
    with archive.Session() as s:
        q = select(AuditEvent).where(AuditEvent.id > last_id)
        for k, v in where.items():
            q = q.where(getattr(AuditEvent, k) == v)
        return list(s.scalars(q.order_by(AuditEvent.id)))


def last_event_id(archive) -> int:
    with archive.Session() as s:
        return s.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))


CASES = [(role, place, column) for role in MATRIX for place in PLACES for column in COLUMNS]


@pytest.mark.parametrize("role, place, column", CASES,
                         ids=[f"{r}-{p}-{c}" for r, p, c in CASES])
def test_access_matrix_answers_and_records_each_request(world, signed_in, role, place, column):
    archive, number, doc_id = world["archive"], PLACES[place], world["docs"][place]
    allowed = MATRIX[role][COLUMNS.index(column)] and place == "own"
    user = f"v-{role}"
    client = signed_in(user)
    if column in ("household", "page", "download"):
        stated = state_purpose(client, number)
        # the purpose form itself is as closed as the dossier it opens
        assert stated.status_code == (302 if MATRIX[role][0] and place == "own" else 404)
    before = last_event_id(archive)
    if column == "household":
        r = client.get(f"/household/{number}")
    elif column == "page":
        r = client.get(f"/document/{doc_id}/page/1/image")
    elif column == "download":
        r = client.get(f"/document/{doc_id}/download")
    elif column == "search":
        r = client.get("/", query_string={"q": number})
    else:
        r = client.get(f"/audit/household/{number}")

    if column == "search":  # a search always answers; the jurisdiction filters the hits
        assert r.status_code == 200
        assert (f'href="/household/{number}"' in r.text) is allowed
    else:
        assert r.status_code == (200 if allowed else 404)
    if allowed and column == "page":
        assert r.mimetype == "image/jpeg" and r.headers["Cache-Control"] == "no-store"
    if allowed and column == "download":
        assert r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")

    [event] = events_after(archive, before, actor=user, action=EVENT_ACTION[column])
    if column == "search":
        assert event.outcome == audit.ALLOWED
        assert ('"results": 1' in event.detail) is allowed
    else:
        assert event.outcome == (audit.ALLOWED if allowed else audit.REFUSED)
    if allowed and column in ("household", "page", "download"):
        assert event.purpose == "审核"


def test_the_matrix_agrees_with_the_policy_table():
    """The hand-written matrix and records.policy say the same about every role."""
    needed = {"household": Action.read_household, "page": Action.read_page,
              "download": Action.download, "search": Action.search, "audit": Action.audit_view}
    for role, row in MATRIX.items():
        granted = ROLE_ACTIONS[Role(role)]
        assert tuple(needed[c] in granted for c in COLUMNS) == row, role


def _normalised(response) -> tuple:
    body = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', response.text)
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Set-Cookie")
    return response.status_code, headers, body


def test_township_staff_walking_every_id_learns_nothing_about_other_townships(world, app):
    archive = world["archive"]
    client = login(app, "east-clerk")
    with archive.Session() as s:
        docs = {d.id: (d.dossier.household.number, d.page_count)
                for d in s.scalars(select(Document))}
        households = list(s.scalars(select(Household.number)))
        max_page_id = s.scalar(select(func.max(Page.id)))
    mine = {PLACES["own"], PLACES["parent"]}  # the clerk's township holds both villages
    for number in mine:
        assert state_purpose(client, number).status_code == 302
    missing_doc = max(docs) + 1
    urls = {
        "viewer": "/document/{d}/page/{p}", "image": "/document/{d}/page/{p}/image",
        "text": "/document/{d}/page/{p}/text", "download": "/document/{d}/download",
    }
    reference = {kind: _normalised(client.get(url.format(d=missing_doc, p=1)))
                 for kind, url in urls.items()}
    assert all(ref[0] == 404 for ref in reference.values())
    before = last_event_id(archive)
    outside = 0
    for doc_id in [*docs, *range(missing_doc, missing_doc + 3), max_page_id + 7]:
        number, count = docs.get(doc_id, (None, 1))
        for page in range(1, count + 2):
            for kind, url in urls.items():
                r = client.get(url.format(d=doc_id, p=page))
                if number in mine and page <= count and kind != "download":
                    assert r.status_code == 200, (kind, doc_id, page)
                    continue
                # other townships, missing ids, pages beyond the end, downloads staff lack:
                # one and the same 404
                assert _normalised(r) == reference[kind], (kind, doc_id, page)
                outside += number is not None and number not in mine
    # household numbers, real ones of other townships and made-up ones alike
    ref_household = _normalised(client.get("/household/220381106001-9999"))
    ref_purpose = _normalised(client.post("/household/220381106001-9999/purpose",
                                          data={"purpose": "审核"}))
    ref_purpose_form = _normalised(client.get("/household/220381106001-9999/purpose"))
    assert ref_purpose_form[0] == 404
    for number in [*households, "220382101001-0002", "999999999999-0001"]:
        if number in mine:
            continue
        assert _normalised(client.get(f"/household/{number}")) == ref_household, number
        assert _normalised(client.post(f"/household/{number}/purpose",
                                       data={"purpose": "审核"})) == ref_purpose, number
        assert _normalised(client.get(f"/household/{number}/purpose")) == ref_purpose_form, \
            number
    refused = events_after(archive, before, actor="east-clerk", outcome=audit.REFUSED)
    assert len(refused) >= outside > 0
    # the refused reads of other townships' objects are on record under their household
    recorded = {e.household for e in refused}
    assert {PLACES["sibling"], PLACES["other_county"]} <= recorded


def test_a_purpose_stated_for_one_household_does_not_open_another_of_the_same_township(
        world, app):
    archive = world["archive"]
    own, parent = PLACES["own"], PLACES["parent"]  # both in east-clerk's township
    client = login(app, "east-clerk")
    assert state_purpose(client, own).status_code == 302
    assert client.get(f"/household/{own}").status_code == 200
    # the other household of the same township asks for its own purpose first
    r = client.get(f"/household/{parent}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/household/{parent}/purpose")
    viewer = client.get(f"/document/{world['docs']['parent']}/page/1")
    assert viewer.status_code == 302 and viewer.headers["Location"].endswith("/purpose")
    text = client.get(f"/document/{world['docs']['parent']}/page/1/text")
    assert text.status_code == 302 and text.headers["Location"].endswith("/purpose")
    before = last_event_id(archive)
    assert client.get(f"/document/{world['docs']['parent']}/page/1/image").status_code == 404
    [event] = events_after(archive, before, actor="east-clerk")
    assert (event.action, event.outcome, event.household) == ("read_page", "refused", parent)
    assert "no purpose" in event.detail


def test_search_totals_never_count_other_jurisdictions(world, app):
    client = login(app, "east-clerk")
    r = client.get("/api/search", query_string={"q": "低保申请书"})
    assert r.status_code == 200
    households = {h["household"] for h in r.json["hits"]}
    assert households == {PLACES["own"], PLACES["parent"]}
    assert r.json["total"] == 2
    everyone = login(app, "chief-auditor").get("/api/search", query_string={"q": "低保申请书"})
    assert everyone.json["total"] == 4


def test_no_purpose_no_page_and_the_refusal_is_recorded(world, app):
    archive, doc_id = world["archive"], world["docs"]["own"]
    client = login(app, "v-staff")
    before = last_event_id(archive)
    image = client.get(f"/document/{doc_id}/page/1/image")
    assert image.status_code == 404
    [event] = events_after(archive, before, action="read_page")
    assert event.outcome == audit.REFUSED and "no purpose" in event.detail
    # HTML pages send the reader to the purpose form instead
    for url in (f"/household/{PLACES['own']}", f"/document/{doc_id}/page/1"):
        r = client.get(url)
        assert r.status_code == 302
        assert r.headers["Location"].endswith(f"/household/{PLACES['own']}/purpose")
    # a purpose outside the list, or 其他 without words, is not a purpose
    assert state_purpose(client, PLACES["own"], "随便看看").status_code == 400
    assert state_purpose(client, PLACES["own"], "其他", "  ").status_code == 400
    assert client.get(f"/document/{doc_id}/page/1/image").status_code == 404


def test_with_a_purpose_every_event_of_the_reading_carries_it(world, app):
    archive, doc_id, number = world["archive"], world["docs"]["own"], PLACES["own"]
    client = login(app, "v-staff")
    before = last_event_id(archive)
    r = state_purpose(client, number, "其他", f"核对 {HEAD_ID} 的材料")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/household/{number}")
    dossier = client.get(f"/household/{number}")
    assert dossier.status_code == 200
    assert f'class="open-document" href="/document/{doc_id}/page/1"' in dossier.text
    viewer = client.get(f"/document/{doc_id}/page/1")
    assert 'id="page-image"' in viewer.text and "核对 2203**********123X 的材料" in viewer.text
    image = client.get(f"/document/{doc_id}/page/2/image")
    assert image.status_code == 200 and image.data[:3] == b"\xff\xd8\xff"
    text = client.get(f"/document/{doc_id}/page/2/text")
    assert text.status_code == 200 and "收入" in text.text
    events = events_after(archive, before, actor="v-staff")
    assert [e.action for e in events] == ["state_purpose", "read_household", "read_page",
                                          "read_text"]
    purpose = "其他：核对 2203**********123X 的材料"  # the ID number never reaches the log
    assert all(e.purpose == purpose and e.outcome == audit.ALLOWED for e in events)


def test_page_image_carries_a_watermark_naming_the_purpose(world, app):
    archive, doc_id = world["archive"], world["docs"]["own"]
    with archive.Session() as s:
        page = s.scalar(select(Page).where(Page.document_id == doc_id, Page.number == 1))
        raw = Image.open(io.BytesIO(archive.blobs.get(page.image_ref, page.image_key)))
    shown = {}
    for purpose in ("审核", "信访"):
        client = login(app, "v-staff")
        state_purpose(client, PLACES["own"], purpose)
        shown[purpose] = Image.open(io.BytesIO(
            client.get(f"/document/{doc_id}/page/1/image").data)).convert("RGB")
    # marked: unlike the stored page, and unlike the same page read for another purpose
    assert ImageChops.difference(raw.convert("RGB"), shown["审核"]).getbbox() is not None
    assert ImageChops.difference(shown["审核"], shown["信访"]).getbbox() is not None


def _watermark_only(raw: Image.Image, shown: Image.Image) -> Image.Image:
    """The watermark alone, black on white and turned level: where the served image is
    redder than the stored one (the ink is translucent red)."""
    import numpy as np

    before = np.asarray(raw.convert("RGB"), dtype=np.int16)
    after = np.asarray(shown.convert("RGB"), dtype=np.int16)
    ink = (before[..., 1] - after[..., 1]) > 10  # green falls under the translucent red ink
    sheet = Image.fromarray(np.where(ink, 0, 255).astype("uint8"))
    return sheet.rotate(-30, expand=True, fillcolor=255)  # the tiles run at 30 degrees


def test_the_watermark_names_the_reader_the_time_and_the_purpose_read_back_by_ocr(world, app):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ingest.ocr import get_engine

    archive, doc_id = world["archive"], world["docs"]["own"]
    with archive.Session() as s:
        page = s.scalar(select(Page).where(Page.document_id == doc_id, Page.number == 2))
        raw = Image.open(io.BytesIO(archive.blobs.get(page.image_ref, page.image_key)))
        raw.load()
    client = login(app, "v-staff")
    state_purpose(client, PLACES["own"], "信访")
    served = client.get(f"/document/{doc_id}/page/2/image")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")  # the office's day
    text = get_engine("rapidocr").recognize(
        _watermark_only(raw, Image.open(io.BytesIO(served.data)))).text
    compact = text.replace(" ", "")
    assert "v-staff" in compact, "the reader's name is not on the page image"
    assert today in compact, "the date (office time) is not on the page image"
    assert "信访" in compact, "the purpose is not on the page image"


def test_archivist_downloads_a_pdf_watermarked_on_every_page(world, app):
    archive, doc_id = world["archive"], world["docs"]["own"]
    client = login(app, "v-archivist")
    household = client.get(f"/household/{PLACES['own']}")  # asks for a purpose first
    assert household.status_code == 302
    state_purpose(client, PLACES["own"], "复核")
    assert f"/document/{doc_id}/download" in client.get(f"/household/{PLACES['own']}").text
    before = last_event_id(archive)
    r = client.get(f"/document/{doc_id}/download")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert "attachment" in r.headers["Content-Disposition"]
    with archive.Session() as s:
        doc = s.get(Document, doc_id)
        original = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
    stamped = pikepdf.open(io.BytesIO(r.data))
    assert len(stamped.pages) == 2
    for page in stamped.pages:
        assert "/HudangWatermark" in page.Resources.XObject
    plain, marked = pypdfium2.PdfDocument(original), pypdfium2.PdfDocument(r.data)
    for i in range(len(plain)):
        a = plain[i].render(scale=0.3).to_pil().convert("RGB")
        b = marked[i].render(scale=0.3).to_pil().convert("RGB")
        assert ImageChops.difference(a, b).getbbox() is not None, f"page {i + 1} is unmarked"
    [event] = events_after(archive, before, action="download")
    assert (event.actor, event.outcome, event.purpose) == ("v-archivist", "allowed", "复核")


def test_staff_get_no_download_link_and_a_404_for_the_url(world, app):
    doc_id = world["docs"]["own"]
    client = login(app, "v-staff")
    state_purpose(client, PLACES["own"])
    assert "/download" not in client.get(f"/household/{PLACES['own']}").text
    assert client.get(f"/document/{doc_id}/download").status_code == 404


def test_id_numbers_are_masked_unless_a_deployment_grants_the_full_number(world):
    from web.app import create_app

    masked = HEAD_ID[:4] + "*" * 10 + HEAD_ID[-4:]
    for grants, role, full in (("", "administrator", False),
                               ("see_full_id=administrator", "administrator", True),
                               ("see_full_id=administrator", "staff", False)):
        app = create_app(archive=world["archive"],
                         test_config={"WTF_CSRF_ENABLED": False, "HUDANG_GRANTS": grants})
        client = login(app, f"v-{role}")
        state_purpose(client, PLACES["own"])
        page = client.get(f"/household/{PLACES['own']}").text
        assert (HEAD_ID in page) is full and (masked in page) is not full


def test_ocr_text_with_markup_is_shown_as_text_in_search_results(world, app):
    archive, doc_id = world["archive"], world["docs"]["own"]
    archive.index.add_pages([PageDoc(
        document_id=doc_id, page=9, household=PLACES["own"], head_name="王德胜",
        region=USER_VILLAGE, doc_type="application", doc_type_name="申请书", title="标记测试",
        date=None, text=f"恶意标记 <script>alert(1)</script> 身份证 {HEAD_ID}")])
    try:
        page = login(app, "v-staff").get("/", query_string={"q": "恶意标记"}).text
    finally:
        archive.index.remove_document(doc_id)
        from ingest.indexing import page_docs

        with archive.Session() as s:
            doc = s.get(Document, doc_id)
            texts = {p.number: archive.blobs.get(p.text_ref, p.text_key).decode()
                     for p in doc.pages}
            archive.index.add_pages(page_docs(doc, texts))
    assert "&lt;script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    assert HEAD_ID not in page and "2203**********123X" in page


def test_purpose_form_follows_the_contract_with_csrf_and_configured_purposes(world):
    from web.app import create_app

    app = create_app(archive=world["archive"],
                     test_config={"HUDANG_PURPOSES": "审核,核查经济状况"})
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"csrf_token": token, "username": "v-staff",
                                "password": PASSWORD})
    r = client.get(f"/household/{PLACES['own']}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/purpose")
    form = client.get(r.headers["Location"]).text
    assert re.search(r'<form method="post"[^>]*>', form)
    assert '<select name="purpose" id="purpose"' in form
    assert re.findall(r'<option value="([^"]*)"', form) == ["审核", "核查经济状况", "其他"]
    assert '<input name="purpose_other" id="purpose-other"' in form
    assert '<button type="submit" id="state-purpose">' in form
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    # without the token the purpose is not taken
    assert client.post(f"/household/{PLACES['own']}/purpose",
                       data={"purpose": "核查经济状况"}).status_code == 400
    ok = client.post(f"/household/{PLACES['own']}/purpose",
                     data={"csrf_token": token, "purpose": "核查经济状况"})
    assert ok.status_code == 302
    assert "核查经济状况" in client.get(f"/household/{PLACES['own']}").text


def test_access_doc_table_matches_the_policy():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "access.md").read_text()
    table = doc.split("<!-- policy-table -->")[1].split("<!-- /policy-table -->")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    header = [c.strip() for c in table.splitlines()[1].strip("|").split("|")]
    assert header[0] == "action"
    roles = [Role(name.strip("` ")) for name in header[1:]]
    seen = set()
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        action = Action(cells[0].strip("`"))
        seen.add(action)
        for role, cell in zip(roles, cells[1:]):
            assert (cell == "✓") is (action in ROLE_ACTIONS[role]), (action, role)
    assert seen == set(Action)
