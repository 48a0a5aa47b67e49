"""The archivist's desk's pure rules, table-driven: item numbers, review dates, completeness,
numbering patterns and the payment roster (records.numbering, records.reviews,
records.completeness, records.reconcile)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from records.completeness import missing_codes
from records.exceptions import Invalid
from records.numbering import Scheme, check_dossier_pattern, check_item_pattern, plan_numbers
from records.reconcile import Dossier, parse_roster, reconcile
from records.reviews import add_months, due_date, is_listed, parse_review_months


@pytest.mark.parametrize("current, next_free, planned", [
    ([], 1, []),
    ([None, None, None], 1, [1, 2, 3]),  # a new dossier
    ([1, 2, 3], 4, [1, 2, 3]),  # in order: nothing changes
    ([1, 2, 3, None], 4, [1, 2, 3, 4]),  # a document added at the end
    ([3, 1, 2], 4, [3, 4, 5]),  # the last moved first: the two after it get new numbers
    ([2, 3, 1], 4, [2, 3, 4]),  # the first moved last: only it gets a new number
    ([1, 3, 2], 4, [1, 3, 4]),  # two swapped
    ([1, None, 2], 3, [1, 3, 4]),  # one put in the middle
    ([1, 2], 9, [1, 2]),  # numbers 3..8 were given before (deleted documents): unused
    ([5, 1], 9, [5, 9]),
])
def test_item_numbers_rise_with_the_order_and_are_never_given_twice(current, next_free,
                                                                     planned):
    got = plan_numbers(current, next_free)
    assert got == planned
    assert got == sorted(got) and len(set(got)) == len(got)
    fresh = [n for n, old in zip(got, current) if n != old]
    assert all(n >= next_free for n in fresh)  # a new number is above every number used


@pytest.mark.parametrize("day, months, expected", [
    (date(2026, 1, 15), 12, date(2027, 1, 15)),
    (date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 31 February: the month's last day
    (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
    (date(2026, 8, 31), 6, date(2027, 2, 28)),
    (date(2026, 11, 30), 2, date(2027, 1, 30)),
    (date(2026, 12, 1), 2, date(2027, 2, 1)),
    (date(2026, 5, 10), 0, date(2026, 5, 10)),
])
def test_adding_months_to_a_date(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize("last, enrolled, cls, due", [
    (None, date(2026, 3, 1), 1, date(2027, 3, 1)),  # never reviewed
    (date(2026, 6, 30), date(2020, 1, 1), 1, date(2027, 6, 30)),
    (date(2026, 6, 30), date(2020, 1, 1), 2, date(2026, 12, 30)),
    (date(2026, 12, 31), date(2020, 1, 1), 3, date(2027, 2, 28)),
])
def test_a_household_is_due_one_interval_of_its_class_after_its_last_review(
        last, enrolled, cls, due):
    months = parse_review_months("12,6,2")
    assert due_date(last, enrolled, months[cls]) == due


@pytest.mark.parametrize("due, today, within, listed", [
    (date(2026, 12, 1), date(2026, 12, 10), 0, True),  # overdue
    (date(2026, 12, 10), date(2026, 12, 10), 0, True),  # due today
    (date(2026, 12, 11), date(2026, 12, 10), 0, False),
    (date(2027, 1, 9), date(2026, 12, 10), 30, True),
    (date(2027, 1, 10), date(2026, 12, 10), 30, False),
])
def test_the_due_list_holds_overdue_reviews_and_those_due_within_the_window(
        due, today, within, listed):
    assert is_listed(due, today, within) is listed


@pytest.mark.parametrize("value", ["12,6", "12,6,0", "a,b,c", "12,6,2,1", ""])
def test_review_months_must_be_three_whole_numbers(value):
    with pytest.raises(ValueError, match="three whole numbers"):
        parse_review_months(value)


def test_review_months_are_configurable():
    assert parse_review_months(" 12, 3 ,1") == {1: 12, 2: 3, 3: 1}


@pytest.mark.parametrize("present, missing", [
    ([], ["application", "survey", "pledge"]),
    (["survey", "other", "survey"], ["application", "pledge"]),
    (["pledge", "application", "survey"], []),
])
def test_missing_codes_keep_the_order_of_the_required_list(present, missing):
    assert missing_codes(["application", "survey", "pledge"], present) == missing


def test_archival_codes_follow_the_patterns():
    scheme = Scheme("J012", "D5")
    dossier = scheme.dossier_code("220381105012-0042", 2026)
    assert dossier == "J012-DB·2026-D5-220381105012-0042"
    assert scheme.item_code(dossier, "220381105012-0042", 2026, 7) == f"{dossier}-0007"
    custom = Scheme("J012", "Y", "{township}-{household_no}", "{household_no}/{seq:03}")
    assert custom.dossier_code("220381105012-0042", 2024) == "220381105-220381105012-0042"
    assert custom.item_code("x", "220381105012-0042", 2024, 12) == "220381105012-0042/012"


@pytest.mark.parametrize("pattern, check, problem", [
    ("{fonds}-{year}", check_dossier_pattern, "must contain {household_no}"),
    ("{fonds}-{household_no}-{colour}", check_dossier_pattern, "unknown fields"),
    ("{dossier}", check_item_pattern, "must contain {item} or {seq}"),
    ("{item:04}", check_item_pattern, "must contain {dossier} or {household_no}"),
    ("{dossier}-{item:zz}", check_item_pattern, "cannot be filled in"),
    ("{dossier}-{item", check_item_pattern, "is not a pattern"),
])
def test_a_pattern_that_would_not_give_unique_codes_is_refused(pattern, check, problem):
    with pytest.raises(ValueError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        check(pattern)


ROSTER = ("户号,户主,金额\n"
          "220381105012-0001,张三,520.00\n"
          "220381105012-0002,李四,310\n"
          "220381105012-0009,王五,300\n"  # no dossier
          "bad-number,赵六,100\n"
          "220381105012-0003,,100\n"
          "220381105012-0004,钱七,abc\n"
          "220381105012-0001,张三,520\n"  # twice
          "220381106003-0007,孙八,280\n")  # another township


def test_a_payment_roster_is_read_and_bad_rows_are_one_sentence_each():
    roster = parse_roster(ROSTER.encode("gb18030"), "roster.csv")
    assert [r.household for r in roster.rows] == ["220381105012-0001", "220381105012-0002",
                                                  "220381105012-0009", "220381106003-0007"]
    assert roster.total == Decimal("1410.00")
    assert roster.problems == [
        "row 5, column 户号: 'bad-number' is not a household number like 220381105012-0042",
        "row 6, column 户主: the head's name is empty",
        "row 7, column 金额: 'abc' is not an amount",
        "row 8, column 户号: household 220381105012-0001 is already on row 2"]
    english = parse_roster(b"\xef\xbb\xbfhousehold,head_name,amount\n220381105012-0001,A,1\n")
    assert len(english.rows) == 1
    with pytest.raises(Invalid, match="has no column 金额"):
        parse_roster("户号,户主\n".encode(), "r.csv")


def test_reconciliation_lists_both_sides_and_never_looks_outside_the_scope():
    roster = parse_roster(ROSTER.encode("utf-8"))
    dossiers = [Dossier("220381105012-0001", "张三", "active", 7),
                Dossier("220381105012-0002", "李四", "stopped", 3),
                Dossier("220381105012-0005", "周九", "active", 2),
                Dossier("220381105012-0006", "吴十", "stopped", 2)]
    result = reconcile(roster, dossiers, "220381105")
    assert [r.household for r in result.on_roster_without_dossier] == ["220381105012-0009"]
    assert [r.household for r in result.on_roster_but_stopped] == ["220381105012-0002"]
    assert [d.household for d in result.active_not_on_roster] == ["220381105012-0005"]
    assert result.matched == 1 and result.outside_scope == 1 and not result.agrees
