"""Interface language and time: Simplified Chinese by default, English on request, times
in the office's time zone.

Strings are gettext messages (Flask-Babel): written in English in the code and the
templates (``_('Search')``), translated in ``web/translations/<locale>/LC_MESSAGES/
messages.po`` and compiled to ``.mo`` when hudang is installed. ``tests/test_i18n.py``
fails when a string shown is missing from either catalogue.

The language comes from ``?lang=zh|en`` on any page (remembered in the session, and
kept across signing in); switching never leaves the page the reader is on (see
:func:`switch_language_url`). Dates and times are formatted by Babel in the time zone
of the setting ``HUDANG_TIMEZONE`` (default Asia/Shanghai).
"""
from __future__ import annotations

import re
from datetime import datetime

from flask import current_app, request, session, url_for
from flask_babel import Babel, format_datetime, gettext, lazy_gettext, ngettext

from records.clock import as_utc

# the interface's languages: session value -> Babel locale
LANGUAGES = {"zh": "zh_Hans_CN", "en": "en"}
DEFAULT = "zh"
# each language's name in itself, on the link that switches to it (never translated)
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

_ = gettext
__all__ = ["_", "gettext", "lazy_gettext", "ngettext", "init_app", "label", "local_time",
           "current_language", "other_language", "switch_language_url", "LANGUAGE_NAMES"]


def current_language() -> str:
    asked = request.args.get("lang") if request else None
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    lang = session.get("lang", DEFAULT)
    return lang if lang in LANGUAGES else DEFAULT


def other_language() -> str:
    return "en" if current_language() == "zh" else "zh"


def _locale() -> str:
    return LANGUAGES[current_language()]


def _timezone() -> str:
    return current_app.extensions["hudang"].settings.timezone.key


def init_app(app) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[DEFAULT])
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=_locale, timezone_selector=_timezone)
    app.jinja_env.globals.update(
        lang=current_language, other_lang=other_language, language_names=LANGUAGE_NAMES,
        switch_language_url=switch_language_url, label=label, local_time=local_time,
        ngettext=ngettext, retention_words=retention_words)


def switch_language_url(fallback: str | None = None) -> str:
    """The link that switches language and stays on this page: the same GET request with
    ``lang`` set (its query kept). A page that cannot be asked for again by a link gives a
    ``fallback`` of the same task instead: the answer of a POST (a form's result), and error
    pages, which must read the same whatever was asked for."""
    other = other_language()
    if not fallback and request.method == "GET" and request.endpoint is not None:
        args = {**request.args.to_dict(), **(request.view_args or {}), "lang": other}
        return url_for(request.endpoint, **args)
    target = fallback or url_for("views.search")
    return f"{target}{'&' if '?' in target else '?'}lang={other}"


_PERIOD = re.compile(r"(?:(停保后)?(\d+)年)?(?:(\d+)个月)?")


def retention_words(printed: str | None) -> str:
    """A retention period as the printed destruction list words it (``停保后3年``, ``5年``,
    ``永久``, and time kept so far: ``6年9个月``, ``4个月``; ``records.retention``), said in
    the reader's language. Text of another shape is shown as it is."""
    if not printed or current_language() == "zh":
        return printed or ""
    if printed == "永久":
        return gettext("permanent")
    match = _PERIOD.fullmatch(printed)
    if match is None or not (match.group(2) or match.group(3)):
        return printed
    after_stop, years, months = match.group(1), match.group(2), match.group(3)
    parts = []
    if years:
        parts.append(ngettext("%(num)d year", "%(num)d years", int(years)))
    if months:
        parts.append(ngettext("%(num)d month", "%(num)d months", int(months)))
    text = " ".join(parts)
    return gettext("%(period)s after the stop", period=text) if after_stop else text


def local_time(value: datetime | str | None, form: str = "medium") -> str:
    """A stored UTC time shown in the office's time zone, in the reader's language."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_datetime(as_utc(value), "yyyy-MM-dd HH:mm" if form == "short" else form)


# -- labels of stored codes, for people (the raw code stays in CSV and JSON) -----------------
_LABELS = {
    "status": {
        "active": lazy_gettext("receiving"),
        "suspended": lazy_gettext("payment suspended"),
        "stopped": lazy_gettext("stopped"),
    },
    "change": {  # records.model.StatusChange
        "suspend": lazy_gettext("suspend payment"),
        "raise": lazy_gettext("raise the allowance"),
        "lower": lazy_gettext("lower the allowance"),
        "stop": lazy_gettext("stop the allowance"),
        "resume": lazy_gettext("resume"),
    },
    "area": {
        "urban": lazy_gettext("urban"),
        "rural": lazy_gettext("rural"),
    },
    "class": {  # 分类管理, short for tables
        "1": lazy_gettext("class 1"),
        "2": lazy_gettext("class 2"),
        "3": lazy_gettext("class 3"),
    },
    "class_long": {  # for choosing one
        "1": lazy_gettext("class 1 (stable)"),
        "2": lazy_gettext("class 2 (fairly stable)"),
        "3": lazy_gettext("class 3 (unstable)"),
    },
    "level": {
        "county": lazy_gettext("county"),
        "township": lazy_gettext("township"),
        "village": lazy_gettext("village"),
    },
    "role": {
        "administrator": lazy_gettext("administrator"),
        "archivist": lazy_gettext("archivist"),
        "staff": lazy_gettext("staff"),
        "reviewer": lazy_gettext("reviewer"),
        "approver": lazy_gettext("approver"),
        "witness": lazy_gettext("witness"),
        "auditor": lazy_gettext("auditor"),
        "inspector": lazy_gettext("QC reviewer"),
    },
    "flag": {  # ingest.ocr.fields
        "missing_identifier": lazy_gettext("no household number or ID number read"),
        "foreign_household": lazy_gettext("another household's number"),
        "invalid_id_number": lazy_gettext("an ID number with a misread digit"),
    },
    "outcome": {
        "allowed": lazy_gettext("allowed"),
        "refused": lazy_gettext("refused"),
    },
    "action": {
        "search": lazy_gettext("search"),
        "read_household": lazy_gettext("open dossier"),
        "read_document": lazy_gettext("open document"),
        "read_page": lazy_gettext("read page image"),
        "read_text": lazy_gettext("read page text"),
        "download": lazy_gettext("download"),
        "state_purpose": lazy_gettext("state purpose"),
        "ingest": lazy_gettext("ingest"),
        "reocr": lazy_gettext("re-OCR"),
        "reindex": lazy_gettext("rebuild index"),
        "login": lazy_gettext("sign in"),
        "logout": lazy_gettext("sign out"),
        "audit_view": lazy_gettext("view audit log"),
        "audit_export": lazy_gettext("export audit log"),
        "audit_verify": lazy_gettext("verify audit log"),
        "user_add": lazy_gettext("add user"),
        "region_add": lazy_gettext("add region"),
        "household_add": lazy_gettext("add household"),
        "self_lookup_request": lazy_gettext("self-lookup request"),
        "self_lookup_queue": lazy_gettext("view self-lookup requests"),
        "self_lookup_approve": lazy_gettext("approve self-lookup"),
        "self_lookup_reissue": lazy_gettext("new self-lookup code"),
        "self_lookup_reject": lazy_gettext("decline self-lookup"),
        "self_lookup_redeem": lazy_gettext("use self-lookup code"),
        "self_lookup_session": lazy_gettext("self-lookup session"),
        "self_lookup_end": lazy_gettext("end self-lookup"),
        "manage": lazy_gettext("manage"),
        "ingest_refused": lazy_gettext("ingest"),
        "household_edit": lazy_gettext("edit household"),
        "household_import": lazy_gettext("import households"),
        "household_status": lazy_gettext("status change"),
        "member_add": lazy_gettext("add member"),
        "member_remove": lazy_gettext("remove member"),
        "list_households": lazy_gettext("list households"),
        "export_households": lazy_gettext("export households"),
        "region_rename": lazy_gettext("rename region"),
        "region_import": lazy_gettext("import regions"),
        "user_edit": lazy_gettext("change user"),
        "user_lock": lazy_gettext("lock user"),
        "user_unlock": lazy_gettext("unlock user"),
        "user_reset_password": lazy_gettext("reset password"),
        "password_change": lazy_gettext("change password"),
        "edit_household": lazy_gettext("edit household"),
        "document_edit": lazy_gettext("correct document"),
        "document_move": lazy_gettext("move document"),
        "doctypes": lazy_gettext("document types"),
        "doctype_add": lazy_gettext("add document type"),
        "doctype_set_required": lazy_gettext("change required document type"),
        "review_record": lazy_gettext("record review"),
        "report_gaps": lazy_gettext("gaps report"),
        "report_roster": lazy_gettext("roster"),
        "report_stats": lazy_gettext("statistics"),
        "report_reviews": lazy_gettext("due reviews"),
        "report_contents": lazy_gettext("print table of contents"),
        "report_reconcile": lazy_gettext("reconcile roster"),
        "verify": lazy_gettext("verify the archive"),
        "verify_view": lazy_gettext("view verification report"),
        "verify_export": lazy_gettext("download verification report"),
        "backup": lazy_gettext("back up"),
        "restore": lazy_gettext("restore"),
        "key_export": lazy_gettext("export master key"),
        "key_rotate": lazy_gettext("rotate master key"),
        "key_status": lazy_gettext("view key status"),
        "audit_anchor": lazy_gettext("anchor audit log"),
        "audit_keyed": lazy_gettext("audit log keyed"),
        "audit_rekey": lazy_gettext("audit log re-keyed"),
        "household_certificate": lazy_gettext("record certificate number"),
        "read_container": lazy_gettext("open container"),
        "list_containers": lazy_gettext("list cabinets"),
        "container_add": lazy_gettext("add container"),
        "location_move": lazy_gettext("move to another place"),
        "labels_print": lazy_gettext("print labels"),
        "list_records": lazy_gettext("list daily-management records"),
        "read_volume": lazy_gettext("open volume"),
        "retention_due": lazy_gettext("retention review"),
        "retention_classes": lazy_gettext("retention classes"),
        "retention_class_add": lazy_gettext("add retention class"),
        "retention_class_edit": lazy_gettext("change retention class"),
        "retention_class_map": lazy_gettext("change a type's retention class"),
        "retention_set": lazy_gettext("change a dossier's retention class"),
        "hold_add": lazy_gettext("place hold"),
        "hold_lift": lazy_gettext("lift hold"),
        "hold_list": lazy_gettext("list holds"),
        "destruction_lists": lazy_gettext("destruction lists"),
        "destruction_show": lazy_gettext("read destruction list"),
        "destruction_draft": lazy_gettext("draft destruction list"),
        "destruction_remove": lazy_gettext("take dossier off list"),
        "destruction_submit": lazy_gettext("submit destruction list"),
        "destruction_cancel": lazy_gettext("withdraw destruction list"),
        "destruction_approve": lazy_gettext("approve destruction list"),
        "destruction_return": lazy_gettext("return destruction list"),
        "destruction_witness": lazy_gettext("witness destruction"),
        "destruction_execute": lazy_gettext("execute destruction"),
        "destruction_item": lazy_gettext("destroy dossier"),
        "destruction_executed": lazy_gettext("destruction done"),
        "destruction_list": lazy_gettext("print destruction list"),
        "destruction_certificate": lazy_gettext("print destruction certificate"),
        "destruction_reapply": lazy_gettext("re-apply destructions"),
        "accept_show": lazy_gettext("read batch acceptance"),
        "accept_queue": lazy_gettext("batches awaiting acceptance"),
        "accept_draw": lazy_gettext("draw acceptance sample"),
        "accept_judge": lazy_gettext("judge sampled document"),
        "accept_decide": lazy_gettext("acceptance decided"),
        "accept_report": lazy_gettext("read acceptance report"),
        "accept_rework": lazy_gettext("rework failed document"),
        "accept_rework_list": lazy_gettext("list rework"),
    },
    "container": {  # records.model.ContainerKind, short
        "cabinet": lazy_gettext("cabinet"),
        "box": lazy_gettext("box"),
        "folder": lazy_gettext("folder"),
    },
    "container_long": {
        "cabinet": lazy_gettext("cabinet (one per village, township or street)"),
        "box": lazy_gettext("box (one per village group or community)"),
        "folder": lazy_gettext("folder (one per household)"),
    },
    "moved": {  # what a move moved (ingest.locations.Move.what_kind)
        "dossier": lazy_gettext("dossier"),
        "volume": lazy_gettext("volume"),
        "cabinet": lazy_gettext("cabinet"),
        "box": lazy_gettext("box"),
        "folder": lazy_gettext("folder"),
    },
    "retention": {  # retention class codes (the classes themselves: issue 16)
        "daily-5y": lazy_gettext("5 years from its date (daily-management records)"),
    },
    "trigger": {  # records.model.RetentionTrigger
        "stop_date": lazy_gettext("the household's stop date"),
        "document_date": lazy_gettext("the document's date"),
        "permanent": lazy_gettext("never (permanent)"),
    },
    "end_action": {  # records.model.EndAction
        "destroy": lazy_gettext("destroy"),
        "review": lazy_gettext("review again"),
        "transfer": lazy_gettext("transfer"),
    },
    "row_outcome": {  # records.kinds.RowOutcome
        "pending": lazy_gettext("not reached"),
        "stored": lazy_gettext("stored"),
        "duplicate": lazy_gettext("already stored"),
        "failed": lazy_gettext("failed"),
    },
    "batch_state": {  # records.kinds.BatchState
        "running": lazy_gettext("running or interrupted"),
        "ingested": lazy_gettext("ingested"),
        "sampling": lazy_gettext("sample being judged"),
        "accepted": lazy_gettext("accepted"),
        "rejected": lazy_gettext("rejected, rework"),
    },
    "verdict": {  # records.kinds.Verdict
        "pass": lazy_gettext("pass"),
        "fail": lazy_gettext("fail"),
    },
    "acceptance_outcome": {  # records.kinds.AcceptanceOutcome
        "accepted": lazy_gettext("accepted"),
        "rejected": lazy_gettext("rejected"),
    },
    "rework": {  # records.kinds.ReworkState
        "none": lazy_gettext("none"),
        "pending": lazy_gettext("rescan awaited"),
        "done": lazy_gettext("rescanned"),
    },
    "scan_profile": {  # records.kinds.ScanProfile
        "standard": lazy_gettext("standard"),
        "colour": lazy_gettext("colour required"),
    },
    "colour_mode": {
        "bitonal": lazy_gettext("black and white"),
        "greyscale": lazy_gettext("greyscale"),
        "colour": lazy_gettext("colour"),
    },
    "hold_kind": {
        "household": lazy_gettext("household"),
        "dossier": lazy_gettext("dossier"),
        "document": lazy_gettext("document"),
    },
    "list_status": {  # records.model.ListStatus
        "draft": lazy_gettext("draft"),
        "submitted": lazy_gettext("waiting for approval"),
        "returned": lazy_gettext("returned to the reviewer"),
        "approved": lazy_gettext("approved"),
        "executing": lazy_gettext("being executed"),
        "executed": lazy_gettext("executed"),
        "cancelled": lazy_gettext("withdrawn"),
    },
    "item_status": {  # records.model.ItemStatus
        "pending": lazy_gettext("to be destroyed"),
        "destroyed": lazy_gettext("destroyed"),
        "held": lazy_gettext("not destroyed: held"),
        "skipped": lazy_gettext("not destroyed: no longer due"),
    },
    "step": {  # a list's history (records.model.DestructionStep)
        "draft": lazy_gettext("drafted"),
        "remove": lazy_gettext("dossier taken off"),
        "submit": lazy_gettext("submitted"),
        "cancel": lazy_gettext("withdrawn"),
        "approve": lazy_gettext("approved"),
        "return": lazy_gettext("returned"),
        "witness": lazy_gettext("witnessed"),
        "execute": lazy_gettext("execution started"),
        "executed": lazy_gettext("executed"),
        "restored": lazy_gettext("restored from the register"),
    },
    "step_title": {
        "submit": lazy_gettext("Submit for approval"),
        "cancel": lazy_gettext("Withdraw the list"),
        "remove": lazy_gettext("Take a dossier off the list"),
        "approve": lazy_gettext("Approve the list"),
        "return": lazy_gettext("Return the list"),
        "witness": lazy_gettext("Confirm as witness"),
        "execute": lazy_gettext("Execute the destruction"),
    },
    "step_button": {
        "submit": lazy_gettext("Yes, submit the list"),
        "cancel": lazy_gettext("Yes, withdraw the list"),
        "remove": lazy_gettext("Yes, take it off the list"),
        "approve": lazy_gettext("Yes, approve the list"),
        "return": lazy_gettext("Return the list with this comment"),
        "witness": lazy_gettext("Yes, I confirm as witness"),
        "execute": lazy_gettext("Yes, destroy these dossiers now"),
    },
    "step_done": {
        "drafted": lazy_gettext("The list was drafted. Check it, take off what should stay, then submit it."),
        "submit": lazy_gettext("The list was submitted; an approver decides on it."),
        "cancel": lazy_gettext("The list was withdrawn."),
        "remove": lazy_gettext("The dossier was taken off the list."),
        "approve": lazy_gettext("The list was approved; the waiting period runs, then two witnesses confirm."),
        "return": lazy_gettext("The list was returned to its reviewer."),
        "witness": lazy_gettext("Your confirmation was recorded."),
        "execute": lazy_gettext("The destruction was carried out; the certificate is ready."),
    },
    "review_class": {
        "1": lazy_gettext("class 1 (stable)"),
        "2": lazy_gettext("class 2"),
        "3": lazy_gettext("class 3 (unstable)"),
    },
    "review_outcome": {
        "continued": lazy_gettext("continues to receive"),
        "adjusted": lazy_gettext("amount adjusted"),
        "stop_proposed": lazy_gettext("stop proposed"),
    },
    "roster_status": {
        "active": lazy_gettext("receiving"),
        "stopped": lazy_gettext("stopped"),
        "all": lazy_gettext("all"),
    },
    "property": {
        "authenticity": lazy_gettext("authenticity"),
        "integrity": lazy_gettext("integrity"),
        "usability": lazy_gettext("usability"),
        "security": lazy_gettext("security"),
    },
    "blob": {
        "pdf": lazy_gettext("archival PDF"),
        "original": lazy_gettext("file as received"),
        "image": lazy_gettext("access image"),
        "text": lazy_gettext("page text"),
    },
    # ingest.verify's finding kinds (docs/operations.md says what to do for each)
    "finding": {
        "blob_altered": lazy_gettext("altered or corrupt"),
        "size_mismatch": lazy_gettext("size differs from the catalogue"),
        "metadata_mismatch": lazy_gettext("PDF names another household"),
        "original_not_kept": lazy_gettext("original not kept (ingested before it was kept)"),
        "blob_missing": lazy_gettext("file missing"),
        "stray_blob": lazy_gettext("file without a catalogue entry"),
        "page_count": lazy_gettext("page counts disagree"),
        "pages_missing": lazy_gettext("page numbers have gaps"),
        "seq_gap": lazy_gettext("document numbers have gaps"),
        "index_missing": lazy_gettext("missing from the search index"),
        "index_stray": lazy_gettext("in the search index but not the catalogue"),
        "index_pages": lazy_gettext("search index page count differs"),
        "index_out_of_date": lazy_gettext("search index out of date"),
        "pdf_unreadable": lazy_gettext("archival PDF does not open"),
        "pdf_encrypted": lazy_gettext("archival PDF is password-protected"),
        "image_undecodable": lazy_gettext("access image does not decode"),
        "text_undecodable": lazy_gettext("page text is not text"),
        "blob_not_encrypted": lazy_gettext("file not encrypted"),
        "key_unwrap": lazy_gettext("data key does not open"),
        "retired_key": lazy_gettext("still under a retired key"),
        "certificate_not_carried": lazy_gettext("certificate number must be entered again"),
        "audit_broken": lazy_gettext("audit log altered"),
        "audit_legacy": lazy_gettext("audit events from before keying"),
        "audit_attested_only": lazy_gettext("audit events checked through a re-keying"),
        "rotation_running": lazy_gettext("key rotation unfinished"),
        "permissions": lazy_gettext("open to other users"),
    },
    "request_status": {
        "pending": lazy_gettext("waiting"),
        "approved": lazy_gettext("approved, code not used yet"),
        "redeemed": lazy_gettext("code used"),
        "closed": lazy_gettext("reading ended"),
        "rejected": lazy_gettext("declined"),
    },
    "job_state": {  # records.kinds.JobState
        "queued": lazy_gettext("waiting for a worker"),
        "running": lazy_gettext("running"),
        "failed": lazy_gettext("failed"),
        "done": lazy_gettext("done"),
    },
    "job_kind": {  # records.kinds.JobKind
        "ingest": lazy_gettext("upload"),
        "reindex": lazy_gettext("rebuild the search index"),
        "verify": lazy_gettext("verification"),
        "reocr": lazy_gettext("re-OCR"),
        "box": lazy_gettext("box upload"),
        "destroy": lazy_gettext("carry out a destruction"),
    },
    "file_outcome": {  # records.kinds.FileOutcome
        "stored": lazy_gettext("stored"),
        "duplicate": lazy_gettext("already in the dossier"),
        "refused": lazy_gettext("refused"),
    },
}


def label(kind: str, value: str | int | None) -> str:
    """The translated label of a stored code (an audit action, an outcome, a status);
    an unknown code is shown as it is."""
    if value is None:
        return ""
    found = _LABELS.get(kind, {}).get(str(value))
    return str(found) if found is not None else str(value)
