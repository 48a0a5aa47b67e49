"""Generated catalogue documents that have page text and nothing else: what the search
index is rebuilt from, in numbers no OCR run could make (tests of an interrupted reindex,
the 100k-document reindex benchmark in bench/search_bench.py).

Each document has one page whose text is an encrypted blob, as an ingested page's is; its
access image and archival PDF are one shared empty placeholder blob, so such a document
can be found and its text read, never viewed or printed. Not a write path of the archive
(no journal, no audit event): a generator for an archive made to be measured.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice

from records.catalogue import add_household, add_region, find_household
from records.model import Document, Page, Region
from ingest.synthetic import make_id_number, make_name

__all__ = ["TextDocument", "add_text_documents", "text_documents"]


@dataclass(frozen=True)
class TextDocument:
    household: str  # household number; its village is the first 12 digits
    head_name: str
    doc_type: str  # a code of records.doctypes
    title: str
    date: date | None
    text: str


def _ensure_regions(session, village: str) -> None:
    for code in (village[:6], village[:9], village):
        if session.get(Region, code) is None:
            add_region(session, code, f"区划{code}")
            session.flush()


def _batches(items: Iterable[TextDocument], size: int) -> Iterator[list[TextDocument]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def add_text_documents(archive, docs: Iterable[TextDocument], *, batch: int = 500) -> int:
    """Catalogue ``docs`` (one page each, the text an encrypted blob), creating their
    regions and households as needed, ``batch`` documents per transaction; returns how
    many. The index is not touched: ``hudang reindex`` fills it."""
    placeholder = archive.blobs.put(b"")
    dossiers: dict[str, int] = {}
    seqs: dict[int, int] = {}
    count = 0
    for chunk in _batches(docs, batch):
        with archive.Session() as s, s.begin():
            for d in chunk:
                dossier_id = dossiers.get(d.household)
                if dossier_id is None:
                    household = find_household(s, d.household)
                    if household is None:
                        _ensure_regions(s, d.household[:12])
                        household = add_household(s, d.household, d.head_name, d.household[:12])
                        s.flush()
                    dossier_id = dossiers[d.household] = household.dossier.id
                    seqs[dossier_id] = max((doc.seq for doc in household.dossier.documents), default=0)
                seqs[dossier_id] += 1
                text = archive.blobs.put(d.text.encode("utf-8"))
                digest = hashlib.sha256(f"{d.household}/{seqs[dossier_id]}/{d.text}".encode()).hexdigest()
                doc = Document(dossier_id=dossier_id, type_code=d.doc_type, seq=seqs[dossier_id],
                               date=d.date, title=d.title[:200], page_count=1, sha256=digest,
                               source_kind="pdf", source_size=0, pdf_ref=placeholder.ref,
                               pdf_key=placeholder.wrapped_key, pdf_sha256=placeholder.sha256,
                               pdf_size=0, created_by="synthetic")
                doc.pages.append(Page(number=1, width=1, height=1, image_ref=placeholder.ref,
                                      image_key=placeholder.wrapped_key,
                                      image_sha256=placeholder.sha256, text_ref=text.ref,
                                      text_key=text.wrapped_key, text_sha256=text.sha256,
                                      text_source="pdf"))
                s.add(doc)
                count += 1
    return count


def text_documents(n: int, *, seed: int, village: str = "220381105012",
                   households: int = 20) -> list[TextDocument]:
    """``n`` documents of ``households`` generated households of one village, each text
    naming its head, the head's ID number and the document's number."""
    rng = random.Random(seed)
    heads = []
    for h in range(households):
        sex = rng.choice("男女")
        heads.append((f"{village}-{h + 1:04d}", make_name(rng, sex),
                      make_id_number(rng, village[:6], date(1950 + rng.randrange(50), 1 + rng.randrange(12),
                                                            1 + rng.randrange(28)), sex)))
    out = []
    for i in range(n):
        number, name, id_number = heads[i % households]
        out.append(TextDocument(
            household=number, head_name=name, doc_type="income_certificate",
            title=f"{name}收入证明第{i + 1}号", date=date(2024, 1 + i % 12, 1 + i % 28),
            text=f"收入证明 第{i + 1}号\n户主{name} 公民身份号码{id_number}\n"
                 f"经核实该户家庭人均月收入低于当地最低生活保障标准。编号D{i + 1:06d}"))
    return out
