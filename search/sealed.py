"""Index files that hold nothing readable: a Whoosh storage whose every file is encrypted.

Each file gets a fresh random 256-bit data key, wrapped by the caller's keys (an object
with ``wrap(data_key) -> bytes`` and ``unwrap(wrapped) -> bytes``: the archive hands in
its blob store, which wraps under the master key; search/ imports nothing of ours). The
file is a header and a row of chunks, each chunk 32 KiB of plaintext sealed on its own
with AES-256-GCM, so a reader decrypts only the chunks it reads (random access, a small
cache of decrypted chunks per open file) and a writer holds only the chunks it has not
written out yet. Memory stays bounded whatever the size of a segment; nothing is ever
decrypted to disk. A searcher reads a compound segment's small parts (the terms' hash
table, the columns) decrypted whole, shared within the process, and its large parts
(postings, stored fields) through windows on the decrypted chunks
(``_SealedStructFile``; docs/search.md, *Nothing readable on disk*). Whoosh's temporary files (the posting pool's runs, the per-document
column buffer, the multiprocessing writer's batches) live in a ``temp_storage`` of the
same kind.

File format::

    b"HIX1" | file id (16 random bytes) | length of the wrapped key (u16, big-endian)
            | wrapped data key | chunk 0 | chunk 1 | ...
    chunk i = nonce (12 random bytes) | AES-GCM(plaintext[i * 32 KiB : (i + 1) * 32 KiB])

The associated data of chunk i is the file id and i, so chunks cannot be moved within or
between files unnoticed. A key rotation re-wraps the data key in the header
(:meth:`SealedStorage.rewrap`): the chunks are not touched.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile, StructFile

from search.exceptions import IndexUnreadable

__all__ = ["MAGIC", "CHUNK", "DataKeys", "SealedFile", "SealedStorage", "is_sealed"]

MAGIC = b"HIX1"
CHUNK = 32 * 1024  # plaintext bytes per chunk
_ID = 16
_NONCE = 12
_TAG = 16
_SLOT = CHUNK + _NONCE + _TAG  # a full chunk on disk
_CACHE_CHUNKS = 64  # decrypted chunks kept per open file (2 MiB)
_SPILL_AT = 8  # a writer keeps at most this many unwritten full chunks
_READ_BUFFER = 8 * 1024  # io.BufferedReader's buffer over a file opened for reading
_WRITE_BUFFER = 64 * 1024  # io.BufferedRandom's buffer over a file being written
# Parts of a segment read whole into memory when a searcher opens it (see _SealedStructFile)
_IN_PIECES = (".pst", ".vps", "._stored.col")  # postings and stored fields: read in chunks
_WHOLE_MAX = 64 * 1024 * 1024  # a part larger than this is read in chunks whatever it is


class DataKeys(Protocol):
    """What wraps the per-file data keys (the archive's blob store, a master key)."""

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


def _read_header(fd: int, path: str) -> tuple[bytes, bytes, int]:
    """(file id, wrapped key, header length) of the sealed file open as ``fd``."""
    head = os.pread(fd, len(MAGIC) + _ID + 2, 0)
    if len(head) < len(MAGIC) + _ID + 2 or not head.startswith(MAGIC):
        raise IndexUnreadable(f"'{path}' is not a sealed index file (an index of an older hudang?)")
    file_id = head[len(MAGIC):len(MAGIC) + _ID]
    (wrapped_len,) = struct.unpack(">H", head[-2:])
    wrapped = os.pread(fd, wrapped_len, len(head))
    if len(wrapped) != wrapped_len:
        raise IndexUnreadable(f"the sealed index file '{path}' is truncated")
    return file_id, wrapped, len(head) + wrapped_len


def is_sealed(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _seek(pos: int, size: int, offset: int, whence: int) -> int:
    """The position a file's ``seek(offset, whence)`` moves to (from its start, from ``pos``,
    from its end ``size``)."""
    base = {0: 0, 1: pos, 2: size}[whence]
    if base + offset < 0:
        raise ValueError("negative seek position")
    return base + offset


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset``: a write cut short (the disk filled up
    part-way) goes on with the rest, which then fails with the disk's own error, so a
    chunk is never left half-written and taken for written."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class SealedFile:
    """A file-like object over one sealed file: read, write (appending, or over what was
    written), seek and tell, in plaintext positions. Not thread-safe (no Whoosh file is)."""

    def __init__(self, path: str, fd: int, file_id: bytes, data_key: bytes, header_len: int,
                 size: int, writable: bool) -> None:
        self.name = path
        self._fd = fd
        self._id = file_id
        self._aes = AESGCM(data_key)
        self._header_len = header_len
        self._size = size  # plaintext length, including chunks not written out yet
        self._pos = 0
        self._writable = writable
        self._dirty: dict[int, bytearray] = {}  # chunks changed and not yet written
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self.closed = False

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def create(cls, path: str, keys: DataKeys, *, excl: bool = False) -> SealedFile:
        data_key = os.urandom(32)
        wrapped = keys.wrap(data_key)
        flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if excl else os.O_TRUNC)
        fd = os.open(path, flags, 0o600)
        file_id = os.urandom(_ID)
        header = MAGIC + file_id + struct.pack(">H", len(wrapped)) + wrapped
        try:
            _pwrite_all(fd, header, 0)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, file_id, data_key, len(header), 0, True)

    @classmethod
    def open(cls, path: str, keys: DataKeys) -> SealedFile:
        fd = os.open(path, os.O_RDONLY)
        try:
            file_id, wrapped, header_len = _read_header(fd, path)
            data_key = keys.unwrap(wrapped)
            body = os.fstat(fd).st_size - header_len
        except BaseException:
            os.close(fd)
            raise
        full, rest = divmod(body, _SLOT)
        size = full * CHUNK + max(rest - _NONCE - _TAG, 0)
        return cls(path, fd, file_id, data_key, header_len, size, False)

    # -- chunks ------------------------------------------------------------------------
    def _aad(self, i: int) -> bytes:
        return self._id + i.to_bytes(8, "big")

    def _chunk(self, i: int) -> bytes | bytearray:
        dirty = self._dirty.get(i)
        if dirty is not None:
            return dirty
        cached = self._cache.get(i)
        if cached is not None:
            self._cache.move_to_end(i)
            return cached
        sealed = os.pread(self._fd, _SLOT, self._header_len + i * _SLOT)
        if not sealed:
            return b""
        try:
            plain = self._aes.decrypt(sealed[:_NONCE], sealed[_NONCE:], self._aad(i))
        except InvalidTag:
            raise IndexUnreadable(f"chunk {i} of the index file '{self.name}' is corrupt") from None
        self._cache[i] = plain
        if len(self._cache) > _CACHE_CHUNKS:
            self._cache.popitem(last=False)
        return plain

    def _write_chunk(self, i: int, plain: bytes | bytearray) -> None:
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aes.encrypt(nonce, bytes(plain), self._aad(i))
        _pwrite_all(self._fd, sealed, self._header_len + i * _SLOT)

    def _spill(self, everything: bool = False) -> None:
        """Write out the changed chunks: the full ones, or ``everything``."""
        for i in sorted(self._dirty):
            chunk = self._dirty[i]
            if everything or len(chunk) == CHUNK:
                self._write_chunk(i, chunk)
                del self._dirty[i]

    # -- file protocol -----------------------------------------------------------------
    def read(self, n: int | None = -1) -> bytes:
        out = self.pread(self._pos, self._size - self._pos if n is None or n < 0 else n)
        self._pos += len(out)
        return out

    def readinto(self, buffer) -> int:  # noqa: ANN001 - any writable buffer
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def pread(self, pos: int, n: int) -> bytes:
        """``n`` bytes from plaintext position ``pos`` (fewer at the end), leaving the
        file's position alone (``read`` is this from the position, then moves it)."""
        end = min(self._size, pos + n)
        if pos >= end:
            return b""
        i, off = divmod(pos, CHUNK)
        if off + (end - pos) <= CHUNK:  # the usual case: within one chunk
            chunk = self._cache.get(i)  # a cached chunk is never a changed one
            if chunk is not None:
                return chunk[off:off + end - pos]
            return bytes(self._chunk(i)[off:off + end - pos])
        parts = []
        while pos < end:
            i, off = divmod(pos, CHUNK)
            piece = self._chunk(i)[off:off + min(end - pos, CHUNK - off)]
            if not piece:
                break
            parts.append(piece)
            pos += len(piece)
        return b"".join(parts)

    def readline(self, limit: int = -1) -> bytes:
        line = bytearray()
        while limit < 0 or len(line) < limit:
            i, off = divmod(self._pos, CHUNK)
            chunk = self._chunk(i) if self._pos < self._size else b""
            if not chunk or off >= len(chunk):
                break
            stop = chunk.find(b"\n", off)
            stop = len(chunk) if stop < 0 else stop + 1
            if limit >= 0:
                stop = min(stop, off + limit - len(line))
            line += chunk[off:stop]
            self._pos += stop - off
            if line.endswith(b"\n"):
                break
        return bytes(line)

    def write(self, data) -> int:  # noqa: ANN001 - bytes-like
        if not self._writable:
            raise OSError(f"the index file '{self.name}' is open for reading")
        data = memoryview(data).cast("B")
        done = 0
        while done < len(data):
            i, off = divmod(self._pos, CHUNK)
            chunk = self._dirty.get(i)
            if chunk is None:
                chunk = bytearray(self._chunk(i)) if i * CHUNK < self._size else bytearray()
                self._cache.pop(i, None)
                self._dirty[i] = chunk
            if off > len(chunk):  # written past the end after a seek: zeros in between
                chunk.extend(bytes(off - len(chunk)))
            piece = data[done:done + CHUNK - off]
            chunk[off:off + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
            self._size = max(self._size, self._pos)
        if len(self._dirty) > _SPILL_AT:
            self._spill()
        return done

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = _seek(self._pos, self._size, offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        if self._writable and self._dirty:
            self._spill(everything=True)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            self._cache.clear()
            os.close(self._fd)

    def __enter__(self) -> SealedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Raw(io.RawIOBase):
    """A :class:`SealedFile` as a raw stream, so that Python's C-level buffers serve
    Whoosh's many small reads and writes (pickled postings, varints, a posting pool's
    runs): ``io.BufferedReader`` over a file opened for reading, ``io.BufferedRandom``
    over one being written."""

    def __init__(self, sealed: SealedFile) -> None:
        super().__init__()
        self._sealed = sealed

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._sealed.writable()

    def write(self, data) -> int:  # noqa: ANN001 - bytes-like
        return self._sealed.write(data)

    def flush(self) -> None:
        if not self.closed:
            self._sealed.flush()

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - a writable buffer
        return self._sealed.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._sealed.seek(offset, whence)

    def tell(self) -> int:
        return self._sealed.tell()

    def close(self) -> None:
        if not self.closed:
            self._sealed.close()
        super().close()


class _Window:
    """A read-only window ``[base, base + length)`` of a :class:`SealedFile` with its own
    position: one part of a compound segment file (its terms, postings, stored fields,
    a column). Reads go straight to the file's decrypted chunks, with no buffer to refill
    on every seek: Whoosh reads an index by jumping (term lookups, posting blocks,
    stored fields), a few bytes at each place."""

    def __init__(self, sealed: SealedFile, base: int, length: int) -> None:
        self._sealed = sealed
        self._base = base
        self._length = length
        self._pos = 0
        self.closed = False

    def pread(self, pos: int, n: int) -> bytes:
        """``n`` bytes at ``pos`` in the window (fewer at its end)."""
        n = min(n, self._length - pos)
        return self._sealed.pread(self._base + pos, n) if n > 0 else b""

    def part(self, offset: int, length: int) -> _Window:
        """The window ``[offset, offset + length)`` of this one."""
        return _Window(self._sealed, self._base + offset, length)

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self._length - self._pos
        data = self.pread(self._pos, n)
        self._pos += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        line = bytearray()
        while limit < 0 or len(line) < limit:
            piece = self.pread(self._pos, 256 if limit < 0 else min(256, limit - len(line)))
            if not piece:
                break
            stop = piece.find(b"\n")
            piece = piece if stop < 0 else piece[:stop + 1]
            line += piece
            self._pos += len(piece)
            if stop >= 0:
                break
        return bytes(line)

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = _seek(self._pos, self._length, offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:  # the segment's file closes the sealed file
        self.closed = True


class _WindowFile(StructFile):
    """Whoosh's ``StructFile`` over a :class:`_Window`. ``get`` (the read at a position
    that term lookups and posting blocks use), ``read``, ``seek`` and ``tell`` are the
    window's own methods, so a read slices a decrypted chunk (:meth:`SealedFile.pread`)
    instead of a seek and a read through the layers below."""

    def __init__(self, window: _Window, name: str | None = None) -> None:
        super().__init__(window, name=name)
        self.get = window.pread
        self.read = window.read
        self.seek = window.seek
        self.tell = window.tell

    def read_pickle(self):  # noqa: ANN201 - whatever was pickled
        """Unpickle from a slice instead of from the window: the unpickler's many small
        reads would each be a Python call (a posting block's header is one pickle)."""
        pos, size = self.file.tell(), 1024
        while True:
            data = self.get(pos, size)
            view = io.BytesIO(data)
            try:
                value = pickle.load(view)
            except (EOFError, pickle.UnpicklingError):
                if len(data) < size:  # the window ends inside the pickle: it is broken
                    raise
                size *= 8
                continue
            self.file.seek(pos + view.tell())
            return value

    def subset(self, offset: int, length: int, name: str | None = None) -> StructFile:
        return _WindowFile(self.file.part(offset, length), name=name or self._name)


class _Plain:
    """A part of a segment, decrypted whole and shared by the searchers of a process that
    open the same segment (see :class:`_SealedStructFile`); freed with the last of them."""

    __slots__ = ("data", "__weakref__")

    def __init__(self, data: bytes) -> None:
        self.data = data


class _PlainFile(BufferFile):
    """Whoosh's in-memory file over a :class:`_Plain` part: reads are slices, as they are
    of a memory-mapped plain index."""

    def __init__(self, plain: _Plain, name: str | None = None) -> None:
        super().__init__(plain.data, name=name)
        self._plain = plain  # keeps the shared part alive while this file is open


_plain_parts: weakref.WeakValueDictionary[tuple[bytes, int, int], _Plain] = weakref.WeakValueDictionary()
_plain_lock = threading.Lock()


class _SealedWriteFile(StructFile):
    """A sealed file being written, behind a C-level buffer: Whoosh writes a posting pool's
    runs one pickled posting at a time, and each write was a Python call into
    :meth:`SealedFile.write`. ``write`` is the buffer's own method, so ``pickle.dump``
    calls C directly."""

    def __init__(self, sealed: SealedFile, **kwargs) -> None:  # noqa: ANN003
        buffered = _BufferedRandom(_Raw(sealed), buffer_size=_WRITE_BUFFER)
        super().__init__(buffered, **kwargs)
        self.write = buffered.write


class _SealedStructFile(StructFile):
    """A sealed file opened for reading. Whoosh opens a compound segment file's parts with
    ``subset``. The parts a search reads by jumping a few bytes at a time (the terms'
    hash table, the columns) are decrypted whole, once per process while any searcher
    holds them, and read like a memory-mapped plain index; the large parts (postings,
    stored fields) are :class:`_WindowFile` s on the file's decrypted chunks, so memory
    does not grow with the index."""

    def __init__(self, sealed: SealedFile, **kwargs) -> None:  # noqa: ANN003
        super().__init__(_Buffered(_Raw(sealed), buffer_size=_READ_BUFFER), **kwargs)
        self._sealed = sealed

    def get(self, position: int, length: int) -> bytes:
        """The read at a position (column lookups: a field's length per posting while a
        segment is written) from the decrypted chunks, not a seek and a read."""
        return self._sealed.pread(position, length)

    def subset(self, offset: int, length: int, name: str | None = None) -> StructFile:
        name = name or self._name
        if length > _WHOLE_MAX or (name or "").endswith(_IN_PIECES):
            return _WindowFile(_Window(self._sealed, offset, length), name=name)
        key = (self._sealed._id, offset, length)
        with _plain_lock:  # decrypted once however many searchers open the segment at once
            plain = _plain_parts.get(key)
            if plain is None:
                plain = _plain_parts[key] = _Plain(self._sealed.pread(offset, length))
        return _PlainFile(plain, name=name)


class _Buffered(io.BufferedReader):
    """No ``fileno``: Whoosh would memory-map the file (and see the ciphertext)."""

    @property
    def fileno(self):  # noqa: ANN201
        raise AttributeError("fileno")


class _BufferedRandom(io.BufferedRandom):
    """No ``fileno`` (as :class:`_Buffered`)."""

    @property
    def fileno(self):  # noqa: ANN201
        raise AttributeError("fileno")


class SealedStorage(FileStorage):
    """Whoosh's file storage, every file sealed (see the module's docstring). Locks are
    Whoosh's own lock files (empty), so writers in several processes still wait for each
    other. Memory mapping is off: a mapped file would show Whoosh the ciphertext."""

    supports_mmap = False

    def __init__(self, path: str, keys: DataKeys, readonly: bool = False) -> None:
        super().__init__(path, supports_mmap=False, readonly=readonly)
        self.keys = keys

    def create_file(self, name: str, excl: bool = False, mode: str = "wb", **kwargs) -> StructFile:  # noqa: ANN003
        if self.readonly:
            raise OSError(f"the index in {self.folder} is open read-only")
        return _SealedWriteFile(SealedFile.create(self._fpath(name), self.keys, excl=excl), name=name, **kwargs)

    def open_file(self, name: str, **kwargs) -> StructFile:  # noqa: ANN003
        return _SealedStructFile(SealedFile.open(self._fpath(name), self.keys), name=name, **kwargs)

    def file_length(self, name: str) -> int:
        """The plaintext length (what Whoosh would see in an unsealed file)."""
        with SealedFile.open(self._fpath(name), self.keys) as f:
            return f.seek(0, 2)

    def temp_storage(self, name: str | None = None) -> SealedStorage:
        temp = SealedStorage(os.path.join(self.folder, name or f"{os.urandom(8).hex()}.tmp"), self.keys)
        return temp.create()

    def sealed_files(self) -> Iterator[str]:
        """Paths of the sealed files under the folder (temporary folders included)."""
        for root, _dirs, files in os.walk(self.folder):
            for name in files:
                path = os.path.join(root, name)
                if is_sealed(path):
                    yield path

    def rewrap(self, keys: DataKeys) -> int:
        """Wrap every file's data key again with ``keys`` (after a new master key); the
        chunks are not touched. Unwraps with this storage's keys (a key ring holding the old
        key). Returns the number of files re-wrapped; files deleted meanwhile (a merge) are
        skipped. A header whose wrapped key changes length is rewritten whole (not atomic;
        the index is a cache: ``hudang reindex`` rebuilds it)."""
        done = 0
        for path in self.sealed_files():
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                file_id, wrapped, header_len = _read_header(fd, path)
                again = keys.wrap(self.keys.unwrap(wrapped))
                if again == wrapped:
                    continue
                if len(again) == len(wrapped):
                    os.pwrite(fd, again, header_len - len(wrapped))
                else:
                    body = os.pread(fd, os.fstat(fd).st_size - header_len, header_len)
                    header = MAGIC + file_id + struct.pack(">H", len(again)) + again
                    os.pwrite(fd, header + body, 0)
                    os.ftruncate(fd, len(header) + len(body))
                os.fsync(fd)
                done += 1
            finally:
                os.close(fd)
        return done
