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
    "results_about": ("约 {n} 件", "about {n} documents"),
    "approximate_match": ("近似匹配（一字之差，可能为识别错误）", "close match (one character differs, perhaps misread)"),
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
    "viewer_notice": ("查阅已登记。页面图像带有查阅人、时间和用途水印。",
                      "This reading is recorded. Page images carry the reader's name, the time "
                      "and the purpose."),
    "not_found": ("未找到该档案，或您无权查阅。", "Not found, or not yours to read."),
    "bad_request": ("请求无效。", "Bad request."),
    "index_out_of_date": ("检索索引需要重建，请联系系统管理员运行 hudang reindex。",
                          "The search index must be rebuilt: ask the administrator to run "
                          "'hudang reindex'."),
    "signed_in_as": ("当前用户", "Signed in as"),
    "language": ("English", "中文"),
    # --- purpose of use, viewer, download (利用登记) ---
    "purpose": ("查阅用途", "Purpose"),
    "purpose_title": ("登记查阅用途", "State the purpose of this reading"),
    "purpose_explain": ("查阅档案前请登记用途。用途将记入查阅登记，并显示在页面水印上。",
                        "Before the dossier opens, state why you read it. The purpose is "
                        "recorded with every page you read and drawn on the page images."),
    "purpose_other": ("选择“{other}”时请说明", "If you choose “{other}”, describe it"),
    "purpose_submit": ("登记并查阅", "Record and open"),
    "purpose_invalid": ("请从列表中选择用途；选择“其他”时请填写说明。",
                        "Choose a purpose from the list; with “其他” (other), describe it."),
    "purpose_stated": ("查阅用途", "Stated purpose"),
    "purpose_change": ("更改用途", "Change purpose"),
    "page_text": ("文字", "Text"),
    "back_to_image": ("返回页面图像", "Back to the page image"),
    "download": ("下载（带水印）", "Download (watermarked)"),
    # --- audit screen ---
    "audit_title": ("查阅登记", "Audit log"),
    "audit_user": ("用户", "User"),
    "audit_from": ("起始日期", "From"),
    "audit_to": ("截止日期", "To"),
    "audit_action": ("操作", "Action"),
    "audit_outcome": ("结果", "Outcome"),
    "audit_any": ("全部", "any"),
    "audit_filter": ("筛选", "Filter"),
    "audit_export": ("导出 CSV", "Export CSV"),
    "audit_count": ("共 {n} 条", "{n} events"),
    "audit_page": ("第 {n} 页 / 共 {total} 页", "page {n} of {total}"),
    "audit_time": ("时间（UTC）", "Time (UTC)"),
    "audit_object": ("对象", "Object"),
    "audit_detail": ("详情", "Detail"),
    "audit_none": ("没有符合条件的记录。", "No events match."),
    "audit_bad_date": ("日期格式应为 年-月-日。", "Dates are written YYYY-MM-DD."),
    "who_read_this": ("查阅记录", "Who read this"),
    "audit_all_for_household": ("在查阅登记中筛选本户", "Filter the audit log by this household"),
    # --- citizen self-lookup (本人查阅) ---
    "self_title": ("本人查阅", "View my own records"),
    "self_intro": ("低保对象本人可申请查阅本户档案。请填写户主姓名、身份证号和低保证号；"
                   "提交后请携带身份证和低保证到所属乡镇（街道）核验。",
                   "The head of a household receiving the allowance may ask to read the "
                   "household's dossier. Enter the name, ID number and allowance-certificate "
                   "number, then bring your ID card and certificate to your township office."),
    "self_name": ("户主姓名", "Name of the head of household"),
    "self_id_number": ("身份证号", "ID number"),
    "self_certificate": ("低保证号", "Allowance-certificate number"),
    "self_submit": ("提交申请", "Send request"),
    "self_received": ("申请已收到。如所填信息与登记相符，请携带身份证和低保证到所属乡镇（街道）办理核验；"
                      "核验通过后，工作人员将当面发放一次性查阅码。",
                      "Your request has been received. If the details match our records, bring "
                      "your ID card and allowance certificate to your township office; after "
                      "checking them in person, staff will give you a one-time access code."),
    "self_fill_all": ("请填写全部信息。", "Please fill in every field."),
    "self_bad_id": ("身份证号格式不正确，请核对。", "This ID number is not well formed; please check it."),
    "self_locked": ("尝试次数过多，请 {minutes} 分钟后再试。",
                    "Too many attempts; please try again in {minutes} minutes."),
    "self_queue_title": ("本人查阅申请", "Self-lookup requests"),
    "self_queue_hint": ("请当面核验申请人的身份证和低保证，无误后再批准。查阅码只显示一次。",
                        "Check the applicant's ID card and allowance certificate in person "
                        "before approving. The access code is shown only once."),
    "self_queue_empty": ("暂无待处理的申请。", "No requests are waiting."),
    "self_requested_at": ("申请时间", "Requested"),
    "self_certificate_on_file": ("低保证号已登记", "Certificate on file"),
    "self_yes": ("是", "yes"),
    "self_no": ("否（请核对原件）", "no (check the paper certificate)"),
    "self_approve": ("核验无误，发放查阅码", "Checked: issue access code"),
    "self_reject": ("不予批准", "Decline"),
    "self_code_title": ("一次性查阅码", "One-time access code"),
    "self_code_notice": ("请将查阅码交给申请人本人。此码只显示这一次，只能使用一次，有效期至 {expires}。",
                         "Hand this code to the applicant in person. It is shown only this once, "
                         "works once, and expires at {expires}."),
    "self_back_to_queue": ("返回申请列表", "Back to the requests"),
    "self_read_title": ("凭查阅码查阅本户档案", "Read my household's dossier with an access code"),
    "self_code": ("查阅码", "Access code"),
    "self_read_submit": ("开始查阅", "Start reading"),
    "self_code_refused": ("查阅码或身份证号不正确，或查阅码已使用、已过期。",
                          "Wrong access code or ID number, or the code was already used or has "
                          "expired."),
    "self_ended": ("查阅已结束或已过期。如需再次查阅，请重新申请。",
                   "Your reading session has ended or expired. To read again, send a new request."),
    "self_session_notice": ("本人查阅，只读。查阅已登记，有效期至 {expires}。页面图像带有“本人查阅”水印，不提供下载。",
                            "Self-lookup, read-only. This reading is recorded and ends at "
                            "{expires}. Page images are marked 本人查阅 and cannot be downloaded."),
    "self_end": ("结束查阅", "End reading"),
    # --- account security ---
    "login_refused": ("登录失败：用户名或密码不正确，或账户已暂时锁定。请稍后再试。",
                      "Sign-in failed: wrong user name or password, or the account is "
                      "locked for a while. Try again later."),
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
