"""Behaviour of the search package against a real Whoosh index."""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from whoosh.highlight import ContextFragmenter, HtmlFormatter, highlight
from whoosh.index import open_dir

from search import ChineseAnalyzer, PageDoc, SearchError, SearchIndex
from search.index import INDEX_NAME

VILLAGE_A = "220381105012"  # township 220381105
VILLAGE_B = "220381105013"  # same township
VILLAGE_C = "220381106001"  # other township, same county


def page(
    document_id: int,
    text: str,
    *,
    page_no: int = 1,
    head_name: str = "赵大明",
    household: str = "220381105012-0001",
    region: str = VILLAGE_A,
    title: str = "材料",
) -> PageDoc:
    return PageDoc(
        document_id=document_id,
        page=page_no,
        household=household,
        head_name=head_name,
        region=region,
        doc_type="application",
        doc_type_name="申请书",
        title=title,
        date="2023-05-01",
        text=text,
    )


@pytest.fixture
def ix(tmp_path: Path):
    """A sealed index, as an archive opens it (every file encrypted, search/sealed.py)."""
    from storage import MasterKey

    index = SearchIndex.create(tmp_path / "index", keys=MasterKey.generate())
    assert index.sealed
    yield index
    index.close()


def found(index: SearchIndex, query: str, **kw) -> set[int]:
    return {h.document_id for h in index.search(query, **kw).hits}


# -- analyzer ----------------------------------------------------------------


def test_analyzer_gives_bigrams_for_han_and_whole_tokens_for_digits_with_positions_and_offsets():
    text = "张三申请低保,身份证220381198001011234"
    tokens = [(t.text, t.pos, t.startchar, t.endchar) for t in ChineseAnalyzer()(text, positions=True, chars=True)]
    assert tokens == [
        ("张三", 0, 0, 2),
        ("三申", 1, 1, 3),
        ("申请", 2, 2, 4),
        ("请低", 3, 3, 5),
        ("低保", 4, 4, 6),
        ("身份", 5, 7, 9),
        ("份证", 6, 8, 10),
        ("220381198001011234", 7, 10, 28),
    ]
    for tok, _, start, end in tokens:
        assert text[start:end] == tok


def test_analyzer_lowercases_id_check_letter_folds_fullwidth_and_keeps_lone_han_char():
    text = "证号22038119800101123X 第３页"
    tokens = [(t.text, t.startchar, t.endchar) for t in ChineseAnalyzer()(text, chars=True, mode="query")]
    assert tokens == [("证号", 0, 2), ("22038119800101123x", 2, 20), ("第", 21, 22), ("3", 22, 23), ("页", 23, 24)]


def test_analyzer_bridges_ocr_spaces_between_han_chars():
    tokens = [(t.text, t.startchar, t.endchar) for t in ChineseAnalyzer()("低 保 申 请", chars=True)]
    assert tokens == [("低保", 0, 3), ("保申", 2, 5), ("申请", 4, 7)]


def test_whoosh_highlighter_marks_the_right_characters_with_this_analyzer():
    out = highlight("申请低保待遇", {"低保"}, ChineseAnalyzer(), ContextFragmenter(), HtmlFormatter(tagname="b", classname="m"))
    assert re.sub(r"<[^>]+>", "|", out) == "申请|低保|待遇"


# -- Chinese text ------------------------------------------------------------


def test_finds_page_by_two_and_four_char_words_and_not_other_pages(ix: SearchIndex):
    ix.add_pages(
        [
            page(1, "本人因病申请低保待遇，附收入证明一份。"),
            page(2, "家庭成员情况登记表"),
            page(3, "收入情况说明，另附证明"),  # both 收入 and 证明, never 收入证明
        ]
    )
    assert found(ix, "低保") == {1}
    assert found(ix, "收入证明") == {1}
    assert found(ix, "成员") == {2}


def test_phrase_order_matters(ix: SearchIndex):
    ix.add_pages([page(1, "申请低保待遇")])
    assert found(ix, "低保") == {1}
    assert found(ix, "保低") == set()


def test_all_query_words_must_match(ix: SearchIndex):
    ix.add_pages([page(1, "低保申请"), page(2, "低保收入证明")])
    assert found(ix, "低保 收入证明") == {2}


def test_two_char_name_inside_three_char_name_is_found(ix: SearchIndex):
    ix.add_pages([page(1, "户主王德胜，务农。"), page(2, "户主王德发，务农。")])
    assert found(ix, "王德") == {1, 2}
    assert found(ix, "王德胜") == {1}


def test_head_of_household_name_matches_and_snippet_falls_back_to_start_of_text(ix: SearchIndex):
    ix.add_pages([page(1, "家庭成员情况登记表", head_name="王德胜"), page(2, "其他", head_name="王德发")])
    result = ix.search("王德胜")
    assert [h.document_id for h in result.hits] == [1]
    assert result.hits[0].fragments == [("家庭成员情况登记表", False)]


def test_spaces_between_han_chars_in_ocr_text_still_match(ix: SearchIndex):
    ix.add_pages([page(1, "低 保 申 请 书")])
    result = ix.search("低保")
    assert [h.document_id for h in result.hits] == [1]
    assert result.hits[0].snippet() == "[低 保] 申 请 书"


# -- numbers -------------------------------------------------------------------


def test_id_number_is_found_exactly_including_check_letter(ix: SearchIndex):
    ix.add_pages(
        [
            page(1, "身份证号：220381198001011234"),
            page(2, "身份证号：22038119800101123X"),
            page(3, "身份证号：220381198001011235"),
        ]
    )
    assert found(ix, "220381198001011234") == {1}
    assert found(ix, "22038119800101123X") == {2}
    assert found(ix, "22038119800101123x") == {2}
    hit = ix.search("220381198001011234").hits[0]
    assert ("220381198001011234", True) in hit.fragments


def test_household_number_matches_exactly_and_not_its_neighbour(ix: SearchIndex):
    ix.add_pages(
        [
            page(1, "申请", household="220381105012-0042"),
            page(2, "申请 第0042号", household="220381105012-0043"),
        ]
    )
    assert found(ix, "220381105012-0042") == {1}
    assert found(ix, "220381105012-0043") == {2}


def test_household_number_written_in_page_text_is_found(ix: SearchIndex):
    ix.add_pages([page(1, "户号：220381105012-0042", household="220381105012-0099")])
    assert found(ix, "220381105012-0042") == {1}


# -- permission scope ----------------------------------------------------------


def test_region_scope_returns_only_documents_of_that_township_and_counts_only_them(ix: SearchIndex):
    ix.add_pages(
        [
            page(1, "低保申请", region=VILLAGE_A),
            page(2, "低保申请", region=VILLAGE_B),
            page(3, "低保申请", region=VILLAGE_C),
            page(4, "低保申请", region=VILLAGE_C),
        ]
    )
    result = ix.search("低保", region_scope="220381105", limit=1)
    assert result.total == 2
    assert {h.document_id for h in result.hits} <= {1, 2}
    assert found(ix, "低保", region_scope="220381105") == {1, 2}
    assert found(ix, "低保", region_scope=VILLAGE_C) == {3, 4}
    assert ix.search("低保", region_scope="220381").total == 4
    assert ix.search("低保", region_scope="220382").total == 0


def test_empty_region_scope_is_refused_rather_than_meaning_everything(ix: SearchIndex):
    ix.add_pages([page(1, "低保")])
    with pytest.raises(ValueError):
        ix.search("低保", region_scope="")


def test_household_filter_limits_to_that_household(ix: SearchIndex):
    ix.add_pages([page(1, "低保", household="220381105012-0042"), page(2, "低保", household="220381105012-0043")])
    assert found(ix, "低保", household="220381105012-0043") == {2}


# -- results -------------------------------------------------------------------


def test_one_hit_per_document_with_its_best_page(ix: SearchIndex):
    ix.add_pages(
        [
            page(1, "低保一次，其余是别的内容内容内容", page_no=1),
            page(1, "低保低保低保，三次提到了低保", page_no=2),
            page(1, "没有相关内容的一页纸张纸张纸张", page_no=3),
            page(2, "低保一次，其余是别的内容内容内容", page_no=1),
        ]
    )
    result = ix.search("低保")
    assert result.total == 2
    assert [h.document_id for h in result.hits].count(1) == 1
    best = next(h for h in result.hits if h.document_id == 1)
    assert best.page == 2
    assert best.score > 0
    assert result.hits[0].document_id == 1  # the strongest page ranks its document first


def test_snippet_marks_exactly_the_query_characters(ix: SearchIndex):
    ix.add_pages([page(1, "申请低保待遇")])
    hit = ix.search("低保").hits[0]
    assert hit.fragments == [("申请", False), ("低保", True), ("待遇", False)]
    assert hit.snippet() == "申请[低保]待遇"
    assert hit.snippet("<mark>", "</mark>") == "申请<mark>低保</mark>待遇"


def test_snippet_marks_only_the_phrase_occurrence_not_loose_bigrams(ix: SearchIndex):
    ix.add_pages([page(1, "王德发来过。户主王德胜签字")])
    hit = ix.search("王德胜").hits[0]
    assert [seg for seg, matched in hit.fragments if matched] == ["王德胜"]


def test_snippet_is_a_window_around_a_match_deep_in_a_long_page(ix: SearchIndex):
    text = "前" * 300 + "收入证明" + "后" * 300
    ix.add_pages([page(1, text)])
    hit = ix.search("收入证明").hits[0]
    length = sum(len(seg) for seg, _ in hit.fragments)
    assert 80 <= length <= 120
    assert ("收入证明", True) in hit.fragments


def test_snippet_never_shows_a_cut_off_id_number(ix: SearchIndex):
    text = "身份证号220381198001011234" + "家" * 40 + "低保" + "家" * 200
    ix.add_pages([page(1, text)])
    snippet = ix.search("低保").hits[0].snippet()
    assert "低保" in snippet
    digits = re.findall(r"[0-9]+", snippet)
    assert all(d == "220381198001011234" for d in digits)


def test_blank_or_punctuation_only_query_gives_empty_result(ix: SearchIndex):
    ix.add_pages([page(1, "低保")])
    for q in ["", "   ", "，。-", "\n"]:
        result = ix.search(q)
        assert result.hits == [] and result.total == 0


def test_a_query_of_only_punctuation_or_symbols_finds_nothing(ix: SearchIndex):
    ix.add_pages([page(1, "低保，申请……")])
    for q in ["……——《》【】、；：", "___", "？！ ，。", "-" * 100]:
        result = ix.search(q)
        assert result.hits == [] and result.total == 0


def test_single_han_char_query_finds_it_inside_words(ix: SearchIndex):
    ix.add_pages([page(1, "申请低保"), page(2, "家庭")])
    assert found(ix, "低") == {1}


# -- paging -------------------------------------------------------------------------


def _all_pages(index: SearchIndex, query: str, per_page: int, **kw) -> tuple[list[int], set[int]]:
    """Document ids of every page of results, in order, and the totals seen."""
    ids: list[int] = []
    totals: set[int] = set()
    offset = 0
    while True:
        result = index.search(query, limit=per_page, offset=offset, **kw)
        ids += [h.document_id for h in result.hits]
        totals.add(int(result.total))
        if len(result.hits) < per_page:
            return ids, totals
        offset += per_page


def _paging_archive(ix: SearchIndex) -> None:
    pages = []
    for d in range(1, 61):
        region = [VILLAGE_A, VILLAGE_B, VILLAGE_C][d % 3]
        text = "申请低保待遇" if d % 4 else "申请低保待遇，低保低保"  # every 4th scores higher
        pages.append(page(d, text, region=region))
        if d % 5 == 0:  # a second page, sometimes the better one
            pages.append(page(d, "低保待遇" * (d % 3), page_no=2, region=region))
        if d % 7 == 0:  # both words, never the phrase
            pages.append(page(d, "待遇与低保", page_no=3, region=region))
    ix.add_pages(pages)


@pytest.mark.parametrize("path", ["plain", "broad"])
@pytest.mark.parametrize("scope", [None, "220381105"])
def test_paging_gives_every_hit_once_in_rank_order_with_the_same_total(ix: SearchIndex, request, path, scope):
    if path == "broad":
        request.getfixturevalue("broad")
    _paging_archive(ix)
    everything = ix.search("低保待遇", region_scope=scope, limit=500)
    ranked = [h.document_id for h in everything.hits]
    expected = {d for d in range(1, 61) if scope is None or [VILLAGE_A, VILLAGE_B, VILLAGE_C][d % 3] != VILLAGE_C}
    assert set(ranked) == expected and len(ranked) == len(expected)
    if path == "plain":
        scores = [h.score for h in everything.hits]
        assert scores == sorted(scores, reverse=True)
        for a, b in zip(everything.hits, everything.hits[1:]):  # ties: the newer document first
            assert a.score > b.score or a.document_id > b.document_id
    for per_page in (1, 7, 10):
        ids, totals = _all_pages(ix, "低保待遇", per_page, region_scope=scope)
        assert ids == ranked
        assert len(totals) == 1  # the same total on every page
        if path == "plain":
            assert totals == {len(expected)}


def test_equal_pages_are_ranked_newest_document_first_across_pages(ix: SearchIndex):
    ix.add_pages([page(d, "申请低保待遇") for d in range(1, 41)])
    assert [h.document_id for h in ix.search("低保", limit=10).hits] == list(range(40, 30, -1))
    assert [h.document_id for h in ix.search("低保", limit=10, offset=10).hits] == list(range(30, 20, -1))
    assert [h.document_id for h in ix.search("低保", limit=10, offset=35).hits] == [5, 4, 3, 2, 1]
    assert ix.search("低保", limit=10, offset=40).hits == []
    assert ix.search("低保", limit=10, offset=40).total == 40


def test_close_matches_follow_the_last_exact_hit_when_paging(ix: SearchIndex):
    ix.add_pages([page(d, "户主周英萍因病丧失劳动能力") for d in range(1, 6)]
                 + [page(d, "户主周英萍固病丧失劳动能力") for d in (6, 7)])  # OCR read 因 as 固
    first = ix.search("周英萍因病丧", limit=3)
    assert [(h.document_id, h.approximate) for h in first.hits] == [(5, False), (4, False), (3, False)]
    assert first.total == 5  # the close matches are not looked for yet
    second = ix.search("周英萍因病丧", limit=3, offset=3)
    assert [(h.document_id, h.approximate) for h in second.hits] == [(2, False), (1, False), (7, True)]
    assert second.total == 7
    third = ix.search("周英萍因病丧", limit=3, offset=6)
    assert [(h.document_id, h.approximate) for h in third.hits] == [(6, True)]
    assert _all_pages(ix, "周英萍因病丧", 3)[0] == [h.document_id for h in ix.search("周英萍因病丧", limit=50).hits]


def test_a_negative_offset_is_refused(ix: SearchIndex):
    with pytest.raises(ValueError, match="offset"):
        ix.search("低保", offset=-1)


# -- maintenance ---------------------------------------------------------------


def test_remove_document_removes_all_its_pages(ix: SearchIndex):
    ix.add_pages([page(1, "低保", page_no=1), page(1, "低保", page_no=2), page(2, "低保")])
    ix.remove_document(1)
    assert found(ix, "低保") == {2}
    assert ix.search("低保").total == 1
    assert ix.document_ids() == {2}
    assert ix.doc_count() == 1


def test_adding_a_page_again_replaces_it(ix: SearchIndex):
    ix.add_pages([page(1, "低保")])
    assert found(ix, "低保") == {1}
    ix.add_pages([page(1, "收入证明")])
    assert found(ix, "低保") == set()
    assert found(ix, "收入证明") == {1}
    assert ix.doc_count() == 1


def test_rebuild_from_an_iterable_gives_the_same_results_as_incremental_adds(tmp_path: Path):
    pages = [
        page(i, f"第{i}号 低保申请 收入证明", page_no=p, region=VILLAGE_A if i % 2 else VILLAGE_C)
        for i in range(1, 8)
        for p in (1, 2)
    ]
    incremental = SearchIndex.create(tmp_path / "a")
    for p in pages:
        incremental.add_pages([p])
    rebuilt = SearchIndex.create(tmp_path / "b")
    rebuilt.add_pages([page(99, "低保 旧的")])
    written = rebuilt.rebuild(iter(pages), batch_size=3)

    assert written == len(pages)
    assert rebuilt.document_ids() == incremental.document_ids() == set(range(1, 8))
    for q, scope in [("低保", None), ("收入证明", "220381105"), ("旧的", None)]:
        a = incremental.search(q, region_scope=scope)
        b = rebuilt.search(q, region_scope=scope)
        assert a.total == b.total
        assert sorted((h.document_id, h.page) for h in a.hits) == sorted((h.document_id, h.page) for h in b.hits)


def test_rebuild_with_no_pages_empties_the_index(ix: SearchIndex):
    ix.add_pages([page(1, "低保")])
    ix.rebuild([])
    assert ix.document_ids() == set()
    assert found(ix, "低保") == set()


def test_open_or_create_reopens_existing_index(tmp_path: Path):
    first = SearchIndex.open_or_create(tmp_path / "ix")
    first.add_pages([page(1, "低保")])
    first.close()
    again = SearchIndex.open_or_create(tmp_path / "ix")
    assert found(again, "低保") == {1}


def test_search_sees_pages_written_by_another_index_handle(tmp_path: Path):
    reader = SearchIndex.create(tmp_path / "ix")
    assert found(reader, "低保") == set()
    writer = SearchIndex.open(tmp_path / "ix")  # e.g. the ingest process
    writer.add_pages([page(1, "低保")])
    assert found(reader, "低保") == {1}
    writer.remove_document(1)
    assert found(reader, "低保") == set()


def test_a_second_writer_waits_for_the_lock_instead_of_failing(tmp_path: Path):
    ix = SearchIndex.create(tmp_path / "ix", lock_timeout=10)
    blocker = open_dir(str(tmp_path / "ix"), indexname=INDEX_NAME).writer()  # holds the write lock
    errors: list[BaseException] = []

    def add() -> None:
        try:
            ix.add_pages([page(1, "低保")])
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    worker = threading.Thread(target=add)
    worker.start()
    time.sleep(0.5)
    assert worker.is_alive()  # waiting, not failed
    blocker.cancel()
    worker.join(timeout=10)
    assert not worker.is_alive() and errors == []
    assert found(ix, "低保") == {1}


def test_a_writer_kept_waiting_too_long_ends_in_one_sentence_and_changes_nothing(tmp_path: Path):
    from search import IndexBusy

    ix = SearchIndex.create(tmp_path / "ix", lock_timeout=0.3)
    ix.add_pages([page(1, "低保")])
    blocker = open_dir(str(tmp_path / "ix"), indexname=INDEX_NAME).writer()  # another process's
    try:
        with pytest.raises(IndexBusy) as busy:
            ix.add_pages([page(2, "低保")])
        with pytest.raises(IndexBusy):
            ix.remove_document(1)
    finally:
        blocker.cancel()
    assert str(busy.value) == (
        f"the search index in {tmp_path / 'ix'} was being written by another process for more "
        "than 0.3 seconds; nothing was changed, try again when the ingest or reindex running "
        "now has finished")
    assert found(ix, "低保") == {1}
    ix.add_pages([page(2, "低保")])  # the lock let go: writing works again
    assert found(ix, "低保") == {1, 2}


# -- the tokenizer is the per-character definition, only faster ------------------


def _reference_tokens(value: str) -> list[tuple[str, int, int]]:
    """The analyzer's definition, one character at a time (the original
    implementation): Han runs (bridging whitespace) -> bigrams, a lone Han
    character -> itself, letter/digit runs -> one lowercased token."""
    from search.analysis import fold_char, is_han, is_word_char

    out, n, i = [], len(value), 0
    while i < n:
        ch = fold_char(value[i])
        if is_han(ch):
            run, j = [(ch, i)], i + 1
            while j < n:
                c = fold_char(value[j])
                if is_han(c):
                    run.append((c, j))
                    j += 1
                elif c.isspace():
                    k = j + 1
                    while k < n and value[k].isspace():
                        k += 1
                    if k < n and is_han(fold_char(value[k])):
                        j = k
                    else:
                        break
                else:
                    break
            i = run[-1][1] + 1
            if len(run) == 1:
                out.append((run[0][0], run[0][1], run[0][1] + 1))
            else:
                out.extend((a + b, s, e + 1) for (a, s), (b, e) in zip(run, run[1:]))
        elif is_word_char(ch):
            start, chunk = i, [ch]
            i += 1
            while i < n and is_word_char(fold_char(value[i])):
                chunk.append(fold_char(value[i]))
                i += 1
            out.append(("".join(chunk).lower(), start, i))
        else:
            i += 1
    return out


def test_fast_tokenizer_gives_exactly_the_reference_tokens_on_random_text():
    import random

    from search.analysis import raw_tokens, token_texts

    pool = (list("王德胜低保申请收入证明〇") + ["\U00020001", "\U0002A6D6", "\uF900", "\uFA0E", "\u3400"]
            + list("abcXYZ0189_-，。 \t\n\u3000\u00a0") + list("３Ａｚ①²Ⅻﬁあア한") + ["\u200b", "\u0301"])
    rng = random.Random(7)
    for _ in range(20000):
        s = "".join(rng.choice(pool) for _ in range(rng.randint(0, 14)))
        expected = _reference_tokens(s)
        assert raw_tokens(s) == expected, s
        assert token_texts(s) == [t for t, _, _ in expected], s
        assert [(t.text, t.startchar, t.endchar) for t in ChineseAnalyzer()(s, chars=True)] == expected


# -- permission scope: one term, cached doc set, never leaks ---------------------

VILLAGE_D = "220382101001"  # another county


@pytest.fixture
def broad(monkeypatch):
    """Small thresholds, so that a handful of pages take the broad-query path
    (newest candidates ranked, stored text checked, total estimated)."""
    import search.ranking as si

    monkeypatch.setattr(si, "EXACT_MAX_PAGES", 4)
    monkeypatch.setattr(si, "BROAD_CANDIDATES", 6)
    monkeypatch.setattr(si, "ESTIMATE_MIN_DOCS", 8)
    monkeypatch.setattr(si, "ESTIMATE_SAMPLE", 10)
    return si


def _regions(i: int) -> str:
    return [VILLAGE_A, VILLAGE_B, VILLAGE_C, VILLAGE_D][i % 4]


@pytest.mark.parametrize("path", ["plain", "broad"])
def test_scope_never_leaks_hits_or_counts_on_either_path(ix: SearchIndex, request, path):
    if path == "broad":
        request.getfixturevalue("broad")
    ix.add_pages([page(i, "村民委员会审核意见：情况属实，同意上报。", region=_regions(i)) for i in range(1, 41)])
    for scope, regions in [("220381105", {VILLAGE_A, VILLAGE_B}), (VILLAGE_C, {VILLAGE_C}),
                           ("220381", {VILLAGE_A, VILLAGE_B, VILLAGE_C}), ("2203811", {VILLAGE_A, VILLAGE_B, VILLAGE_C}),
                           ("220382", {VILLAGE_D}), ("220383", set())]:
        result = ix.search("情况属实", region_scope=scope, limit=5)
        inside = {i for i in range(1, 41) if _regions(i) in regions}
        assert {h.document_id for h in result.hits} <= inside
        assert len(result.hits) == min(5, len(inside))
        # an estimate may be off, but it is made from the scope's pages only
        assert result.total == len(inside) if not result.estimated else 0 < result.total <= 2 * len(inside)
        assert all(h.household.startswith("2203811050") or scope != "220381105" for h in result.hits)


def test_scope_of_a_township_is_one_term_and_sees_new_pages(ix: SearchIndex):
    from whoosh import query as wq

    ix.add_pages([page(1, "低保", region=VILLAGE_A), page(2, "低保", region=VILLAGE_C)])
    assert found(ix, "低保", region_scope="220381105") == {1}
    searcher = ix._searchers.get()
    assert searcher.doc_count() == 2
    assert list(searcher.docs_for_query(wq.Term("scope", "220381105")))  # indexed as a term
    ix.add_pages([page(3, "低保", region=VILLAGE_B)])  # the cached doc set must not hide it
    assert found(ix, "低保", region_scope="220381105") == {1, 3}
    ix.remove_document(1)
    assert found(ix, "低保", region_scope="220381105") == {3}
    assert ix.search("低保", region_scope="220381105").total == 1


# -- broad phrases: only true matches, estimated totals -------------------------


def test_broad_phrase_returns_only_pages_that_really_hold_the_phrase(ix: SearchIndex, broad):
    true = [page(i, "家庭生活困难，申请低保。") for i in range(1, 6)]
    # newer pages with both bigrams of 生活困难's parts but never the phrase
    decoys = [page(i, "生活不便，困难户，活困之说，生活与困难") for i in range(6, 40)]
    ix.add_pages(true + decoys)
    result = ix.search("生活困难", limit=10)
    assert {h.document_id for h in result.hits} == set(range(1, 6))
    assert result.total == 5 and not result.estimated
    for h in result.hits:
        assert ("生活困难", True) in h.fragments


def test_broad_query_total_is_an_estimate_of_in_scope_documents(ix: SearchIndex, broad):
    ix.add_pages([page(i, f"第{i}号 公示期间无异议，拟批准享受最低生活保障待遇。", region=_regions(i))
                  for i in range(1, 201)])
    result = ix.search("无异议", limit=10)
    assert len(result.hits) == 10
    assert result.estimated and result.total.estimated
    assert 150 <= result.total <= 250
    assert isinstance(result.total, int) and f"{result.total}" == str(int(result.total))
    scoped = ix.search("无异议", region_scope=VILLAGE_C, limit=10)
    assert {h.document_id for h in scoped.hits} <= {i for i in range(1, 201) if _regions(i) == VILLAGE_C}
    assert 25 <= scoped.total <= 75


def test_broad_query_hits_are_the_same_documents_as_the_plain_path_when_all_fit(tmp_path: Path, monkeypatch):
    import search.ranking as si

    pages = [page(i, "申请人承诺所提供的信息真实有效" * (1 + i % 3), region=_regions(i)) for i in range(1, 30)]
    plain = SearchIndex.create(tmp_path / "a")
    plain.add_pages(pages)
    expected = {h.document_id for h in plain.search("信息真实", limit=50).hits}
    monkeypatch.setattr(si, "EXACT_MAX_PAGES", 2)
    assert {h.document_id for h in plain.search("信息真实", limit=50).hits} == expected
    assert plain.search("信息真实", limit=50).total == 29


# -- a number typed right after Han characters may go on in the text -------------


def test_trailing_number_after_han_characters_matches_a_longer_number(ix: SearchIndex):
    ix.add_pages([page(3, "户号220381105012-0042"), page(4, "张三于2015年外出务工"), page(5, "张三于1998年"),
                  page(6, "张三于，2015年")])
    assert found(ix, "张三于20") == {4, 6}  # what lies between is not a token, as in a phrase
    assert found(ix, "张三于2015") == {4, 6}
    assert found(ix, "张三于201") == {4, 6}
    assert found(ix, "张三于19") == {5}
    # after digits it does not: a household number never matches a longer one
    assert found(ix, "220381105012-004") == set()


def test_the_start_of_an_id_number_typed_after_han_characters_finds_that_number(ix: SearchIndex):
    ix.add_pages([page(1, "身份证号220381198001011234"), page(2, "身份证号220381197502023456"),
                  page(3, "身份证号：待补")])
    assert found(ix, "身份证号22038119800") == {1}
    assert found(ix, "身份证号2203811") == {1, 2}
    assert found(ix, "身份证号22038119") == {1, 2}
    assert found(ix, "身份证号22038120") == set()


# -- one look-alike character misread by OCR -----------------------------------------


def test_page_with_one_lookalike_character_wrong_is_found_after_the_exact_matches(ix: SearchIndex):
    ix.add_pages([
        page(1, "户主周英萍因病丧失劳动能力，长期服药。"),
        # OCR read 因 as 固; the phrase is there three times, so it scores higher
        page(2, "周英萍固病丧失劳动能力。周英萍固病丧失。周英萍固病丧失。"),
        page(3, "周英萍在家务农。"),
        page(4, "王英萍因病丧失劳动能力。"),  # another person: only the first character differs
    ])
    result = ix.search("周英萍因病丧", limit=10)
    assert [(h.document_id, h.approximate) for h in result.hits] == [(1, False), (2, True)]
    assert result.total == 2
    assert [seg for seg, matched in result.hits[1].fragments if matched][0] == "周英萍固病丧"
    # a page that differs only in the first or last character (王英萍: another
    # person, or the same misread) is offered only when nothing closer exists
    ix.remove_document(2)
    result = ix.search("周英萍因病丧", limit=10)
    assert [(h.document_id, h.approximate) for h in result.hits] == [(1, False), (4, True)]


def test_lookalike_fallback_only_fills_a_page_that_exact_matches_leave_short(ix: SearchIndex):
    ix.add_pages([page(1, "周英萍因病丧失劳动能力"), page(2, "周英萍固病丧失劳动能力")])
    result = ix.search("周英萍因病丧", limit=1)
    assert [h.document_id for h in result.hits] == [1] and result.total == 1


def test_lookalike_fallback_respects_the_scope_and_spares_names_and_numbers(ix: SearchIndex):
    ix.add_pages([
        page(1, "周英萍固病丧失劳动能力", region=VILLAGE_C),
        page(2, "户主王德发，务农。"),
        page(3, "身份证号：220381198001011235"),
        page(4, "家庭收入证明一份"),
    ])
    assert found(ix, "周英萍因病丧", region_scope="220381105") == set()
    assert found(ix, "周英萍因病丧", region_scope="220381106") == {1}
    assert found(ix, "王德胜") == set()  # three characters: a name, never approximate
    assert found(ix, "220381198001011234") == set()  # a digit is never "a look-alike"
    assert found(ix, "收入证件") == {4} and ix.search("收入证件").hits[0].approximate


def test_lookalike_with_a_trailing_number(ix: SearchIndex):
    ix.add_pages([page(1, "钟平于2015年外出务工"), page(2, "钟平干2015年外出务工"), page(3, "钟平干1999年")])
    result = ix.search("钟平于20")
    assert [(h.document_id, h.approximate) for h in result.hits] == [(1, False), (2, True)]


def test_a_long_phrase_with_one_misread_character_is_found_as_a_close_match(ix: SearchIndex):
    ix.add_pages([
        page(1, "申请人承诺所提供的信息真实有效，如有虚假愿承担相应责任。"),
        page(2, "申请人承诺所提共的信息真实有效，如有虚假愿承担相应责任。"),  # OCR read 供 as 共
        page(3, "家庭收入情况：所提供的信息真实有效"),  # only the end of it
    ])
    result = ix.search("申请人承诺所提供的信息真实有效", limit=10)
    assert [(h.document_id, h.approximate) for h in result.hits] == [(1, False), (2, True)]
    assert result.total == 2
    assert [seg for seg, matched in result.hits[1].fragments if matched] == ["申请人承诺所提共的信息真实有效"]


def _reference_lookalike_re(unit, interior=None):
    """The definition of "one Han character different": an alternation of
    the unit's regular expression with each Han character that Whoosh sees
    in a token replaced by any Han character (the original implementation,
    whose size grew with the square of the word's length)."""
    from search.lookalike import token_chars
    from search.query import HAN, unit_pattern

    covered = set().union(*token_chars(unit)[: len(unit.index_tokens)])
    han_atoms = [i for i, (kind, _) in enumerate(unit.atoms) if kind == "han"]
    atoms = [a for h, a in enumerate(han_atoms) if h in covered
             and (interior is None or (0 < a < len(unit.atoms) - 1) == interior)]
    if not atoms:
        return re.compile(r"(?!)")
    patterns = []
    for wildcard in atoms:
        plain = unit_pattern(unit, wildcard)
        assert HAN in plain
        patterns.append(f"(?:{plain})")
    return re.compile("|".join(patterns))


def test_the_lookalike_check_is_the_one_character_wildcard_definition_on_random_text():
    import random

    from search.lookalike import approx_kind, approx_words
    from search.query import fold_lower, parse_query
    from search.snippets import match_spans

    rng = random.Random(3)
    pool = list("王德胜因固病丧失周英萍") + list("20") + [" ", "，", "-", "_", "a"]
    analyzer = ChineseAnalyzer()
    checked = matched = 0
    while checked < 6000:
        query = "".join(rng.choice(pool) for _ in range(rng.randint(4, 9)))
        words = parse_query(query, analyzer)
        fuzzy = approx_words(words)
        if not fuzzy:
            continue
        for _ in range(5):
            text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
            if rng.random() < 0.5:  # plant the query with one character replaced
                i = rng.randint(0, len(query) - 1)
                at = rng.randint(0, len(text))
                text = text[:at] + query[:i] + rng.choice(pool) + query[i + 1:] + text[at:]
            lowered = fold_lower(text)
            spans = list(match_spans(text, words))
            for unit in fuzzy.values():
                expected = (2 if _reference_lookalike_re(unit, True).search(lowered)
                            else 1 if _reference_lookalike_re(unit, False).search(lowered) else 0)
                assert approx_kind(text, unit) == expected, (query, text)
                matched += expected > 0
                spans += [m.span() for m in _reference_lookalike_re(unit).finditer(lowered)]
            # the snippet marks the same characters
            assert match_spans(text, words, approximate=True) == _merged(spans), (query, text)
            checked += 1
    assert matched > 1000  # the planted matches were found


def _merged(spans):
    out = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# -- long queries and the time limit ---------------------------------------------------


def test_a_query_over_100_characters_is_refused_in_one_sentence_before_the_index_is_read(tmp_path: Path):
    from search import IndexOutOfDate, QueryTooLong, SearchError

    _write_old_index(tmp_path / "ix", _old_schema())  # an index no search could read
    index = SearchIndex.open(tmp_path / "ix")
    with pytest.raises(QueryTooLong) as err:
        index.search("低保" * 5000)
    assert str(err.value) == "the query is 10000 characters long; searches are limited to 100 characters"
    assert isinstance(err.value, SearchError)
    with pytest.raises(IndexOutOfDate):  # within the limit, the search does reach the index
        index.search("低保" * 50)
    index.close()


def test_a_query_of_100_characters_is_searched_and_one_more_is_refused(ix: SearchIndex):
    from search import QueryTooLong

    ix.add_pages([page(1, "申请" * 60), page(2, "申请" * 40)])
    assert found(ix, "申请" * 50) == {1}  # a phrase of 99 tokens
    assert found(ix, "\n  " + "申请" * 50 + "  ") == {1}  # surrounding whitespace is not counted
    with pytest.raises(QueryTooLong, match="^the query is 101 characters long;"):
        ix.search("申请" * 50 + "书")


class SteppingClock:
    """A clock that moves on ``step`` seconds whenever it is read: the more
    a search checks its time (the more pages it works through), the more
    time passes, on any machine."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_search_that_must_read_many_pages_is_stopped_at_its_time_limit(tmp_path: Path):
    from search import SearchError, SearchTimedOut

    clock = SteppingClock(0.01)
    with SearchIndex.create(tmp_path / "ix", clock=clock) as index:
        # every page holds 生活 and 困难 but only one the phrase: each must be read to know
        index.add_pages([page(i, f"第{i}户 生活不便，困难户。") for i in range(1, 301)]
                        + [page(999, "户主王德胜，生活困难。")])
        with pytest.raises(SearchTimedOut) as err:
            index.search("生活困难", time_limit=1.0)
        assert str(err.value) == ("the search took longer than 1 seconds and was stopped; "
                                  "narrow it with more specific words")
        assert isinstance(err.value, SearchError)
        # under the same clock and limit, a narrow search finishes ...
        assert found(index, "王德胜", time_limit=1.0) == {999}
        # ... and the stopped one is answered when it may take its time
        assert found(index, "生活困难", time_limit=None) == {999}


# -- an index written by an older hudang -------------------------------------------------


def _old_schema():
    """The schema before the scope field (TEXT with character offsets)."""
    from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema

    ana = ChineseAnalyzer()
    return Schema(
        key=ID(unique=True, stored=True), document_id=NUMERIC(int, bits=64, stored=True, sortable=True),
        page=NUMERIC(int, stored=True, sortable=True), household=ID(stored=True),
        household_text=TEXT(analyzer=ana, phrase=True), head_name=TEXT(analyzer=ana, stored=True, phrase=True),
        region=ID(stored=True), doc_type=ID(stored=True), doc_type_name=STORED(),
        title=TEXT(analyzer=ana, stored=True, phrase=True), date=ID(stored=True),
        text=TEXT(analyzer=ana, stored=True, chars=True, phrase=True))


def _write_old_index(path: Path, schema) -> None:
    from whoosh.index import create_in

    path.mkdir(parents=True, exist_ok=True)
    old = create_in(str(path), schema, indexname=INDEX_NAME)
    with old.writer() as w:
        w.add_document(key="1:1", document_id=1, page=1, household="220381105012-0001", region=VILLAGE_A,
                       text="低保申请")
    old.close()


def test_an_index_with_an_older_schema_asks_for_a_reindex_and_rebuild_replaces_it(tmp_path: Path):
    from search import IndexOutOfDate

    _write_old_index(tmp_path / "ix", _old_schema())
    index = SearchIndex.open_or_create(tmp_path / "ix")
    assert index.needs_rebuild
    with pytest.raises(IndexOutOfDate, match="hudang reindex") as err:
        index.search("低保")
    assert isinstance(err.value, SearchError) and not isinstance(err.value, ValueError) and "\n" not in str(err.value)
    with pytest.raises(IndexOutOfDate):
        index.add_pages([page(2, "低保")])
    index.remove_document(1)  # nothing to do: the rebuild will not hold it
    assert index.rebuild([page(2, "低保申请", region=VILLAGE_C)]) == 1
    assert not index.needs_rebuild
    assert found(index, "低保", region_scope="220381106") == {2}
    index.close()
    assert not SearchIndex.open(tmp_path / "ix").needs_rebuild


def test_an_index_whose_schema_cannot_even_be_read_also_asks_for_a_reindex(tmp_path: Path, monkeypatch):
    import sys
    import types

    from whoosh.fields import TEXT

    from search import IndexOutOfDate

    gone = types.ModuleType("hudang_gone_analysis")

    class GoneText(TEXT):
        pass

    GoneText.__module__ = gone.__name__
    GoneText.__qualname__ = "GoneText"
    gone.GoneText = GoneText
    monkeypatch.setitem(sys.modules, gone.__name__, gone)
    schema = _old_schema()
    schema.remove("text")
    schema.add("text", GoneText(stored=True))
    _write_old_index(tmp_path / "ix", schema)
    monkeypatch.delitem(sys.modules, gone.__name__)  # the class no longer exists

    index = SearchIndex.open_or_create(tmp_path / "ix")
    assert index.needs_rebuild
    with pytest.raises(IndexOutOfDate, match="hudang reindex"):
        index.search("低保")
    index.rebuild([page(2, "低保")])
    assert found(index, "低保") == {2}
    index.close()


def test_cli_says_in_one_line_to_reindex_an_old_index_and_reindex_fixes_it(tmp_path: Path):
    import os
    import shutil
    import subprocess
    import sys

    hudang = str(Path(sys.executable).with_name("hudang"))
    env = {**os.environ, "HUDANG_HOME": str(tmp_path / "home"),
           "HUDANG_MASTER_KEY_FILE": str(tmp_path / "keys" / "master.key")}
    env.pop("HUDANG_MASTER_KEY", None)
    env.pop("HUDANG_DATABASE_URL", None)

    def run(*args):
        return subprocess.run([hudang, *args], env=env, capture_output=True, text=True, timeout=120)

    assert run("init").returncode == 0
    index_dir = tmp_path / "home" / "index"
    shutil.rmtree(index_dir)
    _write_old_index(index_dir, _old_schema())
    proc = run("search", "低保")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "hudang reindex" in lines[0], proc.stderr
    proc = run("reindex")
    assert proc.returncode == 0, proc.stderr
    proc = run("search", "低保")
    assert proc.returncode == 0 and "no documents found" in proc.stdout, proc.stderr


def test_search_page_shows_an_estimated_total_as_about_n(tmp_path: Path, broad):
    from conftest import make_archive
    from records.catalogue import add_user
    from web.app import create_app

    archive = make_archive(tmp_path)
    try:
        with archive.Session() as s, s.begin():
            add_user(s, "chief", "Search-test-9", "auditor")
        archive.index.add_pages([page(i, f"第{i}号 公示期间无异议。", household="220381105012-0042")
                                 for i in range(1, 201)])
        app = create_app(archive=archive, test_config={"WTF_CSRF_ENABLED": False, "TESTING": True})
        client = app.test_client()
        assert client.post("/login", data={"username": "chief", "password": "Search-test-9"}).status_code == 302
        html = client.get("/", query_string={"q": "无异议"}).get_data(as_text=True)
        assert re.search(r"约 \d+ 件", html), html
        html = client.get("/", query_string={"q": "第7号"}).get_data(as_text=True)
        assert "共 1 件" in html
        assert client.get("/api/search", query_string={"q": "无异议"}).json["total"] > 100
    finally:
        archive.close()


def test_estimated_total_counts_documents_not_pages(ix: SearchIndex, broad):
    ix.add_pages([page(d, f"第{p}页 公示期间无异议。", page_no=p) for d in range(1, 61) for p in range(1, 5)])
    result = ix.search("无异议", limit=10)
    assert len({h.document_id for h in result.hits}) == 10
    assert result.estimated and 40 <= result.total <= 80


def test_search_page_on_an_old_index_answers_503_saying_to_reindex(tmp_path: Path):
    import shutil

    from conftest import make_archive
    from ingest.archive import Archive
    from records.catalogue import add_user
    from web.app import create_app

    archive = make_archive(tmp_path)
    with archive.Session() as s, s.begin():
        add_user(s, "chief", "Search-test-9", "auditor")
    archive.index.add_pages([page(1, "低保申请", household="220381105012-0042")])
    settings = archive.settings
    archive.close()
    shutil.rmtree(settings.index_dir)  # as an older hudang left it
    _write_old_index(settings.index_dir, _old_schema())
    archive = Archive.open(settings)
    try:
        app = create_app(archive=archive, test_config={"WTF_CSRF_ENABLED": False, "TESTING": True})
        client = app.test_client()
        assert client.post("/login", data={"username": "chief", "password": "Search-test-9"}).status_code == 302
        response = client.get("/", query_string={"q": "低保"})
        assert response.status_code == 503
        assert "hudang reindex" in response.get_data(as_text=True)
    finally:
        archive.close()


def test_search_page_marks_a_look_alike_hit_as_a_close_match(tmp_path: Path):
    from conftest import make_archive
    from records.catalogue import add_user
    from web.app import create_app

    archive = make_archive(tmp_path)
    try:
        with archive.Session() as s, s.begin():
            add_user(s, "chief", "Search-test-9", "auditor")
        archive.index.add_pages([
            page(1, "户主周英萍因病丧失劳动能力。", household="220381105012-0042"),
            page(2, "周英萍固病丧失劳动能力。", household="220381105012-0042")])  # 因 read as 固
        app = create_app(archive=archive, test_config={"WTF_CSRF_ENABLED": False, "TESTING": True})
        client = app.test_client()
        assert client.post("/login", data={"username": "chief", "password": "Search-test-9"}).status_code == 302
        html = client.get("/", query_string={"q": "周英萍因病丧"}).get_data(as_text=True)
        assert html.count('class="approximate"') == 1 and "近似匹配" in html
        rows = client.get("/api/search", query_string={"q": "周英萍因病丧"}).json["hits"]
        assert [(r["document_id"], r["approximate"]) for r in rows] == [(1, False), (2, True)]
    finally:
        archive.close()
