"""``hudang backup DEST`` and ``hudang restore SRC``.

A backup is a folder::

    hudang-backup.json     what it is: when, of which key (fingerprint only), how much
    catalogue.sqlite       the catalogue, a consistent snapshot (or catalogue.pgdump)
    blobs/                 the blob files as they are, still encrypted, and the store marker
    audit-chain.json       where the audit log was keyed (if the home has it)

It never holds the master key, nor anything in the clear: the catalogue holds no page
text and no ID number in the clear (see ``records.model``), the blobs are encrypted, and
the search index is left out (it is rebuilt on restore). Keep the key apart from it
(``hudang key export``).

Consistent while the server serves and an ingest runs: the catalogue is snapshotted first
(SQLite's online backup API, one read transaction; on PostgreSQL ``pg_dump`` on an
exported snapshot), then exactly the blobs that snapshot refers to are copied. A writer
stores its blobs before it commits its rows, so every blob the snapshot refers to is on
disk already; only a blob retired after the snapshot (a re-OCR replacing a page's text)
can vanish before it is copied, and then the snapshot is taken again.

A second backup to the same folder copies only the blobs it lacks (a blob never changes
under its ref) and replaces the catalogue snapshot last, so the folder holds a complete
backup at every moment; it removes blobs the catalogue no longer refers to only when
asked (``--prune``).
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.engine import Engine

from ingest.archive import AUDIT_WITNESS, Archive, inside, open_master_key, running_rotation
from ingest.indexing import reindex
from ingest.recovery import live_refs
from ingest.shredding import REGISTER, copy_paths, reapply_destructions, register_path
from ingest.settings import Settings
from records import audit
from records.clock import utcnow
from records.model import Document, Page
from storage import KeyFiles, StorageError

Progress = Callable[[int], None]

MANIFEST = "hudang-backup.json"
SQLITE_SNAPSHOT = "catalogue.sqlite"
PG_SNAPSHOT = "catalogue.pgdump"
MARKER = "hudang-blobstore.json"
_ATTEMPTS = 5


class BackupError(Exception):
    """A backup or restore cannot be made; the sentence says why and what to do."""


@dataclass
class BackupResult:
    dest: Path
    blobs: int  # blobs the catalogue snapshot refers to
    copied: int  # of which copied this time
    removed: int  # blobs removed from the backup (--prune)
    documents: int


@dataclass
class RestoreResult:
    home: Path
    documents: int
    pages: int
    audit_events: int
    made_at: str
    destroyed_again: int = 0  # dossiers the destruction register destroyed again


# -- backup ------------------------------------------------------------------------------
def backup(archive: Archive, dest: Path, *, actor: str, prune: bool = False,
           progress: Progress | None = None,
           on_total: Callable[[int], None] | None = None) -> BackupResult:
    settings = archive.settings
    dest = Path(dest).expanduser().absolute()
    if inside(dest, settings.home) or inside(settings.home, dest):
        raise BackupError(f"the backup folder '{dest}' must lie outside the data home "
                          f"'{settings.home}'")
    if running_rotation(archive.engine) is not None:
        raise BackupError("a key rotation is in progress; finish it with 'hudang key rotate' "
                          "before making a backup")
    _prepare_dest(dest)
    (dest / "blobs").mkdir(mode=0o700, exist_ok=True)
    postgres = not settings.catalogue_url.startswith("sqlite")
    snapshot = dest / (PG_SNAPSHOT if postgres else SQLITE_SNAPSHOT)
    partial = snapshot.with_name("." + snapshot.name + ".part")
    for _attempt in range(_ATTEMPTS):
        refs = (_snapshot_postgres if postgres else _snapshot_sqlite)(archive, partial)
        if on_total:
            on_total(len(refs))
        copied, vanished = _copy_blobs(archive.blobs.root, dest / "blobs", refs, progress)
        if not vanished:
            break
        # a blob retired after the snapshot (a re-OCR): the next snapshot no longer needs it
    else:
        partial.unlink(missing_ok=True)
        raise BackupError(f"blobs kept vanishing while they were copied ({len(vanished)} the "
                          "last time): is the blob store being changed by hand? Try again")
    _copy_file(archive.blobs.root / MARKER, dest / "blobs" / MARKER)
    if (settings.home / AUDIT_WITNESS).exists():
        _copy_file(settings.home / AUDIT_WITNESS, dest / AUDIT_WITNESS)
    if register_path(archive).exists():  # the destructions up to now (sealed, keyed)
        _copy_file(register_path(archive), dest / REGISTER)
    os.replace(partial, snapshot)  # last: the folder holds a whole backup at every moment
    removed = _prune(dest / "blobs", refs) if prune else 0
    documents = _count_documents(archive)
    manifest = {"format": "hudang-backup", "version": 1, "made_at": utcnow().isoformat(),
                "key_fingerprint": archive.master.fingerprint(),
                "database": "postgresql" if postgres else "sqlite",
                "catalogue": snapshot.name, "blobs": len(refs)}
    _write_atomically(dest / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    archive.record(audit.Event(actor=actor, action="backup", detail={
        "dest": str(dest), "blobs": len(refs), "copied": copied, "removed": removed}))
    return BackupResult(dest, len(refs), copied, removed, documents)


def _prepare_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"'{dest}' exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MANIFEST).exists():
        raise BackupError(f"'{dest}' is not empty and holds no hudang backup; choose an empty "
                          "folder or an earlier backup of this archive")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)


def _snapshot_sqlite(archive: Archive, out: Path) -> set[str]:
    """SQLite's online backup API, in one step: one read transaction, so the copy is the
    catalogue as it stood at one moment, while writers go on (WAL)."""
    out.unlink(missing_ok=True)
    source = sqlite3.connect(make_url(archive.settings.catalogue_url).database, timeout=30)
    target = sqlite3.connect(out)
    try:
        source.backup(target)  # pages=-1: everything in one step
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        target.close()
        source.close()
    snapshot = create_engine(f"sqlite:///{out}")
    try:
        with snapshot.connect() as conn:
            refs = {ref for (ref,) in conn.execute(live_refs())}
    finally:
        snapshot.dispose()
    os.chmod(out, 0o600)
    return refs


def _snapshot_postgres(archive: Archive, out: Path) -> set[str]:
    """``pg_dump`` of an exported snapshot, and the refs read in that same snapshot."""
    if shutil.which("pg_dump") is None:
        raise BackupError("'pg_dump' is not installed; install the PostgreSQL client tools")
    url = make_url(archive.settings.catalogue_url)
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    engine: Engine = archive.engine
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
            conn.begin():
        snap = conn.scalar(text("SELECT pg_export_snapshot()"))
        refs = {ref for (ref,) in conn.execute(live_refs())}
        done = subprocess.run(["pg_dump", "--format=custom", f"--snapshot={snap}",
                               "--file", str(out), "--dbname", dsn],
                              env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip().splitlines()[-1:] or ''}")
    os.chmod(out, 0o600)
    return refs


def _copy_blobs(source: Path, target: Path, refs: set[str],
                progress: Progress | None) -> tuple[int, list[str]]:
    """Copy the blob files ``target`` lacks; returns (copied, refs missing at the source)."""
    copied, vanished = 0, []
    for ref in sorted(refs):
        rel = Path(ref[:2], ref[2:4], ref)
        if not (target / rel).is_file():
            try:
                _copy_file(source / rel, target / rel)
            except FileNotFoundError:
                vanished.append(ref)
                continue
            copied += 1
        if progress:
            progress(1)
    return copied, vanished


def _copy_file(src: Path, dst: Path) -> None:
    """Copy through a private temp file and rename: a file appears whole or not at all."""
    _private_dirs(dst.parent)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".tmp-", suffix=".part")
    try:
        with open(src, "rb") as f, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _private_dirs(folder: Path) -> None:
    """Make ``folder`` and any missing parents, each private (0700)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for level in reversed(missing):
        level.mkdir(mode=0o700, exist_ok=True)


def _prune(blob_dir: Path, refs: set[str]) -> int:
    removed = 0
    for path in blob_dir.glob("??/??/*"):
        if path.is_file() and len(path.name) == 32 and path.name not in refs:
            path.unlink()
            removed += 1
    return removed


def _write_atomically(path: Path, content: str) -> None:
    tmp = path.with_name("." + path.name + ".part")
    tmp.write_text(content, "utf-8")
    os.replace(tmp, path)


def _count_documents(archive: Archive) -> int:
    with archive.Session() as s:
        return s.scalar(select(func.count(Document.id)))


# -- restore -------------------------------------------------------------------------------
def read_manifest(src: Path) -> dict:
    try:
        manifest = json.loads((src / MANIFEST).read_text("utf-8"))
        if manifest.get("format") != "hudang-backup":
            raise ValueError
    except FileNotFoundError:
        raise BackupError(f"'{src}' is not a hudang backup (it has no {MANIFEST})") from None
    except (OSError, ValueError):
        raise BackupError(f"the backup description '{src / MANIFEST}' is unreadable") from None
    return manifest


def restore(settings: Settings, src: Path, *, progress: Progress | None = None,
            on_total: Callable[[int], None] | None = None) -> tuple[Archive, RestoreResult]:
    """Restore the backup at ``src`` into the (empty or absent) data home of ``settings``;
    the index is rebuilt. Returns the opened archive."""
    src = Path(src).expanduser().absolute()
    manifest = read_manifest(src)
    home = settings.home
    if home.exists() and any(home.iterdir()):
        raise BackupError(f"the data home '{home}' is not empty; restore into an empty or new "
                          "folder (--home)")
    _check_key(settings, manifest)
    if manifest["database"] != ("sqlite" if settings.catalogue_url.startswith("sqlite")
                                else "postgresql"):
        raise BackupError(f"the backup holds a {manifest['database']} catalogue; restore it "
                          "into a data home on the same kind of database")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    refs = [p for p in (src / "blobs").glob("??/??/*") if p.is_file()]
    if on_total:
        on_total(len(refs))
    for path in refs:
        _copy_file(path, settings.blob_dir / path.relative_to(src / "blobs"))
        if progress:
            progress(1)
    _copy_file(src / "blobs" / MARKER, settings.blob_dir / MARKER)
    os.chmod(settings.blob_dir, 0o700)
    if (src / AUDIT_WITNESS).exists():
        _copy_file(src / AUDIT_WITNESS, home / AUDIT_WITNESS)
    if manifest["database"] == "sqlite":
        _copy_file(src / manifest["catalogue"], home / SQLITE_SNAPSHOT)
        os.chmod(home / SQLITE_SNAPSHOT, 0o600)
    else:
        _pg_restore(settings, src / manifest["catalogue"])
    archive = Archive.open(settings)
    # what was destroyed after the backup was made stays destroyed: the register beside the
    # backup, the home's and its copies outside the home (HUDANG_REGISTER_COPIES) are re-applied
    registers = [p for p in (src / REGISTER, *copy_paths(archive, every_key=True)) if p.exists()]
    reapplied = reapply_destructions(archive, registers) if registers else None
    reindex(archive)
    with archive.Session() as s:
        documents = s.scalar(select(func.count(Document.id)))
        pages = s.scalar(select(func.count(Page.id)))
    result = archive.verify_audit()
    return archive, RestoreResult(home, documents, pages, result.events, manifest["made_at"],
                                  len(reapplied.dossiers) if reapplied else 0)


def _check_key(settings: Settings, manifest: dict) -> None:
    try:
        master = open_master_key(settings)
    except StorageError as exc:
        raise BackupError(f"{exc} (restoring needs the archive's master key: 'hudang key "
                          "import' it first)") from None
    wanted = manifest["key_fingerprint"]
    known = {master.fingerprint()}
    if not settings.master_key:
        known |= {k.fingerprint() for k in KeyFiles(settings.master_key_file).retired_keys()}
    if wanted not in known:
        raise BackupError(f"the backup was made under master key {wanted}, and the key in "
                          f"{master.source} is {master.fingerprint()}: import the backup's key "
                          "first ('hudang key import')")


def _pg_restore(settings: Settings, dump: Path) -> None:
    if shutil.which("pg_restore") is None:
        raise BackupError("'pg_restore' is not installed; install the PostgreSQL client tools")
    url = make_url(settings.catalogue_url)
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    done = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", dsn,
                           str(dump)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError("pg_restore failed (the database must be empty): "
                          f"{done.stderr.strip().splitlines()[-1:] or ''}")


__all__ = ["BackupError", "BackupResult", "RestoreResult", "backup", "read_manifest", "restore"]
