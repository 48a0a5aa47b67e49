"""Interface text: every string shown is in the gettext catalogues of both languages, no
template carries text outside them, and times are shown in the office's time zone.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
LOCALES = ("zh_Hans_CN", "en")
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None}


def _shown_strings() -> set[str | tuple[str, str]]:
    """Every string the web app passes through gettext, from its code and templates, and
    every sentence of records/ and ingest/ marked N_ (records.problems: shown translated
    on forms)."""
    found = set()
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    for _, _, message, _, _ in extract_from_dir(str(WEB), method_map, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else tuple(message))
    for package in ("records", "ingest"):
        for _, _, message, _, _ in extract_from_dir(str(REPO / package), [("**.py", "python")],
                                                     keywords={"N_": None}):
            found.add(message)
    return found


def _catalogue(locale: str):
    path = WEB / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        return read_po(f, locale=locale)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_string_shown_is_in_the_catalogue_of_each_language(locale):
    """Chinese needs a translation of each; English needs the entry (an empty one reads as
    the English source text)."""
    catalogue = _catalogue(locale)
    missing = []
    for message in _shown_strings():
        key = message if isinstance(message, str) else message[0]
        entry = catalogue.get(key)
        if entry is None:
            missing.append(key)
            continue
        string = entry.string
        if locale != "en" and (not string or (isinstance(string, tuple) and not all(string))):
            missing.append(key)
    assert not missing, (f"the {locale} catalogue lacks (run 'make translations', then "
                         f"translate): {sorted(missing)[:20]}")


def test_the_chinese_catalogue_is_chinese():
    catalogue = _catalogue("zh_Hans_CN")
    untranslated = [m.id for m in catalogue if m.id and isinstance(m.string, str)
                    and re.search(r"[A-Za-z]{4,}", m.id) and not re.search(r"[\u4e00-\u9fff]",
                                                                             m.string)]
    # a few strings are names or codes in both languages
    assert len(untranslated) <= 3, untranslated


def _visible_text(template: str) -> str:
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", template, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    return re.sub(r"&[a-z]+;|&#\d+;", " ", text)


def test_templates_show_no_text_outside_the_catalogues():
    for path in sorted((WEB / "templates").glob("*.html")):
        leftover = _visible_text(path.read_text(encoding="utf-8"))
        words = re.findall(r"[A-Za-z]{2,}|[\u4e00-\u9fff]+", leftover)
        assert not words, f"{path.name} shows text that no catalogue holds: {words[:10]}"


def test_the_catalogues_are_compiled():
    for locale in LOCALES:
        mo = WEB / "translations" / locale / "LC_MESSAGES" / "messages.mo"
        po = mo.with_suffix(".po")
        assert mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime - 1, \
            f"{mo} is missing or older than its .po: run 'make venv' (it compiles them)"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from tests.conftest import make_archive
    from web.app import create_app

    archive = make_archive(tmp_path_factory.mktemp("i18n"))
    yield create_app({"TESTING": True}, archive=archive)
    archive.close()


def test_chinese_by_default_english_on_request_and_the_choice_is_kept(app):
    client = app.test_client()
    assert "登录" in client.get("/login").text
    english = client.get("/login?lang=en").text
    assert "Sign in" in english and '<html lang="en">' in english
    assert "Sign in" in client.get("/login").text  # remembered in the session


@pytest.mark.parametrize("zone, expected", [("Asia/Shanghai", "2026-11-30 22:05"),
                                             ("Europe/Paris", "2026-11-30 15:05")])
def test_times_are_shown_in_the_offices_time_zone(app, zone, expected):
    from web.app import create_app
    from web.i18n import local_time

    local = create_app({"TESTING": True, "HUDANG_TIMEZONE": zone},
                       archive=app.extensions["hudang"])
    with local.test_request_context("/"):
        shown = local_time(datetime(2026, 11, 30, 14, 5, tzinfo=timezone.utc), "short")
        stored = local_time("2026-11-30T14:05:00.000000+00:00", "short")
    assert shown == stored == expected


def test_a_services_sentence_is_shown_in_chinese_and_an_unknown_one_as_it_was_said(app):
    """web.sentences: the stored English refusal, nested in a row's failure and a job's error,
    reads as Chinese on a Chinese page; English pages and sentences no form knows are left as
    they were said (never dropped)."""
    from web.sentences import in_language

    said = ("2 of 5 rows of batch 7 failed; the first: row 3 a.pdf: failed: cannot ingest "
            "'a.pdf': the PDF is password-protected; remove the password and try again")
    with app.test_request_context("/?lang=zh"):
        assert in_language(said) == ("批次 7 的 5 行中有 2 行失败；第一处：第 3 行 a.pdf：失败："
                                     "无法入库“a.pdf”：PDF 设有密码；请去掉密码后重试")
        assert in_language("cannot ingest 'b.tif': something new went wrong") == \
            "无法入库“b.tif”：something new went wrong"
        assert in_language(None) == ""
        # a finished job's summary, as the jobs page shows it
        assert in_language("list 4: 2 destroyed, 1 held, 1 skipped") == \
            "清册 4：已销毁 2 卷，冻结 1 卷，跳过 1 卷"
        assert in_language("reindexed 300 pages") == "已重建索引，共 300 页"
        assert in_language("batch 3: 4 stored, 1 already stored, 0 failed; 2 page findings") == \
            "批次 3：入库 4 件，已在库 1 件，失败 0 件；页面质检问题 2 处"
    with app.test_request_context("/?lang=en"):
        assert in_language(said) == said
        assert in_language("list 4: 2 destroyed, 1 held") == "list 4: 2 destroyed, 1 held"
