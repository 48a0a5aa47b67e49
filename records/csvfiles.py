"""Reading the CSV files offices import (regions, households): one reading for all.

The standard library's ``csv`` module does the quoting; this adds what offices' files
need: UTF-8 with or without a byte-order mark, or GB18030 (what a Chinese Excel writes
as "CSV (逗号分隔)"); a header row whose columns may be named in Chinese or English
(:class:`Columns`); rows numbered as a spreadsheet shows them (the header is row 1).
"""
from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from records.problems import N_, Problem, Problems, RowProblem, fail

T = TypeVar("T")

MAX_ROWS = 100_000


def decode(data: bytes, name: str = "the file") -> str:
    """The text of an uploaded CSV file: UTF-8 (BOM or not), else GB18030."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise fail("file", N_("%(name)s is neither UTF-8 nor GB18030 text; save it as CSV "
                              "UTF-8 and try again"), name=name) from None


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "_")


@dataclass(frozen=True)
class Columns:
    """The columns a file may have: each key with the names it may go by, and which keys a
    file must have."""

    names: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]

    def lookup(self) -> dict[str, str]:
        return {_key(n): k for k, names in self.names.items() for n in (k, *names)}


@dataclass
class Table:
    """A file's rows as ``{key: cell}`` with their row numbers, and the column each key
    came from as the file names it (for sentences)."""

    rows: list[tuple[int, dict[str, str]]]
    headers: dict[str, str]
    skipped: list[RowProblem] = field(default_factory=list)

    def column(self, key: str) -> str:
        return self.headers.get(key, key)

    def problem(self, number: int, problem: Problem) -> RowProblem:
        """``problem`` of row ``number``, named by the column as the file names it."""
        return RowProblem(number, self.headers.get(problem.field, ""), problem)

    def read_rows(self, read: Callable[[int, dict[str, str]], T], key: Callable[[T], str],
                  key_field: str, allowed: Callable[[str], bool],
                  problems: list[RowProblem]) -> Iterator[tuple[int, T]]:
        """Each row as ``read(number, cells)`` gives it. A row that cannot be read, repeats
        the key of an earlier row, or lies outside the importer's jurisdiction (``allowed``)
        is not given: its first problem goes to ``problems`` instead."""
        seen: dict[str, int] = {}
        for number, cells in self.rows:
            try:
                row = read(number, cells)
                k = key(row)
                if k in seen:
                    raise fail(key_field, N_("“%(key)s” is already in row %(row)s"), key=k,
                               row=seen[k])
                if not allowed(k):
                    raise fail(key_field, N_("“%(key)s” is outside your jurisdiction"), key=k)
            except Problems as exc:
                problems.append(self.problem(number, exc.problems[0]))
                continue
            seen[k] = number
            yield number, row


def read_table(text: str, columns: Columns, name: str = "the file") -> Table:
    """Rows of ``text`` keyed by ``columns``; a header that cannot be used raises
    :class:`records.problems.Problems` (nothing of the file can be read then)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise fail("file", N_("%(name)s is empty"), name=name) from None
    except csv.Error as exc:
        raise fail("file", N_("%(name)s is not a CSV file (%(reason)s)"), name=name,
                   reason=str(exc)) from None
    lookup = columns.lookup()
    keys: list[str | None] = []
    headers: dict[str, str] = {}
    for cell in header:
        shown = cell.strip()
        key = lookup.get(_key(cell))
        if key is None and shown:
            known = "、".join(n for names in columns.names.values() for n in names[:1])
            raise fail("file", N_("row 1: the column “%(column)s” is not one hudang knows; "
                                  "use: %(known)s"), column=shown[:40], known=known)
        if key in headers:
            raise fail("file", N_("row 1: the columns “%(first)s” and “%(second)s” say the "
                                  "same thing"), first=headers[key], second=shown)
        keys.append(key)
        if key:
            headers[key] = shown
    missing = [k for k in columns.required if k not in headers]
    if missing:
        raise fail("file", N_("row 1: %(name)s has no column “%(column)s”"), name=name,
                   column=columns.names[missing[0]][0])
    table = Table([], headers)
    for number, cells in _numbered(reader):
        if number > MAX_ROWS + 1:
            raise fail("file", N_("%(name)s has more than %(n)s rows; split it"), name=name,
                       n=MAX_ROWS)
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(keys):
            table.skipped.append(RowProblem(number, "", Problem("row", N_(
                "the row has %(got)s cells but the header %(want)s"),
                {"got": len(cells), "want": len(keys)})))
            continue
        table.rows.append((number, {k: c for k, c in zip(keys, cells) if k}))
    return table


def _numbered(reader) -> Iterator[tuple[int, list[str]]]:
    number = 1
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise fail("file", N_("row %(row)s cannot be read as CSV (%(reason)s)"),
                       row=number, reason=str(exc)) from None
        yield number, cells


@dataclass
class ImportReport:
    """What an import did: the objects it created, changed and found as they were, and one
    problem per bad row (those rows changed nothing)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.problems)} rows refused")

    def counts(self) -> dict[str, int]:
        return {"created": len(self.created), "updated": len(self.updated),
                "unchanged": len(self.unchanged), "refused": len(self.problems)}

    def as_json(self) -> dict:
        return {**self.counts(), "created_ids": self.created, "updated_ids": self.updated,
                "problems": [p.as_json() for p in self.problems]}
