"""Interface language: Simplified Chinese by default, English on request.

A small message table keeps every visible string in one place; the language
comes from ``?lang=`` (remembered in the session) and defaults to zh.
"""
from __future__ import annotations

from flask import request, session

LANGUAGES = ("zh", "en")
DEFAULT = "zh"

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "app_name": ("户档 · 低保档案管理", "hudang · dibao dossier archive"),
    "login": ("登录", "Sign in"),
    "logout": ("退出", "Sign out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码不正确。", "Wrong user name or password."),
    "search": ("检索", "Search"),
    "search_placeholder": ("姓名、户号、身份证号或文字", "Name, household number, ID number or words"),
    "results": ("共 {n} 件", "{n} documents"),
    "no_results": ("没有找到符合条件的档案。", "No documents found."),
    "household": ("户号", "Household"),
    "head_name": ("户主", "Head of household"),
    "id_number": ("身份证号", "ID number"),
    "region": ("所属区划", "Region"),
    "status": ("状态", "Status"),
    "status_active": ("在保", "receiving"),
    "status_stopped": ("停保", "stopped"),
    "doc_type": ("材料类别", "Type"),
    "page": ("页", "Page"),
    "pages": ("页数", "Pages"),
    "seq": ("件号", "No."),
    "title": ("题名", "Title"),
    "date": ("日期", "Date"),
    "snippet": ("摘要", "Excerpt"),
    "dossier": ("卷内目录", "Dossier contents"),
    "empty_dossier": ("本卷暂无文件。", "This dossier holds no documents yet."),
    "open": ("查看", "Open"),
    "prev_page": ("上一页", "Previous page"),
    "next_page": ("下一页", "Next page"),
    "page_of": ("第 {n} 页 / 共 {total} 页", "Page {n} of {total}"),
    "back_to_dossier": ("返回卷内目录", "Back to the dossier"),
    "viewer_notice": ("查阅已登记。页面图像带有查阅人和时间水印。",
                      "This reading is recorded. Page images carry the reader's name and the time."),
    "not_found": ("未找到该档案，或您无权查阅。", "Not found, or not yours to read."),
    "bad_request": ("请求无效。", "Bad request."),
    "signed_in_as": ("当前用户", "Signed in as"),
    "language": ("English", "中文"),
    # --- purpose of use, viewer, download (利用登记) ---
    # --- audit screen ---
    # --- citizen self-lookup (本人查阅) ---
    # --- account security ---
    # --- OCR quality ---
}


def current_language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    return session.get("lang", DEFAULT)


def translate(key: str, **values) -> str:
    zh, en = MESSAGES[key]
    text = en if current_language() == "en" else zh
    return text.format(**values) if values else text


def other_language() -> str:
    return "en" if current_language() == "zh" else "zh"
