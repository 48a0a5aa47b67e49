"""Errors raised by the ingest package.

Every error a user can cause with a bad upload is an ``IngestError``; its ``str`` is one
line that can be shown to the user as is. Exit codes are bound to these classes in the one
table, ``web/errors.py``.
"""
from __future__ import annotations

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
