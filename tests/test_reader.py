"""The dossier reader (阅卷): a clerk reads a household's dossier from the first page of its
first document to the last page of its last, and every page image and thumbnail served is
a recorded read with the stated purpose.

Real parts: the SQLite catalogue built by the migrations, born-digital multi-page PDFs
ingested through the pipeline (no OCR needed), encrypted blobs, the Flask app through its
test client, and a destruction carried out by the real procedure. The browser side (keys,
zoom, rotation, a phone's width) is in ``test_reader_browser.py``.
"""
from __future__ import annotations

import io
import json
import re
from datetime import date

import pytest
from PIL import Image, ImageStat
from sqlalchemy import func, select

from desk_support import text_pdf
from records import audit
from records.model import AuditEvent, Document, Page

PASSWORD = "Reader-test-9"
OWN = "220381105012-0042"
OTHER = "220381106003-0001"  # another township
HEAD_ID = "22038119800101123X"
# the documents of the own dossier, in order: (type, pages' words)
DOSSIER = (("申请书", ("application page one", f"application page two {HEAD_ID}")),
           ("收入证明", ("income certificate",)),
           ("户口簿复印件", ("register head page", "register card one", "register card two")))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from conftest import make_archive
    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_household, add_region, add_user

    root = tmp_path_factory.mktemp("reader")
    archive = make_archive(root)
    with archive.Session() as s, s.begin():
        add_region(s, "220381106", "西山镇")
        add_region(s, "220381106003", "青石村")
        add_household(s, OTHER, "李秀英", "220381106003")
        add_user(s, "clerk", PASSWORD, "staff", "220381105")
        add_user(s, "west-clerk", PASSWORD, "staff", "220381106")
        for name, role in (("reviewer", "reviewer"), ("approver", "approver"),
                           ("witness-a", "witness"), ("witness-b", "witness")):
            add_user(s, name, PASSWORD, role, "220381105")
    docs = []
    with Ingestor(archive, workers=1) as ingestor:
        for i, (doc_type, pages) in enumerate(DOSSIER):
            path = text_pdf(root / f"own-{i}.pdf", *pages)
            docs.append(ingestor.ingest(IngestRequest(
                path=path, household=OWN, doc_type=doc_type, actor="test",
                date=date(2024, 3, 1 + i))).document_id)
        other = ingestor.ingest(IngestRequest(
            path=text_pdf(root / "other.pdf", "other township", "its second page"),
            household=OTHER, doc_type="申请书", actor="test")).document_id
    yield {"archive": archive, "docs": docs, "other": other, "root": root}
    archive.close()


@pytest.fixture(scope="module")
def app(world):
    from web.app import create_app

    return create_app(archive=world["archive"], test_config={"WTF_CSRF_ENABLED": False,
                                                             "TESTING": True})


def login(app, name: str, purpose: str | None = "审核", number: str = OWN):
    client = app.test_client()
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code == 302, f"{name} could not sign in"
    if purpose:
        r = client.post(f"/household/{number}/purpose", data={"purpose": purpose})
        assert r.status_code == 302
    return client


def last_event_id(archive) -> int:
    with archive.Session() as s:
        return s.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))


def events_after(archive, last_id: int) -> list[AuditEvent]:
    with archive.Session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.id > last_id)
                              .order_by(AuditEvent.id)))


def view(event: AuditEvent) -> str | None:
    """How a read page was shown, as its event says: "thumbnail", or None for the page."""
    return json.loads(event.detail or "{}").get("view")


def same(response) -> tuple:
    """A response as a prober compares it: without the form token and the id asked for."""
    body = re.sub(r'name="csrf_token" value="[^"]+"', "", response.text)
    return response.status_code, response.mimetype, re.sub(r"/document/\d+/", "/document/N/",
                                                            body)


def link(html: str, element_id: str) -> str | None:
    """The href of the link with this id, or None when the page has none."""
    found = re.search(rf'<a id="{element_id}"[^>]*href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def place(url: str) -> tuple[int, int]:
    document, page = re.search(r"/document/(\d+)/page/(\d+)", url).groups()
    return int(document), int(page)


def reading_order(world) -> list[tuple[int, int]]:
    return [(doc, n) for doc, (_t, pages) in zip(world["docs"], DOSSIER)
            for n in range(1, len(pages) + 1)]


def test_next_page_leads_through_every_page_of_every_document_and_stops_at_the_last(world, app):
    client = login(app, "clerk")
    order = reading_order(world)
    url, seen = f"/document/{order[0][0]}/page/1", []
    while url:
        r = client.get(url)
        assert r.status_code == 200, url
        seen.append(place(url))
        url = link(r.text, "next-page")
    assert seen == order
    # the last page of the last document says so, and offers no next document either
    assert 'id="last-page"' in r.text and link(r.text, "next-document") is None
    # and back again, the previous page of a document's first page is the last page before it
    url, back = link(r.text, "prev-page"), [seen[-1]]
    while url:
        back.append(place(url))
        url = link(client.get(url).text, "prev-page")
    assert back == order[::-1]


def test_next_and_previous_document_go_to_first_pages_and_the_list_marks_the_current(world, app):
    client = login(app, "clerk")
    first, second, third = world["docs"]
    r = client.get(f"/document/{first}/page/2")
    assert place(link(r.text, "next-document")) == (second, 1)
    assert link(r.text, "prev-document") is None
    r = client.get(f"/document/{third}/page/2")
    assert place(link(r.text, "prev-document")) == (second, 1)
    assert link(r.text, "next-document") is None
    listed = re.findall(r'<li( class="current")? data-document="(\d+)">', r.text)
    assert [(int(d), bool(c)) for c, d in listed] == [(first, False), (second, False),
                                                      (third, True)]
    assert "户口簿复印件" in r.text and "2024-03-03" in r.text
    # its pages as thumbnails, the shown one marked
    thumbs = re.findall(rf'/document/{third}/page/(\d)/thumbnail', r.text)
    assert thumbs == ["1", "2", "3"]
    assert re.search(r'aria-current="page" data-page="2"', r.text)
    # the same answers as JSON
    api = client.get(f"/api/document/{third}/page/2").get_json()
    assert api["previous_page"] == {"document_id": third, "page": 1}
    assert api["next_page"] == {"document_id": third, "page": 3} and api["purpose"] == "审核"
    assert client.get(f"/api/document/{third}/page/3").get_json()["next_page"] is None
    assert [d["pages"] for d in api["documents"]] == [2, 1, 3]
    assert client.get(f"/document/{third}/page/4").status_code == 404


def test_zoom_and_rotation_work_without_javascript_and_every_link_keeps_them(world, app):
    client = login(app, "clerk")
    first = world["docs"][0]
    r = client.get(f"/document/{first}/page/1")
    # the plain view: plain links (a crawler meets no 24 copies of each page)
    assert 'class="page-view zoom-100 turn-0"' in r.text
    assert link(r.text, "next-page") == f"/document/{first}/page/2"
    # the forms' buttons ask for the next zoom or turn, keeping the other
    assert re.search(r'name="rotate" value="0">\s*<button type="submit" name="zoom" value="75" '
                     r'id="zoom-out"', r.text)
    assert 'name="zoom" value="150" id="zoom-in"' in r.text
    assert re.search(r'name="zoom" value="100">\s*<button type="submit" name="rotate" '
                     r'value="270" id="rotate-left"', r.text)
    r = client.get(f"/document/{first}/page/1?rotate=90&zoom=150")
    assert 'class="page-view zoom-150 turn-90"' in r.text
    assert link(r.text, "next-page") == f"/document/{first}/page/2?zoom=150&rotate=90"
    assert 'name="zoom" value="200" id="zoom-in"' in r.text
    assert 'name="rotate" value="180" id="rotate-right"' in r.text
    # nonsense falls back to the fitted, upright page
    r = client.get(f"/document/{first}/page/1?zoom=7&rotate=45")
    assert 'class="page-view zoom-100 turn-0"' in r.text
    assert '<script src="/static/reader.js"' in r.text


def test_every_page_image_and_thumbnail_served_is_one_read_with_the_purpose(world, app):
    archive = world["archive"]
    client = login(app, "clerk", purpose="复核")
    third = world["docs"][2]
    r = client.get(f"/document/{third}/page/1")
    sources = re.findall(r'<img[^>]* src="([^"]+)"', r.text)
    assert len(sources) == 4  # the page and the document's three thumbnails
    before = last_event_id(archive)
    for src in sources:
        got = client.get(src)
        assert got.status_code == 200 and got.data[:3] == b"\xff\xd8\xff"
        assert got.headers["Cache-Control"] == "no-store"
    events = events_after(archive, before)
    assert [(e.action, e.object_id, e.page, e.purpose, e.outcome,
             view(e)) for e in events] == [
        ("read_page", str(third), 1, "复核", audit.ALLOWED, None),
        *[("read_page", str(third), n, "复核", audit.ALLOWED, "thumbnail") for n in (1, 2, 3)]]
    thumb = Image.open(io.BytesIO(client.get(sources[1]).data))
    page = Image.open(io.BytesIO(client.get(sources[0]).data))
    assert max(thumb.size) <= 240 < max(page.size)


def test_a_thumbnail_paints_over_id_numbers_like_the_page_image(world, app):
    archive = world["archive"]
    first = world["docs"][0]
    with archive.Session() as s:
        regions = s.scalar(select(Page.id_regions).where(Page.document_id == first,
                                                           Page.number == 2))
    from ingest import redaction

    [(x0, y0, x1, y1)] = redaction.loads(regions)
    client = login(app, "clerk")
    for kind in ("image", "thumbnail"):
        shown = Image.open(io.BytesIO(client.get(f"/document/{first}/page/2/{kind}").data))
        w, h = shown.size
        box = (int(x0 * w) + 1, int(y0 * h) + 1, int(x1 * w) - 1, int(y1 * h) - 1)
        # black under the watermark's translucent red: dark in every channel but red
        green = ImageStat.Stat(shown.convert("RGB").crop(box)).mean[1]
        assert green < 40, (kind, green)


def test_without_a_purpose_the_reader_asks_for_one_and_thumbnails_are_refused(world, app):
    archive = world["archive"]
    client = login(app, "clerk", purpose=None)
    first = world["docs"][0]
    r = client.get(f"/document/{first}/page/1")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/household/{OWN}/purpose")
    before = last_event_id(archive)
    assert client.get(f"/document/{first}/page/1/thumbnail").status_code == 404
    [event] = events_after(archive, before)
    assert event.action == "read_page" and event.outcome == audit.REFUSED


def test_another_township_and_a_missing_document_get_the_same_404(world, app):
    client = login(app, "west-clerk", number=OTHER)
    first, missing = world["docs"][0], 999_999
    for suffix in ("", "/thumbnail", "/image"):
        theirs = client.get(f"/document/{first}/page/1{suffix}")
        nothing = client.get(f"/document/{missing}/page/1{suffix}")
        assert theirs.status_code == nothing.status_code == 404
        assert same(theirs) == same(nothing)
    assert same(client.get(f"/api/document/{first}/page/1")) == \
        same(client.get(f"/api/document/{missing}/page/1"))
    # their own dossier reads, and lists nothing of another township's
    r = client.get(f"/document/{world['other']}/page/1")
    assert r.status_code == 200
    assert re.findall(r'data-document="(\d+)"', r.text) == [str(world["other"])]
    assert place(link(r.text, "next-page")) == (world["other"], 2)


def test_a_destroyed_dossier_is_not_read_by_page_thumbnail_or_reading_order(world, app):
    from retention_support import lists_in_every_state

    archive = world["archive"]
    made = lists_in_every_state(archive, world["root"], "220381105012", reviewer="reviewer",
                                approver="approver", witnesses=("witness-a", "witness-b"))
    with archive.Session() as s:
        destroyed = s.scalars(select(Document).where(Document.destroyed_at.is_not(None))).all()
        assert destroyed and all(d.dossier.destruction_list_id == made.executed
                                 for d in destroyed)
        doc, number = destroyed[0].id, destroyed[0].household_number
    client = login(app, "clerk", number=number)  # with a purpose: its content is gone all the same
    before = last_event_id(archive)
    for suffix in ("", "/thumbnail", "/image"):
        assert client.get(f"/document/{doc}/page/1{suffix}").status_code == 410, suffix
    assert client.get(f"/api/document/{doc}/page/1").status_code == 410
    # nothing of it was read
    assert not [e for e in events_after(archive, before) if e.outcome == audit.ALLOWED
                and e.action == "read_page"]


def test_the_command_line_tells_the_same_reading_order(world):
    from click.testing import CliRunner

    from web.cli import main

    home = world["root"] / "home"
    key = world["root"] / "keys" / "master.key"
    first, second, third = world["docs"]
    runner = CliRunner()
    got = runner.invoke(main, ["--home", str(home), "--key-file", str(key), "reader", str(first),
                               "--page", "2", "--json", "--as", "clerk"])
    assert got.exit_code == 0, got.output
    answer = json.loads(got.output)
    assert answer["next_page"] == {"document_id": second, "page": 1}
    assert answer["previous_document"] is None
    assert [d["document_id"] for d in answer["documents"]] == [first, second, third]
    text = runner.invoke(main, ["--home", str(home), "--key-file", str(key), "reader",
                                str(third), "--page", "3", "--as", "clerk"]).output
    assert "document 3 of 3, page 3 of 3" in text and "next page: none" in text
    refused = runner.invoke(main, ["--home", str(home), "--key-file", str(key), "reader",
                                   str(first), "--as", "west-clerk"])
    assert refused.exit_code == 3


def test_a_page_the_document_lacks_is_refused_like_a_missing_document(world, app):
    # one rule for the browser, the JSON and the command line, and the refusal is recorded
    from click.testing import CliRunner

    from web.cli import main

    archive = world["archive"]
    third = world["docs"][2]  # three pages
    client = login(app, "clerk")
    before = last_event_id(archive)
    for url in (f"/document/{third}/page/4", f"/document/{third}/page/0",
                f"/api/document/{third}/page/4"):
        assert client.get(url).status_code == 404, url
    assert same(client.get(f"/document/{third}/page/4")) == \
        same(client.get(f"/document/999999/page/4"))
    got = CliRunner().invoke(main, ["--home", str(world["root"] / "home"), "--key-file",
                                    str(world["root"] / "keys" / "master.key"), "reader",
                                    str(third), "--page", "4", "--as", "clerk"])
    assert got.exit_code == 3, got.output
    refusals = [(e.action, e.object_id, e.page, e.outcome) for e in events_after(archive, before)]
    assert ("read_document", str(third), 4, audit.REFUSED) in refusals
    assert ("read_document", str(third), 0, audit.REFUSED) in refusals
