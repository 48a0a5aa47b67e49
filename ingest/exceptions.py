"""Errors raised by the ingest package.

Every error a user can cause with a bad upload is an ``IngestError``; its ``str`` is one
line that can be shown to the user as is. Exit codes are bound to these classes in the one
table, ``web/errors.py``.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _one_line(text: str) -> str:
    # Messages end up in logs and flash messages: never let a decoder's multi-line
    # diagnostic split them.
    return " ".join(str(text).split())


class IngestError(Exception):
    """Base class of all ingest failures."""

    def __str__(self) -> str:
        return _one_line(super().__str__())


class UnreadableInput(IngestError):
    """The input cannot be turned into pages (damaged, hostile or unsupported)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        # Pass both to Exception so the error pickles (it crosses process boundaries).
        super().__init__(path, reason)
        self.path = Path(path)
        self.reason = _one_line(reason)

    def __str__(self) -> str:
        return f"cannot ingest '{self.path.name}': {self.reason}"


class UnsupportedFormat(UnreadableInput):
    """The content is not a PDF, TIFF, JPEG or PNG file (whatever its name says)."""


class PasswordProtected(UnreadableInput):
    """The PDF needs a user password to open."""


class ResourceLimit(UnreadableInput):
    """Reading the input needed more time, memory or pixels than allowed (bombs)."""


class NoSpace(IngestError):
    """The disk holding the data home is full (or the user's quota is used up)."""

    def __init__(self, subject: str, home: Path | str) -> None:
        super().__init__(subject, home)
        self.subject = subject
        self.home = Path(home)

    def __str__(self) -> str:
        return (f"cannot {self.subject}: the disk holding the data home '{self.home}' is full; "
                "free some space and run the command again")


_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # "database or disk is full"
_SQLITE_IO = frozenset({10, 14})  # SQLITE_IOERR (its -shm file cannot grow), SQLITE_CANTOPEN
_NEARLY_FULL = 1 << 20  # bytes: below this, an I/O error on the data home is a full disk


def is_no_space(exc: BaseException | None, home: Path | None = None) -> bool:
    """Whether ``exc`` (or what caused it: a wrapped driver error) is a full disk.

    SQLite says "disk I/O error" when it cannot grow its shared-memory file on a full
    disk; with ``home``, such an I/O error counts when that disk is (nearly) full.
    """
    seen: set[int] = set()
    io_error = False
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS:
            return True
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == _SQLITE_FULL:
            return True
        io_error = io_error or isinstance(exc, OSError) or (
            code is not None and code & 0xFF in _SQLITE_IO)
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return io_error and home is not None and _free_bytes(home) < _NEARLY_FULL


def _free_bytes(path: Path) -> int:
    try:
        stat = os.statvfs(path)
    except OSError:
        return _NEARLY_FULL  # cannot tell: not a full disk by this test
    return stat.f_bavail * stat.f_frsize


@contextmanager
def full_disk_as(subject: str, home: Path) -> Iterator[None]:
    """Turn a full disk met anywhere inside into one :class:`NoSpace` sentence."""
    try:
        yield
    except IngestError:
        raise
    except Exception as exc:
        if is_no_space(exc, home):
            raise NoSpace(subject, home) from exc
        raise
