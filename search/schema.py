"""What the index holds: one Whoosh document per page, its fields, and how a
:class:`PageDoc` becomes them.

The schema pickles the field classes of search/analysis.py by module path;
:func:`same_schema` says whether an index on disk was written with this
schema (else it must be rebuilt, see docs/search.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whoosh.columns import RefBytesColumn, VarBytesColumn
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, Schema

from search.analysis import HanText

__all__ = ["INDEX_NAME", "TEXT_FIELDS", "EXACT_FIELDS", "SCOPE_LENGTHS", "PageDoc", "make_schema", "page_fields",
           "same_schema", "scope_terms"]

INDEX_NAME = "pages"

# Where a query word may match, with its weight: a hit on the head of
# household's name or the household number says more than one in page text.
TEXT_FIELDS: dict[str, float] = {
    "text": 1.0,
    "title": 2.0,
    "head_name": 3.0,
    "household_text": 3.0,
}
EXACT_FIELDS: dict[str, float] = {"household": 5.0}

# Lengths of region-code prefixes indexed in ``scope`` (GB/T 2260 province,
# city, county; township; village). A scope of another length falls back to a
# Prefix query on ``region``.
SCOPE_LENGTHS = (2, 4, 6, 9, 12)


def scope_terms(region: str) -> str:
    """The ``scope`` field of a page of ``region``: the code's prefixes of
    ``SCOPE_LENGTHS`` and the code itself."""
    codes = {region[:n] for n in SCOPE_LENGTHS if n <= len(region)}
    codes.add(region)
    return " ".join(sorted(c for c in codes if c))


def make_schema() -> Schema:
    """The schema of the index (one document per page)."""
    return Schema(
        key=ID(unique=True, stored=True),  # "document_id:page"
        # sortable: grouping pages into documents reads these columns.
        # One term per value (shift_step=0, no range tiers): only looked up
        # exactly (delete by document), never by range, and every extra
        # trie term per page is an extra posting to write.
        document_id=NUMERIC(int, bits=64, shift_step=0, stored=True, sortable=True),
        page=NUMERIC(int, bits=32, shift_step=0, stored=True, sortable=True),
        # Columns (sortable) of the fields a search filters, sorts or counts
        # by page (search/filters.py, search/ordering.py): reading a page's
        # value from a column is cheap, from its stored fields is not. Types,
        # regions and dates have few distinct values: columns of references.
        household=ID(stored=True, sortable=VarBytesColumn()),
        household_text=HanText(),
        head_name=HanText(stored=True),
        region=ID(stored=True, sortable=RefBytesColumn()),
        # The region code's ancestors (province, city, county, township) and
        # itself, space-separated: a permission scope is then one term instead
        # of a Prefix query that expands to every village of the township.
        scope=KEYWORD(),
        doc_type=ID(stored=True, sortable=RefBytesColumn()),
        doc_type_name=STORED(),
        title=HanText(stored=True),
        date=ID(stored=True, sortable=RefBytesColumn()),
        text=HanText(stored=True),
    )


@dataclass
class PageDoc:
    """One page of a dossier document, as given to the index."""

    document_id: int
    page: int  # 1-based
    household: str  # household number, e.g. "220381105012-0042"
    head_name: str
    region: str  # 12-digit village code of the household
    doc_type: str  # code, e.g. "application"
    doc_type_name: str  # display name, e.g. "申请书"
    title: str
    date: str | None  # ISO date
    text: str  # OCR text of the page

    @property
    def key(self) -> str:
        return f"{self.document_id}:{self.page}"


def page_fields(page: PageDoc) -> dict[str, object]:
    """The Whoosh fields of ``page``."""
    fields: dict[str, object] = {
        "key": page.key,
        "document_id": page.document_id,
        "page": page.page,
        "household": page.household,
        "household_text": page.household,
        "head_name": page.head_name,
        "region": page.region,
        "scope": scope_terms(page.region),
        "doc_type": page.doc_type,
        "doc_type_name": page.doc_type_name,
        "title": page.title,
        "text": page.text,
    }
    if page.date:
        fields["date"] = page.date
    return fields


def schema_signature(schema: Schema) -> list[tuple[Any, ...]]:
    """What must be equal for an index to be searchable with this code:
    field names, field and format classes, stored/unique/scorable, numeric
    tiers, columns."""
    return [(name, type(f).__module__, type(f).__qualname__, type(f.format).__qualname__ if f.format else None,
             f.stored, f.unique, f.scorable, getattr(f, "shift_step", None), f.column_type is not None)
            for name, f in schema.items()]


def same_schema(a: Schema, b: Schema) -> bool:
    """Whether an index written with schema ``a`` can be used with ``b``."""
    return schema_signature(a) == schema_signature(b)
