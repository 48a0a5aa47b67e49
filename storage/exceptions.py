"""Errors raised by the storage package.

Every error carries a one-sentence message that tells a person what went
wrong and what to do; callers can show ``str(error)`` as it is.
"""
from __future__ import annotations


class StorageError(Exception):
    """Base class of all storage errors."""


class KeyFileError(StorageError):
    """The master key file (or variable) is missing, unreadable, malformed or too open."""


class WrongKeyError(StorageError):
    """The master key (or a field key) does not open this archive or wrapped key."""


class BlobNotFound(StorageError):
    """No blob with this ref exists in the store."""


class FixityError(StorageError):
    """A blob's content changed or is corrupt (authentication or SHA-256 mismatch)."""


class WrongPassphrase(StorageError):
    """The passphrase does not open a key export (or the export was altered)."""


class WeakPassphrase(StorageError):
    """A passphrase too short to protect the master key."""
