"""Where each role lands after signing in, and the region tree.

``/home`` is made of the panels of the reader's roles: an archivist's work (dossiers that
lack documents, pages OCR flagged, recent ingests), a clerk's township (its villages and
households), an administrator's users and regions, an auditor's way into the audit
log; a QC reviewer's batches awaiting acceptance (验收) and an archivist's failed sampled
documents waiting for their rescan; and the reader's recent background jobs with each file's outcome. A reader who is only an auditor lands on the audit screen itself.

``/browse/<code>`` is the region tree (county → township → village): the region's
subregions and a page of its households with status, review class and completeness,
confined to the reader's jurisdiction, with a CSV export; ``/api/regions/<code>`` is the
same as JSON (``ingest.regions.browse``).
"""
from __future__ import annotations

import csv
import io

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for

from ingest import acceptance, accounts, desk, jobs, regions
from ingest.reocr import low_confidence_pages
from records.policy import Action, Role, permits
from web.audit_views import defuse
from web.downloads import attachment
from web.door import archive, guarded
from web.forms import page_offset

bp = Blueprint("home", __name__)

PAGE_SIZE = 50
PANEL = 10  # rows in a panel of the home page
FLAG_BELOW = 70.0  # OCR confidence under which a page needs a look (hudang pages low-confidence)


@bp.route("/home")
@guarded(Action.read_household)
def index():
    who = g.principal
    roles = who.roles
    if roles == {Role.auditor}:
        return redirect(url_for("audit.index"))
    panels = {}
    if permits(who, Action.ingest):
        panels["work"] = {
            "incomplete": regions.browse(archive(), who, None, limit=PANEL, incomplete=True),
            "flagged": low_confidence_pages(archive(), who, FLAG_BELOW, flagged=True)[:PANEL],
            "ingests": desk.recent_ingests(archive(), who, PANEL),
        }
    if roles & {Role.staff, Role.reviewer}:
        panels["area"] = regions.browse(archive(), who, None, limit=PANEL)
    if permits(who, Action.manage):
        users, total = accounts.listing(archive(), who, limit=PANEL)
        panels["admin"] = {"users": users, "user_total": total,
                           "regions": regions.browse(archive(), who, None, limit=0)}
    if permits(who, Action.jobs):  # their own recent jobs (an administrator's: everyone's)
        panels["jobs"] = jobs.listing(archive(), who, limit=PANEL)
    if permits(who, Action.destruction_view):
        panels["destruction"] = _destruction_panel(who)
    if permits(who, Action.accept) or permits(who, Action.ingest):
        panels["acceptance"] = {
            "awaiting": (acceptance.awaiting(archive(), who)[:PANEL]
                         if permits(who, Action.accept) else None),
            "rework": (acceptance.pending_rework(archive(), who)[:PANEL]
                       if permits(who, Action.ingest) else None)}
    if not panels and not permits(who, Action.audit_view):
        panels["area"] = regions.browse(archive(), who, None, limit=PANEL)
    return render_template("home.html", panels=panels, flag_below=FLAG_BELOW)


# which lists wait for whom: the step that comes next, by the action it needs
_WAITING = {"draft": Action.destruction_draft, "returned": Action.destruction_draft,
            "submitted": Action.destruction_approve, "executing": Action.destruction_execute}


def _destruction_panel(who) -> dict:
    """The destruction lists whose next step the reader may take, and the queue's size."""
    from ingest import destruction as lists, retention

    waiting = []
    for x in lists.lists(archive(), who):
        need = _WAITING.get(x.status)
        if x.status == "approved":
            need = Action.destruction_witness if x.witnesses < 2 else Action.destruction_execute
        if need is not None and permits(who, need):
            waiting.append(x)
    due = None
    if permits(who, Action.retention_due):
        due = len(retention.due(archive(), who, None, 0, "home").data.rows)
    return {"waiting": waiting[:PANEL], "due": due}


def _browse(code: str | None):
    page, offset = page_offset(PAGE_SIZE)
    return page, regions.browse(
        archive(), g.principal, code, offset=offset, limit=PAGE_SIZE,
        sort=request.args.get("sort", "number"), status=request.args.get("status", ""),
        incomplete=request.args.get("incomplete") == "1")


@bp.route("/browse")
@guarded(Action.read_household)
def browse_top():
    start = regions.start(g.principal, None)
    if start is not None:
        return redirect(url_for("home.browse", code=start, **request.args))
    page, place = _browse(None)
    return _render(place, page)


@bp.route("/browse/<code>")
@guarded(Action.read_household, per_object=True)
def browse(code: str):
    start = regions.start(g.principal, code)
    if start != code:  # above the reader's jurisdiction: the tree starts at their own region
        regions.enter(archive(), g.principal, start)
        return redirect(url_for("home.browse", code=start, **request.args))
    page, place = _browse(code)
    return _render(place, page)


def _render(place, page: int):
    pages = max(1, -(-place.total // PAGE_SIZE))
    code = place.region.code if place.region else None
    args = dict(place.filters)

    def at(n: int) -> str:
        if code is None:
            return url_for("home.browse_top", **args, page=n)
        return url_for("home.browse", code=code, **args, page=n)

    return render_template(
        "browse.html", place=place, page=page, pages=pages,
        prev_url=at(page - 1) if page > 1 else None,
        next_url=at(page + 1) if page < pages else None,
        export_url=url_for("home.export", code=code) if code else None)


@bp.route("/browse/<code>/households.csv")
@guarded(Action.read_household, per_object=True)
def export(code: str):
    found = regions.all_lines(archive(), g.principal, code)
    out = io.StringIO()
    out.write("\ufeff")  # BOM: spreadsheet programs then read the file as UTF-8
    writer = csv.writer(out)
    writer.writerow(["household_no", "head_name", "region", "status", "review_class",
                     "complete", "missing"])
    for line in found:
        writer.writerow([line.number, defuse(line.head_name), line.region_code, line.status,
                         line.review_class or "", "yes" if not line.missing else "no",
                         "、".join(line.missing)])
    return attachment(out.getvalue(), "text/csv", f"households-{code}.csv")


@bp.route("/api/regions")
@guarded(Action.read_household)
def api_top():
    start = regions.start(g.principal, None)
    page, place = _browse(start)
    return jsonify(place.as_json())


@bp.route("/api/regions/<code>")
@guarded(Action.read_household, per_object=True)
def api_region(code: str):
    page, place = _browse(regions.start(g.principal, code))
    return jsonify(place.as_json())
