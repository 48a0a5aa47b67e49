"""Citizen self-lookup (本人查阅): request, staff approval, and reading with a one-time code.

Routes (all under ``/self``):

- ``/``: the public request form. Whatever was typed, the answer is the same
  sentence, status and page, so the form cannot tell who is on the allowance.
- ``/queue``: staff see their jurisdiction's pending requests and the latest
  decided ones; having seen the ID card, they approve one, and the one-time
  code is shown once. ``/queue/<id>`` is one request's page: its status, and
  for an approved request whose code was lost, a new code (the old one stops).
- ``/read``: the person redeems the code with their ID number, once; the
  session then shows their own household's dossier (read-only, masked,
  watermarked) until the code's expiry.

The rules live in ``records.self_lookup`` and ``records.lockout``; reads go
through ``web.reading`` so that they pass the one door and are audited. See
``docs/self-lookup.md``.
"""
from __future__ import annotations

import functools
from datetime import datetime, timezone

from flask import Blueprint, Response, g, redirect, render_template, request, session, url_for

from records import audit
from records import self_lookup as rules
from records.clock import as_utc
from records.door import Knock, Target
from records.idnumbers import is_valid, mask
from records.lockout import locked_until, record_failure
from records.model import AccessRequest, HouseholdCertificate, RequestStatus
from records.policy import Action, Principal, Role, decide, region_scope
from storage import KeyPurpose, blind_index
from web import reading
from web.door import admit, archive, for_citizen, guarded, public
from web.i18n import _, local_time
from web.views import reader_page

bp = Blueprint("selflookup", __name__, url_prefix="/self")

PURPOSE = "本人查阅"  # recorded as the purpose of every citizen read
SESSION_KEY = "self_request"
HISTORY = 30  # decided requests shown under the queue


# -- keys --------------------------------------------------------------------------
def _ip_key(arch, address: str) -> str:
    # addresses are personal data too: the lock-out table holds a keyed hash
    return blind_index(arch.master.derive(KeyPurpose.self_lookup_ip), address or "-")


def _code_key(arch) -> bytes:
    return arch.master.derive(KeyPurpose.self_lookup_code)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@bp.after_request
def no_store(response: Response) -> Response:
    # codes, dossiers and page images of a citizen are never kept by a browser or proxy
    response.headers["Cache-Control"] = "no-store"
    return response


# -- 1. the public request form -----------------------------------------------------
@bp.route("/", methods=["GET", "POST"])
@public
def request_form():
    if request.method == "GET":
        return render_template("self_request.html", message=None, error=None)
    name = request.form.get("name", "").strip()
    id_number = request.form.get("id_number", "").strip()
    certificate = request.form.get("certificate", "").strip()
    if not (name and id_number and certificate):
        return render_template("self_request.html", message=None,
                               error=_("Please fill in every field.")), 400
    if not is_valid(id_number):
        # a typing mistake, said as such: it tells nothing about who is on the allowance
        return render_template("self_request.html", message=None,
                               error=_("This ID number is not well formed; please check it.")), 400
    arch = archive()
    ip = request.remote_addr or "-"
    keys = (_ip_key(arch, ip), arch.id_index(id_number))
    cert_key = arch.certificate_index(certificate)
    now = _now()
    match = None
    with arch.Session() as s, s.begin():
        locked = locked_until(s, "request", keys, now, arch.settings.self_lookup.lockout)
        if locked is None:
            # every request counts toward the limit, matched or not: otherwise the
            # lock-out itself would tell a match from none
            record_failure(s, "request", keys, now)
            household = rules.find_match(s, keys[1], name, cert_key)
            if household is not None:
                req, new = rules.open_request(s, household)
                match = (req.id, household.number, new)
    if locked is not None:
        arch.record(audit.Event(actor="citizen", action="self_lookup_request",
                                outcome=audit.REFUSED, detail={"ip": ip, "reason": "locked"}))
        return _locked("self_request.html", locked)
    if match is None:
        arch.record(audit.Event(actor="citizen", action="self_lookup_request",
                                outcome=audit.REFUSED, detail={"ip": ip, "reason": "no match"}))
    else:
        req_id, number, new = match
        arch.record(audit.Event(actor=f"citizen:{req_id}", action="self_lookup_request",
                                object_type="self_lookup", object_id=str(req_id),
                                household=number, detail={"ip": ip, "new": new}))
    # the same sentence, status and page whether or not anything matched
    return render_template("self_request.html", error=None, message=_(
        "Your request has been received. If the details match our records, bring your ID "
        "card and allowance certificate to your township office; after checking them in "
        "person, staff will give you a one-time access code."))


def _locked(template: str, until: datetime):
    minutes = max(1, int((until - _now()).total_seconds() // 60) + 1)
    return render_template(template, message=None, error=_(
        "Too many attempts; please try again in %(minutes)s minutes.", minutes=minutes)), 429


# -- 2. the staff queue ------------------------------------------------------------
def _row(arch, s, req: AccessRequest) -> dict:
    h = req.household
    id_number = arch.reveal_id_number(h)
    return {"id": req.id, "number": h.number, "head_name": h.head_name,
            "id_masked": mask(id_number) if id_number else "",
            "certificate_on_file": s.get(HouseholdCertificate, h.id) is not None,
            "status": req.status.value,
            "requested_at": local_time(req.requested_at, "short"),
            "decided_at": local_time(req.decided_at, "short"),
            "decided_by": req.decided_by or "",
            "expires_at": local_time(req.expires_at, "short")}


@bp.route("/queue")
@guarded(Action.approve_self_lookup, event="self_lookup_queue")
def queue():
    arch = archive()
    who: Principal = g.principal
    with arch.Session() as s:
        def visible(req):
            h = req.household
            return decide(who, Action.approve_self_lookup, h.region_code, h.number).allowed

        rows = [_row(arch, s, r) for r in rules.pending_requests(s, region_scope(who))
                if visible(r)]
        history = [_row(arch, s, r) for r in rules.decided_requests(s, region_scope(who),
                                                                    HISTORY) if visible(r)]
    # showing names and masked ID numbers is a read: it is recorded
    arch.record(audit.Event(actor=who.name, action="self_lookup_queue",
                            detail={"requests": len(rows), "history": len(history)}))
    return render_template("self_queue.html", rows=rows, history=history)


def _request_for(s, who: Principal, request_id: int, event: str,
                 status: RequestStatus | None) -> AccessRequest:
    """The request, through the door: in the reader's jurisdiction and (when ``status`` is
    given) in that status; otherwise refused exactly like an unknown id."""
    req = s.get(AccessRequest, request_id)
    h = req.household if req is not None else None
    found = req is not None and (status is None or req.status is status)
    admit(Knock(who, Action.approve_self_lookup, Target(
        "self_lookup", str(request_id), household=h and h.number, region=h and h.region_code,
        found=found), event=event))
    return req


@bp.route("/queue/<int:request_id>")
@guarded(Action.approve_self_lookup, per_object=True)
def request_page(request_id: int):
    arch = archive()
    with arch.Session() as s:
        req = _request_for(s, g.principal, request_id, "self_lookup_queue", None)
        row = _row(arch, s, req)
    arch.record(audit.Event(actor=g.principal.name, action="self_lookup_queue",
                            object_type="self_lookup", object_id=str(request_id),
                            household=row["number"]))
    return render_template("self_request_page.html", r=row)


def _issue_code(request_id: int, event: str, status: RequestStatus, change) -> Response:
    """Approve or re-issue: a new code for the request, shown once; only its HMAC is stored."""
    arch = archive()
    who: Principal = g.principal
    code = rules.new_code()
    lifetime = arch.settings.self_lookup.code_lifetime
    now = _now()
    with arch.Session() as s, s.begin():
        req = _request_for(s, who, request_id, event, status)
        change(req, by=who.name, code_hash=rules.hash_code(_code_key(arch), code), now=now,
               lifetime=lifetime)
        number, head_name = req.household.number, req.household.head_name
    arch.record(audit.Event(actor=who.name, action=event, object_type="self_lookup",
                            object_id=str(request_id), household=number,
                            detail={"hours": lifetime.total_seconds() / 3600}))
    # this page answers a POST: switching language leads to the request's own page, where a
    # lost code can be issued again (the approval stands either way)
    return render_template("self_code.html", code=rules.format_code(code), number=number,
                           head_name=head_name, request_id=request_id,
                           expires=local_time(now + lifetime, "short"),
                           lang_fallback=url_for(".request_page", request_id=request_id))


@bp.route("/queue/<int:request_id>/approve", methods=["POST"])
@guarded(Action.approve_self_lookup, per_object=True)
def approve(request_id: int):
    # another township's request, an unknown id or one already decided: all look the same
    return _issue_code(request_id, "self_lookup_approve", RequestStatus.pending, rules.approve)


@bp.route("/queue/<int:request_id>/reissue", methods=["POST"])
@guarded(Action.approve_self_lookup, per_object=True)
def reissue(request_id: int):
    # the code was lost before it was used: a new one, and the old one stops working
    return _issue_code(request_id, "self_lookup_reissue", RequestStatus.approved, rules.reissue)


@bp.route("/queue/<int:request_id>/reject", methods=["POST"])
@guarded(Action.approve_self_lookup, per_object=True)
def reject(request_id: int):
    arch = archive()
    who: Principal = g.principal
    with arch.Session() as s, s.begin():
        req = _request_for(s, who, request_id, "self_lookup_reject", RequestStatus.pending)
        rules.reject(req, by=who.name, now=_now())
        number = req.household.number
    arch.record(audit.Event(actor=who.name, action="self_lookup_reject",
                            object_type="self_lookup", object_id=str(request_id),
                            household=number))
    return redirect(url_for(".queue"))


# -- 3. reading with the code --------------------------------------------------------
@bp.route("/read", methods=["GET", "POST"])
@public
def read():
    if request.method == "GET":
        ended = request.args.get("ended") == "1"
        return render_template("self_read.html", error=None, message=_(
            "Your reading session has ended or expired. To read again, send a new request.")
            if ended else None)
    id_number = request.form.get("id_number", "").strip()
    code = rules.normalise_code(request.form.get("code", ""))
    if not (id_number and code):
        return render_template("self_read.html", message=None,
                               error=_("Please fill in every field.")), 400
    arch = archive()
    ip = request.remote_addr or "-"
    keys = (_ip_key(arch, ip), arch.id_index(id_number))
    now = _now()
    with arch.Session() as s, s.begin():
        locked = locked_until(s, "redeem", keys, now, arch.settings.self_lookup.lockout)
        refused = None
        if locked is None:
            try:
                req = rules.redeem(s, rules.hash_code(_code_key(arch), code), keys[1], now)
                req_id, number = req.id, req.household.number
            except rules.RedeemRefused as exc:
                refused = exc
                record_failure(s, "redeem", keys, now)
    if locked is not None:
        arch.record(audit.Event(actor="citizen", action="self_lookup_redeem",
                                outcome=audit.REFUSED, detail={"ip": ip, "reason": "locked"}))
        return _locked("self_read.html", locked)
    if refused is not None:
        arch.record(audit.Event(
            actor="citizen" if refused.request_id is None else f"citizen:{refused.request_id}",
            action="self_lookup_redeem", outcome=audit.REFUSED, object_type="self_lookup",
            object_id=None if refused.request_id is None else str(refused.request_id),
            detail={"ip": ip, "reason": refused.reason}))
        return render_template("self_read.html", message=None, error=_(
            "Wrong access code or ID number, or the code was already used or has expired.")), 403
    arch.record(audit.Event(actor=f"citizen:{req_id}", action="self_lookup_redeem",
                            object_type="self_lookup", object_id=str(req_id), household=number,
                            detail={"ip": ip}))
    lang = session.get("lang")
    session.clear()  # a reading session is nobody's staff session
    if lang:
        session["lang"] = lang
    session[SESSION_KEY] = req_id
    return redirect(url_for(".dossier"))


def citizen_required(view):
    """Runs the view with ``g.citizen`` (a Principal bound to one household) while the
    session's request is redeemed and unexpired; otherwise back to the code form."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        request_id = session.get(SESSION_KEY)
        if request_id is None:
            return redirect(url_for(".read"))
        arch = archive()
        with arch.Session() as s:
            req = rules.session_request(s, request_id, _now())
            if req is not None:
                g.citizen = Principal(name=f"citizen:{req.id}", roles=frozenset({Role.citizen}),
                                      household=req.household.number)
                g.citizen_expires = local_time(as_utc(req.expires_at), "short")
        if req is None:
            session.pop(SESSION_KEY, None)
            arch.record(audit.Event(actor=f"citizen:{request_id}", action="self_lookup_session",
                                    outcome=audit.REFUSED, object_type="self_lookup",
                                    object_id=str(request_id),
                                    detail={"reason": "expired or ended"}))
            return redirect(url_for(".read", ended=1))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/read/dossier")
@for_citizen(Action.read_household)
@citizen_required
def dossier():
    view = reading.open_household(archive(), g.citizen, g.citizen.household, purpose=PURPOSE)
    return render_template("self_dossier.html", h=view)


@bp.route("/read/document/<int:document_id>/page/<int:number>")
@for_citizen(Action.read_page)
@citizen_required
def viewer(document_id: int, number: int):
    # the same reader as staff have, over the citizen's own dossier
    reader = reading.open_reader(archive(), g.citizen, document_id, number)
    return reader_page("self_viewer.html", reader, page_endpoint="selflookup.viewer",
                       image_endpoint="selflookup.page_image",
                       thumbnail_endpoint="selflookup.page_thumbnail")


@bp.route("/read/document/<int:document_id>/page/<int:number>/image")
@for_citizen(Action.read_page)
@citizen_required
def page_image(document_id: int, number: int):
    # the one audited path; its watermark names the reader, the time and the purpose 本人查阅
    jpeg = reading.page_image(archive(), g.citizen, document_id, number, purpose=PURPOSE)
    return Response(jpeg, mimetype="image/jpeg", headers={"Content-Disposition": "inline"})


@bp.route("/read/document/<int:document_id>/page/<int:number>/thumbnail")
@for_citizen(Action.read_page)
@citizen_required
def page_thumbnail(document_id: int, number: int):
    # a thumbnail is a page image shown: read, recorded and watermarked alike
    jpeg = reading.page_thumbnail(archive(), g.citizen, document_id, number, purpose=PURPOSE)
    return Response(jpeg, mimetype="image/jpeg", headers={"Content-Disposition": "inline"})


@bp.route("/read/end", methods=["POST"])
@for_citizen(Action.read_household)
@citizen_required
def end():
    request_id = session.pop(SESSION_KEY)
    arch = archive()
    # the citizen closes their own request: through the door like every act on a record
    admit(Knock(g.citizen, Action.read_household, Target(
        "self_lookup", str(request_id), household=g.citizen.household)))
    with arch.Session() as s, s.begin():
        req = s.get(AccessRequest, request_id)
        req.status = RequestStatus.closed
    arch.record(audit.Event(actor=g.citizen.name, action="self_lookup_end",
                            object_type="self_lookup", object_id=str(request_id),
                            household=g.citizen.household))
    return redirect(url_for(".read", ended=1))
