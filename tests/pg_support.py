"""The suite on PostgreSQL: ``HUDANG_TEST_POSTGRES=1 make test``.

Each test process (each pytest-xdist worker) starts a throw-away PostgreSQL cluster of its
own in a temporary directory (initdb, pg_ctl; no TCP port, a unix socket in that
directory, no fsync), and stops and deletes it at the end. PostgreSQL refuses to run as
root, so when the suite runs as root (CI) the cluster runs as the ``postgres`` user that
Debian's package creates.

Every data home gets a database of its own on that cluster, named after the home's path,
created when a process first asks for the home's catalogue: :func:`install` makes
``Settings.catalogue_url`` answer that database's URL where it would have answered the
SQLite file in the home. So however a test builds a home (``make_archive``,
``Settings.from_env``, a ``hudang init`` subprocess, an archive built once per module), its
catalogue is on PostgreSQL without the test saying so, and two homes in one test have two
catalogues, as on SQLite. Subprocesses do the same through ``tests/postgres_site``
(a ``sitecustomize`` module on their ``PYTHONPATH``). A URL given explicitly
(``HUDANG_DATABASE_URL``) is used as given.
"""
from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ENABLE = "HUDANG_TEST_POSTGRES"  # 1: the suite runs on PostgreSQL
SOCKET = "HUDANG_TEST_POSTGRES_SOCKET"  # set by the suite: the running cluster's socket dir
SITE_DIR = Path(__file__).resolve().parent / "postgres_site"
SUPERUSER = "postgres"


def enabled() -> bool:
    return os.environ.get(ENABLE, "") not in ("", "0")


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: int(Path(p).parent.name))
    for folder in reversed(versions):
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian: apt-get install "
                       "postgresql; `make test` does it when HUDANG_TEST_POSTGRES=1)")


def available() -> bool:
    try:
        _bin("initdb")
    except RuntimeError:
        return False
    return True


class Cluster:
    """One throw-away cluster, listening only on a unix socket in its directory."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.socket_dir = str(root)

    @classmethod
    def start(cls) -> Cluster:
        root = Path(tempfile.mkdtemp(prefix="hudang-pg-"))  # short: a socket path is < 108
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(root, SUPERUSER, SUPERUSER)
        cluster = cls(root)
        cluster._run(_bin("initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
                     "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
        options = " ".join((
            "-k", str(root), "-c", "listen_addresses=''", "-c", "fsync=off",
            "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
            "-c", "max_connections=400", "-c", "shared_buffers=32MB"))
        cluster._run(_bin("pg_ctl"), "-D", str(cluster.data), "-l", str(root / "server.log"),
                     "-w", "-t", "60", "-o", options, "start")
        return cluster

    def _run(self, *argv: str) -> None:
        if os.geteuid() == 0:
            argv = ("runuser", "-u", SUPERUSER, "--", *argv)
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=self.root)
        if proc.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()} "
                               f"{log.read_text() if log.exists() else ''}")

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def databases(self) -> set[str]:
        with _admin(self.socket_dir) as conn:
            return {r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'h\\_%'")}

    def drop(self, names: set[str]) -> None:
        with _admin(self.socket_dir) as conn:
            for name in sorted(names):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(socket_dir: str):
    import psycopg

    return psycopg.connect(host=socket_dir, dbname="postgres", user=SUPERUSER,
                           autocommit=True)


def database_name(home: Path | str) -> str:
    digest = hashlib.sha256(os.path.realpath(os.fspath(home)).encode()).hexdigest()
    return f"h_{digest[:32]}"


def url(socket_dir: str, database: str) -> str:
    return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={socket_dir}"


_created: set[str] = set()


def home_url(home: Path | str) -> str:
    """The URL of ``home``'s catalogue on the running cluster, creating the database on
    first use (by whichever process asks first)."""
    from psycopg import errors

    socket_dir = os.environ[SOCKET]
    name = database_name(home)
    if name not in _created:
        with _admin(socket_dir) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (name,)).fetchone()
            if not exists:
                try:
                    # template0 takes no connections, so concurrent copies of it never clash
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
                except (errors.DuplicateDatabase, errors.UniqueViolation):
                    pass  # another process of the same test made it just now
        _created.add(name)
    return url(socket_dir, name)


def copy_catalogue(source: Path | str, dest: Path | str) -> None:
    """Give the data home ``dest`` a copy of the catalogue of ``source`` (a test's private
    copy of a home built once per module). The source's connections are ended first, as
    PostgreSQL copies only a database nobody is connected to; the engines of this suite
    reconnect (``pool_pre_ping``)."""
    from psycopg import errors

    socket_dir = os.environ[SOCKET]
    old, new = database_name(source), database_name(dest)
    with _admin(socket_dir) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{new}" WITH (FORCE)')
        for attempt in range(50):
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (old,))
            try:
                conn.execute(f'CREATE DATABASE "{new}" TEMPLATE "{old}"')
                break
            except errors.ObjectInUse:  # a connection came back in between
                time.sleep(0.05 * (attempt + 1))
        else:
            raise RuntimeError(f"cannot copy the catalogue of {source}: it stays in use")
    _created.add(new)


def install() -> None:
    """Put the catalogue of every data home this process opens on the running cluster."""
    from ingest.settings import Settings

    if getattr(Settings, "_postgres_test_cluster", False):
        return

    def catalogue_url(self) -> str:
        return self.database_url or home_url(self.home)

    Settings.catalogue_url = property(catalogue_url)
    Settings._postgres_test_cluster = True


def subprocess_environment() -> dict[str, str]:
    """What the suite adds to its own environment, so that every subprocess (``hudang``
    commands, servers) does the same as the test process."""
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(SITE_DIR), path) if p)}
