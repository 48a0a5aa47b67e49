"""Shared pytest fixtures.

The corpus of real and hostile scans lives outside the repository, in
``../shared/corpus`` (CI always has it; a user's own clone may not).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("HUDANG_CORPUS", REPO.parent / "shared" / "corpus"))


def corpus_files(sub: str) -> list[Path]:
    """Files of one corpus folder, for parametrising; empty when the corpus is absent."""
    folder = CORPUS / sub
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file())


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared test corpus is not at {CORPUS} (set HUDANG_CORPUS, or clone beside shared/)")
    return CORPUS


def make_archive(root: Path):
    """A fresh data home under ``root`` with its key outside it, one county, township and
    village, and one household ``220381105012-0042``; returns the opened Archive."""
    from ingest.archive import Archive, Settings
    from records.catalogue import add_household, add_region

    settings = Settings.from_env(root / "home", root / "keys" / "master.key")
    archive = Archive.init(settings)
    with archive.Session() as s, s.begin():
        add_region(s, "220381", "示范县")
        add_region(s, "220381105", "东风镇")
        add_region(s, "220381105012", "红星村")
        add_household(s, "220381105012-0042", "王德胜", "220381105012")
    return archive


@pytest.fixture
def no_hudang_env(monkeypatch):
    """A developer's own data home, key and database settings never leak into a test."""
    for name in ("HUDANG_HOME", "HUDANG_MASTER_KEY_FILE", "HUDANG_MASTER_KEY",
                 "HUDANG_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def engine(tmp_path):
    """A catalogue on a SQLite file, its schema built by the migrations."""
    from records import db

    e = db.make_engine(db.sqlite_url(tmp_path / "catalogue.sqlite"))
    db.upgrade(e)
    yield e
    e.dispose()
