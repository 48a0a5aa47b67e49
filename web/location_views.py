"""Cabinets, boxes and folders in the browser (ArchivesSpace's habit: a box is a thing you
open, print a label for and move, with its history on the same page).

``/locations/`` lists the cabinets in the reader's jurisdiction and has the scan field: a
USB barcode scanner types a box's code and Enter, and ``/locations/scan`` opens that box
(the header of an archivist's pages has the same field). ``/locations/<code>`` is a
container's page; labels print as A4 PDF; a dossier moves from the household page
(``/household/<number>/location``). ``/api/locations[/<code>]`` answers the same as JSON.
Every view calls ``ingest.locations``, which passes the one door for each object.
"""
from __future__ import annotations

from flask import (Blueprint, flash, g, jsonify, redirect, render_template, request,
                   url_for)

from ingest import locations as service
from records import locations as rules
from records.policy import Action
from records.problems import N_, Problems, fail
from web.downloads import attachment
from web.door import archive, guarded
from web.forms import field_errors, page_offset, say, text
from web.i18n import _

bp = Blueprint("locations", __name__)

PAGE_SIZE = 50


def _listing_page(errors: dict[str, str] | None = None, scanned: str = ""):
    page, offset = page_offset(PAGE_SIZE)
    found = service.listing(archive(), g.principal, offset=offset, limit=PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    return render_template(
        "locations.html", found=found, page=page, pages=pages, errors=errors or {},
        scanned=scanned,
        prev_url=url_for("locations.index", page=page - 1) if page > 1 else None,
        next_url=url_for("locations.index", page=page + 1) if page < pages else None)


@bp.route("/locations/")
@guarded(Action.read_household)
def index():
    return _listing_page()


@bp.route("/locations/scan")
@guarded(Action.read_household)
def scan():
    """What a barcode scanner typed (or a person): open that container's page."""
    typed = request.args.get("code", "")
    if not typed.strip():  # Enter on an empty field: the list, with the field
        return redirect(url_for("locations.index"))
    try:
        code = rules.read_code(typed)
    except Problems as exc:
        return _listing_page({"code": say(exc.problems[0])}, typed[:40]), 400
    return redirect(url_for("locations.show", container=code))


@bp.route("/locations/new", methods=["GET", "POST"])
@guarded(Action.locate)
def new():
    kind = request.values.get("kind", "cabinet")
    values = {"kind": kind if kind in ("cabinet", "box", "folder") else "cabinet",
              "code": "", "title": "", "parent": request.args.get("parent", ""),
              "region": g.principal.region or ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {name: text(name, 100) for name in ("kind", "code", "title", "parent",
                                                     "region")}
        try:
            ref = service.add(archive(), g.principal, values["kind"], values["code"],
                              parent=values["parent"] or None, title=values["title"],
                              region=values["region"] or None)
        except Problems as exc:
            errors = field_errors(exc)
        else:
            flash(_("%(code)s has been added.", code=ref.code))
            return redirect(url_for("locations.show", container=ref.code))
    return render_template("location_new.html", values=values, errors=errors), \
        400 if errors else 200


@bp.route("/locations/<container>")
@guarded(Action.read_household, per_object=True)
def show(container: str):
    opened = service.open_container(archive(), g.principal, container)
    return render_template("location.html", c=opened, errors={}, values={})


@bp.route("/locations/<container>/labels.pdf")
@guarded(Action.locate, per_object=True)
def labels(container: str):
    pdf = service.labels(archive(), g.principal, [container],
                         with_contents=request.args.get("contents") == "1")
    return attachment(pdf, "application/pdf", f"labels-{rules.read_code(container)}.pdf")


def _move_form(what: str, title: str, back: str, current: str | None, hint: str):
    """The one move form: a household's dossier, a volume or a container."""
    values = {"to": "", "date": "", "note": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {"to": text("to", 40), "date": text("date", 20), "note": text("note", 200)}
        try:
            done = service.move(archive(), g.principal, what, values["to"],
                                on=values["date"] or None, note=values["note"])
        except Problems as exc:
            errors = field_errors(exc)
        else:
            if done.changed:
                flash(_("Moved to %(code)s on %(date)s.", code=done.destination or "—",
                        date=done.on.isoformat()))
            else:
                flash(_("It is already there: nothing was moved."))
            return redirect(back)
    return render_template("location_move.html", title=title, back=back, current=current,
                           values=values, errors=errors, hint=hint), 400 if errors else 200


@bp.route("/locations/<container>/move", methods=["GET", "POST"])
@guarded(Action.locate, per_object=True)
def move(container: str):
    ref, parent = service.container_place(archive(), g.principal, container)
    hint = (_("The code of the cabinet it goes into; leave it empty to take it out.")
            if ref.kind == "box" else _("The code of the box it goes into."))
    return _move_form(ref.code, _("Move %(code)s", code=ref.code),
                      url_for("locations.show", container=ref.code), parent, hint)


@bp.route("/locations/<container>/put", methods=["GET", "POST"])
@guarded(Action.locate, per_object=True)
def put(container: str):
    """Put a dossier (by household number) or a volume (REGION/YEAR) into this container;
    a GET (a bookmark, a reload) goes back to the container's page."""
    ref, _parent = service.container_place(archive(), g.principal, container)
    if request.method == "GET":
        return redirect(url_for("locations.show", container=ref.code))
    opened = service.open_container(archive(), g.principal, ref.code)
    what = text("what", 40)
    errors: dict[str, str] = {}
    try:
        if not what:
            raise fail("what", N_("give the household number of the dossier"))
        done = service.move(archive(), g.principal, what, opened.container.code,
                            on=text("date", 20) or None)
    except Problems as exc:
        errors = {("what" if k == "to" else k): v for k, v in field_errors(exc).items()}
    else:
        flash(_("%(what)s has been put into %(code)s.", what=done.what, code=done.destination)
              if done.changed else _("It is already there: nothing was moved."))
        return redirect(url_for("locations.show", container=opened.container.code))
    return render_template("location.html", c=opened, errors=errors,
                           values={"what": what}), 400


@bp.route("/household/<number>/location", methods=["GET", "POST"])
@guarded(Action.locate, per_object=True)
def household(number: str):
    number, head_name, where = service.dossier_place(archive(), g.principal, number)
    return _move_form(number, _("Move the dossier of %(number)s (%(name)s)", number=number,
                                name=head_name),
                      url_for("views.household", number=number), where.code,
                      _("The code of the folder or box it goes into (scan its label)."))


@bp.route("/records/volume/<int:volume_id>/location", methods=["GET", "POST"])
@guarded(Action.locate, per_object=True)
def volume(volume_id: int):
    key, name, where = service.volume_place(archive(), g.principal, volume_id)
    return _move_form(key, _("Move the volume %(name)s", name=name),
                      url_for("daily.volume", volume_id=volume_id), where.code,
                      _("The code of the box or folder it goes into (scan its label)."))


# -- JSON ------------------------------------------------------------------------------------------
@bp.route("/api/locations")
@guarded(Action.read_household)
def api_index():
    page, offset = page_offset(PAGE_SIZE)
    return jsonify(service.listing(archive(), g.principal, offset=offset,
                                   limit=PAGE_SIZE).as_json())


@bp.route("/api/locations/<container>")
@guarded(Action.read_household, per_object=True)
def api_show(container: str):
    return jsonify(service.open_container(archive(), g.principal, container).as_json())
