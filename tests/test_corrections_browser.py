"""Correcting one line of OCR text in a real browser (Debian's Chromium via Playwright)
against the real server (``hudang serve``) on a real archive with a really ingested page,
then finding the corrected word by search; the screen also at phone width, in English.
"""
from __future__ import annotations

import contextlib
import shutil

import pytest

from browser_support import CHROMIUM, PASSWORD, build_world, chromium, serve, sign_in

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")
playwright = pytest.importorskip("playwright.sync_api")

IMAGE_LOADED = ("() => { const i = document.getElementById('page-image');"
                " return i !== null && i.complete && i.naturalWidth > 0; }")
NEW_WORD = "鹦鹉螺"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from records.catalogue import add_user

    world = build_world(tmp_path_factory.mktemp("correct-browser"))
    archive = world.open()
    try:
        with archive.Session() as s, s.begin():
            add_user(s, "keeper", PASSWORD, "archivist", None)
    finally:
        archive.close()
    return world


def _up(base: str) -> None:
    """Wait for the server to answer (it starts slowly on a busy machine)."""
    import time

    import requests

    for _ in range(600):
        try:
            requests.get(base + "/login", timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"the server at {base} never answered")


def test_an_archivist_corrects_one_line_and_finds_the_word_by_search(world, tmp_path):
    a = world.a
    with serve(world.env()) as base, chromium() as browser:
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            _up(base)
            sign_in(page, base, "keeper")
            page.goto(base + f"/document/{a.document_id}/page/1/correct")
            # no purpose stated yet: the purpose form comes first, then the screen
            page.wait_for_url(f"**/household/{a.number}/purpose")
            page.select_option("#purpose", "审核")
            page.click("#state-purpose")
            page.goto(base + f"/document/{a.document_id}/page/1/correct")
            page.wait_for_function(IMAGE_LOADED)
            assert page.inner_text("h1") == "更正文字"
            line = page.locator("#correct-form input[name^=line-]")
            values = [line.nth(i).input_value() for i in range(line.count())]
            target = next(i for i, v in enumerate(values) if "申请人" in v)
            line.nth(target).fill(f"申请人 {a.name} {NEW_WORD}")
            # the layout fits a phone: nothing wider than the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.click("#save-lines")
            page.wait_for_selector("#saved")
            assert line.nth(target).input_value() == f"申请人 {a.name} {NEW_WORD}"
            page.goto(base + "/")
            page.fill("form.search input[name=q]", NEW_WORD)
            page.click("form.search button[type=submit]")
            page.wait_for_selector("#result-count")
            hit = page.locator(f"a.open-page[href='/document/{a.document_id}/page/1']")
            assert hit.count() == 1
        finally:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
            context.close()
