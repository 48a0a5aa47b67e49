"""An encrypted, content-opaque blob store on the local file system.

Each blob gets a fresh random data key and is encrypted with AES-256-GCM.
The data key is wrapped under the master key and handed back to the caller
(the catalogue keeps it); it is never stored beside the blob, so forgetting
it crypto-shreds the blob.

File format of root/ab/cd/<ref>:  b"HDB1" | version (1 byte) | nonce (12) | ciphertext+tag.
The GCM associated data is magic|version|ref, so a blob file moved to another
ref fails authentication.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.exceptions import BlobNotFound, FixityError, StorageError, WrongKeyError
from storage.keys import KEY_SIZE, NONCE_SIZE, KeyRing, MasterKey

Keys = MasterKey | KeyRing  # one master key, or a rotation's ring of them

MAGIC = b"HDB1"
VERSION = 1
HEADER = MAGIC + bytes([VERSION])  # how every blob file starts
_HEADER = HEADER
_TAG_SIZE = 16
_MARKER = "hudang-blobstore.json"
_REF = re.compile(r"[0-9a-f]{32}")
# Known plaintext whose wrapping proves, at open, that the master key is the right one.
_KEY_CHECK = hashlib.sha256(b"hudang/blobstore/key-check/v1").digest()
_SHRED_CHUNK = 1 << 20


@dataclass(frozen=True)
class BlobRef:
    """What the catalogue must keep to read a blob back."""

    ref: str  # random, not derived from content: equal files are not linkable
    wrapped_key: bytes
    sha256: str  # hex SHA-256 of the plaintext
    size: int  # plaintext bytes

    def __repr__(self) -> str:
        return f"BlobRef(ref={self.ref!r}, sha256={self.sha256!r}, size={self.size})"


def _fsync_dir(path: Path) -> None:
    """Make a directory's new entries durable (POSIX only; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write via a temp file in the same directory + fsync + rename; leaves no temp file on error."""
    # the temp name carries the target's name, so that a writer killed mid-write leaves a
    # file that recovery can name (BlobStore.discard_partial)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}-", suffix=".part")
    done = False
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        done = True
        _fsync_dir(path.parent)
    finally:
        if not done:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _read_marker(root: Path) -> dict:
    """The store's marker file, checked for shape (``StorageError`` if absent or corrupt)."""
    try:
        marker = json.loads((root / _MARKER).read_text("utf-8"))
        if marker.get("format") != "hudang-blobstore":
            raise ValueError("not a hudang blob store marker")
        marker["version"]
        base64.b64decode(marker["key_check"], validate=True)
    except FileNotFoundError:
        raise StorageError(
            f"'{root}' is not a hudang blob store (no {_MARKER}); check the path or run 'hudang init'"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageError(f"the blob store marker '{root / _MARKER}' is unreadable or corrupt ({exc})") from None
    return marker


class BlobStore:
    """Encrypted blobs under one root directory. Safe to share across threads and processes."""

    def __init__(self, root: Path, master: Keys) -> None:
        # Use create() or open(); this does no checks.
        self._root = Path(root)
        self._master = master
        self._refresh: Callable[[], Keys | None] | None = None

    @property
    def root(self) -> Path:
        return self._root

    # --- lifecycle ----------------------------------------------------------

    @classmethod
    def create(cls, root: str | Path, master: Keys) -> BlobStore:
        """Make a new, empty store at root (an absent or empty directory)."""
        root = Path(root)
        if (root / _MARKER).exists():
            raise StorageError(f"'{root}' is already a blob store; open it instead of creating it")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise StorageError(f"cannot create a blob store at '{root}': it exists and is not an empty directory")
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
        marker = {
            "format": "hudang-blobstore",
            "version": VERSION,
            "key_fingerprint": master.fingerprint(),
            "key_check": base64.b64encode(master.wrap(_KEY_CHECK)).decode("ascii"),
        }
        _atomic_write(root / _MARKER, [json.dumps(marker, indent=2).encode("utf-8") + b"\n"])
        return cls(root, master)

    @classmethod
    def open(cls, root: str | Path, master: Keys) -> BlobStore:
        """Open an existing store; WrongKeyError if master is not the key it was created with."""
        root = Path(root)
        marker = _read_marker(root)
        version = marker["version"]
        wrapped_check = base64.b64decode(marker["key_check"])
        if version != VERSION:
            raise StorageError(f"the blob store at '{root}' has format version {version}, which this hudang cannot read")
        try:
            ok = hmac.compare_digest(master.unwrap(wrapped_check), _KEY_CHECK)
        except WrongKeyError:
            ok = False
        if not ok:
            raise WrongKeyError(
                f"the master key in {master.source} does not open the archive at '{root}' "
                f"(archive expects key {marker.get('key_fingerprint')}, this is key {master.fingerprint()})"
            )
        return cls(root, master)

    def rekey(self, keys: Keys) -> None:
        """Wrap the store's key check under ``keys`` instead (a key rotation's new master
        key). The blobs are not touched: their data keys live, wrapped, in the catalogue."""
        marker = _read_marker(self._root)
        marker["key_fingerprint"] = keys.fingerprint()
        marker["key_check"] = base64.b64encode(keys.wrap(_KEY_CHECK)).decode("ascii")
        _atomic_write(self._root / _MARKER, [json.dumps(marker, indent=2).encode("utf-8") + b"\n"])
        self._master = keys

    def use_keys(self, keys: Keys, *, refresh: Callable[[], Keys | None] | None = None) -> None:
        """Wrap with, and unwrap by, ``keys`` from now on. ``refresh``, if given, is asked for
        the keys again when a data key does not unwrap (another process may have rotated the
        master key since this store was opened); None from it means no change."""
        self._master = keys
        if refresh is not None:
            self._refresh = refresh

    def wrap(self, data_key: bytes) -> bytes:
        """Wrap a data key of another sealed file (the search index's) under the current
        master key: the store's keys serve them too."""
        return self._master.wrap(data_key)

    def unwrap(self, wrapped_key: bytes) -> bytes:
        """Unwrap what :meth:`wrap` wrapped, with whichever key of the ring wrapped it
        (reading the keys again if another process rotated them)."""
        return self._unwrap(wrapped_key)

    def _unwrap(self, wrapped_key: bytes) -> bytes:
        try:
            return self._master.unwrap(wrapped_key)
        except WrongKeyError:
            fresh = self._refresh() if self._refresh is not None else None
            if fresh is None:
                raise
            self._master = fresh
            return fresh.unwrap(wrapped_key)

    # --- paths --------------------------------------------------------------

    def path_of(self, ref: str) -> Path:
        """Where the blob file for ref lives (root/ab/cd/<ref>)."""
        if not isinstance(ref, str) or not _REF.fullmatch(ref):
            raise BlobNotFound(f"'{ref}' is not a valid blob ref (expected 32 lowercase hex characters)")
        return self._root / ref[:2] / ref[2:4] / ref

    def exists(self, ref: str) -> bool:
        try:
            return self.path_of(ref).is_file()
        except BlobNotFound:
            return False

    def iter_refs(self) -> Iterator[str]:
        """Every blob ref present on disk (temp files and the marker are skipped)."""
        for level1 in os.scandir(self._root):
            if not level1.is_dir(follow_symlinks=False):
                continue
            for level2 in os.scandir(level1.path):
                if not level2.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(level2.path):
                    if _REF.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                        yield entry.name

    def header_ok(self, ref: str) -> bool:
        """Does the blob file start as every hudang blob does (and so is not a plain file)?"""
        try:
            with self.path_of(ref).open("rb") as f:
                return f.read(len(HEADER)) == HEADER
        except FileNotFoundError:
            return False

    # --- write --------------------------------------------------------------

    def put(self, data: bytes, *, ref: str | None = None) -> BlobRef:
        """Encrypt and store data; returns the BlobRef the catalogue must keep.

        ``ref``: one from :meth:`new_ref` that the caller has already written down
        (a crash journal); by default a fresh one.
        """
        ref = ref or self.new_ref()
        path = self.path_of(ref)
        data_key = os.urandom(KEY_SIZE)
        nonce = os.urandom(NONCE_SIZE)
        ciphertext = AESGCM(data_key).encrypt(nonce, data, _HEADER + ref.encode("ascii"))
        self._ensure_dirs(path.parent)
        # Separate chunks: no concatenated copy of a large ciphertext.
        _atomic_write(path, [_HEADER, nonce, ciphertext])
        return BlobRef(
            ref=ref,
            wrapped_key=self._master.wrap(data_key),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )

    def put_file(self, path: str | Path, *, ref: str | None = None) -> BlobRef:
        return self.put(Path(path).read_bytes(), ref=ref)

    def _ensure_dirs(self, directory: Path) -> None:
        """Create the two fan-out levels (0700), making each new entry durable."""
        for level in (directory.parent, directory):
            if not level.is_dir():
                level.mkdir(mode=0o700, exist_ok=True)  # exist_ok: another worker may race us
                _fsync_dir(level.parent)

    # --- read ---------------------------------------------------------------

    def get(self, ref: str, wrapped_key: bytes) -> bytes:
        """Decrypt a blob. BlobNotFound, WrongKeyError (bad wrapped key) or FixityError (altered file)."""
        path = self.path_of(ref)
        try:
            data_key = self._unwrap(wrapped_key)
        except WrongKeyError:
            raise WrongKeyError(
                f"the data key recorded for blob '{ref}' is not opened by the master key in {self._master.source} "
                f"(the catalogue entry is corrupt or belongs to another archive than '{self._root}')"
            ) from None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"blob '{ref}' is not in the archive at '{self._root}' (deleted, shredded or never stored)") from None
        head = len(_HEADER)
        if len(raw) < head + NONCE_SIZE + _TAG_SIZE or raw[:head] != _HEADER:
            raise FixityError(f"blob '{ref}' at '{path}' is truncated or not a hudang blob; restore it from backup")
        view = memoryview(raw)  # slices of a memoryview avoid copying the ciphertext
        try:
            return AESGCM(data_key).decrypt(
                view[head:head + NONCE_SIZE], view[head + NONCE_SIZE:], _HEADER + ref.encode("ascii")
            )
        except InvalidTag:
            raise FixityError(
                f"blob '{ref}' failed its integrity check: the file '{path}' was altered or is corrupt "
                "(or the catalogue gave the key of another blob); restore it from backup"
            ) from None

    def verify(self, ref: str, wrapped_key: bytes, sha256: str) -> None:
        """Fixity check: FixityError unless the blob decrypts and its SHA-256 matches."""
        actual = hashlib.sha256(self.get(ref, wrapped_key)).hexdigest()
        if not hmac.compare_digest(actual, sha256.lower()):
            raise FixityError(
                f"blob '{ref}' decrypts but its SHA-256 is {actual}, not the recorded {sha256}; "
                "the catalogue entry or the file is wrong"
            )

    # --- delete -------------------------------------------------------------

    def shred(self, ref: str) -> None:
        """Overwrite (best effort) and remove the blob file; a no-op if it is already gone.

        The real shredding is the catalogue forgetting the wrapped key: on SSDs
        and copy-on-write file systems the overwrite may not reach the old blocks.
        """
        path = self.path_of(ref)
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            return
        try:
            remaining = os.fstat(fd).st_size
            zeros = bytes(min(remaining, _SHRED_CHUNK))
            while remaining > 0:
                remaining -= os.write(fd, zeros[: min(remaining, _SHRED_CHUNK)])
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return  # another worker shredded it concurrently
        _fsync_dir(path.parent)

    # --- crash recovery (a journal names the refs a unit writes, before it writes them) ---

    @staticmethod
    def new_ref() -> str:
        """A fresh random ref (128 bits), to write down before :meth:`put` stores under it."""
        return secrets.token_hex(16)

    def discard_partial(self, ref: str) -> int:
        """Remove what a writer killed while writing ``ref`` left (its temp files); returns
        how many. The blob itself, if whole, is left: :meth:`shred` removes that."""
        folder = self.path_of(ref).parent
        removed = 0
        try:
            leftovers = list(folder.glob(f".tmp-{ref}-*.part"))
        except OSError:
            return 0
        for leftover in leftovers:
            try:
                leftover.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed
