"""Encrypted storage: master key handling, key wrapping, field sealing and the blob store.

Imports nothing from the other hudang packages.
"""
from storage.blobstore import BlobRef, BlobStore
from storage.register import RegisterBroken, SealedLog
from storage.exceptions import (BlobNotFound, FixityError, KeyFileError, StorageError, WeakPassphrase,
                                WrongKeyError, WrongPassphrase)
from storage.keyfiles import KeyFiles, check_passphrase, export_key, import_key
from storage.keys import (
    DEFAULT_KEY_FILE,
    KeyPurpose,
    KeyRing,
    MasterKey,
    blind_index,
    normalise_field_value,
    open_field,
    seal_field,
)

__all__ = [
    "DEFAULT_KEY_FILE",
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "FixityError",
    "KeyFileError",
    "KeyFiles",
    "KeyPurpose",
    "KeyRing",
    "MasterKey",
    "RegisterBroken",
    "SealedLog",
    "StorageError",
    "WeakPassphrase",
    "WrongKeyError",
    "WrongPassphrase",
    "blind_index",
    "check_passphrase",
    "export_key",
    "import_key",
    "normalise_field_value",
    "open_field",
    "seal_field",
]
