"""Shared pytest fixtures.

The corpus of real and hostile scans lives outside the repository, in
``../shared/corpus`` (CI always has it; a user's own clone may not).

With ``HUDANG_TEST_POSTGRES=1`` every catalogue of the run is on a throw-away PostgreSQL
cluster instead of a SQLite file in its data home (tests/pg_support.py says how); tests
need not say so.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import pg_support

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


@pytest.fixture(scope="session", autouse=True)
def postgres_cluster():
    """On PostgreSQL: this test process's cluster, every data home's catalogue on it."""
    if not pg_support.enabled():
        yield None
        return
    cluster = pg_support.Cluster.start()
    patch = pytest.MonkeyPatch()
    patch.setenv(pg_support.SOCKET, cluster.socket_dir)
    for name, value in pg_support.subprocess_environment().items():
        patch.setenv(name, value)
    pg_support.install()
    try:
        yield cluster
    finally:
        patch.undo()
        cluster.stop()


@pytest.fixture(scope="module", autouse=True)
def _drop_module_catalogues(postgres_cluster):
    """On PostgreSQL: the databases a module's tests made are dropped after it (disk)."""
    if postgres_cluster is None:
        yield
        return
    before = postgres_cluster.databases()
    yield
    postgres_cluster.drop(postgres_cluster.databases() - before)


def catalogue_url(home: Path) -> str:
    """The catalogue URL of the data home ``home``, ignoring the developer's environment:
    its SQLite file, or its database on the test run's PostgreSQL cluster."""
    from ingest.settings import Settings

    return Settings.load({}, overrides={"HUDANG_HOME": home}).catalogue_url


def copy_home(source: Path, dest: Path) -> None:
    """A private copy of the data home ``source`` at ``dest`` (the same key), its catalogue
    included wherever it is (the SQLite file in the home, or a database of its own)."""
    import shutil

    shutil.copytree(source, dest)
    if pg_support.enabled():
        pg_support.copy_catalogue(source, dest)


def catalogue_sql(home: Path, sql: str, params: dict | None = None) -> list[tuple]:
    """Run one SQL statement (named parameters, ``:name``) on the catalogue of the data home
    ``home`` in a transaction of its own, on SQLite or PostgreSQL alike, as an outsider with
    database access would; the rows it returns, if any."""
    from sqlalchemy import create_engine, text

    engine = create_engine(catalogue_url(home))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params or {})
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


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
    """A catalogue (a SQLite file, or a PostgreSQL database), its schema built by the
    migrations."""
    from records import db

    e = db.make_engine(catalogue_url(tmp_path))
    db.upgrade(e)
    yield e
    e.dispose()
