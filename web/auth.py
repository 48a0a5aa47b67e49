"""Signing in and out, idle sessions, and who the current reader is."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from flask import (Blueprint, current_app, g, redirect, render_template, request, session,
                   url_for)

from records import audit, signins
from records.catalogue import principal_of, sign_in
from records.idnumbers import mask_in_text
from records.model import User
from records.policy import Action, decide
from storage import KeyPurpose, blind_index
from web.door import archive, public
from web.i18n import _

bp = Blueprint("auth", __name__)


def _end_session() -> None:
    """Forget everything about the signed-in user, here and in the catalogue (so a copy of
    the cookie opens nothing, in any server process); keep only the interface language."""
    if session.get("token"):
        with archive().Session() as s, s.begin():
            signins.end(s, session.get("token"), datetime.now(timezone.utc))
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@bp.before_app_request
def load_user():
    g.user = None
    g.principal = None
    g.must_change_password = False
    user_id = session.get("user_id")
    if user_id is None:
        return
    now = time.time()
    settings = archive().settings
    seen = session.get("seen", 0)
    if now - seen > settings.idle_minutes * 60:
        # idle too long: the session ends server-side, whatever the cookie says
        archive().record(audit.Event(actor=session.get("username", "-"), action="logout",
                                     detail={"reason": "idle"}))
        _end_session()
        return
    with archive().Session() as s:
        user = s.get(User, user_id)
        # the session row, not the cookie alone: signed out elsewhere is signed out here
        if user is None or not user.active or not signins.is_open(s, session.get("token"),
                                                                  user_id):
            _end_session()
            return
        g.user = user.username
        g.principal = principal_of(user, settings.grants)
        g.must_change_password = user.must_change_password
    session["seen"] = int(now)
    if g.must_change_password and request.endpoint not in _WHILE_CHANGING:
        # signed in with a one-time code: nothing else until a new password is chosen
        return redirect(url_for("account.password"))
    return None


# what a user who signed in with a one-time code may open before choosing a password
_WHILE_CHANGING = {"account.password", "auth.logout", "static"}


def may(action: str | Action, region_code: str | None = None,
        household: str | None = None) -> bool:
    """For templates: may the current reader do ``action``? (the one policy decides; a
    template shows only the links and buttons it allows)"""
    who = g.get("principal") or g.get("citizen")
    if who is None:
        return False
    return bool(decide(who, Action(action), region_code, household))


def _attempt_key(username: str) -> str:
    # the lock-out counts by a keyed hash of the name typed, never the name itself
    return blind_index(archive().master.derive(KeyPurpose.sign_in_attempt), username or "-")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        now = datetime.now(timezone.utc)
        with archive().Session() as s, s.begin():
            result = sign_in(s, username, password, now=now,
                             lockout=archive().settings.sign_in_lockout,
                             attempt_key=_attempt_key(username))
            token = signins.start(s, result.user_id, now, current_app.permanent_session_lifetime) \
                if result.ok else None
        archive().record(audit.Event(
            actor=mask_in_text(username)[:100] or "-", action="login",
            outcome=audit.ALLOWED if result.ok else audit.REFUSED,
            detail={"with": "one_time_code"} if result.outcome == "must_change" else
            {} if result.ok else {"reason": result.outcome}))
        if result.ok:
            _end_session()  # a new session, but the language chosen on this page stays
            session["user_id"] = result.user_id
            session["token"] = token
            session["username"] = username
            session["seen"] = int(time.time())
            session.permanent = True
            target = request.args.get("next", "")
            # only local paths: never an open redirect
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("home.index")
            if result.outcome == "must_change":
                target = url_for("account.password")
            return redirect(target)
        # the same sentence for a wrong password, an unknown name and a locked account
        error = _("Sign-in failed: wrong user name or password, or the account is locked for "
                  "a while. Try again later.")
    return render_template("login.html", error=error), 401 if error else 200


@bp.route("/logout", methods=["POST"])
@public
def logout():
    if g.user:
        archive().record(audit.Event(actor=g.user, action="logout"))
    _end_session()
    return redirect(url_for("auth.login"))
