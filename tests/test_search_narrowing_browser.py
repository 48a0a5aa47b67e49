"""Narrowing a search in a real browser (Debian's Chromium via Playwright) against the real
server (``hudang serve``): a clerk on a phone opens the folded filters, picks a type and
searches with no words, then narrows to a village with a facet link; the page never
scrolls sideways, in Chinese and in English. Screenshots are saved in the test's tmp_path.
"""
from __future__ import annotations

import shutil

import pytest

from browser_support import CHROMIUM, chromium, serve
from narrowing_support import PASSWORD, build

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")
playwright = pytest.importorskip("playwright.sync_api")

PHONE = {"width": 390, "height": 844}
WIDTH = "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    archive, world = build(tmp_path_factory.mktemp("narrow-browser"))
    archive.close()
    return world


@pytest.fixture(scope="module")
def server(world):
    with serve(world.env()) as base:
        yield base


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_clerk_on_a_phone_filters_by_type_then_narrows_to_a_village_by_its_count(
        world, server, tmp_path, lang):
    township = world.townships[0]
    village = sorted(v for v in world.villages if v.startswith(township))[-1]
    with chromium() as browser:
        context = browser.new_context(locale="zh-CN", viewport=PHONE)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            page.goto(f"{server}/login?lang={lang}")
            page.fill("input[name=username]", "clerk-a")
            page.fill("input[name=password]", PASSWORD)
            page.click("form.login button[type=submit]")
            page.wait_for_selector("#current-user")
            page.click("#search-link")
            assert not page.is_visible("#f-type")  # folded away on a phone until asked for
            page.click("#filters summary")
            page.select_option("#f-type", "income_certificate")
            page.screenshot(path=str(tmp_path / f"filters-{lang}.png"), full_page=True)
            assert page.evaluate(WIDTH) <= PHONE["width"], "the filters scroll sideways"
            page.click("#apply-filters")
            page.wait_for_selector("#result-count")
            mine = [d for d in world.docs
                    if d.type == "income_certificate" and d.region.startswith(township)]
            count = page.inner_text("#result-count")
            assert (f"共 {len(mine)} 件" if lang == "zh" else f"{len(mine)} documents") in count
            # the counts per village of the clerk's township, none of the other township
            codes = page.eval_on_selector_all("#facet-regions a.facet",
                                              "els => els.map(e => e.dataset.code)")
            assert codes and all(c.startswith(township) for c in codes)
            page.screenshot(path=str(tmp_path / f"results-{lang}.png"), full_page=True)
            assert page.evaluate(WIDTH) <= PHONE["width"], "the results scroll sideways"
            page.click(f"#facet-regions a.facet[data-code='{village}']")
            page.wait_for_url(f"**region={village}**")
            narrowed = [d for d in mine if d.region == village]
            count = page.inner_text("#result-count")
            assert (f"共 {len(narrowed)} 件" if lang == "zh" else f"{len(narrowed)} documents") in count
            assert page.locator("table.results tbody tr").count() == len(narrowed)
            # the picked filters stay in the (now open) form
            assert page.input_value("#f-type") == "income_certificate"
            assert page.input_value("#f-region") == village
            page.screenshot(path=str(tmp_path / f"narrowed-{lang}.png"), full_page=True)
            assert page.evaluate(WIDTH) <= PHONE["width"], "the narrowed results scroll sideways"
        finally:
            context.close()
