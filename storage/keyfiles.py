"""The master key on disk beyond its one file: the staged and retired keys of a rotation,
and a passphrase-protected copy for safe keeping (``hudang key export`` / ``import``).

Beside the key file ``master.key`` (never inside the data home) a rotation keeps

* ``master.key.next``: the new key while the rotation runs (mode 0600);
* ``master.key.retired-2026-11-30T150000Z``: the old key once the new one took its
  place, kept until the operator removes it (backups made before the rotation need it).

An export is one small JSON file: the 32 key bytes encrypted with AES-256-GCM under a key
stretched from the passphrase with Argon2id (memory-hard, RFC 9106), every parameter
and the key's fingerprint bound to the ciphertext as associated data, so a changed
parameter fails like a wrong passphrase.
"""
from __future__ import annotations

import base64
import binascii
import glob
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.exceptions import KeyFileError, WeakPassphrase, WrongPassphrase
from storage.keys import KEY_SIZE, NONCE_SIZE, MasterKey

EXPORT_FORMAT = "hudang-master-key-export"
EXPORT_VERSION = 1
# RFC 9106's second recommended option, with one lane: two cores are shared by many here
ARGON2 = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 1}  # memory in KiB
MIN_PASSPHRASE = 12
_SALT_SIZE = 16


# -- staged and retired keys ------------------------------------------------------------
@dataclass(frozen=True)
class KeyFiles:
    """The key file and its companions in the same folder."""

    path: Path

    @property
    def staged(self) -> Path:
        """Where a rotation keeps the new key until it takes the key file's place."""
        return self.path.with_name(self.path.name + ".next")

    def retired(self) -> list[Path]:
        """Retired keys kept beside the key file, oldest first."""
        pattern = glob.escape(self.path.name) + ".retired-*"
        return sorted(p for p in self.path.parent.glob(pattern) if p.is_file())

    def retired_name(self, when: datetime) -> Path:
        """A name no retired key has yet: the time, and a count when two rotations share
        the same second."""
        stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
        name = self.path.with_name(f"{self.path.name}.retired-{stamp}")
        count = 1
        while name.exists():
            count += 1
            name = self.path.with_name(f"{self.path.name}.retired-{stamp}-{count:02d}")
        return name

    def retired_keys(self) -> list[MasterKey]:
        """Every retired key that still loads (a damaged or too-open one is left out)."""
        keys = []
        for path in self.retired():
            try:
                keys.append(MasterKey.load(path))
            except KeyFileError:
                continue
        return keys

    def staged_key(self) -> MasterKey | None:
        return MasterKey.load(self.staged) if self.staged.exists() else None

    def promote(self, when: datetime) -> Path | None:
        """The staged key becomes the key file; the old one is kept as a retired file.

        Safe to run again after a crash part-way: a retired copy of the old key is made
        only once, and nothing happens when the staged key already took its place.
        Returns the retired file, or None when there was nothing left to do.
        """
        staged = self.staged_key()
        if staged is None:
            return None
        current = MasterKey.load(self.path)
        retired = next((p for p in self.retired()
                        if MasterKey.load(p).same_key(current)), None)
        try:
            if retired is None:
                retired = self.retired_name(when)
                os.link(self.path, retired)
            os.replace(self.staged, self.path)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise KeyFileError(f"cannot put the new master key in place of '{self.path}': "
                               f"{exc.strerror}") from None
        return retired


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- passphrase-protected export ----------------------------------------------------------
def _stretch(passphrase: str, salt: bytes, params: dict) -> bytes:
    return hash_secret_raw(passphrase.encode("utf-8"), salt, hash_len=KEY_SIZE, type=Type.ID,
                           time_cost=params["time_cost"], memory_cost=params["memory_cost"],
                           parallelism=params["parallelism"])


def _header_bytes(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def check_passphrase(passphrase: str) -> None:
    """A passphrase that protects the master key must not be short."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise WeakPassphrase(f"the passphrase must be at least {MIN_PASSPHRASE} characters "
                             "long; a key export protects the whole archive")


def export_key(key: MasterKey, path: str | Path, passphrase: str) -> None:
    """Write ``key`` to a new file at ``path``, encrypted under ``passphrase``; never
    overwrites."""
    check_passphrase(passphrase)
    path = Path(path).expanduser()
    salt, nonce = os.urandom(_SALT_SIZE), os.urandom(NONCE_SIZE)
    header = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
              "kdf": {"name": "argon2id", **ARGON2,
                      "salt": base64.b64encode(salt).decode("ascii")},
              "cipher": "aes-256-gcm", "nonce": base64.b64encode(nonce).decode("ascii"),
              "fingerprint": key.fingerprint()}
    sealed = AESGCM(_stretch(passphrase, salt, ARGON2)).encrypt(
        nonce, key._key, _header_bytes(header))  # noqa: SLF001 - the one place the bytes leave
    text = json.dumps({**header, "ciphertext": base64.b64encode(sealed).decode("ascii")},
                      indent=1) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"'{path}' already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise KeyFileError(f"cannot write the key export '{path}': {exc.strerror}") from None
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def import_key(path: str | Path, passphrase: str) -> MasterKey:
    """The master key in the export at ``path``; WrongPassphrase if ``passphrase`` does not
    open it (or the file was altered)."""
    path = Path(path).expanduser()
    try:
        doc = json.loads(path.read_text("utf-8"))
        if doc.get("format") != EXPORT_FORMAT:
            raise ValueError("not a hudang key export")
        if doc["version"] != EXPORT_VERSION:
            raise ValueError(f"format version {doc['version']} is not one this hudang reads")
        header = {k: v for k, v in doc.items() if k != "ciphertext"}
        kdf = doc["kdf"]
        if kdf["name"] != "argon2id" or doc["cipher"] != "aes-256-gcm":
            raise ValueError("unknown key derivation or cipher")
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(doc["nonce"], validate=True)
        sealed = base64.b64decode(doc["ciphertext"], validate=True)
        params = {k: int(kdf[k]) for k in ARGON2}
    except FileNotFoundError:
        raise KeyFileError(f"the key export '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError,
            binascii.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc) or type(exc).__name__
        raise KeyFileError(f"'{path}' is not a readable hudang key export ({reason})") from None
    try:
        raw = AESGCM(_stretch(passphrase, salt, params)).decrypt(nonce, sealed,
                                                                 _header_bytes(header))
    except (InvalidTag, ValueError):
        raise WrongPassphrase(f"the passphrase does not open the key export '{path}' "
                              "(or the file was altered)") from None
    key = MasterKey(raw, source=f"the key export '{path}'")
    if key.fingerprint() != doc["fingerprint"]:
        raise KeyFileError(f"the key export '{path}' holds another key than it says")
    return key
