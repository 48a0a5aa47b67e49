"""The screen of the last verification (四性检测) report, for administrators and auditors.

`hudang verify` keeps each report in the catalogue (``verification_run``); this screen
shows the newest: when, by whom, the outcome, and its findings grouped by the four
properties, a hundred to a page. Findings name documents by id and blobs by ref, never
their content. An account with a jurisdiction sees only findings about households inside
it (and none that concern the whole archive). Looking is recorded.
"""
from __future__ import annotations

import json

from flask import Blueprint, g, render_template, request, url_for
from sqlalchemy import select

from records import audit
from records.model import Document, Dossier, Household, VerificationRun
from records.policy import Action, in_jurisdiction
from web.door import archive, guarded
from web.downloads import attachment

bp = Blueprint("verification", __name__, url_prefix="/verification")

PAGE_SIZE = 100
PROPERTIES = ("authenticity", "integrity", "usability", "security")


def _last_run() -> VerificationRun | None:
    with archive().Session() as s:
        return s.scalar(select(VerificationRun).order_by(VerificationRun.id.desc()).limit(1))


def _visible(findings: list[dict]) -> list[dict]:
    """The findings this principal may see: all for the whole deployment; else those about
    documents of households inside the jurisdiction."""
    if g.principal.region is None:
        return findings
    ids = {f["document_id"] for f in findings if f.get("document_id")}
    with archive().Session() as s:
        regions = dict(s.execute(select(Document.id, Household.region_code)
                                 .join(Dossier, Dossier.id == Document.dossier_id)
                                 .join(Household, Household.id == Dossier.household_id)
                                 .where(Document.id.in_(ids))).all()) if ids else {}
    return [f for f in findings if f.get("document_id") in regions
            and in_jurisdiction(g.principal, regions[f["document_id"]])]


@bp.route("/")
@guarded(Action.verify, event="verify_view")
def index():
    run = _last_run()
    archive().record(audit.Event(actor=g.user, action="verify_view",
                                 object_type="verification",
                                 object_id=str(run.id) if run else None))
    if run is None:
        return render_template("verification.html", run=None)
    report = json.loads(run.report)
    findings = _visible(report["findings"])
    problems = [f for f in findings if not f["note"]]
    notes: dict[str, int] = {}
    for f in findings:
        if f["note"]:
            notes[f["kind"]] = notes.get(f["kind"], 0) + 1
    by_property = {p: sum(1 for f in problems if f["property"] == p) for p in PROPERTIES}
    problems.sort(key=lambda f: (PROPERTIES.index(f["property"]), f["kind"],
                                 f.get("document_id") or 0, f.get("page") or 0))
    pages = max(1, -(-len(problems) // PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    shown = problems[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return render_template(
        "verification.html", run=run, report=report, rows=shown, total=len(problems),
        by_property=by_property, notes=notes, page=page, pages=pages,
        repairable=sum(1 for f in problems if f["repairable"] and not f.get("repaired")),
        whole=g.principal.region is None,
        prev_url=url_for("verification.index", page=page - 1) if page > 1 else None,
        next_url=url_for("verification.index", page=page + 1) if page < pages else None)


@bp.route("/report.json")
@guarded(Action.verify, event="verify_export")
def report_json():
    """The last report as `hudang verify --json` printed it (the findings this principal may
    see)."""
    run = _last_run()
    archive().record(audit.Event(actor=g.user, action="verify_export",
                                 object_type="verification",
                                 object_id=str(run.id) if run else None))
    report = json.loads(run.report) if run else {}
    if report:
        report["findings"] = _visible(report["findings"])
        report["not_repaired"] = _visible(report.get("not_repaired", []))
    return attachment(json.dumps(report, ensure_ascii=False, indent=1), "application/json",
                      "verification.json")
