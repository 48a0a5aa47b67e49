"""The archive: one data home holding the catalogue, the blob store and the index.

``Archive`` is the service object that the CLI and the web app both build:
it owns the database engine, the encrypted blob store and the search index
of one data home, and the master key that opens them. It lives in
``ingest/`` because it is where ``records``, ``storage`` and ``search`` meet.

Layout of a data home (``HUDANG_HOME``, default ``./hudang-data``)::

    catalogue.sqlite   the catalogue (unless HUDANG_DATABASE_URL points elsewhere)
    blobs/             encrypted blobs: archival PDFs, access images, page texts
    index/             the Whoosh index, every file sealed with its own data key (a cache:
                       ``hudang reindex`` rebuilds it)
    journal/           the crash journal: one record per write in flight (ingest.journal)
    tmp/               work space of running ingests

Opening an archive finishes or rolls back what a killed process left half-written
(:mod:`ingest.recovery`); the report is :attr:`Archive.recovered`.

The master key is never inside the home (default ``~/.config/hudang/master.key``).
Where everything is comes from the one settings object (``ingest.settings``).

Keys: the archive holds a :class:`storage.KeyRing`, the master key that wraps and derives
from now on, plus the keys it may still need to open what they made: during a key
rotation (``ingest.keyrotation``) the old and the new key, afterwards any retired key kept
beside the key file. Every catalogue row that holds wrapped data keys or sealed /
blind-indexed values is tagged with the fingerprint of the key that made them
(``key_id``), when it is flushed. The audit log's links are keyed with a chain key derived
from the current master key (``KeyPurpose.audit_chain``); ``records.audit`` gets the key
bytes from here and never imports ``storage``.
"""
from __future__ import annotations

import copy
import getpass
import json
import os
import threading
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine, event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from records import audit, db
from records.model import (Acceptance, ArchiveRecord, AuditHead, Correction, Document,
                           Household, HouseholdCertificate, HouseholdMember, JobFile,
                           KeyRotation, Page, RotationState)
from ingest.exceptions import full_disk_as
from ingest.journal import keep_reserve
from ingest.recovery import RecoveryReport, recover
from ingest.settings import Settings
from records import door
from search import SearchIndex
from storage import (BlobStore, KeyFiles, KeyPurpose, KeyRing, MasterKey, StorageError,
                     WrongKeyError, blind_index, normalise_field_value, open_field,
                     seal_field)

# Rows that hold what a master key made, and the columns that hold it (model.py, KEY_ID).
KEYED_COLUMNS: dict[type, tuple[str, ...]] = {
    Document: ("pdf_key", "original_key"),
    Page: ("image_key", "text_key"),
    Household: ("head_id_sealed", "head_id_index"),
    HouseholdMember: ("id_sealed", "id_index"),
    HouseholdCertificate: ("certificate_no_index", "certificate_no_sealed"),
    ArchiveRecord: ("pdf_key",),
    Acceptance: ("report_key",),  # a batch's acceptance report (验收报告)
    Correction: ("lines_sealed",),
    JobFile: ("staged_key",),  # an upload waiting for its ingest job
}
# Beside the catalogue, outside the database: where the audit log was keyed (audit_witness)
AUDIT_WITNESS = "audit-chain.json"

class ArchiveError(Exception):
    """The data home or its key cannot be used; the message says what to do."""


def console_user() -> str:
    """The operating-system user, under whose name CLI reads are recorded."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


class _KeyState:
    """The keys of an opened archive, shared by its reconfigured copies."""

    def __init__(self) -> None:
        self.ring: KeyRing | None = None
        self.derived: dict[tuple[str, KeyPurpose], bytes] = {}
        self.lock = threading.Lock()


class Archive:
    """An opened data home. Build with :meth:`init` or :meth:`open`."""

    def __init__(self, settings: Settings, keys: KeyRing | MasterKey, engine: Engine,
                 blobs: BlobStore, index: SearchIndex):
        self.settings = settings
        self.engine = engine
        self.Session: sessionmaker[Session] = db.session_factory(engine)
        self.blobs = blobs
        self.index = index
        # one key state, shared with reconfigured copies of this archive
        self._key_state = _KeyState()
        self._use_keys(keys if isinstance(keys, KeyRing) else KeyRing(keys))
        event.listen(self.Session, "before_flush", self._tag_key_ids)
        self.recovered = RecoveryReport()  # what opening it finished or rolled back

    # -- keys ----------------------------------------------------------------------
    @property
    def keys(self) -> KeyRing:
        return self._key_state.ring

    @property
    def master(self) -> MasterKey:
        """The master key that wraps, seals and derives from now on."""
        return self.keys.current

    def _use_keys(self, keys: KeyRing) -> None:
        self._key_state.ring = keys
        self._key_state.derived = {}
        self.blobs.use_keys(keys, refresh=self._fresh_keys)

    def _fresh_keys(self) -> KeyRing | None:
        """The keys again, if another process rotated them since (None: no change)."""
        before = [k.fingerprint() for k in self.keys.keys]
        try:
            self.reload_keys()
        except ArchiveError:
            return None
        return None if [k.fingerprint() for k in self.keys.keys] == before else self.keys

    def _subkey(self, key: MasterKey, purpose: KeyPurpose) -> bytes:
        derived = self._key_state.derived
        cache_key = (key.fingerprint(), purpose)
        if cache_key not in derived:
            derived[cache_key] = key.derive(purpose)
        return derived[cache_key]

    def reload_keys(self) -> None:
        """Read the key file and the rotation state again (another process rotated the key,
        or this one is rotating it)."""
        with self._key_state.lock:
            try:
                ring = key_ring(self.settings, self.engine)
            except StorageError as exc:
                raise ArchiveError(str(exc)) from None
            self._use_keys(ring)

    def _tag_key_ids(self, session: Session, _context, _instances) -> None:
        """Name, on each row about to be written with new wrapped keys or sealed values,
        the master key that made them (``key_id``)."""
        current = self.master.fingerprint()
        for obj in (*session.new, *session.dirty):
            columns = KEYED_COLUMNS.get(type(obj))
            if columns is None:
                continue
            state = inspect(obj)
            if obj in session.new:
                wrote = any(getattr(obj, c) is not None for c in columns)
            else:
                wrote = any(state.attrs[c].history.has_changes() for c in columns)
            if wrote and not state.attrs["key_id"].history.has_changes():
                obj.key_id = current

    def chain_key(self) -> audit.ChainKey:
        """The key of the audit log's links from now on."""
        return audit.ChainKey(self.master.fingerprint(),
                              self._subkey(self.master, KeyPurpose.audit_chain))

    def chain_keys(self) -> dict[str, bytes]:
        """Every chain key at hand, by master-key fingerprint, to check links made under
        earlier keys too."""
        return {k.fingerprint(): self._subkey(k, KeyPurpose.audit_chain) for k in self.keys.keys}

    # -- lifecycle -----------------------------------------------------------
    @classmethod
    def init(cls, settings: Settings) -> Archive:
        home, key_file = settings.home, settings.master_key_file
        if inside(key_file, home):
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
        index = SearchIndex.open_or_create(settings.index_dir, keys=blobs)
        settings.tmp_dir.mkdir(exist_ok=True)
        keep_reserve(settings.journal_dir)
        return cls(settings, KeyRing(master), engine, blobs, index)

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
        engine = db.make_engine(settings.catalogue_url)
        if not db.is_initialised(engine):
            raise ArchiveError(f"the catalogue at {engine.url.render_as_string()} has no schema; "
                               "run 'hudang init'")
        try:
            keys = key_ring(settings, engine)
            blobs = BlobStore.open(settings.blob_dir, keys)
        except (StorageError, ArchiveError) as exc:
            engine.dispose()
            raise ArchiveError(str(exc)) from None
        db.upgrade(engine)
        index = SearchIndex.open_or_create(settings.index_dir, keys=blobs)
        settings.tmp_dir.mkdir(exist_ok=True)
        archive = cls(settings, keys, engine, blobs, index)
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

    # -- ID numbers (heads' and members') ------------------------------------------------
    def seal_id_number(self, value: str) -> tuple[bytes, str]:
        from records.idnumbers import normalise

        v = normalise(value)
        return (seal_field(self._subkey(self.master, KeyPurpose.id_number_seal), v),
                blind_index(self._subkey(self.master, KeyPurpose.id_number_index), v))

    def id_index(self, value: str) -> str:
        from records.idnumbers import normalise

        return blind_index(self._subkey(self.master, KeyPurpose.id_number_index),
                           normalise(value))

    def certificate_index(self, number: str) -> str:
        """Blind index of an allowance-certificate number (低保证号)."""
        return blind_index(self._subkey(self.master, KeyPurpose.certificate_index), number)

    def seal_certificate(self, number: str) -> tuple[bytes, str]:
        """An allowance-certificate number sealed (so that a key rotation can compute its
        blind index again) and its blind index."""
        return (seal_field(self._subkey(self.master, KeyPurpose.certificate_seal),
                           normalise_field_value(number)),
                self.certificate_index(number))

    def seal_correction(self, value: str) -> bytes:
        """The lines a text correction changed (JSON), sealed (``Correction.lines_sealed``)."""
        return seal_field(self._subkey(self.master, KeyPurpose.correction_seal), value)

    def open_correction(self, correction: Correction) -> str | None:
        """Reverse of :meth:`seal_correction`; None when there is nothing (or nothing left:
        the dossier was destroyed)."""
        if not correction.lines_sealed:
            return None
        return self.open_sealed(correction.lines_sealed, correction.key_id,
                                KeyPurpose.correction_seal)

    def reveal_id_number(self, household: Household) -> str | None:
        if household.head_id_sealed is None:
            return None
        return self.open_sealed(household.head_id_sealed, household.key_id)

    def open_sealed(self, sealed: bytes, key_id: str | None,
                    purpose: KeyPurpose = KeyPurpose.id_number_seal) -> str:
        """A sealed value, opened with the key that sealed it (``key_id``, or, for rows from
        before key ids were kept, whichever key of the ring opens it); if none does, with
        the keys read again (another process may have rotated them)."""
        try:
            return self._open_sealed(sealed, key_id, purpose)
        except WrongKeyError:
            if self._fresh_keys() is None:
                raise
            return self._open_sealed(sealed, key_id, purpose)

    def _open_sealed(self, sealed: bytes, key_id: str | None, purpose: KeyPurpose) -> str:
        named = self.keys.get(key_id) if key_id else None
        tried: WrongKeyError | None = None
        for key in ([named] if named else []) + [k for k in self.keys.keys if k is not named]:
            try:
                return open_field(self._subkey(key, purpose), sealed)
            except WrongKeyError as exc:
                tried = tried or exc
        assert tried is not None
        raise tried

    def open_id_number(self, sealed: bytes) -> str:
        """An ID number sealed by :meth:`seal_id_number` (a member's: no key id is kept, so
        whichever key of the ring opens it)."""
        return self.open_sealed(sealed, None)

    # -- audit and the door ------------------------------------------------------
    def record(self, event: audit.Event) -> int:
        """Append to the audit log, its link keyed with the current chain key. If another
        process rotated the master key meanwhile, read the keys again and append with the
        new one."""
        try:
            event_id = audit.record(self.engine, event, self.chain_key())
        except audit.StaleChainKey as stale:
            self.reload_keys()
            key = self.chain_key()
            if stale.head_key not in (None, key.key_id):
                if self.keys.get(stale.head_key) is None:
                    raise ArchiveError(f"the audit log is keyed with master key {stale.head_key}, "
                                       "which is not among this archive's keys") from None
                # a catalogue from before a rotation (a restored backup): carry the log over
                # to the current key, attesting what was linked under the older one
                audit.rekey(self.engine, key, audit.Event(
                    actor="hudang", action=audit.REKEY_ACTION,
                    detail={"reason": "the log was keyed with an older master key"}))
            event_id = audit.record(self.engine, event, key)
        self._witness_keying()
        return event_id

    def _witness_keying(self) -> None:
        """Once the log is keyed, say so in the data home too, outside the database: an
        insider who can write only to the database and turns the keyed part of the log
        back into plain links, as if this version had never run, is caught by it."""
        witness = self.settings.home / AUDIT_WITNESS
        if getattr(self, "_witnessed", False) or witness.exists():
            self._witnessed = True
            return
        with self.engine.connect() as conn:
            keyed_from = conn.scalar(select(AuditHead.keyed_from))
        if keyed_from is not None:
            tmp = witness.with_suffix(".tmp")
            tmp.write_text(json.dumps({"format": "hudang-audit-chain", "keyed_from": keyed_from})
                           + "\n", "utf-8")
            os.replace(tmp, witness)
            self._witnessed = True

    def verify_audit(self) -> audit.VerifyResult:
        """The audit chain checked with every chain key at hand, and against the witness of
        where it was keyed."""
        result = audit.verify(self.engine, self.chain_keys())
        witness = self.settings.home / AUDIT_WITNESS
        if not result.ok or not witness.exists():
            return result
        try:
            keyed_from = json.loads(witness.read_text("utf-8"))["keyed_from"]
        except (OSError, ValueError, KeyError, TypeError):
            return replace(result, ok=False, reason=f"the witness file '{witness}' is unreadable")
        if result.keyed_from != keyed_from:
            return replace(result, ok=False, first_bad=keyed_from, reason=(
                f"the audit log was keyed from event {keyed_from} (as '{witness.name}' in the data "
                f"home records), but its links now say {result.keyed_from}: it was rewritten"))
        return result

    def admit(self, knock: door.Knock) -> None:
        """The one door (:mod:`records.door`): pass, or record the refusal and raise."""
        door.admit(knock, self.record)


def open_master_key(settings: Settings) -> MasterKey:
    """The master key the settings name: ``HUDANG_MASTER_KEY`` if set, else the key file."""
    if settings.master_key:
        return MasterKey.from_text(settings.master_key, "the HUDANG_MASTER_KEY environment variable")
    return MasterKey.load(settings.master_key_file)


def running_rotation(engine: Engine) -> KeyRotation | None:
    """The key rotation in progress, if one is (``hudang key rotate``)."""
    if not inspect(engine).has_table(KeyRotation.__tablename__):
        return None  # a catalogue from before migration 0007: never rotated
    with db.session_factory(engine)() as s:
        return s.scalar(select(KeyRotation).where(KeyRotation.state == RotationState.running))


def key_ring(settings: Settings, engine: Engine) -> KeyRing:
    """The keys an archive opens with: the master key the settings name, and, with a key
    file, its retired companions; during a rotation the rotation's new key wraps and the
    old one still opens (whichever of the two the key file holds at that moment)."""
    master = open_master_key(settings)
    files = None if settings.master_key else KeyFiles(settings.master_key_file)
    others = files.retired_keys() if files else []
    rotation = running_rotation(engine)
    if rotation is None or master.fingerprint() == rotation.new_key:
        return KeyRing(master, others)
    staged = files.staged_key() if files else None
    if staged is None or staged.fingerprint() != rotation.new_key:
        where = f"'{files.staged}'" if files else "the staged key file"
        raise ArchiveError(f"a key rotation to key {rotation.new_key} is in progress, but its new "
                           f"key {where} is missing or another key; restore it from where it was "
                           "kept, then run 'hudang key rotate' to finish")
    return KeyRing(staged, [master, *others])


def inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
