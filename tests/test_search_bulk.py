"""SearchIndex.bulk_load: the fast path for filling a fresh index (one or several writer processes)."""
from __future__ import annotations

import pytest

from search import PageDoc, SearchIndex


def _pages(n: int) -> list[PageDoc]:
    names = ["王德胜", "李秀英", "张建国", "刘桂兰"]
    return [
        PageDoc(document_id=i // 2 + 1, page=i % 2 + 1,
                household=f"2203811050{12 + i % 3}-{i % 50:04d}",
                head_name=names[i % 4], region=f"2203811050{12 + i % 3}",
                doc_type="application", doc_type_name="申请书", title=f"{names[i % 4]}户申请书",
                date="2024-03-01", text=f"申请人{names[i % 4]}因病致贫，申请最低生活保障。编号{i:05d}")
        for i in range(n)
    ]


@pytest.mark.parametrize("procs", [1, 2])
def test_bulk_load_finds_everything(tmp_path, procs):
    pages = _pages(600)
    with SearchIndex.create(tmp_path / "ix") as index:
        assert index.bulk_load(pages, procs=procs, batchsize=50) == 600
        assert index.doc_count() == 600
        assert index.document_ids() == {p.document_id for p in pages}
        result = index.search("王德胜", limit=500)
        assert result.total == len({p.document_id for p in pages if p.head_name == "王德胜"})
        one = index.search("00123")
        assert [h.document_id for h in one.hits] == [123 // 2 + 1]
        scoped = index.search("申请", region_scope="220381105013", limit=1000)
        assert all(h.household.startswith("220381105013-") for h in scoped.hits)
        assert scoped.total == len({p.document_id for p in pages if p.region == "220381105013"})


def test_bulk_load_nothing_and_bad_args(tmp_path):
    with SearchIndex.create(tmp_path / "ix") as index:
        assert index.bulk_load([], procs=2) == 0
        assert index.doc_count() == 0
        with pytest.raises(ValueError):
            index.bulk_load(_pages(1), procs=0)


def test_bulk_load_matches_rebuild(tmp_path):
    pages = _pages(300)
    with SearchIndex.create(tmp_path / "a") as a, SearchIndex.create(tmp_path / "b") as b:
        a.rebuild(pages)
        b.bulk_load(pages, procs=2, batchsize=40)
        for q in ("王德胜", "最低生活", "00042", "李秀英 因病"):
            # limit above the number of documents: the sets must be equal, whatever the tie order
            ra, rb = a.search(q, limit=200), b.search(q, limit=200)
            assert ra.total == rb.total
            assert {h.document_id for h in ra.hits} == {h.document_id for h in rb.hits}


def test_broad_queries_estimates_and_lookalikes_across_segments(tmp_path, monkeypatch):
    """Two writer processes give two segments: the newest-candidates window, the
    estimate's sample and the scope's doc sets all span segments."""
    import search.ranking as si

    monkeypatch.setattr(si, "EXACT_MAX_PAGES", 4)
    monkeypatch.setattr(si, "BROAD_CANDIDATES", 6)
    monkeypatch.setattr(si, "ESTIMATE_MIN_DOCS", 8)
    monkeypatch.setattr(si, "ESTIMATE_SAMPLE", 60)
    pages = _pages(400)  # 200 documents of 2 pages
    for p in pages:  # a document lies in one village; the phrase is on its first page only
        p.region = f"2203811050{12 + p.document_id % 3}"
        p.household = f"{p.region}-{p.document_id:04d}"
        if p.page == 2:
            p.text = "家庭成员情况登记表"
    pages[6].text = "申请人王德胜固致贫，申请最低生活保障。"  # document 4: OCR read 因 as 固
    pages[8].text = "王德胜，生活保障。最低，申请"  # document 5: every bigram of 最低生活, never the phrase
    holding = {p.document_id for p in pages if "最低生活" in p.text}
    assert len(holding) == 199
    with SearchIndex.create(tmp_path / "a") as a, SearchIndex.create(tmp_path / "b") as b:
        a.rebuild(pages)
        b.bulk_load(pages, procs=2, batchsize=40)
        assert len(b._searchers.get().reader().leaf_readers()) == 2
        for index in (a, b):
            broad = index.search("最低生活", limit=10)
            assert len(broad.hits) == 10 and {h.document_id for h in broad.hits} <= holding
            assert broad.estimated and 150 <= broad.total <= 250
            scoped = index.search("最低生活", region_scope="220381105013", limit=10)
            assert all(h.household.startswith("220381105013-") for h in scoped.hits)
            in_scope = len({d for d in holding if d % 3 == 1})
            assert 0.6 * in_scope <= scoped.total <= 1.4 * in_scope
            near = index.search("王德胜因致贫", limit=10)
            assert (4, True) in [(h.document_id, h.approximate) for h in near.hits]
