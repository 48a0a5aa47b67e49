"""The catalogue on a database server: the URL a person writes, the one sentence when the
server is down, refuses the login or needs a driver that is not installed, and the audit
chain with several processes appending at once.

The chain test runs on whichever catalogue the suite runs on: SQLite by default, the test
run's PostgreSQL cluster with ``HUDANG_TEST_POSTGRES=1`` (``.ci/run`` does both). The
refused-login case needs a PostgreSQL server: the run's own, or one started here when
PostgreSQL is installed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pg_support
from records import audit, db

HUDANG = str(Path(sys.executable).with_name("hudang"))
PASSWORD = "s3cret-Pa55"  # never in any message


def hudang(env, *args, timeout=120):
    return subprocess.run([HUDANG, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def one_sentence(proc) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert PASSWORD not in proc.stderr + proc.stdout
    return lines[0]


@pytest.fixture
def env(tmp_path):
    e = {**os.environ, "HUDANG_HOME": str(tmp_path / "home"),
         "HUDANG_MASTER_KEY_FILE": str(tmp_path / "keys" / "master.key")}
    for name in ("HUDANG_MASTER_KEY", "HUDANG_DATABASE_URL", "HUDANG_CONFIG"):
        e.pop(name, None)
    return e


@pytest.fixture(scope="module")
def server(postgres_cluster):
    """A running PostgreSQL cluster's socket directory: the run's, or a throw-away one."""
    if postgres_cluster is not None:
        yield postgres_cluster.socket_dir
        return
    if not pg_support.available():
        pytest.skip("PostgreSQL is not installed (HUDANG_TEST_POSTGRES=1 make test installs it)")
    cluster = pg_support.Cluster.start()
    try:
        yield cluster.socket_dir
    finally:
        cluster.stop()


# -- the URL ------------------------------------------------------------------------------
def test_a_bare_postgresql_url_means_the_driver_hudang_installs():
    for written in ("postgresql://hudang:pw@db.county/hudang", "postgres://hudang:pw@db/hudang"):
        assert db.normalise_url(written).drivername == "postgresql+psycopg"
    assert db.normalise_url("postgresql+psycopg://h@db/x").drivername == "postgresql+psycopg"
    assert db.normalise_url("sqlite:////tmp/c.sqlite").drivername == "sqlite"


def test_the_migrations_build_exactly_the_models_on_postgresql(server, monkeypatch, tmp_path):
    # test_records checks the same on the suite's catalogue (SQLite, or PostgreSQL in that
    # mode); this one checks PostgreSQL in every run where it is installed
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from records.model import Base

    monkeypatch.setenv(pg_support.SOCKET, server)
    engine = db.make_engine(pg_support.home_url(tmp_path / "home"))
    try:
        db.upgrade(engine)
        assert engine.dialect.name == "postgresql"
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()


# -- three ways a database cannot be used, on the command line and at the web app's start ---
UNREACHABLE = f"postgresql://hudang:{PASSWORD}@127.0.0.1:1/county_catalogue"
NO_DRIVER = f"postgresql+pg8000://hudang:{PASSWORD}@db.county.example/county_catalogue"


def init_on(env, url: str, code: int) -> str:
    """``hudang init`` with HUDANG_DATABASE_URL=url: exits ``code``; its one sentence."""
    env["HUDANG_DATABASE_URL"] = url
    proc = hudang(env, "init")
    assert proc.returncode == code, proc.stderr
    return one_sentence(proc)


def test_an_unreachable_server_is_one_sentence_naming_host_and_database(env):
    line = init_on(env, UNREACHABLE, 69)  # unavailable
    assert "'county_catalogue' on 127.0.0.1:1 cannot be reached" in line


def test_a_driver_that_is_not_installed_is_one_sentence(env):
    line = init_on(env, NO_DRIVER, 78)  # config
    assert "'county_catalogue' on db.county.example" in line
    assert "driver 'postgresql+pg8000' is not installed" in line


def test_a_refused_login_is_one_sentence(env, server):
    line = init_on(env, f"postgresql://nobody:{PASSWORD}@/county_catalogue?host={server}", 78)
    assert f"'county_catalogue' on {server} refuses the connection" in line
    assert "nobody" in line  # the server's own reason: the role does not exist


@pytest.mark.parametrize("url, code", [(UNREACHABLE, 69), (NO_DRIVER, 78)],
                         ids=["unreachable", "no-driver"])
def test_an_existing_home_whose_database_cannot_be_used(env, url, code):
    # the home was set up; later its database setting points at a server that cannot serve
    assert hudang(env, "init").returncode == 0
    env["HUDANG_DATABASE_URL"] = url
    for args in (("region", "show"), ("serve", "--port", "1")):
        proc = hudang(env, *args)
        assert proc.returncode == code, (args, proc.stderr)
        assert "'county_catalogue' on " in one_sentence(proc)


def test_the_web_app_does_not_start_on_a_database_it_cannot_reach(env, monkeypatch):
    from web.app import create_app
    from web.errors import ExitCode, binding_for

    assert hudang(env, "init").returncode == 0
    for name in ("HUDANG_HOME", "HUDANG_MASTER_KEY_FILE"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("HUDANG_DATABASE_URL", UNREACHABLE)
    with pytest.raises(db.CatalogueUnavailable) as raised:
        create_app()
    assert PASSWORD not in str(raised.value)
    assert binding_for(raised.value).exit_code == ExitCode.unavailable


# -- the audit chain with four processes appending at once ---------------------------------
WRITER = """
import sys, time
from pathlib import Path
from ingest.archive import Archive, Settings
from records import audit

home, key_file, go, count, actor = sys.argv[1:6]
archive = Archive.open(Settings.from_env(home, key_file), actor=actor)
while not Path(go).exists():
    time.sleep(0.005)
for i in range(int(count)):
    archive.record(audit.Event(actor=actor, action="read_page", object_type="document",
                               object_id=str(i), page=1, purpose="审核"))
archive.close()
"""


def test_the_audit_chain_stays_one_chain_with_four_processes_appending_at_once(env, tmp_path):
    from ingest.archive import Archive, Settings

    assert hudang(env, "init").returncode == 0
    assert hudang(env, "region", "add", "220381", "示范县").returncode == 0
    settings = Settings.load(env)
    archive = Archive.open(settings)
    try:
        before = audit.verify(archive.engine, archive.chain_keys())
        assert before.ok
        go = tmp_path / "go"
        writers = [subprocess.Popen(
            [sys.executable, "-c", WRITER, env["HUDANG_HOME"], env["HUDANG_MASTER_KEY_FILE"],
             str(go), "200", f"writer-{n}"], env=env, stderr=subprocess.PIPE, text=True)
            for n in range(4)]
        time.sleep(0.5)  # let them open the archive, then start them together
        go.touch()
        for writer in writers:
            _, err = writer.communicate(timeout=600)
            assert writer.returncode == 0, err
        after = audit.verify(archive.engine, archive.chain_keys())
        assert after.ok, after.reason
        assert after.events == before.events + 800
        from sqlalchemy import func, select

        from records.model import AuditEvent
        with archive.Session() as s:
            per_writer = dict(s.execute(
                select(AuditEvent.actor, func.count()).where(AuditEvent.actor.like("writer-%"))
                .group_by(AuditEvent.actor)).all())
        assert per_writer == {f"writer-{n}": 200 for n in range(4)}
    finally:
        archive.close()
    verified = hudang(env, "audit", "verify")
    assert verified.returncode == 0, verified.stderr


# -- the suite's own switch ------------------------------------------------------------------
@pytest.mark.skipif(not pg_support.enabled(), reason="the suite runs on SQLite")
def test_in_postgresql_mode_every_home_s_catalogue_is_on_postgresql(env, tmp_path):
    from conftest import make_archive

    archive = make_archive(tmp_path / "in-process")
    try:
        assert archive.engine.dialect.name == "postgresql"
    finally:
        archive.close()
    assert hudang(env, "init").returncode == 0  # a subprocess, told nothing about it
    assert not (Path(env["HUDANG_HOME"]) / "catalogue.sqlite").exists()
    assert hudang(env, "region", "add", "220381", "示范县").returncode == 0
    listed = hudang(env, "region", "show")
    assert listed.returncode == 0 and "示范县" in listed.stdout
