"""The dossier reader in a real browser (Debian's Chromium via Playwright) against the real
server (``hudang serve``) at a phone's width: a clerk states a purpose, opens the dossier,
pages across a document boundary with the keyboard and with the buttons, jumps by
thumbnail, zooms and turns the page; the audit log then holds exactly the reads the
browser was served, one per page image and thumbnail, each with the purpose.

The dossier is made by the test generator (``ingest.synthetic``): its approval form has an
attachment page and its household-register copy several pages, so paging is real.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter

import pytest

from browser_support import CHROMIUM, PASSWORD, chromium, serve

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")
playwright = pytest.importorskip("playwright.sync_api")

PHONE = {"width": 390, "height": 844}
WIDTH = "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
IMAGES_LOADED = ("() => Array.from(document.images).every("
                 "i => i.complete && i.naturalWidth > 0)")
SERVED = re.compile(r"/document/(\d+)/page/(\d+)/(image|thumbnail)$")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ingest.archive import Archive, Settings
    from ingest.pipeline import IngestRequest, Ingestor
    from ingest.synthetic import generate_dossier_set
    from records.catalogue import add_household, add_region, add_user

    root = tmp_path_factory.mktemp("reader-browser")
    manifest = generate_dossier_set(root / "scans", seed=11, households=1,
                                    doc_types=["approval_form", "hukou_copy"])
    [household] = manifest.households
    home, key_file = root / "home", root / "keys" / "master.key"
    archive = Archive.init(Settings.from_env(home, key_file))
    try:
        with archive.Session() as s, s.begin():
            for region in sorted(manifest.regions, key=lambda r: len(r.code)):
                add_region(s, region.code, region.name, region.parent)
            sealed, index = archive.seal_id_number(household.head.id_number)
            add_household(s, household.number, household.head.name, household.region_code,
                          head_id_sealed=sealed, head_id_index=index)
            add_user(s, "clerk", PASSWORD, "staff", household.region_code[:9])
        documents = []
        with Ingestor(archive, workers=1, engine="tesseract") as ingestor:
            for doc in manifest.documents:
                frames = _one_file(doc.files, root / f"{doc.seq}.tif")
                result = ingestor.ingest(IngestRequest(
                    path=frames, household=doc.household, doc_type=doc.doc_type, seq=doc.seq,
                    date=doc.date, title=doc.title, actor="test"))
                documents.append((result.document_id, len(doc.files)))
    finally:
        archive.close()
    env = {**os.environ, "HUDANG_HOME": str(home), "HUDANG_MASTER_KEY_FILE": str(key_file)}
    for name in ("HUDANG_MASTER_KEY", "HUDANG_DATABASE_URL"):
        env.pop(name, None)
    return {"env": env, "home": home, "key_file": key_file, "number": household.number,
            "documents": documents, "id_numbers": [p.id_number for p in household.members]}


def _one_file(files, out):
    """A multi-page document as one TIFF, as a scanner delivers it (``web.demo`` does so)."""
    from PIL import Image

    frames = [Image.open(f) for f in files]
    frames[0].save(out, save_all=True, append_images=frames[1:], compression="tiff_deflate",
                   dpi=(300, 300))
    for f in frames:
        f.close()
    return out


def read_events(world, since: int) -> list[tuple]:
    from ingest.archive import Archive, Settings
    from records.model import AuditEvent
    from sqlalchemy import select

    archive = Archive.open(Settings.from_env(world["home"], world["key_file"]))
    try:
        with archive.Session() as s:
            return [(e.object_id, e.page, json.loads(e.detail or "{}").get("view") or "image",
                     e.purpose,
                     e.outcome)
                    for e in s.scalars(select(AuditEvent).where(
                        AuditEvent.id > since, AuditEvent.action == "read_page",
                        AuditEvent.actor == "clerk"))]
    finally:
        archive.close()


def last_event(world) -> int:
    from ingest.archive import Archive, Settings
    from records.model import AuditEvent
    from sqlalchemy import func, select

    archive = Archive.open(Settings.from_env(world["home"], world["key_file"]))
    try:
        with archive.Session() as s:
            return s.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
    finally:
        archive.close()


def test_a_clerk_reads_the_dossier_across_documents_on_a_phone_and_every_read_is_recorded(
        world, tmp_path):
    (form, form_pages), (register, register_pages) = world["documents"]
    assert form_pages == 2 and register_pages >= 2  # the generator's multi-page documents
    number = world["number"]
    served: list[tuple[str, int, str]] = []
    with serve(world["env"]) as base, chromium() as browser:
        context = browser.new_context(locale="zh-CN", viewport=PHONE)
        page = context.new_page()
        page.set_default_timeout(20_000)

        def on_response(response):
            found = SERVED.search(response.url.split("?")[0])
            if found and response.status == 200:
                served.append((found[1], int(found[2]), found[3]))

        page.on("response", on_response)

        def at(document: int, n: int) -> None:
            page.wait_for_url(re.compile(rf"/document/{document}/page/{n}(\?|$)"))
            page.wait_for_function(IMAGES_LOADED)

        try:
            page.goto(base + "/login")
            page.fill("input[name=username]", "clerk")
            page.fill("input[name=password]", PASSWORD)
            page.click("form.login button[type=submit]")
            page.wait_for_selector("#current-user")
            since = last_event(world)
            page.goto(base + f"/household/{number}/purpose")
            page.select_option("#purpose", "复核")
            page.click("#state-purpose")
            page.wait_for_url(f"**/household/{number}")
            page.click("a.open-document")
            at(form, 1)
            # the document list is folded away on a phone, the page fits its width
            assert page.eval_on_selector("#document-list", "d => d.open") is False
            assert page.evaluate(WIDTH) <= PHONE["width"], "the reader scrolls sideways"
            page.screenshot(path=str(tmp_path / "reader-phone.png"), full_page=True)
            # the keyboard: right across the document boundary, left back
            page.keyboard.press("ArrowRight")
            at(form, 2)
            page.keyboard.press("ArrowRight")
            at(register, 1)
            page.keyboard.press("ArrowLeft")
            at(form, 2)
            # down and up: the next and previous document's first page
            page.keyboard.press("PageDown")
            at(register, 1)
            page.keyboard.press("ArrowUp")
            at(form, 1)
            # the buttons
            page.click("#next-page")
            at(form, 2)
            page.click("#next-page")
            at(register, 1)
            page.click("#prev-page")
            at(form, 2)
            page.click("#next-document")
            at(register, 1)
            # a thumbnail: the register's last page, the last of the dossier
            page.click(f"ol.thumbnails a[data-page='{register_pages}']")
            at(register, register_pages)
            assert page.locator("#next-page").count() == 0
            assert page.locator("#last-page").count() == 1
            page.keyboard.press("ArrowRight")  # nowhere to go: nothing happens
            assert page.url.split("?")[0].endswith(f"/document/{register}/page/{register_pages}")
            # zoom and turn the view: no reload, so no page is read again
            reads_before = len(served)
            width = page.eval_on_selector("#page-view", "v => v.clientWidth")
            page.click("#zoom-in")
            assert "zoom-150" in page.get_attribute("#page-view", "class")
            shown = page.eval_on_selector("#page-image", "i => i.getBoundingClientRect().width")
            assert abs(shown - 1.5 * width) <= 2
            page.keyboard.press("r")
            assert "turn-90" in page.get_attribute("#page-view", "class")
            box = page.eval_on_selector("#page-image", "i => { const r = i.getBoundingClientRect();"
                                                       " return [r.width, r.height]; }")
            natural = page.eval_on_selector("#page-image", "i => [i.naturalWidth, i.naturalHeight]")
            assert abs(box[0] - 1.5 * width) <= 2  # turned: its height now spans the width
            assert abs(box[1] / box[0] - natural[0] / natural[1]) < 0.02
            page.click("#zoom-fit")
            assert "zoom-100" in page.get_attribute("#page-view", "class")
            assert page.evaluate(WIDTH) <= PHONE["width"], "the turned page scrolls sideways"
            assert len(served) == reads_before
            # the view is kept in the address and in the links
            assert "zoom=100&rotate=90" in page.url
            assert "rotate=90" in page.get_attribute("#prev-page", "href")
            page.screenshot(path=str(tmp_path / "reader-turned.png"), full_page=True)
            page.keyboard.press("ArrowUp")
            at(form, 1)
            assert "turn-90" in page.get_attribute("#page-view", "class")
            # no ID number of the household appears in the page as served
            content = page.content()
            assert not [n for n in world["id_numbers"] if n in content]
        finally:
            page.screenshot(path=str(tmp_path / "reader-last.png"), full_page=True)
            context.close()
    recorded = read_events(world, since)
    assert all(purpose == "复核" and outcome == "allowed"
               for *_rest, purpose, outcome in recorded)
    assert Counter((doc, n, kind) for doc, n, kind, *_ in recorded) == Counter(served)
    # every page shown counted: each visit read the page once and its document's thumbnails
    assert Counter(kind for *_x, kind in served)["image"] == 12
