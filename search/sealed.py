"""Index files that hold nothing readable: a Whoosh storage whose every file is encrypted.

Each file gets a fresh random 256-bit data key, wrapped by the caller's keys (an object
with ``wrap(data_key) -> bytes`` and ``unwrap(wrapped) -> bytes``: the archive hands in
its blob store, which wraps under the master key; search/ imports nothing of ours). The
file is a header and a row of chunks, each chunk 32 KiB of plaintext sealed on its own
with AES-256-GCM, so a reader decrypts only the chunks it reads (random access, a small
cache of decrypted chunks per open file) and a writer holds only the chunks it has not
written out yet. Memory stays bounded whatever the size of a segment; nothing is ever
decrypted to disk. Whoosh's temporary files (the posting pool's runs, the per-document
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
import struct
from collections import OrderedDict
from collections.abc import Iterator
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile

from search.exceptions import IndexUnreadable

__all__ = ["MAGIC", "CHUNK", "DataKeys", "SealedFile", "SealedStorage", "is_sealed"]

MAGIC = b"HIX1"
CHUNK = 32 * 1024  # plaintext bytes per chunk
_ID = 16
_NONCE = 12
_TAG = 16
_SLOT = CHUNK + _NONCE + _TAG  # a full chunk on disk
_CACHE_CHUNKS = 32  # decrypted chunks kept per open file (1 MiB)
_SPILL_AT = 8  # a writer keeps at most this many unwritten full chunks
_READ_BUFFER = 8 * 1024  # io.BufferedReader's buffer over a file opened for reading


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
        end = self._size if n is None or n < 0 else min(self._size, self._pos + n)
        pos = self._pos
        if pos >= end:
            return b""
        i, off = divmod(pos, CHUNK)
        if off + (end - pos) <= CHUNK:  # the usual case: within one chunk
            out = bytes(self._chunk(i)[off:off + end - pos])
        else:
            parts = []
            while pos < end:
                i, off = divmod(pos, CHUNK)
                piece = self._chunk(i)[off:off + min(end - pos, CHUNK - off)]
                if not piece:
                    break
                parts.append(piece)
                pos += len(piece)
            out = b"".join(parts)
        self._pos += len(out)
        return out

    def readinto(self, buffer) -> int:  # noqa: ANN001 - any writable buffer
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

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
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
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
    """A read-only :class:`SealedFile` as a raw stream, so that ``io.BufferedReader`` serves
    Whoosh's many small reads (pickled postings, varints) from a C-level buffer."""

    def __init__(self, sealed: SealedFile) -> None:
        super().__init__()
        self._sealed = sealed

    def readable(self) -> bool:
        return True

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


class _Buffered(io.BufferedReader):
    """No ``fileno``: Whoosh would memory-map the file (and see the ciphertext)."""

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
        return StructFile(SealedFile.create(self._fpath(name), self.keys, excl=excl), name=name, **kwargs)

    def open_file(self, name: str, **kwargs) -> StructFile:  # noqa: ANN003
        raw = _Raw(SealedFile.open(self._fpath(name), self.keys))
        return StructFile(_Buffered(raw, buffer_size=_READ_BUFFER), name=name, **kwargs)

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
