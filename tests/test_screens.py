"""The smaller promises of the screens, as their users meet them (issue 9, point 4):

- results page through all hits (web, /api/search, the CLI);
- switching language never loses work: it stays on the page, keeps the query, survives
  signing in, and on the one-time-code page (a POST's answer) leads to the request, where
  a lost code can be issued again;
- a reader sees only the actions the policy grants (no 查看 link that opens a broken image);
- the audit screen speaks labels and local time, and clamps a page past the end;
- the self-lookup queue has a link and keeps a history of decided requests.

Real parts: a SQLite archive whose documents are ingested through the real pipeline (born-
digital PDFs with a text layer, so that thirty documents need no OCR), the app through
Flask's test client and the CLI through click's runner.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from records.catalogue import add_household, add_user
from desk_support import text_pdf
from records.model import AccessRequest, AuditEvent

PASSWORD = "Screens-test-7"
HEAD_ID = "22038119800101123X"  # household 0001's head
VILLAGE = "220381105012"
TERM = "pagingterm"
DOCUMENTS = 30  # more than one page of results (20)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ingest.pipeline import IngestRequest, Ingestor
    from tests.conftest import make_archive

    root = tmp_path_factory.mktemp("screens")
    archive = make_archive(root)
    sealed, index = archive.seal_id_number(HEAD_ID)
    with archive.Session() as s, s.begin():
        for i in range(1, 4):
            add_household(s, f"{VILLAGE}-{i:04d}", f"户主{i}", VILLAGE,
                          head_id_sealed=sealed if i == 1 else None,
                          head_id_index=index if i == 1 else None)
        add_user(s, "clerk", PASSWORD, "staff", "220381105")
        add_user(s, "auditor", PASSWORD, "auditor")
        add_user(s, "admin", PASSWORD, "administrator")
    ids = []
    with Ingestor(archive, workers=1) as ingestor:
        for i in range(DOCUMENTS):
            path = text_pdf(root / f"doc{i}.pdf", f"{TERM} number {i:03d} of the test")
            household = f"{VILLAGE}-{(i % 3) + 1:04d}"
            ids.append(ingestor.ingest(IngestRequest(path=path, household=household,
                                                     doc_type="收入证明", actor="test")).document_id)
    yield {"archive": archive, "root": root, "ids": ids}
    archive.close()


@pytest.fixture(scope="module")
def app(world):
    from web.app import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=world["archive"])


def login(app, name: str, lang: str | None = None):
    client = app.test_client()
    url = "/login" + (f"?lang={lang}" if lang else "")
    if lang:
        client.get(url)
    r = client.post(url, data={"username": name, "password": PASSWORD})
    assert r.status_code == 302, name
    return client


# -- paging ------------------------------------------------------------------------------
def test_the_web_pages_through_every_result(app):
    client = login(app, "clerk")
    seen, url, pages = [], f"/?q={TERM}", 0
    while url:
        page = client.get(url)
        assert page.status_code == 200
        assert f"{DOCUMENTS}" in re.search(r'id="result-count">([^<]+)<', page.text).group(1)
        seen += re.findall(r'href="/household/[^"]+">', page.text)
        nxt = re.search(r'id="results-next" href="([^"]+)"', page.text)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        pages += 1
    assert pages == 2 and len(seen) == DOCUMENTS


def test_the_api_pages_through_every_result(app, world):
    client = login(app, "clerk")
    ids, offset = [], 0
    while True:
        r = client.get("/api/search", query_string={"q": TERM, "offset": offset, "limit": 7})
        assert r.status_code == 200 and r.json["total"] == DOCUMENTS
        ids += [h["document_id"] for h in r.json["hits"]]
        if not r.json["has_next"]:
            break
        offset += len(r.json["hits"])
    assert sorted(ids) == sorted(world["ids"])


def test_the_cli_pages_through_every_result(world, monkeypatch):
    from web.cli import main

    for name in ("HUDANG_HOME", "HUDANG_MASTER_KEY_FILE", "HUDANG_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    archive = world["archive"]
    base = ["--home", str(archive.settings.home), "--key-file",
            str(archive.settings.master_key_file)]
    first = CliRunner().invoke(main, [*base, "search", TERM])
    assert first.exit_code == 0 and f"{DOCUMENTS} documents; showing 1-20" in first.output
    assert "more: --offset 20" in first.output
    second = CliRunner().invoke(main, [*base, "search", TERM, "--offset", "20"])
    assert "showing 21-30" in second.output and "more:" not in second.output
    found = set(re.findall(r"document (\d+) page", first.output + second.output))
    assert found == {str(i) for i in world["ids"]}


def test_a_query_over_the_limit_is_one_sentence_on_the_page_in_json_and_on_the_cli(app, world,
                                                                                  monkeypatch):
    """Issue 9: a pasted page of text is refused before any work, in the reader's language."""
    from web.cli import main

    long_query = "低保" * 60  # 120 characters
    zh = login(app, "clerk")
    r = zh.get("/", query_string={"q": long_query})
    assert r.status_code == 400
    assert "查询有 120 个字符，检索最多 100 个字符。" in r.get_data(as_text=True)
    en = login(app, "clerk", lang="en")
    r = en.get("/api/search", query_string={"q": long_query})
    assert r.status_code == 400
    assert r.json["error"] == ("The query is 120 characters long; searches are limited to "
                               "100 characters.")
    for name in ("HUDANG_HOME", "HUDANG_MASTER_KEY_FILE", "HUDANG_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    archive = world["archive"]
    result = CliRunner().invoke(main, ["--home", str(archive.settings.home), "--key-file",
                                       str(archive.settings.master_key_file), "search",
                                       long_query])
    assert result.exit_code == 2
    assert "searches are limited to 100 characters" in result.output


# -- switching language --------------------------------------------------------------------
def test_the_language_chosen_on_the_sign_in_page_stays_after_signing_in(app):
    client = login(app, "clerk", lang="en")
    assert "Sign out" in client.get("/").text


def test_switching_language_on_a_results_page_keeps_the_query(app):
    client = login(app, "clerk")
    page = client.get(f"/?q={TERM}&offset=20").text
    link = re.search(r'id="switch-language" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert f"q={TERM}" in link and "offset=20" in link and "lang=en" in link
    switched = client.get(link)
    assert switched.status_code == 200 and "documents" in switched.text
    assert "showing 21–30" in switched.text


def _self_request(world) -> int:
    from records import self_lookup as rules
    from records.catalogue import get_household

    with world["archive"].Session() as s, s.begin():
        req, _ = rules.open_request(s, get_household(s, f"{VILLAGE}-0001"))
        return req.id


def test_the_code_page_switches_language_without_losing_the_approval(app, world):
    request_id = _self_request(world)
    client = login(app, "clerk")
    code_page = client.post(f"/self/queue/{request_id}/approve")
    assert code_page.status_code == 200
    old_code = re.search(r'id="access-code">([^<]+)<', code_page.text).group(1)
    link = re.search(r'id="switch-language" href="([^"]+)"', code_page.text).group(1)
    assert link.startswith(f"/self/queue/{request_id}")  # a GET of the same task
    switched = client.get(link.replace("&amp;", "&"))
    assert switched.status_code == 200 and "Issue a new access code" in switched.text
    # the code was lost on the way: staff issue a new one, and the old one stops working
    again = client.post(f"/self/queue/{request_id}/reissue")
    new_code = re.search(r'id="access-code">([^<]+)<', again.text).group(1)
    assert new_code != old_code
    with world["archive"].Session() as s:
        req = s.get(AccessRequest, request_id)
        assert req.status.value == "approved"
    refused = app.test_client().post("/self/read", data={"id_number": HEAD_ID, "code": old_code})
    assert refused.status_code == 403
    opened = app.test_client().post("/self/read", data={"id_number": HEAD_ID, "code": new_code})
    assert opened.status_code == 302


def test_a_new_code_is_only_for_an_approved_request_of_ones_own_township(app, world):
    request_id = _self_request(world)
    client = login(app, "clerk")
    assert client.post(f"/self/queue/{request_id}/reissue").status_code == 404  # pending


# -- only the actions the policy grants ------------------------------------------------------
@pytest.mark.parametrize("user", ["auditor", "admin"])
def test_readers_without_page_rights_get_no_open_link_and_no_broken_viewer(app, world, user):
    archive = world["archive"]
    client = login(app, user)
    client.post(f"/household/{VILLAGE}-0001/purpose", data={"purpose": "审计"})
    dossier = client.get(f"/household/{VILLAGE}-0001")
    assert dossier.status_code == 200
    assert 'class="open-document"' not in dossier.text
    # and the viewer itself is refused up front, recorded as what it is
    with archive.Session() as s:
        last = s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()))
    assert client.get(f"/document/{world['ids'][0]}/page/1").status_code == 404
    with archive.Session() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.id > last)))
    assert [(e.action, e.outcome) for e in events] == [("read_document", "refused")]


def test_staff_see_the_open_link(app):
    client = login(app, "clerk")
    client.post(f"/household/{VILLAGE}-0001/purpose", data={"purpose": "审核"})
    assert 'class="open-document"' in client.get(f"/household/{VILLAGE}-0001").text


# -- the audit screen ------------------------------------------------------------------------
def test_the_audit_screen_shows_labels_and_local_time_and_clamps_the_page(app, world):
    client = login(app, "auditor")
    page = client.get("/audit/", query_string={"action": "login"}).text
    assert "登录" in page and "允许" in page  # sign in, allowed: labels, not codes
    assert ">login<" not in page and ">allowed<" not in page
    stamp = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    stored = datetime.fromisoformat(stamp.group(1))
    shown = stored.astimezone(world["archive"].settings.timezone)
    assert shown.strftime("%H:%M") in stamp.group(2)  # Asia/Shanghai, not UTC
    assert "." not in stamp.group(2).split()[-1]  # no microseconds
    far = client.get("/audit/", query_string={"page": 9999}).text
    numbers = re.search(r"第 (\d+) 页 / 共 (\d+) 页", far)
    assert numbers and numbers.group(1) == numbers.group(2)
    csv = client.get("/audit/export.csv", query_string={"action": "login"}).data.decode("utf-8-sig")
    assert ",login,allowed," in csv  # the raw values stay in the CSV


# -- the self-lookup queue -------------------------------------------------------------------
def test_staff_find_the_queue_from_every_page_and_its_history(app, world):
    client = login(app, "clerk")
    assert 'id="self-queue-link" href="/self/queue"' in client.get("/").text
    request_id = _self_request(world)
    client.post(f"/self/queue/{request_id}/reject")
    queue = client.get("/self/queue").text
    history = queue.split('id="self-history"')[1]
    assert f'data-request="{request_id}"' in history and "不予批准" in history
    # those who may not approve see no link
    assert "self-queue-link" not in login(app, "auditor").get("/").text


def test_times_of_the_queue_are_local(app, world):
    _self_request(world)
    page = login(app, "clerk").get("/self/queue").text
    assert "UTC" not in page
    year = datetime.now(timezone.utc).year
    assert str(year) in page
