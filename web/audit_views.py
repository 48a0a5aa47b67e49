"""The audit screen: filtering and exporting the log, and "who read this" per household.

Only a principal the policy allows ``audit_view`` reaches it; anyone else gets the
same 404 as for a missing page, and a refused event. Looking at the log, exporting it
and asking who read a household are recorded like any other read, before the rows
leave. An auditor with a jurisdiction sees only events about households inside it.
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from sqlalchemy import Select, distinct, func, select

from records import audit
from records.idnumbers import mask_in_text
from records.model import AuditEvent, Household
from records.policy import Action, Principal, decide, region_scope
from web.auth import archive, login_required

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
    date_from: str = ""  # YYYY-MM-DD, inclusive, UTC
    date_to: str = ""  # YYYY-MM-DD, inclusive, UTC
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


def _events(flt: AuditFilter, who: Principal) -> Select:
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
    # ``at`` is ISO 8601 UTC text, so dates compare as strings
    if flt.date_from:
        q = q.where(AuditEvent.at >= flt.date_from)
    if flt.date_to:
        q = q.where(AuditEvent.at < (date.fromisoformat(flt.date_to) + timedelta(days=1))
                    .isoformat())
    return q


def _masked(row: AuditEvent) -> dict[str, str]:
    """One event as text cells, ID numbers masked (in queries and free-text purposes)."""
    return {c: mask_in_text("" if getattr(row, c) is None else str(getattr(row, c)))
            for c in CSV_COLUMNS}


def _refuse(action: str, **where) -> None:
    archive().record(audit.Event(actor=g.user, action=action, outcome=audit.REFUSED, **where))
    abort(404)


def _require_auditor(action: str) -> None:
    if not decide(g.principal, Action.audit_view):
        _refuse(action)


@bp.route("/")
@login_required
def index():
    _require_auditor("audit_view")
    try:
        flt = AuditFilter.from_args(request.args)
    except BadFilter:
        flt, error = AuditFilter(), "audit_bad_date"
    else:
        error = None
    page = max(1, request.args.get("page", 1, type=int) or 1)
    archive().record(audit.Event(actor=g.user, action="audit_view",
                                 detail={**flt.query_args(), "page": page}))
    q = _events(flt, g.principal)
    with archive().Session() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery()))
        rows = [_masked(r) for r in s.scalars(q.order_by(AuditEvent.id.desc())
                                               .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))]
        actions = list(s.scalars(select(distinct(AuditEvent.action)).order_by(AuditEvent.action)))
    pages = max(1, -(-total // PAGE_SIZE))
    args = flt.query_args()
    return render_template(
        "audit.html", flt=flt, rows=rows, total=total, page=page, pages=pages, actions=actions,
        error=error, outcomes=(audit.ALLOWED, audit.REFUSED),
        export_url=url_for("audit.export", **args),
        prev_url=url_for("audit.index", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("audit.index", **args, page=page + 1) if page < pages else None,
    ), 400 if error else 200


@bp.route("/export.csv")
@login_required
def export():
    _require_auditor("audit_export")
    try:
        flt = AuditFilter.from_args(request.args)
    except BadFilter:
        abort(400)
    archive().record(audit.Event(actor=g.user, action="audit_export", detail=flt.query_args()))
    out = io.StringIO()
    out.write("\ufeff")  # BOM: spreadsheet programs then read the file as UTF-8
    with archive().Session() as s:
        write_csv(s, flt, g.principal, out)
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="hudang-audit.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def write_csv(session, flt: AuditFilter, who: Principal, out) -> int:
    """Write the events ``flt`` selects as CSV (ID numbers masked); returns the row count.

    Shared by the audit screen and ``hudang audit export``; the caller records the export.
    """
    writer = csv.DictWriter(out, CSV_COLUMNS)
    writer.writeheader()
    count = 0
    for row in session.scalars(_events(flt, who).order_by(AuditEvent.id).limit(EXPORT_LIMIT)):
        writer.writerow({k: _defuse(v) for k, v in _masked(row).items()})
        count += 1
    return count


def _defuse(cell: str) -> str:
    # a spreadsheet runs a cell that starts with = + - @ as a formula
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell


@bp.route("/household/<number>")
@login_required
def household(number: str):
    """Who read this household's dossier, when, and for what purpose."""
    with archive().Session() as s:
        found = s.scalar(select(Household).where(Household.number == number))
        region = found.region_code if found else None
    if found is None or not decide(g.principal, Action.audit_view, region, number):
        _refuse("audit_view", object_type="household", object_id=number[:40],
                household=number[:40] if found else None)
    archive().record(audit.Event(actor=g.user, action="audit_view", object_type="household",
                                 object_id=number, household=number))
    q = (select(AuditEvent).where(AuditEvent.household == number,
                                  AuditEvent.action.in_(READ_ACTIONS))
         .order_by(AuditEvent.id.desc()).limit(PAGE_SIZE * 10))
    with archive().Session() as s:
        rows = [_masked(r) for r in s.scalars(q)]
    return render_template("audit_household.html", number=number, rows=rows)
