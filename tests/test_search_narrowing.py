"""Narrowing search results (issue 12): filters by document type, dates, region (inside the
reader's own scope) and household status, alone, together and without words; the counts per
type and region beside the results, only over what the reader may see; orders by relevance,
date and household number, paged; a search that finds nothing says so and offers the
close-match search; a query of punctuation only, one too long, or a bad filter is one
sentence on the page, in JSON and on the command line.

Real parts: a SQLite catalogue, the Whoosh index through its facade, the Flask app through
its test client and the CLI through click's runner (tests/narrowing_support.py builds them).
"""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from narrowing_support import DAILY_DOC, PASSWORD, build, stop
from records.policy import Principal, Role
from web import reading
from web.narrowing import Narrowing


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    archive, world = build(tmp_path_factory.mktemp("narrowing"))
    yield archive, world
    archive.close()


@pytest.fixture(scope="module")
def world(built):
    return built[1]


@pytest.fixture(scope="module")
def archive(built):
    return built[0]


@pytest.fixture(scope="module")
def app(archive):
    from web.app import create_app

    return create_app(archive=archive, test_config={"WTF_CSRF_ENABLED": False, "TESTING": True})


def login(app, name: str, lang: str | None = None):
    client = app.test_client()
    if lang:
        client.get(f"/login?lang={lang}")
    assert client.post("/login", data={"username": name, "password": PASSWORD}).status_code == 302
    return client


def chief() -> Principal:
    return Principal("chief", frozenset({Role.auditor}))


def clerk(region: str) -> Principal:
    return Principal("clerk", frozenset({Role.staff}), region=region)


def every_hit(archive, who, query="", **narrow) -> tuple[list[int], int]:
    """Every document of a search, page by page (7 a page), and the total of the first."""
    ids, offset, total = [], 0, None
    while True:
        page = reading.search(archive, who, query, limit=7, offset=offset,
                              narrowing=Narrowing(**narrow))
        total = page.total if total is None else total
        assert page.total == total  # the same total on every page
        ids += [h.document_id for h in page.hits]
        if not page.has_next:
            return ids, total
        offset += len(page.hits)


def found(archive, who, query="", **narrow) -> set[int]:
    ids, total = every_hit(archive, who, query, **narrow)
    assert len(ids) == len(set(ids)) == total
    return set(ids)


# -- each filter alone, and together ----------------------------------------------------------
def test_a_type_alone_lists_every_document_of_that_type_without_words(archive, world):
    assert found(archive, chief(), types=("收入证明",)) == world.docs_where(type="income_certificate")
    assert found(archive, chief(), types=("income_certificate", "application")) == \
        world.docs_where(type=lambda t: t in ("income_certificate", "application"))


def test_a_date_range_alone_keeps_the_documents_dated_inside_it_both_ends_included(archive, world):
    dates = sorted({d.date for d in world.docs})
    low, high = dates[len(dates) // 4], dates[3 * len(dates) // 4]
    got = found(archive, chief(), date_from=low.isoformat(), date_to=high.isoformat())
    assert got == world.docs_where(date=lambda d: low <= d <= high)
    assert found(archive, chief(), date_from=high.isoformat()) == world.docs_where(date=lambda d: d >= high)


def test_a_region_alone_keeps_that_village_or_township(archive, world):
    village, township = world.villages[1], world.townships[1]
    assert found(archive, chief(), region=village) == world.docs_where(region=village)
    assert found(archive, chief(), region=township) == \
        world.docs_where(region=lambda r: r.startswith(township))


def test_the_status_filter_follows_a_household_stopped_after_its_pages_were_indexed(archive, world):
    number = world.households[4].number
    before_active = found(archive, chief(), status="active")
    assert found(archive, chief(), status="stopped") == set()
    stop(archive, number)  # no reindex: the status is looked up when the search runs
    try:
        assert found(archive, chief(), status="stopped") == world.docs_where(household=number)
        active = found(archive, chief(), status="active")
        # the daily-management record has no household, so no status: never kept
        assert active == world.docs_where(household=lambda h: h not in ("", number))
        assert active == before_active - world.docs_where(household=number)
        assert DAILY_DOC not in active
        head = world.households[4].head.name
        assert found(archive, chief(), head, status="stopped") == world.docs_where(household=number)
        assert found(archive, chief(), head, status="active") == \
            world.docs_where(household=lambda h: h not in ("", number), head=head)
    finally:
        from sqlalchemy import select

        from records.households import record_change
        from records.kinds import StatusChange
        from records.model import Household
        from datetime import date

        with archive.Session() as s, s.begin():
            h = s.scalar(select(Household).where(Household.number == number))
            record_change(s, h, StatusChange.resume, date(2025, 4, 1), "复核后恢复", by="test",
                          today=date(2026, 11, 30))


def test_filters_combine_with_each_other_and_with_words(archive, world):
    township = world.townships[0]
    got = found(archive, chief(), "家庭月收入", types=("income_certificate",), region=township,
                date_from="2019-01-01", date_to="2025-12-31")
    assert got == world.docs_where(type="income_certificate", region=lambda r: r.startswith(township),
                                   date=lambda d: d.isoformat() <= "2025-12-31")
    assert got  # the data holds some
    one = world.households[0]
    assert found(archive, chief(), one.head.name, types=("application",)) == \
        world.docs_where(type="application", head=one.head.name)


def test_a_clerk_may_narrow_to_a_village_of_their_township_but_not_to_another_township(archive, world):
    a, b = world.townships
    mine = [v for v in world.villages if v.startswith(a)][0]
    theirs = [v for v in world.villages if v.startswith(b)][0]
    assert found(archive, clerk(a), region=mine) == world.docs_where(region=mine)
    from records.problems import Problems

    for region in (theirs, b, "220381999"):  # another township's, and one that does not exist
        with pytest.raises(Problems) as err:
            reading.search(archive, clerk(a), "", narrowing=Narrowing(region=region))
        assert "no region" in str(err.value)  # the same sentence for both: nothing is revealed


# -- facets ----------------------------------------------------------------------------------
def test_facets_count_documents_per_type_and_region_of_the_matches(archive, world):
    page = reading.search(archive, chief(), "家庭月收入", narrowing=Narrowing(), facets=True)
    matched = world.docs_where(household=lambda h: h != "")
    assert page.total == len(matched)
    types = {f.code: f.count for f in page.facets.types}
    assert types == {t: len(world.docs_where(type=t, household=lambda h: h != ""))
                     for t in ("application", "approval_form", "hukou_copy", "income_certificate")}
    assert {f.name_zh for f in page.facets.types} >= {"收入证明", "申请书"}
    # the county-wide reader sees one count per township, named from the catalogue
    regions = {f.code: f.count for f in page.facets.regions}
    assert regions == {t: len(world.docs_where(region=lambda r, t=t: r.startswith(t),
                                               household=lambda h: h != ""))
                       for t in world.townships}
    assert all(f.name_zh and not f.name_zh.isdigit() for f in page.facets.regions)
    assert not page.facets.estimated


def test_facets_count_only_what_the_reader_may_see(archive, world):
    a, b = world.townships
    page = reading.search(archive, clerk(a), "", narrowing=Narrowing(types=("income_certificate",)),
                          facets=True)
    regions = {f.code: f.count for f in page.facets.regions}
    # a township's clerk sees its villages, and nothing of the other township
    assert regions == {v: len(world.docs_where(region=v, type="income_certificate"))
                       for v in world.villages if v.startswith(a)}
    assert not any(code.startswith(b) for code in regions)
    assert sum(f.count for f in page.facets.types) == page.total == \
        len(world.docs_where(region=lambda r: r.startswith(a), type="income_certificate"))
    theirs = reading.search(archive, clerk(b), "", narrowing=Narrowing(types=("income_certificate",)),
                            facets=True)
    assert theirs.total == len(world.docs_where(region=lambda r: r.startswith(b),
                                                type="income_certificate"))
    assert not any(f.code.startswith(a) for f in theirs.facets.regions)


# -- orders and paging ------------------------------------------------------------------------
def test_results_sorted_by_date_come_newest_first_across_pages(archive, world):
    by_id = {d.id: d for d in world.docs}
    ids, total = every_hit(archive, chief(), "户主", sort="date")
    assert total == len(ids) == len(set(ids)) == len(world.docs_where(household=lambda h: h != ""))
    dates = [by_id[i].date for i in ids]
    assert dates == sorted(dates, reverse=True)


def test_results_sorted_by_household_number_keep_each_dossier_together(archive, world):
    by_id = {d.id: d for d in world.docs}
    ids, _ = every_hit(archive, chief(), "", types=("application", "income_certificate", "daily_roster"),
                       sort="household")
    keys = [(by_id[i].household == "", by_id[i].household, by_id[i].date) for i in ids]
    assert keys == sorted(keys)
    assert ids[-1] == DAILY_DOC  # no household: last


def test_relevance_is_the_default_order_and_pages_continue_each_other(archive, world):
    one = world.households[2]
    ids, total = every_hit(archive, chief(), one.head.name)
    assert set(ids) >= world.docs_where(household=one.number)
    assert len(ids) == total


# -- the search page, /api/search and hudang search -------------------------------------------
def test_the_search_page_filters_without_words_and_shows_facets_that_narrow(app, world):
    client = login(app, "clerk-a")
    village = [v for v in world.villages if v.startswith(world.townships[0])][0]
    r = client.get("/", query_string={"type": "income_certificate"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="facet-types"' in html and 'id="facet-regions"' in html
    want = world.docs_where(type="income_certificate", region=lambda r: r.startswith(world.townships[0]))
    assert f"共 {len(want)} 件" in html
    # the facet link of a village narrows to it, keeping the type
    link = re.search(rf'<a class="facet" data-code="{village}" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "type=income_certificate" in link and f"region={village}" in link
    html = client.get(link).get_data(as_text=True)
    narrowed = world.docs_where(type="income_certificate", region=village)
    assert f"共 {len(narrowed)} 件" in html
    assert html.count('<td data-label="材料类别">收入证明</td>') == len(narrowed)
    # the form offers only the clerk's own regions
    options = re.findall(r'<option value="(\d{9,12})"', html)
    assert options and all(o.startswith(world.townships[0]) for o in options)


def test_the_api_filters_counts_and_sorts(app, world):
    client = login(app, "chief")
    r = client.get("/api/search", query_string=[("type", "收入证明"), ("type", "application"),
                                                ("sort", "date"), ("limit", "100")])
    assert r.status_code == 200
    body = r.json
    want = world.docs_where(type=lambda t: t in ("income_certificate", "application"))
    assert {h["document_id"] for h in body["hits"]} == want and body["total"] == len(want)
    assert {f["code"]: f["count"] for f in body["facets"]["types"]} == {
        "income_certificate": len(world.docs_where(type="income_certificate")),
        "application": len(world.docs_where(type="application"))}
    assert body["narrowing"]["sort"] == "date" and body["suggestion"] is None
    r = client.get("/api/search", query_string={"status": "stopped"})
    assert r.status_code == 200 and r.json["total"] == 0 and r.json["message"]
    r = client.get("/api/search")
    assert r.status_code == 400 and "type" in r.json["error"]


def test_the_cli_filters_sorts_and_prints_counts(archive, world, monkeypatch):
    from web.cli import main

    base = _cli_base(archive, monkeypatch)
    village = world.villages[0]
    result = CliRunner().invoke(main, [*base, "search", "--type", "收入证明", "--region", village,
                                       "--sort", "household", "--facets", "--as", "chief"])
    assert result.exit_code == 0, result.output
    want = world.docs_where(type="income_certificate", region=village)
    assert f"{len(want)} documents" in result.output
    assert set(map(int, re.findall(r"document (\d+) page", result.output))) == want
    assert re.search(rf"by type \(documents\): 收入证明 \[income_certificate\] {len(want)}", result.output)
    assert f"[{village}] {len(want)}" in result.output
    result = CliRunner().invoke(main, [*base, "search", "--status", "active", "--json", "--facets",
                                       "--limit", "100", "--as", "chief"])
    assert result.exit_code == 0, result.output
    import json

    body = json.loads(result.output)
    assert body["total"] == len(world.docs_where(household=lambda h: h != ""))
    result = CliRunner().invoke(main, [*base, "search", "--as", "chief"])
    assert result.exit_code == 2 and "give a QUERY, or a filter" in result.output


def _cli_base(archive, monkeypatch) -> list[str]:
    for name in ("HUDANG_HOME", "HUDANG_MASTER_KEY_FILE", "HUDANG_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    return ["--home", str(archive.settings.home), "--key-file", str(archive.settings.master_key_file)]


# -- no match: say so and offer the close-match search ----------------------------------------
def _misread(world) -> tuple[str, str]:
    """A three-character head's name with its middle character changed (as OCR may)."""
    for h in world.households:
        name = h.head.name
        if len(name) == 3:
            other = "甲" if name[2] != "甲" else "乙"
            return name[:2] + other, name
    raise AssertionError("the generator made no three-character name")


def test_a_search_that_finds_nothing_says_so_and_the_close_match_search_finds_the_misread_name(app, world):
    typed, real = _misread(world)
    client = login(app, "chief")
    html = client.get("/", query_string={"q": typed}).get_data(as_text=True)
    assert '<p class="empty" id="no-results">没有找到符合条件的档案。</p>' in html
    link = re.search(r'id="run-close" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "close=1" in link
    html = client.get(link).get_data(as_text=True)
    assert 'class="approximate"' in html and real in html
    body = client.get("/api/search", query_string={"q": typed}).json
    assert body["total"] == 0 and body["hits"] == [] and body["message"]
    assert body["suggestion"]["close_match"] is True and "close=1" in body["suggestion"]["url"]
    close = client.get(body["suggestion"]["url"]).json
    assert close["hits"] and all(h["approximate"] for h in close["hits"])
    assert {h["head_name"] for h in close["hits"]} == {real} or \
        any(real in h["snippet"] for h in close["hits"])


def test_the_cli_says_nothing_matched_and_prints_the_close_match_command(archive, world, monkeypatch):
    from web.cli import main

    typed, real = _misread(world)
    base = _cli_base(archive, monkeypatch)
    result = CliRunner().invoke(main, [*base, "search", typed, "--as", "chief"])
    assert result.exit_code == 0
    assert "no documents found" in result.output
    assert f"hudang search {typed} --close" in result.output
    result = CliRunner().invoke(main, [*base, "search", typed, "--close", "--as", "chief"])
    assert "close match: one character differs" in result.output and real in result.output


# -- queries that cannot be searched: one sentence, never an error page -----------------------
@pytest.mark.parametrize("query", ["，。！？", "---...///", "【】《》“”"])
def test_a_query_of_only_punctuation_is_one_sentence_on_the_page_in_json_and_on_the_cli(
        app, archive, query, monkeypatch):
    from web.cli import main

    r = login(app, "chief").get("/", query_string={"q": query})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and 'id="search-problem"' in html
    assert "查询只有标点或符号" in html and 'name="q"' in html  # the search form, to try again
    r = login(app, "chief", lang="en").get("/api/search", query_string={"q": query})
    assert r.status_code == 400
    assert r.json["error"] == ("The query holds only punctuation or symbols; search for a name, "
                               "a number or Chinese words")
    result = CliRunner().invoke(main, [*_cli_base(archive, monkeypatch), "search", "--as", "chief",
                                       "--", query])
    assert result.exit_code == 2 and "only punctuation or symbols" in result.output
    assert "Traceback" not in result.output


def test_a_query_too_long_is_one_sentence_even_with_filters(app, archive, monkeypatch):
    from web.cli import main

    long_query = "收入证明" * 30
    r = login(app, "clerk-a").get("/", query_string={"q": long_query, "type": "application"})
    assert r.status_code == 400 and "检索最多 100 个字符" in r.get_data(as_text=True)
    r = login(app, "clerk-a").get("/api/search", query_string={"q": long_query, "sort": "date"})
    assert r.status_code == 400 and "100" in r.json["error"]
    result = CliRunner().invoke(main, [*_cli_base(archive, monkeypatch), "search", long_query,
                                       "--type", "收入证明", "--as", "chief"])
    assert result.exit_code == 2 and "limited to 100 characters" in result.output


def test_a_bad_filter_value_is_one_sentence_naming_it(app, archive, monkeypatch):
    from web.cli import main

    client = login(app, "chief", lang="en")
    for args, words in (({"from": "2024-13-40"}, "is not a date"),
                        ({"from": "2024-05-01", "to": "2024-01-01"}, "ends (2024-01-01) before"),
                        ({"type": "nonsense"}, "unknown document type"),
                        ({"status": "gone"}, "unknown household status"),
                        ({"sort": "random"}, "unknown order")):
        r = client.get("/api/search", query_string={"q": "户主", **args})
        assert r.status_code == 400 and words in r.json["error"].lower(), (args, r.json)
        page = client.get("/", query_string={"q": "户主", **args})
        assert page.status_code == 400 and words in page.get_data(as_text=True).lower()
    result = CliRunner().invoke(main, [*_cli_base(archive, monkeypatch), "search", "户主",
                                       "--from", "yesterday", "--as", "chief"])
    assert result.exit_code == 2 and "is not a date" in result.output


# -- the facade: broad queries, and an index of the schema before the columns -----------------
@pytest.fixture
def broad(monkeypatch):
    """Small thresholds, so that a handful of pages take the broad-query path."""
    import search.ranking as ranking

    monkeypatch.setattr(ranking, "EXACT_MAX_PAGES", 4)
    monkeypatch.setattr(ranking, "BROAD_CANDIDATES", 6)
    monkeypatch.setattr(ranking, "ESTIMATE_MIN_DOCS", 8)
    monkeypatch.setattr(ranking, "ESTIMATE_SAMPLE", 10)


def _pages(n: int):
    from search import PageDoc

    # every third page holds the phrase only as loose bigrams (公示期间 … 无异议 apart)
    return [PageDoc(document_id=i, page=1, household=f"220381105012-{i:04d}", head_name="赵大明",
                    region="220381105012" if i % 2 else "220381105013", doc_type="application",
                    doc_type_name="申请书", title="材料", date=f"20{10 + i % 15:02d}-05-01",
                    text="公示期间无异议。" if i % 3 else "公示期间有异议，无人签字。")
            for i in range(1, n + 1)]


def test_a_broad_query_sorted_by_date_holds_only_real_matches_newest_first(tmp_path, broad):
    from search import SearchIndex

    index = SearchIndex.create(tmp_path / "ix")
    try:
        index.add_pages(_pages(60))
        seen, offset = [], 0
        while True:
            result = index.search("期间无异议", sort="date", limit=7, offset=offset, facets=True)
            assert result.total.estimated and result.facets.estimated
            seen += result.hits
            if len(result.hits) < 7:
                break
            offset += 7
        # the look-alikes (有 for 无) come after every exact hit
        exact = [h.approximate for h in seen].index(True)
        assert not any(h.approximate is False for h in seen[exact:])
        ids = [h.document_id for h in seen[:exact]]
        assert set(ids) == {i for i in range(1, 61) if i % 3}  # no loose-bigram page
        assert len(ids) == len(set(ids))
        dates = [f"20{10 + i % 15:02d}" for i in ids]
        assert dates == sorted(dates, reverse=True)
        # the estimated counts are of the scope's candidate pages, never beyond it
        scoped = index.search("期间无异议", region_scope="220381105013", facets=True)
        assert set(scoped.facets.regions) == {"220381105013"}
    finally:
        index.close()


def test_the_same_query_plain_counts_facets_exactly(tmp_path):
    from search import SearchIndex

    index = SearchIndex.create(tmp_path / "ix")
    try:
        index.add_pages(_pages(30))
        result = index.search("期间无异议", facets=True)
        assert not result.facets.estimated and result.total == 20
        assert result.facets.regions == {"220381105012": 10, "220381105013": 10}
        assert result.facets.types == {"application": 20}
    finally:
        index.close()


def test_an_index_without_the_filter_columns_asks_for_a_reindex_and_reindex_gives_filters(tmp_path):
    """The filters and sorts read columns added to the schema: an index written before them
    is out of date (hudang reindex), like any index of another schema."""
    from whoosh.fields import ID
    from whoosh.index import create_in

    from search import Filters, IndexOutOfDate, SearchIndex
    from search.index import INDEX_NAME
    from search.schema import make_schema, page_fields

    old = make_schema()
    for name in ("household", "region", "doc_type", "date"):
        old.remove(name)
        old.add(name, ID(stored=True))
    (tmp_path / "ix").mkdir()
    ix = create_in(str(tmp_path / "ix"), old, indexname=INDEX_NAME)
    with ix.writer() as w:
        w.add_document(**page_fields(_pages(1)[0]))
    ix.close()
    index = SearchIndex.open_or_create(tmp_path / "ix")
    try:
        assert index.needs_rebuild
        with pytest.raises(IndexOutOfDate, match="hudang reindex"):
            index.search("", filters=Filters.of(doc_types=["application"]))
        index.rebuild(_pages(3))
        assert {h.document_id for h in index.search("", filters=Filters.of(doc_types=["application"])).hits} \
            == {1, 2, 3}
    finally:
        index.close()
