"""A user's query: its words and units, the Whoosh query that finds
candidate pages, and the check of a candidate against its stored text.

A query string is split on whitespace into words; every word must match
(AND), each in any one of the searched fields (OR). Inside a word the tokens
of the analyzer must be consecutive, so 王德胜 is the phrase 王德 德胜 and the
household number 220381105012-0042 is the phrase 220381105012 0042 (it never
matches -0043). A number typed right after Han characters at the end of a
word may be the start of a longer number in the text: 于20 matches 于2015年
(``Unit.open_end``). The same parsed words drive highlighting
(search/snippets.py), so the snippet marks exactly what made the page match.

Whoosh never checks phrase positions for the exact query: it sees each
phrase as the AND of its tokens (``build_query``), which finds a superset of
the pages and scores them as it would score the phrase (the same terms).
Each unit also compiles to a regular expression over the folded text
(:func:`search.analysis.fold`), which says whether a stored text holds it as
a substring (``matches_stored``); the candidates are checked that way.
Whoosh's phrase matcher checks every page holding all the tokens of a
phrase, and long phrases of common words (a pasted line of a form) made that
cost seconds. Words that may match with one character different:
search/lookalike.py.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from whoosh import query as wq
from whoosh.query.compound import DefaultOr

from search.analysis import HAN_CLASS, fold, is_han, raw_tokens
from search.matchers import Unscored, all_of, span_phrase

__all__ = [
    "Analyzer",
    "HAN",
    "IN_RUN",
    "WORD_CLASS",
    "Unit",
    "QueryWord",
    "parse_query",
    "unit_pattern",
    "unit_re",
    "fold_lower",
    "word_query",
    "build_query",
    "has_open_end",
    "needs_check",
    "matches_stored",
]

Analyzer = Callable[..., Iterable]

# An open end (a number typed right after Han characters) of at least this
# many characters is also looked up in the index, as a prefix; shorter ones
# (于20) would expand to too many numbers and are only checked on the text.
OPEN_END_PREFIX_MIN = 6

# Pieces of a unit's regular expression (on folded, lowercased text).
NONTOK = r"[\W_]"  # neither Han nor a letter/digit: never part of a token
IN_RUN = r"\s*"  # between two Han characters of one run (OCR spaces)
BETWEEN_RUNS = rf"{NONTOK}*(?:[^\w\s]|_){NONTOK}*"  # two Han runs: not only spaces between
WORD_CLASS = rf"[^\W_{HAN_CLASS}]"  # a letter/digit (run character)
HAN = rf"[{HAN_CLASS}]"


@dataclass(frozen=True)
class Unit:
    """Tokens that must occur consecutively in one field.

    ``prefix`` marks a lone Han character: documents index it inside bigrams,
    so it matches any token that starts with it (a unigram or a bigram).
    ``open_end``: the last token is a letter/digit run typed right after Han
    characters, which may be the start of a longer run in the text.
    ``atoms``: the unit as the text holds it, for regular expressions:
    ("han", char), ("run", letters/digits) and ("sep", separator pattern).
    """

    tokens: tuple[str, ...]
    prefix: bool = False
    open_end: bool = False
    atoms: tuple[tuple[str, str], ...] = ()

    @property
    def index_tokens(self) -> tuple[str, ...]:
        """The tokens the index must hold at consecutive positions (an open
        end's last token is checked on the stored text instead)."""
        return self.tokens[:-1] if self.open_end else self.tokens

    @property
    def han_count(self) -> int:
        return sum(1 for kind, _ in self.atoms if kind == "han")

    @property
    def char_count(self) -> int:
        return sum(len(text) for kind, text in self.atoms if kind != "sep")


@dataclass(frozen=True)
class QueryWord:
    """One whitespace-separated word of the query; all its units must match."""

    raw: str
    units: tuple[Unit, ...]


def parse_query(text: str, analyzer: Analyzer) -> list[QueryWord]:
    """Split ``text`` into words and analyze each one; words without any
    searchable token (punctuation only) are dropped."""
    words: list[QueryWord] = []
    for raw in text.split():
        tokens = [(t.text, t.startchar, t.endchar) for t in analyzer(raw, chars=True, mode="query")]
        if tokens:
            words.append(QueryWord(raw=raw, units=_units(tokens)))
    return words


def _is_lone_han(token: str) -> bool:
    return len(token) == 1 and is_han(token)


def _is_bigram(token: str) -> bool:
    return len(token) == 2 and is_han(token[0]) and is_han(token[1])


def _units(tokens: list[tuple[str, int, int]]) -> tuple[Unit, ...]:
    # A lone Han character is a unigram only in the query; in the document
    # the same character may sit inside a longer run, i.e. inside bigrams, so
    # it cannot be part of a phrase. Split the word around it instead.
    groups: list[list[tuple[str, int, int]]] = []
    pending: list[tuple[str, int, int]] = []
    for tok in tokens:
        if _is_lone_han(tok[0]):
            if pending:
                groups.append(pending)
                pending = []
            groups.append([tok])
        else:
            pending.append(tok)
    if pending:
        groups.append(pending)
    units = []
    for group in groups:
        texts = tuple(t for t, _, _ in group)
        if len(group) == 1 and _is_lone_han(texts[0]):
            units.append(Unit(texts, prefix=True, atoms=(("han", texts[0]),)))
            continue
        open_end = len(group) >= 2 and not _is_bigram(texts[-1]) and _is_bigram(texts[-2])
        units.append(Unit(texts, open_end=open_end, atoms=_atoms(group)))
    return tuple(units)


def _atoms(group: list[tuple[str, int, int]]) -> tuple[tuple[str, str], ...]:
    atoms: list[tuple[str, str]] = []
    prev: tuple[str, int, int] | None = None
    for tok in group:
        text, start, _ = tok
        if _is_bigram(text):
            if prev is not None and _is_bigram(prev[0]) and start == prev[2] - 1:
                atoms += [("sep", IN_RUN), ("han", text[1])]  # the same run goes on
            else:
                if prev is not None:
                    atoms.append(("sep", BETWEEN_RUNS if _is_bigram(prev[0]) else f"{NONTOK}*"))
                atoms += [("han", text[0]), ("sep", IN_RUN), ("han", text[1])]
        else:
            if prev is not None:
                atoms.append(("sep", f"{NONTOK}*" if _is_bigram(prev[0]) else f"{NONTOK}+"))
            atoms.append(("run", text))
        prev = tok
    return tuple(atoms)


def unit_pattern(unit: Unit, wildcard: int | None = None) -> str:
    """The regular expression of a unit; ``wildcard``: the index of a Han
    atom that may be any Han character."""
    parts = []
    atoms = unit.atoms
    for i, (kind, text) in enumerate(atoms):
        if kind == "sep":
            parts.append(text)
        elif kind == "han":
            parts.append(HAN if i == wildcard else re.escape(text))
        else:
            if i == 0:
                parts.append(f"(?<!{WORD_CLASS})")  # the text's run starts here
            parts.append(re.escape(text))
            if i == len(atoms) - 1 and not unit.open_end:
                parts.append(f"(?!{WORD_CLASS})")  # ... and ends here
    return "".join(parts)


@lru_cache(maxsize=512)
def unit_re(unit: Unit) -> re.Pattern[str]:
    return re.compile(unit_pattern(unit))


def fold_lower(text: str) -> str:
    """``text`` folded as the analyzer folds it and lowercased, with the
    same length (offsets in it are offsets in ``text``)."""
    folded = fold(text)
    lowered = folded.lower()
    if len(lowered) == len(folded):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in folded)


# -- Whoosh queries -----------------------------------------------------------


def _unit_queries(field_name: str, unit: Unit, boost: float, positions: bool) -> list[wq.Query]:
    if unit.prefix:
        return [wq.Prefix(field_name, unit.tokens[0], boost=boost)]
    tokens = unit.index_tokens
    if positions and len(tokens) > 1:
        parts = [span_phrase(field_name, tokens, boost)]
    else:
        # The tokens anywhere in the field: a superset of the phrase. Repeated
        # tokens are kept, as Whoosh's phrase scoring counts them.
        parts = [wq.Term(field_name, t, boost=boost) for t in tokens]
    if unit.open_end and len(unit.tokens[-1]) >= OPEN_END_PREFIX_MIN:
        # A long open end is selective (part of an ID number after 身份证号):
        # the page must hold a token starting with it. Scored 0, so the
        # scores stay those of the phrase before it.
        parts.append(Unscored(wq.Prefix(field_name, unit.tokens[-1])))
    return parts


def word_query(word: QueryWord, text_fields: Mapping[str, float], exact_fields: Mapping[str, float] = {},
               *, positions: bool = False) -> wq.Query:
    """One word: in any of ``text_fields`` (all its units' tokens in the same
    field) or exactly as typed in any of ``exact_fields``."""
    alternatives: list[wq.Query] = []
    for field_name, boost in text_fields.items():
        alternatives.append(all_of([q for u in word.units for q in _unit_queries(field_name, u, boost, positions)]))
    for field_name, boost in exact_fields.items():
        alternatives.append(wq.Term(field_name, word.raw, boost=boost))
    # DefaultOr: a tree of union matchers that follows skip_to. Whoosh's
    # automatic choice preloads every alternative on segments of up to 5,000
    # pages, so a common word of a query was read in full however rare the
    # other words were.
    return DefaultOr(alternatives)


def build_query(
    words: Sequence[QueryWord],
    text_fields: Mapping[str, float],
    exact_fields: Mapping[str, float] = {},
    *,
    positions: bool = False,
) -> wq.Query | None:
    """AND of words; each word matches in any of ``text_fields`` (analysed,
    field -> boost) or exactly as typed in any of ``exact_fields`` (ID fields
    such as the household number).

    Each phrase is the AND of its tokens: the query matches every page that
    holds the words and possibly more (:func:`needs_check` says when), and
    Whoosh scores a page as it would score the phrases, without decoding
    positions. ``positions=True`` makes Whoosh check the phrases itself: only
    worth it where few pages are looked at and the phrases are common (a
    total's sample); see the module's docstring. An open end is never in the
    Whoosh query."""
    per_word = [word_query(w, text_fields, exact_fields, positions=positions) for w in words]
    if not per_word:
        return None
    return all_of(per_word)


def has_open_end(words: Sequence[QueryWord]) -> bool:
    """True if a unit ends in a number that may go on in the text."""
    return any(u.open_end for w in words for u in w.units)


def needs_check(words: Sequence[QueryWord]) -> bool:
    """True if pages matched by :func:`build_query` must still be checked on
    their stored text: a unit of several tokens (Whoosh only saw the tokens
    somewhere in the field) or with an open end (Whoosh only saw the tokens
    before it)."""
    return any(len(u.index_tokens) > 1 or u.open_end for w in words for u in w.units)


# -- checking a candidate against its stored fields ---------------------------


def _tokens_start_with(text: str, ch: str) -> bool:
    return any(tok.startswith(ch) for tok, _, _ in raw_tokens(text))


def matches_stored(
    words: Sequence[QueryWord],
    fields: Mapping[str, str],
    text_fields: Iterable[str],
    exact_fields: Mapping[str, str],
) -> bool:
    """Whether a page matches the query, judged from its stored values:
    every word has all its units in one of ``text_fields`` (``fields`` maps
    each of them to its text), or equals the value of an exact field
    (``exact_fields``: field name -> value). A unit matches where the text
    holds it as a substring (Han characters consecutive in one run, a
    letter/digit run whole, an open end as a prefix of a run)."""
    folded: dict[str, str] = {}

    def text_of(name: str) -> str:
        if name not in folded:
            folded[name] = fold_lower(fields.get(name) or "")
        return folded[name]

    def unit_in(name: str, unit: Unit) -> bool:
        if unit.prefix:
            return _tokens_start_with(fields.get(name) or "", unit.tokens[0])
        return unit_re(unit).search(text_of(name)) is not None

    for word in words:
        if any(word.raw == value for value in exact_fields.values()):
            continue
        if not any(all(unit_in(f, u) for u in word.units) for f in text_fields):
            return False
    return True
