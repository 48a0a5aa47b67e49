"""What a search returns: hits (one per document) and a total."""
from __future__ import annotations

from dataclasses import dataclass, field

from search.filters import Facets

__all__ = ["Hit", "SearchResult", "Total"]


@dataclass
class Hit:
    """A matching document, represented by its best-scoring page."""

    document_id: int
    page: int
    household: str
    head_name: str
    doc_type: str
    doc_type_name: str
    title: str
    score: float
    region: str = ""  # the household's village code
    # Snippet of the page text as segments; True marks matched text.
    fragments: list[tuple[str, bool]] = field(default_factory=list)
    # True when a word matched with one character different (an OCR
    # look-alike), not exactly; such hits come after every exact hit.
    approximate: bool = False

    def snippet(self, open: str = "[", close: str = "]") -> str:  # noqa: A002 - agreed API
        """The snippet as one string with matches wrapped in ``open``/``close``.
        No escaping is done: HTML callers should escape segments themselves."""
        return "".join(f"{open}{seg}{close}" if matched else seg for seg, matched in self.fragments)


class Total(int):
    """A number of documents; ``estimated`` when it was extrapolated from a
    sample (broad queries) rather than counted. Shown as "约 N" then."""

    estimated: bool

    def __new__(cls, value: int, estimated: bool = False) -> Total:
        obj = super().__new__(cls, value)
        obj.estimated = estimated
        return obj

    def __repr__(self) -> str:
        return f"Total({int(self)}{', estimated=True' if self.estimated else ''})"

    def __str__(self) -> str:  # as a number wherever it is shown
        return int.__repr__(self)


@dataclass
class SearchResult:
    hits: list[Hit]
    total: Total  # distinct matching documents within the region scope
    # documents per type and per region (when asked for, search(facets=True))
    facets: Facets | None = None
    # nothing matched, and a search for close matches (close=True) would
    # look further: a word of three characters may then differ in one
    close_match_possible: bool = False

    @property
    def estimated(self) -> bool:
        return getattr(self.total, "estimated", False)
