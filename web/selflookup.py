"""Citizen self-lookup (本人查阅): request, staff approval, and reading with a one-time code.

Routes (all under ``/self``):

- ``/``: the public request form. Whatever was typed, the answer is the same
  sentence, status and page, so the form cannot tell who is on the allowance.
- ``/queue``: staff see their jurisdiction's pending requests and, having seen
  the ID card, approve one; the one-time code is shown once.
- ``/read``: the person redeems the code with their ID number, once; the
  session then shows their own household's dossier (read-only, masked,
  watermarked) until the code's expiry.

The rules live in ``records.self_lookup``; reads go through ``web.reading``
so that they are audited by the one path. See ``docs/self-lookup.md``.
"""
from __future__ import annotations

import functools
import os
from datetime import datetime, timezone

from flask import (Blueprint, Response, abort, current_app, g, redirect, render_template,
                   request, session, url_for)

from records import audit
from records import self_lookup as rules
from records.idnumbers import is_valid, mask
from records.policy import Action, Principal, Role, decide, region_scope
from storage import blind_index
from web import reading
from web.auth import archive, login_required
from web.i18n import translate

bp = Blueprint("selflookup", __name__, url_prefix="/self")

PURPOSE = "本人查阅"  # recorded as the purpose of every citizen read
SESSION_KEY = "self_request"


# -- keys and settings -----------------------------------------------------------
def certificate_index(arch, number: str) -> str:
    """Blind index of an allowance-certificate number (低保证号); the CLI uses it too."""
    return blind_index(arch.master.derive("certificate-no-index"), number)


def _ip_key(arch, address: str) -> str:
    # addresses are personal data too: the rate-limit table holds a keyed hash
    return blind_index(arch.master.derive("self-lookup-ip"), address or "-")


def _code_key(arch) -> bytes:
    return arch.master.derive("self-lookup-code")


def settings() -> rules.SelfLookupSettings:
    """HUDANG_SELF_LOOKUP_* from the environment; the app's config (tests) overrides it."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in current_app.config.items()
                if k.startswith("HUDANG_SELF_LOOKUP_")})
    return rules.SelfLookupSettings.from_env(env)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@bp.after_request
def no_store(response: Response) -> Response:
    # codes, dossiers and page images of a citizen are never kept by a browser or proxy
    response.headers["Cache-Control"] = "no-store"
    return response


# -- 1. the public request form -----------------------------------------------------
@bp.route("/", methods=["GET", "POST"])
def request_form():
    if request.method == "GET":
        return render_template("self_request.html", message=None, error=None)
    name = request.form.get("name", "").strip()
    id_number = request.form.get("id_number", "").strip()
    certificate = request.form.get("certificate", "").strip()
    if not (name and id_number and certificate):
        return render_template("self_request.html", message=None,
                               error=translate("self_fill_all")), 400
    if not is_valid(id_number):
        # a typing mistake, said as such: it tells nothing about who is on the allowance
        return render_template("self_request.html", message=None,
                               error=translate("self_bad_id")), 400
    arch = archive()
    ip = request.remote_addr or "-"
    ip_key, id_key = _ip_key(arch, ip), arch.id_index(id_number)
    cert_key = certificate_index(arch, certificate)
    now = _now()
    limits = settings().limits
    match = None
    with arch.Session() as s, s.begin():
        locked = rules.lock_for(s, "request", ip_key, id_key, now, limits)
        if locked is None:
            # every request counts toward the limit, matched or not: otherwise the
            # lock-out itself would tell a match from none
            rules.record_attempt(s, "request", ip_key, id_key, True, now)
            household = rules.find_match(s, id_key, name, cert_key)
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
    return render_template("self_request.html", message=translate("self_received"), error=None)


def _locked(template: str, until: datetime):
    minutes = max(1, int((until - _now()).total_seconds() // 60) + 1)
    return render_template(template, message=None,
                           error=translate("self_locked", minutes=minutes)), 429


# -- 2. the staff queue ------------------------------------------------------------
@bp.route("/queue")
@login_required
def queue():
    arch = archive()
    who: Principal = g.principal
    if not decide(who, Action.approve_self_lookup):
        arch.record(audit.Event(actor=who.name, action="self_lookup_queue",
                                outcome=audit.REFUSED))
        abort(404)
    rows = []
    with arch.Session() as s:
        for req in rules.pending_requests(s, region_scope(who)):
            h = req.household
            if not decide(who, Action.approve_self_lookup, h.region_code, h.number):
                continue
            id_number = arch.reveal_id_number(h)
            rows.append({"id": req.id, "number": h.number, "head_name": h.head_name,
                         "id_masked": mask(id_number) if id_number else "",
                         "certificate_on_file":
                             s.get(rules.HouseholdCertificate, h.id) is not None,
                         "requested_at": rules.as_utc(req.requested_at)
                         .strftime("%Y-%m-%d %H:%M UTC")})
    # showing names and masked ID numbers is a read: it is recorded
    arch.record(audit.Event(actor=who.name, action="self_lookup_queue",
                            detail={"requests": len(rows)}))
    return render_template("self_queue.html", rows=rows)


def _pending_in_jurisdiction(s, who: Principal, request_id: int):
    req = s.get(rules.AccessRequest, request_id)
    if req is None or req.status is not rules.RequestStatus.pending:
        return None
    h = req.household
    if not decide(who, Action.approve_self_lookup, h.region_code, h.number):
        return None
    return req


@bp.route("/queue/<int:request_id>/approve", methods=["POST"])
@login_required
def approve(request_id: int):
    arch = archive()
    who: Principal = g.principal
    code = rules.new_code()
    lifetime = settings().code_lifetime
    now = _now()
    with arch.Session() as s, s.begin():
        req = _pending_in_jurisdiction(s, who, request_id)
        if req is not None:
            rules.approve(req, by=who.name, code_hash=rules.hash_code(_code_key(arch), code),
                          now=now, lifetime=lifetime)
            number, head_name = req.household.number, req.household.head_name
    if req is None:
        # another township's request, an unknown id or one already decided: all look the same
        arch.record(audit.Event(actor=who.name, action="self_lookup_approve",
                                outcome=audit.REFUSED, object_type="self_lookup",
                                object_id=str(request_id)))
        abort(404)
    arch.record(audit.Event(actor=who.name, action="self_lookup_approve",
                            object_type="self_lookup", object_id=str(request_id),
                            household=number, detail={"hours": lifetime.total_seconds() / 3600}))
    # shown once, to hand over; only its HMAC is stored
    return render_template("self_code.html", code=rules.format_code(code), number=number,
                           head_name=head_name,
                           expires=(now + lifetime).strftime("%Y-%m-%d %H:%M UTC"))


@bp.route("/queue/<int:request_id>/reject", methods=["POST"])
@login_required
def reject(request_id: int):
    arch = archive()
    who: Principal = g.principal
    with arch.Session() as s, s.begin():
        req = _pending_in_jurisdiction(s, who, request_id)
        if req is not None:
            rules.reject(req, by=who.name, now=_now())
            number = req.household.number
    arch.record(audit.Event(actor=who.name, action="self_lookup_reject",
                            outcome=audit.REFUSED if req is None else audit.ALLOWED,
                            object_type="self_lookup", object_id=str(request_id),
                            household=None if req is None else number))
    if req is None:
        abort(404)
    return redirect(url_for(".queue"))


# -- 3. reading with the code --------------------------------------------------------
@bp.route("/read", methods=["GET", "POST"])
def read():
    if request.method == "GET":
        ended = request.args.get("ended") == "1"
        return render_template("self_read.html", message=translate("self_ended") if ended else None,
                               error=None)
    id_number = request.form.get("id_number", "").strip()
    code = rules.normalise_code(request.form.get("code", ""))
    if not (id_number and code):
        return render_template("self_read.html", message=None,
                               error=translate("self_fill_all")), 400
    arch = archive()
    ip = request.remote_addr or "-"
    ip_key, id_key = _ip_key(arch, ip), arch.id_index(id_number)
    now = _now()
    limits = settings().limits
    with arch.Session() as s, s.begin():
        locked = rules.lock_for(s, "redeem", ip_key, id_key, now, limits)
        refused = None
        if locked is None:
            try:
                req = rules.redeem(s, rules.hash_code(_code_key(arch), code), id_key, now)
                req_id, number = req.id, req.household.number
            except rules.RedeemRefused as exc:
                refused = exc
            rules.record_attempt(s, "redeem", ip_key, id_key, refused is not None, now)
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
        return render_template("self_read.html", message=None,
                               error=translate("self_code_refused")), 403
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
                g.citizen_expires = rules.as_utc(req.expires_at).strftime("%Y-%m-%d %H:%M UTC")
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
@citizen_required
def dossier():
    try:
        view = reading.open_household(archive(), g.citizen, g.citizen.household, purpose=PURPOSE)
    except reading.Refused:
        abort(404)
    return render_template("self_dossier.html", h=view)


@bp.route("/read/document/<int:document_id>/page/<int:number>")
@citizen_required
def viewer(document_id: int, number: int):
    try:
        doc = reading.describe_document(archive(), g.citizen, document_id)
    except reading.Refused:
        abort(404)
    if not 1 <= number <= doc.page_count:
        abort(404)
    return render_template("self_viewer.html", doc=doc, number=number)


@bp.route("/read/document/<int:document_id>/page/<int:number>/image")
@citizen_required
def page_image(document_id: int, number: int):
    try:
        # the one audited path; its watermark names the reader, the time and the purpose 本人查阅
        jpeg = reading.page_image(archive(), g.citizen, document_id, number, purpose=PURPOSE)
    except reading.Refused:
        abort(404)
    return Response(jpeg, mimetype="image/jpeg",
                    headers={"Content-Disposition": "inline"})


@bp.route("/read/end", methods=["POST"])
@citizen_required
def end():
    request_id = session.pop(SESSION_KEY)
    arch = archive()
    with arch.Session() as s, s.begin():
        req = s.get(rules.AccessRequest, request_id)
        req.status = rules.RequestStatus.closed
    arch.record(audit.Event(actor=g.citizen.name, action="self_lookup_end",
                            object_type="self_lookup", object_id=str(request_id),
                            household=g.citizen.household))
    return redirect(url_for(".read", ended=1))

