"""``hudang key rotate``: a new master key, every data key re-wrapped, the blobs untouched.

What changes with the master key, and how:

- **wrapped data keys** (``document.pdf_key``/``original_key``, ``page.image_key``/
  ``text_key``, ``archive_record.pdf_key``): unwrapped with whichever key wrapped them and wrapped again under the new
  key. The blob files are not rewritten: their ciphertexts and refs stay as they are.
- **sealed values and blind indexes** (``household.head_id_sealed``/``head_id_index``,
  ``household_member.id_sealed``/``id_index``,
  ``household_certificate.certificate_no_sealed``/``certificate_no_index``): opened, sealed
  again, their blind index computed again, under the new key's sub-keys. A certificate
  number recorded before catalogue version 0007 was never kept sealed, so its blind index
  cannot be carried over: it is listed, to be entered again.
- **self-lookup and sign-in lock-out counters** (``failed_attempt``): keyed hashes that
  live minutes; dropped.
- **the audit log**: its future links are keyed with the new key's chain key from an
  ``audit_rekey`` event that attests every event before it (``records.audit.rekey``);
  history is not rewritten.
- **the search index's files**: each file's data key, in its header, is re-wrapped under
  the new key (``SearchIndex.rewrap``); the encrypted chunks are not rewritten.
- **the blob store's key check** is wrapped under the new key.
- **the session secret** is derived from the master key: a server started after the
  rotation signs everyone out. One-time self-lookup codes approved and not yet used stop
  working (their HMAC was keyed with the old key): staff issue them again.

Resumable: the rotation is a row of ``key_rotation`` (which key to which, the table being
re-wrapped and the last row done), the new key waits beside the key file as
``master.key.next`` until the end, and every row names the key that wrapped it
(``key_id``). Rows are re-wrapped in batches, each batch one transaction. Any process that
opens the archive meanwhile opens each row with whichever key wrapped it and writes under
the new one; a process opened before the rotation began reads the keys again as soon as a
key does not fit. At the end the new key takes the key file's place and the old key file
is kept as ``master.key.retired-<UTC time>`` until the operator removes it (backups made
before the rotation need it).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, or_, select, update

from ingest.archive import Archive, ArchiveError, running_rotation
from records import audit
from records.clock import utcnow
from records.model import (Acceptance, ArchiveRecord, AuditHead, Correction, Document, FailedAttempt,
                           Household, HouseholdCertificate, HouseholdMember, JobFile,
                           KeyRotation, Page, RotationState)
from storage import KeyFiles, KeyPurpose, MasterKey

Progress = Callable[[int], None]
BATCH = 200

# (stage name, model, primary key column) in the order they are re-wrapped: households
# first, so that look-ups by ID number miss for the shortest while
STAGES = (("households", Household, Household.id),
          ("members", HouseholdMember, HouseholdMember.id),
          ("certificates", HouseholdCertificate, HouseholdCertificate.household_id),
          ("documents", Document, Document.id),
          ("pages", Page, Page.id),
          ("records", ArchiveRecord, ArchiveRecord.id),
          ("acceptance reports", Acceptance, Acceptance.id),
          ("corrections", Correction, Correction.id),
          ("job files", JobFile, JobFile.id))


class KeyRotationError(ArchiveError):
    """A key rotation cannot start or go on; the sentence says what to do."""


@dataclass
class RotationResult:
    old_key: str
    new_key: str
    rows: int = 0
    resumed: bool = False
    retired_file: Path | None = None
    not_carried: list[str] = field(default_factory=list)  # households whose certificate was not


def rows_to_rotate(archive: Archive, new_key: str) -> int:
    """Rows not yet under ``new_key`` (for the progress bar)."""
    with archive.Session() as s:
        return sum(s.scalar(select(func.count()).select_from(model)
                            .where(_not_under(model, new_key))) for _s, model, _pk in STAGES)


def _not_under(model, key_id: str):
    return or_(model.key_id.is_(None), model.key_id != key_id)


def begin(archive: Archive, actor: str) -> tuple[KeyRotation, bool]:
    """The running rotation, or a new one (its key staged beside the key file); True if it
    was running already."""
    if archive.settings.master_key:
        raise KeyRotationError("the master key comes from HUDANG_MASTER_KEY, and a rotation "
                               "writes key files: put the key in a file ('hudang key import') "
                               "and unset the variable first")
    running = running_rotation(archive.engine)
    if running is not None:
        return running, True
    files = KeyFiles(archive.settings.master_key_file)
    old = archive.master
    with archive.Session() as s, s.begin():
        # the audit head row serves as the lock: one rotation starts at a time
        s.connection(execution_options={"hudang_immediate": True})
        s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id))
        if s.scalar(select(KeyRotation).where(KeyRotation.state == RotationState.running)):
            raise KeyRotationError("another key rotation started meanwhile; let it finish")
        # a staged key without a recorded rotation was never used: a rotation killed before
        # it began left it
        files.staged.unlink(missing_ok=True)
        new = MasterKey.generate()
        new.save_as(files.staged)
        rotation = KeyRotation(old_key=old.fingerprint(), new_key=new.fingerprint(),
                               state=RotationState.running, stage=STAGES[0][0], cursor=0,
                               rows_done=0, started_by=actor)
        s.add(rotation)
    archive.record(audit.Event(actor=actor, action="key_rotate", detail={
        "state": "started", "rotation": rotation.id, "from_key": rotation.old_key,
        "to_key": rotation.new_key}))
    return rotation, False


def rotate(archive: Archive, actor: str, *, batch: int = BATCH,
           progress: Progress | None = None,
           begun: tuple[KeyRotation, bool] | None = None) -> RotationResult:
    """Rotate the master key, or finish a rotation that was interrupted. ``begun``: what
    :func:`begin` returned, if the caller began it (to size a progress bar)."""
    rotation, resumed = begun or begin(archive, actor)
    archive.reload_keys()  # the new key wraps from now on; the old one still opens
    if archive.master.fingerprint() != rotation.new_key:
        raise KeyRotationError(f"the rotation's new key {rotation.new_key} could not be loaded")
    result = RotationResult(rotation.old_key, rotation.new_key, resumed=resumed)
    # 1. the audit log's future links under the new key (nothing, if a resumed run did it)
    audit.rekey(archive.engine, archive.chain_key(), audit.Event(
        actor=actor, action=audit.REKEY_ACTION,
        detail={"rotation": rotation.id, "to_key": rotation.new_key}))
    # 2. every row, batch by batch; then once more from the start, for rows a process that
    #    still held the old key wrote meanwhile
    start = [name for name, _m, _pk in STAGES].index(rotation.stage or STAGES[0][0])
    for sweep in (STAGES[start:], STAGES):
        for stage, model, pk in sweep:
            result.rows += _rewrap_stage(archive, rotation.id, stage, model, pk, batch,
                                         progress, result)
    # 3. short-lived keyed hashes of the old key
    with archive.Session() as s, s.begin():
        s.execute(delete(FailedAttempt))
    # 4. the search index's per-file data keys, the blob store's key check, then the key files
    archive.index.rewrap(archive.keys)
    archive.blobs.rekey(archive.keys)
    result.retired_file = KeyFiles(archive.settings.master_key_file).promote(utcnow())
    with archive.Session() as s, s.begin():
        row = s.get(KeyRotation, rotation.id)
        row.state, row.finished_at = RotationState.done, utcnow()
    archive.reload_keys()
    archive.record(audit.Event(actor=actor, action="key_rotate", detail={
        "state": "done", "rotation": rotation.id, "from_key": rotation.old_key,
        "to_key": rotation.new_key, "rows": result.rows,
        "certificates_not_carried": len(result.not_carried)}))
    return result


def _rewrap_stage(archive: Archive, rotation_id: int, stage: str, model, pk, batch: int,
                  progress: Progress | None, result: RotationResult) -> int:
    done = 0
    new_key = archive.master.fingerprint()
    while True:
        with archive.Session() as s, s.begin():
            s.connection(execution_options={"hudang_immediate": True})
            rotation = s.get(KeyRotation, rotation_id)
            if rotation.stage != stage:
                rotation.stage, rotation.cursor = stage, 0
            rows = s.scalars(select(model).where(pk > rotation.cursor,
                                                 _not_under(model, new_key))
                             .order_by(pk).limit(batch).with_for_update()).all()
            if not rows:
                rotation.cursor = 0  # the next sweep starts this stage from the beginning
                return done
            for row in rows:
                carried = _rewrap_row(archive, row)
                row.key_id = new_key if carried else rotation.old_key
                if not carried:
                    number = s.get(Household, row.household_id).number
                    if number not in result.not_carried:
                        result.not_carried.append(number)
            rotation.cursor = getattr(rows[-1], pk.key)
            rotation.rows_done += len(rows)
        done += len(rows)
        if progress:
            progress(len(rows))


def _destroyed(row: Document | Page) -> bool:
    document = row if isinstance(row, Document) else row.document
    return document.destroyed_at is not None


def _rewrap_row(archive: Archive, row) -> bool:
    """Re-wrap (re-seal, re-index) one row under the current key; False if it cannot be
    carried over (a certificate number never kept sealed)."""
    keys = archive.keys
    if isinstance(row, (Document, Page)) and _destroyed(row):
        return True  # its data keys were forgotten on purpose (已销毁): nothing to re-wrap
    if isinstance(row, Document):
        row.pdf_key = keys.wrap(keys.unwrap(row.pdf_key))
        if row.original_key is not None:
            row.original_key = keys.wrap(keys.unwrap(row.original_key))
    elif isinstance(row, ArchiveRecord):  # a destruction list or certificate (permanent)
        row.pdf_key = keys.wrap(keys.unwrap(row.pdf_key))
    elif isinstance(row, Acceptance):  # a batch's acceptance report, once decided
        if row.report_key is not None:
            row.report_key = keys.wrap(keys.unwrap(row.report_key))
    elif isinstance(row, JobFile):  # an upload waiting for its job; None once ingested
        if row.staged_key is not None:
            row.staged_key = keys.wrap(keys.unwrap(row.staged_key))
    elif isinstance(row, Page):
        row.image_key = keys.wrap(keys.unwrap(row.image_key))
        row.text_key = keys.wrap(keys.unwrap(row.text_key))
    elif isinstance(row, Household):
        if row.head_id_sealed is not None:
            id_number = archive.open_sealed(row.head_id_sealed, row.key_id)
            row.head_id_sealed, row.head_id_index = archive.seal_id_number(id_number)
    elif isinstance(row, HouseholdMember):
        if row.id_sealed is not None:
            id_number = archive.open_sealed(row.id_sealed, row.key_id)
            row.id_sealed, row.id_index = archive.seal_id_number(id_number)
    elif isinstance(row, Correction):
        if row.lines_sealed:  # nothing left once its dossier was destroyed
            row.lines_sealed = archive.seal_correction(archive.open_correction(row))
    elif isinstance(row, HouseholdCertificate):
        if row.certificate_no_sealed is None:
            return False
        number = archive.open_sealed(row.certificate_no_sealed, row.key_id,
                                     KeyPurpose.certificate_seal)
        row.certificate_no_sealed, row.certificate_no_index = archive.seal_certificate(number)
    return True
