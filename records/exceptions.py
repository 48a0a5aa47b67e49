"""Errors of the catalogue that a person can act on: one sentence each."""
from __future__ import annotations


class RecordsError(Exception):
    exit_code = 2


class NotFound(RecordsError):
    exit_code = 3


class Invalid(RecordsError):
    exit_code = 2


class Conflict(RecordsError):
    exit_code = 4
