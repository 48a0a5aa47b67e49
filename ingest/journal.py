"""The crash journal: one write-ahead record per unit of writing, and work directories
that a killed process cannot leave behind.

A :class:`ingest.commit.Commit` opens a :class:`Journal` before it stores its first
blob: a small file ``HUDANG_HOME/journal/<random>.wal``, one JSON line per step,
each line written and fsynced *before* the step it announces::

    {"unit": "ingest", "pid": 4711, "started": "2026-03-01T08:00:00Z"}
    {"blob": "3f0c…"}              about to store this blob (written for every new blob)
    {"retire": ["9a1e…", …]}       the catalogue change about to commit drops these
    {"document": 12}               the catalogue change has committed (the document's id)
    {"stage": "indexed"}           the index follows the catalogue
    (the file is removed when the unit is done)

It holds refs (random names), a document id, a process id and a stage: nothing
readable about the records. A line torn by a crash is ignored; its step never began.

Whose unit is it? The owner holds an exclusive ``flock`` on its journal file for as
long as it lives; the kernel releases it when the process dies, however it dies. So
:func:`claim_dead_units` (``ingest.recovery``) never touches a unit whose process is
still running (another CLI, the server), and two recoveries never handle one unit.
A shared lock on the journal directory covers the moment between creating a file and
locking it.

Work directories (``HUDANG_HOME/tmp/<label>-<random>.work``) hold page rasters and
the unencrypted archival PDF while a document is built; each is locked the same way,
so recovery removes those of dead processes and no other.

A full disk must not stop a failed unit from undoing itself (deleting catalogue rows
writes to SQLite's log, and the index writes a new table of contents): the journal
directory keeps a reserve of :data:`RESERVE_BYTES`, given back to the disk when a unit
fails for want of space and taken again once there is room.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

SUFFIX = ".wal"
WORK_SUFFIX = ".work"
RESERVE = "reserve"
RESERVE_BYTES = 1 << 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _directory_lock(directory: Path, mode: int) -> Iterator[None]:
    """``LOCK_SH`` while creating and locking an entry; ``LOCK_EX`` while claiming entries."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Journal:
    """The write-ahead record of one unit, held (locked) by its process until :meth:`end`."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd = fd

    @classmethod
    def begin(cls, directory: Path, label: str) -> Journal:
        """Create, lock and fsync a new journal; nothing of the unit exists before this returns."""
        directory.mkdir(mode=0o700, exist_ok=True)
        with _directory_lock(directory, fcntl.LOCK_SH):
            path = directory / f"{secrets.token_hex(8)}{SUFFIX}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # ours alone: the file is new
        journal = cls(path, fd)
        try:
            journal._append({"unit": label, "pid": os.getpid(),
                             "started": datetime.now(timezone.utc).isoformat(timespec="seconds")})
            _fsync_dir(directory)
        except BaseException:
            journal.end()
            raise
        return journal

    def _append(self, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("ascii")
        written = os.write(self._fd, line)
        if written != len(line):  # a short write on a full disk: the step must not begin
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        os.fsync(self._fd)

    def blob(self, ref: str) -> None:
        """Before the blob ``ref`` is stored."""
        self._append({"blob": ref})

    def retire(self, refs: Iterable[str]) -> None:
        """Before the catalogue change that stops referring to ``refs`` commits."""
        refs = list(refs)
        if refs:
            self._append({"retire": refs})

    def document(self, document_id: int) -> None:
        """The document whose rows the unit changes (after an ingest's commit, the new id)."""
        self._append({"document": int(document_id)})

    def stage(self, name: str) -> None:
        self._append({"stage": name})

    def end(self) -> None:
        """The unit is done (or fully undone): remove the record and let go of it."""
        if self._fd < 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = -1

    def leave(self) -> None:
        """Let go without removing: an undo that failed half-way is finished by recovery."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass
class UnitRecord:
    """What a journal says about its unit."""

    path: Path
    label: str = "?"
    pid: int | None = None
    started: str | None = None
    blobs: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    documents: list[int] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)

    @property
    def refs(self) -> list[str]:
        return [*self.blobs, *self.retired]


def read_record(path: Path) -> UnitRecord:
    """Parse a journal; a torn or foreign line ends the reading (its step never began)."""
    record = UnitRecord(path)
    with path.open("rb") as f:
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
                break
            if not isinstance(line, dict):
                break
            if "unit" in line:
                record.label = str(line["unit"])
                record.pid = line.get("pid")
                record.started = line.get("started")
            elif "blob" in line:
                record.blobs.append(str(line["blob"]))
            elif "retire" in line:
                record.retired.extend(str(r) for r in line["retire"])
            elif "document" in line:
                record.documents.append(int(line["document"]))
            elif "stage" in line:
                record.stages.append(str(line["stage"]))
    return record


@dataclass
class Claimed:
    """A dead process's unit, locked by this process until :meth:`release`."""

    record: UnitRecord
    fd: int

    def done(self) -> None:
        """Recovered: remove the journal, then let go."""
        try:
            self.record.path.unlink(missing_ok=True)
            _fsync_dir(self.record.path.parent)
        finally:
            self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def claim_dead_units(directory: Path) -> tuple[list[Claimed], int]:
    """Lock the journals whose owners have died; returns them and the number still live."""
    if not directory.is_dir():
        return [], 0
    claimed, live = [], 0
    with _directory_lock(directory, fcntl.LOCK_EX):
        for path in sorted(directory.glob(f"*{SUFFIX}")):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # finished meanwhile
            if not _try_lock(fd):
                os.close(fd)
                live += 1
                continue
            try:
                same = os.fstat(fd).st_ino == path.stat().st_ino
            except FileNotFoundError:
                same = False
            if not same:  # removed by its owner or another recovery after we opened it
                os.close(fd)
                continue
            try:
                claimed.append(Claimed(read_record(path), fd))
            except OSError:
                os.close(fd)
                raise
    return claimed, live


# -- the reserve -----------------------------------------------------------------------------

def keep_reserve(directory: Path) -> None:
    """Hold :data:`RESERVE_BYTES` of the disk back, if they are free (best effort)."""
    path = directory / RESERVE
    if path.exists():
        return
    partial = directory / f".{RESERVE}.new"
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        finally:
            os.close(fd)
        os.replace(partial, path)
    except OSError:  # no room for it now: the next unit that succeeds tries again
        partial.unlink(missing_ok=True)


def release_reserve(directory: Path) -> None:
    """Give the reserve back to the disk: a unit undoing itself needs the room."""
    (directory / RESERVE).unlink(missing_ok=True)


# -- work directories ------------------------------------------------------------------------

@contextmanager
def work_dir(tmp_dir: Path, label: str) -> Iterator[Path]:
    """A private work directory under ``tmp_dir``, locked while this process uses it and
    removed after; :func:`remove_dead_work_dirs` removes it if the process is killed."""
    tmp_dir.mkdir(mode=0o700, exist_ok=True)
    with _directory_lock(tmp_dir, fcntl.LOCK_SH):
        path = Path(tempfile.mkdtemp(prefix=f"{label}-", suffix=WORK_SUFFIX, dir=tmp_dir))
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def remove_dead_work_dirs(tmp_dir: Path) -> int:
    """Remove the work directories of processes that died; returns how many."""
    if not tmp_dir.is_dir():
        return 0
    removed = 0
    with _directory_lock(tmp_dir, fcntl.LOCK_EX):
        for path in tmp_dir.glob(f"*{WORK_SUFFIX}"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except (FileNotFoundError, NotADirectoryError, OSError):
                continue
            try:
                if _try_lock(fd):
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
            finally:
                os.close(fd)
    return removed
