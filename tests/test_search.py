"""Behaviour of the search package against a real Whoosh index."""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from whoosh.highlight import ContextFragmenter, HtmlFormatter, highlight
from whoosh.index import open_dir

from search import ChineseAnalyzer, PageDoc, SearchIndex
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
    index = SearchIndex.create(tmp_path / "index")
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


def test_single_han_char_query_finds_it_inside_words(ix: SearchIndex):
    ix.add_pages([page(1, "申请低保"), page(2, "家庭")])
    assert found(ix, "低") == {1}


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
