"""The demo archive: synthetic dossiers, ingested through the real pipeline.

``hudang demo`` builds it once into the data home (regions, households,
users, and every generated page OCR'd, encrypted, catalogued and indexed),
then serves it. Running it again reuses what was built.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import func, select

from ingest.archive import Archive, Settings
from ingest.indexing import reindex
from ingest.pipeline import IngestRequest, Ingestor
from ingest.synthetic import generate_dossier_set
from records.catalogue import add_household, add_region, add_user
from records.model import Document

# (user, password, role, jurisdiction shown to the person running the demo)
DEMO_USERS = (
    ("archivist", "archivist-demo-1", "archivist", "(whole county)"),
    ("staff", "staff-demo-1", "staff", "(first township only)"),
    ("auditor", "auditor-demo-1", "auditor", "(audit log)"),
    ("admin", "admin-demo-1", "administrator", "(users and regions)"),
    ("inspector", "inspector-demo-1", "inspector", "(QC reviewer: accepts digitisation batches)"),
)


def build_demo(settings: Settings, *, households: int, seed: int, progress) -> Archive:
    archive = Archive.open(settings) if settings.blob_dir.is_dir() else Archive.init(settings)
    with archive.Session() as s:
        built = s.scalar(select(func.count(Document.id)))
    if built:
        if archive.index.needs_rebuild:  # built by an older hudang: its index schema changed
            with progress("rebuilding the search index"):
                reindex(archive)
        return archive
    scans = Path(tempfile.mkdtemp(prefix="demo-scans-", dir=settings.tmp_dir))
    try:
        with progress("generating pages") as bar:
            manifest = generate_dossier_set(scans, seed=seed, households=households,
                                            image_format="jpg",
                                            progress=lambda done, total: _advance(bar, done, total))
        _catalogue(archive, manifest)
        total = sum(len(d.files) for d in manifest.documents)
        with progress("ingesting", total) as bar, Ingestor(archive) as ingestor:
            for doc in manifest.documents:
                ingestor.ingest(IngestRequest(
                    path=_as_one_file(doc.files, scans), household=doc.household,
                    doc_type=doc.doc_type, seq=doc.seq, date=doc.date, title=doc.title,
                    actor="demo"), progress=bar.update)
    finally:
        shutil.rmtree(scans, ignore_errors=True)
    return archive


def _advance(bar, done: int, total: int) -> None:
    if bar.total != total:
        bar.reset(total=total)
    bar.n = done
    bar.refresh()


def _as_one_file(files: list[Path], folder: Path) -> Path:
    """A multi-page document goes in as one multi-page TIFF, as a scanner would deliver it."""
    if len(files) == 1:
        return files[0]
    from PIL import Image

    frames = [Image.open(f) for f in files]
    out = folder / (files[0].stem + "-all.tif")
    frames[0].save(out, save_all=True, append_images=frames[1:], compression="tiff_deflate",
                   dpi=(300, 300))
    for f in frames:
        f.close()
    return out


def _catalogue(archive: Archive, manifest) -> None:
    with archive.Session() as s, s.begin():
        for region in sorted(manifest.regions, key=lambda r: len(r.code)):
            add_region(s, region.code, region.name, region.parent)
        for h in manifest.households:
            sealed, index = archive.seal_id_number(h.head.id_number)
            add_household(s, h.number, h.head.name, h.region_code, head_id_sealed=sealed,
                          head_id_index=index)
        townships = sorted(r.code for r in manifest.regions if len(r.code) == 9)
        scopes = {"staff": townships[0]}
        for name, password, role, _ in DEMO_USERS:
            add_user(s, name, password, role, scopes.get(name))
