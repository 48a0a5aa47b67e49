"""Errors raised by the ingest package.

Every error a user can cause with a bad upload is an ``IngestError``; its ``str`` is one
line that can be shown to the user as is, and ``exit_code`` is what a command-line tool
should exit with (sysexits.h values where one fits).
"""
from __future__ import annotations

from pathlib import Path


def _one_line(text: str) -> str:
    # Messages end up in logs and flash messages: never let a decoder's multi-line
    # diagnostic split them.
    return " ".join(str(text).split())


class IngestError(Exception):
    """Base class of all ingest failures."""

    exit_code: int = 1

    def __str__(self) -> str:
        return _one_line(super().__str__())


class UnreadableInput(IngestError):
    """The input cannot be turned into pages (damaged, hostile or unsupported)."""

    exit_code = 65  # EX_DATAERR: the input data was incorrect

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

    exit_code = 77  # EX_NOPERM


class ResourceLimit(UnreadableInput):
    """Reading the input needed more time, memory or pixels than allowed (bombs)."""

    exit_code = 75  # EX_TEMPFAIL: it may succeed with higher limits
