"""The catalogue database: engine, sessions and schema migrations.

The embedded default is a SQLite file in WAL mode; ``HUDANG_DATABASE_URL``
points the same code at PostgreSQL. The schema is always built by the
Alembic migrations, never by ``create_all``.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, exc, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# The PostgreSQL driver hudang declares (psycopg 3). SQLAlchemy reads a bare
# ``postgresql://`` as psycopg2, which hudang does not install.
POSTGRES_DRIVER = "postgresql+psycopg"


class CatalogueUnavailable(Exception):
    """The catalogue's database server cannot be reached (down, wrong host or port)."""


class CatalogueRefused(Exception):
    """The catalogue's database cannot be used as configured: the server refuses the login,
    the database does not exist, or the URL names a driver that is not installed."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def normalise_url(url: str) -> URL:
    """``url`` with a bare ``postgresql://`` (or ``postgres://``) read as psycopg 3."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise CatalogueRefused("HUDANG_DATABASE_URL is not a database URL "
                               "(e.g. postgresql://user:password@host/database)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername=POSTGRES_DRIVER)
    return parsed


def describe(url: URL) -> str:
    """The database of ``url`` as a person names it: never its password."""
    if url.get_backend_name() == "sqlite":
        return f"the SQLite catalogue '{url.database}'"
    host = url.host or url.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    where = f"{host}:{url.port}" if url.port else host
    return f"the database '{url.database or ''}' on {where}"


def make_engine(url: str) -> Engine:
    """An engine on ``url``; a server database is connected to once here, so that a
    server that is down, a login refused or a driver missing is one sentence
    (:class:`CatalogueUnavailable`, :class:`CatalogueRefused`) before any work starts."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})
        _tune_sqlite(engine)
        return engine
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (ImportError, exc.NoSuchModuleError):
        raise CatalogueRefused(f"{describe(parsed)} cannot be used: its driver "
                               f"'{parsed.drivername}' is not installed (hudang installs "
                               f"psycopg 3: write the URL as postgresql://...)") from None
    try:
        with engine.connect():
            pass
    except exc.OperationalError as error:
        engine.dispose()
        raise _connect_error(parsed, error) from None
    return engine


_REFUSALS = ("authentication failed", "does not exist", "pg_hba.conf",
             "password is required", "permission denied")


def _connect_error(url: URL, error: exc.OperationalError) -> Exception:
    code = getattr(error.orig, "sqlstate", None) or ""
    # libpq's first line says why (never the password); the rest is hints
    reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else ""
    reason = reason.split(": FATAL:  ", 1)[-1].split("failed: ", 1)[-1].strip()
    # a login refused or a database missing: SQLSTATE 28xxx or 3D000 when the driver has
    # it; libpq's connection errors carry only the server's message
    refused = code.startswith("28") or code == "3D000" or any(
        words in reason for words in _REFUSALS)
    if refused:
        return CatalogueRefused(f"{describe(url)} refuses the connection: {reason}")
    return CatalogueUnavailable(f"{describe(url)} cannot be reached: {reason}")


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        # let SQLAlchemy, not pysqlite, emit BEGIN (so we can ask for IMMEDIATE)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        # freed content is zeroed: a destroyed document's overwritten data keys do not linger
        # in the file's free space (ingest.shredding)
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover
        # A writer that must read-then-write (the audit chain) takes the write
        # lock up front; a deferred transaction would fail with SQLITE_BUSY
        # instead of waiting when another writer got in between.
        if conn.get_execution_options().get("hudang_immediate"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # Batch mode rebuilds a SQLite table (copy, drop, rename). With foreign keys on,
            # dropping a table that other rows point at fails (or nulls them, ON DELETE SET
            # NULL), so migrations run with them off, and are checked before the commit.
            # The pragma only takes outside a transaction: said on the driver's connection.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"a migration left rows pointing nowhere: "
                                           f"{broken[:5]}")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
