"""The audit screen: filtering and exporting the log, and "who read this" per household.

Only a principal the policy allows ``audit_view`` reaches it; anyone else gets the
same 404 as for a missing page, and a refused event. Looking at the log, exporting it
and asking who read a household are recorded like any other read, before the rows
leave. An auditor with a jurisdiction sees only events about households inside it.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone, tzinfo

from flask import Blueprint, abort, g, render_template, request, url_for
from sqlalchemy import Select, distinct, func, select

from records import audit
from records.door import Knock, Target
from records.idnumbers import mask_in_text
from records.model import AuditEvent, Household
from records.policy import Action, Principal, region_scope
from web.downloads import attachment
from web.door import admit, archive, guarded
from web.i18n import _

bp = Blueprint("audit", __name__, url_prefix="/audit")

PAGE_SIZE = 100
EXPORT_LIMIT = 100_000  # rows per CSV; narrow the filter for more
# the reads a "who read this" view lists
READ_ACTIONS = ("state_purpose", "read_household", "read_document", "read_page", "read_text",
                "download")
CSV_COLUMNS = ("id", "at", "actor", "action", "outcome", "object_type", "object_id",
               "household", "page", "purpose", "detail")


class BadFilter(ValueError):
    pass


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor asked for; empty strings mean "any"."""

    user: str = ""
    household: str = ""
    date_from: str = ""  # YYYY-MM-DD, inclusive, a day in the office's time zone
    date_to: str = ""  # YYYY-MM-DD, inclusive, a day in the office's time zone
    action: str = ""
    outcome: str = ""

    @classmethod
    def from_args(cls, args) -> AuditFilter:
        flt = cls(**{k: args.get(k, "").strip()[:100] for k in cls.__dataclass_fields__})
        for value in (flt.date_from, flt.date_to):
            if value:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise BadFilter(value) from None
        return flt

    def query_args(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def _day_start(day: str, zone: tzinfo) -> str:
    """The stored (ISO 8601 UTC) form of the first moment of ``day`` in the office's zone."""
    start = datetime.combine(date.fromisoformat(day), dtime.min, tzinfo=zone)
    return start.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _events(flt: AuditFilter, who: Principal, zone: tzinfo) -> Select:
    q = select(AuditEvent)
    scope = region_scope(who)
    if scope is not None:
        # household numbers begin with their village code, so scope is a prefix
        q = q.where(AuditEvent.household.startswith(scope, autoescape=True))
    if flt.user:
        q = q.where(AuditEvent.actor == flt.user)
    if flt.household:
        q = q.where(AuditEvent.household == flt.household)
    if flt.action:
        q = q.where(AuditEvent.action == flt.action)
    if flt.outcome:
        q = q.where(AuditEvent.outcome == flt.outcome)
    # ``at`` is ISO 8601 UTC text of one fixed width, so times compare as strings
    if flt.date_from:
        q = q.where(AuditEvent.at >= _day_start(flt.date_from, zone))
    if flt.date_to:
        next_day = (date.fromisoformat(flt.date_to) + timedelta(days=1)).isoformat()
        q = q.where(AuditEvent.at < _day_start(next_day, zone))
    return q


def _masked(row: AuditEvent) -> dict[str, str]:
    """One event as text cells, ID numbers masked (in queries and free-text purposes)."""
    return {c: mask_in_text("" if getattr(row, c) is None else str(getattr(row, c)))
            for c in CSV_COLUMNS}


def _shown(row: AuditEvent) -> dict:
    """One event for the screen: the raw cells, and the detail as (key, value) pairs."""
    cells = _masked(row)
    try:
        detail = json.loads(row.detail) if row.detail else {}
    except ValueError:
        detail = {"": cells["detail"]}
    cells["detail_items"] = [(k, mask_in_text(v if isinstance(v, str) else json.dumps(
        v, ensure_ascii=False))) for k, v in (detail.items() if isinstance(detail, dict)
                                               else [("", detail)])]
    return cells


@bp.route("/")
@guarded(Action.audit_view)
def index():
    try:
        flt = AuditFilter.from_args(request.args)
    except BadFilter:
        flt, error = AuditFilter(), _("Dates are written YYYY-MM-DD.")
    else:
        error = None
    asked = max(1, request.args.get("page", 1, type=int) or 1)
    archive().record(audit.Event(actor=g.user, action="audit_view",
                                 detail={**flt.query_args(), "page": asked}))
    q = _events(flt, g.principal, archive().settings.timezone)
    with archive().Session() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery()))
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(asked, pages)  # a page past the end shows the last one
        rows = [_shown(r) for r in s.scalars(q.order_by(AuditEvent.id.desc())
                                              .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))]
        actions = list(s.scalars(select(distinct(AuditEvent.action)).order_by(AuditEvent.action)))
    args = flt.query_args()
    return render_template(
        "audit.html", flt=flt, rows=rows, total=total, page=page, pages=pages, actions=actions,
        time_zone=archive().settings.timezone.key,
        error=error, outcomes=(audit.ALLOWED, audit.REFUSED),
        export_url=url_for("audit.export", **args),
        prev_url=url_for("audit.index", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("audit.index", **args, page=page + 1) if page < pages else None,
    ), 400 if error else 200


@bp.route("/export.csv")
@guarded(Action.audit_view, event="audit_export")
def export():
    try:
        flt = AuditFilter.from_args(request.args)
    except BadFilter:
        abort(400)
    archive().record(audit.Event(actor=g.user, action="audit_export", detail=flt.query_args()))
    out = io.StringIO()
    out.write("\ufeff")  # BOM: spreadsheet programs then read the file as UTF-8
    with archive().Session() as s:
        write_csv(s, flt, g.principal, out, archive().settings.timezone)
    return attachment(out.getvalue(), "text/csv", "hudang-audit.csv")


def write_csv(session, flt: AuditFilter, who: Principal, out, zone: tzinfo) -> int:
    """Write the events ``flt`` selects as CSV (ID numbers masked); returns the row count.

    Shared by the audit screen and ``hudang audit export``; the caller records the export.
    """
    writer = csv.DictWriter(out, CSV_COLUMNS)
    writer.writeheader()
    count = 0
    for row in session.scalars(_events(flt, who, zone).order_by(AuditEvent.id).limit(EXPORT_LIMIT)):
        writer.writerow({k: defuse(v) for k, v in _masked(row).items()})
        count += 1
    return count


def defuse(cell: str) -> str:
    # a spreadsheet runs a cell that starts with = + - @ as a formula
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell


@bp.route("/household/<number>")
@guarded(Action.audit_view, per_object=True)
def household(number: str):
    """Who read this household's dossier, when, and for what purpose."""
    with archive().Session() as s:
        found = s.scalar(select(Household).where(Household.number == number))
        admit(Knock(g.principal, Action.audit_view, Target(
            "household", number[:40], household=found and found.number,
            region=found and found.region_code, found=found is not None)))
    archive().record(audit.Event(actor=g.user, action="audit_view", object_type="household",
                                 object_id=number, household=number))
    q = (select(AuditEvent).where(AuditEvent.household == number,
                                  AuditEvent.action.in_(READ_ACTIONS))
         .order_by(AuditEvent.id.desc()).limit(PAGE_SIZE * 10))
    with archive().Session() as s:
        rows = [_shown(r) for r in s.scalars(q)]
    return render_template("audit_household.html", number=number, rows=rows)
