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
