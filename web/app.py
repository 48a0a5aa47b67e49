"""The Flask application factory.

``create_app`` opens one archive (a data home and its master key, from the one settings
object) and wires the blueprints: ``auth`` (sign in/out), ``views`` (search, dossier,
viewer), ``audit``, ``selflookup``, ``home`` (each role's landing page, the region tree),
``account`` (one's own password), ``admin`` (users, regions), ``households``, ``desk``
(corrections, order, reviews, the document types), ``reports``, ``locations`` (cabinets,
boxes, folders, labels), ``daily`` (daily-management records and their volumes),
``retention`` (the review queue, retention classes, holds) and ``destruction`` (destruction
lists). The CLI builds the same
:class:`ingest.archive.Archive`. Errors become pages (or JSON under ``/api/``) in one set
of handlers, bound to the one table in ``web.errors``.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from ingest.archive import Archive
from ingest.settings import Settings
from records.door import Refused
from records.exceptions import Destroyed
from search import IndexOutOfDate
from storage import KeyPurpose
from web import (account, admin_views, audit_views, auth, batch_views, correction_views,
                 daily_views, desk_views, destruction_views, home, household_views, jobs_views,
                 location_views, report_views, retention_views, selflookup, sentences,
                 verify_views, views)
from web.errors import USER_ERRORS, binding_for
from web.i18n import _, init_app as init_i18n
from web.reading import PurposeRequired

csrf = CSRFProtect()

# No inline script or style anywhere: templates use classes and static files only.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; frame-ancestors 'none'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'")


def create_app(test_config: dict | None = None, archive: Archive | None = None) -> Flask:
    """The app over ``archive`` (default: the one the settings name). ``test_config`` may
    override Flask settings and ``HUDANG_*`` settings alike."""
    app = Flask(__name__)
    if archive is None:
        archive = Archive.open(Settings.from_env())
    hudang_values = {k: v for k, v in (test_config or {}).items() if k.startswith("HUDANG_")}
    if hudang_values:
        archive = archive.reconfigured(archive.settings.with_values(hudang_values))
    app.extensions["hudang"] = archive
    app.config.update(
        # the session key is derived from the master key: nothing extra to keep secret
        SECRET_KEY=archive.master.derive(KeyPurpose.flask_session),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="hudang_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=200 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if not k.startswith("HUDANG_")})
    app.json.ensure_ascii = False
    csrf.init_app(app)
    init_i18n(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(selflookup.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(household_views.bp)
    app.register_blueprint(desk_views.bp)
    app.register_blueprint(report_views.bp)
    app.register_blueprint(report_views.api)
    app.register_blueprint(verify_views.bp)
    app.register_blueprint(location_views.bp)
    app.register_blueprint(daily_views.bp)
    app.register_blueprint(retention_views.bp)
    app.register_blueprint(retention_views.api)
    app.register_blueprint(destruction_views.bp)
    app.register_blueprint(destruction_views.api)
    app.register_blueprint(correction_views.bp)
    app.register_blueprint(correction_views.api)
    app.register_blueprint(batch_views.bp)
    app.register_blueprint(batch_views.api)
    app.register_blueprint(jobs_views.bp)
    # templates ask the one policy too: {% if may('download', region, household) %}
    app.jinja_env.globals.update(may=auth.may, in_language=sentences.in_language)
    _register_error_handlers(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _answer(message: str, status: int):
    if _wants_json():
        return jsonify(error=message), status
    # the same page whatever was asked for: its language link leads to the search page
    return render_template("error.html", message=message, lang_fallback=url_for("views.search")), \
        status


def _register_error_handlers(app: Flask) -> None:
    """The one place where errors become pages: a refusal and a missing object answer the
    same 404; every other user-facing error its status from ``web.errors``."""

    @app.errorhandler(404)
    @app.errorhandler(Refused)
    def not_found(_e):
        return _answer(_("Not found, or not yours to read."), 404)

    @app.errorhandler(PurposeRequired)
    def purpose_required(need: PurposeRequired):
        # the door let the reader in: ask for the purpose of this reading (利用登记)
        if need.household is None:
            return redirect(url_for("daily.purpose", volume_id=need.volume))
        return redirect(url_for("views.purpose", number=need.household))

    @app.errorhandler(400)
    @app.errorhandler(CSRFError)
    def bad_request(_e):
        return _answer(_("Bad request."), 400)

    @app.errorhandler(IndexOutOfDate)
    def index_out_of_date(_e):
        # the operator's job, not the reader's: say so plainly, and that it passes
        return _answer(_("The search index must be rebuilt: ask the administrator to run "
                         "'hudang reindex'."), 503)

    def user_error(exc: Exception):
        binding = binding_for(exc)
        return _answer(str(exc), binding.http_status if binding else 400)

    @app.errorhandler(Destroyed)
    def destroyed(exc: Destroyed):
        # said only after the door let the reader in: the content is gone, and nothing else
        return _answer(_("Destroyed on %(date)s under destruction list %(list)s.",
                         date=exc.on, list=exc.list_no), 410)

    for cls in USER_ERRORS:
        if cls not in (Refused, IndexOutOfDate, Destroyed):
            app.register_error_handler(cls, user_error)

    @app.errorhandler(405)
    def wrong_method(_e):
        return _answer(_("This page cannot be opened that way; go back and use its form."), 405)

    @app.errorhandler(413)
    def too_large(_e):
        return _answer(_("The upload is larger than this server accepts."), 413)
