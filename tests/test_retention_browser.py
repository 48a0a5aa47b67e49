"""A destruction list walked in a real browser from draft to certificate by four people
(issue 16): a reviewer drafts and submits it, an approver approves it, two witnesses
confirm, the reviewer executes it (a background job, run here by the worker's own code) and
the certificate downloads; the auditor reads it.

Real parts: ``hudang serve`` (waitress) on the small archive of ``retention_support``,
Debian's Chromium driven by Playwright. The waiting period is 0 days (the setting's lower
bound; the services' tests hold it to 7). Chinese, the default language.
"""
from __future__ import annotations

import re

import pytest

from browser_support import chromium, serve
from retention_support import EAST, PASSWORD, build_retained


@pytest.fixture(scope="module")
def retained(tmp_path_factory):
    return build_retained(tmp_path_factory.mktemp("browser"))


def _sign_in(browser, base: str, name: str):
    page = browser.new_page(viewport={"width": 390, "height": 900})
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def _step(page, base: str, n: int, button: str):
    page.goto(f"{base}/destruction/{n}")
    page.click(f"#{button}")
    page.click("#confirm")
    page.wait_for_selector("#done-message")


def _work(retained, job_id: int) -> None:
    """Run a job as ``hudang worker`` would, with its code, on the server's data home."""
    from ingest.jobs import Worker
    from records.model import Job

    archive = retained.open()
    worker = Worker(archive, log=lambda _line: None)
    try:
        worker.run(job_id)
        with archive.Session() as s:
            job = s.get(Job, job_id)
            assert (job.kind.value, job.state.value, job.error) == ("destroy", "done", None)
            assert job.progress_done == job.progress_total == 3
    finally:
        worker.close()
        archive.close()


def test_four_people_walk_a_list_to_its_certificate(retained):
    env = {**retained.env(), "HUDANG_DESTRUCTION_WAIT_DAYS": "0"}
    with serve(env) as base, chromium() as browser:
        reviewer = _sign_in(browser, base, "reviewer")
        reviewer.click("#destruction-link")
        reviewer.click("#new-list")
        reviewer.select_option("#f-region", EAST)
        reviewer.click("#draft-submit")
        reviewer.wait_for_selector("#list-items")
        n = int(re.search(r"/destruction/(\d+)", reviewer.url).group(1))
        assert reviewer.locator("#list-items tbody tr").count() == 3
        _step(reviewer, base, n, "submit-list")
        assert "待审批" in reviewer.inner_text("#list-status")

        approver = _sign_in(browser, base, "approver")
        approver.goto(base + "/home")
        approver.click(f"#lists-waiting tr[data-list='{n}'] a")  # the home page names it
        approver.click("#approve-list")
        approver.click("#confirm")
        approver.wait_for_selector("#done-message")
        assert approver.locator("#witness-list").count() == 0  # no role, no button

        for name in ("witness-a", "witness-b"):
            witness = _sign_in(browser, base, name)
            _step(witness, base, n, "witness-list")
            witness.close()

        # carrying it out is queued as a job: the list's page names it, without the button;
        # a worker (its own code, in this process, on the same data home) runs it
        reviewer.goto(f"{base}/destruction/{n}")
        reviewer.click("#execute-list")
        reviewer.click("#confirm")
        reviewer.wait_for_selector("#destroy-job")
        job_id = int(reviewer.get_attribute("#destroy-job", "data-job"))
        assert reviewer.locator("#execute-list").count() == 0
        _work(retained, job_id)
        reviewer.reload()
        assert reviewer.locator("#destroy-job").count() == 0
        assert "已销毁" in reviewer.inner_text("#list-status")
        assert reviewer.locator("#list-items .item-destroyed").count() == 3
        with reviewer.expect_download() as got:
            reviewer.click("#certificate-pdf")
        assert got.value.suggested_filename == f"hudang-destruction-certificate-{n}.pdf"

        auditor = _sign_in(browser, base, "auditor")
        auditor.goto(f"{base}/destruction/{n}")
        assert auditor.locator("#certificate-pdf").count() == 1
        assert auditor.locator("#execute-list, #approve-list, #witness-list").count() == 0
        history = auditor.inner_text("#list-steps")
        for name in ("reviewer", "approver", "witness-a", "witness-b"):
            assert name in history
