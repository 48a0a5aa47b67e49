"""Purpose of use (利用登记): the reason a reader states before a dossier opens.

Every consultation is registered with who, when, which dossier and for what
purpose (DOMAIN.md). The list of purposes is configured per deployment with
``HUDANG_PURPOSES`` (comma-separated; default 审核, 复核, 信访, 审计, 其他).
The last entry 其他 ("other") asks for a few words of free text, which become
part of the recorded purpose: ``其他：核对银行账户``.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from records.exceptions import Invalid
from records.idnumbers import mask_in_text

DEFAULT_PURPOSES = ("审核", "复核", "信访", "审计", "其他")
OTHER = "其他"
MAX_LENGTH = 200  # audit_event.purpose is String(200)
_OTHER_TEXT_MAX = 100


def configured_purposes(value: str | None) -> tuple[str, ...]:
    """The purposes a deployment offers, from ``HUDANG_PURPOSES`` (None or empty: the default).

    其他 is always offered last, so that an unforeseen reason can still be stated.
    """
    if not value or not value.strip():
        return DEFAULT_PURPOSES
    items: list[str] = []
    for part in value.split(","):
        label = part.strip()
        if not label:
            continue
        if len(label) > 40:
            raise ValueError(f"HUDANG_PURPOSES entry '{label[:40]}…' is longer than 40 characters")
        if label not in items:
            items.append(label)
    if OTHER in items:
        items.remove(OTHER)
    return (*items, OTHER)


def stated_purpose(choice: str, other_text: str, purposes: Sequence[str]) -> str:
    """The purpose to record for a form answer, or :class:`Invalid` with a sentence to show."""
    choice = (choice or "").strip()
    if choice not in purposes:
        raise Invalid("choose a purpose from the list")
    if choice != OTHER:
        return choice
    # one line of plain text (control characters would garble the register), and
    # never an ID number in the clear: the purpose is copied into the audit log
    text = mask_in_text(re.sub(r"[\x00-\x1f\x7f]+", " ", other_text or "")).strip()
    if not text:
        raise Invalid("describe the purpose when choosing 其他")
    return f"{OTHER}：{text[:_OTHER_TEXT_MAX]}"[:MAX_LENGTH]
