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
