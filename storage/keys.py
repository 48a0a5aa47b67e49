"""The master key, key wrapping, subkey derivation and short-field encryption.

One 32-byte master key per installation. It never encrypts data directly:
HKDF-SHA256 derives a key-encryption key (KEK) for wrapping per-blob data
keys, and purpose-bound subkeys (:class:`KeyPurpose`, the one list of them)
for everything else. Where the key comes from (a file, or a value handed in
by the environment) is decided by the caller's settings, never read here.
"""
from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.exceptions import KeyFileError, WrongKeyError

DEFAULT_KEY_FILE = Path("~/.config/hudang/master.key").expanduser()

KEY_SIZE = 32
NONCE_SIZE = 12
_FILE_PREFIX = "hudang-master-key-v1:"
_WRAP_VERSION = 1
_WRAP_INFO = b"hudang/wrap/v1"
_FINGERPRINT_INFO = b"hudang/fingerprint"
# Distinct prefix so no caller-chosen purpose can reproduce the wrap or fingerprint keys.
_DERIVE_INFO_PREFIX = b"hudang/derive/v1/"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


class KeyPurpose(str, enum.Enum):
    """Every subkey the master key gives, by its derivation label (the labels never change:
    a changed label is a different key, and what it sealed could no longer be opened)."""

    flask_session = "flask-session"  # signs the web session cookie
    id_number_seal = "id-number-seal"  # seals a head's ID number in the catalogue
    id_number_index = "id-number-index"  # blind index of ID numbers
    certificate_index = "certificate-no-index"  # blind index of allowance-certificate numbers
    certificate_seal = "certificate-no-seal"  # seals a certificate number (to re-index it)
    self_lookup_ip = "self-lookup-ip"  # keyed hash of a requester's address (lock-out)
    self_lookup_code = "self-lookup-code"  # HMAC of one-time self-lookup codes
    sign_in_attempt = "sign-in-attempt"  # keyed hash of a user name typed at sign-in (lock-out)
    audit_chain = "audit-chain"  # HMAC key of the audit log's links (records.audit)
    destruction_register = "destruction-register"  # seals the destruction register's entries
    correction_seal = "correction-seal"  # seals the lines a text correction changed


def _hkdf(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


def _decode_key_text(text: str) -> bytes | None:
    """32 key bytes from hex or base64 text (with or without the file prefix); None if malformed."""
    text = text.strip()
    if text.startswith(_FILE_PREFIX):
        text = text[len(_FILE_PREFIX):]
    if _HEX_KEY.fullmatch(text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == KEY_SIZE else None


class MasterKey:
    """The installation's master key; its bytes never leave this object."""

    __slots__ = ("_key", "_kek", "source")

    def __init__(self, raw: bytes, source: str = "a generated key") -> None:
        if len(raw) != KEY_SIZE:
            raise KeyFileError(f"the master key from {source} must be {KEY_SIZE} bytes, not {len(raw)}")
        self._key = bytes(raw)
        self._kek = AESGCM(_hkdf(self._key, _WRAP_INFO, KEY_SIZE))
        # Human-readable origin for error messages, e.g. "'/root/.config/hudang/master.key'".
        self.source = source

    # --- construction -------------------------------------------------------

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(KEY_SIZE))

    @classmethod
    def create_file(cls, path: str | Path) -> MasterKey:
        """Generate a key and write it to a new file with mode 0600; never overwrites."""
        key = cls(os.urandom(KEY_SIZE))
        key.save_as(path)
        return key

    def save_as(self, path: str | Path) -> None:
        """Write this key to a new key file (mode 0600, in a 0700 folder); never overwrites.

        The file is written privately under a temp name and hard-linked into place, so it
        appears complete or not at all, and link() fails if the name is taken.
        """
        path = Path(path).expanduser()
        if path.exists() or path.is_symlink():
            raise KeyFileError(
                f"master key file '{path}' already exists; refusing to overwrite it "
                "(move it away first if you really mean to replace the key)"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise KeyFileError(f"cannot create the folder for master key file '{path}': {exc.strerror}") from None
        line = (_FILE_PREFIX + base64.b64encode(self._key).decode("ascii") + "\n").encode("ascii")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, path)
        except FileExistsError:
            raise KeyFileError(f"master key file '{path}' already exists; refusing to overwrite it") from None
        except OSError as exc:
            raise KeyFileError(f"cannot write master key file '{path}': {exc.strerror}") from None
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self.source = f"'{path}'"

    @classmethod
    def load(cls, path: str | Path) -> MasterKey:
        """Read a key file; it must exist, be a regular file, private (no group/other bits) and well-formed."""
        path = Path(path).expanduser()
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise KeyFileError(f"master key file '{path}' does not exist; run 'hudang init' first") from None
        except OSError as exc:
            raise KeyFileError(f"master key file '{path}' cannot be read ({exc.strerror}); check its owner and permissions") from None
        try:
            st = os.fstat(fd)  # fstat the open file, so the checked file is the one read
            if not stat.S_ISREG(st.st_mode):
                raise KeyFileError(f"master key file '{path}' is not a regular file")
            mode = stat.S_IMODE(st.st_mode)
            if mode & 0o077:
                raise KeyFileError(
                    f"master key file '{path}' has permissions {mode:04o}, open to other users; "
                    f"run 'chmod 600 {path}'"
                )
            data = os.read(fd, 4096)
        except OSError as exc:
            raise KeyFileError(f"master key file '{path}' cannot be read ({exc.strerror})") from None
        finally:
            os.close(fd)
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        raw = _decode_key_text(text) if text.strip().startswith(_FILE_PREFIX) else None
        if raw is None:
            raise KeyFileError(
                f"master key file '{path}' is malformed (expected one line '{_FILE_PREFIX}<base64 of 32 bytes>'); "
                "restore it from your key backup"
            )
        return cls(raw, source=f"'{path}'")

    @classmethod
    def from_text(cls, text: str, source: str) -> MasterKey:
        """A key handed over as hex or base64 text (e.g. by the environment), named ``source``
        in messages."""
        raw = _decode_key_text(text)
        if raw is None:
            raise KeyFileError(f"{source} is not 32 bytes in hex or base64; fix or unset it")
        return cls(raw, source=source)

    # --- use ----------------------------------------------------------------

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key under the KEK: version byte || nonce || ciphertext+tag."""
        if len(data_key) != KEY_SIZE:
            raise ValueError(f"data keys are {KEY_SIZE} bytes, not {len(data_key)}")
        header = bytes([_WRAP_VERSION])
        nonce = os.urandom(NONCE_SIZE)
        return header + nonce + self._kek.encrypt(nonce, data_key, header)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a wrapped data key; WrongKeyError if this master key did not wrap it."""
        if len(wrapped) < 1 + NONCE_SIZE + 16:
            raise WrongKeyError(f"the wrapped data key is truncated ({len(wrapped)} bytes); its catalogue entry is corrupt")
        if wrapped[0] != _WRAP_VERSION:
            raise WrongKeyError(
                f"the wrapped data key has format version {wrapped[0]}, which this version of hudang cannot read"
            )
        try:
            return self._kek.decrypt(wrapped[1:1 + NONCE_SIZE], wrapped[1 + NONCE_SIZE:], wrapped[:1])
        except InvalidTag:
            raise WrongKeyError(
                f"the master key from {self.source} does not open this wrapped data key "
                "(wrong master key, or the catalogue entry is corrupt)"
            ) from None

    def derive(self, purpose: KeyPurpose, length: int = KEY_SIZE) -> bytes:
        """The subkey for one :class:`KeyPurpose`; the same key and purpose give the same bytes."""
        purpose = KeyPurpose(purpose)
        return _hkdf(self._key, _DERIVE_INFO_PREFIX + purpose.value.encode("utf-8"), length)

    def same_key(self, other: MasterKey) -> bool:
        """Are the two the same key? (constant time)"""
        return hmac.compare_digest(self._key, other._key)

    def fingerprint(self) -> str:
        """16 hex chars identifying the key; safe to store and show."""
        return _hkdf(self._key, _FINGERPRINT_INFO, 8).hex()

    def __repr__(self) -> str:
        return f"MasterKey(fingerprint={self.fingerprint()!r}, source={self.source!r})"


class KeyRing:
    """The master key that wraps and derives from now on, and earlier keys that still open
    what they wrapped: during a key rotation (and after one, while a row the rotation
    missed is re-wrapped) each wrapped key opens with whichever key wrapped it.

    Quacks like a :class:`MasterKey` (``wrap``, ``unwrap``, ``derive``, ``fingerprint``,
    ``source``), so the blob store takes either.
    """

    __slots__ = ("current", "_others")

    def __init__(self, current: MasterKey, others: Iterable[MasterKey] = ()) -> None:
        self.current = current
        seen = {current.fingerprint()}
        self._others: list[MasterKey] = []
        for key in others:
            if key.fingerprint() not in seen:
                seen.add(key.fingerprint())
                self._others.append(key)

    @property
    def source(self) -> str:
        return self.current.source

    @property
    def keys(self) -> list[MasterKey]:
        """Every key of the ring, the current one first."""
        return [self.current, *self._others]

    def get(self, fingerprint: str) -> MasterKey | None:
        return next((k for k in self.keys if k.fingerprint() == fingerprint), None)

    def fingerprint(self) -> str:
        return self.current.fingerprint()

    def wrap(self, data_key: bytes) -> bytes:
        return self.current.wrap(data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        return self.unwrap_with(wrapped)[0]

    def unwrap_with(self, wrapped: bytes) -> tuple[bytes, MasterKey]:
        """The data key and the key of the ring that opened it (GCM tells which: a wrong key
        fails authentication); the current key's WrongKeyError if none does."""
        first: WrongKeyError | None = None
        for key in self.keys:
            try:
                return key.unwrap(wrapped), key
            except WrongKeyError as exc:
                first = first or exc
        assert first is not None
        raise first

    def derive(self, purpose: KeyPurpose, length: int = KEY_SIZE) -> bytes:
        return self.current.derive(purpose, length)

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current.fingerprint()!r}, " \
               f"others={[k.fingerprint() for k in self._others]!r})"


# --- short-field helpers (e.g. head-of-household ID numbers) -----------------


def _require_aes256(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"field keys are {KEY_SIZE} bytes (use MasterKey.derive), not {len(key)}")


def seal_field(key: bytes, plaintext: str) -> bytes:
    """AES-256-GCM encrypt a short string: nonce (12 bytes) || ciphertext+tag."""
    _require_aes256(key)
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), None)


def open_field(key: bytes, sealed: bytes) -> str:
    """Reverse of seal_field; WrongKeyError if the key is wrong or the value was altered."""
    _require_aes256(key)
    try:
        plain = AESGCM(key).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], None)
    except (InvalidTag, ValueError):
        raise WrongKeyError("this key does not open the sealed field (wrong key, or the stored value is corrupt)") from None
    return plain.decode("utf-8")


def normalise_field_value(value: str) -> str:
    """Canonical form for indexing: NFKC (full-width digits to ASCII), no whitespace, upper case (x -> X)."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def blind_index(key: bytes, value: str) -> str:
    """HMAC-SHA256 hex of the normalised value: equality search without storing the value."""
    if len(key) < 16:
        raise ValueError("blind-index keys must be at least 16 bytes (use MasterKey.derive)")
    return hmac.new(key, normalise_field_value(value).encode("utf-8"), hashlib.sha256).hexdigest()
