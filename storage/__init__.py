"""Encrypted storage: master key handling, key wrapping, field sealing and the blob store.

Imports nothing from the other hudang packages.
"""
from storage.blobstore import BlobRef, BlobStore
from storage.register import RegisterBroken, SealedLog
from storage.exceptions import BlobNotFound, FixityError, KeyFileError, StorageError, WrongKeyError
from storage.keys import (
    DEFAULT_KEY_FILE,
    KeyPurpose,
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
    "KeyPurpose",
    "MasterKey",
    "RegisterBroken",
    "SealedLog",
    "StorageError",
    "WrongKeyError",
    "blind_index",
    "normalise_field_value",
    "open_field",
    "seal_field",
]
