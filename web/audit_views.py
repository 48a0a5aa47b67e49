"""The audit screen: filtering and exporting the log, and "who read this" per household."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")
