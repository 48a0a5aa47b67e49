"""Errors of the catalogue that a person can act on: one sentence each.

Their exit codes and HTTP statuses are bound in one table, ``web/errors.py``.
"""
from __future__ import annotations


class RecordsError(Exception):
    """Base of the catalogue's errors."""


class NotFound(RecordsError):
    """No such region, household, user or document type."""


class Invalid(RecordsError, ValueError):
    """A value that cannot be stored as given (a malformed number, a weak password)."""


class Conflict(RecordsError):
    """It exists already (a region, a household, a user name)."""


class Destroyed(RecordsError):
    """已销毁: the record was destroyed under a destruction list. Its catalogue entry remains;
    its content, and the keys that opened it, are gone. Said only to one the door let in."""

    def __init__(self, what: str, on: str, list_no: int | None):
        self.what, self.on, self.list_no = what, on, list_no
        super().__init__(f"{what} was destroyed on {on} under destruction list {list_no}")
