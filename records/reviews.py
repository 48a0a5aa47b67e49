"""Reviews (复核, 年审): when each household is due, by its class, and the reviews recorded.

DOMAIN.md: households are classed for review frequency; by default class 1
(一类, stable) yearly, class 2 (二类) half-yearly, class 3 (三类) every two
months (``HUDANG_REVIEW_MONTHS="12,6,2"``). A household is due one interval
after its last review, or after it was enrolled when it has none. Stopped
households are not reviewed. The date arithmetic is pure; the table-driven
tests show it.
"""
from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.exceptions import Invalid
from records.idnumbers import mask_in_text
from records.model import Household, HouseholdStatus, ReviewEvent, ReviewOutcome

DEFAULT_MONTHS = "12,6,2"
MAX_NOTE = 2000
CLASSES = (1, 2, 3)  # household.review_class: 一类, 二类, 三类

ReviewMonths = Mapping[int, int]


def parse_review_months(value: str) -> dict[int, int]:
    """``"12,6,2"`` -> months between reviews of class 1, 2 and 3 (ValueError otherwise)."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and 1 <= int(p) <= 120 for p in parts):
        raise ValueError("must be three whole numbers of months from 1 to 120 for class 1, 2 "
                         "and 3, such as 12,6,2")
    return dict(zip(CLASSES, (int(p) for p in parts)))


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months; a day past the month's end becomes its last day
    (31 January + 1 month = 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_date(last_review: date | None, enrolled: date, months: int) -> date:
    """The day a household falls due: ``months`` after its last review, or after enrolment."""
    return add_months(last_review or enrolled, months)


def is_listed(due: date, today: date, within_days: int) -> bool:
    """Does a review due on ``due`` belong on a list of those due within ``within_days``
    of ``today``? Overdue ones always do."""
    return due <= today + timedelta(days=within_days)


@dataclass(frozen=True)
class DueReview:
    household: str
    head_name: str
    region_code: str
    review_class: int
    last_review: date | None
    due: date

    def overdue_days(self, today: date) -> int:
        return max(0, (today - self.due).days)


def _enrolled(household: Household) -> date:
    """纳入日期, or the day the household was catalogued when none was recorded."""
    return household.enrolled_on or household.created_at.date()


def due_reviews(session: Session, region_prefix: str | None, today: date,
                months: ReviewMonths, within_days: int) -> tuple[list[DueReview], int]:
    """Enrolled (not stopped) households under ``region_prefix`` due for review within
    ``within_days``, earliest first; and how many of them have no class (never listed)."""
    last = (select(ReviewEvent.household_id, func.max(ReviewEvent.reviewed_on).label("last"))
            .group_by(ReviewEvent.household_id).subquery())
    q = (select(Household, last.c.last).outerjoin(last, last.c.household_id == Household.id)
         .where(Household.status != HouseholdStatus.stopped))
    if region_prefix:
        q = q.where(Household.region_code.startswith(region_prefix, autoescape=True))
    due, unclassed = [], 0
    for household, last_review in session.execute(q):
        if household.review_class not in months:
            unclassed += 1
            continue
        day = due_date(last_review, _enrolled(household), months[household.review_class])
        if is_listed(day, today, within_days):
            due.append(DueReview(household.number, household.head_name, household.region_code,
                                 household.review_class, last_review, day))
    due.sort(key=lambda d: (d.due, d.household))
    return due, unclassed


@dataclass(frozen=True)
class ReviewState:
    """A household's review facts for its page."""

    review_class: int | None
    last_review: date | None
    due: date | None
    history: list[ReviewEvent]


def review_state(session: Session, household: Household, months: ReviewMonths) -> ReviewState:
    history = list(session.scalars(select(ReviewEvent).where(
        ReviewEvent.household_id == household.id)
        .order_by(ReviewEvent.reviewed_on.desc(), ReviewEvent.id.desc())))
    last = history[0].reviewed_on if history else None
    due = None
    if household.review_class in months and household.status is not HouseholdStatus.stopped:
        due = due_date(last, _enrolled(household), months[household.review_class])
    return ReviewState(household.review_class, last, due, history)


def parse_outcome(value: str) -> ReviewOutcome:
    try:
        return ReviewOutcome(value.strip())
    except ValueError:
        names = ", ".join(o.value for o in ReviewOutcome)
        raise Invalid(f"unknown review outcome '{value}'; choose one of: {names}") from None


def record_review(session: Session, household: Household, reviewed_on: date,
                  outcome: ReviewOutcome, note: str, by: str, *, today: date) -> ReviewEvent:
    """Add a review to the household's history (ID numbers in the note are masked)."""
    if reviewed_on > today:
        raise Invalid(f"the review date {reviewed_on.isoformat()} lies in the future")
    if household.status is HouseholdStatus.stopped:
        raise Invalid(f"household {household.number} is stopped; stopped households are not "
                      "reviewed")
    note = mask_in_text(note.strip())
    if len(note) > MAX_NOTE:
        raise Invalid(f"the note must have at most {MAX_NOTE} characters")
    event = ReviewEvent(household_id=household.id, reviewed_on=reviewed_on, outcome=outcome,
                        note=note, recorded_by=by)
    session.add(event)
    return event
