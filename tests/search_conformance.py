"""What any implementation of the search facade must do: the conformance suite.

``search/`` offers ingest/ and web/ one facade (``search.SearchIndex``): pages go in as
:class:`search.PageDoc`, are replaced by key (document, page), removed per document,
rebuilt from an iterable, and searched by words, within a region scope and a household,
page by page, with snippets. Whoosh implements it today; a second implementation for a
province (OpenSearch with a CJK bigram analyzer, docs/scale.md) must pass the same tests.

The tests here use only that public behaviour, never an implementation's internals. A
module that runs them defines a fixture ``make_index``: a function of no arguments
returning a new, empty index of the implementation under test (closed by the fixture
afterwards), and imports the tests with ``from tests.search_conformance import *``
(tests/test_search_conformance.py does so for Whoosh).
"""
from __future__ import annotations

import re

import pytest

from records.idnumbers import mask_in_pieces
from search import PageDoc, SearchError

VILLAGE_A = "220381105012"  # township 220381105
VILLAGE_B = "220381105013"  # the same township
VILLAGE_C = "220381106001"  # another township of the same county
ID_A = "220381198001011234"
ID_B = "22038119800101123X"


def page(document_id: int, text: str, *, number: int = 1, head_name: str = "赵大明",
         household: str = "220381105012-0001", region: str = VILLAGE_A,
         title: str = "材料") -> PageDoc:
    return PageDoc(document_id=document_id, page=number, household=household,
                   head_name=head_name, region=region, doc_type="application",
                   doc_type_name="申请书", title=title, date="2023-05-01", text=text)


def documents(index, query: str, **kw) -> list[int]:
    return [h.document_id for h in index.search(query, **kw).hits]


@pytest.fixture
def index(make_index):
    return make_index()


# -- adding, replacing, removing --------------------------------------------------------

def test_added_pages_are_found_and_counted(index):
    assert index.add_pages([page(1, "本人因病申请低保待遇"), page(2, "家庭成员情况登记表")]) == 2
    assert documents(index, "低保") == [1]
    assert documents(index, "成员") == [2]
    assert index.document_ids() == {1, 2}


def test_adding_a_page_again_replaces_it(index):
    index.add_pages([page(1, "旧的内容：务农")])
    index.add_pages([page(1, "新的内容：收入证明")])
    assert documents(index, "务农") == []
    assert documents(index, "收入证明") == [1]


def test_removing_a_document_removes_every_page_of_it(index):
    index.add_pages([page(1, "低保 第一页", number=1), page(1, "低保 第二页", number=2),
                     page(2, "低保 别的文件")])
    index.remove_document(1)
    assert documents(index, "低保") == [2]
    assert index.document_ids() == {2}


def test_rebuild_replaces_everything_with_the_pages_given(index):
    index.add_pages([page(1, "过去的文件：低保")])
    assert index.rebuild([page(2, "重建后的文件：低保"), page(3, "另一份：收入证明")]) == 2
    assert documents(index, "低保") == [2]
    assert index.document_ids() == {2, 3}


# -- what a search finds --------------------------------------------------------------

def test_a_name_is_found_in_the_text_and_as_head_of_household(index):
    index.add_pages([page(1, "申请人王德胜，务农。"), page(2, "家庭情况", head_name="王德胜"),
                     page(3, "申请人王德发，务农。")])
    assert set(documents(index, "王德胜")) == {1, 2}
    assert set(documents(index, "王德")) == {1, 2, 3}  # a two-character name inside a longer one


def test_every_word_of_a_query_must_match(index):
    index.add_pages([page(1, "低保申请"), page(2, "低保收入证明")])
    assert documents(index, "低保 收入证明") == [2]


def test_an_id_number_is_found_exactly_with_its_check_letter(index):
    index.add_pages([page(1, f"身份证号：{ID_A}"), page(2, f"身份证号：{ID_B}"),
                     page(3, "身份证号：220381198001011235")])
    assert documents(index, ID_A) == [1]
    assert documents(index, ID_B) == [2]
    assert documents(index, ID_B.lower()) == [2]


def test_a_household_number_is_found_exactly_and_not_its_neighbour(index):
    index.add_pages([page(1, "申请", household="220381105012-0042"),
                     page(2, "申请", household="220381105012-0043"),
                     page(3, "户号：220381105012-0042", household="220381105012-0099")])
    assert set(documents(index, "220381105012-0042")) == {1, 3}
    assert documents(index, "220381105012-0043") == [2]


def test_a_phrase_matches_in_order_and_whole(index):
    index.add_pages([page(1, "附收入证明一份"), page(2, "收入情况说明，另附证明")])
    assert documents(index, "收入证明") == [1]
    assert documents(index, "证明收入") == []


def test_spaces_that_ocr_puts_between_han_characters_do_not_matter(index):
    index.add_pages([page(1, "低 保 申 请 书")])
    assert documents(index, "低保申请") == [1]


def test_a_page_with_one_look_alike_character_comes_after_the_exact_ones_marked_so(index):
    index.add_pages([page(1, "户主周英萍因病丧失劳动能力。"),
                     page(2, "户主周英萍固病丧失劳动能力。"),  # OCR read 因 as 固
                     page(3, "周英萍在家务农。")])
    hits = index.search("周英萍因病丧", limit=10).hits
    assert [(h.document_id, h.approximate) for h in hits] == [(1, False), (2, True)]


def test_nothing_searchable_finds_nothing_and_a_too_long_query_is_one_sentence(index):
    index.add_pages([page(1, "低保")])
    for query in ("", "   ", "，。-"):
        assert index.search(query).hits == []
    with pytest.raises(SearchError) as refused:
        index.search("低" * 101)
    assert str(refused.value) and "\n" not in str(refused.value)


# -- whose pages ----------------------------------------------------------------------

def test_a_region_scope_restricts_hits_and_the_total(index):
    index.add_pages([page(1, "低保申请", region=VILLAGE_A), page(2, "低保申请", region=VILLAGE_B),
                     page(3, "低保申请", region=VILLAGE_C), page(4, "低保申请", region=VILLAGE_C)])
    township = index.search("低保", region_scope="220381105")
    assert {h.document_id for h in township.hits} == {1, 2} and township.total == 2
    assert {h.region for h in township.hits} <= {VILLAGE_A, VILLAGE_B}
    assert set(documents(index, "低保", region_scope=VILLAGE_C)) == {3, 4}
    assert index.search("低保", region_scope="220381").total == 4
    assert index.search("低保", region_scope="220382").total == 0
    with pytest.raises(ValueError):  # an empty scope never means "everything"
        index.search("低保", region_scope="")


def test_a_look_alike_match_never_crosses_the_region_scope(index):
    index.add_pages([page(1, "户主周英萍固病丧失劳动能力。", region=VILLAGE_C)])
    assert documents(index, "周英萍因病丧", region_scope="220381105") == []


def test_a_household_restriction_gives_only_that_household(index):
    index.add_pages([page(1, "低保", household="220381105012-0042"),
                     page(2, "低保", household="220381105012-0043")])
    assert documents(index, "低保", household="220381105012-0043") == [2]


# -- what a hit says --------------------------------------------------------------------

def test_one_hit_per_document_shows_its_best_page_and_what_the_page_is(index):
    index.add_pages([page(1, "低保一次，别的内容", number=1),
                     page(1, "低保低保低保，三次提到低保", number=2),
                     page(2, "低保一次，别的内容", household="220381105012-0042",
                          head_name="王德胜", region=VILLAGE_B)])
    result = index.search("低保")
    assert result.total == 2 and [h.document_id for h in result.hits].count(1) == 1
    first = result.hits[0]
    assert (first.document_id, first.page) == (1, 2)
    other = next(h for h in result.hits if h.document_id == 2)
    assert (other.household, other.head_name, other.region, other.doc_type,
            other.doc_type_name, other.title) == ("220381105012-0042", "王德胜", VILLAGE_B,
                                                  "application", "申请书", "材料")


def test_the_snippet_marks_exactly_the_words_searched(index):
    index.add_pages([page(1, "申请低保待遇")])
    hit = index.search("低保").hits[0]
    assert hit.fragments == [("申请", False), ("低保", True), ("待遇", False)]
    assert hit.snippet("<mark>", "</mark>") == "申请<mark>低保</mark>待遇"


def test_the_snippet_is_a_short_window_around_a_match_deep_in_a_long_page(index):
    index.add_pages([page(1, "前" * 300 + "收入证明" + "后" * 300)])
    hit = index.search("收入证明").hits[0]
    assert 60 <= sum(len(seg) for seg, _ in hit.fragments) <= 160
    assert ("收入证明", True) in hit.fragments


def test_an_id_number_in_a_snippet_is_whole_so_that_masking_hides_it(index):
    index.add_pages([page(1, f"身份证号{ID_A}" + "家" * 40 + "低保" + "家" * 200),
                     page(2, f"申请人身份证号：{ID_B}，申请低保")])
    for query, document_id in (("低保", 1), (ID_B, 2)):
        hits = [h for h in index.search(query).hits if h.document_id == document_id]
        snippet = hits[0].snippet()
        assert all(len(run) in (18,) for run in re.findall(r"[0-9]{6,}[0-9Xx]?", snippet))
        shown = "".join(seg for seg, _ in mask_in_pieces(hits[0].fragments))
        assert ID_A not in shown and ID_B not in shown and ID_B.lower() not in shown
    found = index.search(ID_B).hits[0]
    assert any(matched for _, matched in found.fragments)


# -- paging -------------------------------------------------------------------------------

def test_pages_of_results_give_every_hit_once_in_rank_order_with_one_total(index):
    index.add_pages([page(n, "低保" * (1 + n % 5) + "其他内容" * n) for n in range(1, 24)])
    whole = index.search("低保", limit=50)
    assert whole.total == 23 and len(whole.hits) == 23
    paged = []
    for offset in range(0, 23, 5):
        part = index.search("低保", limit=5, offset=offset)
        assert part.total == 23
        paged += [h.document_id for h in part.hits]
    assert paged == [h.document_id for h in whole.hits]
    assert index.search("低保", limit=5, offset=30).hits == []
    with pytest.raises(ValueError):
        index.search("低保", offset=-1)


__all__ = [name for name in dir() if name.startswith("test_")] + ["index"]
