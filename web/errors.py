"""The one table of errors: each user-facing exception class bound to one exit code and one
HTTP status. The CLI turns them into exits in one handler (``web.cli``), the web app into
pages or JSON in one set of handlers (:func:`register`). ``docs/exit-codes.md`` lists them.

Like OCRmyPDF's ``ExitCode``: the codes are stable, so that scripts can rely on them; the
sysexits.h values are used where one fits.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from ingest.archive import ArchiveError
from ingest.backup import BackupError
from ingest.box import BoxError, RowsFailed
from ingest.exceptions import (IngestError, NoSpace, PasswordProtected, ResourceLimit,
                               UnreadableInput)
from ingest.ocr.base import OcrFailed, UnknownEngine
from ingest.pipeline import DuplicateSeq
from ingest.settings import SettingsError
from records.db import CatalogueRefused, CatalogueUnavailable
from records.door import Refused
from records.exceptions import Conflict, Destroyed, Invalid, NotFound, RecordsError
from search import IndexBusy, IndexOutOfDate, QueryTooLong, SearchError, SearchTimedOut
from storage import StorageError, WeakPassphrase, WrongPassphrase


class ExitCode(enum.IntEnum):
    ok = 0
    failed = 1  # the work could not be done (an ingest failed for a reason named in the sentence)
    bad_input = 2  # a value given on the command line or in a form cannot be used (also click's)
    not_found = 3  # nothing by that name, or not yours: the two are deliberately the same
    conflict = 4  # it exists already (a household, a user, a document number)
    audit_broken = 5  # the audit chain does not verify (or no longer holds an anchor)
    verify_findings = 6  # `hudang verify` found something wrong (its report says what)
    destroyed = 7  # the record was destroyed under a destruction list (已销毁)
    rows_failed = 8  # some rows of a box failed, each with its sentence; the others went in
    input_file = 65  # EX_DATAERR: the scan itself is damaged, hostile or of an unknown kind
    unavailable = 69  # EX_UNAVAILABLE: a program, its data or the catalogue's server is missing
    index_out_of_date = 70  # the search index must be rebuilt with 'hudang reindex'
    io_error = 74  # EX_IOERR: the disk holding the data home is full
    temp_fail = 75  # EX_TEMPFAIL: a limit was hit (time, memory, pixels); may pass with more
    permission = 77  # EX_NOPERM: a password-protected PDF, or a wrong passphrase for a key export
    config = 78  # EX_CONFIG: the data home, the master key or a setting cannot be used
    interrupted = 130  # 128 + SIGINT: stopped by Ctrl-C; a resumable command goes on when run again


@dataclass(frozen=True)
class Binding:
    exit_code: ExitCode
    http_status: int


# Most specific first is not needed: the lookup walks each exception's class hierarchy.
BINDINGS: dict[type[BaseException], Binding] = {
    Refused: Binding(ExitCode.not_found, 404),
    NotFound: Binding(ExitCode.not_found, 404),
    Destroyed: Binding(ExitCode.destroyed, 410),
    Invalid: Binding(ExitCode.bad_input, 400),
    Conflict: Binding(ExitCode.conflict, 409),
    RecordsError: Binding(ExitCode.bad_input, 400),
    DuplicateSeq: Binding(ExitCode.conflict, 409),
    RowsFailed: Binding(ExitCode.rows_failed, 422),
    BoxError: Binding(ExitCode.bad_input, 400),
    PasswordProtected: Binding(ExitCode.permission, 422),
    ResourceLimit: Binding(ExitCode.temp_fail, 422),
    UnreadableInput: Binding(ExitCode.input_file, 422),
    OcrFailed: Binding(ExitCode.unavailable, 503),
    UnknownEngine: Binding(ExitCode.bad_input, 400),
    NoSpace: Binding(ExitCode.io_error, 507),  # 507 Insufficient Storage
    IngestError: Binding(ExitCode.failed, 422),
    BackupError: Binding(ExitCode.failed, 500),
    WrongPassphrase: Binding(ExitCode.permission, 403),
    WeakPassphrase: Binding(ExitCode.bad_input, 400),
    IndexOutOfDate: Binding(ExitCode.index_out_of_date, 503),
    QueryTooLong: Binding(ExitCode.bad_input, 400),
    SearchTimedOut: Binding(ExitCode.temp_fail, 503),
    IndexBusy: Binding(ExitCode.temp_fail, 503),
    SearchError: Binding(ExitCode.failed, 400),
    ArchiveError: Binding(ExitCode.config, 503),
    SettingsError: Binding(ExitCode.config, 503),
    StorageError: Binding(ExitCode.config, 503),
    CatalogueUnavailable: Binding(ExitCode.unavailable, 503),
    CatalogueRefused: Binding(ExitCode.config, 503),
}

USER_ERRORS: tuple[type[BaseException], ...] = tuple(BINDINGS)


def binding_for(exc: BaseException) -> Binding | None:
    """The binding of the most specific bound class ``exc`` is an instance of, or None."""
    for cls in type(exc).__mro__:
        if cls in BINDINGS:
            return BINDINGS[cls]
    return None


def exit_code_for(exc: BaseException) -> ExitCode:
    binding = binding_for(exc)
    return binding.exit_code if binding else ExitCode.failed
