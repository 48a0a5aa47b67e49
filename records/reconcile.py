"""Reconciling the payment system's monthly roster with the dossiers (每月核对).

DOMAIN.md: the electronic record must agree with the paper; each month the
roster is reconciled against the dossiers. The roster is a CSV exported by the
payment system with at least the household number, the head's name and the
amount; its header may be in Chinese or English, its encoding UTF-8 or GB18030
(what Chinese spreadsheet programs write). Bad rows are reported one sentence
each and the good rows still compared.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from records.exceptions import Invalid

HOUSEHOLD_NUMBER = re.compile(r"^[0-9]{12}-[0-9]{4}$")
COLUMNS = {
    "household": ("户号", "户编号", "家庭编号", "household", "household_no", "number"),
    "head_name": ("户主", "户主姓名", "姓名", "head", "head_name", "name"),
    "amount": ("金额", "保障金额", "发放金额", "月保障金", "amount"),
}
MAX_ROWS = 200_000


@dataclass(frozen=True)
class RosterRow:
    line: int  # line in the file (the header is line 1)
    household: str
    head_name: str
    amount: Decimal


@dataclass(frozen=True)
class Roster:
    rows: list[RosterRow]
    problems: list[str]  # one sentence per bad row

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows), Decimal("0"))


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid("the roster is neither UTF-8 nor GB18030 text")


def _column(header: list[str], names: Iterable[str]) -> int | None:
    wanted = {n.casefold() for n in names}
    for i, cell in enumerate(header):
        if cell.strip().casefold() in wanted:
            return i
    return None


def parse_roster(data: bytes, name: str = "the roster") -> Roster:
    """Read a roster CSV; a file without the three columns raises :class:`Invalid`."""
    reader = csv.reader(io.StringIO(decode(data)))
    header = next(reader, None)
    if header is None:
        raise Invalid(f"{name} is empty")
    where = {key: _column(header, names) for key, names in COLUMNS.items()}
    lacking = [COLUMNS[k][0] for k, i in where.items() if i is None]
    if lacking:
        raise Invalid(f"{name} has no column {'、'.join(lacking)} (its first line must name "
                      "the columns: 户号, 户主, 金额 or household, head_name, amount)")
    rows, problems, seen = [], [], {}
    for line, cells in enumerate(reader, start=2):
        if line > MAX_ROWS:
            raise Invalid(f"{name} has more than {MAX_ROWS} rows; split it")
        if not any(c.strip() for c in cells):
            continue

        def cell(key: str) -> str:
            i = where[key]
            return cells[i].strip() if i < len(cells) else ""

        number, head, amount_text = cell("household"), cell("head_name"), cell("amount")
        if not HOUSEHOLD_NUMBER.match(number):
            problems.append(f"row {line}, column 户号: '{number[:40]}' is not a household number "
                            "like 220381105012-0042")
            continue
        if not head:
            problems.append(f"row {line}, column 户主: the head's name is empty")
            continue
        try:
            amount = Decimal(amount_text.replace(",", ""))
            if not amount.is_finite() or amount < 0:
                raise InvalidOperation
        except InvalidOperation:
            problems.append(f"row {line}, column 金额: '{amount_text[:20]}' is not an amount")
            continue
        if number in seen:
            problems.append(f"row {line}, column 户号: household {number} is already on row "
                            f"{seen[number]}")
            continue
        seen[number] = line
        rows.append(RosterRow(line, number, head, amount))
    return Roster(rows, problems)


@dataclass(frozen=True)
class Dossier:
    """What reconciliation needs of a household in the archive."""

    household: str
    head_name: str
    status: str  # active / stopped
    documents: int


@dataclass
class Reconciliation:
    on_roster_without_dossier: list[RosterRow] = field(default_factory=list)
    on_roster_empty_dossier: list[RosterRow] = field(default_factory=list)
    on_roster_but_stopped: list[RosterRow] = field(default_factory=list)
    name_differs: list[tuple[RosterRow, Dossier]] = field(default_factory=list)
    active_not_on_roster: list[Dossier] = field(default_factory=list)
    matched: int = 0
    outside_scope: int = 0  # roster rows of households outside the reader's region

    @property
    def agrees(self) -> bool:
        return not (self.on_roster_without_dossier or self.on_roster_empty_dossier
                    or self.on_roster_but_stopped or self.name_differs
                    or self.active_not_on_roster)


def reconcile(roster: Roster, dossiers: Iterable[Dossier], scope: str | None) -> Reconciliation:
    """Compare the roster with the dossiers of households under ``scope`` (None: all).

    Roster rows of households outside the scope are only counted: whether such a
    household has a dossier is not the reader's to know. Pure.
    """
    known = {d.household: d for d in dossiers}
    result = Reconciliation()
    on_roster = set()
    for row in roster.rows:
        if scope and not row.household.startswith(scope):
            result.outside_scope += 1
            continue
        on_roster.add(row.household)
        dossier = known.get(row.household)
        if dossier is None:
            result.on_roster_without_dossier.append(row)
            continue
        if dossier.status != "active":
            result.on_roster_but_stopped.append(row)
        elif dossier.documents == 0:
            result.on_roster_empty_dossier.append(row)
        elif dossier.head_name != row.head_name:
            result.name_differs.append((row, dossier))
        else:
            result.matched += 1
    result.active_not_on_roster = sorted(
        (d for d in known.values() if d.status == "active" and d.household not in on_roster),
        key=lambda d: d.household)
    return result
