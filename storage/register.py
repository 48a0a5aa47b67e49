"""An append-only register file: sealed entries in a keyed chain.

Each line of the file is one entry::

    {"n": 3, "prev": "<mac of entry 2>", "box": "<base64 nonce|AES-GCM ciphertext>", "mac": "…"}

``box`` is the entry's JSON, encrypted under a key derived from the caller's key (so the
file tells nothing without the master key); ``mac`` is an HMAC-SHA256 over ``n``, ``prev``
and ``box`` under a second derived key. Each entry names the MAC of the one before, so an
entry altered, removed or moved breaks the chain, and :meth:`SealedLog.read` says where.
Appends take an exclusive lock on the file, write one line and fsync it.

The destruction register (``ingest.shredding``) is one: it is kept outside the catalogue,
so that a restore of an older catalogue finds the destructions made since.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.blobstore import _atomic_write, _fsync_dir
from storage.exceptions import StorageError
from storage.keys import KEY_SIZE, NONCE_SIZE


class RegisterBroken(StorageError):
    """A register file was altered, truncated in the middle, or belongs to another key."""


def _subkey(key: bytes, label: bytes) -> bytes:
    return hmac.new(key, b"hudang/register/" + label, hashlib.sha256).digest()


class SealedLog:
    """One register file, opened with the key that seals it (``MasterKey.derive(...)``)."""

    def __init__(self, path: str | Path, key: bytes):
        if len(key) < KEY_SIZE:
            raise ValueError("a register key must be at least 32 bytes (use MasterKey.derive)")
        self.path = Path(path)
        self._box = AESGCM(_subkey(key, b"box"))
        self._mac_key = _subkey(key, b"mac")

    def _mac(self, n: int, prev: str, box: str) -> str:
        return hmac.new(self._mac_key, f"{n}|{prev}|{box}".encode("ascii"),
                        hashlib.sha256).hexdigest()

    # -- reading ------------------------------------------------------------------------------
    def read(self) -> list[dict]:
        """Every entry, oldest first; [] when the file does not exist. RegisterBroken when
        the chain does not hold."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        entries, prev = [], ""
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                n, line_prev, box, mac = line["n"], line["prev"], line["box"], line["mac"]
            except (ValueError, KeyError, TypeError):
                raise RegisterBroken(f"the register '{self.path}' is unreadable at line "
                                     f"{number}") from None
            if n != len(entries) + 1 or line_prev != prev or not hmac.compare_digest(
                    mac, self._mac(n, line_prev, box)):
                raise RegisterBroken(
                    f"the register '{self.path}' was altered at line {number} (or is another "
                    "archive's); keep it, and restore it from a copy")
            sealed = base64.b64decode(box)
            try:
                plain = self._box.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:],
                                          f"{n}|{line_prev}".encode("ascii"))
            except InvalidTag:
                raise RegisterBroken(f"the register '{self.path}' does not open at line "
                                     f"{number}") from None
            entries.append(json.loads(plain))
            prev = mac
        return entries

    # -- appending ---------------------------------------------------------------------------
    def append(self, entry: dict) -> int:
        """Add one entry at the end; returns its number."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _last_line(fd)
            n, prev = (1, "") if last is None else (last["n"] + 1, last["mac"])
            nonce = os.urandom(NONCE_SIZE)
            plain = json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8")
            box = base64.b64encode(nonce + self._box.encrypt(
                nonce, plain, f"{n}|{prev}".encode("ascii"))).decode("ascii")
            line = json.dumps({"n": n, "prev": prev, "box": box, "mac": self._mac(n, prev, box)})
            os.write(fd, line.encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock
        _fsync_dir(self.path.parent)
        return n

    def copy_to(self, targets: Iterable[Path]) -> None:
        """Replace each target file with this register, atomically (the copies kept apart)."""
        data = self.path.read_bytes()
        for target in targets:
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _atomic_write(target, [data])

    def reseal(self, new_key: bytes, target: str | Path | None = None) -> SealedLog:
        """The same entries sealed under ``new_key`` (a master key rotation), written to
        ``target`` (default: over this file, atomically)."""
        entries = self.read()
        target = Path(target or self.path)
        tmp = target.with_name(target.name + ".reseal")
        tmp.unlink(missing_ok=True)
        fresh = SealedLog(tmp, new_key)
        for entry in entries:
            fresh.append(entry)
        os.replace(tmp, target)
        return SealedLog(target, new_key)


def _last_line(fd: int) -> dict | None:
    """The last line of the open file, parsed (only ``n`` and ``mac`` are needed)."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return None
    chunk, start = b"", size
    while start > 0 and chunk.count(b"\n") < 2:
        start = max(0, start - 4096)
        os.lseek(fd, start, os.SEEK_SET)
        chunk = os.read(fd, size - start)
    lines = [line for line in chunk.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (ValueError, IndexError):
        raise RegisterBroken("the register's last line is unreadable; restore it from a "
                             "copy") from None
