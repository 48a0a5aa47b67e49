"""Issue 15's whole flow in a real browser (Debian's Chromium via Playwright) against the real
server (``hudang serve``) and a real worker (``hudang worker``, Huey's queue in the data home,
Tesseract): an archivist uploads three files to a dossier and a box with its manifest, watches
the jobs' progress, opens the batch and its report; a QC reviewer (质检员) draws the sample and
accepts the batch; the archivist corrects one line of OCR text and finds the corrected word
by search.
"""
from __future__ import annotations

import contextlib
import shutil

import pytest

from browser_support import CHROMIUM, PASSWORD, _page, build_world, chromium, serve, sign_in
from crash_support import start, stop

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                 reason=f"Chromium is not installed at {CHROMIUM} "
                                        "(apt-get install chromium)")]
playwright = pytest.importorskip("playwright.sync_api")

IMAGE_LOADED = ("() => { const i = document.getElementById('page-image');"
                " return i !== null && i.complete && i.naturalWidth > 0; }")
NEW_WORD = "鹦鹉螺"
JOB_WAIT = 300_000  # ms: OCR of a few pages on a busy two-core machine


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from records.catalogue import add_user

    world = build_world(tmp_path_factory.mktemp("digitise-browser"))
    archive = world.open()
    try:
        with archive.Session() as s, s.begin():
            add_user(s, "keeper", PASSWORD, "archivist", None)
            add_user(s, "qc", PASSWORD, "inspector", None)
    finally:
        archive.close()
    return world


@contextlib.contextmanager
def worker(env: dict[str, str], log):
    """``hudang worker`` in a session of its own (its OCR processes stop with it)."""
    proc = start(env, "worker", "--ocr-engine", "tesseract", log=log)
    try:
        yield proc
    finally:
        stop(proc)


def _job_of(page) -> int:
    """The job a submission redirected to (``/jobs#job-N``)."""
    page.wait_for_url("**/jobs#job-*")
    return int(page.url.rsplit("-", 1)[1])


def _wait_done(page, job_id: int) -> None:
    """The jobs page moves the bars and reloads when the job ends (static/jobs.js)."""
    page.wait_for_selector(f"#job-{job_id}[data-state=done], #job-{job_id}[data-state=failed]",
                           timeout=JOB_WAIT)
    state = page.get_attribute(f"#job-{job_id}", "data-state")
    assert state == "done", page.inner_text(f"#job-{job_id}")


def test_upload_a_box_accept_it_correct_a_line_and_find_it(world, tmp_path):
    a = world.a
    scans = tmp_path / "scans"
    scans.mkdir()
    files = [_page(scans / f"upload-{i}.png", [f"收入证明 第{i}份", f"申请人 {a.name}",
                                                f"月收入 {300 + i} 元"]) for i in range(1, 4)]
    box = tmp_path / "box"
    box.mkdir()
    boxed = [_page(box / "pledge.png", ["诚信承诺书", f"承诺人 {a.name}", "如实申报家庭收入"]),
             _page(box / "survey.png", ["入户调查表", f"户主 {a.name}", "家庭人口 三人"])]
    (box / "manifest.csv").write_text(
        "文件,户号,材料类别,题名,页数\n"
        f"pledge.png,{a.number},诚信承诺书,诚信承诺书,1\n"
        f"survey.png,{a.number},入户调查表,入户调查表,1\n", encoding="utf-8")

    with serve(world.env()) as base, worker(world.env(), tmp_path / "worker.log") as work, chromium() as browser:
        keeper = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900},
                                     accept_downloads=True)
        page = keeper.new_page()
        page.set_default_timeout(30_000)
        try:
            sign_in(page, base, "keeper")
            # 1. three files into the dossier, as one job; a bar per file
            page.goto(base + f"/household/{a.number}/upload")
            page.set_input_files("#f-files", [str(f) for f in files])
            assert page.locator("#chosen-files li").count() == 3
            page.select_option("#f-type", "income_certificate")
            page.click("#upload")
            uploaded = _job_of(page)
            row = page.locator(f"#job-{uploaded}")
            assert row.locator("progress.file-progress").count() == 3
            _wait_done(page, uploaded)
            outcomes = row.locator(".file-outcome").all_inner_texts()
            assert len(outcomes) == 3 and all(t.startswith("已入库") for t in outcomes), outcomes

            # 2. a box with its manifest: one batch, its report
            page.goto(base + "/batches/")
            page.click("#upload-box")
            page.set_input_files("#f-manifest", str(box / "manifest.csv"))
            page.set_input_files("#f-files", [str(f) for f in boxed])
            page.click("#upload")
            boxed_job = _job_of(page)
            _wait_done(page, boxed_job)
            page.click(f"#job-{boxed_job} a.job-batch")
            page.wait_for_selector("#batch-rows")
            batch_url = page.url
            assert page.locator("#batch-rows tbody tr.outcome-stored").count() == 2
            with page.expect_download() as download:
                page.click("#download-csv")
            report = download.value.path().read_text(encoding="utf-8-sig")
            assert "pledge.png" in report and "survey.png" in report

            # 3. the QC reviewer draws the sample and accepts the batch
            qc = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 900},
                                     accept_downloads=True)
            inspector = qc.new_page()
            inspector.set_default_timeout(30_000)
            try:
                sign_in(inspector, base, "qc")
                inspector.goto(batch_url)
                accept_batch(inspector)
                assert inspector.evaluate("document.documentElement.scrollWidth") <= 390
            finally:
                with contextlib.suppress(Exception):
                    inspector.screenshot(path=str(tmp_path / "qc.png"), full_page=True)
                qc.close()

            # 4. one line of OCR text corrected, the word found by search
            document_id = world.a.document_id
            page.goto(base + f"/document/{document_id}/page/1/correct")
            page.wait_for_url(f"**/household/{a.number}/purpose")
            page.select_option("#purpose", "审核")
            page.click("#state-purpose")
            page.goto(base + f"/document/{document_id}/page/1/correct")
            page.wait_for_function(IMAGE_LOADED)
            line = page.locator("#correct-form input[name^=line-]")
            values = [line.nth(i).input_value() for i in range(line.count())]
            target = next(i for i, v in enumerate(values) if "申请人" in v)
            line.nth(target).fill(f"申请人 {a.name} {NEW_WORD}")
            page.click("#save-lines")
            page.wait_for_selector("#saved")
            page.goto(base + "/")
            page.fill("form.search input[name=q]", NEW_WORD)
            page.click("form.search button[type=submit]")
            page.wait_for_selector("#result-count")
            assert page.locator(f"a.open-page[href='/document/{document_id}/page/1']").count() == 1
            assert work.poll() is None, "the worker stopped"
        finally:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / "keeper.png"), full_page=True)
            keeper.close()


def accept_batch(page) -> None:
    """Draw the sample on the batch page, pass every sampled document, and find the batch
    accepted with its report."""
    page.click("#draw-sample")
    page.wait_for_selector("#judge-form")
    sampled = page.locator("#acceptance-items input[type=radio][value=pass]")
    assert sampled.count() >= 1  # 5% of two documents: at least one
    for i in range(sampled.count()):
        sampled.nth(i).check()
    page.click("#save-verdicts")
    page.wait_for_selector("#acceptance-outcome")
    assert page.inner_text("#acceptance-state") == "验收合格", page.inner_text("#acceptance")
    assert "100.0%" in page.inner_text("#acceptance-outcome")
    with page.expect_download() as download:
        page.click("#acceptance-report")
    assert download.value.path().read_bytes().startswith(b"%PDF")
