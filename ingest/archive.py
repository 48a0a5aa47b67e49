"""The archive: one data home holding the catalogue, the blob store and the index.

``Archive`` is the service object that the CLI and the web app both build:
it owns the database engine, the encrypted blob store and the search index
of one data home, and the master key that opens them. It lives in
``ingest/`` because it is where ``records``, ``storage`` and ``search`` meet.

Layout of a data home (``HUDANG_HOME``, default ``./hudang-data``)::

    catalogue.sqlite   the catalogue (unless HUDANG_DATABASE_URL points elsewhere)
    blobs/             encrypted blobs: archival PDFs, access images, page texts
    index/             the Whoosh index (a cache: ``hudang reindex`` rebuilds it)
    journal/           the crash journal: one record per write in flight (ingest.journal)
    tmp/               work space of running ingests

Opening an archive finishes or rolls back what a killed process left half-written
(:mod:`ingest.recovery`); the report is :attr:`Archive.recovered`.

The master key is never inside the home (default ``~/.config/hudang/master.key``).
Where everything is comes from the one settings object (``ingest.settings``).
"""
from __future__ import annotations

import copy
import getpass
import os
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from records import audit, db
from records.model import Household
from ingest.exceptions import full_disk_as
from ingest.journal import keep_reserve
from ingest.recovery import RecoveryReport, recover
from ingest.settings import Settings
from records import door
from search import SearchIndex
from storage import (BlobStore, KeyPurpose, MasterKey, StorageError, blind_index, open_field,
                     seal_field)

class ArchiveError(Exception):
    """The data home or its key cannot be used; the message says what to do."""


def console_user() -> str:
    """The operating-system user, under whose name CLI reads are recorded."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


class Archive:
    """An opened data home. Build with :meth:`init` or :meth:`open`."""

    def __init__(self, settings: Settings, master: MasterKey, engine: Engine,
                 blobs: BlobStore, index: SearchIndex):
        self.settings = settings
        self.master = master
        self.engine = engine
        self.Session: sessionmaker[Session] = db.session_factory(engine)
        self.blobs = blobs
        self.index = index
        # sub-keys for the head's ID number: one seals it, one makes the blind index
        self._id_seal_key = master.derive(KeyPurpose.id_number_seal)
        self._id_index_key = master.derive(KeyPurpose.id_number_index)
        self.recovered = RecoveryReport()  # what opening it finished or rolled back

    # -- lifecycle -----------------------------------------------------------
    @classmethod
    def init(cls, settings: Settings) -> Archive:
        home, key_file = settings.home, settings.master_key_file
        if _inside(key_file, home):
            raise ArchiveError(f"the master key file '{key_file}' must not lie inside the "
                               f"data home '{home}'; choose another place with HUDANG_MASTER_KEY_FILE")
        if settings.blob_dir.exists():
            raise ArchiveError(f"'{home}' already holds an archive")
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        try:
            if settings.master_key or key_file.exists():
                master = open_master_key(settings)
            else:
                master = MasterKey.create_file(key_file)
        except StorageError as exc:
            raise ArchiveError(str(exc)) from None
        engine = db.make_engine(settings.catalogue_url)
        db.upgrade(engine)
        blobs = BlobStore.create(settings.blob_dir, master)
        index = SearchIndex.open_or_create(settings.index_dir)
        settings.tmp_dir.mkdir(exist_ok=True)
        keep_reserve(settings.journal_dir)
        return cls(settings, master, engine, blobs, index)

    @classmethod
    def open(cls, settings: Settings, *, actor: str | None = None) -> Archive:
        """Open a data home and recover what a killed process left in it (as ``actor``,
        default the operating-system user, in the audit log)."""
        with full_disk_as("open the archive", settings.home):
            return cls._open(settings, actor or console_user())

    @classmethod
    def _open(cls, settings: Settings, actor: str) -> Archive:
        if not settings.blob_dir.is_dir():
            raise ArchiveError(f"there is no archive at '{settings.home}'; run 'hudang init' "
                               "(or set HUDANG_HOME)")
        try:
            master = open_master_key(settings)
            blobs = BlobStore.open(settings.blob_dir, master)
        except StorageError as exc:
            raise ArchiveError(str(exc)) from None
        engine = db.make_engine(settings.catalogue_url)
        if not db.is_initialised(engine):
            raise ArchiveError(f"the catalogue at {engine.url.render_as_string()} has no schema; "
                               "run 'hudang init'")
        db.upgrade(engine)
        index = SearchIndex.open_or_create(settings.index_dir)
        settings.tmp_dir.mkdir(exist_ok=True)
        archive = cls(settings, master, engine, blobs, index)
        archive.recover(actor)
        keep_reserve(settings.journal_dir)  # room for undoing a write on a full disk
        return archive

    def recover(self, actor: str) -> RecoveryReport:
        """Finish or roll back the writes of processes that died (``hudang recover``)."""
        report = recover(self, actor)
        self.recovered = self.recovered.merge(report)
        return report

    def reconfigured(self, settings: Settings) -> Archive:
        """The same opened archive under other settings (a test's, or one app's of several);
        the catalogue, blobs and index are shared, so close only the original."""
        other = copy.copy(self)
        other.settings = settings
        return other

    def close(self) -> None:
        self.index.close()
        self.engine.dispose()

    # -- the head's ID number ------------------------------------------------
    def seal_id_number(self, value: str) -> tuple[bytes, str]:
        from records.idnumbers import normalise

        v = normalise(value)
        return seal_field(self._id_seal_key, v), blind_index(self._id_index_key, v)

    def id_index(self, value: str) -> str:
        from records.idnumbers import normalise

        return blind_index(self._id_index_key, normalise(value))

    def certificate_index(self, number: str) -> str:
        """Blind index of an allowance-certificate number (低保证号)."""
        return blind_index(self.master.derive(KeyPurpose.certificate_index), number)

    def reveal_id_number(self, household: Household) -> str | None:
        if household.head_id_sealed is None:
            return None
        return open_field(self._id_seal_key, household.head_id_sealed)

    # -- audit and the door ------------------------------------------------------
    def record(self, event: audit.Event) -> int:
        return audit.record(self.engine, event)

    def admit(self, knock: door.Knock) -> None:
        """The one door (:mod:`records.door`): pass, or record the refusal and raise."""
        door.admit(knock, self.record)


def open_master_key(settings: Settings) -> MasterKey:
    """The master key the settings name: ``HUDANG_MASTER_KEY`` if set, else the key file."""
    if settings.master_key:
        return MasterKey.from_text(settings.master_key, "the HUDANG_MASTER_KEY environment variable")
    return MasterKey.load(settings.master_key_file)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
