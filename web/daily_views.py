"""Daily-management records (日常管理档案) in the browser: the list (by region, year, month,
type), filing one (upload), and a region's volume of a year, read under a stated purpose
like a household's dossier.

``/records/`` lists them (``ingest.volumes.records``), ``/records/new`` files one
(``ingest.pipeline``, in the request: one file), ``/records/volume/<id>`` is a volume's
page (``web.reading.open_volume``); the viewer, page text and download are the same as a
dossier's (``web.views``). ``/api/records`` and ``/api/records/volume/<id>`` answer as JSON.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flask import (Blueprint, flash, g, jsonify, redirect, render_template, request,
                   url_for)

from ingest import volumes
from ingest.exceptions import IngestError
from records import doctypes
from records.door import Knock, Target
from records.exceptions import RecordsError
from records.model import Region
from records.policy import Action
from records.purposes import OTHER
from records.reporting import regions_under
from web import reading
from web.door import archive, guarded
from web.forms import page_offset, text
from web.i18n import _
from web.views import ask_purpose, stated_purposes

bp = Blueprint("daily", __name__)

PAGE_SIZE = 50


def _filters() -> dict:
    return {"region": request.args.get("region", "").strip()[:12],
            "year": request.args.get("year", type=int),
            "month": request.args.get("month", type=int),
            "type": request.args.get("type", "").strip()[:40],
            "sort": request.args.get("sort", "year")}


def _choices():
    with archive().Session() as s:
        types = [(t.code, t.name_zh, t.name_en) for t in doctypes.all_types(s, daily=True)]
        regions = [(r.code, r.name) for r in regions_under(s, g.principal.region)]
    return types, regions


def _found(offset: int, limit: int) -> volumes.Found:
    f = _filters()
    return volumes.records(archive(), g.principal, region=f["region"] or None, year=f["year"],
                           month=f["month"], doc_type=f["type"] or None, sort=f["sort"],
                           offset=offset, limit=limit)


@bp.route("/records/")
@guarded(Action.read_household, per_object=True)
def index():
    page, offset = page_offset(PAGE_SIZE)
    found = _found(offset, PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    args = {k: v for k, v in _filters().items() if v}
    types, regions = _choices()
    return render_template(
        "records.html", found=found, filters=_filters(), types=types, regions=regions,
        page=page, pages=pages,
        prev_url=url_for("daily.index", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("daily.index", **args, page=page + 1) if page < pages else None)


@bp.route("/records/new", methods=["GET", "POST"])
@guarded(Action.ingest)
def new():
    """File one daily-management record: the scan, its region, year, month, type, title."""
    types, regions = _choices()
    values = {"region": g.principal.region or "", "year": "", "month": "", "type": "",
              "title": "", "date": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: text(k, 200) for k in values}
        result, errors = _file_record(values)
        if result is not None:
            flash(_("The record has been filed as document %(id)s.", id=result.document_id)
                  if not result.duplicate else
                  _("This file is already filed, as document %(id)s.", id=result.document_id))
            return redirect(url_for("daily.volume", volume_id=_volume_id(result.volume)))
    return render_template("record_new.html", values=values, errors=errors, types=types,
                           regions=regions), 400 if errors else 200


def _volume_id(key: str) -> int:
    with archive().Session() as s:
        return volumes.find(s, key).id


def _file_record(values: dict[str, str]):
    """Ingest the uploaded file (at most one); (result, {}) or (None, problems by field)."""
    from datetime import date

    from ingest.pipeline import IngestRequest, Ingestor

    errors: dict[str, str] = {}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        errors["file"] = _("Choose the scanned file (PDF, TIFF, JPEG or PNG).")
    year = int(values["year"]) if values["year"].isdigit() else None
    if year is None:
        errors["year"] = _("Write the year with four digits, e.g. 2025.")
    month = int(values["month"]) if values["month"].isdigit() else None
    if values["month"] and (month is None or not 1 <= month <= 12):
        errors["month"] = _("Choose a month from 1 to 12, or none.")
    day = None
    if values["date"]:
        try:
            day = date.fromisoformat(values["date"])
        except ValueError:
            errors["date"] = _("Write the date as YYYY-MM-DD, or leave it empty.")
    if not values["type"]:
        errors["type"] = _("Choose the type of record.")
    with archive().Session() as s:
        region = s.get(Region, values["region"]) if values["region"] else None
    if region is None:
        errors["region"] = _("Choose the region the record is of.")
    if errors:
        return None, errors
    archive().admit(Knock(g.principal, Action.ingest,
                          Target("region", region.code, region=region.code)))
    work = Path(tempfile.mkdtemp(prefix="upload-", dir=archive().settings.tmp_dir))
    try:
        path = work / Path(upload.filename).name
        upload.save(path)
        req = IngestRequest(path=path, household=None, doc_type=values["type"], date=day,
                            title=values["title"] or None, actor=g.principal.name,
                            region=region.code, year=year, month=month)
        with Ingestor(archive(), workers=1) as ingestor:
            return ingestor.ingest(req), {}
    except (IngestError, RecordsError) as exc:
        return None, {"file": str(exc)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- a volume ------------------------------------------------------------------------------------
@bp.route("/records/volume/<int:volume_id>/purpose", methods=["GET", "POST"])
@guarded(Action.read_household, per_object=True)
def purpose(volume_id: int):
    facts = reading.check_volume(archive(), g.principal, volume_id)
    key = reading.volume_key(volume_id)

    def recorded(stated: str) -> None:
        reading.record_volume_purpose(archive(), g.principal, facts, stated)

    return ask_purpose(key, f"{facts.region_name} {facts.year}", recorded,
                       url_for("daily.purpose", volume_id=volume_id),
                       url_for("daily.volume", volume_id=volume_id))


@bp.route("/records/volume/<int:volume_id>")
@guarded(Action.read_household, per_object=True)
def volume(volume_id: int):
    view = reading.open_volume(archive(), g.principal, volume_id, purposes=stated_purposes())
    return render_template("volume.html", v=view, other=OTHER)


# -- JSON ------------------------------------------------------------------------------------------
@bp.route("/api/records")
@guarded(Action.read_household, per_object=True)
def api_index():
    page, offset = page_offset(PAGE_SIZE)
    return jsonify(_found(offset, PAGE_SIZE).as_json())


@bp.route("/api/records/volume/<int:volume_id>")
@guarded(Action.read_household, per_object=True)
def api_volume(volume_id: int):
    purpose = request.args.get("purpose", "").strip()[:200] or None
    return jsonify(reading.open_volume(archive(), g.principal, volume_id,
                                       purpose=purpose).as_json())
