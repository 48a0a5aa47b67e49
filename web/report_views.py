"""Reports on screen, as CSV and as PDF: gaps, roster (花名册), statistics with a chart, due
reviews, and the reconciliation of the payment roster with the dossiers.

Every report is for one region, admitted at the door by ``ingest.reports`` (a township
clerk asking for another township gets the same 404 as for a region that does not exist,
and a refused event); lists page and sort; ``?format=csv`` or ``pdf`` downloads the same
rows.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, render_template, request, url_for
from sqlalchemy import select

from ingest import reports
from ingest.printing import chart_svg
from records.exceptions import Invalid
from records.model import Region
from records.policy import Action, region_scope
from records.reporting import regions_under
from web.downloads import attachment
from web.door import archive, guarded
from web.i18n import _

bp = Blueprint("reports", __name__, url_prefix="/reports")
api = Blueprint("reports_api", __name__, url_prefix="/api/reports")

PAGE_SIZE = 100
MAX_UPLOAD = 20 * 1024 * 1024  # a month's roster of a county is far smaller


def regions_in_scope() -> list[Region]:
    """The regions the reader may choose, by code (their own and below)."""
    with archive().Session() as s:
        found = regions_under(s, region_scope(g.principal))
        for r in found:
            s.expunge(r)
        return found


def _region_code() -> str:
    """The region asked for, or the reader's own, or the first county."""
    asked = request.args.get("region", "").strip()[:12]
    if asked:
        return asked
    if g.principal.region:
        return g.principal.region
    with archive().Session() as s:
        first = s.scalar(select(Region.code).order_by(Region.code))
    return first or "-"


def _download(report: reports.Report, fmt: str) -> Response | None:
    if fmt == "csv":
        data, mimetype = report.csv(), "text/csv"
    elif fmt == "pdf":
        data, mimetype = report.pdf(), "application/pdf"
    else:
        return None
    return attachment(data, mimetype, report.filename(fmt))


def _format() -> str:
    fmt = request.args.get("format", "")
    return fmt if fmt in ("csv", "pdf") else "screen"


def _paged(rows: list) -> tuple[list, int, int]:
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], page, pages


def _links(endpoint: str, page: int, pages: int, **args) -> dict:
    args = {k: v for k, v in args.items() if v}
    return {"csv_url": url_for(endpoint, **args, format="csv"),
            "pdf_url": url_for(endpoint, **args, format="pdf"),
            "prev_url": url_for(endpoint, **args, page=page - 1) if page > 1 else None,
            "next_url": url_for(endpoint, **args, page=page + 1) if page < pages else None,
            "page": page, "pages": pages}


def _render(template: str, report: reports.Report, endpoint: str, **args):
    download = _download(report, _format())
    if download is not None:
        return download
    rows, page, pages = _paged(list(report.data) if isinstance(report.data, list) else [])
    regions = regions_in_scope()
    return render_template(template, report=report, rows=rows, regions=regions,
                           names={r.code: r.name for r in regions}, region=report.region,
                           **_links(endpoint, page, pages, **args), args=args)


@bp.route("/")
@guarded(Action.report)
def index():
    return render_template("reports.html", regions=regions_in_scope(), region_code=_region_code())


@bp.route("/gaps")
@guarded(Action.report, per_object=True)
def gaps():
    code = _region_code()
    report = reports.gaps(archive(), g.principal, code, _format())
    return _render("report_gaps.html", report, "reports.gaps", region=code)


ROSTER_ORDERS = ("number", "name", "village")


@bp.route("/roster")
@guarded(Action.report, per_object=True)
def roster():
    code = _region_code()
    status = request.args.get("status", "active")
    status = status if status in reports.STATUSES else "active"
    order = request.args.get("order", "number")
    order = order if order in ROSTER_ORDERS else "number"
    report = reports.roster(archive(), g.principal, code, status, order, _format())
    return _render("report_roster.html", report, "reports.roster", region=code, status=status,
                   order=order)


@bp.route("/stats")
@guarded(Action.report, per_object=True)
def stats():
    code = _region_code()
    report = reports.stats(archive(), g.principal, code, _format())
    download = _download(report, _format())
    if download is not None:
        return download
    return render_template("report_stats.html", report=report, figures=report.data,
                           regions=regions_in_scope(), region=report.region,
                           chart_url=url_for("reports.chart", region=code),
                           **_links("reports.stats", 1, 1, region=code))


@bp.route("/stats/chart.svg")
@guarded(Action.report, per_object=True)
def chart():
    report = reports.stats(archive(), g.principal, _region_code(), "chart")
    response = Response(chart_svg(report.chart), mimetype="image/svg+xml")
    # the drawing styles its text inline; shown only through <img>, which runs no script
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/reviews")
@guarded(Action.report, per_object=True)
def reviews():
    code = request.args.get("region", "").strip()[:12] or None
    within = min(max(0, request.args.get("within", 30, type=int) or 0), 3660)
    report = reports.due_reviews(archive(), g.principal, code, within, _format())
    return _render("report_reviews.html", report, "reports.reviews", region=code or "",
                   within=str(within))


@bp.route("/reconcile", methods=["GET", "POST"])
@guarded(Action.report)
def reconcile():
    report, error = None, None
    if request.method == "POST":
        upload = request.files.get("roster")
        data = upload.read(MAX_UPLOAD + 1) if upload else b""
        if not data:
            error = _("Choose the roster file (CSV) exported by the payment system.")
        elif len(data) > MAX_UPLOAD:
            error = _("The roster file is larger than 20 MB.")
        else:
            code = request.form.get("region", "").strip()[:12] or None
            fmt = request.form.get("format", "screen")
            try:
                report = reports.reconcile(archive(), g.principal, data,
                                           upload.filename or "roster.csv", code, fmt)
            except Invalid as exc:  # a file that is not a roster: said beside the field
                error = str(exc)
            else:
                download = _download(report, fmt)
                if download is not None:
                    return download
    body = render_template("report_reconcile.html", report=report, error=error,
                           regions=regions_in_scope(), region_code=request.form.get("region", ""))
    return body, 400 if error else 200


# -- the JSON door: the same reports as rows --------------------------------------------------
@api.route("/<kind>")
@guarded(Action.report, per_object=True)
def as_json(kind: str):
    """``/api/reports/gaps|roster|stats|reviews?region=CODE``: the report's rows, as its CSV
    has them (Chinese column names), with its title and lines."""
    code = _region_code()
    if kind == "gaps":
        report = reports.gaps(archive(), g.principal, code, "json")
    elif kind == "roster":
        report = reports.roster(archive(), g.principal, code,
                                request.args.get("status", "active"), fmt="json")
    elif kind == "stats":
        report = reports.stats(archive(), g.principal, code, "json")
    elif kind == "reviews":
        report = reports.due_reviews(archive(), g.principal, request.args.get("region") or None,
                                     request.args.get("within", 30, type=int) or 0, "json")
    else:
        reports.gaps(archive(), g.principal, code, "json")  # knock first: no one learns more
        abort(404)
    sheet = report.sheet
    return jsonify(kind=report.kind, region=report.region.code if report.region else None,
                   title=sheet.title, lines=list(sheet.lines), header=list(sheet.header),
                   rows=[dict(zip(sheet.header, row)) for row in sheet.rows],
                   notes=list(sheet.notes))
