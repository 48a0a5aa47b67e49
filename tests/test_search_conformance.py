"""The search facade's conformance suite (tests/search_conformance.py), run against the
Whoosh implementation: ``search.SearchIndex`` on a real index directory."""
from __future__ import annotations

import pytest

from search import SearchIndex
from tests.search_conformance import *  # noqa: F403 - the suite's tests and its index fixture


@pytest.fixture
def make_index(tmp_path):
    opened = []

    def make():
        index = SearchIndex.create(tmp_path / f"index-{len(opened)}")
        opened.append(index)
        return index

    yield make
    for index in opened:
        index.close()
