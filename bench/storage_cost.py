"""What keeping the file as received costs in space (docs/storage.md).

    .venv/bin/python bench/storage_cost.py HOME KEY_FILE        # an existing archive
    .venv/bin/python bench/storage_cost.py --corpus DIR          # ingest every file of DIR
                                                                 # into a temporary archive

Reports, from the catalogue and the blob files on disk, the bytes taken by each kind of
blob (archival PDFs, files as received, access images, page texts), the catalogue and the
index, and what the originals add to the whole data home.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def report(home: Path, key_file: Path) -> dict[str, int]:
    from sqlalchemy import select

    from ingest.archive import Archive, Settings
    from records.model import Document

    archive = Archive.open(Settings.from_env(home, key_file))
    sizes = {"pdf": 0, "original": 0, "image": 0, "text": 0, "documents": 0, "pages": 0,
             "received": 0}
    try:
        with archive.Session() as s:
            for doc in s.scalars(select(Document)):
                sizes["documents"] += 1
                sizes["received"] += doc.source_size
                sizes["pdf"] += archive.blobs.path_of(doc.pdf_ref).stat().st_size
                if doc.original_ref:
                    sizes["original"] += archive.blobs.path_of(doc.original_ref).stat().st_size
                for page in doc.pages:
                    sizes["pages"] += 1
                    sizes["image"] += archive.blobs.path_of(page.image_ref).stat().st_size
                    sizes["text"] += archive.blobs.path_of(page.text_ref).stat().st_size
    finally:
        archive.close()
    sizes["catalogue"] = sum(_size(p) for p in home.glob("catalogue.sqlite*"))
    sizes["index"] = _size(home / "index")
    sizes["home"] = _size(home)
    return sizes


def ingest_corpus(corpus: Path, work: Path) -> tuple[Path, Path, list[str]]:
    from ingest.archive import Archive, Settings
    from ingest.exceptions import IngestError
    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_household, add_region

    home, key_file = work / "home", work / "keys" / "master.key"
    archive = Archive.init(Settings.from_env(home, key_file))
    refused = []
    with archive.Session() as s, s.begin():
        add_region(s, "220381", "示范县")
        add_region(s, "220381105", "东风镇")
        add_region(s, "220381105012", "红星村")
        add_household(s, "220381105012-0001", "测试", "220381105012")
    with Ingestor(archive, engine="tesseract", workers=1) as ingestor:
        for path in sorted(p for p in corpus.iterdir() if p.is_file()):
            try:
                ingestor.ingest(IngestRequest(path, "220381105012-0001", "申请书"))
            except IngestError as exc:
                refused.append(f"{path.name}: {exc}")
    archive.close()
    return home, key_file, refused


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", nargs="?")
    parser.add_argument("key_file", nargs="?")
    parser.add_argument("--corpus")
    args = parser.parse_args()
    work = None
    if args.corpus:
        work = Path(tempfile.mkdtemp(prefix="storage-cost-"))
        home, key_file, refused = ingest_corpus(Path(args.corpus), work)
        for line in refused:
            print("refused", line)
    else:
        home, key_file = Path(args.home), Path(args.key_file)
    try:
        sizes = report(home, key_file)
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)
    mb = 1024 * 1024
    print(f"{sizes['documents']} documents, {sizes['pages']} pages, "
          f"{sizes['received'] / mb:.2f} MB received")
    for kind in ("pdf", "original", "image", "text", "catalogue", "index", "home"):
        print(f"{kind:10s} {sizes[kind] / mb:9.2f} MB")
    without = sizes["home"] - sizes["original"]
    print(f"originals add {sizes['original'] / mb:.2f} MB to {without / mb:.2f} MB "
          f"(+{100 * sizes['original'] / without:.0f}% of the data home)")


if __name__ == "__main__":
    main()
